"""Grading one submission: the trusted tests, run here, calling the student's code over there.

``grade_submission`` is a job: plain arguments in, a plain dict out, so it runs the same in
this process, in a pool of processes (``make autograde JOBS=n``) or on a Dask cluster. It
reads the source notebook (the instructor's: trusted) and the submitted notebook (only the
source text of its solution cells), starts a sandboxed worker for the student's cells, and
runs the instructor's test cells in this process with every name of a solution cell bound to
a stand-in that calls the worker (seqlib.grading.remote). A test passes when its cell runs
to the end; what it printed is kept for the feedback.

The result has no clock readings (they are in ``result["timing"]``, which the course writer
keeps apart), so grading the same files twice gives the same bytes.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import time
import traceback
from pathlib import Path

from seqlib.grading.notebook import Assignment, load_assignment, read_submission
from seqlib.grading.remote import RemoteFunction, Session, StudentError
from seqlib.grading.sandbox import WorkerLost, limits_from_env

GRADER_VERSION = 1  # bump when the meaning of a result changes: stored results are then regraded
TEST_SECONDS = float(os.environ.get("SEQLIB_TEST_TIMEOUT", "60"))  # one test cell, all its calls
OUTPUT_KEPT = 4000  # characters of a test's printed output kept for the feedback
TORCH_MEMORY = 3 << 30  # bytes of address space for a worker that imports torch


def _forbidden(source: str, forbid: tuple[str, ...]) -> str | None:
    """The first forbidden dotted name (e.g. "nn.LSTM") that source uses, or None."""
    if not forbid:
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Name)):
            parts = []
            while isinstance(node, ast.Attribute):
                parts.append(node.attr)
                node = node.value
            if isinstance(node, ast.Name):
                parts.append(node.id)
            used = [".".join(reversed(parts))]
        elif isinstance(node, ast.ImportFrom):  # from torch.nn import LSTM (as L): the name is torch.nn.LSTM
            used = [f"{node.module or ''}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            used = [alias.name for alias in node.names]
        else:
            continue
        for dotted in used:
            for name in forbid:
                if dotted == name or dotted.endswith("." + name):
                    return name
    return None


def _classify(err: BaseException) -> tuple[str, str]:
    """(status, message) of a test cell that raised err."""
    if isinstance(err, WorkerLost):
        return ("timeout" if err.kind == "timeout" else "crash"), err.detail
    if isinstance(err, StudentError):
        return err.cause or "error", str(err)
    if isinstance(err, AssertionError):
        return "failed", str(err) or "assertion failed"
    # The test could not go on with what came back (a wrong type, a wrong number of values).
    return "failed", f"{type(err).__name__}: {err}"


def _run_cell(source: str, name: str, ns: dict) -> tuple[BaseException | None, str]:
    out = io.StringIO()
    # dont_inherit: a notebook cell runs as a notebook runs it, without this file's
    # `from __future__ import annotations` (under which a cell's dataclass fails)
    code = compile(source, f"<{name}>", "exec", dont_inherit=True)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            exec(code, ns)  # noqa: S102 - the instructor's test code, from the source notebook
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # noqa: BLE001 - every way a test can end is recorded
            return err, out.getvalue()
    return None, out.getvalue()


def grade_submission(course_dir: str, assignment: str, student: str, submission: str, *, sandbox: bool = True,
                     limits: dict | None = None, test_seconds: float = TEST_SECONDS) -> dict:
    """Grade one submitted notebook. All arguments are plain data (paths as str); so is the result."""
    t_start = time.perf_counter()
    a: Assignment = load_assignment(course_dir, assignment)
    sub = read_submission(submission, a)
    result = {"assignment": assignment, "student": student, "grader_version": GRADER_VERSION,
              "source_sha256": a.sha256, "submission_sha256": sub.sha256, "max_score": a.max_score,
              "score": 0.0, "problem": sub.problem, "notes": list(sub.notes), "sources": dict(sub.sources),
              "functions": {}, "tests": [], "refusals": [], "output_bytes": 0, "workers": 0,
              "sandbox": bool(sandbox)}
    timing = {"start": 0.0, "tests": 0.0}
    if sub.problem:
        result["tests"] = [{"grade_id": t.grade_id, "points": 0.0, "max_points": t.points, "status": "error",
                            "message": f"not graded: {sub.problem}", "output": ""} for t in a.tests]
        result["timing"] = dict(timing, total=time.perf_counter() - t_start)
        return result

    cells = [(c.grade_id, c.source) for c in a.worker_cells()]
    for c in a.solutions:
        if c.grade_id not in sub.sources:
            continue
        bad = _forbidden(sub.sources[c.grade_id], a.forbid)
        if bad:
            result["functions"][c.grade_id] = f"not run: it uses {bad}, which this assignment does not allow"
            continue
        cells.append((c.grade_id, sub.sources[c.grade_id]))
    cells += [(c.grade_id, c.source) for c in a.harness_cells()]
    limits = dict(limits or {})
    if a.torch and not os.environ.get("SEQLIB_WORKER_MEMORY_MB"):
        limits.setdefault("memory_bytes", TORCH_MEMORY)
    session = Session(cells, torch=a.torch, sandbox=sandbox, limits=limits_from_env(**limits))
    ns: dict = {"__name__": "__grader__"}
    for c in a.solutions + a.harness_cells():
        for name in a.names(c):
            ns[name] = RemoteFunction(session, name)
    try:
        for cell in a.grader_cells():
            if cell.kind == "provided":
                session.deadline = time.perf_counter() + test_seconds
                err, _ = _run_cell(cell.source, f"grader {cell.grade_id}", ns)
                if err is not None and not isinstance(err, (StudentError, WorkerLost)):
                    raise RuntimeError(f"the instructor's cell {cell.grade_id!r} of {a.notebook} fails in the grader: "
                                       + "".join(traceback.format_exception_only(type(err), err)).strip()) from err
                continue
            session.release()
            session.deadline = time.perf_counter() + test_seconds
            t = time.perf_counter()
            err, printed = _run_cell(cell.source, f"test {cell.grade_id}", ns)
            timing["tests"] += time.perf_counter() - t
            status, message = ("passed", "") if err is None else _classify(err)
            result["tests"].append({"grade_id": cell.grade_id, "points": cell.points if err is None else 0.0,
                                    "max_points": cell.points, "status": status, "message": message[:2000],
                                    "output": printed[:OUTPUT_KEPT]})
    finally:
        session.close()
    for c in a.solutions:
        if c.grade_id in result["functions"]:
            continue
        status = session.load.get(c.grade_id)
        if c.grade_id not in sub.sources:
            result["functions"][c.grade_id] = "missing"
        elif status is None or status.status == "ok":
            result["functions"][c.grade_id] = "ok"
        else:
            result["functions"][c.grade_id] = f"{status.status}: {status.message}"[:300]
    result["score"] = float(sum(t["points"] for t in result["tests"]))
    result["refusals"] = _unique(session.events)
    result["output_bytes"] = session.output_bytes
    result["workers"] = session.starts
    timing["start"] = session.start_seconds
    timing["student_code"] = session.remote_seconds  # their functions, and the channel to them
    timing["total"] = time.perf_counter() - t_start
    timing["checks"] = max(timing["total"] - session.start_seconds - session.remote_seconds, 0.0)
    result["timing"] = timing
    return result


def _unique(events: list[dict]) -> list[dict]:
    seen, out = set(), []
    for e in events:
        key = (str(e.get("kind")), str(e.get("detail")))
        if key not in seen:
            seen.add(key)
            out.append({"kind": key[0], "detail": key[1]})
    return out[:20]


def grade_job(spec: dict) -> dict:
    """grade_submission(**spec), the form a process pool or a Dask cluster calls; a failure of
    the grader itself becomes a result that says so (and is graded again next time)."""
    try:
        return grade_submission(**spec)
    except Exception as err:  # noqa: BLE001 - one broken job must not stop the class
        return {"assignment": spec["assignment"], "student": spec["student"], "grader_version": GRADER_VERSION,
                "grader_error": True, "source_sha256": "", "submission_sha256": "", "max_score": 0.0, "score": 0.0,
                "problem": f"the grader failed: {type(err).__name__}: {err}"[:500], "notes": [], "sources": {},
                "functions": {}, "tests": [], "refusals": [], "output_bytes": 0, "workers": 0,
                "sandbox": spec.get("sandbox", True), "timing": {}}


def main(argv=None) -> int:
    """python -m seqlib.grading.job COURSE ASSIGNMENT STUDENT NOTEBOOK: print one result as JSON."""
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m seqlib.grading.job", description=main.__doc__)
    p.add_argument("course"), p.add_argument("assignment"), p.add_argument("student"), p.add_argument("notebook")
    p.add_argument("--unsafe-no-sandbox", action="store_true")
    args = p.parse_args(argv)
    r = grade_submission(str(Path(args.course).resolve()), args.assignment, args.student, args.notebook,
                         sandbox=not args.unsafe_no_sandbox)
    print(json.dumps(r, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
