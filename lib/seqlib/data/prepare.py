"""From a named dataset to the id arrays a model trains on: vocabularies built on train only.

Chapters: "Language models" (``prepare_lm_data``: one long text), "Stacked and bidirectional
RNNs / sentence classification" (``prepare_classification``), "Sequence to sequence"
(``prepare_pairs``, ``encode_source``). The command line (``python -m seqlib train ...``), the
chapters and bench/ all prepare their data here, so a model trained by one reads what the
others would give it.

The validation split is encoded with the training vocabulary: words it never saw in training
become ``<unk>``, as they would for a real user's sentence. With BPE subwords (level "bpe",
seqlib.bpe) the merges too are learned on the training split alone, and only characters it
never saw become ``<unk>``.
"""

from __future__ import annotations

import numpy as np

from seqlib.data.registry import get, load
from seqlib.vocab import Vocab

__all__ = ["prepare_lm_data", "prepare_pairs", "prepare_classification", "encode_source"]


def _load_splits(name: str, kind: str, command: str, second: type | None = None):
    """The train and valid splits of a dataset of this kind; for pairs, second is the type of the
    pairs' second items (str: sentence pairs for a translator, int: labels for a classifier)."""
    if get(name).kind != kind:
        wanted = "a text corpus" if kind == "text" else "a dataset of pairs"
        raise ValueError(f"dataset {name!r} is not {wanted}; {command} needs one "
                         f"(python -m seqlib.data list shows each dataset's kind)")
    train, valid = load(name, "train"), load(name, "valid")
    if second is not None and train and not isinstance(train[0][1], second):
        wanted = "sentence pairs" if second is str else "sentences with integer labels"
        raise ValueError(f"dataset {name!r} holds (str, {type(train[0][1]).__name__}) pairs; {command} needs "
                         f"{wanted} (str, {second.__name__})")
    return train, valid


def prepare_lm_data(name: str, level: str = "char", max_vocab: int | None = None, max_chars: int | None = None):
    """(vocab, train_ids (M,), valid_ids (M',)) of a text dataset.

    level: "char" or "word".  max_vocab: keep at most this many tokens (specials included).
    max_chars: read only the start of the training text (and a tenth as much validation
    text): quick runs such as ``--dry-run``.
    """
    train, valid = _load_splits(name, "text", "a language model")
    if max_chars is not None:
        train, valid = train[:max_chars], valid[:max(max_chars // 10, 1)]
    vocab = Vocab.build(train, level=level, max_size=max_vocab)
    return vocab, vocab.encode(train), vocab.encode(valid)


def encode_source(vocab: Vocab, text: str, reverse: bool = False) -> np.ndarray:
    """(S,) source ids, never empty (an empty sentence becomes one <unk>); reversed when asked.

    Reading the source backwards puts its first words next to the first target words, the
    trick that made encoder-decoders without attention work (Sutskever et al., 2014).
    """
    ids = vocab.encode(text)
    if len(ids) == 0:
        ids = np.array([vocab.unk_id], dtype=np.int64)
    return ids[::-1].copy() if reverse else ids


def prepare_pairs(name: str, level: str = "word", min_freq: int = 1, max_vocab: int | None = None,
                  reverse_source: bool = True, merges: int | None = None):
    """Vocabularies and id sequences of a pair dataset, for an encoder-decoder.

    Returns src_vocab, tgt_vocab, (train_srcs, train_tgts), (valid_srcs, valid_tgts): lists of
    (S_i,) source ids (see encode_source) and (T_i,) target ids holding <bos> ... <eos>.
    level "bpe" learns ``merges`` merges for each language separately (min_freq: the fewest
    times a pair must be seen to be merged; max_vocab must be None), see Vocab.build.
    """
    train, valid = _load_splits(name, "pairs", "a translator", str)
    sizes = dict(level=level, min_freq=min_freq, max_size=max_vocab, merges=merges)
    src_vocab = Vocab.build((s for s, _ in train), **sizes)
    tgt_vocab = Vocab.build((t for _, t in train), **sizes)

    def encode(pairs):
        srcs = [encode_source(src_vocab, s, reverse_source) for s, _ in pairs]
        tgts = [tgt_vocab.encode(t, bos=True, eos=True) for _, t in pairs]
        return srcs, tgts

    return src_vocab, tgt_vocab, encode(train), encode(valid)


def prepare_classification(name: str, min_freq: int = 2, max_vocab: int | None = None, lowercase: bool = True):
    """A (sentence, label) dataset as word ids.

    Returns vocab, labels (the sorted label values of train), (train_xs, train_ys),
    (valid_xs, valid_ys): lists of (T_i,) ids and of int labels.
    """
    train, valid = _load_splits(name, "pairs", "a classifier", int)
    norm = str.lower if lowercase else str
    vocab = Vocab.build((norm(t) for t, _ in train), level="word", min_freq=min_freq, max_size=max_vocab)

    def encode(pairs):
        return [encode_source(vocab, norm(t)) for t, _ in pairs], [int(y) for _, y in pairs]

    labels = sorted({int(y) for _, y in train})
    return vocab, labels, encode(train), encode(valid)
