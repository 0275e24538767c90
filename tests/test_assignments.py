"""The released assignments: generated from solutions/, up to date, and free of solutions.

nbval runs every solution notebook (configured in pyproject.toml): the reference solution
must pass all its tests. Here the other half: the release a student gets must fail them.
tests/assignments/ grades each assignment's solution and classic mistakes the way
`make autograde` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NAMES = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())

pytestmark = pytest.mark.slow


def test_there_are_assignments():
    assert {"rnn_numpy", "lm_numpy", "lstm_numpy"} <= set(NAMES)


@pytest.fixture(scope="module")
def fresh_releases(tmp_path_factory):
    """Every release generated anew from solutions/, by one nbgrader process (its import is slow)."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(REPO / "nbgrader_config.py", root)
    # the release links each assignment to its chapter's built page, as _config.yml says
    shutil.copy(REPO / "_config.yml", root)
    shutil.copytree(REPO / "solutions", root / "solutions")
    script = ("import sys\nfrom seqlib.grading.course import load_api\nfrom seqlib.grading.release import release\n"
              "api = load_api('.')\nfor name in sys.argv[1:]:\n    print(release(api, name))\n")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    result = subprocess.run([sys.executable, "-c", script, *NAMES], cwd=root, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "assignments"


@pytest.mark.parametrize("name", NAMES)
def test_release_is_generated_from_the_current_solution(name, fresh_releases):
    fresh = fresh_releases / name
    committed = REPO / "assignments" / name
    fresh_files = sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file())
    committed_files = sorted(p.relative_to(committed).as_posix() for p in committed.rglob("*") if p.is_file())
    assert committed_files == fresh_files, "assignments/ is stale: run `make release`"
    for rel in fresh_files:
        assert (committed / rel).read_bytes() == (fresh / rel).read_bytes(), (
            f"assignments/{name}/{rel} differs from what solutions/ generates: run `make release`")


@pytest.mark.parametrize("name", NAMES)
def test_release_has_no_solution_or_hidden_tests(name):
    for nb_path in (REPO / "assignments" / name).glob("*.ipynb"):
        text = nb_path.read_text(encoding="utf-8")
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, f"{nb_path.name} contains {marker!r}"


def _has_code(source: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in source.splitlines())


@pytest.mark.parametrize("name", NAMES)
def test_every_visible_test_fails_on_the_release(name):
    """A release that passes a test leaks its solution (or the test checks nothing)."""
    for nb_path in (REPO / "assignments" / name).glob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": str(nb_path.parent)}}).execute()
        # Hidden-test cells are comments only in a release; the autograder restores their code.
        graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                  and c.cell_type == "code" and _has_code(c.source)]
        assert graded, f"{nb_path.name} has no visible test cells"
        passing = [c.metadata["nbgrader"]["grade_id"] for c in graded
                   if not any(o.get("output_type") == "error" for o in c.outputs)]
        assert passing == [], f"{nb_path.name}: graded cells pass without a solution: {passing}"
