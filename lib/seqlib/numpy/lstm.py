"""The LSTM, forward and backward by hand.

Chapter: "LSTM and GRU".

Batch-first, row vectors, gates in the lecture's order i, f, o, g (as in CS231n):

    a_t = x_t Wx + h_{t-1} Wh + b                  (N, 4H), split into a_i, a_f, a_o, a_g
    i = σ(a_i)   f = σ(a_f)   o = σ(a_o)   g = tanh(a_g)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

x_t: (N, D), h_t and c_t: (N, H), Wx: (D, 4H), Wh: (H, 4H), b: (4H,). torch.nn.LSTM stores
the same numbers transposed, in the order i, f, g, o, with two biases b_ih + b_hh = b:
seqlib.numpy.convert translates between the two.

Backward, with dh the gradient reaching h_t and dc the one reaching c_t from step t + 1:

    dc_t  = dc + dh ⊙ o ⊙ (1 - tanh²(c_t))
    da_i = dc_t ⊙ g ⊙ i(1 - i)        da_f = dc_t ⊙ c_{t-1} ⊙ f(1 - f)
    da_o = dh ⊙ tanh(c_t) ⊙ o(1 - o)  da_g = dc_t ⊙ i ⊙ (1 - g²)
    dc_{t-1} = dc_t ⊙ f               dh_{t-1} = da_t Wh^T
"""

from __future__ import annotations

import numpy as np

from seqlib.numpy.rnn import sigmoid
from seqlib.shapes import Dims, check_grad


def _gates(a, prev_c, next_c, tanh_c, next_h):
    """Turn the pre-activations a (N, 4H) into gates, in place, and write one step's states.

    Everything is written into the arrays passed in, so the sequence loop fills its
    preallocated (N, T, ·) buffers without a temporary per gate.
    """
    H = next_c.shape[-1]
    sigmoid(a[:, : 3 * H], out=a[:, : 3 * H])
    np.tanh(a[:, 3 * H :], out=a[:, 3 * H :])
    i, f, o, g = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
    np.multiply(f, prev_c, out=next_c)  # c_t = f ⊙ c_{t-1} + i ⊙ g
    np.multiply(i, g, out=tanh_c)  # tanh_c is scratch until the next line
    next_c += tanh_c
    np.tanh(next_c, out=tanh_c)
    np.multiply(o, tanh_c, out=next_h)  # h_t = o ⊙ tanh(c_t)


def _dgates(dh, dc, act, prev_c, tanh_c, da):
    """One step backwards: write da (N, 4H) and return dc_{t-1}.

    dh, dc: the total gradients reaching h_t and c_t. act: the gates i, f, o, g (N, 4H).
    """
    H = tanh_c.shape[-1]
    i, f, o, g = act[:, :H], act[:, H : 2 * H], act[:, 2 * H : 3 * H], act[:, 3 * H :]
    da_i, da_f, da_o, da_g = da[:, :H], da[:, H : 2 * H], da[:, 2 * H : 3 * H], da[:, 3 * H :]
    # dc_t = dc + dh ⊙ o ⊙ (1 - tanh²(c_t)), built in da_o's slot to avoid a temporary.
    np.multiply(tanh_c, tanh_c, out=da_o)
    np.subtract(1.0, da_o, out=da_o)
    da_o *= o
    da_o *= dh
    dct = da_o + dc
    # da_o = dh ⊙ tanh(c_t) ⊙ o(1 - o)
    np.subtract(1.0, o, out=da_o)
    da_o *= o
    da_o *= tanh_c
    da_o *= dh
    # da_i = dc_t ⊙ g ⊙ i(1 - i)
    np.subtract(1.0, i, out=da_i)
    da_i *= i
    da_i *= g
    da_i *= dct
    # da_f = dc_t ⊙ c_{t-1} ⊙ f(1 - f)
    np.subtract(1.0, f, out=da_f)
    da_f *= f
    da_f *= prev_c
    da_f *= dct
    # da_g = dc_t ⊙ i ⊙ (1 - g²)
    np.multiply(g, g, out=da_g)
    np.subtract(1.0, da_g, out=da_g)
    da_g *= i
    da_g *= dct
    dct *= f  # dc_{t-1} = dc_t ⊙ f
    return dct


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One LSTM step: gates from x and prev_h, then the new cell and hidden states.

    x: (N, D)  prev_h: (N, H)  prev_c: (N, H)  Wx: (D, 4H)  Wh: (H, 4H)  b: (4H,)
    Gates in Wx, Wh and b are in the order i, f, o, g.
    Returns next_h (N, H), next_c (N, H) and the cache for lstm_step_backward.
    """
    dims = Dims()
    dims.check("x", x, "N,D")
    dims.check("Wx", Wx, "D,4H")
    dims.check("prev_h", prev_h, "N,H")
    dims.check("prev_c", prev_c, "N,H")
    dims.check("Wh", Wh, "H,4H")
    dims.check("b", b, "4H")
    dtype = np.result_type(x, prev_h, prev_c, Wx, Wh, b)
    act = np.asarray(x @ Wx + prev_h @ Wh + b, dtype=dtype)
    N, H = prev_h.shape
    next_c, tanh_c, next_h = (np.empty((N, H), dtype=dtype) for _ in range(3))
    _gates(act, prev_c, next_c, tanh_c, next_h)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, act, tanh_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward pass of lstm_step_forward.

    dnext_h: (N, H)  dnext_c: (N, H)
    Returns dx (N, D), dprev_h (N, H), dprev_c (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    x, prev_h, prev_c, Wx, Wh, act, tanh_c = cache
    check_grad("dnext_h", dnext_h, prev_h.shape, "(N, H)")
    check_grad("dnext_c", dnext_c, prev_c.shape, "(N, H)")
    da = np.empty_like(act)
    dprev_c = _dgates(dnext_h, dnext_c, act, prev_c, tanh_c, da)
    return da @ Wx.T, da @ Wh.T, dprev_c, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b, c0=None):
    """An LSTM over a whole sequence, from the state (h0, c0) before the first step.

    x: (N, T, D)  h0: (N, H)  Wx: (D, 4H)  Wh: (H, 4H)  b: (4H,)
    c0: (N, H), or None for the lecture's c0 = 0.
    Returns h (N, T, H), the hidden state after every step, and the cache for lstm_backward.

    The input projection x_t Wx + b is computed for all T steps in one matrix product
    before the loop; each step then adds its single fused (N, H) @ (H, 4H) product.
    """
    dims = Dims()
    dims.check("x", x, "N,T,D")
    dims.check("Wx", Wx, "D,4H")
    dims.check("h0", h0, "N,H")
    if c0 is not None:
        dims.check("c0", c0, "N,H")
    dims.check("Wh", Wh, "H,4H")
    dims.check("b", b, "4H")
    return _forward(x, h0, c0, Wx, Wh, b)


def _forward(x, h0, c0, Wx, Wh, b):
    """lstm_forward without the argument checks, for callers that checked already."""
    N, T, D = x.shape
    H = Wh.shape[0]
    dtype = np.result_type(x, h0, Wx, Wh, b, *(() if c0 is None else (c0,)))
    if c0 is None:
        c0 = np.zeros((N, H), dtype=dtype)
    # act holds the pre-activations, then (in place) the gates i, f, o, g of every step.
    act = np.asarray(x.reshape(N * T, D) @ Wx, dtype=dtype).reshape(N, T, 4 * H)
    act += b
    h = np.empty((N, T, H), dtype=dtype)
    c = np.empty((N, T, H), dtype=dtype)
    tanh_c = np.empty((N, T, H), dtype=dtype)
    prev_h, prev_c = h0, c0
    for t in range(T):
        a = act[:, t]
        a += prev_h @ Wh
        _gates(a, prev_c, c[:, t], tanh_c[:, t], h[:, t])
        prev_h, prev_c = h[:, t], c[:, t]
    return h, (x, h0, c0, Wx, Wh, act, c, tanh_c, h)


def lstm_backward(dh, cache):
    """Backpropagation through time for lstm_forward.

    dh: (N, T, H), the loss gradient with respect to every h_t from the layer above.
    Returns dx (N, T, D), dh0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    dx, dh0, _, dWx, dWh, db = _backward(dh, cache)
    return dx, dh0, dWx, dWh, db


def _backward(dh, cache, dc_last=None):
    """lstm_backward that also takes the gradient of the final cell state c_T (N, H) and
    returns dc0: (dx, dh0, dc0, dWx, dWh, db). Stacked layers and seq2seq need both ends."""
    x, h0, c0, Wx, Wh, act, c, tanh_c, h = cache
    check_grad("dh", dh, h.shape, "(N, T, H)")
    N, T, H = h.shape
    if dc_last is not None:
        check_grad("dc_last", dc_last, c0.shape, "(N, H)")
    da = np.empty_like(act)
    dprev_h = np.zeros_like(h0)
    dprev_c = np.zeros_like(c0) if dc_last is None else dc_last
    for t in reversed(range(T)):
        prev_c = c[:, t - 1] if t > 0 else c0
        dprev_c = _dgates(dh[:, t] + dprev_h, dprev_c, act[:, t], prev_c, tanh_c[:, t], da[:, t])
        dprev_h = da[:, t] @ Wh.T
    # The weights are shared over time: their gradients are sums over t, formed in one
    # (N*T)-row product each instead of T small ones inside the loop.
    da2 = da.reshape(N * T, 4 * H)
    h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1).reshape(N * T, H)
    dx = (da2 @ Wx.T).reshape(x.shape)
    dWx = x.reshape(N * T, -1).T @ da2
    dWh = h_prev.T @ da2
    return dx, dprev_h, dprev_c, dWx, dWh, da2.sum(axis=0)
