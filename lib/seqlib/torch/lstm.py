"""The LSTM as torch modules: the equations of seqlib.numpy.lstm, in torch.

Chapter: "LSTM and GRU"; stacking and both directions in "Stacked and bidirectional RNNs".

One step, batch-first, with torch.nn's weights (output rows, 4H of them):

    a_t = x_t weight_ih^T + h_{t-1} weight_hh^T + bias_ih + bias_hh      (N, 4H)
    i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

torch.nn stacks the four blocks of a_t in the order i, f, g, o; the lecture and
seqlib.numpy use i, f, o, g. The equations are the same; only the rows of the weights are
arranged differently, and seqlib.numpy.convert translates between the two layouts.

``lstm_step`` (autograd) is what LSTMCell runs and the chapter shows; ``lstm_layer`` runs
a whole layer as a torch.autograd.Function whose backward is written by hand, as in
seqlib.numpy.lstm.lstm_backward: all gate gradients in one reverse loop, then the weight
gradients in one matrix product each.

The backward pass is seqlib.numpy.lstm's, each gate gradient split into the gradient that
flows back (dc_t or dh_t) times a local derivative that does not depend on it:

    dc_t = dc + dh ⊙ dh_dc           dh_dc = o ⊙ (1 - tanh²(c_t))         (∂h_t/∂c_t)
    da_i = dc_t ⊙ dc_dai             dc_dai = g ⊙ i(1 - i)                (∂c_t/∂a_i)
    da_f = dc_t ⊙ dc_daf             dc_daf = c_{t-1} ⊙ f(1 - f)
    da_g = dc_t ⊙ dc_dag             dc_dag = i ⊙ (1 - g²)
    da_o = dh ⊙ dh_dao               dh_dao = tanh(c_t) ⊙ o(1 - o)        (∂h_t/∂a_o)

The local derivatives of all T steps are computed before the reverse loop, in a few large
operations; the loop itself is five small ones per step. On a CPU, at the sizes of the
course, a step costs what its number of tensor operations costs, so that is what is kept low.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from seqlib.torch import graphs
from seqlib.torch.cell_parts import check_layer_args, project_inputs, summed_bias, projection_grads
from seqlib.torch.precision import float32_backward, float32_forward
from seqlib.torch.stacked import CellMixin, StackedMixin, check_impl, last_step


def _cell(a, prev_c):
    """The LSTM's equations from the pre-activations a_t (N, 4H) in torch's order i, f, g, o."""
    a_i, a_f, a_g, a_o = a.chunk(4, dim=1)
    i, f, o, g = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.sigmoid(a_o), torch.tanh(a_g)
    next_c = f * prev_c + i * g  # c_t = f ⊙ c_{t-1} + i ⊙ g
    next_h = o * torch.tanh(next_c)  # h_t = o ⊙ tanh(c_t)
    return next_h, next_c


def lstm_step(x, prev_h, prev_c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step; autograd provides the backward.

    x: (N, D)  prev_h, prev_c: (N, H)  w_ih: (4H, D)  w_hh: (4H, H)  b_ih, b_hh: (4H,) or None
    Returns next_h (N, H) and next_c (N, H).
    """
    a = x @ w_ih.t() + prev_h @ w_hh.t()  # a_t = x_t w_ih^T + h_{t-1} w_hh^T + b_ih + b_hh
    if b_ih is not None:
        a = a + b_ih + b_hh
    return _cell(a, prev_c)


def lstm_layer_autograd(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
    """lstm_step over a whole sequence, backward by autograd: the readable reference.

    x: (N, T, D)  h0, c0: (N, H)  w_ih: (4H, D)  w_hh: (4H, H)  b_ih, b_hh: (4H,) or None
    Returns h (N, T, H) and c (N, T, H), the states after every step.
    """
    check_layer_args(x, {"h0": h0, "c0": c0}, w_ih, w_hh, b_ih, b_hh, 4)
    xw = x @ w_ih.t()  # (N, T, 4H), hoisted out of the loop
    if b_ih is not None:
        xw = xw + b_ih + b_hh
    hs, cs, h, c = [], [], h0, c0
    for t in range(x.shape[1]):
        h, c = _cell(xw[:, t] + h @ w_hh.t(), c)  # a_t = x_t w_ih^T + b + h_{t-1} w_hh^T
        hs.append(h)
        cs.append(c)
    return torch.stack(hs, dim=1), torch.stack(cs, dim=1)


def _steps(xw, h0, c0, w_hh):
    """The recurrence of lstm_layer, after the input projection.

    xw: (T, N, 4H) holding x_t w_ih^T + b with the g block doubled (see LSTMFunction.forward);
        overwritten with the pre-activations. w_hh: (4H, H), its g rows doubled likewise.
    Returns gates (T, N, 4H) (i, f, g, o after their nonlinearities), c (T+1, N, H) and
    h (T+1, N, H) with c[0] = c0, h[0] = h0 (so c[:-1] is c_{t-1} without a copy), and
    tanh_c (T, N, H). A pure tensor loop, so that graphs.run can record it on a GPU.
    """
    T, N, H4 = xw.shape
    gates = torch.empty_like(xw)
    c = xw.new_empty(T + 1, N, H4 // 4)
    h = torch.empty_like(c)
    tanh_c = torch.empty_like(c[1:])
    c[0], h[0] = c0, h0
    w_hh_t = w_hh.t()
    for t in range(T):
        i, f, g, o = gates[t].chunk(4, dim=1)  # views: the equations below write into gates[t]
        a = xw[t].addmm_(h[t], w_hh_t)  # a_t = x_t w_ih^T + b + h_{t-1} w_hh^T, in place
        torch.sigmoid(a, out=gates[t])  # i, f, o = σ(a_i), σ(a_f), σ(a_o); the g block: σ(2 a_g)
        g.mul_(2).sub_(1)  # g = tanh(a_g) = 2 σ(2 a_g) - 1
        torch.mul(f, c[t], out=c[t + 1]).addcmul_(i, g)  # c_t = f ⊙ c_{t-1} + i ⊙ g
        torch.tanh(c[t + 1], out=tanh_c[t])
        torch.mul(o, tanh_c[t], out=h[t + 1])  # h_t = o ⊙ tanh(c_t)
    return gates, c, tanh_c, h


def _steps_backward(dc_da, dh_dao, dh_dc, f, dh, dc, w_hh):
    """The reverse loop of LSTMFunction.backward: all gate gradients, step by step.

    dc_da: (T, N, 3, H) the local derivatives ∂c_t/∂a_i, ∂c_t/∂a_f, ∂c_t/∂a_g;
    dh_dao, dh_dc: (T, N, H) ∂h_t/∂a_o and ∂h_t/∂c_t; f: (T, N, H) the forget gates
    (module docstring); dh, dc: (T, N, H) gradients from outside the layer, or None.
    Returns da (T, N, 4H), the loss gradient of every pre-activation, dh0 and dc0 (N, H).
    """
    T, N, H = f.shape
    da = dh_dc.new_empty(T, N, 4 * H)
    da_ifg = da[:, :, :3 * H].unflatten(2, (3, H))  # da_i, da_f, da_g side by side: one product for three
    da_o = da[:, :, 3 * H:]
    dh_t = dh[T - 1] if dh is not None else f.new_zeros(N, H)  # all the gradient reaching h_T
    dc_next = dc[T - 1] if dc is not None else f.new_zeros(N, H)  # and c_T: from outside only
    for t in reversed(range(T)):
        dc_t = torch.addcmul(dc_next, dh_t, dh_dc[t])  # dc_t = dc + dh_t ⊙ o ⊙ (1 - tanh²(c_t))
        torch.mul(dc_t[:, None, :], dc_da[t], out=da_ifg[t])  # da_i, da_f, da_g = dc_t ⊙ ∂c_t/∂a_{i,f,g}
        torch.mul(dh_t, dh_dao[t], out=da_o[t])  # da_o = dh_t ⊙ tanh(c_t) ⊙ o(1 - o)
        # dc_{t-1} = dc_t ⊙ f and dh_{t-1} = da_t w_hh, plus what reaches them from outside
        dc_next = dc_t * f[t] if dc is None or t == 0 else torch.addcmul(dc[t - 1], dc_t, f[t])
        dh_t = da[t] @ w_hh if dh is None or t == 0 else torch.addmm(dh[t - 1], da[t], w_hh)
    return da, dh_t, dc_next


class LSTMFunction(torch.autograd.Function):
    """lstm_layer with a hand-written backward (seqlib.numpy.lstm.lstm_backward's), time-major inside."""

    @staticmethod
    @float32_forward
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        ctx.set_materialize_grads(False)
        # tanh(a) = 2 σ(2a) - 1: with the g rows of the weights doubled, one sigmoid over all
        # four blocks replaces sigmoid + tanh. torch's CPU tanh on a strided slice costs more
        # than three times a contiguous sigmoid; the identity costs 2e-16.
        H = w_hh.shape[1]
        scale = w_hh.new_ones(4 * H, 1)
        scale[2 * H:3 * H] = 2
        bias = summed_bias(b_ih, b_hh)
        xw = project_inputs(x, w_ih * scale, None if bias is None else bias * scale[:, 0])  # (T, N, 4H)
        gates, c, tanh_c, h = graphs.run("lstm_layer", _steps, xw, h0, c0, w_hh * scale)
        ctx.save_for_backward(x, w_ih, w_hh, gates, c, tanh_c, h)
        return h[1:].transpose(0, 1), c[1:].transpose(0, 1)

    @staticmethod
    @float32_backward
    @once_differentiable
    def backward(ctx, dh, dc):
        x, w_ih, w_hh, gates, c, tanh_c, h = ctx.saved_tensors
        if dh is None and dc is None:
            return (None,) * 7
        i, f, g, o = gates.chunk(4, dim=2)
        # The local derivatives of every step at once (module docstring); σ' = σ(1 - σ), tanh' = 1 - tanh².
        dc_da = torch.stack([g * i * (1 - i),  # ∂c_t/∂a_i
                             c[:-1] * f * (1 - f),  # ∂c_t/∂a_f
                             i * (1 - g * g)], dim=2)  # ∂c_t/∂a_g
        dh_dao = tanh_c * o * (1 - o)  # ∂h_t/∂a_o
        dh_dc = o * (1 - tanh_c * tanh_c)  # ∂h_t/∂c_t
        dh = None if dh is None else dh.transpose(0, 1)
        dc = None if dc is None else dc.transpose(0, 1)
        da, dh0, dc0 = graphs.run("lstm_backward", _steps_backward, dc_da, dh_dao, dh_dc, f, dh, dc, w_hh)
        needs = ctx.needs_input_grad
        dx, dw_ih, dw_hh, db_ih, db_hh = projection_grads(needs, x, w_ih, h[:-1], da, da)
        return dx, dh0 if needs[1] else None, dc0 if needs[2] else None, dw_ih, dw_hh, db_ih, db_hh


def lstm_layer(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
    """An LSTM layer over a sequence, with a hand-written backward.

    x: (N, T, D)  h0, c0: (N, H)  w_ih: (4H, D)  w_hh: (4H, H)  b_ih, b_hh: (4H,) or None
    Returns h (N, T, H) and c (N, T, H). Same numbers as lstm_layer_autograd.
    """
    check_layer_args(x, {"h0": h0, "c0": c0}, w_ih, w_hh, b_ih, b_hh, 4)
    return LSTMFunction.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh)


class LSTMCell(CellMixin, torch.nn.LSTMCell):
    """torch.nn.LSTMCell with impl="loop" (lstm_step) or "fused" (torch's kernel).

    input: (N, D)  hx: (h, c), each (N, H), or None  ->  (h', c'), each (N, H)
    """

    _has_cell = True

    def __init__(self, input_size, hidden_size, bias=True, impl="loop", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)
        self.impl = check_impl(impl)

    def _step(self, x, hx):
        return lstm_step(x, hx[0], hx[1], self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTM(StackedMixin, torch.nn.LSTM):
    """torch.nn.LSTM, batch-first by default, with impl="loop" (ours) or "fused" (torch's).

    input: (N, T, D)  hx: (h0, c0), each (L * num_directions, N, H), or None
    lengths: (N,) or None
    Returns output (N, T, num_directions * H) and (h_n, c_n), each (L * num_directions, N, H).
    Parameters: torch.nn's names and shapes (weight_ih_l0 (4H, D), weight_hh_l0 (4H, H), ...).
    """

    _has_cell = True

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=True, dropout=0.0,
                 bidirectional=False, impl="loop", device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
                         dropout=dropout, bidirectional=bidirectional, device=device, dtype=dtype)
        self._init_impl(impl)

    def _layer(self, x, state, weights, last):
        h, c = LSTMFunction.apply(x, state[0], state[1], *weights)
        return h, (last_step(h, last), last_step(c, last))
