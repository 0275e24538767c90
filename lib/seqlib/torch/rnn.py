"""The vanilla (Elman) RNN as torch modules: the equations of seqlib.numpy.rnn, in torch.

Chapter: "Sequences and the vanilla RNN" (book/01_vanilla_rnn.md); the hand-written backward
of ``rnn_layer`` is derived in "Backpropagation through time".

torch.nn stores weights the other way round from seqlib.numpy (output rows, so they
multiply on the left): weight_ih (H, D) = Wx.T, weight_hh (H, H) = Wh.T, and two biases
whose sum is b. With those names the recurrence of seqlib.numpy.rnn reads

    a_t = x_t weight_ih^T + h_{t-1} weight_hh^T + bias_ih + bias_hh
    h_t = tanh(a_t)              (or relu(a_t), the other choice torch.nn offers)

Three ways to run it, all giving the same numbers:

- ``rnn_step``: one step, autograd does the backward (RNNCell, and what the chapter shows);
- ``rnn_layer_autograd``: ``rnn_step`` in a loop over time, input projection hoisted;
- ``rnn_layer``: the same loop as a torch.autograd.Function whose backward is
  seqlib.numpy.rnn.rnn_backward (BPTT by hand). Autograd records one node per layer instead
  of several per step, which is what makes the loop fast enough to train with.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from seqlib.torch.cell_parts import check_layer_args, project_inputs, previous_states, summed_bias, projection_grads
from seqlib.torch.precision import float32_backward, float32_forward
from seqlib.torch.stacked import CellMixin, StackedMixin, check_impl, last_step

NONLINEARITIES = ("tanh", "relu")


def _check_nonlinearity(nonlinearity: str) -> None:
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity is {nonlinearity!r}, expected one of {NONLINEARITIES}")


def _activate(a, nonlinearity, out=None):
    """h = tanh(a) or relu(a)."""
    if nonlinearity == "tanh":
        return torch.tanh(a, out=out)
    return torch.clamp(a, min=0, out=out)


# --------------------------------------------------------------------------------------
# The vanilla RNN
# --------------------------------------------------------------------------------------

def rnn_step(x, prev_h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One step of a vanilla RNN: next_h = tanh(x w_ih^T + prev_h w_hh^T + b_ih + b_hh).

    x: (N, D)  prev_h: (N, H)  w_ih: (H, D)  w_hh: (H, H)  b_ih, b_hh: (H,) or None
    Returns next_h (N, H). Autograd provides the backward.
    """
    a = x @ w_ih.t() + prev_h @ w_hh.t()  # a_t = x_t w_ih^T + h_{t-1} w_hh^T + b_ih + b_hh
    if b_ih is not None:
        a = a + b_ih + b_hh
    return _activate(a, nonlinearity)  # h_t = tanh(a_t)


def rnn_layer_autograd(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """rnn_step over a whole sequence, backward by autograd: the readable reference.

    x: (N, T, D)  h0: (N, H)  w_ih: (H, D)  w_hh: (H, H)  b_ih, b_hh: (H,) or None
    Returns h (N, T, H), the hidden state after every step.
    """
    _check_nonlinearity(nonlinearity)
    check_layer_args(x, {"h0": h0}, w_ih, w_hh, b_ih, b_hh, 1)
    xw = x @ w_ih.t()  # (N, T, H): the input projection does not depend on the recurrence
    if b_ih is not None:
        xw = xw + b_ih + b_hh
    hs, prev_h = [], h0
    for t in range(x.shape[1]):
        prev_h = _activate(xw[:, t] + prev_h @ w_hh.t(), nonlinearity)
        hs.append(prev_h)
    return torch.stack(hs, dim=1)


class RNNFunction(torch.autograd.Function):
    """rnn_layer with the backward of seqlib.numpy.rnn.rnn_backward (time-major inside)."""

    @staticmethod
    @float32_forward
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity):
        ctx.set_materialize_grads(False)
        xw = project_inputs(x, w_ih, summed_bias(b_ih, b_hh))  # x_t w_ih^T + b, (T, N, H)
        h = torch.empty_like(xw)
        w_hh_t, prev_h = w_hh.t(), h0
        for t in range(xw.shape[0]):
            a = xw[t].addmm_(prev_h, w_hh_t)  # a_t = x_t w_ih^T + b + h_{t-1} w_hh^T, in place
            prev_h = _activate(a, nonlinearity, out=h[t])  # h_t = tanh(a_t)
        ctx.save_for_backward(x, h0, w_ih, w_hh, h)
        ctx.nonlinearity = nonlinearity
        return h.transpose(0, 1)

    @staticmethod
    @float32_backward
    @once_differentiable
    def backward(ctx, dh):
        x, h0, w_ih, w_hh, h = ctx.saved_tensors
        if dh is None:
            return (None,) * 7
        dh = dh.transpose(0, 1)  # (T, N, H), from the layer above
        # dh_t/da_t written with the output h, all the cache keeps: 1 - h_t² (tanh), or 1 where a_t > 0
        dh_da = 1 - h * h if ctx.nonlinearity == "tanh" else (h > 0).to(h.dtype)
        da = torch.empty_like(h)
        T = h.shape[0]
        dh_t = dh[T - 1]  # all the gradient reaching h_T: there is no step after it
        for t in reversed(range(T)):
            torch.mul(dh_t, dh_da[t], out=da[t])  # da_t = dh_t ⊙ (1 - h_t²)
            if t > 0:
                dh_t = torch.addmm(dh[t - 1], da[t], w_hh)  # dh_{t-1} = dh_{t-1} from above + da_t w_hh
        needs = ctx.needs_input_grad[:6]
        dh0 = da[0] @ w_hh if needs[1] else None
        dx, dw_ih, dw_hh, db_ih, db_hh = projection_grads(needs, x, w_ih, previous_states(h0, h), da, da)
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None


def rnn_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """A vanilla RNN over a sequence, with a hand-written backward (BPTT).

    x: (N, T, D)  h0: (N, H)  w_ih: (H, D)  w_hh: (H, H)  b_ih, b_hh: (H,) or None
    Returns h (N, T, H). Same numbers as rnn_layer_autograd; not twice differentiable.
    """
    _check_nonlinearity(nonlinearity)
    check_layer_args(x, {"h0": h0}, w_ih, w_hh, b_ih, b_hh, 1)
    return RNNFunction.apply(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity)


class RNNCell(CellMixin, torch.nn.RNNCell):
    """torch.nn.RNNCell with impl="loop" (rnn_step) or "fused" (torch's kernel).

    input: (N, D)  hx: (N, H) or None  ->  h' (N, H)
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", impl="loop",
                 device=None, dtype=None):
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, nonlinearity, device=device, dtype=dtype)
        self.impl = check_impl(impl)

    def _step(self, x, h):
        return rnn_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)


class RNN(StackedMixin, torch.nn.RNN):
    """torch.nn.RNN, batch-first by default, with impl="loop" (ours) or "fused" (torch's).

    input: (N, T, D)  hx: (L * num_directions, N, H) or None  lengths: (N,) or None
    Returns output (N, T, num_directions * H) and h_n (L * num_directions, N, H).
    Parameters: weight_ih_l{k}[_reverse] (H, D or num_directions * H), weight_hh_l{k} (H, H),
    bias_ih_l{k}, bias_hh_l{k} (H,): torch.nn's names, so state dicts load both ways.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=True, dropout=0.0, bidirectional=False, impl="loop", device=None, dtype=None):
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, nonlinearity=nonlinearity, bias=bias,
                         batch_first=batch_first, dropout=dropout, bidirectional=bidirectional,
                         device=device, dtype=dtype)
        self._init_impl(impl)

    def _layer(self, x, h0, weights, last):
        h = RNNFunction.apply(x, h0, *weights, self.nonlinearity)
        return h, last_step(h, last)
