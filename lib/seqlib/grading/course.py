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


def submissions(api, assignment: str) -> dict[str, Path]:
    """student -> their submitted notebook path (which may not exist), sorted by student."""
    root = Path(api.coursedir.root) / api.coursedir.submitted_directory
    return {p.parent.name: p / f"{assignment}.ipynb" for p in sorted(root.glob(f"*/{assignment}")) if p.is_dir()}


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
    return Path(api.coursedir.root) / "grades" / assignment


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def _stored(api, assignment: str, student: str):
    path = _results_dir(api, assignment) / f"{student}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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


def summary(api, assignment: str) -> list[StudentResult]:
    """Every submitting student's row, from the stored results, with copy signals."""
    results = {s: _stored(api, assignment, s) for s in submissions(api, assignment)}
    graded = {s: r for s, r in results.items() if r}
    a = load_assignment(api.coursedir.root, assignment, api.coursedir.source_directory,
                        api.coursedir.release_directory)
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
    api = load_api(course_dir)
    ensure_in_gradebook(api, assignment, log)
    a = load_assignment(api.coursedir.root, assignment, api.coursedir.source_directory,
                        api.coursedir.release_directory)
    found = submissions(api, assignment)
    chosen = students or list(found)
    unknown = [s for s in chosen if s not in found]
    if unknown:
        raise SystemExit(f"no submission of {assignment!r} for: {', '.join(unknown)}")
    specs = []
    for s in chosen:
        path = found[s]
        sha = _sha(path)
        if not force and _current(_stored(api, assignment, s), sha, a.sha256, sandbox):
            continue  # graded already, from the same files: the result stands
        specs.append(dict(course_dir=str(Path(api.coursedir.root).resolve()), assignment=assignment, student=s,
                          submission=str(path), sandbox=sandbox))
    timing = {}
    for result in _run(specs, jobs, dask):
        timing[result["student"]] = result.pop("timing", {})
        record(api, assignment, result)
        log(f"graded {result['student']}: {result['score']:g} / {result['max_score']:g}")
    if timing:
        _write_json(_results_dir(api, assignment) / "timing" / "last-run.json", timing)
    return summary(api, assignment)


def _sha(path: Path) -> str:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _run(specs: list[dict], jobs: int | None, dask: str | None):
    """Yield results as they finish: here, in a process pool, or on a Dask cluster."""
    if not specs:
        return
    if dask:
        from distributed import Client, LocalCluster

        if dask.startswith("local:"):
            cluster = LocalCluster(n_workers=int(dask.split(":", 1)[1]), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        else:
            cluster, client = None, Client(dask)
        try:
            from distributed import as_completed as dask_completed

            for future in dask_completed(client.map(grade_job, specs, pure=False)):
                yield future.result()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or len(specs) == 1:
        for spec in specs:
            yield grade_job(spec)
        return
    with ProcessPoolExecutor(max_workers=min(jobs, len(specs)), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(grade_job, spec) for spec in specs]
        for future in as_completed(futures):
            yield future.result()


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
