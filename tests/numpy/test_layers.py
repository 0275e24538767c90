"""seqlib.numpy.layers: embedding, temporal affine and temporal softmax loss."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlib.gradcheck import check_gradients
from seqlib.numpy import (
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)

sizes = st.integers(1, 4)
seeds = st.integers(0, 2**32 - 1)
# Derandomized: the same examples on every machine and every run, so a check that passes
# in CI passes on a learner's laptop too.
checked = settings(max_examples=25, deadline=None, derandomize=True)


@checked
@given(N=sizes, T=sizes, V=sizes, D=sizes, seed=seeds)
def test_word_embedding_backward_matches_finite_differences(N, T, V, D, seed):
    rng = np.random.default_rng(seed)
    x, W = rng.integers(0, V, size=(N, T)), rng.normal(size=(V, D))
    out, cache = word_embedding_forward(x, W)
    np.testing.assert_array_equal(out, W[x])
    dout = rng.normal(size=out.shape)
    errors = check_gradients(lambda W: word_embedding_forward(x, W), [W], {0: word_embedding_backward(dout, cache)}, dout)
    assert errors[0] <= 1e-7, errors


def test_word_embedding_backward_accumulates_repeated_tokens():
    x = np.array([[2, 2, 0]])
    _, cache = word_embedding_forward(x, np.zeros((4, 2)))
    dW = word_embedding_backward(np.array([[[1.0, 2.0], [10.0, 20.0], [5.0, 5.0]]]), cache)
    np.testing.assert_array_equal(dW, [[5, 5], [0, 0], [11, 22], [0, 0]])


@checked
@given(N=sizes, T=sizes, D=sizes, M=sizes, seed=seeds)
def test_temporal_affine_backward_matches_finite_differences(N, T, D, M, seed):
    rng = np.random.default_rng(seed)
    args = [rng.normal(size=(N, T, D)), rng.normal(size=(D, M)), rng.normal(size=M)]
    out, cache = temporal_affine_forward(*args)
    np.testing.assert_allclose(out, np.einsum("ntd,dm->ntm", args[0], args[1]) + args[2], rtol=1e-12)
    dout = rng.normal(size=out.shape)
    errors = check_gradients(temporal_affine_forward, args, dict(enumerate(temporal_affine_backward(dout, cache))), dout)
    assert max(errors.values()) <= 1e-7, errors


@checked
@given(N=sizes, T=sizes, V=st.integers(2, 5), seed=seeds)
def test_temporal_softmax_loss_gradient_matches_finite_differences(N, T, V, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(N, T, V)), rng.integers(0, V, size=(N, T))
    mask = rng.random((N, T)) < 0.7
    loss, dx = temporal_softmax_loss(x, y, mask)
    errors = check_gradients(lambda x: temporal_softmax_loss(x, y, mask)[0], [x], {0: dx})
    assert errors[0] <= 1e-7, errors
    assert np.all(dx[~mask] == 0)


def test_temporal_softmax_loss_worked_cases():
    N, T, V = 2, 3, 5
    y = np.zeros((N, T), dtype=int)
    mask = np.array([[True, True, False], [True, False, False]])
    # Uniform scores: every unmasked step pays log V; 3 of them, divided by N = 2.
    loss, _ = temporal_softmax_loss(np.zeros((N, T, V)), y, mask)
    assert loss == pytest.approx(3 * np.log(V) / N, rel=1e-14)
    # A masked step's scores change nothing.
    x = np.random.default_rng(0).normal(size=(N, T, V))
    x2 = x.copy()
    x2[0, 2] += 100.0
    assert temporal_softmax_loss(x, y, mask)[0] == temporal_softmax_loss(x2, y, mask)[0]


def test_temporal_softmax_loss_is_stable_for_huge_logits():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 3, 4)), rng.integers(0, 4, size=(2, 3))
    mask = np.ones((2, 3), dtype=bool)
    loss, dx = temporal_softmax_loss(x, y, mask)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss_big, dx_big = temporal_softmax_loss(x + 1e6, y, mask)
        loss_far, _ = temporal_softmax_loss(np.where(np.arange(4) == 0, 1e4, 0.0) * np.ones((2, 3, 4)), y * 0 + 1, mask)
    # Softmax ignores a common shift; a naive exp(x) would be inf and give NaN here.
    assert loss_big == pytest.approx(loss, rel=1e-9)
    np.testing.assert_allclose(dx_big, dx, atol=1e-9)
    assert loss_far == pytest.approx(6 * 1e4 / 2, rel=1e-12)


X, Y, MASK = np.zeros((2, 3, 4)), np.zeros((2, 3), dtype=int), np.ones((2, 3), dtype=bool)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros((2, 3)), Y, MASK), r"x has shape \(2, 3\), expected 3 dimensions \(N, T, V\)"),
        ((np.zeros((2, 0, 4)), np.zeros((2, 0), dtype=int), np.ones((2, 0), dtype=bool)), r"x has shape \(2, 0, 4\): every dimension"),
        ((np.full((2, 3, 4), np.nan), Y, MASK), r"x contains NaN"),
        ((X, Y.astype(float), MASK), r"y has dtype float64, expected an integer array"),
        ((X, np.zeros((3, 2), dtype=int), MASK), r"y has shape \(3, 2\), expected \(N, T\) = \(2, 3\)"),
        ((X, Y, np.ones((2, 4), dtype=bool)), r"mask has shape \(2, 4\), expected \(N, T\) = \(2, 3\)"),
        ((X, Y, np.ones((2, 3))), r"mask has dtype float64, expected a boolean array"),
        ((X, Y + 4, MASK), r"y has a value 4 outside \[0, V\) = \[0, 4\)"),
        ((X, Y - 1, MASK), r"y has a value -1 outside \[0, V\) = \[0, 4\)"),
    ],
)
def test_temporal_softmax_loss_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        temporal_softmax_loss(*args)


def test_embedding_and_affine_reject_bad_input():
    W = np.zeros((5, 3))
    with pytest.raises(ValueError, match=r"x has dtype float64, expected an integer array"):
        word_embedding_forward(np.zeros((2, 3)), W)
    with pytest.raises(ValueError, match=r"x has a value 5 outside \[0, V\) = \[0, 5\)"):
        word_embedding_forward(np.array([[0, 5]]), W)
    with pytest.raises(ValueError, match=r"W has shape \(5,\), expected 2 dimensions \(V, D\)"):
        word_embedding_forward(np.array([[0, 1]]), np.zeros(5))
    _, cache = word_embedding_forward(np.array([[0, 1]]), W)
    with pytest.raises(ValueError, match=r"dout has shape \(1, 2, 4\), expected \(N, T, D\) = \(1, 2, 3\)"):
        word_embedding_backward(np.zeros((1, 2, 4)), cache)
    with pytest.raises(ValueError, match=r"w has shape \(4, 6\), expected \(D, M\) = \(3, 6\)"):
        temporal_affine_forward(np.zeros((2, 2, 3)), np.zeros((4, 6)), np.zeros(6))
    with pytest.raises(ValueError, match=r"b has shape \(5,\), expected \(M,\) = \(6,\)"):
        temporal_affine_forward(np.zeros((2, 2, 3)), np.zeros((3, 6)), np.zeros(5))
    _, cache = temporal_affine_forward(np.zeros((2, 2, 3)), np.zeros((3, 6)), np.zeros(6))
    with pytest.raises(ValueError, match=r"dout has shape \(2, 2, 5\), expected \(N, T, M\) = \(2, 2, 6\)"):
        temporal_affine_backward(np.zeros((2, 2, 5)), cache)


@pytest.mark.parametrize("time_major", [False, True])
def test_word_embedding_backward_sums_every_occurrence_in_any_layout(time_major):
    """The sorted-runs sum equals np.add.at, also for the (N, T, D) view of a time-major
    buffer that the RNN and LSTM return as dx, and keeps float32."""
    rng = np.random.default_rng(4)
    x = rng.integers(0, 6, size=(5, 7))  # 35 positions, 6 tokens: many repeats, maybe a missing one
    W = rng.normal(size=(8, 3)).astype(np.float32)
    _, cache = word_embedding_forward(x, W)
    dout = rng.normal(size=(5, 7, 3)).astype(np.float32)
    if time_major:
        dout = np.ascontiguousarray(dout.transpose(1, 0, 2)).transpose(1, 0, 2)
    expected = np.zeros((8, 3), np.float32)
    np.add.at(expected, x, dout)
    dW = word_embedding_backward(dout, cache)
    assert dW.dtype == np.float32
    np.testing.assert_allclose(dW, expected, rtol=1e-6, atol=1e-6)


def test_layers_keep_float32_with_a_mask():
    rng = np.random.default_rng(5)
    h = rng.normal(size=(2, 3, 4)).astype(np.float32)
    w, b = rng.normal(size=(4, 5)).astype(np.float32), np.zeros(5, np.float32)
    scores, cache = temporal_affine_forward(h, w, b)
    y, mask = rng.integers(0, 5, size=(2, 3)), np.array([[True, True, False], [True, False, False]])
    loss, dscores = temporal_softmax_loss(scores, y, mask)
    assert scores.dtype == dscores.dtype == np.float32 and isinstance(loss, float)
    assert not dscores[~mask].any(), "masked steps get no gradient"
    assert all(g.dtype == np.float32 for g in temporal_affine_backward(dscores, cache))
