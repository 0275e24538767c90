"""What the layer functions of seqlib.torch.rnn, .lstm and .gru share: argument checks, the
input projection hoisted out of the time loop, and the weight gradients summed over time.

Chapters: "Sequences and the vanilla RNN" (rnn), "LSTM and GRU" (lstm, gru). The mirror of
seqlib.numpy.cell_parts.

One time layout for the three hand-written Functions: time-major inside, (T, N, ·), so that
step t is one contiguous (N, ·) block that torch's ``out=`` arguments and in-place ``addmm_``
write without a copy. The public functions and modules stay batch-first, (N, T, ·), like
everything in seqlib; the Functions transpose once on the way in and once on the way out.
"""

from __future__ import annotations

import torch

from seqlib.shapes import Dims


def check_layer_args(x, states: dict, w_ih, w_hh, b_ih, b_hh, gates: int, x_spec: str = "N,T,D",
                     h_spec: str = "N,H") -> None:
    """Shapes of a step or layer function's arguments, with messages that name them.

    states: {"h0": h0} (or {"h0": h0, "c0": c0} for the LSTM); gates: G = 1 (RNN), 3 (GRU)
    or 4 (LSTM), the number of H-row blocks of w_ih, w_hh and the biases.
    """
    dims = Dims()
    G = f"{gates}H" if gates > 1 else "H"
    dims.check("x", x, x_spec, finite=False)
    dims.check("w_ih", w_ih, f"{G},D", finite=False)
    dims.check("w_hh", w_hh, f"{G},H", finite=False)
    for name, h in states.items():
        dims.check(name, h, h_spec, finite=False)
    if (b_ih is None) != (b_hh is None):
        raise ValueError("b_ih and b_hh must both be given or both be None")
    if b_ih is not None:
        dims.check("b_ih", b_ih, G, finite=False)
        dims.check("b_hh", b_hh, G, finite=False)


def summed_bias(b_ih, b_hh):
    """b = b_ih + b_hh, the one bias the equations need (None when the layer has none)."""
    return None if b_ih is None else b_ih + b_hh


def project_inputs(x, w_ih, bias=None):
    """x_t w_ih^T + bias for all T steps in one matrix product: it does not depend on the recurrence.

    x: (N, T, D)  w_ih: (GH, D)  bias: (GH,) or None
    Returns xw (T, N, GH), time-major (see the module docstring).
    """
    xw = torch.matmul(x.transpose(0, 1), w_ih.t())
    if bias is not None:
        xw += bias
    return xw


def previous_states(h0, h):
    """h_{t-1} for every step t, time-major: h0 (N, H) then h[:-1], as one (T, N, H) tensor."""
    return torch.cat([h0[None], h[:-1]])


def projection_grads(needs, x, w_ih, h_prev, da_x, da_h):
    """Gradients of everything outside the recurrence, once for all steps (as in seqlib.numpy).

    needs: ctx.needs_input_grad for (x, h0..., w_ih, w_hh, b_ih, b_hh); only the flags of x,
           w_ih, w_hh, b_ih, b_hh are read, at positions 0, -4, -3, -2, -1.
    x: (N, T, D)  h_prev: (T, N, H) the states h_0..h_{T-1} that multiply w_hh
    da_x: (T, N, GH) loss gradient of the input projection x_t w_ih^T + b_ih
    da_h: (T, N, GH) loss gradient of the hidden projection h_{t-1} w_hh^T + b_hh
    The weights are shared over time: dw_ih = Σ_t da_x,t^T x_t, dw_hh = Σ_t da_h,t^T h_{t-1},
    each one product over all T*N rows.
    Returns dx (N, T, D), dw_ih, dw_hh, db_ih, db_hh (None where not needed).
    """
    T, N, GH = da_x.shape
    dx = dw_ih = dw_hh = db_ih = db_hh = None
    if needs[0]:
        dx = torch.matmul(da_x, w_ih).transpose(0, 1)
    if needs[-4]:
        dw_ih = da_x.reshape(T * N, GH).t() @ x.transpose(0, 1).reshape(T * N, -1)
    if needs[-3]:
        dw_hh = da_h.reshape(T * N, GH).t() @ h_prev.reshape(T * N, -1)
    if needs[-2]:
        db_ih = da_x.sum((0, 1))
    if needs[-1]:
        db_hh = da_h.sum((0, 1))
    return dx, dw_ih, dw_hh, db_ih, db_hh
