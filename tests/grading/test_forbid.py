"""seqlib.grading.job: a solution cell that uses a name the assignment forbids is not run."""

import pytest

from seqlib.grading.job import _forbidden

FORBID = ("nn.GRU", "GRUCell", "torch.gru")


@pytest.mark.parametrize("source, name", [
    ("def f(x):\n    return torch.nn.GRU(3, 4)(x)", "nn.GRU"),
    ("def f(x, h):\n    return nn.GRUCell(3, 4)(x, h)", "GRUCell"),
    ("def f(*a):\n    return torch.gru(*a)[0].sum()", "torch.gru"),
    # imported under another name, or from a module further down
    ("from torch.nn import GRU as G\ndef f(x):\n    return G(3, 4)(x)", "nn.GRU"),
    ("from torch.nn.modules.rnn import GRUCell\n", "GRUCell"),
    ("from torch import gru\n", "torch.gru"),
    ("import torch.nn.GRU\n", "nn.GRU"),
])
def test_a_forbidden_name_is_found_where_it_is_used_or_imported(source, name):
    assert _forbidden(source, FORBID) == name


@pytest.mark.parametrize("source", [
    "def gru_step(x, h, w_ih, w_hh):\n    return torch.tanh(x @ w_ih.t() + h @ w_hh.t())",
    "from torch import nn\nimport torch.nn.functional as F\n",
    "GRU_SIZE = 3\nmy_gru = None\n",
    "def f(:\n",  # a syntax error: the cell fails to load on its own
])
def test_other_code_is_allowed(source):
    assert _forbidden(source, FORBID) is None
    assert _forbidden(source, ()) is None


def _cell(kind, grade_id, source, points=0):
    meta = {"schema_version": 3, "grade_id": grade_id, "solution": kind == "solution", "grade": kind == "test",
            "locked": kind != "solution"}
    if kind == "test":
        meta["points"] = points
    return {"cell_type": "code", "execution_count": None, "metadata": {"nbgrader": meta}, "outputs": [],
            "source": source}


def test_a_refused_function_fails_its_tests_saying_why(tmp_path, sandbox_ok):
    import json

    from seqlib.grading.job import grade_submission

    nb = {"cells": [_cell("provided", "setup", "import numpy as np"),
                    _cell("solution", "norm", "def norm(v):\n    return np.linalg.norm(v)"),
                    _cell("solution", "twice", "def twice(v):\n    return 2 * v"),
                    _cell("test", "test_norm", "assert norm(np.array([3.0, 4.0])) == 5.0", 1),
                    _cell("test", "test_twice", "assert (twice(np.ones(2)) == 2).all()", 1)],
          "metadata": {"seqlib": {"forbid": ["np.linalg"]}}, "nbformat": 4, "nbformat_minor": 5}
    nb["cells"][0]["metadata"]["tags"] = ["worker"]
    for folder in ("solutions", "assignments"):
        (tmp_path / folder / "tiny").mkdir(parents=True)
        (tmp_path / folder / "tiny" / "tiny.ipynb").write_text(json.dumps(nb))
    result = grade_submission(str(tmp_path), "tiny", "s", str(tmp_path / "solutions" / "tiny" / "tiny.ipynb"))
    assert result["functions"] == {"norm": "not run: it uses np.linalg, which this assignment does not allow",
                                   "twice": "ok"}
    tests = {t["grade_id"]: t for t in result["tests"]}
    assert tests["test_twice"]["status"] == "passed"
    assert tests["test_norm"]["status"] == "error"
    assert tests["test_norm"]["message"] == ("norm is not defined: its solution cell was not run: it uses np.linalg, "
                                             "which this assignment does not allow")
