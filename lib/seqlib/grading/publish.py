"""The repository an instructor publishes for a graded class: the course without its answers.

This repository (the instructor's) holds ``solutions/`` (the reference solutions and the
hidden tests) and the tests that read them. A graded class gets a copy without them:
``python -m seqlib.grading student-repo DEST`` (``make student-repo DEST=...``) writes the
tracked files of the course into DEST, a new git repository, leaving out everything listed in
``PRIVATE``, and checks what it wrote: no file may hold a hidden test, a solution region, a
written answer's rubric, or a path into ``solutions/`` that a test would follow.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# What only the instructor's repository holds: the answers, and the tests that read them.
PRIVATE = ("solutions/", "tests/assignments/", "tests/test_assignments.py", "tests/grading/",
           "bench/grading_throughput.py")
# What no published notebook may contain (the markers of nbgrader's source notebooks).
MARKERS = ("BEGIN HIDDEN TESTS", "### BEGIN SOLUTION", "**Rubric")


class PublishError(RuntimeError):
    """The student repository could not be written; one line says why."""


def _tracked(root: Path) -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        raise PublishError(f"{root} is not a git repository with tracked files ({err})") from None
    return [p for p in out.stdout.decode().split("\0") if p]


def student_repo(root: Path, dest: Path) -> str:
    """Write the student edition of the course at root into dest (a new folder); one line."""
    root, dest = Path(root).resolve(), Path(dest).resolve()
    if dest.exists() and any(dest.iterdir()):
        raise PublishError(f"DEST: {dest} exists and is not empty (expected a new folder)")
    if dest == root or root in dest.parents:
        raise PublishError(f"DEST: {dest} is inside the course (expected a folder outside {root})")
    files = [f for f in _tracked(root) if not f.startswith(PRIVATE) and (root / f).is_file()]
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, dest / f)
    pyproject = dest / "pyproject.toml"
    if pyproject.exists():  # the published tests do not look for solutions/
        pyproject.write_text(pyproject.read_text().replace('testpaths = ["tests", "solutions"]',
                                                           'testpaths = ["tests"]'))
    leaks = [f for f in files if f.endswith(".ipynb")  # where nbgrader's sources keep answers and hidden tests
             and any(m in (dest / f).read_text(encoding="utf-8", errors="replace") for m in MARKERS)]
    if leaks:
        shutil.rmtree(dest)
        raise PublishError(f"not written: {', '.join(leaks[:5])} would publish answers or hidden tests")
    git = ["git", "-c", "user.name=course", "-c", "user.email=course@localhost"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "The course, student edition"]):
        subprocess.run(git + cmd, cwd=dest, check=True, capture_output=True)
    return f"written: {dest} ({len(files)} files; without {', '.join(PRIVATE)})"
