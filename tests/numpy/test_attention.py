"""seqlib.numpy.attention: gradients against finite differences, masking, a loop reference, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlib.gradcheck import check_gradients
from seqlib.numpy.attention import (
    PARAM_NAMES,
    SCORES,
    additive_scores_backward,
    additive_scores_forward,
    attention_backward,
    attention_forward,
    attention_param_shapes,
    bilinear_scores_backward,
    bilinear_scores_forward,
    context_backward,
    context_forward,
    dot_scores_backward,
    dot_scores_forward,
    init_attention_params,
    masked_softmax_backward,
    masked_softmax_forward,
)

sizes = st.integers(1, 3)
sources = st.integers(2, 5)  # S >= 2, so that some sequence can be padded
seeds = st.integers(0, 2**32 - 1)
scores = st.sampled_from(SCORES)
# Derandomized: the same examples on every machine and every run, so a check that passes
# in CI passes on a learner's laptop too.
checked = settings(max_examples=20, deadline=None, derandomize=True)


def lengths(rng, N, S):
    """(N,) lengths in [1, S], the first one < S so that padding is always exercised."""
    src_lengths = rng.integers(1, S + 1, size=N)
    src_lengths[0] = rng.integers(1, S)
    return src_lengths


def setup(rng, score, N, T, S, H, K, A, gain=3.0):
    """query, keys, src_lengths, params for one score (K = H for "dot").

    gain: the parameters are gain times their initialisation, so that the scores are far
    from uniform (gain 1 keeps the softmax from saturating, for gradient checks).
    """
    K = H if score == "dot" else K
    params = init_attention_params(rng, score, H, K, A if score == "additive" else None)
    params = {name: gain * p for name, p in params.items()}
    return rng.normal(size=(N, T, H)), rng.normal(size=(N, S, K)), lengths(rng, N, S), params


def assert_small(errors, tol=1e-7):
    assert max(errors.values()) <= tol, f"relative errors by argument: {errors}"


# --------------------------------------------------------------------------------------
# Gradient checks (float64, centred finite differences)
# --------------------------------------------------------------------------------------

@checked
@given(N=sizes, T=sizes, S=sources, H=sizes, seed=seeds, scale=st.sampled_from([1.0, 0.5, -2.0]))
def test_dot_scores_backward_matches_finite_differences(N, T, S, H, seed, scale):
    rng = np.random.default_rng(seed)
    args = [rng.normal(size=(N, T, H)), rng.normal(size=(N, S, H))]
    out, cache = dot_scores_forward(*args, scale)
    np.testing.assert_allclose(out, scale * np.einsum("nth,nsh->nts", *args), rtol=1e-12, atol=1e-12)
    dout = rng.normal(size=out.shape)
    f = lambda q, k: dot_scores_forward(q, k, scale)  # noqa: E731
    assert_small(check_gradients(f, args, dict(enumerate(dot_scores_backward(dout, cache))), dout))


@checked
@given(N=sizes, T=sizes, S=sources, H=sizes, K=sizes, seed=seeds)
def test_bilinear_scores_backward_matches_finite_differences(N, T, S, H, K, seed):
    rng = np.random.default_rng(seed)
    args = [rng.normal(size=(N, T, H)), rng.normal(size=(N, S, K)), rng.normal(size=(H, K))]
    out, cache = bilinear_scores_forward(*args)
    np.testing.assert_allclose(out, np.einsum("nth,nsk,hk->nts", *args), rtol=1e-12, atol=1e-12)
    dout = rng.normal(size=out.shape)
    assert_small(check_gradients(bilinear_scores_forward, args, dict(enumerate(bilinear_scores_backward(dout, cache))), dout))


@checked
@given(N=sizes, T=sizes, S=sources, H=sizes, K=sizes, A=sizes, seed=seeds)
def test_additive_scores_backward_matches_finite_differences(N, T, S, H, K, A, seed):
    rng = np.random.default_rng(seed)
    args = [rng.normal(size=(N, T, H)), rng.normal(size=(N, S, K)), rng.normal(size=(H, A)),
            rng.normal(size=(K, A)), rng.normal(size=A)]
    out, cache = additive_scores_forward(*args)
    q, k, W_q, W_k, v = args
    want = np.tanh((q @ W_q)[:, :, None] + (k @ W_k)[:, None]) @ v
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    dout = rng.normal(size=out.shape)
    assert_small(check_gradients(additive_scores_forward, args, dict(enumerate(additive_scores_backward(dout, cache))), dout))


@checked
@given(N=sizes, T=sizes, S=sources, seed=seeds)
def test_masked_softmax_backward_matches_finite_differences(N, T, S, seed):
    rng = np.random.default_rng(seed)
    x, src_lengths = 2 * rng.normal(size=(N, T, S)), lengths(rng, N, S)
    weights, cache = masked_softmax_forward(x, src_lengths)
    dout = rng.normal(size=weights.shape)
    dx = masked_softmax_backward(dout, cache)
    assert_small(check_gradients(lambda x: masked_softmax_forward(x, src_lengths), [x], {0: dx}, dout))
    padding = np.arange(S) >= src_lengths[:, None]
    assert np.all(dx[np.broadcast_to(padding[:, None], dx.shape)] == 0)


@checked
@given(N=sizes, T=sizes, S=sources, K=sizes, seed=seeds)
def test_context_backward_matches_finite_differences(N, T, S, K, seed):
    rng = np.random.default_rng(seed)
    args = [rng.random(size=(N, T, S)), rng.normal(size=(N, S, K))]
    out, cache = context_forward(*args)
    np.testing.assert_allclose(out, np.einsum("nts,nsk->ntk", *args), rtol=1e-12, atol=1e-12)
    dout = rng.normal(size=out.shape)
    assert_small(check_gradients(context_forward, args, dict(enumerate(context_backward(dout, cache))), dout))


@checked
@given(score=scores, N=sizes, T=sizes, S=sources, H=sizes, K=sizes, A=sizes, seed=seeds)
def test_attention_backward_matches_finite_differences(score, N, T, S, H, K, A, seed):
    rng = np.random.default_rng(seed)
    query, keys, src_lengths, params = setup(rng, score, N, T, S, H, K, A, gain=1.0)
    (out, _), cache = attention_forward(query, keys, src_lengths, score, params)
    dout = rng.normal(size=out.shape)
    dquery, dkeys, dparams = attention_backward(dout, cache)
    assert list(dparams) == list(PARAM_NAMES[score])
    names = list(params)

    def f(query, keys, *arrays):
        return attention_forward(query, keys, src_lengths, score, dict(zip(names, arrays)))[0][0]

    grads = {0: dquery, 1: dkeys, **{2 + i: dparams[name] for i, name in enumerate(names)}}
    assert_small(check_gradients(f, [query, keys, *params.values()], grads, dout))


# --------------------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------------------

def reference_attention(query, keys, src_lengths, score, params):
    """One (n, t) at a time, over the real source steps only: no mask needed."""
    N, T, _ = query.shape
    out, weights = np.zeros((N, T, keys.shape[2])), np.zeros((N, T, keys.shape[1]))
    for n in range(N):
        real = keys[n, :src_lengths[n]]
        for t in range(T):
            q = query[n, t]
            if score == "dot":
                e = real @ q
            elif score == "bilinear":
                e = real @ (q @ params["W"])
            else:
                e = np.array([params["v"] @ np.tanh(q @ params["W_q"] + k @ params["W_k"]) for k in real])
            alpha = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
            weights[n, t, :len(real)] = alpha
            out[n, t] = alpha @ real
    return out, weights


@pytest.mark.parametrize("score", SCORES)
def test_attention_matches_a_loop_over_the_real_source_steps(score):
    rng = np.random.default_rng(3)
    query, keys, src_lengths, params = setup(rng, score, 3, 4, 6, 5, 7, 3)
    (out, weights), _ = attention_forward(query, keys, src_lengths, score, params)
    want_out, want_weights = reference_attention(query, keys, src_lengths, score, params)
    np.testing.assert_allclose(weights, want_weights, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("score", SCORES)
def test_padding_has_weight_zero_and_real_weights_sum_to_one(score):
    rng = np.random.default_rng(4)
    query, keys, _, params = setup(rng, score, 4, 3, 6, 5, 7, 3)
    src_lengths = np.array([1, 6, 2, 4])
    (_, weights), _ = attention_forward(query, keys, src_lengths, score, params)
    for n, length in enumerate(src_lengths):
        assert np.all(weights[n, :, length:] == 0), f"padding of sequence {n} has weight {weights[n, :, length:]}"
        assert np.all(weights[n, :, :length] > 0)
        np.testing.assert_allclose(weights[n, :, :length].sum(axis=1), 1.0, rtol=1e-14)


@pytest.mark.parametrize("score", SCORES)
def test_keys_at_padding_change_nothing(score):
    """Outputs, and every gradient except dkeys at padding (which is 0), ignore the padded keys."""
    rng = np.random.default_rng(5)
    query, keys, src_lengths, params = setup(rng, score, 3, 4, 6, 5, 7, 3)
    src_lengths[:] = [2, 6, 4]
    padding = np.arange(6)[None, :, None] >= src_lengths[:, None, None]  # (N, S, 1)
    other = np.where(padding, 1e3 * rng.normal(size=keys.shape), keys)
    dout = rng.normal(size=(3, 4, keys.shape[2]))
    results = []
    for k in (keys, other):
        (out, weights), cache = attention_forward(query, k, src_lengths, score, params)
        results.append((out, weights, *attention_backward(dout, cache)))
    (out, weights, dquery, dkeys, dparams), (out2, weights2, dquery2, dkeys2, dparams2) = results
    np.testing.assert_allclose(out2, out, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(weights2, weights, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dquery2, dquery, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dkeys2, dkeys, rtol=1e-13, atol=1e-13)
    assert np.all(dkeys2[np.broadcast_to(padding, dkeys.shape)] == 0)
    for name in params:
        np.testing.assert_allclose(dparams2[name], dparams[name], rtol=1e-13, atol=1e-13)


def test_masking_after_the_softmax_is_the_classic_mistake():
    """softmax over all S steps, then zeroing the padding: the padding kept its share of the
    denominator, so the real weights sum to less than 1 and differ from the masked softmax."""
    rng = np.random.default_rng(6)
    scores, src_lengths = rng.normal(size=(2, 3, 5)), np.array([2, 5])
    right, _ = masked_softmax_forward(scores, src_lengths)
    e = np.exp(scores - scores.max(axis=2, keepdims=True))
    wrong = e / e.sum(axis=2, keepdims=True) * (np.arange(5) < src_lengths[:, None])[:, None]
    np.testing.assert_array_equal(wrong[0, :, 2:], right[0, :, 2:])  # both put 0 on the padding...
    assert np.all(wrong[0].sum(axis=1) < 1 - 1e-3), wrong[0].sum(axis=1)  # ...but the wrong rows leak mass
    assert np.abs(wrong[0] - right[0]).max() > 1e-3
    np.testing.assert_allclose(wrong[1], right[1], rtol=1e-14)  # with no padding the two agree
    # Renormalising the wrong weights recovers the right ones: masking after needs a second division.
    np.testing.assert_allclose(wrong / wrong.sum(axis=2, keepdims=True), right, rtol=1e-12)


def test_masked_softmax_is_stable_for_huge_scores():
    rng = np.random.default_rng(7)
    scores, src_lengths = rng.normal(size=(2, 3, 4)), np.array([3, 4])
    weights, _ = masked_softmax_forward(scores, src_lengths)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        big, _ = masked_softmax_forward(scores + 1e6, src_lengths)
        # A huge score at a padded step must not win the max: only real steps count.
        padded_huge = scores.copy()
        padded_huge[0, :, 3] = 1e300
        huge, _ = masked_softmax_forward(padded_huge, src_lengths)
    np.testing.assert_allclose(big, weights, atol=1e-9)
    np.testing.assert_array_equal(huge, weights)


def test_scaled_dot_product_divides_by_sqrt_h():
    rng = np.random.default_rng(8)
    query, keys = rng.normal(size=(2, 3, 16)), rng.normal(size=(2, 4, 16))
    plain, _ = dot_scores_forward(query, keys)
    scaled, _ = dot_scores_forward(query, keys, 1 / np.sqrt(16))
    np.testing.assert_allclose(scaled, plain / 4, rtol=1e-14)
    # The scaled dot score is the dot score of a scaled query, the form attention_forward takes.
    src_lengths = np.array([4, 2])
    (out, _), _ = attention_forward(query / 4, keys, src_lengths)
    weights, _ = masked_softmax_forward(scaled, src_lengths)
    np.testing.assert_allclose(out, context_forward(weights, keys)[0], rtol=1e-12)


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("score, A", [("dot", None), ("bilinear", None), ("additive", 3)])
def test_init_attention_params_shapes_bounds_and_seed(score, A):
    H, K = (4, 4) if score == "dot" else (4, 6)
    params = init_attention_params(0, score, H, K, A, dtype=np.float32)
    shapes = attention_param_shapes(score, H, K, A)
    assert list(params) == list(PARAM_NAMES[score]) == list(shapes)
    for name, p in params.items():
        assert p.shape == shapes[name] and p.dtype == np.float32, (name, p.shape, p.dtype)
        assert np.abs(p).max() <= 1 / np.sqrt(p.shape[0]), name
        assert np.abs(p).max() > 0.5 / np.sqrt(p.shape[0]), name  # uniform over the range, not a tiny corner
    again = init_attention_params(np.random.default_rng(0), score, H, K, A, dtype=np.float32)
    for name in params:
        np.testing.assert_array_equal(again[name], params[name])


@pytest.mark.parametrize("args, match", [
    (("mlp", 4, 4), r"score is 'mlp', expected one of \('dot', 'bilinear', 'additive'\)"),
    (("dot", 4, 6), r"key_size is 6, expected query_size = 4: score='dot' needs H = K"),
    (("additive", 4, 6), r"attention_size is None, expected an integer >= 1"),
    (("bilinear", 4, 6, 3), r"attention_size is 3, expected None: only score='additive' uses it"),
    (("bilinear", 0, 6), r"query_size is 0, expected an integer >= 1"),
    (("additive", 4, 2.0, 3), r"key_size is 2.0, expected an integer >= 1"),
])
def test_init_attention_params_rejects_bad_config(args, match):
    with pytest.raises(ValueError, match=match):
        init_attention_params(0, *args)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------

Q, KEYS, LENGTHS = np.zeros((2, 3, 4)), np.zeros((2, 5, 6)), np.array([5, 2])
BILINEAR = {"W": np.zeros((4, 6))}
ADDITIVE = {"W_q": np.zeros((4, 3)), "W_k": np.zeros((6, 3)), "v": np.zeros(3)}


@pytest.mark.parametrize("args, match", [
    ((Q, KEYS, LENGTHS, "mlp", {}), r"score is 'mlp', expected one of \('dot', 'bilinear', 'additive'\)"),
    ((Q, KEYS, LENGTHS, "bilinear", {}), r"params has keys \[\], expected \['W'\] for score='bilinear'"),
    ((Q, KEYS, LENGTHS, "dot", BILINEAR), r"params has keys \['W'\], expected \[\] for score='dot'"),
    ((Q, KEYS, LENGTHS, "additive", {**ADDITIVE, "b": 0}), r"params has keys \['W_k', 'W_q', 'b', 'v'\], expected"),
    ((Q, KEYS, LENGTHS, "dot", None), r"keys has shape \(2, 5, 6\), expected \(N, S, H\) = \(2, 5, 4\)"),
    ((Q, KEYS, LENGTHS, "bilinear", {"W": np.zeros((6, 4))}), r"W has shape \(6, 4\), expected \(H, K\) = \(4, 6\)"),
    ((Q, KEYS, LENGTHS, "additive", {**ADDITIVE, "v": np.zeros(2)}), r"v has shape \(2,\), expected \(A,\) = \(3,\)"),
    ((Q, KEYS, LENGTHS, "additive", {**ADDITIVE, "W_k": np.zeros((4, 3))}), r"W_k has shape \(4, 3\), expected \(K, A\) = \(6, 3\)"),
    ((Q[0], KEYS, LENGTHS, "bilinear", BILINEAR), r"query has shape \(3, 4\), expected 3 dimensions \(N, T, H\)"),
    ((Q, KEYS[:1], LENGTHS, "bilinear", BILINEAR), r"keys has shape \(1, 5, 6\), expected \(N, S, K\) = \(2, 5, 6\)"),
    ((Q, KEYS, np.array([5, 0]), "bilinear", BILINEAR), r"src_lengths must lie in \[1, S\] = \[1, 5\], got values from 0 to 5"),
    ((Q, KEYS, np.array([6, 2]), "bilinear", BILINEAR), r"src_lengths must lie in \[1, S\] = \[1, 5\], got values from 2 to 6"),
    ((Q, KEYS, np.array([5, 2, 1]), "bilinear", BILINEAR), r"src_lengths has shape \(3,\), expected \(N,\) = \(2,\)"),
    ((Q, KEYS, np.array([5.0, 2.0]), "bilinear", BILINEAR), r"src_lengths has dtype float64, expected an integer array"),
])
def test_attention_forward_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        attention_forward(*args)


def test_parts_reject_bad_input_and_bad_upstream_gradients():
    with pytest.raises(ValueError, match=r"scores has shape \(2, 3\), expected 3 dimensions \(N, T, S\)"):
        masked_softmax_forward(np.zeros((2, 3)), LENGTHS)
    with pytest.raises(ValueError, match=r"scores contains NaN"):
        masked_softmax_forward(np.full((2, 3, 5), np.nan), LENGTHS)
    with pytest.raises(ValueError, match=r"values has shape \(2, 4, 6\), expected \(N, S, K\) = \(2, 5, 6\)"):
        context_forward(np.zeros((2, 3, 5)), np.zeros((2, 4, 6)))
    (_, _), cache = attention_forward(Q, KEYS, LENGTHS, "bilinear", BILINEAR)
    with pytest.raises(ValueError, match=r"dcontext has shape \(2, 3, 4\), expected \(N, T, K\) = \(2, 3, 6\)"):
        attention_backward(np.zeros((2, 3, 4)), cache)
    _, cache = masked_softmax_forward(np.zeros((2, 3, 5)), LENGTHS)
    with pytest.raises(ValueError, match=r"dweights has shape \(2, 3, 4\), expected \(N, T, S\) = \(2, 3, 5\)"):
        masked_softmax_backward(np.zeros((2, 3, 4)), cache)
    _, cache = additive_scores_forward(Q, KEYS, *ADDITIVE.values())
    with pytest.raises(ValueError, match=r"dscores has shape \(2, 3, 4\), expected \(N, T, S\) = \(2, 3, 5\)"):
        additive_scores_backward(np.zeros((2, 3, 4)), cache)
