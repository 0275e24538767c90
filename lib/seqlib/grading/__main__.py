"""python -m seqlib.grading {autograde,summary,feedback} ASSIGNMENT [--student S ...] [--jobs N] [--dask ADDRESS]

autograde: grade every submitted/<student>/ASSIGNMENT/ASSIGNMENT.ipynb (or the given
students) in the sandbox, write the scores into the gradebook, and print the class table
(also written to grades/ASSIGNMENT-summary.csv). summary: the table of the last grading.
feedback: feedback/<student>/ASSIGNMENT/ASSIGNMENT.html for every graded student.

    python -m seqlib.grading autograde rnn_numpy --jobs 2
    python -m seqlib.grading feedback rnn_numpy
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqlib.grading import course, table
from seqlib.grading.sandbox import SandboxUnavailable, enforcement


def main(argv: list[str] | None = None) -> int:
    """Grade or summarize one assignment for the class; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m seqlib.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["autograde", "summary", "feedback"],
                        help="grade; show the last grades; write the students' feedback")
    parser.add_argument("assignment", help="the assignment's name, e.g. rnn_numpy")
    parser.add_argument("--student", action="append", help="grade only this student (repeatable); the table "
                        "still lists everyone")
    parser.add_argument("--course", default=".", help="folder holding nbgrader_config.py (default: here)")
    parser.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: the cores)")
    parser.add_argument("--dask", default=None, metavar="ADDRESS",
                        help="run the jobs on a Dask cluster (its scheduler's address, or local:N for N local workers)")
    parser.add_argument("--force", action="store_true",
                        help="grade again even submissions whose stored result is current")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="grade without bubblewrap, on one trusted machine: student code can then read and "
                             "write everything the grader can (the table says so)")
    args = parser.parse_args(argv)

    failures = 0
    try:
        if args.command == "autograde":
            results, failures = course.autograde(args.assignment, args.course, args.student, args.jobs,
                                                 sandbox=not args.unsafe_no_sandbox, dask=args.dask,
                                                 force=args.force, log=course.main_log)
        elif args.command == "feedback":
            from seqlib.grading import feedback

            files = feedback.generate(course.load_api(args.course), args.assignment)
            print(f"{len(files)} feedback files under feedback/*/{args.assignment}/")
            return 0
        else:
            results = course.summary(course.Course.load(args.course), args.assignment)
    except (SandboxUnavailable, course.GradingError) as err:
        print(f"python -m seqlib.grading: {err}", file=sys.stderr)
        return 2
    if not results:
        print(f"no submissions of {args.assignment!r} under submitted/*/{args.assignment}/", file=sys.stderr)
        return 1
    print(table.format_table(results))
    out = Path(args.course) / "grades" / f"{args.assignment}-summary.csv"
    table.write_csv(results, out)
    print(f"\nwritten: {out}")
    if args.command == "autograde":
        print(f"sandbox: {enforcement(not args.unsafe_no_sandbox)}")
    unreadable = [r.student for r in results if r.problem and not r.grader_error]
    if unreadable:
        print(f"NOT GRADED (their files): {', '.join(unreadable)} (see the problem column)", file=sys.stderr)
    broken = [r.student for r in results if r.grader_error]
    if broken:
        # No score was recorded for them; they are graded again on the next run.
        print(f"NOT GRADED (the grader failed): {', '.join(broken)}; run autograde again", file=sys.stderr)
    return 1 if failures or broken else 0


if __name__ == "__main__":
    sys.exit(main())
