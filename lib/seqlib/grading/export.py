"""Grades for the learning platform: nbgrader export plugins that write the CSV file that
Canvas's or Moodle's gradebook import reads.

    nbgrader export --exporter seqlib.grading.export.CanvasExportPlugin --to grades/canvas.csv
    nbgrader export --exporter seqlib.grading.export.MoodleExportPlugin --to grades/moodle.csv

Both take nbgrader's ``--assignment`` and ``--student`` filters, as nbgrader's own CSV export
does, and write one row per student and one column per assignment. A student's score for an
assignment is nbgrader's total for the submission (``SubmittedAssignment.score``: the automatic
or manual score of each graded cell, plus its extra credit), less any late-submission penalty
nbgrader recorded (none in this course: no late-submission plugin is configured), exactly as
the ``score`` column of ``nbgrader export``. The cell is left empty when the student submitted
nothing. Every text cell goes through ``seqlib.grading.results.for_csv``: a name, email or id
starting with = + - @ is written with a leading ' so that no spreadsheet runs it as a formula.
"""

from __future__ import annotations

import csv
import os
import re

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Dict, Unicode

from seqlib.grading.results import for_csv, for_terminal


def _points(value: float) -> str:
    """A number of points as a gradebook import reads it: 12, 9.5, 0.333333 (no exponent)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class _PlatformExport(ExportPlugin):
    """What the Canvas and Moodle exports share: the selection, the scores, the file."""

    default_to = "grades.csv"

    def _destination(self) -> str:
        return self.to or self.default_to

    def _selection(self, gradebook: Gradebook):
        """The assignments and students to export, after nbgrader's --assignment and --student."""
        wanted_assignments = [str(item) for item in self.assignment]
        wanted_students = [str(item) for item in self.student]
        assignments = [a for a in gradebook.assignments if not wanted_assignments or a.name in wanted_assignments]
        students = [s for s in gradebook.students if not wanted_students or s.id in wanted_students]
        # nbgrader sorts by last name, first name; ties and missing names are sorted by id here,
        # so that the same gradebook always gives the same file
        students.sort(key=lambda s: ((s.last_name or "").casefold(), (s.first_name or "").casefold(), s.id))
        for kind, wanted, found in (("assignment", wanted_assignments, {a.name for a in assignments}),
                                    ("student", wanted_students, {s.id for s in students})):
            missing = [name for name in wanted if name not in found]
            if missing:
                self.log.warning("No %s %s in the gradebook: left out", kind,
                                 ", ".join(for_terminal(m) for m in missing))
        if wanted_assignments:
            self.log.info("Exporting only assignments: %s", wanted_assignments)
        if wanted_students:
            self.log.info("Exporting only students: %s", wanted_students)
        return assignments, students

    def _scores(self, gradebook: Gradebook, assignments, students) -> dict:
        """(assignment name, student id) -> the score nbgrader gives, or None without a submission."""
        scores, unfinished = {}, []
        for assignment in assignments:
            for student in students:
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                except MissingEntry:
                    scores[assignment.name, student.id] = None
                    continue
                # nbgrader's own export: score = max(0, score - late_submission_penalty)
                scores[assignment.name, student.id] = max(
                    0.0, submission.score - (submission.late_submission_penalty or 0.0))
                if submission.needs_manual_grade:
                    unfinished.append(f"{assignment.name}/{student.id}")
        if unfinished:
            self.log.warning("Still to be graded by hand in nbgrader, so the score exported may be "
                             "incomplete: %s", ", ".join(for_terminal(u) for u in unfinished))
        return scores

    def _write(self, dest: str, rows) -> None:
        """Write rows as UTF-8 CSV (RFC 4180 quoting, CRLF line ends) to dest, atomically."""
        self.log.info("Exporting grades to %s", dest)
        folder = os.path.dirname(os.path.abspath(dest))
        os.makedirs(folder, exist_ok=True)
        tmp = dest + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(rows)
        os.replace(tmp, dest)


class CanvasExportPlugin(_PlatformExport):
    """A CSV for Canvas: Grades > Import (Canvas's Gradebook import).

    Canvas reads the layout of its own Gradebook export (Instructure's guide:
    https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807;
    what follows is what Canvas's importer, app/models/gradebook_importer.rb, does with it):

        Student,ID,SIS User ID,SIS Login ID,Section,rnn_numpy (4757),lm_torch
            Points Possible,,,,,13,20
        "Lovelace, Ada",4242,,ada,,12.5,

    - ``Student``: the name as "Last, First" (the nbgrader id when no name is known);
    - ``ID``: the Canvas user id, nbgrader's ``lms_user_id`` (left empty when not set);
    - ``SIS User ID``: empty (nbgrader does not know it);
    - ``SIS Login ID``: the nbgrader student id, which should be the student's Canvas login;
    - ``Section``: ``section`` (empty by default; Canvas does not import it);
    - one column per assignment, titled "name (Canvas assignment id)" when ``canvas_ids`` gives
      the id, else just the name: Canvas then grades its assignment of that title, or creates
      a new one with the points of the second row;
    - the second row, "    Points Possible", holds each assignment's maximum score.

    Canvas finds a student by ID, then SIS User ID, then SIS Login ID, then the name, and shows
    a preview before it changes anything. An empty cell where Canvas already holds a score is
    a change (the score is removed): a score entered by hand in Canvas for a student who
    submitted nothing shows up in the preview. Extra credit can take a score above Points
    Possible, which Canvas accepts.
    """

    default_to = "canvas_grades.csv"

    canvas_ids = Dict(
        {}, help="Canvas assignment id of each nbgrader assignment, e.g. {'rnn_numpy': 4757} (the "
                 "number in the assignment's Canvas address); an assignment without one is "
                 "matched by title, or created").tag(config=True)
    section = Unicode("", help="Text of the Section column (Canvas does not import it)").tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        for name, canvas_id in self.canvas_ids.items():
            if not re.fullmatch(r"\d+", str(canvas_id)):
                raise ValueError(f"canvas_ids[{name!r}] is {canvas_id!r}, expected a Canvas assignment "
                                 "id (digits, as in .../assignments/4757)")
        assignments, students = self._selection(gradebook)
        scores = self._scores(gradebook, assignments, students)

        titles = [for_csv(f"{a.name} ({self.canvas_ids[a.name]})" if a.name in self.canvas_ids else a.name)
                  for a in assignments]
        rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *titles],
                ["    Points Possible", "", "", "", "", *(_points(a.max_score) for a in assignments)]]
        for s in students:
            name = ", ".join(part for part in (s.last_name, s.first_name) if part) or s.id
            rows.append([for_csv(name), for_csv(s.lms_user_id or ""), "", for_csv(s.id), for_csv(self.section),
                         *("" if scores[a.name, s.id] is None else _points(scores[a.name, s.id])
                           for a in assignments)])
        self._write(self._destination(), rows)


class MoodleExportPlugin(_PlatformExport):
    """A CSV for Moodle: Grades > Import > CSV file ("Import grades from CSV file").

    Moodle's import reads any header row and lets the teacher map its columns
    (https://docs.moodle.org/en/Grade_import):

        First name,Last name,Email address,rnn_numpy,lm_torch
        Ada,Lovelace,ada@example.org,12.5,

    - the student is identified by ``Email address``: on the import page, under "Identify user
      by", set "Map from" to this Email address column and "Map to" to the user's email address
      ("useremail"), as the documentation advises (Moodle can also map an ID number or a
      username, which nbgrader does not know). Moodle compares emails exactly, and stops the whole import on a row whose
      user it cannot find, so a student without an email in nbgrader is left out (and named);
    - ``First name`` and ``Last name`` are there to be read in the preview; leave them mapped
      to "Ignore";
    - one column per assignment: the score in points (map it to its grade item, or "New grade
      item"). Moodle reads an empty cell as no grade. A score above the item's maximum (extra
      credit) needs the site's "unlimitedgrades" setting (the documentation's Note 2).

    There is no feedback column: nbgrader's comments belong to single cells, not to an
    assignment, and the feedback page (``make feedback``) is where students read them.
    """

    default_to = "moodle_grades.csv"

    def export(self, gradebook: Gradebook) -> None:
        assignments, students = self._selection(gradebook)
        no_email = [s.id for s in students if not (s.email or "").strip()]
        if no_email:
            self.log.warning("No email address in nbgrader, so not in the Moodle file (enter their grades "
                             "by hand): %s", ", ".join(for_terminal(i) for i in no_email))
        students = [s for s in students if s.id not in no_email]
        altered = [s.id for s in students if for_csv(s.email.strip()) != s.email.strip()]
        if altered:
            self.log.warning("An email address that starts like a formula was written with a leading ' "
                             "and Moodle will not find it: %s", ", ".join(for_terminal(i) for i in altered))
        scores = self._scores(gradebook, assignments, students)

        rows = [["First name", "Last name", "Email address", *(for_csv(a.name) for a in assignments)]]
        for s in students:
            rows.append([for_csv(s.first_name or ""), for_csv(s.last_name or ""), for_csv(s.email.strip()),
                         *("" if scores[a.name, s.id] is None else _points(scores[a.name, s.id])
                           for a in assignments)])
        self._write(self._destination(), rows)
