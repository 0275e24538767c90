"""Grading one assignment's notebooks through the trusted grader, as `make autograde` does.

``grade(name, sources)`` builds a submission from the release with the given solution cells
(grade_id -> source; the rest left as released, or ``"solution"`` for the reference
solution's own code), grades it in the sandbox, and returns the job's result. The classic
mistakes of each assignment are graded this way: what must fail is what the grader says.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seqlib.grading.job import grade_submission
from seqlib.grading.results import SubmissionResult
from seqlib.grading.sandbox import SandboxUnavailable, check_sandbox

REPO = Path(__file__).resolve().parents[2]


def solution_sources(name: str) -> dict[str, str]:
    """The reference solution's code of every solution cell of an assignment, markers removed."""
    nb = json.loads((REPO / "solutions" / name / f"{name}.ipynb").read_text(encoding="utf-8"))
    out = {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            lines = "".join(cell["source"]).splitlines()
            out[meta["grade_id"]] = "\n".join(l for l in lines if "### BEGIN SOLUTION" not in l and
                                              "### END SOLUTION" not in l)
    return out


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """A course folder holding every assignment's source and release (what the grader reads)."""
    try:
        check_sandbox()
    except SandboxUnavailable as err:
        pytest.skip(str(err))
    root = tmp_path_factory.mktemp("course")
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(REPO / "solutions", root / "solutions")
    shutil.copytree(REPO / "assignments", root / "assignments")
    return root


@pytest.fixture(scope="session")
def grade(course, tmp_path_factory):
    """grade(name, {grade_id: source}, skip=()) -> the trusted grader's result for that submission;
    the test cells named in skip are not run (a slow training test, where a mistake cannot touch it)."""
    folder = tmp_path_factory.mktemp("submissions")
    count = [0]

    def run(name: str, sources: dict[str, str], skip=()) -> SubmissionResult:
        release = json.loads((course / "assignments" / name / f"{name}.ipynb").read_text(encoding="utf-8"))
        reference = solution_sources(name)
        for cell in release["cells"]:
            gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if gid in sources:
                cell["source"] = reference[gid] if sources[gid] == "solution" else sources[gid]
        count[0] += 1
        path = folder / f"{name}-{count[0]}.ipynb"
        path.write_text(json.dumps(release), encoding="utf-8")
        return grade_submission(str(course), name, f"student{count[0]}", str(path), skip_tests=tuple(skip))

    return run


def failing(result: SubmissionResult) -> set[str]:
    """The grade_ids of the tests that ran and did not pass."""
    return {t.grade_id for t in result.tests if t.status not in ("passed", "skipped")}


def assert_mistake_caught(grade, name: str, bug: str, grade_id: str, source: str, must_fail: set[str],
                          training: str | None = None, score: float | None = None) -> SubmissionResult:
    """Grade the reference solution with the cell grade_id replaced by source (a classic mistake;
    a dict {grade_id: source} replaces several cells):
    exactly the tests in must_fail fail, and the submission scores score (where given; a
    training test not run counts its points, as the reference solution earns them). training
    names a slow training test, which runs only where the mistake is meant to break it (it
    takes most of a grading). Returns the grader's result."""
    sources = {gid: "solution" for gid in solution_sources(name)}
    sources.update(source if isinstance(source, dict) else {grade_id: source})  # a dict: several cells
    skip = () if training is None or training in must_fail else (training,)
    result = grade(name, sources, skip=skip)
    assert failing(result) == must_fail, f"{bug}: failing {sorted(failing(result))}, expected {sorted(must_fail)}"
    if score is not None:
        got = result.score + sum(t.max_points for t in result.tests if t.status == "skipped")
        assert (got, result.max_score) == (score, result.max_score), f"{bug}: {got} of {result.max_score}"
    return result
