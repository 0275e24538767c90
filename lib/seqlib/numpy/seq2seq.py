"""An encoder-decoder: the encoder's final state is the decoder's initial state.

Chapter: "Sequence to sequence". The PyTorch mirror is seqlib.torch.seq2seq.Seq2Seq.
"""
from __future__ import annotations

import numpy as np

from seqlib.numpy.model_parts import (
    Stack,
    check_int,
    decode_step,
    init_affine,
    init_embedding,
    init_rng,
    length_groups,
    lm_loss,
)
from seqlib.numpy.layers import (
    word_embedding_backward,
    word_embedding_forward,
)
from seqlib.numpy.stacked import check_lengths
from seqlib.shapes import Dims


def shift_right(y, bos):
    """Teacher-forcing decoder inputs: [bos, y_0, ..., y_{T-2}] for every row of y (N, T)."""
    Dims().check("y", y, "N,T", dtype="int")
    out = np.empty_like(y)
    out[:, 0] = bos
    out[:, 1:] = y[:, :-1]
    return out


class Seq2Seq:
    """Encoder-decoder: the encoder's final state is the decoder's initial state.

    Seq2Seq(src_vocab_size, tgt_vocab_size V, embed_size D, hidden_size H, num_layers L=1,
            cell="lstm", *, bos=1, eos=2, seed=0, dtype=np.float64)

    Encoder and decoder are stacks of the same cell and size, so layer l of the decoder starts
    from layer l of the encoder after the last real source token. Training uses teacher
    forcing: the decoder reads the target shifted right with <bos> (shift_right) and
    predicts the target.
    params: src_W_embed (U, D), tgt_W_embed (V, D); enc_Wx_l{l}, enc_Wh_l{l}, enc_b_l{l};
    dec_Wx_l{l}, dec_Wh_l{l}, dec_b_l{l}; W_out (H, V), b_out (V,). U: source vocabulary.
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_size, hidden_size, num_layers=1,
                 cell="lstm", *, bos=1, eos=2, seed=0, dtype=np.float64):
        self.U = check_int("src_vocab_size", src_vocab_size)
        self.V = check_int("tgt_vocab_size", tgt_vocab_size)
        D, H, L = (check_int("embed_size", embed_size), check_int("hidden_size", hidden_size),
                   check_int("num_layers", num_layers))
        for name, tok in (("bos", bos), ("eos", eos)):
            if not isinstance(tok, (int, np.integer)) or not 0 <= tok < self.V:
                raise ValueError(f"{name} is {tok!r}, expected an id in [0, tgt_vocab_size) = [0, {self.V})")
        self.bos, self.eos = int(bos), int(eos)
        self.encoder = Stack("enc_", cell, D, H, L)
        self.decoder = Stack("dec_", cell, D, H, L)
        self.cell, self.H, self.L = cell, H, L
        rng = init_rng(seed)
        self.params = {"src_W_embed": init_embedding(rng, self.U, D, dtype),
                       "tgt_W_embed": init_embedding(rng, self.V, D, dtype)}
        self.params.update(self.encoder.init(rng, dtype))
        self.params.update(self.decoder.init(rng, dtype))
        self.params["W_out"], self.params["b_out"] = init_affine(rng, H, self.V, dtype)

    def _encode(self, src, src_lengths, dims):
        dims.check("src", src, "N,S", dtype="int")
        if src_lengths is None:
            lengths = np.full(dims["N"], dims["S"])
        else:
            lengths = check_lengths(src_lengths, dims["N"], dims["S"], "src_lengths")
        p = self.params
        emb, c_emb = word_embedding_forward(src, p["src_W_embed"])
        state = self.encoder.zero_state(src.shape[0], emb.dtype)
        groups = []
        for ell, idx in length_groups(lengths):
            _, s, cache = self.encoder.forward(p, emb[idx, :ell])
            for full, part in zip(state if self.cell == "lstm" else (state,), s if self.cell == "lstm" else (s,)):
                full[:, idx] = part
            groups.append((ell, idx, cache))
        return state, (emb.shape, c_emb, groups)

    def encode(self, src, src_lengths=None):
        """The decoder's initial state for a batch of sources.

        src: (N, S) source ids in [0, U), S source steps.  src_lengths: (N,) the real tokens
        of each row, in [1, S] (padding comes after them); None when no row is padded.
        Returns the state h (N, L, H), or (h, c) for the LSTM, to pass to step.
        """
        state, _ = self._encode(src, src_lengths, Dims())
        return self.encoder.to_public(state)

    def loss(self, src, src_lengths, tgt_in, tgt_out, tgt_mask):
        """Teacher-forced cross-entropy of the target, summed over time, averaged over N.

        src: (N, S) ids in [0, U)     src_lengths: (N,) in [1, S], or None (no padding)
        tgt_in: (N, T) decoder inputs, shift_right(tgt_out, bos)
        tgt_out: (N, T) targets in [0, V)    tgt_mask: (N, T) bool, False on target padding
        Returns (loss, grads), grads keyed like params.
        """
        dims = Dims()
        dims.check("src", src, "N,S", dtype="int")
        dims.check("tgt_in", tgt_in, "N,T", dtype="int")
        dims.check("tgt_out", tgt_out, "N,T", dtype="int")
        dims.check("tgt_mask", tgt_mask, "N,T", dtype="bool")
        state0, (src_shape, c_src, groups) = self._encode(src, src_lengths, dims)
        p = self.params
        # The decoder is a language model of the target, started from the encoder's state.
        loss, grads, dstate0, _ = lm_loss(self.decoder, p, "tgt_W_embed", tgt_in, tgt_out, tgt_mask, state0)
        # The decoder's initial state is the encoder's final one: its gradient enters the
        # encoder there, group by group.
        dtype = p["W_out"].dtype
        dsrc = np.zeros(src_shape, dtype=dtype)
        for ell, idx, cache in groups:
            dstate = tuple(d[:, idx] for d in dstate0) if self.cell == "lstm" else dstate0[:, idx]
            dh_enc = np.zeros((len(idx), ell, self.H), dtype=dtype)
            dx, _, g = self.encoder.backward(dh_enc, cache, dstate)
            dsrc[idx, :ell] = dx
            for k, v in g.items():
                grads[k] = grads[k] + v if k in grads else v
        grads["src_W_embed"] = word_embedding_backward(dsrc, c_src)
        return loss, {k: grads[k] for k in p}

    def step(self, tokens, state):
        """One decoder step, the step function of seqlib.decode.

        tokens: (B,) ids in [0, V) (bos at the start).  state: h (B, L, H) or (h, c), from
        encode or a previous step.
        Returns log_probs (B, V) of the next token and the new state.
        """
        return decode_step(self.decoder, self.params, "tgt_W_embed", self.V, tokens, state)
