"""The grader's results as typed values, and the one place they are written and read.

A ``TestResult`` is one test cell's outcome, a ``SubmissionResult`` one student's graded
submission; ``seqlib.grading.job`` makes them, ``seqlib.grading.course`` records them (the
result file, nbgrader's gradebook, the graded notebook) and summarises them. The result file
holds no clock readings (``timing`` is kept apart), so grading the same files twice writes the
same bytes.

Two ways a submission ends without a score, and they are not alike:

- ``problem`` without ``grader_error``: the student's file could not be graded (not JSON, too
  large); the student gets 0 and the table says why;
- ``grader_error``: the grader itself failed (a worker that cannot start, an instructor's cell
  that fails, a job that died). No score is recorded, the stored result is never taken as
  current, the student is graded again on the next run, and the command exits non-zero.

Everything a student controls reaches a CSV or a terminal through ``for_csv`` and
``for_terminal``: no spreadsheet formulas, no control characters.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

GRADER_VERSION = 2  # bump when the meaning of a result changes: stored results are then regraded
STATUSES = ("passed", "failed", "error", "timeout", "crash", "skipped")


@dataclass(frozen=True)
class TestResult:
    """One test cell: its points, and how it ended (one of STATUSES)."""

    __test__ = False  # a name pytest would otherwise collect

    grade_id: str
    points: float
    max_points: float
    status: str
    message: str = ""
    output: str = ""  # what the test printed, for the feedback

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown test status {self.status!r}")


@dataclass
class SubmissionResult:
    """One student's graded submission of one assignment."""

    assignment: str
    student: str
    max_score: float
    score: float = 0.0
    grader_version: int = GRADER_VERSION
    source_sha256: str = ""
    submission_sha256: str = ""
    problem: str = ""  # why it could not be graded: the student's file, or (grader_error) the grader
    grader_error: bool = False
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # the solution cells graded, by grade_id
    answers: dict[str, str] = field(default_factory=dict)  # the manually graded answers, by grade_id
    functions: dict[str, str] = field(default_factory=dict)  # grade_id -> "ok" or what went wrong
    tests: list[TestResult] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)  # what the kernel refused: {"kind", "detail"}
    output_bytes: int = 0
    workers: int = 0
    sandbox: bool = True
    timing: dict = field(default_factory=dict, compare=False)  # seconds; never written with the result

    @classmethod
    def not_graded(cls, assignment: str, student: str, why: str, *, grader_error: bool = True,
                   max_score: float = 0.0, sandbox: bool = True) -> "SubmissionResult":
        """A result that records no score: the grader failed (default) or the file is unusable."""
        return cls(assignment, student, max_score, problem=why[:1000], grader_error=grader_error, sandbox=sandbox)

    @property
    def status(self) -> str:
        return "NOT GRADED" if self.problem else "graded"

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        del data["timing"]
        return data

    @classmethod
    def from_json(cls, data) -> "SubmissionResult":
        """The result a result file holds; ValueError when it is not one (of this version)."""
        if not isinstance(data, dict):
            raise ValueError("a result file holds no object")
        names = {f.name for f in dataclasses.fields(cls)} - {"timing"}
        if set(data) != names:
            raise ValueError(f"a result file with other fields ({', '.join(sorted(set(data) ^ names))})")
        try:
            tests = [TestResult(**t) for t in data["tests"]]
        except TypeError as err:
            raise ValueError(f"a result file with a malformed test: {err}") from None
        result = cls(**dict(data, tests=tests))
        for name, kind in (("assignment", str), ("student", str), ("problem", str), ("notes", list),
                           ("sources", dict), ("answers", dict), ("functions", dict), ("refused", list)):
            if not isinstance(getattr(result, name), kind):
                raise ValueError(f"a result file whose {name} is not a {kind.__name__}")
        return result


def write(path: Path, result: SubmissionResult) -> None:
    """Write result to path atomically (ASCII JSON: any text the student sent is written as is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=1, sort_keys=True, ensure_ascii=True) + "\n",
                   encoding="ascii")
    tmp.replace(path)


def read(path: Path) -> SubmissionResult | None:
    """The stored result at path; None when there is none; ValueError when it is unreadable."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"unreadable result file: {err}") from None
    try:
        return SubmissionResult.from_json(json.loads(raw))
    except (ValueError, RecursionError) as err:
        raise ValueError(f"unreadable result file: {str(err)[:200]}") from None


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def for_terminal(text: str) -> str:
    """text without control characters (escape sequences that would drive a terminal, or
    bidirectional overrides that would reorder what an instructor reads); tabs and newlines
    become spaces."""
    return _CONTROL.sub("?", str(text).replace("\t", " ").replace("\n", " "))


def for_csv(text: str) -> str:
    """text that a spreadsheet shows as text: no control characters, and never a formula (a
    cell that starts with = + - @ is prefixed with a quote, as OWASP advises)."""
    text = for_terminal(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
