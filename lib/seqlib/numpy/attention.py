"""Attention: every decoder step looks back at all the encoder's outputs, forward and backward by hand.

Chapter: "Attention" (book/07_attention.md), the remedy for the fixed-size bottleneck of
"Sequence to sequence". The mirror of seqlib.torch.attention: same names, same layouts.

Shape letters beyond the package's: T query (decoder) steps, S source steps, H query size
(the decoder's hidden units), K key size (the encoder's output size, 2H when it is
bidirectional), A the additive attention size. Each query q_t (H,) scores every key k_s (K,);
a softmax over the real (unpadded) source steps turns the scores into weights; the context is
the weighted sum of the values, here the keys themselves (the encoder outputs):

    dot (Luong):                  e_ts = q_t · k_s                     (H = K)
    scaled dot-product:           e_ts = q_t · k_s / sqrt(H)           (scale = 1/sqrt(H))
    bilinear (Luong's "general"): e_ts = q_t W k_s^T                   W: (H, K)
    additive (Bahdanau):          e_ts = v · tanh(q_t W_q + k_s W_k)   W_q: (H, A), W_k: (K, A), v: (A,)

    α_ts = exp(e_ts) / Σ_{s' < len} exp(e_ts')  for s < len,   α_ts = 0 for s >= len
    c_t  = Σ_s α_ts k_s

Backward, with dc the gradient reaching the context and u = tanh(q_t W_q + k_s W_k):

    dα = dc K^T    dvalues = α^T dc                       (context)
    de_ts = α_ts (dα_ts - Σ_s' α_ts' dα_ts')             (softmax; 0 at padding, where α = 0)
    dq = scale de K    dk = scale de^T Q                  (dot)
    dq = de K W^T      dk = de^T Q W      dW = Σ_n Q^T de K                    (bilinear)
    du = de v ⊙ (1 - u²)   dv = Σ de u   dq = Σ_s du W_q^T   dk = Σ_t du W_k^T  (additive)

The keys appear twice in ``attention_forward`` (scored, then summed as values), so their
gradient is the sum of both paths.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from seqlib.numpy.stacked import check_lengths
from seqlib.scores import PARAM_NAMES, SCORES, attention_param_shapes, check_score, score_params
from seqlib.shapes import Dims, check_grad

class DotCache(NamedTuple):
    """What dot_scores_backward needs."""

    query: np.ndarray  #: (N, T, H)
    keys: np.ndarray  #: (N, S, H)
    scale: float


class BilinearCache(NamedTuple):
    """What bilinear_scores_backward needs."""

    query: np.ndarray  #: (N, T, H)
    keys: np.ndarray  #: (N, S, K)
    W: np.ndarray  #: (H, K)
    qW: np.ndarray  #: (N, T, K) q_t W


class AdditiveCache(NamedTuple):
    """What additive_scores_backward needs."""

    query: np.ndarray  #: (N, T, H)
    keys: np.ndarray  #: (N, S, K)
    W_q: np.ndarray  #: (H, A)
    W_k: np.ndarray  #: (K, A)
    v: np.ndarray  #: (A,)
    u: np.ndarray  #: (N, T, S, A) tanh(q_t W_q + k_s W_k)


class SoftmaxCache(NamedTuple):
    """What masked_softmax_backward needs: the weights alone."""

    weights: np.ndarray  #: (N, T, S), exactly 0 at padding


class ContextCache(NamedTuple):
    """What context_backward needs."""

    weights: np.ndarray  #: (N, T, S)
    values: np.ndarray  #: (N, S, K)


class AttentionCache(NamedTuple):
    """What attention_backward needs: the score's name and the caches of the three parts."""

    score: str  #: "dot", "bilinear" or "additive"
    scores: tuple  #: DotCache, BilinearCache or AdditiveCache
    softmax: SoftmaxCache
    context: ContextCache


# --------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------

def dot_scores_forward(query, keys, scale=1.0):
    """Dot-product scores: scores[n, t, s] = scale * query[n, t] · keys[n, s].

    query: (N, T, H)  keys: (N, S, H)  scale: a float, 1.0 for Luong's dot score;
    scale = 1/sqrt(H) is the Transformer's scaled dot-product (it keeps the scores' variance
    near 1 when q and k have unit-variance entries, so the softmax does not saturate).
    Returns scores (N, T, S) and the cache for dot_scores_backward.
    """
    dims = Dims()
    dims.check("query", query, "N,T,H")
    dims.check("keys", keys, "N,S,H")
    scores = scale * (query @ keys.transpose(0, 2, 1))  # e_ts = scale q_t · k_s
    return scores, DotCache(query, keys, scale)


def dot_scores_backward(dscores, cache):
    """Backward pass of dot_scores_forward.

    dscores: (N, T, S)
    Returns dquery (N, T, H), dkeys (N, S, H).
    """
    query, keys, scale = cache
    check_grad("dscores", dscores, query.shape[:2] + keys.shape[1:2], "(N, T, S)")
    dquery = scale * (dscores @ keys)
    dkeys = scale * (dscores.transpose(0, 2, 1) @ query)
    return dquery, dkeys


def bilinear_scores_forward(query, keys, W):
    """Luong's "general" scores: scores[n, t, s] = query[n, t] W keys[n, s]^T.

    query: (N, T, H)  keys: (N, S, K)  W: (H, K)
    Returns scores (N, T, S) and the cache for bilinear_scores_backward.
    """
    dims = Dims()
    dims.check("query", query, "N,T,H")
    dims.check("keys", keys, "N,S,K")
    dims.check("W", W, "H,K")
    qW = query @ W  # (N, T, K): q_t W once per query step, then one dot with every key
    return qW @ keys.transpose(0, 2, 1), BilinearCache(query, keys, W, qW)


def bilinear_scores_backward(dscores, cache):
    """Backward pass of bilinear_scores_forward.

    dscores: (N, T, S)
    Returns dquery (N, T, H), dkeys (N, S, K), dW (H, K).
    """
    query, keys, W, qW = cache
    N, T, H = query.shape
    check_grad("dscores", dscores, (N, T, keys.shape[1]), "(N, T, S)")
    dqW = dscores @ keys  # (N, T, K)
    dkeys = dscores.transpose(0, 2, 1) @ qW
    dquery = dqW @ W.T
    dW = query.reshape(N * T, H).T @ dqW.reshape(N * T, -1)  # W is shared by every n and t
    return dquery, dkeys, dW


def additive_scores_forward(query, keys, W_q, W_k, v):
    """Bahdanau's additive scores: scores[n, t, s] = v · tanh(query[n, t] W_q + keys[n, s] W_k).

    query: (N, T, H)  keys: (N, S, K)  W_q: (H, A)  W_k: (K, A)  v: (A,)
    Returns scores (N, T, S) and the cache for additive_scores_backward.

    k_s W_k is computed once per source step, not once per (query, source) pair. The tanh
    is still formed for every pair: the cache holds an (N, T, S, A) array, A times the size
    of the scores, which is the memory price of additive attention.
    """
    dims = Dims()
    dims.check("query", query, "N,T,H")
    dims.check("keys", keys, "N,S,K")
    dims.check("W_q", W_q, "H,A")
    dims.check("W_k", W_k, "K,A")
    dims.check("v", v, "A")
    kW = keys @ W_k  # (N, S, A): once per source step
    qW = query @ W_q  # (N, T, A): once per query step
    u = np.tanh(qW[:, :, None, :] + kW[:, None, :, :])  # (N, T, S, A): u_ts = tanh(q_t W_q + k_s W_k)
    return u @ v, AdditiveCache(query, keys, W_q, W_k, v, u)  # e_ts = v · u_ts


def additive_scores_backward(dscores, cache):
    """Backward pass of additive_scores_forward.

    dscores: (N, T, S)
    Returns dquery (N, T, H), dkeys (N, S, K), dW_q (H, A), dW_k (K, A), dv (A,).
    """
    query, keys, W_q, W_k, v, u = cache
    N, T, S, A = u.shape
    check_grad("dscores", dscores, (N, T, S), "(N, T, S)")
    dv = np.einsum("nts,ntsa->a", dscores, u)  # dv = Σ_nts de_ts u_ts
    du = dscores[..., None] * v * (1 - u * u)  # d(q W_q + k W_k) = de v ⊙ (1 - u²)
    dqW = du.sum(axis=2)  # (N, T, A): q_t W_q met every source step
    dkW = du.sum(axis=1)  # (N, S, A): k_s W_k met every query step
    dquery = dqW @ W_q.T
    dkeys = dkW @ W_k.T
    dW_q = query.reshape(N * T, -1).T @ dqW.reshape(N * T, A)
    dW_k = keys.reshape(N * S, -1).T @ dkW.reshape(N * S, A)
    return dquery, dkeys, dW_q, dW_k, dv


# --------------------------------------------------------------------------------------
# Masked softmax and context
# --------------------------------------------------------------------------------------

def masked_softmax_forward(scores, src_lengths):
    """Softmax over the source steps of each row, padding excluded: weights[n, t, s] = α_ts.

    scores: (N, T, S)  src_lengths: (N,) integers in [1, S]; steps s >= src_lengths[n] are padding.
    Returns weights (N, T, S), exactly 0 at padding, each row's real weights summing to 1,
    and the cache for masked_softmax_backward.
    """
    dims = Dims()
    dims.check("scores", scores, "N,T,S")
    N, T, S = scores.shape
    src_lengths = check_lengths(src_lengths, N, S, "src_lengths", "S")
    real = (np.arange(S) < src_lengths[:, None])[:, None, :]  # (N, 1, S): True at real steps
    # Mask BEFORE the softmax: a score of -inf has exp(-inf) = 0, so padding gets weight
    # exactly 0 and the real weights alone sum to 1. Zeroing the weights AFTER the softmax is
    # wrong: the padding has already taken its share of the denominator, so the real weights
    # sum to less than 1 (and depend on whatever the padded keys hold).
    masked = np.where(real, scores, -np.inf)
    # Stable softmax: subtract the row max, a max over real steps (-inf never wins, every row
    # has one real step), so every exponent is <= 0 and nothing overflows.
    e = np.exp(masked - masked.max(axis=2, keepdims=True))
    weights = e / e.sum(axis=2, keepdims=True)
    return weights, SoftmaxCache(weights)


def masked_softmax_backward(dweights, cache):
    """Backward pass of masked_softmax_forward.

    dweights: (N, T, S)
    Returns dscores (N, T, S), 0 at padding (src_lengths, integers, has no gradient).
    """
    weights = cache.weights
    check_grad("dweights", dweights, weights.shape, "(N, T, S)")
    # de_ts = α_ts (dα_ts - Σ_s' α_ts' dα_ts'): the softmax's Jacobian diag(α) - α α^T applied to dα
    return weights * (dweights - (dweights * weights).sum(axis=2, keepdims=True))


def context_forward(weights, values):
    """The weighted sum of the values: context[n, t] = Σ_s weights[n, t, s] values[n, s].

    weights: (N, T, S)  values: (N, S, K)
    Returns context (N, T, K) and the cache for context_backward.
    """
    dims = Dims()
    dims.check("weights", weights, "N,T,S")
    dims.check("values", values, "N,S,K")
    return weights @ values, ContextCache(weights, values)  # c_t = Σ_s α_ts v_s


def context_backward(dcontext, cache):
    """Backward pass of context_forward.

    dcontext: (N, T, K)
    Returns dweights (N, T, S), dvalues (N, S, K).
    """
    weights, values = cache
    check_grad("dcontext", dcontext, weights.shape[:2] + values.shape[2:], "(N, T, K)")
    return dcontext @ values.transpose(0, 2, 1), weights.transpose(0, 2, 1) @ dcontext


# --------------------------------------------------------------------------------------
# Attention: scores, masked softmax, context
# --------------------------------------------------------------------------------------

_FORWARD = {"dot": dot_scores_forward, "bilinear": bilinear_scores_forward, "additive": additive_scores_forward}
_BACKWARD = {"dot": dot_scores_backward, "bilinear": bilinear_scores_backward, "additive": additive_scores_backward}


def attention_forward(query, keys, src_lengths, score="dot", params=None):
    """Attention of every query step over the source, the keys also serving as values.

    query: (N, T, H)  keys: (N, S, K)  src_lengths: (N,) integers in [1, S]
    score: "dot" (H = K), "bilinear" or "additive"
    params: {} or None for "dot", {"W": (H, K)} for "bilinear",
            {"W_q": (H, A), "W_k": (K, A), "v": (A,)} for "additive" (init_attention_params)
    Returns (context (N, T, K), weights (N, T, S)) and the cache for attention_backward.
    For the scaled dot-product, pass query * (1/sqrt(H)) or compose the parts yourself.
    """
    args = score_params(score, params)
    scores, score_cache = _FORWARD[score](query, keys, *args)
    weights, softmax_cache = masked_softmax_forward(scores, src_lengths)
    context, context_cache = context_forward(weights, keys)
    return (context, weights), AttentionCache(score, score_cache, softmax_cache, context_cache)


def attention_backward(dcontext, cache):
    """Backward pass of attention_forward (the weights are an output to look at, not to train).

    dcontext: (N, T, K)
    Returns dquery (N, T, H), dkeys (N, S, K), dparams (a dict keyed like params).
    """
    score, score_cache, softmax_cache, context_cache = cache
    dweights, dvalues = context_backward(dcontext, context_cache)
    dscores = masked_softmax_backward(dweights, softmax_cache)
    dquery, dkeys, *dargs = _BACKWARD[score](dscores, score_cache)
    # The keys are used twice, scored and summed as values: both paths add up.
    return dquery, dkeys + dvalues, dict(zip(PARAM_NAMES[score], dargs))


def init_attention_params(rng, score, query_size, key_size, attention_size=None, dtype=np.float64):
    """Parameters for attention_forward, each uniform in ±1/sqrt(fan_in) like torch.nn.Linear.

    rng: a numpy Generator (or a seed). score, query_size (H), key_size (K), attention_size (A):
    see attention_param_shapes. fan_in is a weight's first dimension, the size of what it
    multiplies (weights multiply on the right): H for W and W_q, K for W_k, A for v.
    Returns params, a dict {name: array} in PARAM_NAMES order.
    """
    shapes = attention_param_shapes(score, query_size, key_size, attention_size)
    rng = np.random.default_rng(rng)
    return {name: rng.uniform(-1 / np.sqrt(shape[0]), 1 / np.sqrt(shape[0]), shape).astype(dtype)
            for name, shape in shapes.items()}
