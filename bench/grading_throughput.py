"""Grading throughput: rnn_numpy submissions per minute in the sandbox, with 1 and 2 workers.

    python bench/grading_throughput.py [--students 30] [--jobs 1 2]

Makes a class in a temporary course folder (a mix like a real one: two thirds correct, the
rest wrong answers, exceptions or the untouched release; no timeouts, which would measure
the time limit), grades it with `python -m seqlib.grading autograde --force --jobs J` for
each J in one run, and prints the wall time, submissions per minute, the ratio between the
worker counts, and the mean cost of one submission split into worker start-up (starting the
sandbox and loading the student's cells), the student's code (calls into the worker, channel
included) and the checks (the grader's own work in the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
A = "rnn_numpy"


def _solutions() -> dict[str, str]:
    nb = json.loads((REPO / "solutions" / A / f"{A}.ipynb").read_text())
    out = {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            out[meta["grade_id"]] = "\n".join(line for line in "".join(cell["source"]).splitlines() if "### " not in line)
    return out


def make_class(course: Path, students: int) -> None:
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "solutions" / A, course / "solutions" / A)
    shutil.copytree(REPO / "assignments" / A, course / "assignments" / A)
    release = json.loads((course / "assignments" / A / f"{A}.ipynb").read_text())
    good = _solutions()
    kinds = [dict(good),  # correct
             dict(good, rnn_forward=good["rnn_forward"].replace("Wh, b)", "Wh, 0 * b)")),  # wrong answer
             dict(good, rnn_step_backward=good["rnn_step_backward"].replace("    da =", "    raise IndexError\n    da =")),
             {}]  # the release
    plan = [0, 0, 1, 0, 0, 2, 0, 0, 3]  # 2/3 correct
    for k in range(students):
        code = kinds[plan[k % len(plan)]]
        nb = json.loads(json.dumps(release))
        for cell in nb["cells"]:
            gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if gid in code:
                cell["source"] = code[gid]
        folder = course / "submitted" / f"student{k:03d}" / A
        folder.mkdir(parents=True)
        (folder / f"{A}.ipynb").write_text(json.dumps(nb))


def grade(course: Path, jobs: int) -> tuple[float, dict]:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "seqlib.grading", "autograde", A, "--force", "--jobs", str(jobs)],
                          cwd=course, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(proc.stdout + proc.stderr)
    timing = json.loads((course / "grades" / A / "timing" / "last-run.json").read_text())
    return wall, timing


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=30)
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    print(f"{A}: {args.students} submissions, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        make_class(course, args.students)
        grade(course, 1)  # warm-up: records the assignment in the gradebook, warms the file cache
        rates = {}
        for jobs in args.jobs:
            wall, timing = grade(course, jobs)
            rates[jobs] = args.students / wall * 60
            parts = {k: statistics.mean(t.get(k, 0.0) for t in timing.values())
                     for k in ("start", "student_code", "checks", "total")}
            print(f"jobs={jobs}: {wall:.1f} s, {rates[jobs]:.1f} submissions/minute; per submission: "
                  f"start-up {parts['start']:.2f} s, student code {parts['student_code']:.2f} s, "
                  f"checks {parts['checks']:.2f} s, total {parts['total']:.2f} s")
        if len(rates) > 1:
            lo, hi = min(rates), max(rates)
            print(f"ratio jobs={hi} / jobs={lo}: {rates[hi] / rates[lo]:.2f}x")


if __name__ == "__main__":
    main()
