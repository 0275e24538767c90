"""Attention in torch: the equations of seqlib.numpy.attention, autograd doing the backward.

Chapter: "Attention" (book/07_attention.md), the remedy for the fixed-size bottleneck of
"Sequence to sequence". The mirror of seqlib.numpy.attention: the same function names, the
same arguments in the same order, the same layouts (weights multiply on the right, as in
seqlib.numpy, so a parameter dict moves between the engines without a transpose).

Shape letters beyond the package's: T query (decoder) steps, S source steps, H query size
(the decoder's hidden units), K key size (the encoder's output size, 2H when it is
bidirectional), A the additive attention size. The keys (encoder outputs) are also the values:

    dot (Luong):                  e_ts = q_t · k_s                     (H = K)
    scaled dot-product:           e_ts = q_t · k_s / sqrt(H)           (scale = 1/sqrt(H))
    bilinear (Luong's "general"): e_ts = q_t W k_s^T                   W: (H, K)
    additive (Bahdanau):          e_ts = v · tanh(q_t W_q + k_s W_k)   W_q: (H, A), W_k: (K, A), v: (A,)

    α_ts = exp(e_ts) / Σ_{s' < len} exp(e_ts')  for s < len,   α_ts = 0 for s >= len
    c_t  = Σ_s α_ts k_s

Nothing in a forward pass reads a tensor's values back to the host (no ``.item()``, no
``min()`` check): on a GPU that would wait for every queued kernel. src_lengths is therefore
range-checked only when it lives on the CPU, where reading it costs nothing.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqlib.scores import PARAM_NAMES, SCORES, attention_param_shapes, check_score, score_params
from seqlib.shapes import Dims
from seqlib.torch.stacked import check_lengths

# --------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------

def dot_scores(query, keys, scale=1.0):
    """Dot-product scores: scores[n, t, s] = scale * query[n, t] · keys[n, s].

    query: (N, T, H)  keys: (N, S, H)  scale: a float, 1.0 for Luong's dot score;
    scale = 1/sqrt(H) is the Transformer's scaled dot-product (it keeps the scores' variance
    near 1 when q and k have unit-variance entries, so the softmax does not saturate).
    Returns scores (N, T, S).
    """
    dims = Dims()
    dims.check("query", query, "N,T,H", finite=False)
    dims.check("keys", keys, "N,S,H", finite=False)
    return scale * (query @ keys.transpose(1, 2))  # e_ts = scale q_t · k_s


def bilinear_scores(query, keys, W):
    """Luong's "general" scores: scores[n, t, s] = query[n, t] W keys[n, s]^T.

    query: (N, T, H)  keys: (N, S, K)  W: (H, K)
    Returns scores (N, T, S).
    """
    dims = Dims()
    dims.check("query", query, "N,T,H", finite=False)
    dims.check("keys", keys, "N,S,K", finite=False)
    dims.check("W", W, "H,K", finite=False)
    qW = query @ W  # (N, T, K): q_t W once per query step, then one dot with every key
    return qW @ keys.transpose(1, 2)


def additive_scores(query, keys, W_q, W_k, v):
    """Bahdanau's additive scores: scores[n, t, s] = v · tanh(query[n, t] W_q + keys[n, s] W_k).

    query: (N, T, H)  keys: (N, S, K)  W_q: (H, A)  W_k: (K, A)  v: (A,)
    Returns scores (N, T, S).

    k_s W_k is computed once per source step, not once per (query, source) pair. The tanh
    is still formed for every pair: autograd keeps an (N, T, S, A) tensor, A times the size
    of the scores, which is the memory price of additive attention.
    """
    dims = Dims()
    dims.check("query", query, "N,T,H", finite=False)
    dims.check("keys", keys, "N,S,K", finite=False)
    dims.check("W_q", W_q, "H,A", finite=False)
    dims.check("W_k", W_k, "K,A", finite=False)
    dims.check("v", v, "A", finite=False)
    kW = keys @ W_k  # (N, S, A): once per source step
    qW = query @ W_q  # (N, T, A): once per query step
    u = torch.tanh(qW[:, :, None, :] + kW[:, None, :, :])  # (N, T, S, A): u_ts = tanh(q_t W_q + k_s W_k)
    return u @ v  # e_ts = v · u_ts


# --------------------------------------------------------------------------------------
# Masked softmax and context
# --------------------------------------------------------------------------------------

def masked_softmax(scores, src_lengths):
    """Softmax over the source steps of each row, padding excluded: weights[n, t, s] = α_ts.

    scores: (N, T, S)  src_lengths: (N,) integers in [1, S]; steps s >= src_lengths[n] are padding.
    Returns weights (N, T, S), exactly 0 at padding, each row's real weights summing to 1.
    """
    dims = Dims()
    dims.check("scores", scores, "N,T,S", finite=False)
    N, T, S = scores.shape
    src_lengths = check_lengths(src_lengths, N, S, "src_lengths", "S").to(scores.device)
    real = torch.arange(S, device=scores.device)[None, :] < src_lengths[:, None]  # (N, S): True at real steps
    # Mask BEFORE the softmax: a score of -inf has exp(-inf) = 0, so padding gets weight
    # exactly 0 and the real weights alone sum to 1. Zeroing the weights AFTER the softmax is
    # wrong: the padding has already taken its share of the denominator, so the real weights
    # sum to less than 1 (and depend on whatever the padded keys hold).
    masked = scores.masked_fill(~real[:, None, :], float("-inf"))
    # torch.softmax subtracts the row max, a max over real steps (-inf never wins, every row
    # has one real step), so nothing overflows; its backward gives padding a gradient of 0.
    return torch.softmax(masked, dim=-1)


def context(weights, values):
    """The weighted sum of the values: context[n, t] = Σ_s weights[n, t, s] values[n, s].

    weights: (N, T, S)  values: (N, S, K)
    Returns context (N, T, K).
    """
    dims = Dims()
    dims.check("weights", weights, "N,T,S", finite=False)
    dims.check("values", values, "N,S,K", finite=False)
    return weights @ values  # c_t = Σ_s α_ts v_s


# --------------------------------------------------------------------------------------
# Attention: scores, masked softmax, context
# --------------------------------------------------------------------------------------

_SCORE_FUNCTIONS = {"dot": dot_scores, "bilinear": bilinear_scores, "additive": additive_scores}


def attention(query, keys, src_lengths, score="dot", params=None):
    """Attention of every query step over the source, the keys also serving as values.

    query: (N, T, H)  keys: (N, S, K)  src_lengths: (N,) integers in [1, S]
    score: "dot" (H = K), "bilinear" or "additive"
    params: {} or None for "dot", {"W": (H, K)} for "bilinear",
            {"W_q": (H, A), "W_k": (K, A), "v": (A,)} for "additive" (an Attention module's)
    Returns context (N, T, K) and weights (N, T, S).
    For the scaled dot-product, pass query * (1/sqrt(H)) or compose the parts yourself.
    """
    args = score_params(score, params)
    weights = masked_softmax(_SCORE_FUNCTIONS[score](query, keys, *args), src_lengths)
    return context(weights, keys), weights


class Attention(nn.Module):
    """forward(query (N, T, H), keys (N, S, K), src_lengths (N,)) -> (context (N, T, K), weights (N, T, S)).

    Attention(score, query_size, key_size, attention_size=None, *, device=None, dtype=None):
    score "dot" (no parameters, query_size = key_size), "bilinear" (W (H, K)) or "additive"
    (W_q (H, A), W_k (K, A), v (A,), A = attention_size). The parameters have the names and
    layouts of seqlib.numpy.attention's params dict, so state_dict() and that dict hold the
    same arrays. Each starts uniform in ±1/sqrt(fan_in), fan_in its first dimension.
    """

    def __init__(self, score, query_size, key_size, attention_size=None, *, device=None, dtype=None):
        super().__init__()
        shapes = attention_param_shapes(score, query_size, key_size, attention_size)
        self.score, self.query_size, self.key_size, self.attention_size = score, query_size, key_size, attention_size
        for name, shape in shapes.items():
            self.register_parameter(name, nn.Parameter(torch.empty(shape, device=device, dtype=dtype)))
        self.reset_parameters()

    def reset_parameters(self):
        """Every parameter uniform in ±1/sqrt(fan_in), fan_in = its first dimension."""
        for p in self.parameters():
            bound = 1 / math.sqrt(p.shape[0])
            nn.init.uniform_(p, -bound, bound)

    def forward(self, query, keys, src_lengths):
        """query: (N, T, H)  keys: (N, S, K)  src_lengths: (N,) -> context (N, T, K), weights (N, T, S)."""
        params = {name: getattr(self, name) for name in PARAM_NAMES[self.score]}
        return attention(query, keys, src_lengths, self.score, params)

    def extra_repr(self):
        """score and sizes, as print(model) shows them."""
        extra = f", attention_size={self.attention_size}" if self.attention_size is not None else ""
        return f"score={self.score!r}, query_size={self.query_size}, key_size={self.key_size}{extra}"
