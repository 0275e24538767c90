"""The grade files for Canvas and Moodle, from a small gradebook built with nbgrader's API:
the documented columns in order, nbgrader's totals (automatic + manual + extra credit), a blank
where nothing was submitted, and no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from seqlib.grading.export import CanvasExportPlugin, MoodleExportPlugin

FORMULA = "=cmd|' /C calc'!A0"


@pytest.fixture(scope="module")
def gradebook_file(tmp_path_factory):
    """Two assignments (rnn_numpy: an autograded test of 3 points and a written answer of 2;
    lm_torch: one test of 4), four students: ada and bob with names, emails and, for ada, a
    Canvas id; eve, whose name, email and id read as formulas; dan, of whom nothing is known
    and who submitted nothing. bob did not submit lm_torch."""
    path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    with pytest.MonkeyPatch.context() as mp:
        # a new gradebook is stamped with the version that nbgrader's `alembic` command reports
        mp.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
        gb = Gradebook(f"sqlite:///{path}")
    with gb:
        gb.add_assignment("rnn_numpy", duedate="2026-10-01 23:59:00")
        gb.add_notebook("rnn_numpy", "rnn_numpy")
        gb.add_grade_cell("test_rnn_step_forward", "rnn_numpy", "rnn_numpy", max_score=3, cell_type="code")
        gb.add_grade_cell("written_why", "rnn_numpy", "rnn_numpy", max_score=2, cell_type="markdown")
        gb.add_assignment("lm_torch", duedate="2026-11-01 23:59:00")
        gb.add_notebook("lm_torch", "lm_torch")
        gb.add_grade_cell("test_lm_loss", "lm_torch", "lm_torch", max_score=4, cell_type="code")

        gb.add_student("ada", first_name="Ada", last_name="Lovelace", email="ada@example.org", lms_user_id="4242")
        gb.add_student("bob", first_name="Bob", last_name="Babbage", email="bob@example.org")
        gb.add_student("eve", first_name=FORMULA, email="+eve@example.org", lms_user_id="@4243")
        gb.add_student("dan")

        # (assignment, student) -> {grade cell: (auto_score, manual_score, extra_credit)}
        grades = {
            ("rnn_numpy", "ada"): {"test_rnn_step_forward": (3, None, None), "written_why": (None, 1.5, 0.5)},
            ("rnn_numpy", "bob"): {"test_rnn_step_forward": (1, None, None), "written_why": (None, 0.25, None)},
            ("rnn_numpy", "eve"): {"test_rnn_step_forward": (2, None, None), "written_why": (None, 1, 1)},
            ("lm_torch", "ada"): {"test_lm_loss": (2.5, None, None)},
            ("lm_torch", "eve"): {"test_lm_loss": (0, None, None)},
        }
        for (assignment, student), cells in grades.items():
            with gb.db.no_autoflush:  # as seqlib.grading.course: no SAWarning from add_submission
                gb.add_submission(assignment, student)
            for cell, (auto, manual, extra) in cells.items():
                grade = gb.find_grade(cell, assignment, assignment, student)
                grade.auto_score, grade.manual_score, grade.extra_credit = auto, manual, extra
                grade.needs_manual_grade = False
        gb.db.commit()
    return path


@pytest.fixture
def db_url(gradebook_file, tmp_path):
    """A copy of the gradebook for one test, which may change it."""
    shutil.copy(gradebook_file, tmp_path / "gradebook.db")
    return f"sqlite:///{tmp_path / 'gradebook.db'}"


def _export(plugin_class, db_url, dest, **traits):
    with Gradebook(db_url) as gb:
        plugin_class(to=str(dest), **traits).export(gb)
    with open(dest, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
# rnn_numpy: ada 3 + 1.5 + 0.5, bob 1 + 0.25, eve 2 + 1 + 1 (out of 3 + 2); lm_torch: out of 4.
# Students by last name, then first name, then id: the two without a last name first.
CANVAS_ROWS = [
    ["dan", "", "", "dan", "", "", ""],
    ["'" + FORMULA, "'@4243", "", "eve", "", "4", "0"],
    ["Babbage, Bob", "", "", "bob", "", "1.25", ""],
    ["Lovelace, Ada", "4242", "", "ada", "", "5", "2.5"],
]


def test_canvas_file_has_canvas_columns_points_possible_and_nbgrader_totals(db_url, tmp_path):
    dest = tmp_path / "canvas.csv"
    rows = _export(CanvasExportPlugin, db_url, dest)
    assert rows == [CANVAS_HEADER + ["rnn_numpy", "lm_torch"],
                    ["    Points Possible", "", "", "", "", "5", "4"],
                    *CANVAS_ROWS]
    # byte for byte: UTF-8 without a byte-order mark, RFC 4180 quoting, CRLF line ends
    assert dest.read_bytes() == (b"Student,ID,SIS User ID,SIS Login ID,Section,rnn_numpy,lm_torch\r\n"
                                 b"    Points Possible,,,,,5,4\r\n"
                                 b"dan,,,dan,,,\r\n"
                                 b"'=cmd|' /C calc'!A0,'@4243,,eve,,4,0\r\n"
                                 b'"Babbage, Bob",,,bob,,1.25,\r\n'
                                 b'"Lovelace, Ada",4242,,ada,,5,2.5\r\n')


def test_canvas_ids_section_and_the_assignment_and_student_filters(db_url, tmp_path):
    rows = _export(CanvasExportPlugin, db_url, tmp_path / "out" / "canvas.csv", canvas_ids={"lm_torch": 4811},
                   section="A1", assignment=["lm_torch"], student=["ada", "bob", "nobody"])
    assert rows == [CANVAS_HEADER + ["lm_torch (4811)"],
                    ["    Points Possible", "", "", "", "", "4"],
                    ["Babbage, Bob", "", "", "bob", "A1", ""],
                    ["Lovelace, Ada", "4242", "", "ada", "A1", "2.5"]]


def test_canvas_id_that_is_not_a_number_is_refused(db_url, tmp_path):
    with pytest.raises(ValueError, match=r"canvas_ids\['rnn_numpy'\] is '=1\+1', expected a Canvas assignment id"):
        _export(CanvasExportPlugin, db_url, tmp_path / "canvas.csv", canvas_ids={"rnn_numpy": "=1+1"})
    assert not (tmp_path / "canvas.csv").exists()


def test_moodle_file_identifies_students_by_email_and_leaves_out_those_without(db_url, tmp_path):
    rows = _export(MoodleExportPlugin, db_url, tmp_path / "moodle.csv")
    assert rows == [["First name", "Last name", "Email address", "rnn_numpy", "lm_torch"],
                    ["'" + FORMULA, "", "'+eve@example.org", "4", "0"],
                    ["Bob", "Babbage", "bob@example.org", "1.25", ""],
                    ["Ada", "Lovelace", "ada@example.org", "5", "2.5"]]


def test_moodle_filters(db_url, tmp_path):
    rows = _export(MoodleExportPlugin, db_url, tmp_path / "moodle.csv", assignment=["rnn_numpy"], student=["bob"])
    assert rows == [["First name", "Last name", "Email address", "rnn_numpy"],
                    ["Bob", "Babbage", "bob@example.org", "1.25"]]


def test_a_late_penalty_is_taken_off_as_nbgrader_export_does(db_url, tmp_path):
    with Gradebook(db_url) as gb:
        gb.find_submission_notebook("lm_torch", "lm_torch", "ada").late_submission_penalty = 1.0
        gb.find_submission_notebook("lm_torch", "lm_torch", "eve").late_submission_penalty = 1.0
        gb.db.commit()
    rows = _export(MoodleExportPlugin, db_url, tmp_path / "moodle.csv", assignment=["lm_torch"])
    assert [r[-1] for r in rows] == ["lm_torch", "0", "", "1.5"]  # eve 0 - 1 stays 0


@pytest.mark.slow
def test_nbgrader_export_runs_the_canvas_plugin_from_a_course_folder(db_url, tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.CourseDirectory.db_url = {db_url!r}\n"
        "c.CanvasExportPlugin.canvas_ids = {'rnn_numpy': 4757}\n", encoding="utf-8")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--exporter",
                           "seqlib.grading.export.CanvasExportPlugin", "--to", "grades/canvas.csv"],
                          cwd=course, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with open(course / "grades" / "canvas.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows == [CANVAS_HEADER + ["rnn_numpy (4757)", "lm_torch"],
                    ["    Points Possible", "", "", "", "", "5", "4"],
                    *CANVAS_ROWS]
