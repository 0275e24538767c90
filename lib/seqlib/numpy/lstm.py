"""The LSTM, forward and backward by hand.

Chapter: "LSTM and GRU". Assignment: solutions/lstm_numpy.

Batch-first, row vectors, gates in the lecture's order i, f, o, g (as in CS231n):

    a_t = x_t Wx + h_{t-1} Wh + b                  (N, 4H), split into a_i, a_f, a_o, a_g
    i = σ(a_i)   f = σ(a_f)   o = σ(a_o)   g = tanh(a_g)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

x_t: (N, D), h_t and c_t: (N, H), Wx: (D, 4H), Wh: (H, 4H), b: (4H,). torch.nn.LSTM stores
the same numbers transposed, in the order i, f, g, o, with two biases b_ih + b_hh = b:
seqlib.numpy.convert translates between the two.

Backward, with dh the gradient reaching h_t and dc the one reaching c_t from step t + 1
(σ' = σ(1 - σ) and tanh' = 1 - tanh², written with the gates the forward pass kept):

    dc_t  = dc + dh ⊙ o ⊙ (1 - tanh²(c_t))
    da_i = dc_t ⊙ g ⊙ i(1 - i)        da_f = dc_t ⊙ c_{t-1} ⊙ f(1 - f)
    da_o = dh ⊙ tanh(c_t) ⊙ o(1 - o)  da_g = dc_t ⊙ i ⊙ (1 - g²)
    dc_{t-1} = dc_t ⊙ f               dh_{t-1} = da_t Wh^T

The step's equations (_cell, _cell_backward) are written once; lstm_step_forward and the
loops of lstm_forward and lstm_backward call them. They work in place, one NumPy call per
line with its ``out=``, on buffers allocated once per sequence: each line is an equation, or
the part of one that its comment names.

lstm_forward and lstm_backward keep their sequences time-major inside, (T, N, ·), so step t
is one contiguous block (seqlib.numpy.cell_parts); h, dx and the cache's gates, c, tanh_c
and h are (N, T, ·) views of those buffers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from seqlib.numpy.cell_parts import gate_blocks, time_major, weight_grads_time_major
from seqlib.shapes import Dims, check_grad


class LSTMStepCache(NamedTuple):
    """What lstm_step_backward needs from lstm_step_forward."""

    x: np.ndarray  #: (N, D)
    prev_h: np.ndarray  #: (N, H) h_{t-1}
    prev_c: np.ndarray  #: (N, H) c_{t-1}
    Wx: np.ndarray  #: (D, 4H)
    Wh: np.ndarray  #: (H, 4H)
    gates: np.ndarray  #: (N, 4H) i, f, o, g side by side, after their nonlinearities
    tanh_c: np.ndarray  #: (N, H) tanh(c_t)


class LSTMCache(NamedTuple):
    """What lstm_backward needs from lstm_forward: the step caches of every t, stacked."""

    x: np.ndarray  #: (N, T, D)
    h0: np.ndarray  #: (N, H)
    c0: np.ndarray  #: (N, H)
    Wx: np.ndarray  #: (D, 4H)
    Wh: np.ndarray  #: (H, 4H)
    gates: np.ndarray  #: (N, T, 4H) i, f, o, g of every step
    c: np.ndarray  #: (N, T, H) c_t of every step
    tanh_c: np.ndarray  #: (N, T, H) tanh(c_t)
    h: np.ndarray  #: (N, T, H) h_t of every step


def _cell(a, prev_c, next_c, tanh_c, next_h):
    """The LSTM's equations for one step, in place (the sequence loop writes its buffers).

    a: (N, 4H) the pre-activations a_t, overwritten with the gates [i, f, o, g].
    prev_c: (N, H) c_{t-1}. next_c, tanh_c, next_h: (N, H) arrays that receive c_t, tanh(c_t), h_t.
    The sigmoid is computed through tanh, σ(a) = (1 + tanh(a/2)) / 2 (no exp to overflow),
    so a single tanh over all 4H columns serves the four gates.
    """
    H = prev_c.shape[1]
    ifo = a[:, : 3 * H]  # the blocks of the three sigmoid gates: input, forget, output
    ifo *= 0.5  # a_i/2, a_f/2, a_o/2
    np.tanh(a, out=a)  # tanh(a_i/2), tanh(a_f/2), tanh(a_o/2) and g = tanh(a_g), the candidate values
    ifo *= 0.5
    ifo += 0.5  # i, f, o = σ(a_i), σ(a_f), σ(a_o) = (1 + tanh(a/2)) / 2
    i, f, o, g = gate_blocks(a, 4)
    np.multiply(i, g, out=tanh_c)  # i ⊙ g (tanh_c holds it until tanh(c_t) replaces it)
    np.multiply(f, prev_c, out=next_c)  # f ⊙ c_{t-1}
    next_c += tanh_c  # c_t = f ⊙ c_{t-1} + i ⊙ g
    np.tanh(next_c, out=tanh_c)  # tanh(c_t)
    np.multiply(o, tanh_c, out=next_h)  # h_t = o ⊙ tanh(c_t)


def _scratch(N, H, dtype):
    """Work arrays for _cell_backward, allocated once per sequence: (N, H), (N, 4H), and
    one_g (N, 4H), which is 1 in the g block and 0 elsewhere (on every row, so that adding it
    is one pass over contiguous memory, where a broadcast (4H,) row costs a call per row)."""
    one_g = np.zeros((N, 4 * H), dtype=dtype)
    one_g[:, 3 * H :] = 1
    return np.empty((N, H), dtype=dtype), np.empty((N, 4 * H), dtype=dtype), one_g


def _cell_backward(dh, dc, gates, prev_c, tanh_c, da, scratch):
    """One step backwards, in place. dh, dc: (N, H), all the gradient reaching h_t and c_t.

    gates: (N, 4H) [i, f, o, g]; prev_c, tanh_c: (N, H) c_{t-1} and tanh(c_t).
    Writes da_t = [da_i, da_f, da_o, da_g] into da (N, 4H) and turns dc into dc_{t-1};
    scratch: _scratch(N, H, dtype).
    """
    tmp, tmp4, one_g = scratch
    i, f, o, g = gate_blocks(gates, 4)
    da_i, da_f, da_o, da_g = gate_blocks(da, 4)
    np.multiply(tanh_c, tanh_c, out=tmp)
    np.subtract(1, tmp, out=tmp)  # 1 - tanh²(c_t)
    tmp *= o
    tmp *= dh
    dc += tmp  # dc_t = dc + dh ⊙ o ⊙ (1 - tanh²(c_t))
    # da = [dc_t ⊙ g, dc_t ⊙ c_{t-1}, dh ⊙ tanh(c_t), dc_t ⊙ i] ⊙ [i(1 - i), f(1 - f), o(1 - o), 1 - g²]:
    np.multiply(dc, g, out=da_i)  # dc_t ⊙ g
    np.multiply(dc, prev_c, out=da_f)  # dc_t ⊙ c_{t-1}
    np.multiply(dh, tanh_c, out=da_o)  # dh ⊙ tanh(c_t)
    np.multiply(dc, i, out=da_g)  # dc_t ⊙ i
    np.subtract(1, gates, out=tmp4)  # 1 - i, 1 - f, 1 - o, 1 - g
    da *= tmp4
    np.add(gates, one_g, out=tmp4)  # i, f, o, 1 + g
    da *= tmp4  # da_i, da_f, da_o, da_g: σ' = σ(1 - σ) and tanh' = (1 + g)(1 - g), all four blocks at once
    dc *= f  # dc_{t-1} = dc_t ⊙ f


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One LSTM step: gates from x and prev_h, then the new cell and hidden states.

    x: (N, D)  prev_h: (N, H)  prev_c: (N, H)  Wx: (D, 4H)  Wh: (H, 4H)  b: (4H,)
    Gates in Wx, Wh and b are in the order i, f, o, g.
    Returns next_h (N, H), next_c (N, H) and the cache for lstm_step_backward (an LSTMStepCache).
    """
    dims = Dims()
    dims.check("x", x, "N,D")
    dims.check("Wx", Wx, "D,4H")
    dims.check("prev_h", prev_h, "N,H")
    dims.check("prev_c", prev_c, "N,H")
    dims.check("Wh", Wh, "H,4H")
    dims.check("b", b, "4H")
    dtype = np.result_type(x, prev_h, prev_c, Wx, Wh, b)
    gates = np.asarray(x @ Wx + prev_h @ Wh + b, dtype=dtype)  # a_t = x_t Wx + h_{t-1} Wh + b, then the gates
    next_c, tanh_c, next_h = (np.empty(prev_h.shape, dtype=dtype) for _ in range(3))
    _cell(gates, prev_c, next_c, tanh_c, next_h)
    return next_h, next_c, LSTMStepCache(x, prev_h, prev_c, Wx, Wh, gates, tanh_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward pass of lstm_step_forward.

    dnext_h: (N, H)  dnext_c: (N, H)
    Returns dx (N, D), dprev_h (N, H), dprev_c (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    x, prev_h, prev_c, Wx, Wh, gates, tanh_c = cache
    check_grad("dnext_h", dnext_h, prev_h.shape, "(N, H)")
    check_grad("dnext_c", dnext_c, prev_c.shape, "(N, H)")
    dtype = np.result_type(dnext_h, dnext_c, gates)
    da = np.empty(gates.shape, dtype=dtype)
    dprev_c = np.array(dnext_c, dtype=dtype)  # a copy: _cell_backward turns it into dc_{t-1}
    _cell_backward(dnext_h, dprev_c, gates, prev_c, tanh_c, da, _scratch(*prev_c.shape, dtype))
    return da @ Wx.T, da @ Wh.T, dprev_c, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b, c0=None):
    """An LSTM over a whole sequence, from the state (h0, c0) before the first step.

    x: (N, T, D)  h0: (N, H)  Wx: (D, 4H)  Wh: (H, 4H)  b: (4H,)
    c0: (N, H), or None for the lecture's c0 = 0.
    Returns h (N, T, H), the hidden state after every step, and the cache for lstm_backward
    (an LSTMCache; cache.c holds the cell state of every step).

    The input projection x_t Wx is computed for all T steps in one matrix product before
    the loop; each step then adds its single fused (N, H) @ (H, 4H) product and b.
    h and the cache's arrays are views of time-major buffers (see the module docstring).
    """
    dims = Dims()
    dims.check("x", x, "N,T,D")
    dims.check("Wx", Wx, "D,4H")
    dims.check("h0", h0, "N,H")
    if c0 is not None:
        dims.check("c0", c0, "N,H")
    dims.check("Wh", Wh, "H,4H")
    dims.check("b", b, "4H")
    N, T, D = x.shape
    H = Wh.shape[0]
    dtype = np.result_type(x, h0, Wx, Wh, b, *(() if c0 is None else (c0,)))
    if c0 is None:
        c0 = np.zeros((N, H), dtype=dtype)
    # Time-major buffers: gates[t] is step t's (N, 4H) block. x_t Wx for all steps in one
    # product (x copied time-major for it); step t then turns its block into the gates.
    gates = np.empty((T, N, 4 * H), dtype=dtype)
    np.matmul(time_major(x).reshape(T * N, D), Wx, out=gates.reshape(T * N, 4 * H))
    c, tanh_c, h = (np.empty((T, N, H), dtype=dtype) for _ in range(3))
    hWh_b = np.empty((N, 4 * H), dtype=dtype)
    prev_h, prev_c = h0, c0
    for t in range(T):
        a = gates[t]  # holds x_t Wx
        np.matmul(prev_h, Wh, out=hWh_b)  # h_{t-1} Wh
        hWh_b += b  # (b here, on a block that is in cache, rather than on all of gates at once)
        a += hWh_b  # a_t = x_t Wx + h_{t-1} Wh + b
        _cell(a, prev_c, c[t], tanh_c[t], h[t])
        prev_h, prev_c = h[t], c[t]
    gates, c, tanh_c, h = (buf.transpose(1, 0, 2) for buf in (gates, c, tanh_c, h))  # (N, T, ·) views
    return h, LSTMCache(x, h0, c0, Wx, Wh, gates, c, tanh_c, h)


def lstm_backward(dh, cache):
    """Backpropagation through time for lstm_forward.

    dh: (N, T, H), the loss gradient with respect to every h_t from the layer above.
    Returns dx (N, T, D), dh0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    dx, dh0, _, dWx, dWh, db = lstm_backward_with_cell(dh, cache)
    return dx, dh0, dWx, dWh, db


def lstm_backward_with_cell(dh, cache, dc_last=None):
    """lstm_backward through the cell state too: for stacks and encoder-decoders, which
    pass c_T on and need the gradient of c0.

    dh: (N, T, H) as in lstm_backward.  dc_last: (N, H), the loss gradient with respect to
    the final cell state c_T (cache.c[:, -1]), or None when nothing after the layer reads it.
    Returns dx (N, T, D), dh0 (N, H), dc0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    x, h0, c0, Wx, Wh, gates, c, tanh_c, h = cache
    check_grad("dh", dh, h.shape, "(N, T, H)")
    if dc_last is not None:
        check_grad("dc_last", dc_last, c0.shape, "(N, H)")
    N, T, H = h.shape
    gates, c, tanh_c = (time_major(a) for a in (gates, c, tanh_c))  # free for lstm_forward's cache
    dtype = np.result_type(dh, gates, Wh, *(() if dc_last is None else (dc_last,)))
    da = np.empty((T, N, 4 * H), dtype=dtype)  # time-major, da[t] is da_t
    WhT = np.ascontiguousarray(Wh.T)
    dh_t, scratch = np.empty((N, H), dtype=dtype), _scratch(N, H, dtype)
    dprev_h = np.zeros((N, H), dtype=dtype)  # what step t + 1 sends back to h_t: nothing past the last step
    dprev_c = np.zeros((N, H), dtype=dtype)  # the same for c_t, turned into dc_{t-1} by each step
    if dc_last is not None:
        dprev_c += dc_last
    for t in reversed(range(T)):
        np.add(dh[:, t], dprev_h, out=dh_t)  # all the gradient reaching h_t: from above, and from t + 1 through Wh
        c_before = c[t - 1] if t > 0 else c0  # c_{t-1}
        _cell_backward(dh_t, dprev_c, gates[t], c_before, tanh_c[t], da[t], scratch)
        np.matmul(da[t], WhT, out=dprev_h)  # dh_{t-1} = da_t Wh^T
    x = np.array(x.transpose(1, 0, 2), order="C")  # (T, N, D), always a copy: it then receives dx
    dx, dWx, dWh, db = weight_grads_time_major(x, h0, time_major(h), da, Wx, dx=x if x.dtype == da.dtype else None)
    return dx.transpose(1, 0, 2), dprev_h, dprev_c, dWx, dWh, db
