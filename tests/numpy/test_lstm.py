"""seqlib.numpy.lstm: gradients against finite differences, the equations, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlib.gradcheck import check_gradients
from seqlib.numpy import (
    lstm_backward,
    lstm_backward_with_cell,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
)

sizes = st.integers(1, 4)
seeds = st.integers(0, 2**32 - 1)
# Derandomized: the same examples on every machine and every run, so a check that passes
# in CI passes on a learner's laptop too.
checked = settings(max_examples=25, deadline=None, derandomize=True)


def params(rng, D, H):
    return rng.normal(size=(D, 4 * H)) * 0.5, rng.normal(size=(H, 4 * H)) * 0.5, rng.normal(size=4 * H) * 0.5


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


@checked
@given(N=sizes, D=sizes, H=sizes, seed=seeds)
def test_lstm_step_backward_matches_finite_differences(N, D, H, seed):
    rng = np.random.default_rng(seed)
    args = [rng.normal(size=(N, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H)), *params(rng, D, H)]
    next_h, next_c, cache = lstm_step_forward(*args)
    dnext_h, dnext_c = rng.normal(size=(N, H)), rng.normal(size=(N, H))
    grads = lstm_step_backward(dnext_h, dnext_c, cache)

    def both(*a):  # one output array, so one finite-difference pass checks both paths
        h, c, _ = lstm_step_forward(*a)
        return np.stack([h, c])

    errors = check_gradients(both, args, dict(enumerate(grads)), np.stack([dnext_h, dnext_c]))
    assert max(errors.values()) <= 1e-7, errors


@checked
@given(N=sizes, T=sizes, D=sizes, H=sizes, seed=seeds)
def test_lstm_backward_matches_finite_differences(N, T, D, H, seed):
    rng = np.random.default_rng(seed)
    args = [rng.normal(size=(N, T, D)), rng.normal(size=(N, H)), *params(rng, D, H)]
    h, cache = lstm_forward(*args)
    dh = rng.normal(size=h.shape)
    errors = check_gradients(lstm_forward, args, dict(enumerate(lstm_backward(dh, cache))), dh)
    assert max(errors.values()) <= 1e-6, errors


@checked
@given(N=sizes, T=sizes, H=sizes, seed=seeds)
def test_lstm_gradients_of_c0_and_final_cell_state(N, T, H, seed):
    rng = np.random.default_rng(seed)
    D = 2
    x, h0, c0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    Wx, Wh, b = params(rng, D, H)
    h, cache = lstm_forward(x, h0, Wx, Wh, b, c0=c0)
    dh, dc_last = rng.normal(size=h.shape), rng.normal(size=(N, H))
    dx, dh0, dc0, *_ = lstm_backward_with_cell(dh, cache, dc_last)

    def outputs(x, h0, c0):
        h, cache = lstm_forward(x, h0, Wx, Wh, b, c0=c0)
        return np.concatenate([h.ravel(), cache.c[:, -1].ravel()])  # h_t of every step, and c_T

    dout = np.concatenate([dh.ravel(), dc_last.ravel()])
    errors = check_gradients(outputs, [x, h0, c0], {0: dx, 1: dh0, 2: dc0}, dout)
    assert max(errors.values()) <= 1e-6, errors


def test_lstm_forward_follows_the_lecture_equations():
    rng = np.random.default_rng(0)
    N, T, D, H = 2, 4, 3, 5
    x, h0, c0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    Wx, Wh, b = params(rng, D, H)
    h, _ = lstm_forward(x, h0, Wx, Wh, b, c0=c0)
    h_zero_c0, _ = lstm_forward(x, h0, Wx, Wh, b)
    prev_h, prev_c, prev_h0, prev_c0 = h0, c0, h0, np.zeros((N, H))
    for t in range(T):
        for hh, cc, out in ((prev_h, prev_c, h), (prev_h0, prev_c0, h_zero_c0)):
            a = x[:, t] @ Wx + hh @ Wh + b
            i, f, o, g = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
            c_new = f * cc + i * g
            np.testing.assert_allclose(out[:, t], o * np.tanh(c_new), rtol=1e-12, atol=1e-14)
        prev_h, prev_c = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)[:2]
        prev_h0, prev_c0 = lstm_step_forward(x[:, t], prev_h0, prev_c0, Wx, Wh, b)[:2]


def test_lstm_caches_name_what_backward_reads():
    rng = np.random.default_rng(3)
    N, T, D, H = 2, 3, 4, 5
    x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
    Wx, Wh, b = params(rng, D, H)
    h, cache = lstm_forward(x, h0, Wx, Wh, b)
    prev_h, prev_c = h0, np.zeros((N, H))
    for t in range(T):
        prev_h, prev_c, step = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        np.testing.assert_allclose(cache.c[:, t], prev_c, rtol=1e-12)
        np.testing.assert_allclose(cache.gates[:, t], step.gates, rtol=1e-12)
        np.testing.assert_allclose(cache.tanh_c[:, t], np.tanh(prev_c), rtol=1e-12)
        i, f, o, g = np.split(step.gates, 4, axis=1)
        assert ((i > 0) & (i < 1) & (f > 0) & (f < 1) & (o > 0) & (o < 1)).all(), "i, f, o are sigmoids"
        np.testing.assert_allclose(step.prev_c * f + i * g, prev_c, rtol=1e-12)
    assert cache.h is h and cache.c0.shape == (N, H) and not cache.c0.any(), "c0 = 0 when None"
    x_, h0_, c0_, *_ = cache  # a named tuple still unpacks like the old tuple
    assert x_ is x and h0_ is h0


def test_lstm_is_stable_for_huge_preactivations_and_keeps_float32():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 2)).astype(np.float32)
    Wx = (rng.normal(size=(2, 8)) * 1e4).astype(np.float32)
    zeros = np.zeros((2, 2), np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        h, cache = lstm_forward(x, zeros, Wx, np.zeros((2, 8), np.float32), np.zeros(8, np.float32))
        grads = lstm_backward(np.ones_like(h), cache)
    assert h.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    assert np.isfinite(h).all() and all(np.isfinite(g).all() for g in grads)


def good_args():
    return dict(x=np.zeros((2, 3, 4)), h0=np.zeros((2, 5)), Wx=np.zeros((4, 20)), Wh=np.zeros((5, 20)), b=np.zeros(20))


@pytest.mark.parametrize(
    "name, value, match",
    [
        ("x", np.zeros((2, 3)), r"x has shape \(2, 3\), expected 3 dimensions \(N, T, D\)"),
        ("x", np.zeros((2, 0, 4)), r"x has shape \(2, 0, 4\): every dimension"),
        ("x", np.zeros((2, 3, 4), dtype=np.int32), r"x has dtype int32, expected a floating-point array"),
        ("Wx", np.zeros((4, 18)), r"Wx has shape \(4, 18\), expected \(D, 4H\) = \(4, \?\)"),
        ("h0", np.zeros((2, 6)), r"h0 has shape \(2, 6\), expected \(N, H\) = \(2, 5\)"),
        ("Wh", np.zeros((5, 5)), r"Wh has shape \(5, 5\), expected \(H, 4H\) = \(5, 20\)"),
        ("b", np.zeros(5), r"b has shape \(5,\), expected \(4H,\) = \(20,\)"),
        ("b", np.full(20, np.inf), r"b contains NaN or infinity"),
        ("c0", np.zeros((3, 5)), r"c0 has shape \(3, 5\), expected \(N, H\) = \(2, 5\)"),
    ],
)
def test_lstm_forward_rejects_bad_input(name, value, match):
    args = good_args()
    args[name] = value
    with pytest.raises(ValueError, match=match):
        lstm_forward(**args)


def test_lstm_step_and_backward_reject_bad_input():
    a = good_args()
    with pytest.raises(ValueError, match=r"prev_c has shape \(2, 4\), expected \(N, H\) = \(2, 5\)"):
        lstm_step_forward(a["x"][:, 0], a["h0"], np.zeros((2, 4)), a["Wx"], a["Wh"], a["b"])
    _, _, cache = lstm_step_forward(a["x"][:, 0], a["h0"], a["h0"], a["Wx"], a["Wh"], a["b"])
    with pytest.raises(ValueError, match=r"dnext_c has shape \(5,\), expected \(N, H\) = \(2, 5\)"):
        lstm_step_backward(a["h0"], np.zeros(5), cache)
    _, cache = lstm_forward(**a)
    with pytest.raises(ValueError, match=r"dh has shape \(2, 5\), expected \(N, T, H\) = \(2, 3, 5\)"):
        lstm_backward(np.zeros((2, 5)), cache)


def test_lstm_keeps_float32_in_every_output_and_cache_array():
    """No silent upcast: float32 in, float32 in the cache, out and in every gradient."""
    rng = np.random.default_rng(1)
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    x, h0, c0 = f32(rng.normal(size=(3, 4, 2))), f32(rng.normal(size=(3, 5))), f32(rng.normal(size=(3, 5)))
    Wx, Wh, b = (f32(p) for p in params(rng, 2, 5))
    h, cache = lstm_forward(x, h0, Wx, Wh, b, c0=c0)
    grads = lstm_backward_with_cell(f32(rng.normal(size=h.shape)), cache, f32(rng.normal(size=(3, 5))))
    arrays = [a for a in cache if isinstance(a, np.ndarray)]
    assert h.dtype == np.float32 and all(a.dtype == np.float32 for a in arrays)
    assert [g.dtype for g in grads] == [np.float32] * 6
    next_h, next_c, step = lstm_step_forward(x[:, 0], h0, c0, Wx, Wh, b)
    step_grads = lstm_step_backward(next_h, next_c, step)
    assert next_c.dtype == step.gates.dtype == np.float32 and all(g.dtype == np.float32 for g in step_grads)


@pytest.mark.parametrize("N,T", [(1, 1), (1, 4), (3, 1), (3, 4)])
def test_lstm_leaves_its_inputs_and_cache_alone(N, T):
    """The loops work in place on their own buffers only; backward can be called twice."""
    rng = np.random.default_rng(2)
    x, h0, c0 = rng.normal(size=(N, T, 2)), rng.normal(size=(N, 5)), rng.normal(size=(N, 5))
    Wx, Wh, b = params(rng, 2, 5)
    dh, dc_last = rng.normal(size=(N, T, 5)), rng.normal(size=(N, 5))
    inputs = (x, h0, c0, Wx, Wh, b, dh, dc_last)
    before = [a.copy() for a in inputs]
    h, cache = lstm_forward(x, h0, Wx, Wh, b, c0=c0)
    cache_before = [a.copy() for a in cache]
    first = lstm_backward_with_cell(dh, cache, dc_last)
    second = lstm_backward_with_cell(dh, cache, dc_last)
    for a, a0 in zip(inputs, before):
        np.testing.assert_array_equal(a, a0)
    for a, a0 in zip(cache, cache_before):
        np.testing.assert_array_equal(a, a0)
    for g1, g2 in zip(first, second):
        np.testing.assert_array_equal(g1, g2)
    next_h, next_c, step = lstm_step_forward(x[:, 0], h0, c0, Wx, Wh, b)
    dnext_c = rng.normal(size=(N, 5))
    dnext_c0 = dnext_c.copy()
    lstm_step_backward(next_h, dnext_c, step)
    np.testing.assert_array_equal(dnext_c, dnext_c0)


def test_lstm_backward_reads_a_batch_first_cache_too():
    """The cache's arrays are views of time-major buffers; plain (N, T, ·) arrays in their
    place give the same gradients (they are copied time-major)."""
    rng = np.random.default_rng(3)
    x, h0 = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 5))
    h, cache = lstm_forward(x, h0, *params(rng, 2, 5))
    assert h.shape == (3, 4, 5) and h.transpose(1, 0, 2).flags.c_contiguous
    dh = rng.normal(size=h.shape)
    plain = cache._replace(**{k: np.ascontiguousarray(getattr(cache, k)) for k in ("gates", "c", "tanh_c", "h")})
    for g, g_plain in zip(lstm_backward(dh, cache), lstm_backward(dh, plain)):
        np.testing.assert_allclose(g, g_plain, rtol=1e-13, atol=1e-13)
