"""seqlib.grading.job: what a solution cell may not use, and cells compiled as a notebook compiles them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqlib.grading.job import _forbidden, grade_submission

FORBID = ("nn.GRU", "GRUCell", "torch.gru", "nn.LSTM", "LSTMCell", "_VF")


@pytest.mark.parametrize("source, name", [
    ("def f(x):\n    return torch.nn.GRU(3, 4)(x)", "nn.GRU"),
    ("def f(x, h):\n    return nn.GRUCell(3, 4)(x, h)", "GRUCell"),
    ("def f(*a):\n    return torch.gru(*a)[0].sum()", "torch.gru"),
    # imported under another name, or from a module further down
    ("from torch.nn import GRU as G\ndef f(x):\n    return G(3, 4)(x)", "nn.GRU"),
    ("from torch.nn.modules.rnn import GRUCell\n", "GRUCell"),
    ("from torch import gru\n", "torch.gru"),
    ("import torch.nn.GRU\n", "nn.GRU"),
    ("rnn = torch.nn.LSTM(3, 4)", "nn.LSTM"),
    ("cell = nn.LSTMCell(3, 4)", "LSTMCell"),
    ("h = torch._VF.lstm(x)", "_VF"),
    ("from torch.nn import LSTM as L\nrnn = L(3, 4)", "nn.LSTM"),
    ("from torch.nn import LSTMCell", "LSTMCell"),
    ("from torch import _VF", "_VF"),
    ("import torch._VF", "_VF"),
])
def test_a_forbidden_name_is_found_where_it_is_used_or_imported(source, name):
    assert _forbidden(source, FORBID) == name


@pytest.mark.parametrize("source", [
    "def gru_step(x, h, w_ih, w_hh):\n    return torch.tanh(x @ w_ih.t() + h @ w_hh.t())",
    "from torch import nn\nimport torch.nn.functional as F\n",
    "GRU_SIZE = 3\nmy_gru = None\n",
    "def f(:\n",  # a syntax error: the cell fails to load on its own
    "from torch import nn\nclass LSTM(nn.Module):\n    pass\nrnn = LSTM()",  # the student's own LSTM
    "lstm_cell = 1\nnn_LSTM = 2",
])
def test_other_code_is_allowed(source):
    assert _forbidden(source, FORBID) is None
    assert _forbidden(source, ()) is None


def _cell(kind, grade_id, source, points=0, tags=None):
    meta = {"schema_version": 3, "grade_id": grade_id, "solution": kind == "solution", "grade": kind == "test",
            "locked": kind != "solution"}
    if kind == "test":
        meta["points"] = points
    metadata = {"nbgrader": meta, **({"tags": tags} if tags else {})}
    return {"cell_type": "code", "execution_count": None, "metadata": metadata, "outputs": [], "source": source}


def test_a_refused_function_fails_its_tests_saying_why(tmp_path, sandbox_ok):
    nb = {"cells": [_cell("provided", "setup", "import numpy as np", tags=["worker"]),
                    _cell("solution", "norm", "def norm(v):\n    return np.linalg.norm(v)"),
                    _cell("solution", "twice", "def twice(v):\n    return 2 * v"),
                    _cell("test", "test_norm", "assert norm(np.array([3.0, 4.0])) == 5.0", 1),
                    _cell("test", "test_twice", "assert (twice(np.ones(2)) == 2).all()", 1)],
          "metadata": {"seqlib": {"forbid": ["np.linalg"]}}, "nbformat": 4, "nbformat_minor": 5}
    for folder in ("solutions", "assignments"):
        (tmp_path / folder / "tiny").mkdir(parents=True)
        (tmp_path / folder / "tiny" / "tiny.ipynb").write_text(json.dumps(nb))
    result = grade_submission(str(tmp_path), "tiny", "s", str(tmp_path / "solutions" / "tiny" / "tiny.ipynb"))
    assert result.functions == {"norm": "not run: it uses np.linalg, which this assignment does not allow",
                                   "twice": "ok"}
    tests = {t.grade_id: t for t in result.tests}
    assert tests["test_twice"].status == "passed"
    assert tests["test_norm"].status == "error"
    assert tests["test_norm"].message == ("norm is not defined: its solution cell was not run: it uses np.linalg, "
                                             "which this assignment does not allow")


# Cells run in the grader and in the worker as a notebook runs them: a dataclass defined by an
# instructor's cell works on both sides, and annotations are objects, not strings (the grader's
# own `from __future__ import annotations` does not leak into the cells it compiles).
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


def _course(root: Path) -> Path:
    nb = {"cells": [_cell("provided", "setup", WORKER, tags=["worker"]),
                    _cell("solution", "make_pair", SOLUTION),
                    _cell("test", "test_make_pair", TEST, 1)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    for folder in ("solutions", "assignments"):
        (root / folder / "pairs").mkdir(parents=True)
        (root / folder / "pairs" / "pairs.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return root / "assignments" / "pairs" / "pairs.ipynb"


def test_dataclasses_and_annotations_of_cells_work_in_the_grader_and_the_worker(tmp_path):
    submission = _course(tmp_path)
    result = grade_submission(str(tmp_path), "pairs", "s1", str(submission), sandbox=False)
    assert [(t.grade_id, t.status) for t in result.tests] == [("test_make_pair", "passed")], result.tests
