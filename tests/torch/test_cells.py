"""The hand-written backward passes (rnn/lstm/gru_layer) and the autograd cells, by gradcheck.

Finite differences in float64 are the ground truth, as in tests/numpy; the layer functions
must also give the same numbers as their readable autograd versions.
"""

import pytest
import torch

import seqlib.torch as st
from torch_helpers import assert_close

N, T, D, H = 2, 4, 3, 5
f64 = dict(dtype=torch.float64)


def args(gates, bias=True, states=1):
    """x (N, T, D), states (N, H), w_ih (gates*H, D), w_hh (gates*H, H), biases, all requiring grad."""
    tensors = [torch.randn(N, T, D, **f64)] + [torch.randn(N, H, **f64) for _ in range(states)]
    tensors += [torch.randn(gates * H, D, **f64) * 0.5, torch.randn(gates * H, H, **f64) * 0.5]
    tensors += [torch.randn(gates * H, **f64), torch.randn(gates * H, **f64)] if bias else [None, None]
    return [t.requires_grad_() if t is not None else None for t in tensors]


LAYERS = {
    "rnn_tanh": (lambda *a: st.rnn_layer(*a, nonlinearity="tanh"),
                 lambda *a: st.rnn_layer_autograd(*a, nonlinearity="tanh"), 1, 1),
    "rnn_relu": (lambda *a: st.rnn_layer(*a, nonlinearity="relu"),
                 lambda *a: st.rnn_layer_autograd(*a, nonlinearity="relu"), 1, 1),
    "lstm": (st.lstm_layer, st.lstm_layer_autograd, 4, 2),
    "gru": (st.gru_layer, st.gru_layer_autograd, 3, 1),
}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(LAYERS))
def test_layer_backward_by_gradcheck(kind, bias):
    fast, _, gates, states = LAYERS[kind]
    a = args(gates, bias, states)
    # relu: with random inputs no pre-activation lies within eps of the kink at 0
    assert torch.autograd.gradcheck(fast, tuple(a), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_layer_function_matches_its_autograd_version(kind):
    fast, slow, gates, states = LAYERS[kind]
    a = args(gates, True, states)
    outs_fast, outs_slow = fast(*a), slow(*a)
    outs_fast = outs_fast if isinstance(outs_fast, tuple) else (outs_fast,)
    outs_slow = outs_slow if isinstance(outs_slow, tuple) else (outs_slow,)
    ups = [torch.randn_like(o) for o in outs_fast]
    g_fast = torch.autograd.grad(outs_fast, a, ups)
    g_slow = torch.autograd.grad(outs_slow, a, ups)
    for k, (o1, o2) in enumerate(zip(outs_fast, outs_slow)):
        assert_close(f"output {k}", o1, o2, 1e-12)
    for k, (g1, g2) in enumerate(zip(g_fast, g_slow)):
        assert_close(f"gradient of argument {k}", g1, g2, 1e-12)


def test_lstm_backward_with_gradient_on_c_only():
    a = args(4, True, 2)
    _, c = st.lstm_layer(*a)
    g = torch.autograd.grad(c[:, -1].sum(), a)
    _, c2 = st.lstm_layer_autograd(*a)
    g2 = torch.autograd.grad(c2[:, -1].sum(), a)
    for k, (x, y) in enumerate(zip(g, g2)):
        assert_close(f"gradient of argument {k}", x, y, 1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_loop_cells_by_gradcheck(cell):
    module = {"rnn": st.RNNCell, "lstm": st.LSTMCell, "gru": st.GRUCell}[cell](D, H, impl="loop", **f64)
    x = torch.randn(N, D, **f64, requires_grad=True)
    h = torch.randn(N, H, **f64, requires_grad=True)
    c = torch.randn(N, H, **f64, requires_grad=True)
    params = tuple(module.parameters())

    names = [n for n, _ in module.named_parameters()]

    def f(x, h, c, *p):
        return torch.func.functional_call(module, dict(zip(names, p)), (x, (h, c) if cell == "lstm" else h))

    assert torch.autograd.gradcheck(f, (x, h, c, *params), eps=1e-6, atol=1e-7)


def test_stacked_loop_gradcheck_with_lengths():
    """The whole loop path (two layers, both directions, masks) against finite differences."""
    m = st.LSTM(D, 3, num_layers=2, bidirectional=True, **f64)
    names = [n for n, _ in m.named_parameters()]
    x = torch.randn(N, T, D, **f64, requires_grad=True)
    lengths = torch.tensor([T, 2])

    def f(x, *p):
        out, (h_n, c_n) = torch.func.functional_call(m, dict(zip(names, p)), (x,), {"lengths": lengths})
        return out, h_n, c_n

    assert torch.autograd.gradcheck(f, (x, *m.parameters()), eps=1e-6, atol=1e-7)
