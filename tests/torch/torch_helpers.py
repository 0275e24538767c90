"""Helpers shared by the seqlib.torch tests (made importable by conftest.py)."""

import pytest
import torch

import seqlib.torch as st

# cell name -> (seqlib class, torch.nn class, extra constructor kwargs)
KINDS = {
    "rnn_tanh": (st.RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (st.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (st.LSTM, torch.nn.LSTM, {}),
    "gru": (st.GRU, torch.nn.GRU, {}),
}

TOL = {torch.float64: 1e-9, torch.float32: 1e-5}


def cuda_or_skip():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")


def assert_close(name, got, want, tol):
    """Max absolute difference <= tol, with a message that says which tensor and by how much."""
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    err = (got - want).abs().max().item() if got.numel() else 0.0
    assert err <= tol, f"{name}: max |difference| {err:.3g} > {tol:g}"
