"""The class table: one row per student, printed by the command line and written as CSV.

Every text in it that a student controls (their folder's name, their messages, what their
code printed into a note) goes through ``for_terminal`` (the printed table) or ``for_csv`` (the
file an instructor opens in a spreadsheet): no escape sequences, no formulas.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from seqlib.grading.results import SubmissionResult, for_csv, for_terminal

COLUMNS = ("student", "score", "max_score", "status", "failed", "errors", "timeouts", "crashes", "refused",
           "copy", "notes", "problem")


@dataclass
class StudentResult:
    """One student's row of the summary."""

    student: str
    score: float | None = None
    max_score: float | None = None
    failed: list[str] = field(default_factory=list)  # tests that failed (a wrong answer)
    errors: list[str] = field(default_factory=list)  # tests where the student's code raised
    timeouts: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # what the kernel refused
    copy: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem: str = ""
    grader_error: bool = False
    sandbox: bool = True

    @property
    def status(self) -> str:
        if self.problem:
            return "NOT GRADED"
        for flag, label in ((self.crashes, "crashed"), (self.timeouts, "timed out"), (self.errors, "errors"),
                            (self.failed, "failed tests")):
            if flag:
                return label
        return "ok"

    def row(self, counts: bool = False) -> dict:
        """The CSV row (names of tests), or with counts=True the table row (how many); every
        text made safe for a spreadsheet (CSV) or a terminal (table)."""
        def cells(xs, sep=" "):
            return str(len(xs)) if counts and xs else sep.join(xs)

        row = {"student": self.student, "score": "" if self.score is None else f"{self.score:g}",
               "max_score": "" if self.max_score is None else f"{self.max_score:g}", "status": self.status,
               "failed": cells(self.failed), "errors": cells(self.errors), "timeouts": cells(self.timeouts),
               "crashes": cells(self.crashes), "refused": cells(self.refused, "; "),
               "copy": cells(self.copy, "; "), "notes": cells(self.notes, "; "),
               "problem": self.problem + ("" if self.sandbox else " [graded WITHOUT the sandbox]")}
        clean = for_terminal if counts else for_csv
        return {k: v if k in ("score", "max_score") else clean(v) for k, v in row.items()}


def from_result(r: SubmissionResult, copy: list[str] | None = None) -> StudentResult:
    """The summary row of a job's result."""
    out = StudentResult(r.student, None if r.grader_error else r.score, r.max_score, problem=r.problem,
                        grader_error=r.grader_error, sandbox=r.sandbox, copy=list(copy or []))
    by_status = {"failed": out.failed, "error": out.errors, "timeout": out.timeouts, "crash": out.crashes}
    for t in r.tests:
        if t.status in by_status and not r.problem:
            by_status[t.status].append(t.grade_id)
    out.refused = [f"{e.get('kind')} {e.get('detail')}" for e in r.refused]
    out.notes = [f"{g}: {s}" for g, s in r.functions.items() if s != "ok"]
    out.notes += [n for n in r.notes if "test cell" not in n]  # edited or deleted test cells change nothing
    if r.output_bytes >= 1_000_000:
        out.notes.append(f"printed {r.output_bytes / 1e6:.0f} MB")
    return out


def format_table(results: list[StudentResult]) -> str:
    """A plain-text table, one row per student; the CSV names the tests."""
    rows = [dict(zip(COLUMNS, COLUMNS))] + [r.row(counts=True) for r in results]
    widths = {c: max(len(row[c]) for row in rows) for c in COLUMNS}
    lines = ["  ".join(row[c].ljust(widths[c]) for c in COLUMNS).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * widths[c] for c in COLUMNS))
    return "\n".join(lines)


def write_csv(results: list[StudentResult], path) -> None:
    """The summary, one row per student with the names of the tests, to path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(r.row() for r in results)
