"""The vanilla (Elman) RNN, forward and backward by hand.

Chapter: "Sequences and the vanilla RNN" (book/01_vanilla_rnn.md); the backward pass is
derived in "Backpropagation through time". Assignment: solutions/rnn_numpy.

The recurrence, batch-first (row vectors, so weights multiply on the right):

    a_t = x_t Wx + h_{t-1} Wh + b
    h_t = tanh(a_t)              (or sigmoid(a_t), the lecture's variant)

x_t: (N, D), h_t: (N, H), Wx: (D, H), Wh: (H, H), b: (H,). The lecture writes the same
thing with column vectors: h_t = tanh(W_hh h_{t-1} + W_xh x_t + b), so W_xh = Wx.T.

Backward (BPTT), with dh_t the gradient reaching h_t from the layer above:

    da_t = (dh_t + da_{t+1} Wh^T) ⊙ (1 - h_t²)       what h_{t+1} sends back is da_{t+1} Wh^T
    dWx = Σ_t x_t^T da_t    dWh = Σ_t h_{t-1}^T da_t    db = Σ_t da_t    dx_t = da_t Wx^T
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from seqlib.numpy.cell_parts import activate, activation_grad, check_activation, states_before, weight_grads
from seqlib.shapes import Dims, check_grad


class RNNStepCache(NamedTuple):
    """What rnn_step_backward needs from rnn_step_forward."""

    x: np.ndarray  #: (N, D) the input
    prev_h: np.ndarray  #: (N, H) h_{t-1}
    Wx: np.ndarray  #: (D, H)
    Wh: np.ndarray  #: (H, H)
    next_h: np.ndarray  #: (N, H) h_t: the activation's derivative is written with it
    activation: str  #: "tanh" or "sigmoid"


class RNNCache(NamedTuple):
    """What rnn_backward needs from rnn_forward."""

    x: np.ndarray  #: (N, T, D)
    h0: np.ndarray  #: (N, H)
    Wx: np.ndarray  #: (D, H)
    Wh: np.ndarray  #: (H, H)
    h: np.ndarray  #: (N, T, H) h_t of every step
    activation: str  #: "tanh" or "sigmoid"


def rnn_step_forward(x, prev_h, Wx, Wh, b, activation="tanh"):
    """One step of a vanilla RNN: next_h = tanh(x @ Wx + prev_h @ Wh + b).

    x: (N, D)  prev_h: (N, H)  Wx: (D, H)  Wh: (H, H)  b: (H,)
    activation: "tanh" (default) or "sigmoid".
    Returns next_h (N, H) and the cache for rnn_step_backward (an RNNStepCache).
    """
    check_activation(activation)
    dims = Dims()
    dims.check("x", x, "N,D")
    dims.check("Wx", Wx, "D,H")
    dims.check("prev_h", prev_h, "N,H")
    dims.check("Wh", Wh, "H,H")
    dims.check("b", b, "H")
    a = x @ Wx + prev_h @ Wh + b  # a_t = x_t Wx + h_{t-1} Wh + b
    next_h = activate(a, activation)  # h_t = tanh(a_t)
    return next_h, RNNStepCache(x, prev_h, Wx, Wh, next_h, activation)


def rnn_step_backward(dnext_h, cache):
    """Backward pass of rnn_step_forward.

    dnext_h: (N, H), the loss gradient with respect to next_h.
    Returns dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    x, prev_h, Wx, Wh, next_h, activation = cache
    check_grad("dnext_h", dnext_h, next_h.shape, "(N, H)")
    da = dnext_h * activation_grad(next_h, activation)  # da_t = dh_t ⊙ (1 - h_t²)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b, activation="tanh"):
    """A vanilla RNN over a whole sequence; h0 is the state before the first step.

    x: (N, T, D)  h0: (N, H)  Wx: (D, H)  Wh: (H, H)  b: (H,)
    Returns h (N, T, H), the hidden state after every step, and the cache for rnn_backward
    (an RNNCache).

    The input projection x_t Wx does not depend on the recurrence, so it is computed for
    all T steps in one matrix product; only h_{t-1} Wh stays inside the loop over time.
    """
    check_activation(activation)
    dims = Dims()
    dims.check("x", x, "N,T,D")
    dims.check("Wx", Wx, "D,H")
    dims.check("h0", h0, "N,H")
    dims.check("Wh", Wh, "H,H")
    dims.check("b", b, "H")
    N, T, D = x.shape
    xWx_b = (x.reshape(N * T, D) @ Wx + b).reshape(N, T, -1)  # x_t Wx + b for every t at once
    h = np.empty_like(xWx_b)
    prev_h = h0
    for t in range(T):
        a = xWx_b[:, t] + prev_h @ Wh  # a_t = x_t Wx + b + h_{t-1} Wh
        prev_h = activate(a, activation, out=h[:, t])  # h_t = tanh(a_t)
    return h, RNNCache(x, h0, Wx, Wh, h, activation)


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
    T = h.shape[1]
    dh_da = activation_grad(h, activation)  # ∂h_t/∂a_t = 1 - h_t² for every step at once
    da = np.empty_like(dh_da)
    WhT = np.ascontiguousarray(Wh.T)
    dprev_h = np.zeros_like(h0)  # what h_{t+1} sends back to h_t: nothing past the last step
    for t in reversed(range(T)):
        da_t = np.multiply(dh[:, t] + dprev_h, dh_da[:, t], out=da[:, t])  # da_t = (dh_t + da_{t+1} Wh^T) ⊙ (1 - h_t²)
        dprev_h = da_t @ WhT  # the gradient reaching h_{t-1} through Wh
    dx, dWx, dWh, db = weight_grads(x, states_before(h0, h), da, Wx)
    return dx, dprev_h, dWx, dWh, db
