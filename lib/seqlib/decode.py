"""Decoding a trained sequence model: greedy, sampling and beam search.

Chapters: "Language models" (sampling with a temperature, top-k) and "Sequence to
sequence" (greedy and beam search for translation). Framework-free: the model is seen
only through a step function, so the NumPy and the PyTorch engines decode the same way.

The step function::

    log_probs, new_state = step(tokens, state)

tokens: (B,) int array, the last token of each live hypothesis (``bos`` at the start).
state: an array or tensor whose leading dimension is B, or a tuple / list / dict of them,
nested as deep as needed (an LSTM passes ``(h, c)``). B = 1 at the start; beam search
changes B from step to step and reorders the state rows itself. The ``step`` methods of
seqlib's models (NumPy and PyTorch) keep their states batch-first; a bare torch.nn RNN's
(L, B, H) state is turned around by seqlib.torch.model_parts.transpose_state.
log_probs: (B, V) log-probabilities of the next token (a NumPy array or a torch tensor;
tensors are read through ``.detach().cpu()``). ``-inf`` is allowed (a forbidden token);
NaN and ``+inf`` are not.

Every function returns :class:`Hypothesis` objects: ``tokens`` excludes ``bos`` and ends
with ``eos`` when it was generated; ``score`` is the sum of the step function's
log-probabilities of those tokens (never tempered, never length-normalised).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any, Callable

import numpy as np

from seqlib.shapes import Dims

__all__ = ["Hypothesis", "greedy", "sample", "softmax_with_temperature", "beam_search", "reorder_state",
           "gnmt_length_penalty"]

StepFn = Callable[[np.ndarray, Any], tuple[Any, Any]]


@dataclass(frozen=True)
class Hypothesis:
    """One decoded sequence.

    tokens: the generated token ids, without ``bos``, ending with ``eos`` if it was produced.
    score: sum of their log-probabilities (nats) under the step function.
    finished: True when the sequence ended with ``eos`` (False: it hit ``max_len``).
    """

    tokens: list[int] = field(default_factory=list)
    score: float = 0.0
    finished: bool = False

    def __len__(self) -> int:
        return len(self.tokens)


# --------------------------------------------------------------------------- checks


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} is {value}, expected an integer >= {minimum}")
    return int(value)


def _to_numpy(x) -> np.ndarray:
    """A NumPy view of log_probs, also for torch tensors (without importing torch)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) == "torch.bfloat16":
            x = x.float()  # NumPy has no bfloat16
    return np.asarray(x)


class _Stepper:
    """Calls the user's step function and checks what comes back, step after step."""

    def __init__(self, step: StepFn, eos: int | None):
        if not callable(step):
            raise TypeError(f"step must be callable, got {type(step).__name__}")
        self.step = step
        self.eos = eos
        self.V: int | None = None

    def __call__(self, tokens: np.ndarray, state):
        out = self.step(tokens, state)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("step must return a pair (log_probs, new_state)")
        log_probs = _to_numpy(out[0])
        dims = Dims(B=len(tokens)) if self.V is None else Dims(B=len(tokens), V=self.V)
        dims.check("log_probs returned by step", log_probs, "B,V", finite=False)
        if np.isnan(log_probs).any() or np.isposinf(log_probs).any():
            raise ValueError("log_probs returned by step contains NaN or +inf")
        if self.V is None:
            self.V = dims["V"]
            if self.eos is not None and self.eos >= self.V:
                raise ValueError(f"eos is {self.eos}, expected a token id below V = {self.V}")
        return log_probs.astype(np.float64, copy=False), out[1]


def _start(step, bos, eos, max_len, eos_optional=False) -> tuple[_Stepper, int, int | None, int]:
    bos = _check_int("bos", bos, 0)
    eos = None if (eos is None and eos_optional) else _check_int("eos", eos, 0)
    max_len = _check_int("max_len", max_len, 1)
    return _Stepper(step, eos), bos, eos, max_len


# --------------------------------------------------------------------------- state


def reorder_state(state, index: np.ndarray):
    """Rows ``index`` of every array or tensor in ``state`` (nested tuples, lists, dicts).

    state: leaves of shape (B, ...).  index: (B',) ints in [0, B).  Returns leaves (B', ...).
    Torch tensors are indexed on their own device; torch is not imported here (if a tensor
    exists, torch is already in sys.modules).
    """
    index = np.asarray(index, dtype=np.int64)
    if state is None:
        return None
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # namedtuple
        return type(state)(*(reorder_state(s, index) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(s, index) for s in state)
    if isinstance(state, dict):
        return {k: reorder_state(v, index) for k, v in state.items()}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(state, torch.Tensor):
        return state.index_select(0, torch.as_tensor(index, device=state.device))
    if isinstance(state, np.ndarray):
        return state[index]
    raise TypeError(
        f"state leaves must be NumPy arrays or torch tensors (or None), got {type(state).__name__}"
    )


# --------------------------------------------------------------------------- greedy / sample


def greedy(step: StepFn, state, bos: int, eos: int, max_len: int) -> Hypothesis:
    """Pick the most probable token at every step until ``eos`` or ``max_len`` tokens.

    Ties go to the lowest token id. Returns one Hypothesis (at most max_len tokens).
    """
    stepper, bos, eos, max_len = _start(step, bos, eos, max_len)
    tokens: list[int] = []
    score = 0.0
    last = bos
    for _ in range(max_len):
        log_probs, state = stepper(np.array([last], dtype=np.int64), state)
        last = int(np.argmax(log_probs[0]))
        score += float(log_probs[0, last])
        tokens.append(last)
        if last == eos:
            return Hypothesis(tokens, score, True)
    return Hypothesis(tokens, score, False)


def sample(
    step: StepFn,
    state,
    bos: int,
    eos: int,
    max_len: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng=None,
) -> Hypothesis:
    """Draw each next token from softmax(log_probs / temperature), optionally from the top k.

    The one sampler of seqlib: the PyTorch models' (seqlib.torch.generate.sample_text) and
    the NumPy RNNLM's (seqlib.numpy.lm.RNNLM.sample) both call it.
    eos: the token that ends the sequence, or None to draw exactly max_len tokens.
    temperature > 0: below 1 sharpens the distribution (towards greedy), above 1 flattens it.
    top_k: keep only the k most probable tokens (1 <= k <= V) and renormalise.
    rng: a NumPy Generator, or a seed for one (None: fresh entropy, not reproducible). Each
    token is one rng.choice over the V probabilities, so a seed fixes the whole sequence.
    The returned score is under the model itself (temperature 1, no top-k).
    """
    stepper, bos, eos, max_len = _start(step, bos, eos, max_len, eos_optional=True)
    _check_temperature(temperature)
    if top_k is not None:
        top_k = _check_int("top_k", top_k, 1)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    tokens: list[int] = []
    score = 0.0
    last = bos
    for _ in range(max_len):
        log_probs, state = stepper(np.array([last], dtype=np.int64), state)
        lp = log_probs[0]
        if top_k is not None and top_k > lp.shape[0]:
            raise ValueError(f"top_k is {top_k}, expected at most V = {lp.shape[0]}")
        logits = lp
        if top_k is not None and top_k < lp.shape[0]:
            # everything outside the k largest gets probability 0
            cut = np.argpartition(-lp, top_k - 1)[top_k:]
            logits = lp.copy()
            logits[cut] = -np.inf
        if not np.isfinite(logits.max()):
            raise ValueError("log_probs returned by step gives every token probability 0")
        p = softmax_with_temperature(logits, temperature)
        last = int(rng.choice(p.shape[0], p=p))
        score += float(lp[last])
        tokens.append(last)
        if last == eos:
            return Hypothesis(tokens, score, True)
    return Hypothesis(tokens, score, False)


def _check_temperature(temperature) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating)):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature is {temperature}, expected a finite number > 0")


def softmax_with_temperature(scores, temperature: float = 1.0) -> np.ndarray:
    """softmax(scores / temperature) along the last axis: the distribution that sampling draws from.

    scores: (..., V) logits or log-probabilities; -inf gives a token probability 0.
    temperature > 0: below 1 sharpens towards the most probable token (greedy as it goes to
    0), above 1 flattens towards uniform.
    Returns probabilities (..., V), float64, every row summing to 1. The largest scaled score
    is subtracted before exponentiating, so scores in the thousands neither overflow nor
    turn into NaN.
    """
    _check_temperature(temperature)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 0 or s.shape[-1] == 0:
        raise ValueError(f"scores has shape {s.shape}, expected (..., V) with V >= 1")
    s = s / temperature
    m = s.max(axis=-1, keepdims=True)
    if np.isnan(s).any() or np.isposinf(m).any() or np.isneginf(m).any():
        raise ValueError("scores contains NaN or +inf, or a row that is all -inf: no distribution to draw from")
    e = np.exp(s - m)
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- beam search


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """GNMT's length penalty lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al. 2016, eq. 14)."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(
    step: StepFn,
    state,
    bos: int,
    eos: int,
    beam_size: int,
    max_len: int,
    length_penalty: float = 0.0,
) -> list[Hypothesis]:
    """The ``beam_size`` best sequences found, best first.

    At each step every live hypothesis is extended by every token, and the ``beam_size``
    extensions with the highest score (sum of log-probabilities) are kept; those that end in
    ``eos`` are finished and leave the beam, the others stay live. After ``max_len`` steps the
    live ones are finished too (``finished=False``). The search stops early once no live
    hypothesis can still overtake the beam_size-th finished one.

    Ranking: finished hypotheses are ranked by score / lp(len) with GNMT's length penalty
    lp(len) = ((5 + len) / 6) ** length_penalty, len counting ``eos``. length_penalty = 0
    ranks by the plain score (short outputs favoured); 0.6 to 1.0 is common for translation.
    ``.score`` is always the plain sum of log-probabilities.

    With beam_size 1 this is greedy decoding; with a beam at least as large as the number
    of possible sequences (V ** max_len) it is exhaustive search.
    """
    stepper, bos, eos, max_len = _start(step, bos, eos, max_len)
    beam_size = _check_int("beam_size", beam_size, 1)
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float, np.floating)):
        raise TypeError(f"length_penalty must be a number, got {type(length_penalty).__name__}")
    if not (math.isfinite(length_penalty) and length_penalty >= 0):
        raise ValueError(f"length_penalty is {length_penalty}, expected a finite number >= 0")

    def rank(h: Hypothesis) -> float:
        return h.score / gnmt_length_penalty(len(h.tokens), length_penalty)

    live_tokens: list[list[int]] = [[]]
    live_scores = np.zeros(1)
    last = np.array([bos], dtype=np.int64)
    finished: list[Hypothesis] = []

    for t in range(max_len):
        log_probs, new_state = stepper(last, state)
        V = log_probs.shape[1]
        cand = (live_scores[:, None] + log_probs).ravel()  # (B * V,)
        k = min(beam_size, cand.size)
        # stable sort: equal scores keep (parent, token) order, so runs are reproducible
        best = np.argsort(-cand, kind="stable")[:k]
        best = best[np.isfinite(cand[best])]
        parents, words = np.divmod(best, V)
        keep = []
        for j, (p, w) in enumerate(zip(parents.tolist(), words.tolist())):
            toks = live_tokens[p] + [w]
            if w == eos:
                finished.append(Hypothesis(toks, float(cand[best[j]]), True))
            else:
                keep.append(j)
        keep = np.asarray(keep, dtype=np.int64)
        live_tokens = [live_tokens[parents[j]] + [int(words[j])] for j in keep]
        live_scores = cand[best[keep]]
        if not live_tokens:
            break
        if t == max_len - 1:
            finished.extend(Hypothesis(tk, float(s), False) for tk, s in zip(live_tokens, live_scores))
            break
        if len(finished) >= beam_size:
            # Log-probabilities are <= 0, so an extension's score only falls, and its length
            # penalty is at most lp(max_len): score / lp(max_len) bounds what a live one can reach.
            kth = sorted((rank(h) for h in finished), reverse=True)[beam_size - 1]
            bound = float(live_scores.max()) / gnmt_length_penalty(max_len, length_penalty)
            if bound < kth:
                break
        state = reorder_state(new_state, parents[keep])
        last = words[keep].astype(np.int64)

    finished.sort(key=rank, reverse=True)  # stable: ties keep discovery order
    return finished[:beam_size]
