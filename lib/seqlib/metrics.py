"""How good is a sequence model: perplexity, bits per character, accuracy, BLEU and chrF.

Chapters: "Language models" (perplexity, bits per character), "Sequence to sequence"
(exact-match accuracy, BLEU, chrF) and "Stacked and bidirectional RNNs / sentence
classification" (accuracy). BLEU and chrF are sacrebleu's, so numbers are comparable with
published ones; sacrebleu is imported only when they are called.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def mean_nll(log_probs, targets, mask=None) -> float:
    """Mean negative log-likelihood in nats per token.

    log_probs: (N, T, V) log-probabilities.  targets: (N, T) ids.  mask: (N, T) bool,
    True where a token counts (None: all of them).
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    targets = np.asarray(targets)
    if log_probs.ndim != 3 or targets.shape != log_probs.shape[:2]:
        raise ValueError(f"log_probs has shape {log_probs.shape} and targets {targets.shape}, "
                         "expected (N, T, V) and (N, T)")
    picked = np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    if mask is None:
        mask = np.ones(targets.shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != targets.shape:
        raise ValueError(f"mask has shape {mask.shape}, expected (N, T) = {targets.shape}")
    if not mask.any():
        raise ValueError("mask selects no token")
    return float(-picked[mask].mean())


def _check_nats(nats) -> float:
    nats = float(nats)
    if nats < 0 or nats == -math.inf:
        raise ValueError(f"mean_nats is {nats}, expected a cross-entropy >= 0 (nats per token)")
    return nats


def perplexity(mean_nats: float) -> float:
    """exp(mean cross-entropy in nats per token): the effective number of equally likely choices.

    The one perplexity of the course (the Trainer's records, the plots and the chapters use
    it). A loss past ~709 nats gives inf rather than an OverflowError, and NaN stays NaN: a
    diverging run is reported, not crashed on. A negative loss is not a cross-entropy.
    """
    nats = _check_nats(mean_nats)
    return math.inf if nats > 709.0 else math.exp(nats)  # exp(709.8) is the largest float


def bits_per_char(mean_nats: float) -> float:
    """Cross-entropy in bits per character, from nats per character: nats / ln 2 (NaN stays NaN)."""
    return _check_nats(mean_nats) / math.log(2)


def accuracy(pred, target, mask=None) -> float:
    """Fraction of positions where pred == target (only where mask is True, if given).

    pred, target: the same shape, e.g. (N,) labels or (N, T) tokens. For exact match of
    whole sequences, compare the sequences and pass booleans: accuracy(ok, True).
    """
    pred = np.asarray(pred)
    target = np.asarray(target)
    if pred.shape != target.shape and target.ndim != 0:
        raise ValueError(f"pred has shape {pred.shape} but target {target.shape}")
    hit = np.broadcast_to(pred == target, pred.shape)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != pred.shape:
            raise ValueError(f"mask has shape {mask.shape}, expected {pred.shape}")
        hit = hit[mask]
    if hit.size == 0:
        raise ValueError("accuracy of zero examples is undefined")
    return float(hit.mean())


def _sacrebleu():
    try:
        import sacrebleu
    except ImportError as e:
        raise ImportError("BLEU and chrF need sacrebleu: pip install sacrebleu==2.6.0") from e
    return sacrebleu


def _check_corpus(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[list[str], list[str]]:
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError("hypotheses and references must be lists of strings, one per sentence")
    hyps, refs = list(hypotheses), list(references)
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    if not hyps:
        raise ValueError("no sentences to score")
    return hyps, refs


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0..100) of detokenised sentences against one reference each (sacrebleu defaults)."""
    hyps, refs = _check_corpus(hypotheses, references)
    return float(_sacrebleu().corpus_bleu(hyps, [refs]).score)


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (0..100), character n-gram F-score; kinder than BLEU to Russian morphology."""
    hyps, refs = _check_corpus(hypotheses, references)
    return float(_sacrebleu().corpus_chrf(hyps, [refs]).score)
