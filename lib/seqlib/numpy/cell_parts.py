"""What the three NumPy cells share: the nonlinearities with their derivatives, the states
before every step, and the weight gradients summed over time.

Chapters: "Sequences and the vanilla RNN" and "Backpropagation through time" (seqlib.numpy.rnn),
"LSTM and GRU" (seqlib.numpy.lstm, .gru). seqlib.torch.cell_parts is its PyTorch mirror.

One time layout for the three cells: batch-first, a sequence buffer is (N, T, ·) and step t
is its slice [:, t]. Every cell computes pre-activations a_t = x_t Wx + h_{t-1} Wh + b
(row vectors, weights on the right) split into G blocks of H, one per gate
(seqlib.cells.GATES).
"""

from __future__ import annotations

import numpy as np

ACTIVATIONS = ("tanh", "sigmoid")


def check_activation(activation: str) -> str:
    """Return activation if it is "tanh" or "sigmoid"; anything else is a ValueError."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation is {activation!r}, expected one of {ACTIVATIONS}")
    return activation


def sigmoid(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """σ(a) = 1 / (1 + exp(-a)), computed as (1 + tanh(a/2)) / 2: no exp that can overflow.

    out: an array to write into (out=a computes it in place).
    """
    out = np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def activate(a: np.ndarray, activation: str, out: np.ndarray | None = None) -> np.ndarray:
    """The RNN's nonlinearity: h = tanh(a) or h = σ(a)."""
    return np.tanh(a, out=out) if activation == "tanh" else sigmoid(a, out=out)


def activation_grad(h: np.ndarray, activation: str) -> np.ndarray:
    """dh/da written with the output h, all a cache keeps: tanh' = 1 - h², σ' = h (1 - h)."""
    return 1.0 - h * h if activation == "tanh" else h * (1.0 - h)


def gate_blocks(a: np.ndarray, G: int) -> tuple[np.ndarray, ...]:
    """The G blocks of H columns of a (..., G*H), as views: i, f, o, g = gate_blocks(a, 4).

    np.split does the same at ten times the cost, which a step loop pays T times.
    """
    H = a.shape[-1] // G
    return tuple(a[..., k * H:(k + 1) * H] for k in range(G))


def states_before(h0: np.ndarray, h: np.ndarray) -> np.ndarray:
    """h_{t-1} for every step t: h0 (N, H) then h[:, :-1], as one (N, T, H) array."""
    return np.concatenate([h0[:, None], h[:, :-1]], axis=1)


def weight_grads(x: np.ndarray, h_prev: np.ndarray, da: np.ndarray, Wx: np.ndarray):
    """dx, dWx, dWh, db of a layer with a_t = x_t Wx + h_{t-1} Wh + b, from every da_t.

    x: (N, T, D)  h_prev: (N, T, H), states_before(h0, h)  da: (N, T, G*H)  Wx: (D, G*H)
    The weights are shared over time, so dWx = Σ_t x_t^T da_t, dWh = Σ_t h_{t-1}^T da_t and
    db = Σ_t Σ_n da_t: each a single product over all N*T rows instead of T small ones.
    Returns dx (N, T, D), dWx (D, G*H), dWh (H, G*H), db (G*H,).
    """
    N, T, GH = da.shape
    da_rows = da.reshape(N * T, GH)
    dx = (da_rows @ Wx.T).reshape(N, T, -1)
    dWx = x.reshape(N * T, -1).T @ da_rows
    dWh = h_prev.reshape(N * T, -1).T @ da_rows
    return dx, dWx, dWh, da_rows.sum(axis=0)
