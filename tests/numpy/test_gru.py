"""seqlib.numpy.gru: both reset placements against finite differences and their equations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlib.gradcheck import check_gradients
from seqlib.numpy import gru_backward, gru_forward, gru_step_backward, gru_step_forward

sizes = st.integers(1, 4)
seeds = st.integers(0, 2**32 - 1)
# Derandomized: the same examples on every machine and every run, so a check that passes
# in CI passes on a learner's laptop too.
checked = settings(max_examples=25, deadline=None, derandomize=True)
resets = st.sampled_from(["before", "after"])


def params(rng, D, H, reset):
    nb = 3 * H if reset == "before" else 4 * H
    return rng.normal(size=(D, 3 * H)) * 0.5, rng.normal(size=(H, 3 * H)) * 0.5, rng.normal(size=nb) * 0.5


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def reference_step(x, h, Wx, Wh, b, reset):
    """The module docstring's equations, written out one gate at a time."""
    H = h.shape[1]
    Wxz, Wxr, Wxh = np.split(Wx, 3, axis=1)
    Whz, Whr, Whh = np.split(Wh, 3, axis=1)
    z = sigmoid(x @ Wxz + h @ Whz + b[:H])
    r = sigmoid(x @ Wxr + h @ Whr + b[H:2 * H])
    if reset == "before":
        cand = np.tanh(x @ Wxh + (r * h) @ Whh + b[2 * H:])
    else:
        cand = np.tanh(x @ Wxh + b[2 * H:3 * H] + r * (h @ Whh + b[3 * H:]))
    return (1 - z) * h + z * cand


@checked
@given(N=sizes, D=sizes, H=sizes, seed=seeds, reset=resets)
def test_gru_step_backward_matches_finite_differences(N, D, H, seed, reset):
    rng = np.random.default_rng(seed)
    args = [rng.normal(size=(N, D)), rng.normal(size=(N, H)), *params(rng, D, H, reset)]
    next_h, cache = gru_step_forward(*args, reset=reset)
    np.testing.assert_allclose(next_h, reference_step(*args, reset), rtol=1e-12, atol=1e-14)
    dnext_h = rng.normal(size=next_h.shape)
    grads = gru_step_backward(dnext_h, cache)
    f = lambda *a: gru_step_forward(*a, reset=reset)  # noqa: E731
    errors = check_gradients(f, args, dict(enumerate(grads)), dnext_h)
    assert max(errors.values()) <= 1e-7, errors


@checked
@given(N=sizes, T=sizes, D=sizes, H=sizes, seed=seeds, reset=resets)
def test_gru_backward_matches_finite_differences(N, T, D, H, seed, reset):
    rng = np.random.default_rng(seed)
    args = [rng.normal(size=(N, T, D)), rng.normal(size=(N, H)), *params(rng, D, H, reset)]
    h, cache = gru_forward(*args, reset=reset)
    dh = rng.normal(size=h.shape)
    grads = gru_backward(dh, cache)
    assert grads[4].shape == args[4].shape
    f = lambda *a: gru_forward(*a, reset=reset)  # noqa: E731
    errors = check_gradients(f, args, dict(enumerate(grads)), dh)
    assert max(errors.values()) <= 1e-6, errors


@pytest.mark.parametrize("reset", ["before", "after"])
def test_gru_forward_is_the_reference_step_repeated_and_its_cache_names_the_gates(reset):
    rng = np.random.default_rng(0)
    N, T, D, H = 3, 5, 2, 4
    x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
    Wx, Wh, b = params(rng, D, H, reset)
    h, cache = gru_forward(x, h0, Wx, Wh, b, reset=reset)
    assert cache.reset == reset and cache.h is h
    prev = h0
    for t in range(T):
        z, r, cand = np.split(cache.gates[:, t], 3, axis=1)
        np.testing.assert_allclose(h[:, t], (1 - z) * prev + z * cand, rtol=1e-12)
        # what the reset gate acts with: r ⊙ h before the product, h Whh + b_hn after it
        want = r * prev if reset == "before" else prev @ Wh[:, 2 * H:] + b[3 * H:]
        np.testing.assert_allclose(cache.reset_in[:, t], want, rtol=1e-12)
        prev = reference_step(x[:, t], prev, Wx, Wh, b, reset)
        np.testing.assert_allclose(h[:, t], prev, rtol=1e-12, atol=1e-14)


def test_gru_reset_placement_matters():
    # With b_hn = 0 the two variants differ only by where r multiplies: (r ⊙ h) Whh vs r ⊙ (h Whh).
    rng = np.random.default_rng(0)
    x, h0 = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 4))
    Wx, Wh, b = params(rng, 2, 4, "before")
    before, _ = gru_forward(x, h0, Wx, Wh, b)
    after, _ = gru_forward(x, h0, Wx, Wh, np.concatenate([b, np.zeros(4)]), reset="after")
    assert np.abs(before - after).max() > 1e-3


def good_args():
    return dict(x=np.zeros((2, 3, 4)), h0=np.zeros((2, 5)), Wx=np.zeros((4, 15)), Wh=np.zeros((5, 15)), b=np.zeros(15))


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(x=np.zeros((2, 3, 4, 1))), r"x has shape \(2, 3, 4, 1\), expected 3 dimensions \(N, T, D\)"),
        (dict(x=np.zeros((2, 0, 4))), r"x has shape \(2, 0, 4\): every dimension"),
        (dict(h0=np.zeros((2, 5), dtype=bool)), r"h0 has dtype bool, expected a floating-point array"),
        (dict(Wh=np.zeros((5, 20))), r"Wh has shape \(5, 20\), expected \(H, 3H\) = \(5, 15\)"),
        (dict(b=np.zeros(20)), r"b has shape \(20,\), expected \(3H,\) = \(15,\)"),
        (dict(reset="after"), r"b has shape \(15,\), expected \(4H,\) = \(20,\)"),
        (dict(reset="middle"), r"reset is 'middle', expected one of \('before', 'after'\)"),
        (dict(x=np.full((2, 3, 4), np.nan)), r"x contains NaN"),
    ],
)
def test_gru_forward_rejects_bad_input(changes, match):
    args = good_args() | changes
    with pytest.raises(ValueError, match=match):
        gru_forward(**args)


def test_gru_step_and_backward_reject_bad_input():
    a = good_args()
    with pytest.raises(ValueError, match=r"prev_h has shape \(3, 5\), expected \(N, H\) = \(2, 5\)"):
        gru_step_forward(a["x"][:, 0], np.zeros((3, 5)), a["Wx"], a["Wh"], a["b"])
    _, cache = gru_step_forward(a["x"][:, 0], a["h0"], a["Wx"], a["Wh"], a["b"])
    with pytest.raises(ValueError, match=r"dnext_h has shape \(2, 4\), expected \(N, H\) = \(2, 5\)"):
        gru_step_backward(np.zeros((2, 4)), cache)
    _, cache = gru_forward(**a)
    with pytest.raises(ValueError, match=r"dh has shape \(2, 3, 4\), expected \(N, T, H\) = \(2, 3, 5\)"):
        gru_backward(np.zeros((2, 3, 4)), cache)

