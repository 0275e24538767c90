"""A many-to-one sentence classifier, optionally bidirectional.

Chapter: "Stacked and bidirectional RNNs". The PyTorch mirror is
seqlib.torch.classifier.SentenceClassifier.
"""
from __future__ import annotations

import numpy as np

from seqlib.numpy.model_parts import (
    Stack,
    check_int,
    init_affine,
    init_embedding,
    init_rng,
    length_groups,
)
from seqlib.numpy.layers import (
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)
from seqlib.numpy.stacked import check_lengths
from seqlib.shapes import Dims


class SentenceClassifier:
    """Many-to-one: embedding -> stacked RNN/LSTM/GRU -> last real state -> affine -> softmax.

    SentenceClassifier(vocab_size V, embed_size D, hidden_size H, num_classes C, num_layers L=1,
                       cell="lstm", bidirectional=False, *, seed=0, dtype=np.float64)

    The sentence representation is the top layer's state after the last real token (from
    lengths), concatenated with, when bidirectional, the backward direction's state after reading
    the first token: (N, K*H), K = 2 if bidirectional else 1.
    params: W_embed (V, D); Wx_l{l}, Wh_l{l}, b_l{l} (+ *_reverse); W_out (K*H, C), b_out (C,).
    """

    def __init__(self, vocab_size, embed_size, hidden_size, num_classes, num_layers=1, cell="lstm",
                 bidirectional=False, *, seed=0, dtype=np.float64):
        self.V = check_int("vocab_size", vocab_size)
        self.C = check_int("num_classes", num_classes, minimum=2)
        self.rnn = Stack("", cell, check_int("embed_size", embed_size), check_int("hidden_size", hidden_size),
                          check_int("num_layers", num_layers), bidirectional)
        self.cell, self.H, self.L = cell, hidden_size, num_layers
        rng = init_rng(seed)
        self.params = {"W_embed": init_embedding(rng, self.V, embed_size, dtype)}
        self.params.update(self.rnn.init(rng, dtype))
        self.params["W_out"], self.params["b_out"] = init_affine(rng, self.rnn.K * hidden_size, self.C, dtype)

    def _check(self, x, lengths):
        Dims().check("x", x, "N,T", dtype="int")
        if lengths is None:
            return np.full(x.shape[0], x.shape[1])
        return check_lengths(lengths, *x.shape)

    def _encode(self, x, lengths):
        p = self.params
        emb, c_emb = word_embedding_forward(x, p["W_embed"])
        r = np.empty((x.shape[0], self.rnn.K * self.H), dtype=emb.dtype)
        groups = []
        for ell, idx in length_groups(lengths):
            _, state, cache = self.rnn.forward(p, emb[idx, :ell])
            r[idx] = self.rnn.top_final(state)
            groups.append((ell, idx, state, cache))
        return r, (emb.shape, c_emb, groups)

    def scores(self, x, lengths=None):
        """Class scores (N, C) for x (N, T) ids with lengths (N,) (None: no padding)."""
        r, _ = self._encode(x, self._check(x, lengths))
        return r @ self.params["W_out"] + self.params["b_out"]

    def predict(self, x, lengths=None):
        """The most likely class of every sentence: (N,) ids in [0, C)."""
        return self.scores(x, lengths).argmax(axis=1)

    def loss(self, x, y, lengths=None):
        """Mean softmax cross-entropy of the labels.

        x: (N, T) ids in [0, V)   y: (N,) labels in [0, C)
        lengths: (N,) the real tokens of each row, in [1, T] (padding comes after them);
                 None when no row is padded.
        Returns (loss, grads), grads keyed like params.
        """
        lengths = self._check(x, lengths)
        Dims(N=x.shape[0]).check("y", y, "N", dtype="int")
        p = self.params
        r, (emb_shape, c_emb, groups) = self._encode(x, lengths)
        # The classifier is a one-step temporal softmax: mean over N of -log p(y).
        scores, c_out = temporal_affine_forward(r[:, None], p["W_out"], p["b_out"])
        loss, dscores = temporal_softmax_loss(scores, y[:, None], np.ones((x.shape[0], 1), dtype=bool))
        dr, dW_out, db_out = temporal_affine_backward(dscores, c_out)
        dr = dr[:, 0]
        demb = np.zeros(emb_shape, dtype=dr.dtype)
        grads = {}
        for ell, idx, state, cache in groups:
            dh = np.zeros((len(idx), ell, self.rnn.K * self.H), dtype=dr.dtype)
            dx, _, g = self.rnn.backward(dh, cache, self.rnn.top_final_grad(dr[idx], state))
            demb[idx, :ell] = dx
            for k, v in g.items():
                grads[k] = grads[k] + v if k in grads else v
        grads["W_embed"] = word_embedding_backward(demb, c_emb)
        grads["W_out"], grads["b_out"] = dW_out, db_out
        return loss, {k: grads[k] for k in p}
