"""Fixed train / valid / test splits, the same on every machine.

Used by every dataset of ``seqlib.data`` (chapters "Language models", "Sequence to
sequence", "Stacked and bidirectional RNNs / sentence classification").

- Text corpora: contiguous pieces by character position, 90 / 5 / 5 (:func:`split_text`).
- Pair datasets ((source, target) or (text, label)): exact duplicate sources removed
  (first kept), then a seeded shuffle and 80 / 10 / 10 (:func:`split_items`), so no test
  source ever appears in training.
"""

from __future__ import annotations

from typing import Callable, Hashable, Sequence, TypeVar

import numpy as np

SPLITS = ("train", "valid", "test")
TEXT_SPLIT = (0.90, 0.05, 0.05)
PAIR_SPLIT = (0.80, 0.10, 0.10)
SPLIT_SEED = 20240605  # fixed forever: changing it changes every published number

T = TypeVar("T")


def _check(split: str, ratios) -> None:
    if split not in SPLITS + ("all",):
        raise ValueError(f"split is {split!r}, expected 'train', 'valid', 'test' or 'all'")
    if len(ratios) != 3 or abs(sum(ratios) - 1.0) > 1e-9 or min(ratios) < 0:
        raise ValueError(f"ratios is {ratios}, expected three non-negative fractions summing to 1")


def split_text(text: str, split: str, ratios: tuple[float, float, float] = TEXT_SPLIT) -> str:
    """The train, valid or test part of a corpus: contiguous pieces, in that order.

    The cut points sit at ratios[0] and ratios[0] + ratios[1] of the length, each moved
    forward to just after the next newline so no line is cut in two. Contiguous (not
    shuffled) pieces are the standard for language models: the model is judged on text
    that follows the text it saw, never on lines drawn from between training lines.
    """
    _check(split, ratios)

    def cut(frac: float) -> int:
        i = int(len(text) * frac)
        j = text.find("\n", i)
        return len(text) if j < 0 else j + 1

    a = cut(ratios[0])
    b = max(a, cut(ratios[0] + ratios[1]))
    pieces = {"train": text[:a], "valid": text[a:b], "test": text[b:]}
    return text if split == "all" else pieces[split]


def dedupe(items: Sequence[T], key: Callable[[T], Hashable] = lambda it: it[0]) -> list[T]:
    """Items whose key was not seen before, in order (the first of each duplicate group stays)."""
    seen: set = set()
    out = []
    for it in items:
        k = key(it)
        if k not in seen:
            seen.add(k)
            out.append(it)
    return out


def split_items(
    items: Sequence[T],
    split: str,
    ratios: tuple[float, float, float] = PAIR_SPLIT,
    seed: int = SPLIT_SEED,
) -> list[T]:
    """The train, valid or test part of a list of examples, after a seeded shuffle.

    The caller removes duplicates first (:func:`dedupe`): the split itself only permutes.
    Sizes: test and valid get round(ratio * n) items each, train the rest.
    """
    _check(split, ratios)
    n = len(items)
    order = np.random.default_rng(seed).permutation(n)
    n_valid = int(round(ratios[1] * n))
    n_test = int(round(ratios[2] * n))
    n_train = n - n_valid - n_test
    bounds = {"train": (0, n_train), "valid": (n_train, n_train + n_valid), "test": (n_train + n_valid, n)}
    if split == "all":
        return list(items)
    lo, hi = bounds[split]
    return [items[i] for i in order[lo:hi]]
