"""Every assignment through the trusted grader: the reference solution earns every point and
sets off no alarm; the untouched release earns nothing, and every test says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from assignment_helpers import solution_sources

REPO = Path(__file__).resolve().parents[2]
NAMES = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_solution_earns_every_point(grade, name):
    result = grade(name, {gid: "solution" for gid in solution_sources(name)})
    assert result.score == result.max_score > 0, [t for t in result.tests if t.status != "passed"]
    assert result.refused == [] and result.problem == ""


@pytest.mark.parametrize("name", NAMES)
def test_the_release_earns_nothing(grade, name):
    result = grade(name, {})
    assert result.score == 0 and all(t.status == "error" for t in result.tests)
    assert all("NotImplementedError" in t.message for t in result.tests)
