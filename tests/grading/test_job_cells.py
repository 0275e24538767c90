"""Cells run in the grader and in the worker as a notebook runs them: a dataclass defined by an
instructor's cell works on both sides, and annotations are objects, not strings (the grader's
own ``from __future__ import annotations`` does not leak into the cells it compiles)."""

from __future__ import annotations

import json
from pathlib import Path

from seqlib.grading.job import grade_submission

WORKER = (
    "from dataclasses import dataclass, field\n\n\n"
    "@dataclass(frozen=True)\n"
    "class Pair:\n"
    "    a: int\n"
    "    b: list = field(default_factory=list)\n"
)
SOLUTION = (
    "def make_pair(a: int):\n"
    "    return Pair(a, [2.0])\n\n\n"
    "def annotation_is_a_type():\n"
    "    return make_pair.__annotations__['a'] is int\n"
)
TEST = (
    "p = make_pair(3)\n"
    "assert (p.a, p.b) == (3, [2.0]), p\n"
    "assert annotation_is_a_type() is True, 'the worker compiled the cell with string annotations'\n"
    "def f(x: int): pass\n"
    "assert f.__annotations__['x'] is int, 'the grader compiled the cell with string annotations'\n"
    "assert Pair(1).b == []\n"
)


def _cell(source, **nbgrader):
    meta = {"nbgrader": dict({"schema_version": 3, "solution": False, "grade": False, "locked": True}, **nbgrader)}
    if "tags" in nbgrader:
        meta["tags"] = meta["nbgrader"].pop("tags")
    return {"cell_type": "code", "execution_count": None, "metadata": meta, "outputs": [], "source": source}


def _course(root: Path) -> Path:
    nb = {"cells": [_cell(WORKER, grade_id="setup", tags=["worker"]),
                    _cell(SOLUTION, grade_id="make_pair", solution=True, locked=False),
                    _cell(TEST, grade_id="test_make_pair", grade=True, points=1)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    for folder in ("solutions", "assignments"):
        (root / folder / "pairs").mkdir(parents=True)
        (root / folder / "pairs" / "pairs.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return root / "assignments" / "pairs" / "pairs.ipynb"


def test_dataclasses_and_annotations_of_cells_work_in_the_grader_and_the_worker(tmp_path):
    submission = _course(tmp_path)
    result = grade_submission(str(tmp_path), "pairs", "s1", str(submission), sandbox=False)
    assert [(t["grade_id"], t["status"]) for t in result["tests"]] == [("test_make_pair", "passed")], result["tests"]
