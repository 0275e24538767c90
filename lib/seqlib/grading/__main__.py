"""python -m seqlib.grading {autograde,summary} ASSIGNMENT [--student S ...] [--course DIR]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqlib.grading import course


def main(argv: list[str] | None = None) -> int:
    """Grade or summarize one assignment for the class; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m seqlib.grading", description=__doc__)
    parser.add_argument("command", choices=["autograde", "summary"])
    parser.add_argument("assignment")
    parser.add_argument("--student", action="append", help="grade only this student (repeatable)")
    parser.add_argument("--course", default=".", help="folder holding nbgrader_config.py")
    args = parser.parse_args(argv)

    if args.command == "autograde":
        results = course.autograde(args.assignment, args.course, args.student)
    else:
        results = course.summarize(args.assignment, args.course)
    if not results:
        print(f"no submissions of {args.assignment!r} under submitted/*/{args.assignment}/", file=sys.stderr)
        return 1
    print(course.format_table(results))
    out = Path(args.course) / "grades" / f"{args.assignment}-summary.csv"
    course.write_csv(results, out)
    print(f"\nwritten: {out}")
    ungraded = [r.student for r in results if r.problem]
    if ungraded:
        print(f"NOT GRADED: {', '.join(ungraded)} (see the problem column)", file=sys.stderr)
    # Exit 0 even then: every other student's grade is in the gradebook, and the table says who failed.
    return 0


if __name__ == "__main__":
    sys.exit(main())
