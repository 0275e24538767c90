"""Turning token ids into batches: LM streams for truncated BPTT, padded and bucketed batches.

Chapters: "Language models" (N parallel streams, state carried from one chunk to the
next), "Sequence to sequence" and "Stacked and bidirectional RNNs / sentence
classification" (padding, masks, length buckets). Everything is NumPy; the torch engine
converts with ``torch.from_numpy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

PAD_ID = 0  # seqlib.vocab puts <pad> at id 0


class LMBatches:
    """Chunks (x, y) of N parallel streams for truncated backpropagation through time.

    ids: (M,) the whole corpus as token ids. It is cut into N equal streams, stream i being
    ids[i * S : (i + 1) * S + 1] with S = (M - 1) // N (the tail that does not fill a stream
    is dropped). Chunk k holds time steps [k T, (k + 1) T) of every stream:
    x: (N, T) inputs, y: (N, T) the next tokens (x shifted by one). Row i of chunk k + 1
    continues row i of chunk k, so the caller carries the hidden state across chunks
    (detached) and resets it only at the start of an epoch. The last chunk is shorter
    when T does not divide S, unless drop_last.
    """

    def __init__(self, ids, batch_size: int, seq_len: int, drop_last: bool = False):
        ids = np.ascontiguousarray(ids)  # as_strided below assumes one stride
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise ValueError(f"ids has shape {ids.shape} and dtype {ids.dtype}, expected (M,) integers")
        for name, v in (("batch_size", batch_size), ("seq_len", seq_len)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} is {v!r}, expected an integer >= 1")
        S = (len(ids) - 1) // batch_size
        if S < 1:
            raise ValueError(f"ids has {len(ids)} tokens: too few for {batch_size} streams of at least 2 tokens")
        self.N, self.T, self.S = int(batch_size), int(seq_len), S
        self.drop_last = drop_last
        # (N, S + 1) view: stream i is row i; y is x shifted by one inside each row
        self.streams = np.lib.stride_tricks.as_strided(
            ids, shape=(self.N, S + 1), strides=(S * ids.strides[0], ids.strides[0]), writeable=False)

    def __len__(self) -> int:
        return self.S // self.T if self.drop_last else -(-self.S // self.T)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for k in range(len(self)):
            a = k * self.T
            b = min(a + self.T, self.S)
            yield self.streams[:, a:b], self.streams[:, a + 1:b + 1]


def pad(seqs: Sequence[Sequence[int]], pad_id: int = PAD_ID) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-pad sequences to the longest one.

    Returns ids (N, T) int64, lengths (N,) int64 and mask (N, T) bool (True on real tokens).
    """
    if len(seqs) == 0:
        raise ValueError("seqs is empty: cannot pad zero sequences")
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    T = max(int(lengths.max()), 1)
    ids = np.full((len(seqs), T), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
    mask = np.arange(T)[None, :] < lengths[:, None]
    return ids, lengths, mask


def bucket_order(lengths: Sequence[int], batch_size: int, shuffle: bool = True, rng=None,
                 pool: int = 50) -> list[np.ndarray]:
    """Index arrays of batches whose members have similar lengths (little padding).

    Examples are shuffled, cut into pools of ``pool * batch_size``, sorted by length inside
    each pool and cut into batches; the batches are then shuffled. Without shuffle the
    whole set is sorted by length (stable), for deterministic evaluation.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size is {batch_size!r}, expected an integer >= 1")
    lengths = np.asarray(lengths)
    n = len(lengths)
    if not shuffle:
        order = np.argsort(lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    perm = rng.permutation(n)
    batches = []
    step = pool * batch_size
    for p in range(0, n, step):
        chunk = perm[p:p + step]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


@dataclass
class ClassificationBatch:
    """x: (N, T) ids, lengths: (N,), mask: (N, T) bool, y: (N,) labels, index: (N,) example ids."""

    x: np.ndarray
    lengths: np.ndarray
    mask: np.ndarray
    y: np.ndarray
    index: np.ndarray


@dataclass
class Seq2SeqBatch:
    """src: (N, S) ids, src_lengths: (N,) (the models take lengths, not a source mask);
    tgt_in: (N, T) decoder inputs (<bos> y_1 ... y_{n-1}), tgt_out: (N, T) what it must
    predict (y_1 ... y_n <eos>), tgt_mask: (N, T) bool; index: (N,) example ids."""

    src: np.ndarray
    src_lengths: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray
    tgt_mask: np.ndarray
    index: np.ndarray


def classification_batches(xs: Sequence[Sequence[int]], ys: Sequence[int], batch_size: int,
                           shuffle: bool = True, rng=None) -> Iterator[ClassificationBatch]:
    """Padded, length-bucketed batches of (token ids, label) examples."""
    if len(xs) != len(ys):
        raise ValueError(f"xs has {len(xs)} examples but ys has {len(ys)}")
    ys = np.asarray(ys)
    for idx in bucket_order([len(x) for x in xs], batch_size, shuffle, rng):
        x, lengths, mask = pad([xs[i] for i in idx])
        yield ClassificationBatch(x, lengths, mask, ys[idx], idx)


def seq2seq_batches(srcs: Sequence[Sequence[int]], tgts: Sequence[Sequence[int]], batch_size: int,
                    shuffle: bool = True, rng=None) -> Iterator[Seq2SeqBatch]:
    """Padded, bucketed (by source length) batches for teacher forcing.

    Each target must already hold <bos> ... <eos> (``Vocab.encode(t, bos=True, eos=True)``):
    the decoder reads tgt[:-1] and is scored on tgt[1:].
    """
    if len(srcs) != len(tgts):
        raise ValueError(f"srcs has {len(srcs)} examples but tgts has {len(tgts)}")
    short = [i for i, t in enumerate(tgts[:100]) if len(t) < 2]
    if short:
        raise ValueError(f"target {short[0]} has fewer than 2 tokens: targets must include <bos> and <eos>")
    for idx in bucket_order([len(s) for s in srcs], batch_size, shuffle, rng):
        src, src_len, _ = pad([srcs[i] for i in idx])
        tgt_in, _, tgt_mask = pad([tgts[i][:-1] for i in idx])
        tgt_out, _, _ = pad([tgts[i][1:] for i in idx])
        yield Seq2SeqBatch(src, src_len, tgt_in, tgt_out, tgt_mask, idx)
