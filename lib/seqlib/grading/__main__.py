"""python -m seqlib.grading {autograde,summary,feedback,release} ASSIGNMENT [--student S ...] [--jobs N] [--dask ADDRESS]

autograde: grade every submitted/<student>/ASSIGNMENT/ASSIGNMENT.ipynb (or the given
students) in the sandbox, write the scores into the gradebook, and print the class table
(also written to grades/ASSIGNMENT-summary.csv). summary: the table of the last grading.
feedback: feedback/<student>/ASSIGNMENT/ASSIGNMENT.html for every graded student.
release: assignments/ASSIGNMENT from solutions/ASSIGNMENT (kept as it was if nbgrader refuses).
student-repo DEST: the repository a graded class gets, without solutions/ and the tests that read it.

Exit status: 0; 1 when the grader failed on a submission (no score recorded for it: run
again) or nothing was found; 2 for bad input (one line says what).

    python -m seqlib.grading autograde rnn_numpy --jobs 2
    python -m seqlib.grading feedback rnn_numpy
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqlib.grading import course, table
from seqlib.grading.publish import PublishError
from seqlib.grading.release import ReleaseError
from seqlib.grading.sandbox import SandboxUnavailable, enforcement


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return n


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    """Grade or summarize one assignment for the class; returns the exit status."""
    parser = _Parser(prog="python -m seqlib.grading", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["autograde", "summary", "feedback", "release", "student-repo"],
                        help="grade; show the last grades; write the students' feedback; release from solutions/; "
                             "write the repository a graded class gets (without solutions/) into a new folder")
    parser.add_argument("assignment", help="the assignment's name, e.g. rnn_numpy (for student-repo: the new folder)")
    parser.add_argument("--student", action="append", help="grade only this student (repeatable); the table "
                        "still lists everyone")
    parser.add_argument("--course", default=".", help="folder holding nbgrader_config.py (default: here)")
    parser.add_argument("--jobs", type=_positive, default=None, help="submissions graded at once (default: the cores)")
    parser.add_argument("--dask", default=None, metavar="ADDRESS",
                        help="run the jobs on a Dask cluster (its scheduler's address, or local:N for N local workers)")
    parser.add_argument("--force", action="store_true",
                        help="grade again even submissions whose stored result is current")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="grade without bubblewrap, on one trusted machine: student code can then read and "
                             "write everything the grader can (the table says so)")
    args = parser.parse_args(argv)

    failures = 0
    if not (Path(args.course) / "nbgrader_config.py").is_file():
        print(f"python -m seqlib.grading: --course: {args.course} holds no nbgrader_config.py (expected a "
              "course folder, such as the repository's root)", file=sys.stderr)
        return 2
    try:
        if args.command == "student-repo":
            from seqlib.grading.publish import student_repo

            print(student_repo(Path(args.course), Path(args.assignment)))
            return 0
        if args.command == "release":
            from seqlib.grading.release import release

            print(release(course.load_api(args.course), args.assignment))
            return 0
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
    except (SandboxUnavailable, course.GradingError, ReleaseError, PublishError) as err:
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
