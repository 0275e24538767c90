"""Releasing an assignment (``make release``): nbgrader's generate_assignment, made safe to repeat.

nbgrader removes ``assignments/NAME`` before it regenerates it, and then refuses to change the
cells of an assignment the gradebook holds submissions of ("Cannot add or remove cells"):
the release is gone and the command fails. Here the release is kept aside first and put back
when nbgrader fails, and the one line printed says what to do.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path


class ReleaseError(RuntimeError):
    """The release could not be made; nothing was changed."""


def submissions(db_url: str, assignment: str) -> int:
    """How many submissions of assignment a SQLite gradebook holds (0 for any other gradebook)."""
    if not db_url.startswith("sqlite:///"):
        return 0
    path = Path(db_url[len("sqlite:///"):])
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute("SELECT count(*) FROM submitted_assignment JOIN assignment "
                             "ON assignment.id = submitted_assignment.assignment_id WHERE assignment.name = ?",
                             (assignment,)).fetchone()
            return int(row[0]) if row else 0
    except sqlite3.Error:
        return 0


def release(api, assignment: str) -> str:
    """Generate assignments/<assignment> from solutions/<assignment>; the line to print.

    Raises ReleaseError (the previous release restored) when nbgrader refuses.
    """
    coursedir = api.coursedir
    source = Path(coursedir.root) / coursedir.source_directory / assignment / f"{assignment}.ipynb"
    if not source.exists():
        raise ReleaseError(f"no source notebook {source}")
    target = Path(coursedir.root) / coursedir.release_directory / assignment
    held = submissions(coursedir.db_url, assignment)
    with tempfile.TemporaryDirectory() as keep:
        saved = Path(keep) / assignment
        if target.exists():
            shutil.copytree(target, saved)
        out = api.generate_assignment(assignment, force=True)
        if out.get("success"):
            return f"released {assignment} into {target}"
        if saved.exists():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(saved, target)
    said = " ".join((out.get("error") or out.get("log") or "").split())[-300:]
    if held:
        raise ReleaseError(f"{assignment} has {held} submission(s) in the gradebook, and nbgrader cannot change "
                           f"the graded cells of an assignment that has submissions; the release in {target} is "
                           f"unchanged. Release the new version under another name, or remove the old grades "
                           f"first (nbgrader db assignment remove {assignment} --force).")
    raise ReleaseError(f"nbgrader generate_assignment {assignment} failed ({said}); the release in {target} is "
                       "unchanged")
