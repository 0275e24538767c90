"""Grading a whole class: jobs in parallel, one writer for the gradebook, a table per student.

``python -m seqlib.grading autograde NAME`` (what ``make autograde A=NAME`` runs) grades every
``submitted/<student>/NAME/NAME.ipynb``: each submission is a job (seqlib.grading.job) run
in a pool of processes (``--jobs``, default: the machine's cores) or on a Dask cluster
(``--dask ADDRESS``). This process alone writes: each student's result to
``grades/NAME/<student>.json`` as soon as it arrives, their scores into nbgrader's gradebook
(so ``nbgrader export`` and ``generate_feedback`` show them) and the graded notebook to
``autograded/<student>/NAME/`` for the feedback. A result is reused when the submission,
the source notebook and the grader are unchanged, so an interrupted run is simply run again,
and a re-run writes the same bytes.

The summary (printed, and ``grades/NAME-summary.csv``) always covers every student who
submitted NAME, also after ``--student X``: score, failed tests, errors, timeouts, crashes,
what the sandbox refused, copy signals, and why a submission could not be read.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from seqlib.grading.job import GRADER_VERSION, grade_job
from seqlib.grading.notebook import answered, graded_notebook, load_assignment
from seqlib.grading.sandbox import check_sandbox
from seqlib.grading.similarity import copy_flags, library_source

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
    refused: list[str] = field(default_factory=list)  # what the sandbox refused
    copy: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem: str = ""
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
        """The CSV row (names of tests), or with counts=True the table row (how many)."""
        def cells(xs, sep=" "):
            return str(len(xs)) if counts and xs else sep.join(xs)

        return {"student": self.student, "score": "" if self.score is None else f"{self.score:g}",
                "max_score": "" if self.max_score is None else f"{self.max_score:g}", "status": self.status,
                "failed": cells(self.failed), "errors": cells(self.errors), "timeouts": cells(self.timeouts),
                "crashes": cells(self.crashes), "refused": cells(self.refused, "; "),
                "copy": cells(self.copy, "; "), "notes": cells(self.notes, "; "),
                "problem": self.problem + ("" if self.sandbox else " [graded WITHOUT the sandbox]")}


def from_result(r: dict, copy: list[str] | None = None) -> StudentResult:
    """The summary row of a job's result."""
    out = StudentResult(r["student"], r["score"], r["max_score"], problem=r.get("problem", ""),
                        sandbox=r.get("sandbox", True), copy=list(copy or []))
    by_status = {"failed": out.failed, "error": out.errors, "timeout": out.timeouts, "crash": out.crashes}
    for t in r["tests"]:
        if t["status"] in by_status and not r.get("problem"):
            by_status[t["status"]].append(t["grade_id"])
    out.refused = [f"{e['kind']} {e['detail']}" for e in r.get("refusals", [])]
    out.notes = [f"{g}: {s}" for g, s in r.get("functions", {}).items() if s != "ok"]
    out.notes += [n for n in r.get("notes", []) if "unanswered" in n or "missing" in n]
    if r.get("output_bytes", 0) >= 1_000_000:
        out.notes.append(f"printed {r['output_bytes'] / 1e6:.0f} MB")
    return out


# --------------------------------------------------------------------------- the course folder


def load_api(course_dir="."):
    """An NbGraderAPI configured by course_dir/nbgrader_config.py."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    # nbgrader runs its database migrations through the `alembic` script beside this Python.
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    course_dir = Path(course_dir).resolve()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    config.CourseDirectory.root = config.CourseDirectory.get("root", str(course_dir))
    return NbGraderAPI(config=config)


@dataclass(frozen=True)
class Course:
    """The folders of a course, as its nbgrader_config.py names them (read without nbgrader,
    whose import takes seconds: the jobs start while the writer loads it)."""

    root: Path
    source: str = "source"
    release: str = "release"
    submitted: str = "submitted"
    db_url: str = ""

    @classmethod
    def load(cls, course_dir=".") -> "Course":
        from traitlets.config.loader import PyFileConfigLoader

        course_dir = Path(course_dir).resolve()
        cd = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config().CourseDirectory
        root = Path(cd.get("root", str(course_dir)))
        return cls(root, cd.get("source_directory", "source"), cd.get("release_directory", "release"),
                   cd.get("submitted_directory", "submitted"), cd.get("db_url", f"sqlite:///{root / 'gradebook.db'}"))

    def knows(self, assignment: str) -> bool | None:
        """Whether the gradebook has the assignment (None: not a SQLite gradebook, ask nbgrader)."""
        import sqlite3

        if not self.db_url.startswith("sqlite:///"):
            return None
        path = Path(self.db_url[len("sqlite:///"):])
        if not path.exists():
            return False
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                return db.execute("SELECT 1 FROM assignment WHERE name = ?", (assignment,)).fetchone() is not None
        except sqlite3.Error:
            return None

    def assignment(self, name: str):
        return load_assignment(self.root, name, self.source, self.release)

    def submissions(self, assignment: str) -> dict[str, Path]:
        """student -> their submitted notebook path (which may not exist), sorted by student."""
        base = self.root / self.submitted
        return {p.parent.name: p / f"{assignment}.ipynb" for p in sorted(base.glob(f"*/{assignment}")) if p.is_dir()}

    def results(self, assignment: str) -> Path:
        return self.root / "grades" / assignment


def ensure_in_gradebook(api, assignment: str, log=print) -> None:
    """Record the assignment in the gradebook (by generating its release) if it is not there."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(api.coursedir.db_url) as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    log(f"the gradebook does not know {assignment!r} yet: running `nbgrader generate_assignment {assignment}` "
        f"(what `make release A={assignment}` does), which records it")
    out = api.generate_assignment(assignment, force=True)
    if not out.get("success"):
        raise SystemExit(f"generate_assignment {assignment} failed:\n{out.get('log', '')}{out.get('error', '')}")


def _results_dir(api, assignment: str) -> Path:
    return Course.load(api.coursedir.root).results(assignment)


def _read(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def _current(stored, sha: str, source_sha: str, sandbox: bool) -> bool:
    return bool(stored) and not stored.get("grader_error") and stored.get("submission_sha256") == sha \
        and stored.get("source_sha256") == source_sha and stored.get("grader_version") == GRADER_VERSION \
        and stored.get("sandbox") == sandbox


def record(api, assignment, result: dict) -> None:
    """The one writer: the result file, the gradebook's scores, the graded notebook."""
    from nbgrader.api import Gradebook

    a = load_assignment(api.coursedir.root, assignment, api.coursedir.source_directory,
                        api.coursedir.release_directory)
    student = result["student"]
    _write_json(_results_dir(api, assignment) / f"{student}.json", result)
    src = Path(api.coursedir.format_path(api.coursedir.submitted_directory, student, assignment))
    timestamp = api.coursedir.get_existing_timestamp(str(src))
    with Gradebook(api.coursedir.db_url) as gb:
        gb.update_or_create_student(student)
        if timestamp:
            gb.update_or_create_submission(assignment, student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(assignment, student)
        notebook = Path(a.notebook).stem
        for t in result["tests"]:
            grade = gb.find_grade(t["grade_id"], notebook, assignment, student)
            grade.auto_score = t["points"]
            grade.needs_manual_grade = False
        gb.db.commit()
    out = Path(api.coursedir.format_path(api.coursedir.autograded_directory, student, assignment)) / a.notebook
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.chmod(0o644)
    out.write_text(json.dumps(graded_notebook(a, result), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _references(a) -> dict[str, list[tuple[str, str]]]:
    refs = {}
    for c in a.solutions:
        refs[c.grade_id] = [("reference solution", c.source)]
        lib = library_source(c.grade_id)
        if lib:
            refs[c.grade_id].append(("seqlib", lib))
    return refs


def summary(course: "Course", assignment: str) -> list[StudentResult]:
    """Every submitting student's row, from the stored results, with copy signals."""
    results = {s: _read(course.results(assignment) / f"{s}.json") for s in course.submissions(assignment)}
    graded = {s: r for s, r in results.items() if r}
    a = course.assignment(assignment)
    flags = copy_flags({s: answered(a, r.get("sources", {})) for s, r in graded.items()}, _references(a))
    rows = []
    for s, r in results.items():
        rows.append(from_result(r, flags.get(s)) if r else StudentResult(s, problem="not graded yet (run autograde)"))
    return rows


def autograde(assignment: str, course_dir=".", students: list[str] | None = None, jobs: int | None = None,
              sandbox: bool = True, dask: str | None = None, force: bool = False, log=print) -> list[StudentResult]:
    """Grade each (or the given) student's submission of assignment; returns every student's row.

    A stored result from the same submission, source notebook and grader is kept unless force.
    """
    if sandbox:
        check_sandbox()
    course = Course.load(course_dir)
    a = course.assignment(assignment)
    found = course.submissions(assignment)
    chosen = students or list(found)
    unknown = [s for s in chosen if s not in found]
    if unknown:
        raise SystemExit(f"no submission of {assignment!r} for: {', '.join(unknown)}")
    specs = []
    for s in chosen:
        path = found[s]
        stored = _read(course.results(assignment) / f"{s}.json")
        if not force and _current(stored, _sha(path), a.sha256, sandbox):
            continue  # graded already, from the same files: the result stands
        specs.append(dict(course_dir=str(course.root), assignment=assignment, student=s, submission=str(path),
                          sandbox=sandbox))
    api = None
    if not course.knows(assignment):
        api = load_api(course_dir)
        ensure_in_gradebook(api, assignment, log)  # it writes the release the jobs read: before them
    results = _Jobs(specs, jobs, dask)  # started now: they run while nbgrader is imported below
    try:
        api = api or load_api(course_dir)
        timing = {}
        for result in results:
            timing[result["student"]] = result.pop("timing", {})
            record(api, assignment, result)
            log(f"graded {result['student']}: {result['score']:g} / {result['max_score']:g}")
    finally:
        results.close()
    if timing:
        _write_json(course.results(assignment) / "timing" / "last-run.json", timing)
    return summary(course, assignment)


def _sha(path: Path) -> str:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


class _Jobs:
    """Grading jobs, started at once (a process pool, or a Dask cluster); iterate for results
    in the order they finish."""

    def __init__(self, specs: list[dict], jobs: int | None, dask: str | None):
        self.futures, self.pool, self.client, self.cluster = [], None, None, None
        if not specs:
            return
        if dask:
            from distributed import Client, LocalCluster

            if dask.startswith("local:"):
                self.cluster = LocalCluster(n_workers=int(dask.split(":", 1)[1]), threads_per_worker=1,
                                            processes=True, dashboard_address=None)
                self.client = Client(self.cluster)
            else:
                self.client = Client(dask)
            self.futures = self.client.map(grade_job, specs, pure=False)
            return
        workers = min(jobs or os.cpu_count() or 1, len(specs))
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
        self.futures = [self.pool.submit(grade_job, spec) for spec in specs]

    def __iter__(self):
        if self.client is not None:
            from distributed import as_completed as dask_completed

            for future in dask_completed(self.futures):
                yield future.result()
        else:
            for future in as_completed(self.futures):
                yield future.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


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


def main_log(message: str) -> None:
    """The command line's log: one line on stderr, at once."""
    print(message, file=sys.stderr, flush=True)
