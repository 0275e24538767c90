"""The GRU as torch modules: the equations of seqlib.numpy.gru, in torch.

Chapter: "LSTM and GRU"; stacking and both directions in "Stacked and bidirectional RNNs".

One step, batch-first, with torch.nn's weights (blocks r, z, n of H rows each):

    r = sigmoid(x_t w_ir^T + b_ir + h_{t-1} w_hr^T + b_hr)
    z = sigmoid(x_t w_iz^T + b_iz + h_{t-1} w_hz^T + b_hz)
    n = tanh(x_t w_in^T + b_in + r * (h_{t-1} w_hn^T + b_hn))
    h_t = (1 - z) * n + z * h_{t-1}

The reset gate multiplies h_{t-1} w_hn^T + b_hn, bias included, so b_hn cannot be folded
into the hoisted input projection the way the other biases are.

``gru_step`` (autograd) is what GRUCell runs and the chapter shows; ``gru_layer`` runs a
whole layer as a torch.autograd.Function with a hand-written backward.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from seqlib.torch.cell_parts import check_layer_args, project_inputs, previous_states, projection_grads
from seqlib.torch.precision import float32_backward, float32_forward
from seqlib.torch.stacked import CellMixin, StackedMixin, check_impl, last_step


def _cell(xw, hw, prev_h):
    """The GRU's equations from xw = x w_ih^T + b_ih and hw = h w_hh^T + b_hh, (N, 3H) each,
    in torch's block order r, z, n."""
    x_r, x_z, x_n = xw.chunk(3, dim=1)
    h_r, h_z, h_n = hw.chunk(3, dim=1)
    r = torch.sigmoid(x_r + h_r)  # r = σ(x w_ir^T + b_ir + h w_hr^T + b_hr)
    z = torch.sigmoid(x_z + h_z)  # z = σ(x w_iz^T + b_iz + h w_hz^T + b_hz)
    n = torch.tanh(x_n + r * h_n)  # n = tanh(x w_in^T + b_in + r ⊙ (h w_hn^T + b_hn))
    return (1 - z) * n + z * prev_h  # h' = (1 - z) ⊙ n + z ⊙ h


def gru_step(x, prev_h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step; autograd provides the backward.

    x: (N, D)  prev_h: (N, H)  w_ih: (3H, D)  w_hh: (3H, H)  b_ih, b_hh: (3H,) or None
    Returns next_h (N, H).
    """
    xw = x @ w_ih.t()
    hw = prev_h @ w_hh.t()
    if b_ih is not None:
        xw, hw = xw + b_ih, hw + b_hh
    return _cell(xw, hw, prev_h)


def gru_layer_autograd(x, h0, w_ih, w_hh, b_ih=None, b_hh=None):
    """gru_step over a whole sequence, backward by autograd: the readable reference.

    x: (N, T, D)  h0: (N, H)  w_ih: (3H, D)  w_hh: (3H, H)  b_ih, b_hh: (3H,) or None
    Returns h (N, T, H).
    """
    check_layer_args(x, {"h0": h0}, w_ih, w_hh, b_ih, b_hh, 3)
    xw = x @ w_ih.t()  # (N, T, 3H), hoisted out of the loop
    if b_ih is not None:
        xw = xw + b_ih
    hs, h = [], h0
    for t in range(x.shape[1]):
        hw = h @ w_hh.t() if b_hh is None else h @ w_hh.t() + b_hh
        h = _cell(xw[:, t], hw, h)
        hs.append(h)
    return torch.stack(hs, dim=1)


class GRUFunction(torch.autograd.Function):
    """gru_layer with a hand-written backward, time-major inside."""

    @staticmethod
    @float32_forward
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):
        ctx.set_materialize_grads(False)
        H = h0.shape[1]
        # b_hr and b_hz join the hoisted projection; b_hn stays with h_{t-1} w_hn^T.
        bias = None if b_ih is None else torch.cat([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:]])
        xw = project_inputs(x, w_ih, bias)  # (T, N, 3H): blocks r, z, n of x_t w_ih^T + b
        T, N, _ = xw.shape
        hw = torch.empty_like(xw)  # h_{t-1} w_hh^T (+ b_hn): its n block is what r multiplies
        rz = xw.new_empty(T, N, 2 * H)
        n = xw.new_empty(T, N, H)
        h = torch.empty_like(n)
        w_hh_t, prev_h = w_hh.t(), h0
        b_hh_n = None if b_hh is None else torch.cat([torch.zeros_like(b_hh[:2 * H]), b_hh[2 * H:]])
        for t in range(T):
            if b_hh_n is None:
                torch.mm(prev_h, w_hh_t, out=hw[t])
            else:
                torch.addmm(b_hh_n, prev_h, w_hh_t, out=hw[t])  # h_{t-1} w_hh^T, + b_hn in the n block
            r, z = rz[t].chunk(2, dim=1)  # views: the next line writes both
            torch.add(xw[t, :, :2 * H], hw[t, :, :2 * H], out=rz[t]).sigmoid_()  # r, z = σ(x w_i^T + h w_h^T + b)
            torch.addcmul(xw[t, :, 2 * H:], r, hw[t, :, 2 * H:], out=n[t]).tanh_()  # n = tanh(x_n + r ⊙ (h w_hn^T + b_hn))
            prev_h = torch.lerp(n[t], prev_h, z, out=h[t])  # h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}, a lerp by z
        ctx.save_for_backward(x, h0, w_ih, w_hh, hw, rz, n, h)
        return h.transpose(0, 1)

    @staticmethod
    @float32_backward
    @once_differentiable
    def backward(ctx, dh):
        x, h0, w_ih, w_hh, hw, rz, n, h = ctx.saved_tensors
        if dh is None:
            return (None,) * 6
        T, N, H = h.shape
        r, z = rz.chunk(2, dim=2)
        h_prev = previous_states(h0, h)
        hn = hw[:, :, 2 * H:]  # h_{t-1} w_hn^T + b_hn
        # The local derivatives of every step at once (σ' = σ(1 - σ), tanh' = 1 - tanh²):
        dh_dan = (1 - z) * (1 - n * n)  # ∂h_t/∂a_n
        dh_daz = (h_prev - n) * z * (1 - z)  # ∂h_t/∂a_z
        dan_dar = hn * r * (1 - r)  # ∂a_n/∂a_r, through r ⊙ hn
        da_n = torch.empty_like(n)
        dhw = torch.empty_like(hw)  # loss gradient of h_{t-1} w_hh^T + b_hh, blocks r, z, n
        da_r, da_z, d_hn = dhw.chunk(3, dim=2)
        dh = dh.transpose(0, 1)
        dh_t = dh[T - 1]  # all the gradient reaching h_T: there is no step after it
        for t in reversed(range(T)):
            torch.mul(dh_t, dh_dan[t], out=da_n[t])  # da_n = dh_t ⊙ (1 - z) ⊙ (1 - n²)
            torch.mul(dh_t, dh_daz[t], out=da_z[t])  # da_z = dh_t ⊙ (h_{t-1} - n) ⊙ z(1 - z)
            torch.mul(da_n[t], dan_dar[t], out=da_r[t])  # da_r = da_n ⊙ hn ⊙ r(1 - r)
            torch.mul(da_n[t], r[t], out=d_hn[t])  # d(hn) = da_n ⊙ r
            # dh_{t-1}: directly through z, back through w_hh, and from the layer above
            above = dh[t - 1] if t > 0 else torch.zeros_like(dh_t)
            dh_t = torch.addcmul(above, dh_t, z[t]).addmm_(dhw[t], w_hh)
        da_x = torch.cat([dhw[:, :, :2 * H], da_n], dim=2)  # loss gradient of x_t w_ih^T + b_ih
        needs = ctx.needs_input_grad
        dx, dw_ih, dw_hh, db_ih, db_hh = projection_grads(needs, x, w_ih, h_prev, da_x, dhw)
        return dx, dh_t if needs[1] else None, dw_ih, dw_hh, db_ih, db_hh


def gru_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None):
    """A GRU layer over a sequence, with a hand-written backward.

    x: (N, T, D)  h0: (N, H)  w_ih: (3H, D)  w_hh: (3H, H)  b_ih, b_hh: (3H,) or None
    Returns h (N, T, H). Same numbers as gru_layer_autograd.
    """
    check_layer_args(x, {"h0": h0}, w_ih, w_hh, b_ih, b_hh, 3)
    return GRUFunction.apply(x, h0, w_ih, w_hh, b_ih, b_hh)


class GRUCell(CellMixin, torch.nn.GRUCell):
    """torch.nn.GRUCell with impl="loop" (gru_step) or "fused" (torch's kernel).

    input: (N, D)  hx: (N, H) or None  ->  h' (N, H)
    """

    def __init__(self, input_size, hidden_size, bias=True, impl="loop", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)
        self.impl = check_impl(impl)

    def _step(self, x, h):
        return gru_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRU(StackedMixin, torch.nn.GRU):
    """torch.nn.GRU, batch-first by default, with impl="loop" (ours) or "fused" (torch's).

    input: (N, T, D)  hx: (L * num_directions, N, H) or None  lengths: (N,) or None
    Returns output (N, T, num_directions * H) and h_n (L * num_directions, N, H).
    Parameters: torch.nn's names and shapes (weight_ih_l0 (3H, D), weight_hh_l0 (3H, H), ...).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=True, dropout=0.0,
                 bidirectional=False, impl="loop", device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
                         dropout=dropout, bidirectional=bidirectional, device=device, dtype=dtype)
        self._init_impl(impl)

    def _layer(self, x, h0, weights, last):
        h = GRUFunction.apply(x, h0, *weights)
        return h, last_step(h, last)
