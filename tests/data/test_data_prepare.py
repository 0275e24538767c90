"""seqlib.data.prepare: vocabularies from the training split only, the source read backwards,
the wrong kind of dataset refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from seqlib import data
from seqlib.data import registry
from seqlib.data.prepare import encode_source, prepare_classification, prepare_lm_data, prepare_pairs
from seqlib.vocab import BOS_ID, EOS_ID, UNK_ID, Vocab

# 40 pairs: the seeded 80/10/10 split puts 32 in train; "unseen" words only ever occur once.
PAIRS = [(f"w{i} common", f"t{i} shared") for i in range(40)]
TEXT = "".join(chr(ord("a") + i % 7) + ("\n" if i % 20 == 19 else "") for i in range(1000))


@pytest.fixture
def tiny(cache, monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    common = dict(summary="", source="", licence="", citation="", size="", split="")
    registry.register(registry.Dataset("tiny-pairs", kind="pairs", build=lambda paths: list(PAIRS), **common))
    registry.register(registry.Dataset("tiny-text", kind="text", build=lambda paths: TEXT, **common))
    registry.register(registry.Dataset("tiny-labels", kind="pairs", build=lambda paths: [
        (f"Word{i} good", i % 2) for i in range(40)], **common))


def test_pairs_use_the_training_vocabulary_and_read_the_source_backwards(tiny):
    src_vocab, tgt_vocab, (train_src, train_tgt), (valid_src, valid_tgt) = prepare_pairs("tiny-pairs")
    train = data.load("tiny-pairs", "train")
    assert src_vocab == Vocab.build((s for s, _ in train), level="word")
    assert len(train_src) == len(train) and len(valid_src) == len(data.load("tiny-pairs", "valid"))
    first_src, first_tgt = train[0]
    assert src_vocab.decode(train_src[0][::-1]) == first_src  # reversed by default
    assert train_tgt[0][0] == BOS_ID and train_tgt[0][-1] == EOS_ID
    assert tgt_vocab.decode(train_tgt[0]) == first_tgt
    # a validation source's own word was never in training: <unk>, then the shared word
    assert [int(i) for i in valid_src[0]] == [src_vocab.stoi["common"], UNK_ID]
    _, _, (forward_src, _), _ = prepare_pairs("tiny-pairs", reverse_source=False)
    np.testing.assert_array_equal(forward_src[0], train_src[0][::-1])


def test_lm_data_is_encoded_with_the_training_characters(tiny):
    vocab, train_ids, valid_ids = prepare_lm_data("tiny-text")
    assert set(vocab.itos[4:]) == set(data.load("tiny-text", "train"))
    assert vocab.decode(train_ids) == data.load("tiny-text", "train")
    assert len(valid_ids) == len(data.load("tiny-text", "valid"))
    _, short, short_valid = prepare_lm_data("tiny-text", max_chars=100)
    assert len(short) == 100 and len(short_valid) == 10


def test_classification_lowercases_and_keeps_labels(tiny):
    vocab, labels, (xs, ys), _ = prepare_classification("tiny-labels", min_freq=1)
    assert labels == [0, 1] and set(ys) <= {0, 1}
    assert "good" in vocab and "Good" not in vocab and all(t == t.lower() for t in vocab.itos[4:])
    _, _, (cased, _), _ = prepare_classification("tiny-labels", min_freq=1, lowercase=False)
    assert len(cased) == len(xs)


def test_the_wrong_kind_of_dataset_is_refused_by_name(tiny):
    with pytest.raises(ValueError, match="'tiny-pairs' is not a text corpus"):
        prepare_lm_data("tiny-pairs")
    with pytest.raises(ValueError, match="'tiny-text' is not a dataset of pairs"):
        prepare_pairs("tiny-text")
    with pytest.raises(ValueError, match=r"'tiny-labels' holds \(str, int\) pairs; a translator needs sentence pairs \(str, str\)"):
        prepare_pairs("tiny-labels")
    with pytest.raises(ValueError, match=r"'tiny-pairs' holds \(str, str\) pairs; a classifier needs sentences with integer labels \(str, int\)"):
        prepare_classification("tiny-pairs")


def test_an_empty_source_is_one_unk():
    vocab = Vocab.build(["a b"], level="word")
    assert encode_source(vocab, "").tolist() == [UNK_ID]
    assert encode_source(vocab, "a b", reverse=True).tolist() == [vocab.stoi["b"], vocab.stoi["a"]]
