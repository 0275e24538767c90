"""Batching: every token lands where truncated BPTT and teacher forcing expect it."""

from __future__ import annotations

import numpy as np
import pytest

from seqlib.data.batching import (LMBatches, bucket_order, classification_batches, pad,
                                  seq2seq_batches)


@pytest.mark.parametrize("M,N,T", [(101, 4, 7), (1000, 3, 10), (50, 1, 49), (37, 5, 3)])
def test_lm_batches_are_n_contiguous_streams(M, N, T):
    ids = np.random.default_rng(M).integers(0, 1000, size=M)
    batches = LMBatches(ids, N, T)
    chunks = list(batches)
    assert len(chunks) == len(batches)
    S = (M - 1) // N
    x = np.concatenate([c[0] for c in chunks], axis=1)
    y = np.concatenate([c[1] for c in chunks], axis=1)
    assert x.shape == y.shape == (N, S)
    for i in range(N):
        np.testing.assert_array_equal(x[i], ids[i * S:(i + 1) * S])
        np.testing.assert_array_equal(y[i], ids[i * S + 1:(i + 1) * S + 1])
    assert all(c[0].shape[1] == T for c in chunks[:-1]) and 1 <= chunks[-1][0].shape[1] <= T


def test_lm_batches_drop_last_and_errors():
    ids = np.arange(101)
    assert [c[0].shape for c in LMBatches(ids, 4, 7, drop_last=True)] == [(4, 7)] * 3
    with pytest.raises(ValueError, match="too few"):
        LMBatches(np.arange(3), 4, 2)
    with pytest.raises(ValueError, match="seq_len is 0"):
        LMBatches(ids, 2, 0)
    with pytest.raises(ValueError, match=r"expected \(M,\) integers"):
        LMBatches(np.zeros(10), 2, 2)


def test_pad_returns_lengths_and_mask():
    ids, lengths, mask = pad([[5, 6, 7], [8], []])
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 0])
    np.testing.assert_array_equal(mask, ids != 0)


def test_bucket_order_is_a_seeded_partition_with_little_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=1000)
    batches = bucket_order(lengths, 16, rng=1)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    assert all(len(b) <= 16 for b in batches)
    assert [b.tolist() for b in bucket_order(lengths, 16, rng=1)] == [b.tolist() for b in batches]
    waste = sum(lengths[b].max() * len(b) - lengths[b].sum() for b in batches)
    random = [np.arange(i, min(i + 16, 1000)) for i in range(0, 1000, 16)]
    waste_random = sum(lengths[b].max() * len(b) - lengths[b].sum() for b in random)
    assert waste < 0.2 * waste_random
    sorted_batches = bucket_order(lengths, 16, shuffle=False)
    assert np.all(np.diff(lengths[np.concatenate(sorted_batches)]) >= 0)


def test_seq2seq_batches_shift_the_target_for_teacher_forcing():
    srcs = [[4, 5], [6, 7, 8, 9], [10]]
    tgts = [[2, 11, 12, 3], [2, 13, 3], [2, 3]]
    seen = set()
    for b in seq2seq_batches(srcs, tgts, batch_size=2, rng=0):
        for row, i in enumerate(b.index):
            seen.add(int(i))
            n = len(tgts[i]) - 1
            np.testing.assert_array_equal(b.src[row, :len(srcs[i])], srcs[i])
            np.testing.assert_array_equal(b.tgt_in[row, :n], tgts[i][:-1])
            np.testing.assert_array_equal(b.tgt_out[row, :n], tgts[i][1:])
            assert b.tgt_mask[row].sum() == n and b.src_lengths[row] == len(srcs[i])
    assert seen == {0, 1, 2}
    with pytest.raises(ValueError, match="must include <bos> and <eos>"):
        next(seq2seq_batches([[1]], [[2]], 1))


def test_classification_batches_keep_labels_with_their_examples():
    xs = [[i] * (1 + i % 5) for i in range(23)]
    ys = [i % 2 for i in range(23)]
    count = 0
    for b in classification_batches(xs, ys, batch_size=4, rng=3):
        count += len(b.y)
        for row, i in enumerate(b.index):
            assert b.y[row] == ys[i] and b.lengths[row] == len(xs[i]) and b.x[row, 0] == i
    assert count == 23
    with pytest.raises(ValueError, match="ys has 2"):
        next(classification_batches(xs, ys[:2], 4))
