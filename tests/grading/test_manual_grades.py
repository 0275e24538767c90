"""Manually graded answers, as nbgrader treats them: never run, the student's text kept for the
grader and the feedback, needing a person's grade until someone gives it, and every manual
score, extra credit and comment kept across regrades; the export's total is automatic + manual."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
A = "tiny"

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("sandbox_ok")]


def _cell(cell_type, grade_id, source, *, solution=False, grade=False, points=None, tags=None):
    meta = {"schema_version": 3, "grade_id": grade_id, "solution": solution, "grade": grade, "locked": not solution}
    if points is not None:
        meta["points"] = points
    cell = {"cell_type": cell_type, "id": grade_id.replace("_", "-"), "metadata": {"nbgrader": meta, **(
        {"tags": tags} if tags else {})}, "source": source}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


SOURCE = {
    "cells": [
        _cell("code", "setup", "import numpy as np", tags=["worker"]),
        _cell("code", "double", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
              solution=True),
        _cell("code", "test_double", "assert double(np.ones(2)).tolist() == [2.0, 2.0]", grade=True, points=1),
        _cell("markdown", "written_why", "Twice the input.\n\n**Rubric (2 points):** 2 for saying it doubles.",
              solution=True, grade=True, points=2),
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}
ROSTER = [("ada", "Ada", "Lovelace"), ("bob", "Bob", "Kahn"), ("cy", "Cy", "Young")]
ANSWER = "It multiplies by two, because $y = 2x$. <script>alert('x')</script>"


def _env():
    return dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])


def _run(args, course, env=None, **kw):
    return subprocess.run(args, cwd=course, env=env or _env(), capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("manual") / "course"
    (course / "solutions" / A).mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    (course / "solutions" / A / f"{A}.ipynb").write_text(json.dumps(SOURCE), encoding="utf-8")
    made = _run([sys.executable, "-m", "nbgrader", "generate_assignment", A, "--force"], course)
    assert made.returncode == 0, made.stderr
    release = json.loads((course / "assignments" / A / f"{A}.ipynb").read_text())
    for student, answer in (("ada", ANSWER), ("bob", None), ("cy", "Doubling: $2x$, since x + x = 2x.")):
        nb = json.loads(json.dumps(release))
        for cell in nb["cells"]:
            gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if gid == "double":
                cell["source"] = "def double(x):\n    return x + x"
            if gid == "written_why" and answer:
                cell["source"] = answer
        (course / "submitted" / student / A).mkdir(parents=True)
        (course / "submitted" / student / A / f"{A}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    first = _run([sys.executable, "-m", "seqlib.grading", "autograde", A], course)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Warning" not in first.stderr, first.stderr  # no SQLAlchemy warnings, nothing else
    return course


def _grade(course, student):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        g = gb.find_grade("written_why", A, A, student)
        c = gb.find_comment("written_why", A, A, student)
        return g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade, c.auto_comment, c.manual_comment


def test_a_written_answer_waits_for_a_person_and_an_empty_one_scores_zero(course):
    assert _grade(course, "ada") == (None, None, None, True, None, None)
    assert _grade(course, "bob") == (0.0, None, None, False, "No response.", None)
    graded = json.loads((course / "autograded" / "ada" / A / f"{A}.ipynb").read_text())
    answer = next(c for c in graded["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "written_why")
    # formgrader shows the student's answer, not the release's text; its HTML as text, never as code
    assert answer["source"] == ANSWER.replace("<", "&lt;").replace(">", "&gt;")


def test_manual_scores_and_comments_survive_a_regrade_and_count_in_the_export(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:  # what formgrader does when a person grades
        g = gb.find_grade("written_why", A, A, "ada")
        g.manual_score, g.extra_credit, g.needs_manual_grade = 1.5, 0.5, False
        gb.find_comment("written_why", A, A, "ada").manual_comment = "Right idea; say why it is linear."
        gb.db.commit()
    again = _run([sys.executable, "-m", "seqlib.grading", "autograde", A, "--force"], course)
    assert again.returncode == 0 and "Warning" not in again.stderr, again.stderr
    # nbgrader's rule: a hand-set grade is flagged for another look after a regrade; the grade itself stays
    assert _grade(course, "ada") == (None, 1.5, 0.5, True, None, "Right idea; say why it is linear.")
    exported = _run([sys.executable, "-m", "nbgrader", "export", "--to", "grades/grades.csv"], course)
    assert exported.returncode == 0, exported.stderr
    with open(course / "grades" / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    # nbgrader's total: automatic 1 + manual 1.5 + extra credit 0.5, out of 1 + 2
    assert float(rows["ada"]["raw_score"]) == 1 + 1.5 + 0.5 and float(rows["ada"]["max_score"]) == 3
    assert float(rows["ada"]["score"]) == 3.0  # no due date: no late penalty
    assert float(rows["bob"]["raw_score"]) == 1


def test_the_feedback_shows_the_answer_its_score_and_the_comment(course):
    made = _run([sys.executable, "-m", "seqlib.grading", "feedback", A], course)
    assert made.returncode == 0, made.stdout + made.stderr
    html = (course / "feedback" / "ada" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "It multiplies by two" in html and "say why it is linear" in html
    assert "<script>alert('x')</script>" not in html  # the student's text is not the page's code
    assert "Rubric" not in html


# --------------------------------------------------------------------------- formgrader, in a browser


@pytest.fixture(scope="module")
def formgrader(course, tmp_path_factory, jupyter_server):
    """`make formgrader`'s server on the course (a free port on 127.0.0.1, a known token)."""
    log = tmp_path_factory.mktemp("formgrader") / "server.log"
    roster = course / "roster.csv"  # what `make students ROSTER=roster.csv` imports
    roster.write_text("id,first_name,last_name,email\n" + "".join(f"{i},{f},{l},{i}@example.org\n" for i, f, l in ROSTER))
    recipe = subprocess.run(["make", "-n", "students", f"ROSTER={roster}"], cwd=REPO, capture_output=True, text=True)
    assert f"nbgrader db student import \"{roster}\"" in recipe.stdout, recipe.stdout + recipe.stderr
    imported = _run([sys.executable, "-m", "nbgrader", "db", "student", "import", str(roster)], course)
    assert imported.returncode == 0, imported.stderr
    make = (REPO / "Makefile").read_text()
    extensions = "{'nbgrader.server_extensions.formgrader': True, 'seqlib.grading.formgrader': True}"
    assert f'--ServerApp.jpserver_extensions="{extensions}"' in make and "--ip=127.0.0.1" in make  # make's own
    with open(log, "w") as out:
        base = jupyter_server("server", course, "formgrader-test", f"--ServerApp.root_dir={course}",
                              f"--ServerApp.jpserver_extensions={extensions}", log=out)
        yield base, log


def _api(base, path, method="GET"):
    import urllib.request

    request = urllib.request.Request(f"{base}{path}", method=method,
                                     headers={"Authorization": "token formgrader-test"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def test_an_instructor_grades_a_written_answer_in_formgrader(course, formgrader, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    base, log = formgrader
    browser.get_log("browser")
    browser.get(f"{base}/formgrader?token=formgrader-test")  # the link the server prints: logs in
    WebDriverWait(browser, 30).until(lambda d: "Manage Assignments" in d.find_element(By.TAG_NAME, "body").text)
    browser.get(f"{base}/formgrader/manage_submissions/{A}")
    try:
        WebDriverWait(browser, 30).until(lambda d: "cy" in d.find_element(By.TAG_NAME, "body").text)
    except Exception:
        raise AssertionError(browser.current_url + browser.find_element(By.TAG_NAME, "body").text[:2000]
                             + str(browser.get_log("browser")) + log.read_text()[-2000:])
    listing = browser.find_element(By.TAG_NAME, "body").text
    # every student, by the name `make students` gave them, with a score
    assert all(f"{last}, {first} {sid}" in listing for sid, first, last in ROSTER), listing
    assert listing.count(" / 3") == 3 and "None, None" not in listing, listing

    # the submission, as the grader reads it: the student's own answer, its math typeset by the local MathJax
    cy = next(n for n in _api(base, f"/formgrader/api/submitted_notebooks/{A}/{A}") if n["student"] == "cy")
    browser.get(f"{base}/formgrader/submissions/{cy['id']}/?index={cy['index']}")
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "return window.MathJax && MathJax.Hub && document.querySelectorAll('.MathJax, .MathJax_CHTML').length > 0"))
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Doubling:" in page and "since x + x" in page and "Rubric" not in page
    assert browser.execute_script("return MathJax.version") == "2.7.9"
    assert browser.execute_script("return document.querySelector('script[src*=\"MathJax.js\"]').src").startswith(base)

    # grade it and comment, as a person does: type, then leave the field (formgrader saves on change)
    score = browser.find_element(By.ID, "written_why")
    score.clear()
    score.send_keys("2", Keys.TAB)
    comment = browser.find_element(By.ID, "written_why-comment")
    comment.send_keys("Clear and right.", Keys.TAB)
    WebDriverWait(browser, 30).until(lambda d: _grade(course, "cy")[1] == 2.0 and _grade(course, "cy")[5])
    assert _grade(course, "cy") == (None, 2.0, None, False, None, "Clear and right.")
    problems = [e["message"] for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert problems == [], problems

    # formgrader's Autograde button grades with the course's sandboxed grader, and keeps the hand grade
    answer = _api(base, f"/formgrader/api/submission/{A}/cy/autograde", method="POST")
    assert answer["success"], answer
    assert "graded cy: 1 / 1" in answer["log"] and "sandbox: bubblewrap" in answer["log"], answer["log"]
    assert _grade(course, "cy")[1:3] == (2.0, None) and _grade(course, "cy")[5] == "Clear and right."

    # the grades leave: nbgrader's export and the learning platforms' files, automatic + manual
    recipe = subprocess.run(["make", "-n", "grades"], cwd=REPO, capture_output=True, text=True)
    exports = [line.split("nbgrader ", 1)[1].split() for line in recipe.stdout.splitlines() if "nbgrader export" in line]
    assert len(exports) == 3, recipe.stdout  # what `make grades` runs: nbgrader's CSV, Canvas's, Moodle's
    for args in exports:
        made = _run([sys.executable, "-m", "nbgrader", *args], course)
        assert made.returncode == 0, made.stdout + made.stderr
    with open(course / "grades" / "grades.csv", newline="") as f:
        assert {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(f)}["cy"] == 1 + 2
    canvas = (course / "grades" / "canvas.csv").read_text().splitlines()
    assert canvas[0].startswith("Student,ID,SIS User ID,SIS Login ID,Section") and any(",cy," in r for r in canvas)

    # the student's feedback: the answer, the score and the comment
    assert _run([sys.executable, "-m", "seqlib.grading", "feedback", A], course).returncode == 0
    html = (course / "feedback" / "cy" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "Doubling:" in html and "Clear and right." in html and "(Score: 3.0 / 3.0)" in html

    server_log = log.read_text()
    for bad in ("Unwritable", "exchange directory", "Traceback", "[E "):
        assert bad not in server_log, server_log[-3000:]


def test_releasing_a_graded_assignment_again_changes_nothing_and_says_what_to_do(course, tmp_path):
    release = course / "assignments" / A / f"{A}.ipynb"
    before = release.read_bytes()
    source = course / "solutions" / A / f"{A}.ipynb"
    kept = source.read_bytes()
    changed = json.loads(kept)
    changed["cells"].append(_cell("code", "test_more", "assert double(1) == 2", grade=True, points=1))
    try:
        source.write_text(json.dumps(changed), encoding="utf-8")
        proc = _run([sys.executable, "-m", "seqlib.grading", "release", A], course)
    finally:
        source.write_bytes(kept)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "3 submission(s)" in lines[0] and "nbgrader db assignment remove" in lines[0], lines
    assert release.read_bytes() == before, "the release students have is kept as it was"
    recipe = subprocess.run(["make", "-n", "release", "A=tiny"], cwd=REPO, capture_output=True, text=True)
    assert "-m seqlib.grading release" in recipe.stdout, recipe.stdout  # what `make release` runs


def test_a_late_submission_gets_nbgraders_late_penalty(course):
    """The submission time from timestamp.txt against the due date, through nbgrader's own plugin
    (penalty_method "zero": a late notebook scores nothing)."""
    due = _run([sys.executable, "-m", "nbgrader", "db", "assignment", "add", A, "--duedate=2026-12-01 12:00:00 UTC"],
               course)
    assert due.returncode == 0, due.stderr
    (course / "submitted" / "bob" / A / "timestamp.txt").write_text("2026-12-02 12:00:00.000000 UTC")
    late = _run([sys.executable, "-m", "seqlib.grading", "autograde", A, "--student", "bob", "--force"], course,
                env=dict(_env(), SEQLIB_LATE_PENALTY="zero"))
    assert late.returncode == 0, late.stdout + late.stderr
    exported = _run([sys.executable, "-m", "nbgrader", "export", "--to", "grades/late.csv"], course)
    assert exported.returncode == 0, exported.stderr
    with open(course / "grades" / "late.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert float(rows["bob"]["raw_score"]) == 1.0 and float(rows["bob"]["late_submission_penalty"]) == 1.0
    assert float(rows["bob"]["score"]) == 0.0 and float(rows["bob"]["timestamp"][:4]) == 2026
    assert float(rows["ada"]["late_submission_penalty"]) == 0.0  # no timestamp: not late
