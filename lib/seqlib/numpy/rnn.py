"""The vanilla (Elman) RNN, forward and backward by hand.

Chapter: "Sequences and the vanilla RNN" (book/01_vanilla_rnn.md); the backward pass is
derived in "Backpropagation through time". Assignment: solutions/rnn_numpy.

The recurrence, batch-first (row vectors, so weights multiply on the right):

    a_t = x_t Wx + h_{t-1} Wh + b
    h_t = tanh(a_t)              (or sigmoid(a_t), the lecture's variant)

x_t: (N, D), h_t: (N, H), Wx: (D, H), Wh: (H, H), b: (H,). The lecture writes the same
thing with column vectors: h_t = tanh(W_hh h_{t-1} + W_xh x_t + b), so W_xh = Wx.T.
"""

from __future__ import annotations

import numpy as np

from seqlib.shapes import Dims, check_grad

ACTIVATIONS = ("tanh", "sigmoid")


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation is {activation!r}, expected one of {ACTIVATIONS}")


def sigmoid(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic function as (1 + tanh(a/2)) / 2: no exp that can overflow for large |a|.

    out=a computes it in place, which the LSTM and GRU use on their gate buffers.
    """
    out = np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _activate(a: np.ndarray, activation: str, out: np.ndarray | None = None) -> np.ndarray:
    return np.tanh(a, out=out) if activation == "tanh" else sigmoid(a, out=out)


def _activation_grad(h: np.ndarray, activation: str) -> np.ndarray:
    """Derivative of the activation written with its output h: it is all the cache keeps."""
    return 1.0 - h * h if activation == "tanh" else h * (1.0 - h)


def rnn_step_forward(x, prev_h, Wx, Wh, b, activation="tanh"):
    """One step of a vanilla RNN: next_h = tanh(x @ Wx + prev_h @ Wh + b).

    x: (N, D)  prev_h: (N, H)  Wx: (D, H)  Wh: (H, H)  b: (H,)
    activation: "tanh" (default) or "sigmoid".
    Returns next_h (N, H) and the cache for rnn_step_backward.
    """
    _check_activation(activation)
    dims = Dims()
    dims.check("x", x, "N,D")
    dims.check("Wx", Wx, "D,H")
    dims.check("prev_h", prev_h, "N,H")
    dims.check("Wh", Wh, "H,H")
    dims.check("b", b, "H")
    next_h = _activate(x @ Wx + prev_h @ Wh + b, activation)
    return next_h, (x, prev_h, Wx, Wh, next_h, activation)


def rnn_step_backward(dnext_h, cache):
    """Backward pass of rnn_step_forward.

    dnext_h: (N, H), the loss gradient with respect to next_h.
    Returns dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    x, prev_h, Wx, Wh, next_h, activation = cache
    check_grad("dnext_h", dnext_h, next_h.shape, "(N, H)")
    da = dnext_h * _activation_grad(next_h, activation)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b, activation="tanh"):
    """A vanilla RNN over a whole sequence; h0 is the state before the first step.

    x: (N, T, D)  h0: (N, H)  Wx: (D, H)  Wh: (H, H)  b: (H,)
    Returns h (N, T, H), the hidden state after every step, and the cache for rnn_backward.

    The input projection x_t Wx does not depend on the recurrence, so it is computed for
    all T steps in one matrix product; only h_{t-1} Wh stays inside the loop over time.
    """
    _check_activation(activation)
    dims = Dims()
    dims.check("x", x, "N,T,D")
    dims.check("Wx", Wx, "D,H")
    dims.check("h0", h0, "N,H")
    dims.check("Wh", Wh, "H,H")
    dims.check("b", b, "H")
    N, T, _ = x.shape
    # Time-major buffers: each step then reads and writes one contiguous (N, H) block.
    a = np.ascontiguousarray(x.transpose(1, 0, 2)) @ Wx  # (T, N, H), then a_t in place
    a += b
    h = np.empty_like(a)
    prev_h = h0
    for t in range(T):
        step = a[t]
        step += prev_h @ Wh
        prev_h = _activate(step, activation, out=h[t])
    h = h.transpose(1, 0, 2)  # batch-first view of the time-major buffer
    return h, (x, h0, Wx, Wh, h, activation)


def rnn_backward(dh, cache):
    """Backpropagation through time for rnn_forward.

    dh: (N, T, H), the loss gradient with respect to every hidden state h_t (from the
        layer above only; the gradient flowing back through time is added here).
    Returns dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,).

    Walking backwards, the gradient reaching h_t is dh[:, t] plus what h_{t+1} sends
    back through Wh. The weight gradients are sums over time, so they are formed once at
    the end from all the per-step pre-activation gradients.
    """
    x, h0, Wx, Wh, h, activation = cache
    check_grad("dh", dh, h.shape, "(N, T, H)")
    N, T, H = h.shape
    h_tm = h.transpose(1, 0, 2)  # time-major, contiguous when it came from rnn_forward
    dact = _activation_grad(h_tm, activation)  # (T, N, H): d h_t / d a_t for every step at once
    da = dact * dh.transpose(1, 0, 2)  # dL/da_t from the layer above; time adds the rest below
    WhT = np.ascontiguousarray(Wh.T)
    dprev_h = np.zeros_like(h0)
    for t in reversed(range(T)):
        if t < T - 1:
            da[t] += dprev_h * dact[t]
        dprev_h = da[t] @ WhT
    # Every weight gradient is a sum over time: one matrix product over all N*T rows.
    da2 = da.reshape(T * N, H)
    x_tm = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(T * N, -1)
    h_prev = np.concatenate([h0[None], h_tm[:-1]], axis=0).reshape(T * N, H)  # h_{t-1} for every t
    dx = (da2 @ Wx.T).reshape(T, N, -1).transpose(1, 0, 2)
    return dx, dprev_h, x_tm.T @ da2, h_prev.T @ da2, da2.sum(axis=0)
