"""The gated recurrent unit (GRU), forward and backward by hand.

Chapter: "LSTM and GRU".

The lecture's GRU, batch-first with row vectors (reset="before", the default):

    z  = σ(x Wxz + h Whz + bz)                  update gate: how much of the new state to take
    r  = σ(x Wxr + h Whr + br)                  reset gate: how much of h the candidate sees
    h~ = tanh(x Wxh + (r ⊙ h) Whh + bh)         candidate state
    h' = (1 - z) ⊙ h + z ⊙ h~

torch.nn.GRU places the reset gate after the hidden product, and needs a second bias there
(reset="after"):

    n  = tanh(x Wxh + b_in + r ⊙ (h Whh + b_hn))
    h' = (1 - z) ⊙ h + z ⊙ n

z and r are the same as above in both variants; only the candidate changes. torch writes the
update as h' = (1 - z_t) ⊙ n + z_t ⊙ h, its z_t weighing the *old* state: z_t = 1 - z. Since
1 - σ(a) = σ(-a), torch's z weights and biases are exactly minus ours;
seqlib.numpy.convert flips the sign, so seqlib's z means the same thing in both variants.

Parameters (gate blocks in the order z, r, h~; G = 3 blocks of H columns):

    Wx: (D, 3H) = [Wxz | Wxr | Wxh]     Wh: (H, 3H) = [Whz | Whr | Whh]
    b:  (3H,) = [bz, br, bh]             with reset="before"
        (4H,) = [bz, br, b_in, b_hn]     with reset="after": b_hn is the bias inside r ⊙ (·)

so every GRU function keeps the argument order (x, h, Wx, Wh, b) of the RNN and the LSTM,
and its backward returns db shaped like b.

Backward, with dh the gradient reaching h' (σ' = σ(1 - σ), tanh' = 1 - tanh²):

    da_h~ = dh ⊙ z ⊙ (1 - h~²)          da_z = dh ⊙ (h~ - h) ⊙ z(1 - z)
    reset="before":  d(r⊙h) = da_h~ Whh^T     da_r = d(r⊙h) ⊙ h ⊙ r(1 - r)
    reset="after":   d(hn) = da_h~ ⊙ r         da_r = da_h~ ⊙ hn ⊙ r(1 - r),   hn = h Whh + b_hn
    dh_prev = dh ⊙ (1 - z) + [da_z, da_r] [Whz | Whr]^T + (d(r⊙h) ⊙ r  or  d(hn) Whh^T)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from seqlib.numpy.cell_parts import gate_blocks, sigmoid, states_before
from seqlib.shapes import Dims, check_grad

RESETS = ("before", "after")


class GRUStepCache(NamedTuple):
    """What gru_step_backward needs from gru_step_forward."""

    x: np.ndarray  #: (N, D)
    prev_h: np.ndarray  #: (N, H)
    Wx: np.ndarray  #: (D, 3H)
    Wh: np.ndarray  #: (H, 3H)
    gates: np.ndarray  #: (N, 3H) z, r, h~ side by side, after their nonlinearities
    reset_in: np.ndarray  #: (N, H) r ⊙ h (reset="before") or h Whh + b_hn (reset="after")
    reset: str  #: "before" or "after"


class GRUCache(NamedTuple):
    """What gru_backward needs from gru_forward: the step caches of every t, stacked."""

    x: np.ndarray  #: (N, T, D)
    h0: np.ndarray  #: (N, H)
    Wx: np.ndarray  #: (D, 3H)
    Wh: np.ndarray  #: (H, 3H)
    gates: np.ndarray  #: (N, T, 3H) z, r, h~ of every step
    reset_in: np.ndarray  #: (N, T, H) as in GRUStepCache, every step
    h: np.ndarray  #: (N, T, H) h_t of every step
    reset: str  #: "before" or "after"


def _check_reset(dims, reset, b):
    if reset not in RESETS:
        raise ValueError(f"reset is {reset!r}, expected one of {RESETS}")
    dims.check("b", b, "3H" if reset == "before" else "4H")


def _cell(xWx_b, prev_h, Wh, b_hn):
    """The GRU's equations from xWx_b = x Wx + b[:3H] (N, 3H) and the previous state h.

    b_hn: None for reset="before", the bias inside r ⊙ (h Whh + b_hn) for reset="after".
    Returns the gates (N, 3H) = [z, r, h~], reset_in (see GRUStepCache) and h' (N, H).
    """
    H = prev_h.shape[1]
    Wh_zr, Wh_h = Wh[:, : 2 * H], Wh[:, 2 * H :]
    zr = sigmoid(xWx_b[:, : 2 * H] + prev_h @ Wh_zr)  # z, r = σ(x Wxz + h Whz + bz), σ(x Wxr + h Whr + br)
    z, r = zr[:, :H], zr[:, H:]
    if b_hn is None:
        reset_in = r * prev_h  # what the candidate reads of the old state: r ⊙ h
        cand = np.tanh(xWx_b[:, 2 * H :] + reset_in @ Wh_h)  # h~ = tanh(x Wxh + (r ⊙ h) Whh + bh)
    else:
        reset_in = prev_h @ Wh_h + b_hn  # hn = h Whh + b_hn, what r multiplies
        cand = np.tanh(xWx_b[:, 2 * H :] + r * reset_in)  # n = tanh(x Wxh + b_in + r ⊙ hn)
    next_h = (1 - z) * prev_h + z * cand  # h' = (1 - z) ⊙ h + z ⊙ h~
    return np.concatenate([zr, cand], axis=1), reset_in, next_h


def _cell_backward(dh, gates, prev_h, reset_in, Wh, reset):
    """One step backwards. dh: (N, H), all the gradient reaching h'.

    Returns da and dh_prev (N, H). da is laid out like b, so db is da summed over rows:
    (N, 3H) = [da_z, da_r, da_h~] for reset="before", (N, 4H) = [da_z, da_r, da_n, d(hn)]
    for reset="after", d(hn) the gradient of hn = h Whh + b_hn.
    """
    H = prev_h.shape[1]
    z, r, cand = gate_blocks(gates, 3)
    Wh_zr, Wh_h = Wh[:, : 2 * H], Wh[:, 2 * H :]
    da_cand = dh * z * (1 - cand * cand)  # da_h~ = dh ⊙ z ⊙ (1 - h~²)
    da_z = dh * (cand - prev_h) * z * (1 - z)  # da_z = dh ⊙ (h~ - h) ⊙ z(1 - z)
    dprev_h = dh * (1 - z)  # the direct path of h' = (1 - z) ⊙ h + z ⊙ h~
    if reset == "before":
        d_rh = da_cand @ Wh_h.T  # the gradient of r ⊙ h
        da_r = d_rh * prev_h * r * (1 - r)  # da_r = d(r⊙h) ⊙ h ⊙ r(1 - r)
        dprev_h += d_rh * r
        blocks = [da_z, da_r, da_cand]
    else:
        d_hn = da_cand * r  # the gradient of hn = h Whh + b_hn
        da_r = da_cand * reset_in * r * (1 - r)  # da_r = da_n ⊙ hn ⊙ r(1 - r)
        dprev_h += d_hn @ Wh_h.T
        blocks = [da_z, da_r, da_cand, d_hn]
    da = np.concatenate(blocks, axis=1)
    dprev_h += da[:, : 2 * H] @ Wh_zr.T  # through z and r
    return da, dprev_h


def _weight_grads(x, h_prev, reset_in, da, Wx, Wh):
    """dx, dWx, dWh, db from rows of (inputs, previous states, reset_in, da): one product each.

    Whh multiplies r ⊙ h (reset="before", da has 3H columns) or h (reset="after", 4H): its
    gradient is reset_in^T da_h~ or h_prev^T d(hn).
    """
    H = Wh.shape[0]
    da_x = da[:, : 3 * H]  # the gradient of x Wx + b[:3H]
    dWh = np.empty_like(Wh, dtype=da.dtype)
    dWh[:, : 2 * H] = h_prev.T @ da[:, : 2 * H]
    if da.shape[1] == 3 * H:
        dWh[:, 2 * H :] = reset_in.T @ da[:, 2 * H :]
    else:
        dWh[:, 2 * H :] = h_prev.T @ da[:, 3 * H :]
    return da_x @ Wx.T, x.T @ da_x, dWh, da.sum(axis=0)


def gru_step_forward(x, prev_h, Wx, Wh, b, reset="before"):
    """One GRU step (equations in the module docstring).

    x: (N, D)  prev_h: (N, H)  Wx: (D, 3H)  Wh: (H, 3H)
    b: (3H,) with reset="before" (the lecture's GRU), (4H,) with reset="after" (torch's).
    Returns next_h (N, H) and the cache for gru_step_backward (a GRUStepCache).
    """
    dims = Dims()
    dims.check("x", x, "N,D")
    dims.check("Wx", Wx, "D,3H")
    dims.check("prev_h", prev_h, "N,H")
    dims.check("Wh", Wh, "H,3H")
    _check_reset(dims, reset, b)
    H = prev_h.shape[1]
    dtype = np.result_type(x, prev_h, Wx, Wh, b)
    xWx_b = np.asarray(x @ Wx + b[: 3 * H], dtype=dtype)
    gates, reset_in, next_h = _cell(xWx_b, prev_h, Wh, None if reset == "before" else b[3 * H :])
    return next_h, GRUStepCache(x, prev_h, Wx, Wh, gates, reset_in, reset)


def gru_step_backward(dnext_h, cache):
    """Backward pass of gru_step_forward.

    dnext_h: (N, H)
    Returns dx (N, D), dprev_h (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,) or (4H,) like b.
    """
    x, prev_h, Wx, Wh, gates, reset_in, reset = cache
    check_grad("dnext_h", dnext_h, prev_h.shape, "(N, H)")
    da, dprev_h = _cell_backward(dnext_h, gates, prev_h, reset_in, Wh, reset)
    dx, dWx, dWh, db = _weight_grads(x, prev_h, reset_in, da, Wx, Wh)
    return dx, dprev_h, dWx, dWh, db


def gru_forward(x, h0, Wx, Wh, b, reset="before"):
    """A GRU over a whole sequence, from the state h0 before the first step.

    x: (N, T, D)  h0: (N, H)  Wx: (D, 3H)  Wh: (H, 3H)
    b: (3H,) with reset="before" (the lecture's GRU), (4H,) with reset="after" (torch's).
    Returns h (N, T, H), the hidden state after every step, and the cache for gru_backward
    (a GRUCache).

    x Wx + b is computed for all T steps in one matrix product before the loop.
    """
    dims = Dims()
    dims.check("x", x, "N,T,D")
    dims.check("Wx", Wx, "D,3H")
    dims.check("h0", h0, "N,H")
    dims.check("Wh", Wh, "H,3H")
    _check_reset(dims, reset, b)
    N, T, D = x.shape
    H = Wh.shape[0]
    b_hn = None if reset == "before" else b[3 * H :]
    dtype = np.result_type(x, h0, Wx, Wh, b)
    xWx_b = np.asarray(x.reshape(N * T, D) @ Wx + b[: 3 * H], dtype=dtype).reshape(N, T, 3 * H)
    gates = np.empty_like(xWx_b)
    reset_in, h = (np.empty((N, T, H), dtype=dtype) for _ in range(2))
    prev_h = h0
    for t in range(T):
        gates[:, t], reset_in[:, t], h[:, t] = _cell(xWx_b[:, t], prev_h, Wh, b_hn)
        prev_h = h[:, t]
    return h, GRUCache(x, h0, Wx, Wh, gates, reset_in, h, reset)


def gru_backward(dh, cache):
    """Backpropagation through time for gru_forward.

    dh: (N, T, H), the loss gradient with respect to every h_t from the layer above.
    Returns dx (N, T, D), dh0 (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,) or (4H,) like b.
    """
    x, h0, Wx, Wh, gates, reset_in, h, reset = cache
    check_grad("dh", dh, h.shape, "(N, T, H)")
    N, T, H = h.shape
    h_prev = states_before(h0, h)
    da = np.empty((N, T, (3 if reset == "before" else 4) * H), dtype=gates.dtype)
    dprev_h = np.zeros_like(h0, dtype=gates.dtype)  # what step t + 1 sends back to h_t
    for t in reversed(range(T)):
        # all the gradient reaching h_t: from the layer above, and from step t + 1
        da[:, t], dprev_h = _cell_backward(dh[:, t] + dprev_h, gates[:, t], h_prev[:, t], reset_in[:, t], Wh, reset)
    rows = N * T
    dx, dWx, dWh, db = _weight_grads(x.reshape(rows, -1), h_prev.reshape(rows, H), reset_in.reshape(rows, H),
                                     da.reshape(rows, -1), Wx, Wh)
    return dx.reshape(x.shape), dprev_h, dWx, dWh, db
