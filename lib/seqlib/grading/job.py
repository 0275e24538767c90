"""Grading one submission: the trusted tests, run here, calling the student's code over there.

``grade_submission`` reads the source notebook (the instructor's: trusted) and the submitted
notebook (only the source text of its solution cells), starts a sandboxed worker for the
student's cells, and runs the instructor's test cells in this process with every name of a
solution cell bound to a stand-in that calls the worker (seqlib.grading.remote). A test passes
when its cell runs to the end; what it printed is kept for the feedback. Each test cell runs
under a deadline (an alarm, which also bounds the grader's own work on what came back).

``run_isolated`` is how a class is graded: each submission in a process of its own, forked
from a server that has the grader imported already, under a memory limit and a deadline, so
that whatever one submission makes the grader do (or a bug of the grader's) ends with that
submission. A process that dies, runs out of time or raises is a ``grader_error`` result:
never a score.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from seqlib.grading import CheckError
from seqlib.grading.notebook import Assignment, Submission, load_assignment, read_submission
from seqlib.grading.remote import CellStatus, RemoteFunction, Session, StudentError
from seqlib.grading.results import SubmissionResult, TestResult
from seqlib.grading.sandbox import GraderFailure, WorkerLost, limits_from_env

TEST_SECONDS = float(os.environ.get("SEQLIB_TEST_TIMEOUT", "60"))  # one test cell, all its calls
OUTPUT_KEPT = 4000  # characters of a test's printed output kept for the feedback
TORCH_MEMORY = 3 << 30  # bytes of address space for a worker that imports torch
JOB_MEMORY = {False: 4 << 30, True: 8 << 30}  # the grader's own process for one submission (torch or not)
MAX_SOURCE = 1 << 20  # characters of one solution cell: more is not run (and not parsed here)


def _forbidden(source: str, forbid: tuple[str, ...]) -> str | None:
    """The first forbidden dotted name (e.g. "nn.LSTM") that source uses or imports, or None.

    A name counts where it is used (``nn.LSTM(...)``, and every prefix of a longer chain) and
    where it is imported (``from torch.nn import LSTM as L`` imports torch.nn.LSTM).
    """
    if not forbid:
        return None
    tree = _parse(source)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [f"{node.module}.{alias.name}" if node.module else alias.name for alias in node.names]
        elif isinstance(node, (ast.Attribute, ast.Name)):
            parts = []
            while isinstance(node, ast.Attribute):
                parts.append(node.attr)
                node = node.value
            if isinstance(node, ast.Name):
                parts.append(node.id)
            names = [".".join(reversed(parts))]
        else:
            continue
        for dotted in names:
            for name in forbid:
                if dotted == name or dotted.endswith("." + name):
                    return name
    return None


def _parse(source: str):
    """source's syntax tree, or None where it has none (a syntax error, or nesting too deep
    for the parser: the student's cell then fails in the worker, not here)."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _seqlib_imports(source: str) -> list[str]:
    """The seqlib modules a piece of code imports by name (the reference answers live there)."""
    tree = _parse(source)
    if tree is None:
        return []
    found = []
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        found += [n for n in names if n.split(".")[0] == "seqlib" and n not in found]
    return found


def _classify(err: BaseException) -> tuple[str, str]:
    """(status, message) of a test cell that raised err."""
    if isinstance(err, WorkerLost):
        return ("timeout" if err.kind == "timeout" else "crash"), err.detail
    if isinstance(err, StudentError):
        return err.cause or "error", str(err)
    if isinstance(err, CheckError):
        return "error", str(err)
    if isinstance(err, AssertionError):
        return "failed", str(err) or "assertion failed"
    # The test could not go on with what came back (a wrong type, a wrong number of values).
    return "failed", f"{type(err).__name__}: {err}"


def _out_of_time(signum, frame):
    raise WorkerLost("timeout", "the test ran past its time budget")


def _run_cell(source: str, name: str, ns: dict, seconds: float | None = None) -> tuple[BaseException | None, str]:
    """Run one of the instructor's cells in ns; (what it raised or None, what it printed).

    seconds: an alarm for the whole cell, the grader's own work included (callbacks from the
    worker, checks of what came back); it ends the cell as a timeout.
    """
    out = io.StringIO()
    # dont_inherit: a cell is compiled as a notebook compiles it, without this module's
    # `from __future__ import annotations` (string annotations break a cell's dataclasses here)
    code = compile(source, f"<{name}>", "exec", dont_inherit=True)
    alarm = seconds is not None and threading.current_thread() is threading.main_thread()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        previous = signal.signal(signal.SIGALRM, _out_of_time) if alarm else None
        try:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, seconds)
            exec(code, ns)  # noqa: S102 - the instructor's test code, from the source notebook
        except (KeyboardInterrupt, GraderFailure):
            raise
        except BaseException as err:  # noqa: BLE001 - every way a test can end is recorded
            return err, out.getvalue()
        finally:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
    return None, out.getvalue()


def grade_submission(course_dir: str, assignment: str, student: str, submission: str, *, sandbox: bool = True,
                     limits: dict | None = None, test_seconds: float = TEST_SECONDS,
                     skip_tests: tuple[str, ...] = (), problem: str = "") -> SubmissionResult:
    """Grade one submitted notebook. All arguments are plain data (paths as str).

    skip_tests: grade_ids of test cells not to run (status "skipped", no points): for the
    course's own tests of an assignment's classic mistakes, never for a class. problem: why
    the submission is not to be read at all (found by the caller). A failure of the grader
    (GraderFailure) gives a result with grader_error and no score.
    """
    t_start = time.perf_counter()
    a: Assignment = load_assignment(course_dir, assignment)
    sub = read_submission(submission, a) if not problem else Submission(problem=problem)
    result = SubmissionResult(assignment, student, a.max_score, source_sha256=a.sha256,
                              submission_sha256=sub.sha256, problem=sub.problem, notes=list(sub.notes),
                              sources=dict(sub.sources), answers=dict(sub.answers), sandbox=bool(sandbox))
    timing = {"start": 0.0, "tests": 0.0}
    if sub.problem:
        result.tests = [TestResult(t.grade_id, 0.0, t.points, "error", f"not graded: {sub.problem}") for t in a.tests]
        result.timing = dict(timing, total=time.perf_counter() - t_start)
        return result

    cells = [(c.grade_id, c.source) for c in a.worker_cells()]
    trusted = frozenset(c.grade_id for c in a.worker_cells())
    refused = {}
    for c in a.solutions:
        if c.grade_id not in sub.sources:
            continue
        why = None
        if len(sub.sources[c.grade_id]) > MAX_SOURCE:
            why = f"not run: {len(sub.sources[c.grade_id])} characters, over the limit of {MAX_SOURCE}"
        elif bad := _forbidden(sub.sources[c.grade_id], a.forbid):
            why = f"not run: it uses {bad}, which this assignment does not allow"
        if why:
            result.functions[c.grade_id] = why
            refused[c.grade_id] = CellStatus("refused", why)
            continue
        cells.append((c.grade_id, sub.sources[c.grade_id]))
    cells += [(c.grade_id, c.source) for c in a.harness_cells()]
    limits = dict(limits or {})
    if a.torch and not os.environ.get("SEQLIB_WORKER_MEMORY_MB"):
        limits.setdefault("memory_bytes", TORCH_MEMORY)
    session = Session(cells, torch=a.torch, sandbox=sandbox, limits=limits_from_env(**limits), trusted=trusted,
                      in_place=frozenset(a.in_place))
    session.load.update(refused)  # a test calling a refused function says why it is not defined
    ns: dict = {"__name__": "__grader__"}
    for c in a.solutions + a.harness_cells():
        for name in a.names(c):
            ns[name] = RemoteFunction(session, name)
    try:
        for cell in a.grader_cells():
            if cell.kind == "provided":
                session.deadline = time.perf_counter() + test_seconds
                err, _ = _run_cell(cell.source, f"grader {cell.grade_id}", ns, test_seconds + 10)
                if err is not None and not isinstance(err, (StudentError, WorkerLost)):
                    raise GraderFailure(f"the instructor's cell {cell.grade_id!r} of {a.notebook} fails in the grader: "
                                        + "".join(traceback.format_exception_only(type(err), err)).strip())
                continue
            if cell.grade_id in skip_tests:
                result.tests.append(TestResult(cell.grade_id, 0.0, cell.points, "skipped", "not run"))
                continue
            session.release()
            session.deadline = time.perf_counter() + test_seconds
            t = time.perf_counter()
            err, printed = _run_cell(cell.source, f"test {cell.grade_id}", ns, test_seconds + 10)
            timing["tests"] += time.perf_counter() - t
            status, message = ("passed", "") if err is None else _classify(err)
            result.tests.append(TestResult(cell.grade_id, cell.points if err is None else 0.0, cell.points, status,
                                           message[:2000], printed[:OUTPUT_KEPT]))
    except GraderFailure as failure:
        return SubmissionResult.not_graded(assignment, student, f"the grader failed: {failure}",
                                           max_score=a.max_score, sandbox=bool(sandbox))
    finally:
        session.close()
    for c in a.solutions:
        if c.grade_id in result.functions:
            continue
        status = session.load.get(c.grade_id)
        if c.grade_id not in sub.sources:
            result.functions[c.grade_id] = "missing"
        elif status is None or status.status == "ok":
            result.functions[c.grade_id] = "ok"
        else:
            result.functions[c.grade_id] = f"{status.status}: {status.message}"[:300]
    result.score = float(sum(t.points for t in result.tests))
    result.notes += [f"imports {m} (not there when graded)" for c in a.solutions
                     for m in _seqlib_imports(sub.sources.get(c.grade_id, ""))[:3]]
    result.refused = _unique(session.events)
    result.output_bytes = session.output_bytes
    result.workers = session.starts
    timing["start"] = session.start_seconds
    timing["student_code"] = session.remote_seconds  # their functions, and the channel to them
    timing["total"] = time.perf_counter() - t_start
    timing["checks"] = max(timing["total"] - session.start_seconds - session.remote_seconds, 0.0)
    result.timing = timing
    return result


def _unique(events: list[dict]) -> list[dict]:
    seen, out = set(), []
    for e in events:
        key = (str(e.get("kind")), str(e.get("detail")))
        if key not in seen:
            seen.add(key)
            out.append({"kind": key[0], "detail": key[1]})
    return out[:20]


# --------------------------------------------------------------------------- one submission, isolated


def job_seconds(assignment: Assignment, test_seconds: float = TEST_SECONDS) -> float:
    """The most one submission of assignment may take: every grader cell to its deadline, and
    workers to start."""
    return 120.0 + len(assignment.grader_cells()) * (test_seconds + 15.0)


def _cap_memory(memory_bytes: int) -> None:
    """Limit this process's address space to memory_bytes, or to the lower limit it has already
    (a Dask worker may run under one)."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _payload(spec: dict, memory_bytes: int) -> dict:
    """What a job process sends back: {"result": ..., "timing": ...} or {"failure": text}."""
    try:
        _cap_memory(memory_bytes)
        result = grade_submission(**spec)
        return {"result": result.to_json(), "timing": result.timing}
    except BaseException as err:  # noqa: BLE001 - the grader's own failure, reported as one
        return {"failure": f"{type(err).__name__}: {str(err)[:400]}"}


def _child(spec: dict, conn, memory_bytes: int) -> None:
    conn.send(_payload(spec, memory_bytes))
    conn.close()


def _context(torch: bool):
    """A forkserver that has imported the grader (and torch, for a torch assignment) once:
    each job is then a fork of it, in milliseconds."""
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["seqlib.grading.job", "seqlib.numpy"] + (["torch"] if torch else []))
    return ctx


def result_from_payload(spec: dict, payload, why: str) -> SubmissionResult:
    """The SubmissionResult a job process sent (see _payload), or a grader_error result saying
    why there is none (why: what happened to the process, where nothing came back)."""
    if isinstance(payload, dict) and "result" in payload:
        try:
            result = SubmissionResult.from_json(payload["result"])
            result.timing = payload.get("timing") or {}
            return result
        except ValueError as err:
            why = f"the grading job sent an unreadable result ({err})"
    elif isinstance(payload, dict) and "failure" in payload:
        why = f"the grader failed: {payload['failure']}"
    return SubmissionResult.not_graded(spec["assignment"], spec["student"], why, sandbox=spec.get("sandbox", True))


def run_isolated(spec: dict, *, torch: bool = False, seconds: float = 3600.0) -> SubmissionResult:
    """grade_submission(**spec) in a process of its own, with JOB_MEMORY and a deadline; a job
    that dies or runs out of time is a grader_error result (graded again next time)."""
    ctx = _context(torch)
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(spec, send, JOB_MEMORY[torch]), name=f"grade {spec['student']}")
    proc.start()
    send.close()
    payload, why = None, ""
    try:
        if receive.poll(seconds):
            payload = receive.recv()
        else:
            why = f"the grading job did not finish within {seconds:.0f} s"
    except (EOFError, OSError):
        proc.join(5)
        why = f"the grading job died (exit code {proc.exitcode})"
    finally:
        receive.close()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    return result_from_payload(spec, payload, why)


def grade_job(spec: dict, torch: bool = False, seconds: float = 3600.0) -> dict:
    """One submission for a Dask worker (whose processes may not fork children of their own
    through multiprocessing): ``python -m seqlib.grading.job --spec`` as a subprocess, with
    the same memory limit and deadline. Returns {"result": ..., "timing": ...} or
    {"failure": text}: plain data for the cluster to carry back."""
    memory = JOB_MEMORY[torch]
    try:
        proc = subprocess.run([sys.executable, "-m", "seqlib.grading.job", "--spec", json.dumps(spec)],
                              capture_output=True, text=True, timeout=seconds,
                              preexec_fn=lambda: _cap_memory(memory))
    except subprocess.TimeoutExpired:
        return {"failure": f"the grading job did not finish within {seconds:.0f} s"}
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return {"failure": f"the grading job died (exit code {proc.returncode}): {proc.stderr[-300:]}"}


def main(argv=None) -> int:
    """python -m seqlib.grading.job COURSE ASSIGNMENT STUDENT NOTEBOOK: print one result as JSON
    (or --spec JSON: the job of grade_job)."""
    import argparse

    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--spec"] and len(argv) == 2:
        print(json.dumps(_payload(json.loads(argv[1]), JOB_MEMORY[True])))
        return 0
    p = argparse.ArgumentParser(prog="python -m seqlib.grading.job", description=main.__doc__)
    p.add_argument("course"), p.add_argument("assignment"), p.add_argument("student"), p.add_argument("notebook")
    p.add_argument("--unsafe-no-sandbox", action="store_true")
    args = p.parse_args(argv)
    r = grade_submission(str(Path(args.course).resolve()), args.assignment, args.student, args.notebook,
                         sandbox=not args.unsafe_no_sandbox)
    print(json.dumps(r.to_json(), indent=1, sort_keys=True))
    return 0 if not r.grader_error else 1


if __name__ == "__main__":
    raise SystemExit(main())
