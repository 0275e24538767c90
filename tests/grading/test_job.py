"""seqlib.grading.job: what a submission's solution cells may not use."""

import pytest

from seqlib.grading.job import _forbidden

FORBID = ("nn.LSTM", "LSTMCell", "_VF")


@pytest.mark.parametrize("source, found", [
    ("rnn = torch.nn.LSTM(3, 4)", "nn.LSTM"),
    ("cell = nn.LSTMCell(3, 4)", "LSTMCell"),
    ("h = torch._VF.lstm(x)", "_VF"),
    ("from torch.nn import LSTM as L\nrnn = L(3, 4)", "nn.LSTM"),
    ("from torch.nn import LSTMCell", "LSTMCell"),
    ("from torch import _VF", "_VF"),
    ("import torch._VF", "_VF"),
    ("from torch import nn\nclass LSTM(nn.Module):\n    pass\nrnn = LSTM()", None),
    ("lstm_cell = 1\nnn_LSTM = 2", None),
    ("def f(:", None),  # a syntax error is the test's to report, not a refusal
])
def test_forbidden_names_are_found_however_they_are_reached(source, found):
    assert _forbidden(source, FORBID) == found


DATACLASS_CELL = ("from dataclasses import dataclass, field\n\n@dataclass\nclass Hypothesis:\n"
                  "    tokens: list = field(default_factory=list)\n    score: float = 0.0\n")


def test_a_grader_cell_runs_as_in_a_notebook_without_the_graders_future_imports():
    """job.py has `from __future__ import annotations`; a cell compiled under it would get string
    annotations, and a dataclass in a namespace that is no module then fails."""
    from seqlib.grading.job import _run_cell

    ns = {"__name__": "__grader__"}
    err, _ = _run_cell(DATACLASS_CELL + "h = Hypothesis([1])\nkind = type(Hypothesis.__annotations__['score'])",
                       "setup", ns)
    assert err is None, err
    assert ns["h"].tokens == [1] and ns["kind"] is type
