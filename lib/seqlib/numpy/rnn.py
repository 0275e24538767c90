"""The vanilla (Elman) RNN, forward and backward by hand.

Chapter: "Sequences and the vanilla RNN" (book/01_vanilla_rnn.md); the backward pass is
derived in "Backpropagation through time". Assignment: solutions/rnn_numpy.

The recurrence, batch-first (row vectors, so weights multiply on the right):

    a_t = x_t Wx + h_{t-1} Wh + b
    h_t = tanh(a_t)              (or relu(a_t), torch.nn's other choice, or sigmoid(a_t), the lecture's)

x_t: (N, D), h_t: (N, H), Wx: (D, H), Wh: (H, H), b: (H,). The lecture writes the same
thing with column vectors: h_t = tanh(W_hh h_{t-1} + W_xh x_t + b), so W_xh = Wx.T.

Backward (BPTT), with dh_t the gradient reaching h_t from the layer above:

    da_t = (dh_t + da_{t+1} Wh^T) ⊙ (1 - h_t²)       what h_{t+1} sends back is da_{t+1} Wh^T
    dWx = Σ_t x_t^T da_t    dWh = Σ_t h_{t-1}^T da_t    db = Σ_t da_t    dx_t = da_t Wx^T

rnn_forward and rnn_backward keep their sequences time-major inside, (T, N, ·), so step t
is one contiguous block (seqlib.numpy.cell_parts); h, cache.h and dx are (N, T, ·) views of
those buffers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from seqlib.numpy.cell_parts import (activate, check_nonlinearity, nonlinearity_grad, time_major,
                                     weight_grads_time_major)
from seqlib.shapes import Dims, check_grad


class RNNStepCache(NamedTuple):
    """What rnn_step_backward needs from rnn_step_forward."""

    x: np.ndarray  #: (N, D) the input
    prev_h: np.ndarray  #: (N, H) h_{t-1}
    Wx: np.ndarray  #: (D, H)
    Wh: np.ndarray  #: (H, H)
    next_h: np.ndarray  #: (N, H) h_t: the nonlinearity's derivative is written with it
    nonlinearity: str  #: "tanh", "relu" or "sigmoid"


class RNNCache(NamedTuple):
    """What rnn_backward needs from rnn_forward."""

    x: np.ndarray  #: (N, T, D)
    h0: np.ndarray  #: (N, H)
    Wx: np.ndarray  #: (D, H)
    Wh: np.ndarray  #: (H, H)
    h: np.ndarray  #: (N, T, H) h_t of every step
    nonlinearity: str  #: "tanh", "relu" or "sigmoid"


def rnn_step_forward(x, prev_h, Wx, Wh, b, nonlinearity="tanh"):
    """One step of a vanilla RNN: next_h = tanh(x @ Wx + prev_h @ Wh + b).

    x: (N, D)  prev_h: (N, H)  Wx: (D, H)  Wh: (H, H)  b: (H,)
    nonlinearity: "tanh" (default), "relu" or "sigmoid" (the lecture's variant).
    Returns next_h (N, H) and the cache for rnn_step_backward (an RNNStepCache).
    """
    check_nonlinearity(nonlinearity)
    dims = Dims()
    dims.check("x", x, "N,D")
    dims.check("Wx", Wx, "D,H")
    dims.check("prev_h", prev_h, "N,H")
    dims.check("Wh", Wh, "H,H")
    dims.check("b", b, "H")
    a = x @ Wx + prev_h @ Wh + b  # a_t = x_t Wx + h_{t-1} Wh + b
    next_h = activate(a, nonlinearity)  # h_t = tanh(a_t)
    return next_h, RNNStepCache(x, prev_h, Wx, Wh, next_h, nonlinearity)


def rnn_step_backward(dnext_h, cache):
    """Backward pass of rnn_step_forward.

    dnext_h: (N, H), the loss gradient with respect to next_h.
    Returns dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    x, prev_h, Wx, Wh, next_h, nonlinearity = cache
    check_grad("dnext_h", dnext_h, next_h.shape, "(N, H)")
    da = dnext_h * nonlinearity_grad(next_h, nonlinearity)  # da_t = dh_t ⊙ (1 - h_t²)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b, nonlinearity="tanh"):
    """A vanilla RNN over a whole sequence; h0 is the state before the first step.

    x: (N, T, D)  h0: (N, H)  Wx: (D, H)  Wh: (H, H)  b: (H,)
    Returns h (N, T, H), the hidden state after every step, and the cache for rnn_backward
    (an RNNCache).

    The input projection x_t Wx does not depend on the recurrence, so it is computed for
    all T steps in one matrix product; only h_{t-1} Wh stays inside the loop over time.
    h is a view of a time-major (T, N, H) buffer (see the module docstring).
    """
    check_nonlinearity(nonlinearity)
    dims = Dims()
    dims.check("x", x, "N,T,D")
    dims.check("Wx", Wx, "D,H")
    dims.check("h0", h0, "N,H")
    dims.check("Wh", Wh, "H,H")
    dims.check("b", b, "H")
    N, T, D = x.shape
    H = Wh.shape[0]
    dtype = np.result_type(x, h0, Wx, Wh, b)
    h = np.empty((T, N, H), dtype=dtype)  # time-major: h[t] is h_t, one contiguous block
    # x_t Wx + b for every t in one product (x copied time-major for it), written where a_t
    # and then h_t will be
    np.matmul(time_major(x).reshape(T * N, D), Wx, out=h.reshape(T * N, H))
    h += b
    hWh = np.empty((N, H), dtype=dtype)
    prev_h = h0
    for t in range(T):
        a = h[t]  # holds x_t Wx + b
        a += np.matmul(prev_h, Wh, out=hWh)  # a_t = x_t Wx + b + h_{t-1} Wh
        prev_h = activate(a, nonlinearity, out=a)  # h_t = tanh(a_t)
    h = h.transpose(1, 0, 2)  # (N, T, H), the same memory
    return h, RNNCache(x, h0, Wx, Wh, h, nonlinearity)


def rnn_backward(dh, cache):
    """Backpropagation through time for rnn_forward.

    dh: (N, T, H), the loss gradient with respect to every hidden state h_t (from the
        layer above only; the gradient flowing back through time is added here).
    Returns dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,).

    Walking backwards, the gradient reaching h_t is dh[:, t] plus what h_{t+1} sends
    back through Wh. The weight gradients are sums over time, so they are formed once at
    the end from all the per-step pre-activation gradients. dx is a view of a time-major
    buffer, like rnn_forward's h.
    """
    x, h0, Wx, Wh, h, nonlinearity = cache
    check_grad("dh", dh, h.shape, "(N, T, H)")
    N, T, H = h.shape
    h = time_major(h)  # (T, N, H): free for the h that rnn_forward made
    # da starts as dh, copied time-major (one pass, rather than a strided read per step); step t
    # then turns its block da[t] into da_t
    da = np.array(dh.transpose(1, 0, 2), dtype=np.result_type(dh, h, Wh), order="C")
    WhT = np.ascontiguousarray(Wh.T)
    dprev_h = np.zeros((N, H), dtype=da.dtype)  # what h_{t+1} sends back to h_t: nothing past the last step
    for t in reversed(range(T)):
        da_t = da[t]
        da_t += dprev_h  # dh_t + da_{t+1} Wh^T: all the gradient reaching h_t
        da_t *= nonlinearity_grad(h[t], nonlinearity)  # da_t = (dh_t + da_{t+1} Wh^T) ⊙ (1 - h_t²)
        np.matmul(da_t, WhT, out=dprev_h)  # da_t Wh^T, the gradient reaching h_{t-1} through Wh
    x = np.array(x.transpose(1, 0, 2), order="C")  # (T, N, D), always a copy: it then receives dx
    dx, dWx, dWh, db = weight_grads_time_major(x, h0, h, da, Wx, dx=x if x.dtype == da.dtype else None)
    return dx.transpose(1, 0, 2), dprev_h, dWx, dWh, db
