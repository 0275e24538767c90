"""Reading an assignment and a submission, and writing the graded notebook nbgrader shows.

The **source notebook** (solutions/NAME/NAME.ipynb, the instructor's, trusted) says what
is graded: each solution cell's ``grade_id`` is the name of the function (or class) it
defines; test cells hold the visible and hidden tests; other code cells are the
instructor's and are tagged by what they are for:

- ``worker``: also runs in the student's worker, before their cells (``import numpy as
  np``, a helper such as ``sigmoid`` that solutions may call); must not import seqlib;
- ``harness``: runs only in the worker, after the student's cells; the tests call the
  functions it defines there (a training loop over the student's model, say); it may use
  ``seqlib.grading.harness``, the one part of seqlib a worker has;
- ``demo``: not graded, not run by the grader (training runs, plots);
- untagged: runs in the grader only, before the tests that follow it (test tools).

A cell that is both a solution and a grade cell (a written answer in markdown, or code to be
read) is **manually graded**, as in nbgrader: never run, its points given by a person in
formgrader; the student's answer is kept for the graded notebook and the feedback.

A **submission** is untrusted bytes. Only the source text of its solution cells is used,
found by ``grade_id``; its test cells, outputs, metadata and any extra cells are ignored
(the grader runs its own copies of the tests), so editing, deleting or reordering them
changes nothing.
"""

from __future__ import annotations

import ast
import copy
import errno
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from seqlib.grading.channel import text

MAX_SUBMISSION_BYTES = 20 << 20
TAGS = ("worker", "harness", "demo")


@dataclass
class Cell:
    """One code cell of the source notebook."""

    index: int
    kind: str  # "solution", "test", "manual" (graded by a person) or "provided"
    grade_id: str
    source: str
    points: float = 0.0
    tags: tuple[str, ...] = ()


@dataclass
class Assignment:
    """What the source notebook of one assignment says about grading it."""

    name: str
    notebook: str  # file name, NAME.ipynb
    cells: list[Cell]
    release: dict  # the released notebook (nbformat JSON), trusted
    torch: bool = False
    forbid: tuple[str, ...] = ()
    sha256: str = ""
    in_place: tuple[str, ...] = ()  # functions that change their arguments in place, as they should

    @property
    def solutions(self) -> list[Cell]:
        return [c for c in self.cells if c.kind == "solution"]

    @property
    def tests(self) -> list[Cell]:
        return [c for c in self.cells if c.kind == "test"]

    @property
    def manual(self) -> list[Cell]:
        """The manually graded answers (markdown or code): never run, graded in formgrader."""
        return [c for c in self.cells if c.kind == "manual"]

    @property
    def max_score(self) -> float:
        """The points the grader gives (the tests'); the manual ones come on top, by hand."""
        return float(sum(c.points for c in self.tests))

    def worker_cells(self) -> list[Cell]:
        """The instructor's cells the student's code runs after, in the worker."""
        return [c for c in self.cells if c.kind == "provided" and "worker" in c.tags]

    def harness_cells(self) -> list[Cell]:
        """The instructor's cells that run in the worker after the student's code."""
        return [c for c in self.cells if c.kind == "provided" and "harness" in c.tags]

    def grader_cells(self) -> list[Cell]:
        """What the grader runs, in order: the instructor's code (not demos or harness) and the tests."""
        return [c for c in self.cells if c.kind == "test" or
                (c.kind == "provided" and "demo" not in c.tags and "harness" not in c.tags)]

    def names(self, cell: Cell) -> list[str]:
        """The top-level names a solution cell defines in the reference solution, grade_id first."""
        names = [cell.grade_id]
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            return names
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found = [node.name]
            elif isinstance(node, ast.Assign):
                found = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                found = []
            names += [n for n in found if n not in names]
        return names


def _text(source) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return ""


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def load_assignment(course_dir, name: str, source_directory: str = "solutions",
                    release_directory: str = "assignments") -> Assignment:
    """The assignment NAME of a course folder: its source notebook and its release."""
    course_dir = Path(course_dir)
    path = course_dir / source_directory / name / f"{name}.ipynb"
    raw = path.read_bytes()
    nb = json.loads(raw)
    release_path = course_dir / release_directory / name / f"{name}.ipynb"
    release = json.loads(release_path.read_text(encoding="utf-8")) if release_path.exists() else None
    cells = []
    for i, c in enumerate(nb["cells"]):
        meta = _nbgrader(c)
        if meta.get("solution") and meta.get("grade"):
            kind = "manual"  # a written (or code) answer that a person grades
        elif c.get("cell_type") != "code":
            continue
        elif meta.get("solution"):
            kind = "solution"
        elif meta.get("grade"):
            kind = "test"
        else:
            kind = "provided"
        tags = tuple(t for t in c.get("metadata", {}).get("tags", []) if t in TAGS)
        grade_id = str(meta.get("grade_id", f"cell-{i}"))
        cells.append(Cell(i, kind, grade_id, _text(c.get("source", "")), float(meta.get("points", 0) or 0), tags))
    if release is None:
        raise FileNotFoundError(f"{release_path} does not exist: run `make release A={name}` first")
    settings = nb.get("metadata", {}).get("seqlib", {})
    return Assignment(name, path.name, cells, release, bool(settings.get("torch", False)),
                      tuple(settings.get("forbid", ())), hashlib.sha256(raw).hexdigest(),
                      tuple(settings.get("in_place", ())))


@dataclass
class Submission:
    """The student's solution sources by grade_id, and what else the file showed."""

    sources: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)  # manually graded cells, by grade_id
    notes: list[str] = field(default_factory=list)
    problem: str = ""  # why nothing could be read at all
    sha256: str = ""


def read_limited(path, limit: int = MAX_SUBMISSION_BYTES) -> bytes:
    """The bytes of the regular file at path; OSError for a symlink (it could point at the
    solutions), a FIFO or a device (it could block or never end), or more than limit bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"{info.st_size >> 20} MB, over the {limit >> 20} MB limit")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise OSError(errno.EFBIG, f"over the {limit >> 20} MB limit")
        return data
    finally:
        os.close(fd)


def read_submission(path, assignment: Assignment) -> Submission:
    """The solution cells of a submitted notebook; never raises on what the file holds."""
    sub = Submission()
    try:
        raw = read_limited(path)
    except OSError as err:
        why = "a symbolic link" if err.errno == errno.ELOOP else err.strerror
        sub.problem = f"cannot read the submission: {why}"
        return sub
    sub.sha256 = hashlib.sha256(raw).hexdigest()
    try:
        nb = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        sub.problem = "NotJSONError: the notebook does not appear to be JSON (a truncated or wrong file?)"
        return sub
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        sub.problem = "the file is JSON but not a notebook (no list of cells)"
        return sub
    wanted = {c.grade_id: c for c in assignment.solutions}
    manual = {c.grade_id for c in assignment.manual}
    tests = {c.grade_id: c for c in assignment.tests}
    stubs = _release_sources(assignment)
    seen_tests = set()
    for cell in cells:
        meta = _nbgrader(cell)
        gid = meta.get("grade_id")
        if not isinstance(gid, str):
            continue
        if gid in wanted and isinstance(cell, dict) and cell.get("cell_type") == "code":
            if gid in sub.sources:
                sub.notes.append(f"{gid}: a second cell with this grade_id is ignored")
                continue
            sub.sources[gid] = text(_text(cell.get("source", "")))
        elif gid in manual and isinstance(cell, dict) and gid not in sub.answers:
            sub.answers[gid] = text(_text(cell.get("source", "")))[:100_000]
        elif gid in tests:
            seen_tests.add(gid)
            if _text(cell.get("source", "")) != stubs.get(gid, _text(cell.get("source", ""))):
                sub.notes.append(f"{gid}: test cell edited (the grader runs its own copy)")
    for gid in wanted:
        if gid not in sub.sources:
            sub.notes.append(f"{gid}: solution cell missing")
        elif sub.sources[gid] == stubs.get(gid):
            sub.notes.append(f"{gid}: unanswered (as released)")
    for gid in sorted(manual):
        if gid not in sub.answers:
            sub.notes.append(f"{gid}: answer cell missing")
        elif sub.answers[gid] == stubs.get(gid):
            sub.notes.append(f"{gid}: unanswered (as released)")
    for gid in tests:
        if gid not in seen_tests:
            sub.notes.append(f"{gid}: test cell deleted (the grader runs its own copy)")
    return sub


def _no_html(markdown: str) -> str:
    return markdown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def released_text(assignment: Assignment, grade_id: str) -> str | None:
    """What the release holds in cell grade_id (a stub, "YOUR ANSWER HERE", a test's visible part)."""
    return _release_sources(assignment).get(grade_id)


def answered(assignment: Assignment, sources: dict[str, str]) -> dict[str, str]:
    """sources without the cells left as released (what every unanswered notebook shares)."""
    stubs = _release_sources(assignment)
    return {g: s for g, s in sources.items() if s != stubs.get(g) and s.strip()}


def _release_sources(assignment: Assignment) -> dict[str, str]:
    out = {}
    for cell in assignment.release.get("cells", []):
        gid = _nbgrader(cell).get("grade_id")
        if gid:
            out[gid] = _text(cell.get("source", ""))
    return out


def graded_notebook(assignment: Assignment, result) -> dict:
    """The notebook nbgrader's feedback shows: the release, with the student's solution
    sources, the grader's test cells (hidden tests in, for nbgrader to hide) and each
    test's outcome as its output. result: a seqlib.grading.results.SubmissionResult."""
    nb = copy.deepcopy(assignment.release)
    sources = result.sources
    for cell in nb["cells"]:  # the student's written answers, as formgrader and the feedback show them
        gid = _nbgrader(cell).get("grade_id")
        if gid in result.answers:
            answer = result.answers[gid]
            # Markdown passes HTML through: a student's <script> would run in the grader's browser
            # (formgrader) and in the feedback page. As entities it shows as the text it is.
            cell["source"] = _no_html(answer) if cell.get("cell_type") == "markdown" else answer
    tests = {t.grade_id: t for t in result.tests}
    own_tests = {c.grade_id: c.source for c in assignment.tests}
    for cell in nb["cells"]:
        gid = _nbgrader(cell).get("grade_id")
        if cell.get("cell_type") != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        if gid in sources:
            cell["source"] = sources[gid]
        if gid in own_tests:
            cell["source"] = own_tests[gid]
            t = tests.get(gid)
            if t is None:
                continue
            if t.output:
                cell["outputs"].append({"output_type": "stream", "name": "stdout", "text": t.output})
            if t.status != "passed":
                ename = {"failed": "AssertionError", "timeout": "TimeoutError", "crash": "WorkerCrashed",
                         "skipped": "Skipped"}.get(t.status, "Error")
                cell["outputs"].append({"output_type": "error", "ename": ename, "evalue": t.message,
                                        "traceback": [f"{ename}: {t.message}"]})
    return nb
