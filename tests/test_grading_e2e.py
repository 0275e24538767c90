"""End to end: release an assignment, submit five students' notebooks, autograde the class.

The submissions are the cases an instructor meets in every class: a correct one, the
untouched release, a wrong answer, one that raises, one that never returns, and a file that
is not a notebook at all. Each gradable one must get exactly its score, the broken ones must
not cost the others anything, and the summary table must say what went wrong.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "rnn_numpy"
CELL_TIMEOUT = 10  # seconds; the real course uses 60, the student here loops forever

pytestmark = pytest.mark.slow


def _solution_code(source_nb: dict, grade_id: str) -> str:
    for cell in source_nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            lines = "".join(cell["source"]).splitlines()
            return "\n".join(l for l in lines if "### BEGIN SOLUTION" not in l and "### END SOLUTION" not in l)
    raise KeyError(grade_id)


def _submit(course: Path, student: str, release: dict, code: dict[str, str]) -> None:
    nb = json.loads(json.dumps(release))
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in code:
            cell["source"] = code[gid]
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(nb), encoding="utf-8")


def _run(args, course, **kw):
    env = dict(os.environ, SEQLIB_CELL_TIMEOUT=str(CELL_TIMEOUT))
    # nbgrader runs its database migrations through the `alembic` script next to python.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run(args, cwd=course, env=env, capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    nbgrader = [sys.executable, "-m", "nbgrader"]
    gen = _run(nbgrader + ["generate_assignment", ASSIGNMENT, "--force"], course)
    assert gen.returncode == 0, gen.stderr
    release = json.loads((course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    source = json.loads((course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    names = ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward"]
    correct = {gid: _solution_code(source, gid) for gid in names}

    _submit(course, "alice", release, correct)  # correct
    _submit(course, "bob", release, {})  # untouched release
    wrong = dict(correct, rnn_forward=correct["rnn_forward"].replace(
        "rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)", "rnn_step_forward(x[:, t], prev_h, Wx, Wh, 0 * b)"))
    assert wrong["rnn_forward"] != correct["rnn_forward"]
    _submit(course, "carol", release, wrong)  # forgets the bias in the sequence
    raises = dict(correct, rnn_step_backward=correct["rnn_step_backward"].replace(
        "x, prev_h, Wx, Wh, next_h = cache", "x, prev_h, Wx, Wh, next_h = cache\n    next_h = next_h[:, :, None][5]"))
    assert raises["rnn_step_backward"] != correct["rnn_step_backward"]
    _submit(course, "dave", release, raises)  # an IndexError in the step backward
    loops = dict(correct, rnn_backward=correct["rnn_backward"].replace(
        "    N, T, H = dh.shape", "    while True:\n        pass\n    N, T, H = dh.shape"))
    assert loops["rnn_backward"] != correct["rnn_backward"]
    _submit(course, "erin", release, loops)  # never returns from rnn_backward
    broken = course / "submitted" / "frank" / ASSIGNMENT
    broken.mkdir(parents=True)
    (broken / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [', encoding="utf-8")  # a truncated upload

    graded = _run([sys.executable, "-m", "seqlib.grading", "autograde", ASSIGNMENT], course)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    exported = _run(nbgrader + ["export", "--to", "grades/grades.csv"], course)
    assert exported.returncode == 0, exported.stderr
    feedback = _run(nbgrader + ["generate_feedback", ASSIGNMENT, "--force"], course)
    assert feedback.returncode == 0, feedback.stderr
    return course, graded.stdout


# Points per graded cell: the visible test of each function 1; hidden: step forward 2,
# step backward 2, forward 2, backward 3. Total 13.
EXPECTED_SCORES = {
    "alice": 13,  # everything
    "bob": 0,  # NotImplementedError everywhere
    "carol": 7,  # step functions 6; rnn_backward's visible dWh check 1 (consistent with her own forward)
    "dave": 6,  # step forward 3 and forward 3; both backward functions raise
    "erin": 9,  # all but rnn_backward's two test cells, which time out
}


def test_exported_scores_are_exact(graded_course):
    course, _ = graded_course
    with open(course / "grades" / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    # frank's notebook could not be read: nbgrader may or may not list him, never with points.
    if "frank" in rows:
        assert float(rows.pop("frank")["raw_score"] or 0) == 0
    assert set(rows) == set(EXPECTED_SCORES)
    got = {s: float(rows[s]["raw_score"]) for s in rows}
    assert got == {s: float(v) for s, v in EXPECTED_SCORES.items()}
    assert all(float(rows[s]["max_score"]) == 13 for s in rows)


def test_summary_table_says_what_went_wrong(graded_course):
    course, stdout = graded_course
    with open(course / "grades" / f"{ASSIGNMENT}-summary.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    frank = rows.pop("frank")
    assert frank["status"] == "NOT GRADED", frank
    assert frank["problem"].startswith("NotJSONError: Notebook does not appear to be JSON"), frank
    assert {s: float(r["score"]) for s, r in rows.items()} == {s: float(v) for s, v in EXPECTED_SCORES.items()}
    assert rows["alice"]["status"] == "ok" and not rows["alice"]["failed"]
    assert "NotImplementedError" in rows["bob"]["errors"]
    assert rows["carol"]["failed"].split() == ["test_rnn_forward_shapes", "test_rnn_forward_reference",
                                               "test_rnn_backward_gradcheck"]
    assert "IndexError" in rows["dave"]["errors"]
    assert rows["erin"]["status"] == "timed out"
    assert rows["erin"]["timeouts"].split() == ["test_rnn_backward_shapes", "test_rnn_backward_gradcheck"]
    for student in EXPECTED_SCORES:
        assert student in stdout


def test_feedback_for_every_student_without_hidden_test_code(graded_course):
    course, _ = graded_course
    for student in EXPECTED_SCORES:
        html = course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert html.is_file(), html
        text = html.read_text(encoding="utf-8")
        assert "BEGIN HIDDEN TESTS" not in text and "forbid(ref." not in text


def test_feedback_keeps_the_failure_message(graded_course):
    course, _ = graded_course
    html = (course / "feedback" / "carol" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert "rnn_forward h (N=1, T=1, D=1, H=1) differs from the expected values" in html
