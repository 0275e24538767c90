"""seqlib.metrics against definitions computed another way."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqlib import metrics


def test_mean_nll_picks_the_target_log_probability_under_the_mask():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 5))
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    y = rng.integers(0, 5, size=(3, 4))
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], bool)
    want = -np.mean([lp[n, t, y[n, t]] for n in range(3) for t in range(4) if mask[n, t]])
    assert metrics.mean_nll(lp, y, mask) == pytest.approx(want)
    assert metrics.mean_nll(lp, y) == pytest.approx(-np.mean(np.take_along_axis(lp, y[..., None], -1)))
    with pytest.raises(ValueError, match="selects no token"):
        metrics.mean_nll(lp, y, np.zeros_like(mask))


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    V = 37
    uniform = np.full((2, 3, V), -math.log(V))
    nats = metrics.mean_nll(uniform, np.zeros((2, 3), int))
    assert metrics.perplexity(nats) == pytest.approx(V)
    assert metrics.bits_per_char(nats) == pytest.approx(math.log2(V))
    assert metrics.bits_per_char(1.395) == pytest.approx(1.395 / math.log(2))
    with pytest.raises(ValueError, match="mean_nats is -1"):
        metrics.perplexity(-1.0)


def test_accuracy_with_and_without_mask():
    assert metrics.accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    pred = np.array([[1, 2, 3], [4, 5, 6]])
    tgt = np.array([[1, 0, 3], [4, 5, 0]])
    assert metrics.accuracy(pred, tgt, tgt != 0) == 1.0
    assert metrics.accuracy([True, False, True], True) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="shape"):
        metrics.accuracy([1, 2], [1, 2, 3])


def test_bleu_and_chrf_come_from_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    refs = ["the cat sat on the mat .", "восемьсот восемьдесят пять тысяч"]
    assert metrics.bleu(refs, refs) == pytest.approx(100.0)
    assert metrics.chrf(refs, refs) == pytest.approx(100.0)
    hyps = ["the cat sat on a mat .", "восемьсот восемь тысяч"]
    assert metrics.bleu(hyps, refs) == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert 0 < metrics.chrf(hyps, refs) < 100
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        metrics.bleu(hyps, refs[:1])
    with pytest.raises(TypeError, match="lists of strings"):
        metrics.chrf("a b", "a b")


def test_missing_sacrebleu_is_explained(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "sacrebleu":
            raise ImportError("no sacrebleu")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match="pip install sacrebleu==2.6.0"):
        metrics.bleu(["a"], ["a"])
