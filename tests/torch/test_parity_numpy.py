"""seqlib.torch against seqlib.numpy in float64: the same equations, the same numbers (<= 1e-10).

The weights cross between the two layouts through seqlib.numpy.convert (transposes, gate
order, torch's two biases), the one place where the layouts meet.
"""

import numpy as np
import pytest
import torch

import seqlib.numpy.rnn as np_rnn
import seqlib.torch as st
from torch_helpers import assert_close
from seqlib.numpy.convert import from_torch_state_dict, to_torch_state_dict
from seqlib.numpy.stacked import stacked_backward, stacked_forward

N, T, D, H = 3, 5, 4, 6
TOL = 1e-10


@pytest.mark.parametrize("impl", ["loop", "fused"])
def test_rnn_layer_matches_numpy(impl):
    m = st.RNN(D, H, impl=impl, dtype=torch.float64)
    x = torch.randn(N, T, D, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, N, H, dtype=torch.float64, requires_grad=True)
    dh = torch.randn(N, T, H, dtype=torch.float64)
    out, _ = m(x, h0)
    out.backward(dh)

    w_ih, w_hh = m.weight_ih_l0.detach().numpy(), m.weight_hh_l0.detach().numpy()
    b = (m.bias_ih_l0 + m.bias_hh_l0).detach().numpy()
    h, cache = np_rnn.rnn_forward(x.detach().numpy(), h0[0].detach().numpy(), w_ih.T, w_hh.T, b)
    dx, dh0, dWx, dWh, db = np_rnn.rnn_backward(dh.numpy(), cache)

    assert_close("h", out.detach(), torch.from_numpy(h), TOL)
    assert_close("dx", x.grad, torch.from_numpy(dx), TOL)
    assert_close("dh0", h0.grad[0], torch.from_numpy(dh0), TOL)
    assert_close("dWx = weight_ih.grad^T", m.weight_ih_l0.grad.T, torch.from_numpy(dWx), TOL)
    assert_close("dWh = weight_hh.grad^T", m.weight_hh_l0.grad.T, torch.from_numpy(dWh), TOL)
    # b = bias_ih + bias_hh, so each torch bias receives all of db.
    assert_close("db = bias_ih.grad", m.bias_ih_l0.grad, torch.from_numpy(db), TOL)
    assert_close("db = bias_hh.grad", m.bias_hh_l0.grad, torch.from_numpy(db), TOL)


def test_rnn_step_matches_numpy():
    x, h = torch.randn(N, D, dtype=torch.float64), torch.randn(N, H, dtype=torch.float64)
    w_ih, w_hh = torch.randn(H, D, dtype=torch.float64), torch.randn(H, H, dtype=torch.float64)
    b_ih, b_hh = torch.randn(H, dtype=torch.float64), torch.randn(H, dtype=torch.float64)
    want, _ = np_rnn.rnn_step_forward(x.numpy(), h.numpy(), w_ih.T.numpy(), w_hh.T.numpy(), (b_ih + b_hh).numpy())
    assert_close("next_h", st.rnn_step(x, h, w_ih, w_hh, b_ih, b_hh), torch.from_numpy(want), TOL)


@pytest.mark.parametrize("impl", ["loop", "fused"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_stacked_bidirectional_matches_numpy(cell, impl):
    """Two layers, both directions: outputs, final states and every gradient."""
    m = st.make_rnn(cell, D, H, num_layers=2, bidirectional=True, impl=impl, dtype=torch.float64)
    x = torch.randn(N, T, D, dtype=torch.float64, requires_grad=True)
    n_states = 2 if cell == "lstm" else 1
    hx = [torch.randn(4, N, H, dtype=torch.float64, requires_grad=True) for _ in range(n_states)]
    dout = torch.randn(N, T, 2 * H, dtype=torch.float64)
    dfinal = [torch.randn(4, N, H, dtype=torch.float64) for _ in range(n_states)]

    out, final = m(x, tuple(hx) if cell == "lstm" else hx[0])
    finals = final if cell == "lstm" else (final,)
    torch.autograd.backward([out, *finals], [dout, *dfinal])

    params = from_torch_state_dict(m.state_dict(), cell)
    kw = {"reset": "after"} if cell == "gru" else {}
    c0 = hx[1].detach().numpy() if cell == "lstm" else None
    h, np_final, cache = stacked_forward(x.detach().numpy(), hx[0].detach().numpy(), params, cell=cell,
                                         bidirectional=True, c0=c0, **kw)
    dstate = tuple(d.numpy() for d in dfinal) if cell == "lstm" else dfinal[0].numpy()
    dx, dstate0, dparams = stacked_backward(dout.numpy(), cache, dstate)

    assert_close("output", out.detach(), torch.from_numpy(h), TOL)
    np_finals = np_final if cell == "lstm" else (np_final,)
    for k, (a, b) in enumerate(zip(finals, np_finals)):
        assert_close(f"final state {k}", a.detach(), torch.from_numpy(b), TOL)
    assert_close("dx", x.grad, torch.from_numpy(dx), TOL)
    np_dstate0 = dstate0 if cell == "lstm" else (dstate0,)
    for k, (a, b) in enumerate(zip(hx, np_dstate0)):
        assert_close(f"initial state {k} gradient", a.grad, torch.from_numpy(b), TOL)
    want = to_torch_state_dict(dparams, cell, gradients=True)
    for name, p in m.named_parameters():
        assert_close(f"{name}.grad", p.grad, torch.from_numpy(np.ascontiguousarray(want[name])), TOL)
