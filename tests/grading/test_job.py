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
