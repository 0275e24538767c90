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
"""

from __future__ import annotations

import numpy as np

from seqlib.numpy.rnn import sigmoid
from seqlib.shapes import Dims, check_grad

RESETS = ("before", "after")


def _check_args(dims, reset, b):
    if reset not in RESETS:
        raise ValueError(f"reset is {reset!r}, expected one of {RESETS}")
    dims.check("b", b, "3H" if reset == "before" else "4H")


def _step(act, prev_h, Wh, b_hn, extra, next_h):
    """One step in place. act (N, 3H) comes in holding x Wx + b[:3H] and leaves holding the
    gates z, r, h~. extra (N, H) receives what the backward needs besides the gates:
    r ⊙ h (reset="before", b_hn None) or h Whh + b_hn (reset="after")."""
    H = prev_h.shape[-1]
    zr, cand = act[:, : 2 * H], act[:, 2 * H :]
    if b_hn is None:
        zr += prev_h @ Wh[:, : 2 * H]
        sigmoid(zr, out=zr)
        np.multiply(act[:, H : 2 * H], prev_h, out=extra)  # r ⊙ h
        cand += extra @ Wh[:, 2 * H :]
    else:
        hw = prev_h @ Wh  # one fused product: the reset gate acts after it
        zr += hw[:, : 2 * H]
        sigmoid(zr, out=zr)
        np.add(hw[:, 2 * H :], b_hn, out=extra)  # h Whh + b_hn
        hw = hw[:, 2 * H :]
        np.multiply(act[:, H : 2 * H], extra, out=hw)
        cand += hw
    np.tanh(cand, out=cand)
    # h' = (1 - z) ⊙ h + z ⊙ h~, written h + z ⊙ (h~ - h)
    np.subtract(cand, prev_h, out=next_h)
    next_h *= act[:, :H]
    next_h += prev_h


def _dstep(dh, act, prev_h, extra, Wh, da):
    """One step backwards: write da and return dprev_h.

    dh: total gradient reaching h' (N, H). da: (N, 3H) = [da_z, da_r, da_h~] for
    reset="before", (N, 4H) = [da_z, da_r, da_n, da_hn] for reset="after", where da_hn is
    the gradient of h Whh + b_hn. Both are laid out like b, so db = da summed over rows.
    """
    H = prev_h.shape[-1]
    z, r, cand = act[:, :H], act[:, H : 2 * H], act[:, 2 * H :]
    da_z, da_r, da_c = da[:, :H], da[:, H : 2 * H], da[:, 2 * H : 3 * H]
    # da_h~ = dh ⊙ z ⊙ (1 - h~²)
    np.multiply(cand, cand, out=da_c)
    np.subtract(1.0, da_c, out=da_c)
    da_c *= z
    da_c *= dh
    # da_z = dh ⊙ (h~ - h) ⊙ z(1 - z); the direct path gives dprev_h = dh ⊙ (1 - z)
    one_minus_z = 1.0 - z
    np.subtract(cand, prev_h, out=da_z)
    da_z *= dh
    da_z *= z
    da_z *= one_minus_z
    dprev_h = one_minus_z
    dprev_h *= dh
    if da.shape[1] == 3 * H:  # reset="before": the candidate reads r ⊙ h
        d_rh = da_c @ Wh[:, 2 * H :].T
        np.multiply(d_rh, prev_h, out=da_r)
        d_rh *= r
        dprev_h += d_rh
    else:  # reset="after": the candidate reads r ⊙ (h Whh + b_hn)
        da_hn = da[:, 3 * H :]
        np.multiply(da_c, r, out=da_hn)
        np.multiply(da_c, extra, out=da_r)
        dprev_h += da_hn @ Wh[:, 2 * H :].T
    # da_r = (gradient of r) ⊙ r(1 - r)
    da_r *= r
    da_r *= 1.0 - r
    dprev_h += da[:, : 2 * H] @ Wh[:, : 2 * H].T
    return dprev_h


def _param_grads(x2, h_prev2, extra2, da2, Wx, Wh):
    """dx, dWx, dWh, db from rows of (inputs, previous states, extras, da): one product each.

    Whh multiplies r ⊙ h (reset="before") or h (reset="after"): extra2 or h_prev2.
    """
    H = Wh.shape[0]
    dx = da2[:, : 3 * H] @ Wx.T
    dWx = x2.T @ da2[:, : 3 * H]
    dWh = np.empty_like(Wh, dtype=da2.dtype)
    dWh[:, : 2 * H] = h_prev2.T @ da2[:, : 2 * H]
    if da2.shape[1] == 3 * H:
        dWh[:, 2 * H :] = extra2.T @ da2[:, 2 * H :]
    else:
        dWh[:, 2 * H :] = h_prev2.T @ da2[:, 3 * H :]
    return dx, dWx, dWh, da2.sum(axis=0)


def gru_step_forward(x, prev_h, Wx, Wh, b, reset="before"):
    """One GRU step (equations in the module docstring).

    x: (N, D)  prev_h: (N, H)  Wx: (D, 3H)  Wh: (H, 3H)
    b: (3H,) with reset="before" (the lecture's GRU), (4H,) with reset="after" (torch's).
    Returns next_h (N, H) and the cache for gru_step_backward.
    """
    dims = Dims()
    dims.check("x", x, "N,D")
    dims.check("Wx", Wx, "D,3H")
    dims.check("prev_h", prev_h, "N,H")
    dims.check("Wh", Wh, "H,3H")
    _check_args(dims, reset, b)
    H = prev_h.shape[1]
    dtype = np.result_type(x, prev_h, Wx, Wh, b)
    act = np.asarray(x @ Wx + b[: 3 * H], dtype=dtype)
    extra = np.empty_like(prev_h, dtype=dtype)
    next_h = np.empty_like(prev_h, dtype=dtype)
    _step(act, prev_h, Wh, None if reset == "before" else b[3 * H :], extra, next_h)
    return next_h, (x, prev_h, Wx, Wh, act, extra, len(b))


def gru_step_backward(dnext_h, cache):
    """Backward pass of gru_step_forward.

    dnext_h: (N, H)
    Returns dx (N, D), dprev_h (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,) or (4H,) like b.
    """
    x, prev_h, Wx, Wh, act, extra, nb = cache
    check_grad("dnext_h", dnext_h, prev_h.shape, "(N, H)")
    da = np.empty((prev_h.shape[0], nb), dtype=act.dtype)
    dprev_h = _dstep(dnext_h, act, prev_h, extra, Wh, da)
    dx, dWx, dWh, db = _param_grads(x, prev_h, extra, da, Wx, Wh)
    return dx, dprev_h, dWx, dWh, db


def gru_forward(x, h0, Wx, Wh, b, reset="before"):
    """A GRU over a whole sequence, from the state h0 before the first step.

    x: (N, T, D)  h0: (N, H)  Wx: (D, 3H)  Wh: (H, 3H)
    b: (3H,) with reset="before" (the lecture's GRU), (4H,) with reset="after" (torch's).
    Returns h (N, T, H), the hidden state after every step, and the cache for gru_backward.

    x Wx + b is computed for all T steps in one matrix product before the loop.
    """
    dims = Dims()
    dims.check("x", x, "N,T,D")
    dims.check("Wx", Wx, "D,3H")
    dims.check("h0", h0, "N,H")
    dims.check("Wh", Wh, "H,3H")
    _check_args(dims, reset, b)
    return _forward(x, h0, Wx, Wh, b)


def _forward(x, h0, Wx, Wh, b):
    """gru_forward without the argument checks; the variant is read from len(b)."""
    N, T, D = x.shape
    H = Wh.shape[0]
    b_hn = None if len(b) == 3 * H else b[3 * H :]
    dtype = np.result_type(x, h0, Wx, Wh, b)
    act = np.asarray(x.reshape(N * T, D) @ Wx, dtype=dtype).reshape(N, T, 3 * H)
    act += b[: 3 * H]
    extra = np.empty((N, T, H), dtype=dtype)
    h = np.empty((N, T, H), dtype=dtype)
    prev_h = h0
    for t in range(T):
        _step(act[:, t], prev_h, Wh, b_hn, extra[:, t], h[:, t])
        prev_h = h[:, t]
    return h, (x, h0, Wx, Wh, act, extra, h, len(b))


def gru_backward(dh, cache):
    """Backpropagation through time for gru_forward.

    dh: (N, T, H), the loss gradient with respect to every h_t from the layer above.
    Returns dx (N, T, D), dh0 (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,) or (4H,) like b.
    """
    x, h0, Wx, Wh, act, extra, h, nb = cache
    check_grad("dh", dh, h.shape, "(N, T, H)")
    N, T, H = h.shape
    da = np.empty((N, T, nb), dtype=act.dtype)
    dprev_h = np.zeros_like(h0, dtype=act.dtype)
    for t in reversed(range(T)):
        prev_h = h[:, t - 1] if t > 0 else h0
        dprev_h = _dstep(dh[:, t] + dprev_h, act[:, t], prev_h, extra[:, t], Wh, da[:, t])
    h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1).reshape(N * T, H)
    dx, dWx, dWh, db = _param_grads(
        x.reshape(N * T, -1), h_prev, extra.reshape(N * T, H), da.reshape(N * T, nb), Wx, Wh
    )
    return dx.reshape(x.shape), dprev_h, dWx, dWh, db
