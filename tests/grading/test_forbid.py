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
