"""Releasing an assignment (``make release``): nbgrader's generate_assignment, made safe to repeat.

nbgrader removes ``assignments/NAME`` before it regenerates it, and then refuses to change the
cells of an assignment the gradebook holds submissions of ("Cannot add or remove cells"):
the release is gone and the command fails. Here the release is kept aside first and put back
when nbgrader fails, and the one line printed says what to do.

A released notebook's links to its chapter's MyST source (``../../book/01_vanilla_rnn.md``, which
JupyterLab opens as text) then point at the chapter's built page (seqlib.grading.links): the
published book's when _config.yml sets ``html.baseurl``, else ``_build/html`` here.
"""

from __future__ import annotations

import posixpath
import shutil
import sqlite3
import tempfile
from pathlib import Path

from seqlib.grading import links


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
    try:
        baseurl = links.book_url(coursedir.root)
    except ValueError as err:
        raise ReleaseError(str(err)) from None
    held = submissions(coursedir.db_url, assignment)
    with tempfile.TemporaryDirectory() as keep:
        saved = Path(keep) / assignment
        if target.exists():
            shutil.copytree(target, saved)
        out = api.generate_assignment(assignment, force=True)
        if out.get("success"):
            try:
                relinked = link_chapters(api, assignment, baseurl)
            except Exception as err:  # the release students have stays whole, or is not made at all
                _restore(saved, target, made_here=True)
                raise ReleaseError(f"{assignment}: pointing its chapter links at the book failed ({err}); "
                                   f"the release in {target} is unchanged") from err
            where = baseurl or links.BUILD
            return f"released {assignment} into {target} (chapter links in {relinked} cell(s) open {where})"
        _restore(saved, target)
    said = " ".join((out.get("error") or out.get("log") or "").split())[-300:]
    if held:
        raise ReleaseError(f"{assignment} has {held} submission(s) in the gradebook, and nbgrader cannot change "
                           f"the graded cells of an assignment that has submissions; the release in {target} is "
                           f"unchanged. Release the new version under another name, or remove the old grades "
                           f"first (nbgrader db assignment remove {assignment} --force).")
    raise ReleaseError(f"nbgrader generate_assignment {assignment} failed ({said}); the release in {target} is "
                       "unchanged")


def _restore(saved: Path, target: Path, made_here: bool = False) -> None:
    """Put the release kept aside back; with none kept, remove target if this run made it."""
    if saved.exists() or made_here:
        shutil.rmtree(target, ignore_errors=True)
    if saved.exists():
        shutil.copytree(saved, target)


def link_chapters(api, assignment: str, baseurl: str = "") -> int:
    """Point the chapter links of every released notebook of assignment at the built book (see
    seqlib.grading.links); the number of cells changed.

    A changed cell's checksum is updated in the notebook and in the gradebook's copy of the
    cell, so that neither ``nbgrader validate`` nor nbgrader's autograder sees it as edited.
    """
    import nbformat

    coursedir = api.coursedir
    root = Path(coursedir.root)
    target = root / coursedir.release_directory / assignment
    count = 0
    for path in sorted(target.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        inside = path.parent.relative_to(target).as_posix()
        here = posixpath.join(coursedir.release_directory, assignment, inside)
        base = posixpath.join(coursedir.source_directory, assignment, inside)  # where the links were written
        nb = nbformat.read(path, as_version=4)
        changed = links.rewrite_notebook(nb, here, baseurl, base=base)
        if changed:
            nbformat.write(nb, path)
            _update_source_cells(coursedir.db_url, assignment, path.stem, [nb.cells[i] for i in changed])
        count += len(changed)
    return count


def _update_source_cells(db_url: str, assignment: str, notebook: str, cells) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        for cell in cells:
            meta = cell.metadata.get("nbgrader", {})
            if not meta.get("grade_id"):
                continue
            try:
                stored = gb.find_source_cell(meta["grade_id"], notebook, assignment)
            except MissingEntry:
                continue
            stored.source = cell.source
            stored.checksum = meta.get("checksum", stored.checksum)
        gb.db.commit()
