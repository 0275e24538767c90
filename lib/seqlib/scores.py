"""The attention scores both engines offer: their names, their parameters and the shapes of those.

Chapter: "Attention". seqlib.numpy.attention and seqlib.torch.attention compute the scores;
this module says which exist and what each needs, once for both (as seqlib.cells does for
the recurrent cells). H: the query size (the decoder's hidden size), K: the key size (the
encoder's output size), A: the additive score's hidden size.

    dot        s = q · k                      no parameters (H = K)
    bilinear   s = q W k^T                    W (H, K)             (Luong's "general")
    additive   s = v · tanh(q W_q + k W_k)    W_q (H, A), W_k (K, A), v (A,)   (Bahdanau's)
"""

from __future__ import annotations

import numbers

SCORES = ("dot", "bilinear", "additive")
#: the parameters of each score, in the order the *_scores functions take them
PARAM_NAMES = {"dot": (), "bilinear": ("W",), "additive": ("W_q", "W_k", "v")}


def check_score(score):
    """Return score if it is one of SCORES; anything else is a ValueError."""
    if not isinstance(score, str) or score not in SCORES:
        raise ValueError(f"score is {score!r}, expected one of {SCORES}")
    return score


def score_params(score, params):
    """The parameter arrays of a score, in PARAM_NAMES order; a ValueError names what is wrong.

    score: one of SCORES. params: a dict with exactly the names PARAM_NAMES[score]
    (None means {} for "dot"). Their shapes are checked by the *_scores function.
    """
    check_score(score)
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict, got {type(params).__name__}")
    want = PARAM_NAMES[score]
    if sorted(params) != sorted(want):
        raise ValueError(f"params has keys {sorted(params)}, expected {list(want)} for score={score!r}")
    return [params[name] for name in want]


def attention_param_shapes(score, query_size, key_size, attention_size=None):
    """The shape of every parameter of a score: {} for "dot", {"W": (H, K)} for "bilinear",
    {"W_q": (H, A), "W_k": (K, A), "v": (A,)} for "additive".

    query_size: H  key_size: K (must equal H for "dot")  attention_size: A, only for "additive".
    """
    check_score(score)
    H = _check_size("query_size", query_size)
    K = _check_size("key_size", key_size)
    if score == "dot" and K != H:
        raise ValueError(f"key_size is {K}, expected query_size = {H}: score='dot' needs H = K")
    if score != "additive":
        if attention_size is not None:
            raise ValueError(f"attention_size is {attention_size!r}, expected None: only score='additive' uses it")
        return {} if score == "dot" else {"W": (H, K)}
    A = _check_size("attention_size", attention_size)
    return {"W_q": (H, A), "W_k": (K, A), "v": (A,)}


def _check_size(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} is {value!r}, expected an integer >= 1")
    return int(value)
