"""Grading a whole class with nbgrader, one student at a time.

``python -m seqlib.grading autograde NAME`` (what ``make autograde A=NAME`` runs) grades
every submission under ``submitted/*/NAME/`` and prints one row per student: score,
failed tests, cells that raised an error, cells that timed out, and students whose
submission could not be graded at all. The table is also written to
``grades/NAME-summary.csv``.

Each student is graded by its own nbgrader call, so one submission that hangs, crashes
its kernel or cannot be read never costs another student's grade; it is reported in the
table instead of disappearing into a silent zero.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

TIMEOUT_ERRORS = ("CellTimeoutError", "KeyboardInterrupt")


@dataclass
class StudentResult:
    """One student's outcome: score, and the grade_ids of failed, erroring and timed-out cells."""
    student: str
    score: float | None = None
    max_score: float | None = None
    failed: list[str] = field(default_factory=list)  # graded cells whose tests failed
    errors: list[str] = field(default_factory=list)  # cells that raised something else
    timeouts: list[str] = field(default_factory=list)  # cells interrupted by the time limit
    problem: str = ""  # why the submission could not be graded at all

    @property
    def status(self) -> str:
        if self.problem:
            return "NOT GRADED"
        if self.timeouts:
            return "timed out"
        if self.errors:
            return "errors"
        return "ok"


def load_api(course_dir: str | os.PathLike = "."):
    """An NbGraderAPI configured by course_dir/nbgrader_config.py."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    course_dir = Path(course_dir).resolve()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    config.CourseDirectory.root = config.CourseDirectory.get("root", str(course_dir))
    return NbGraderAPI(config=config)


def submitted_students(api, assignment: str) -> list[str]:
    """Students with a folder submitted/<student>/<assignment>/, sorted."""
    root = Path(api.coursedir.root) / api.coursedir.submitted_directory
    return sorted(p.parent.name for p in root.glob(f"*/{assignment}") if p.is_dir())


def autograde(assignment: str, course_dir=".", students: list[str] | None = None) -> list[StudentResult]:
    """Autograde each student's submission of assignment; return one result per student."""
    api = load_api(course_dir)
    students = students or submitted_students(api, assignment)
    results = []
    for student in students:
        outcome = api.autograde(assignment, student, force=True, create=True)
        result = StudentResult(student)
        if not outcome.get("success"):
            result.problem = _cause(outcome.get("log", "") + "\n" + outcome.get("error", ""))
        results.append(result)
    return _fill_in(api, assignment, results)


def summarize(assignment: str, course_dir=".") -> list[StudentResult]:
    """Results of an earlier autograde run, read from the gradebook and autograded notebooks."""
    api = load_api(course_dir)
    return _fill_in(api, assignment, [StudentResult(s) for s in submitted_students(api, assignment)])


def _fill_in(api, assignment, results):
    from nbgrader.api import Gradebook, MissingEntry

    root = Path(api.coursedir.root)
    with Gradebook(api.coursedir.db_url) as gb:
        for r in results:
            folder = root / api.coursedir.autograded_directory / r.student / assignment
            notebooks = sorted(folder.glob("*.ipynb"))
            if not notebooks and not r.problem:
                r.problem = "no autograded notebook (run autograde first)"
            if r.problem:
                continue
            try:
                submission = gb.find_submission(assignment, r.student)
            except MissingEntry:
                r.problem = "not in the gradebook"
                continue
            r.score, r.max_score = submission.score, submission.max_score
            for nb in notebooks:
                _read_outcomes(nb, r)
    return results


def _read_outcomes(path: Path, result: StudentResult) -> None:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for index, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        name = meta.get("grade_id", f"{path.stem}[{index}]")
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            if out.get("ename") in TIMEOUT_ERRORS:
                result.timeouts.append(name)
            elif meta.get("grade") and out.get("ename") == "AssertionError":
                result.failed.append(name)
            else:
                result.errors.append(f"{name} ({out.get('ename')})")
            break


_EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)):?(.*)$")


def _cause(text: str) -> str:
    """The last exception named in nbgrader's log, other than its own "see above" wrapper."""
    for line in reversed(text.splitlines()):
        m = _EXCEPTION_LINE.match(line)
        if m and "NbGraderException" not in m.group(1):
            return f"{m.group(1).rsplit('.', 1)[-1]}:{m.group(2)}".strip()[:200]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "autograde failed"


COLUMNS = ("student", "score", "max_score", "status", "failed", "errors", "timeouts", "problem")


def _row(r: StudentResult) -> dict:
    return {
        "student": r.student,
        "score": "" if r.score is None else f"{r.score:g}",
        "max_score": "" if r.max_score is None else f"{r.max_score:g}",
        "status": r.status,
        "failed": " ".join(r.failed),
        "errors": " ".join(r.errors),
        "timeouts": " ".join(r.timeouts),
        "problem": r.problem,
    }


def format_table(results: list[StudentResult]) -> str:
    """A plain-text table, one row per student; the CSV has the names of the cells."""
    columns = ("student", "score", "max_score", "status", "failed", "errors", "timeouts", "problem")
    rows = [dict(zip(columns, columns))]
    for r in results:
        row = _row(r)
        for key, cells in (("failed", r.failed), ("errors", r.errors), ("timeouts", r.timeouts)):
            row[key] = str(len(cells)) if cells else ""
        rows.append(row)
    widths = {c: max(len(row[c]) for row in rows) for c in columns}
    lines = ["  ".join(row[c].ljust(widths[c]) for c in columns).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * widths[c] for c in columns))
    return "\n".join(lines)


def write_csv(results: list[StudentResult], path: str | os.PathLike) -> None:
    """Write the summary, one row per student with the names of the cells, to path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(_row(r) for r in results)
