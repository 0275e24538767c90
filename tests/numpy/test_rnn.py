"""seqlib.numpy.rnn: gradients against finite differences, the loop against the step, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlib.gradcheck import check_gradients
from seqlib.numpy import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward

sizes = st.integers(1, 4)
seeds = st.integers(0, 2**32 - 1)
# Derandomized: the same examples on every machine and every run, so a check that passes
# in CI passes on a learner's laptop too.
checked = settings(max_examples=25, deadline=None, derandomize=True)
nonlinearities = st.sampled_from(["tanh", "relu", "sigmoid"])


def params(rng, D, H):
    return rng.normal(size=(D, H)) * 0.5, rng.normal(size=(H, H)) * 0.5, rng.normal(size=H)


@checked
@given(N=sizes, D=sizes, H=sizes, seed=seeds, nonlinearity=nonlinearities)
def test_rnn_step_backward_matches_finite_differences(N, D, H, seed, nonlinearity):
    rng = np.random.default_rng(seed)
    x, prev_h = rng.normal(size=(N, D)), rng.normal(size=(N, H))
    args = [x, prev_h, *params(rng, D, H)]
    out, cache = rnn_step_forward(*args, nonlinearity=nonlinearity)
    dout = rng.normal(size=out.shape)
    grads = rnn_step_backward(dout, cache)
    f = lambda *a: rnn_step_forward(*a, nonlinearity=nonlinearity)  # noqa: E731
    errors = check_gradients(f, args, dict(enumerate(grads)), dout)
    assert max(errors.values()) <= 1e-7, errors


@checked
@given(N=sizes, T=sizes, D=sizes, H=sizes, seed=seeds, nonlinearity=nonlinearities)
def test_rnn_backward_matches_finite_differences(N, T, D, H, seed, nonlinearity):
    rng = np.random.default_rng(seed)
    args = [rng.normal(size=(N, T, D)), rng.normal(size=(N, H)), *params(rng, D, H)]
    out, cache = rnn_forward(*args, nonlinearity=nonlinearity)
    dout = rng.normal(size=out.shape)
    grads = rnn_backward(dout, cache)
    f = lambda *a: rnn_forward(*a, nonlinearity=nonlinearity)  # noqa: E731
    errors = check_gradients(f, args, dict(enumerate(grads)), dout)
    assert max(errors.values()) <= 1e-6, errors


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu", "sigmoid"])
def test_rnn_forward_is_the_step_repeated(nonlinearity):
    rng = np.random.default_rng(0)
    x, h0 = rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 4))
    Wx, Wh, b = params(rng, 2, 4)
    h, _ = rnn_forward(x, h0, Wx, Wh, b, nonlinearity)
    prev = h0
    for t in range(5):
        prev, _ = rnn_step_forward(x[:, t], prev, Wx, Wh, b, nonlinearity)
        np.testing.assert_allclose(h[:, t], prev, rtol=1e-12, atol=1e-12)


def test_rnn_step_forward_worked_case():
    # tanh(1*0.5 + 1*(-1) + 0.5) = tanh(0) = 0; tanh(2*0.5 + 0 + 0.5) = tanh(1.5)
    x = np.array([[1.0], [2.0]])
    prev_h = np.array([[1.0], [0.0]])
    next_h, _ = rnn_step_forward(x, prev_h, np.array([[0.5]]), np.array([[-1.0]]), np.array([0.5]))
    np.testing.assert_allclose(next_h, [[0.0], [np.tanh(1.5)]], atol=1e-15)


def test_rnn_sigmoid_is_stable_for_huge_preactivations():
    x = np.array([[[1.0]]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        h, _ = rnn_forward(x, np.zeros((1, 1)), np.array([[1e4]]), np.zeros((1, 1)), np.zeros(1), "sigmoid")
        h2, _ = rnn_forward(-x, np.zeros((1, 1)), np.array([[1e4]]), np.zeros((1, 1)), np.zeros(1), "sigmoid")
    assert h[0, 0, 0] == 1.0 and h2[0, 0, 0] == 0.0


def good_args():
    rng = np.random.default_rng(1)
    return dict(x=rng.normal(size=(2, 3, 4)), h0=np.zeros((2, 5)), Wx=np.zeros((4, 5)),
                Wh=np.zeros((5, 5)), b=np.zeros(5))


@pytest.mark.parametrize(
    "name, value, match",
    [
        ("x", np.zeros((2, 4)), r"x has shape \(2, 4\), expected 3 dimensions \(N, T, D\)"),
        ("x", np.zeros((2, 0, 4)), r"x has shape \(2, 0, 4\): every dimension"),
        ("x", np.zeros((2, 3, 4), dtype=int), r"x has dtype int64, expected a floating-point array"),
        ("h0", np.zeros((3, 5)), r"h0 has shape \(3, 5\), expected \(N, H\) = \(2, 5\)"),
        ("h0", np.full((2, 5), np.nan), r"h0 contains NaN"),
        ("Wh", np.zeros((5, 4)), r"Wh has shape \(5, 4\), expected \(H, H\) = \(5, 5\)"),
        ("b", np.zeros(4), r"b has shape \(4,\), expected \(H,\) = \(5,\)"),
    ],
)
def test_rnn_forward_rejects_bad_input(name, value, match):
    args = good_args()
    args[name] = value
    with pytest.raises(ValueError, match=match):
        rnn_forward(**args)


def test_rnn_rejects_unknown_nonlinearity_and_bad_upstream_gradients():
    args = good_args()
    with pytest.raises(ValueError, match=r"nonlinearity is 'softplus', expected one of \('tanh', 'relu', 'sigmoid'\)"):
        rnn_forward(**args, nonlinearity="softplus")
    h, cache = rnn_forward(**args)
    with pytest.raises(ValueError, match=r"dh has shape \(2, 3, 4\), expected \(N, T, H\) = \(2, 3, 5\)"):
        rnn_backward(np.zeros((2, 3, 4)), cache)
    with pytest.raises(ValueError, match=r"prev_h has shape \(2, 4\), expected \(N, H\) = \(2, 5\)"):
        rnn_step_forward(args["x"][:, 0], np.zeros((2, 4)), args["Wx"], args["Wh"], args["b"])


@pytest.mark.parametrize("N,T,D,H", [(1, 1, 1, 1), (3, 7, 4, 5)])
def test_rnn_matches_torch_nn_rnn_outputs_and_gradients(N, T, D, H):
    """One layer, the same weights: torch's W_ih is our Wx transposed, its two biases are our b."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
    Wx, Wh, b = params(rng, D, H)
    ref = torch.nn.RNN(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.from_numpy(Wx.T))
        ref.weight_hh_l0.copy_(torch.from_numpy(Wh.T))
        ref.bias_ih_l0.copy_(torch.from_numpy(b))
        ref.bias_hh_l0.zero_()
    tx = torch.from_numpy(x).requires_grad_()
    th0 = torch.from_numpy(h0[None]).requires_grad_()
    out, _ = ref(tx, th0)
    dh = rng.normal(size=(N, T, H))
    out.backward(torch.from_numpy(dh))

    h, cache = rnn_forward(x, h0, Wx, Wh, b)
    dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)
    np.testing.assert_allclose(h, out.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dh0, th0.grad[0].numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dWx, ref.weight_ih_l0.grad.numpy().T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(dWh, ref.weight_hh_l0.grad.numpy().T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(db, ref.bias_ih_l0.grad.numpy(), rtol=0, atol=1e-12)


def test_rnn_caches_are_named_and_still_unpack():
    args = good_args()
    h, cache = rnn_forward(**args, nonlinearity="sigmoid")
    assert cache.h is h and cache.h0 is args["h0"] and cache.nonlinearity == "sigmoid"
    x, h0, Wx, Wh, h_, nonlinearity = cache  # the old tuple order
    assert x is args["x"] and h_ is h
    next_h, step = rnn_step_forward(args["x"][:, 0], args["h0"], args["Wx"], args["Wh"], args["b"])
    assert step.next_h is next_h and step.prev_h is args["h0"] and step._fields[0] == "x"


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu", "sigmoid"])
def test_rnn_keeps_float32_in_every_output_and_cache_array(nonlinearity):
    """No silent upcast: float32 in, float32 in the cache, out and in every gradient."""
    rng = np.random.default_rng(1)
    x, h0 = rng.normal(size=(3, 4, 2)).astype(np.float32), rng.normal(size=(3, 5)).astype(np.float32)
    Wx, Wh, b = (p.astype(np.float32) for p in params(rng, 2, 5))
    h, cache = rnn_forward(x, h0, Wx, Wh, b, nonlinearity)
    grads = rnn_backward(rng.normal(size=h.shape).astype(np.float32), cache)
    assert h.dtype == np.float32 and cache.h.dtype == np.float32
    assert [g.dtype for g in grads] == [np.float32] * 5
    step_h, step_cache = rnn_step_forward(x[:, 0], h0, Wx, Wh, b, nonlinearity)
    assert step_h.dtype == np.float32 and all(g.dtype == np.float32 for g in rnn_step_backward(step_h, step_cache))


@pytest.mark.parametrize("N,T", [(1, 1), (1, 4), (3, 1), (3, 4)])
def test_rnn_leaves_its_inputs_and_cache_alone(N, T):
    """The loops work in place on their own buffers only; backward can be called twice."""
    rng = np.random.default_rng(2)
    x, h0 = rng.normal(size=(N, T, 2)), rng.normal(size=(N, 5))
    Wx, Wh, b = params(rng, 2, 5)
    dh = rng.normal(size=(N, T, 5))
    before = [a.copy() for a in (x, h0, Wx, Wh, b, dh)]
    h, cache = rnn_forward(x, h0, Wx, Wh, b)
    h_before = h.copy()
    first = rnn_backward(dh, cache)
    second = rnn_backward(dh, cache)
    for a, a0 in zip((x, h0, Wx, Wh, b, dh), before):
        np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(h, h_before)
    for g1, g2 in zip(first, second):
        np.testing.assert_array_equal(g1, g2)


def test_rnn_backward_reads_a_batch_first_cache_too():
    """h is a view of a time-major buffer; a cache holding a plain (N, T, H) array gives the
    same gradients (it is copied time-major)."""
    rng = np.random.default_rng(3)
    x, h0 = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 5))
    h, cache = rnn_forward(x, h0, *params(rng, 2, 5))
    assert h.shape == (3, 4, 5) and not h.flags.c_contiguous and h.transpose(1, 0, 2).flags.c_contiguous
    dh = rng.normal(size=h.shape)
    plain = cache._replace(h=np.ascontiguousarray(h))
    for g, g_plain in zip(rnn_backward(dh, cache), rnn_backward(dh, plain)):
        np.testing.assert_allclose(g, g_plain, rtol=1e-13, atol=1e-13)
