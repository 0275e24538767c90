"""Grading a whole class: isolated jobs in parallel, one writer for the gradebook, a table per student.

``python -m seqlib.grading autograde NAME`` (what ``make autograde A=NAME`` runs) grades every
``submitted/<student>/NAME/NAME.ipynb``: each submission is a job (seqlib.grading.job) run in
a process of its own (``--jobs`` at a time, default: the machine's cores) or on a Dask
cluster (``--dask ADDRESS``). This process alone writes: each student's result to
``grades/NAME/<student>.json`` as soon as it arrives, their scores into nbgrader's gradebook
(so ``nbgrader export`` and ``generate_feedback`` show them) and the graded notebook to
``autograded/<student>/NAME/`` for the feedback. A result is reused when the submission,
the source notebook and the grader are unchanged, so an interrupted run is simply run again,
and a re-run writes the same bytes.

Nothing about one student stops the class: a job that fails, a folder that cannot be read, a
result that cannot be recorded, a copy check that cannot be made, each marks that student NOT
GRADED with the reason, and the run goes on. Where the grader itself failed, no score is
recorded, the student is graded again on the next run, and the command exits non-zero.

The summary (printed, and ``grades/NAME-summary.csv``) always covers every student who
submitted NAME, also after ``--student X``: score, failed tests, errors, timeouts, crashes,
what the kernel refused, copy signals, and why a submission could not be graded.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from seqlib.grading import results
from seqlib.grading.job import grade_job, job_seconds, result_from_payload, run_isolated
from seqlib.grading.notebook import answered, graded_notebook, load_assignment, read_limited, released_text
from seqlib.grading.results import GRADER_VERSION, SubmissionResult, for_terminal
from seqlib.grading.sandbox import check_sandbox
from seqlib.grading.similarity import copy_flags, library_source
from seqlib.grading.table import StudentResult, from_result

# --------------------------------------------------------------------------- the course folder


class GradingError(RuntimeError):
    """The class cannot be graded as asked (an unknown student, a gradebook nbgrader refuses):
    the command line says it in one line."""



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
        """The assignment name of this course; GradingError, saying what is missing, if there is none."""
        try:
            return load_assignment(self.root, name, self.source, self.release)
        except FileNotFoundError as err:
            known = ", ".join(sorted(p.name for p in (self.root / self.source).glob("*") if p.is_dir())) or "none"
            raise GradingError(f"no assignment {name!r} here: {err.filename or err} does not exist "
                               f"(assignments: {known})") from None
        except ValueError as err:
            raise GradingError(f"the source notebook of {name!r} cannot be graded: {err}") from None

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
        raise GradingError(f"nbgrader generate_assignment {assignment} failed: "
                           f"{(out.get('error') or out.get('log') or '').strip().splitlines()[-1:]}")


def _results_dir(api, assignment: str) -> Path:
    return Course.load(api.coursedir.root).results(assignment)


def _timestamp(folder: Path):
    """The submission time nbgrader's timestamp.txt gives, or None (and why) where there is
    none or it cannot be read (nbgrader's own reader stops the whole run on a bad one)."""
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    try:
        if not path.is_file():
            return None, ""
        text = path.read_bytes()[:200].decode("utf-8", "replace").strip()
        return (parse_utc(text), "") if text else (None, "empty timestamp.txt")
    except (OSError, ValueError, OverflowError, TypeError) as err:
        return None, f"unreadable timestamp.txt ({type(err).__name__}): graded without a submission time"


def record(api, assignment: str, result: SubmissionResult) -> None:
    """The one writer: the result file, the gradebook's scores, the graded notebook.

    A grader_error result records no score: only its result file, so that the summary says
    NOT GRADED and the next run grades the student again.
    """
    from nbgrader.api import Gradebook, MissingEntry

    a = load_assignment(api.coursedir.root, assignment, api.coursedir.source_directory,
                        api.coursedir.release_directory)
    student = result.student
    if result.grader_error:
        results.write(_results_dir(api, assignment) / f"{student}.json", result)
        return
    src = Path(api.coursedir.format_path(api.coursedir.submitted_directory, student, assignment))
    timestamp, why = _timestamp(src)
    if why and why not in result.notes:
        result.notes.append(why)
    results.write(_results_dir(api, assignment) / f"{student}.json", result)
    with Gradebook(api.coursedir.db_url) as gb:
        gb.update_or_create_student(student)
        # nbgrader's add_submission reads the new submission's notebooks before adding it to
        # the session; autoflush then warns (SAWarning) about an object not in the session.
        with gb.db.no_autoflush:
            if timestamp:
                gb.update_or_create_submission(assignment, student, timestamp=timestamp)
            else:
                gb.update_or_create_submission(assignment, student)
        notebook = Path(a.notebook).stem
        # nbgrader's own rules (SaveAutoGrades): a grade without an automatic score, or with a
        # score someone set by hand, needs a person's look; manual scores, extra credit and
        # comments are never touched here, so they survive every regrade.
        for t in result.tests:
            grade = gb.find_grade(t.grade_id, notebook, assignment, student)
            grade.auto_score = t.points
            grade.needs_manual_grade = grade.manual_score is not None
        for c in a.manual:  # a written answer: 0 when left as released, else for a person to grade
            grade = gb.find_grade(c.grade_id, notebook, assignment, student)
            grade.auto_score = 0.0 if _unanswered(a, c.grade_id, result.answers) else None
            grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        for c in a.solutions + a.manual:
            try:
                comment = gb.find_comment(c.grade_id, notebook, assignment, student)
            except MissingEntry:
                continue
            given = result.answers if c.kind == "manual" else result.sources
            comment.auto_comment = "No response." if _unanswered(a, c.grade_id, given) else None
        gb.db.commit()
        _late_penalty(api, gb, assignment, notebook, student)
    out = Path(api.coursedir.format_path(api.coursedir.autograded_directory, student, assignment)) / a.notebook
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.chmod(0o644)
    out.write_text(json.dumps(graded_notebook(a, result), indent=1, ensure_ascii=True) + "\n", encoding="ascii")


def _late_penalty(api, gb, assignment: str, notebook: str, student: str) -> None:
    """nbgrader's late penalty (its AssignLatePenalties rule, with the plugin the course's
    config names): none unless the submission time is past the assignment's due date."""
    from nbgrader.preprocessors import AssignLatePenalties

    submission = gb.find_submission(assignment, student)
    nb = gb.find_submission_notebook(notebook, assignment, student)
    nb.late_submission_penalty = None
    if submission.total_seconds_late > 0:
        rule = AssignLatePenalties(config=api.config)
        rule.init_plugin()
        penalty = rule.plugin_inst.late_submission_penalty(student, nb.score, submission.total_seconds_late)
        if penalty is not None:
            nb.late_submission_penalty = min(max(penalty, 0.0), nb.score)
    gb.db.commit()


def _unanswered(a, grade_id: str, given: dict[str, str]) -> bool:
    return grade_id not in given or given[grade_id] == released_text(a, grade_id)


def _references(a) -> dict[str, list[tuple[str, str]]]:
    refs = {}
    for c in a.solutions:
        refs[c.grade_id] = [("reference solution", c.source)]
        lib = library_source(c.grade_id)
        if lib:
            refs[c.grade_id].append(("seqlib", lib))
    return refs


def _stored(course: "Course", assignment: str, student: str) -> SubmissionResult | None:
    """A student's stored result; None when there is none or it cannot be read."""
    try:
        return results.read(course.results(assignment) / f"{student}.json")
    except ValueError:
        return None


def summary(course: "Course", assignment: str) -> list[StudentResult]:
    """Every submitting student's row, from the stored results, with copy signals."""
    rows, graded = {}, {}
    for s in course.submissions(assignment):
        try:
            r = results.read(course.results(assignment) / f"{s}.json")
        except ValueError as err:
            rows[s] = StudentResult(s, problem=f"{err}: grade again with --force --student {s}", grader_error=True)
            continue
        if r is None:
            rows[s] = StudentResult(s, problem="not graded yet (run autograde)")
        else:
            rows[s] = from_result(r)
            if not r.problem:
                graded[s] = r
    a = course.assignment(assignment)
    flags, incomplete = copy_flags({s: answered(a, r.sources) for s, r in graded.items()}, _references(a))
    for s, found in flags.items():
        rows[s].copy = found
    for s in incomplete:
        rows[s].copy.append("not compared (the copy check's time budget ran out)")
    return list(rows.values())


def autograde(assignment: str, course_dir=".", students: list[str] | None = None, jobs: int | None = None,
              sandbox: bool = True, dask: str | None = None, force: bool = False,
              log=print) -> tuple[list[StudentResult], int]:
    """Grade each (or the given) student's submission of assignment.

    Returns every student's row, and how many of this run's submissions the grader failed on
    (not graded, no score recorded). A stored result from the same submission, source notebook
    and grader is kept unless force.
    """
    if sandbox:
        check_sandbox()
    course = Course.load(course_dir)
    a = course.assignment(assignment)
    found = course.submissions(assignment)
    chosen = students or list(found)
    unknown = [s for s in chosen if s not in found]
    if unknown:
        raise GradingError(f"no submission of {assignment!r} for: {', '.join(unknown)}")
    specs = []
    base = (course.root / course.submitted).resolve()
    for s in chosen:
        path = found[s]
        # a folder that is a link elsewhere (to solutions/, say) is not this student's submission
        linked = path.parent.resolve() != base / s / assignment
        stored = _stored(course, assignment, s)
        if not force and _current(stored, "" if linked else _sha(path), a.sha256, sandbox):
            continue  # graded already, from the same files: the result stands
        specs.append(dict(course_dir=str(course.root), assignment=assignment, student=s, submission=str(path),
                          sandbox=sandbox, problem="the submission's folder is a symbolic link" if linked else ""))
    api = None
    if not course.knows(assignment):
        api = load_api(course_dir)
        ensure_in_gradebook(api, assignment, log)  # it writes the release the jobs read: before them
    jobs_run = _Jobs(specs, jobs, dask, torch=a.torch, seconds=job_seconds(a))  # started now: they run while
    failures, timing = 0, {}                                                   # nbgrader is imported below
    try:
        api = api or load_api(course_dir)
        for result in jobs_run:
            timing[result.student] = result.timing
            try:
                record(api, assignment, result)
            except Exception as err:  # noqa: BLE001 - one student's record must not stop the class
                result = SubmissionResult.not_graded(assignment, result.student,
                                                     f"the grader could not record the result: "
                                                     f"{type(err).__name__}: {str(err)[:300]}", sandbox=sandbox)
                results.write(course.results(assignment) / f"{result.student}.json", result)
            if result.grader_error:
                failures += 1
                log(f"NOT GRADED {for_terminal(result.student)}: {for_terminal(result.problem)}")
            else:
                log(f"graded {for_terminal(result.student)}: {result.score:g} / {result.max_score:g}")
    finally:
        jobs_run.close()
    if timing:
        course.results(assignment).joinpath("timing").mkdir(parents=True, exist_ok=True)
        course.results(assignment).joinpath("timing", "last-run.json").write_text(json.dumps(timing, indent=1))
    return summary(course, assignment), failures


def _current(stored: SubmissionResult | None, sha: str, source_sha: str, sandbox: bool) -> bool:
    return stored is not None and not stored.grader_error and stored.submission_sha256 == sha \
        and stored.source_sha256 == source_sha and stored.grader_version == GRADER_VERSION \
        and stored.sandbox == sandbox


def _sha(path: Path) -> str:
    try:
        return hashlib.sha256(read_limited(path)).hexdigest()
    except OSError:
        return ""


class _Jobs:
    """Grading jobs, started at once: each in a process of its own (seqlib.grading.job.run_isolated),
    `jobs` at a time, or on a Dask cluster. Iterating gives a SubmissionResult per job in the
    order they finish, never an exception: whatever fails is that student's grader_error."""

    def __init__(self, specs: list[dict], jobs: int | None, dask: str | None, torch: bool, seconds: float):
        self.specs, self.futures, self.pool, self.client, self.cluster = specs, {}, None, None, None
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
            for spec in specs:
                self.futures[self.client.submit(grade_job, spec, torch, seconds, pure=False)] = spec
            return
        self.pool = ThreadPoolExecutor(max_workers=min(jobs or os.cpu_count() or 1, len(specs)))
        for spec in specs:
            self.futures[self.pool.submit(run_isolated, spec, torch=torch, seconds=seconds)] = spec

    def __iter__(self):
        if self.client is not None:
            from distributed import as_completed as dask_completed

            done = dask_completed(list(self.futures))
        else:
            done = as_completed(list(self.futures))
        for future in done:
            spec = self.futures[future]
            try:
                value = future.result()
            except BaseException as err:  # noqa: BLE001 - a lost Dask worker, a broken pool: this job only
                value = {"failure": f"{type(err).__name__}: {str(err)[:300]}"}
            yield value if isinstance(value, SubmissionResult) else result_from_payload(spec, value, "no result")

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def main_log(message: str) -> None:
    """The command line's log: one line on stderr, at once."""
    print(message, file=sys.stderr, flush=True)
