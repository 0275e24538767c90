"""Whole models assembled from the layers: a language model, a sentence classifier, seq2seq.

Chapters: "Language models" (LanguageModel, sampling),
"Stacked and bidirectional RNNs" (SentenceClassifier) and "Sequence to sequence" (Seq2Seq).

Each model keeps its weights in one flat dict ``params`` (name -> array) and has
``loss(...) -> (loss, grads)``, with ``grads`` keyed like ``params``: the pair an optimizer
of seqlib.numpy.optim takes. ``loss`` always reads the arrays of ``params``, so updating
them in place (or replacing one) changes the model.

The recurrent core of every model is seqlib.numpy.stacked: ``cell`` is "rnn", "lstm" or
"gru" and ``num_layers`` stacks L of them. Recurrent states cross the public boundary
batch-first, as seqlib.decode expects of a step function: h (N, L, H), and for the LSTM
the pair (h, c) of two such arrays. Padding comes at the end of a sequence (masks are True
then False); where a model needs the state after the last real token, sequences of equal
length run together, so no state ever reads padding.
"""

from __future__ import annotations

import numpy as np

from seqlib.numpy.layers import (
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)
from seqlib.numpy.stacked import init_stacked_params, stacked_backward, stacked_forward
from seqlib.shapes import Dims

CELLS = ("rnn", "lstm", "gru")


class _Stack:
    """A stacked recurrent network whose weights live in a model's flat params dict under
    ``{prefix}Wx_l{l}``, ``{prefix}Wh_l{l}``, ``{prefix}b_l{l}`` (suffix ``_reverse`` for the
    backward direction, as torch.nn names them). The one place that dispatches on the cell."""

    def __init__(self, prefix, cell, D, H, L, bidirectional=False):
        if cell not in CELLS:
            raise ValueError(f"cell is {cell!r}, expected one of {CELLS}")
        for name, v in (("input size", D), ("hidden_size", H), ("num_layers", L)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} is {v!r}, expected a positive integer")
        self.prefix, self.cell, self.D, self.H, self.L = prefix, cell, D, H, L
        self.K = 2 if bidirectional else 1
        self.bidirectional = bool(bidirectional)

    def _key(self, w, layer, d):
        return f"{self.prefix}{w}_l{layer}{'_reverse' if d else ''}"

    def init(self, rng, dtype):
        nested = init_stacked_params(self.D, self.H, self.L, cell=self.cell,
                                     bidirectional=self.bidirectional, rng=rng, dtype=dtype)
        return {self._key(w, layer, d): p[w]
                for layer, dirs in enumerate(nested) for d, p in enumerate(dirs) for w in ("Wx", "Wh", "b")}

    def _nested(self, params):
        return [[{w: params[self._key(w, layer, d)] for w in ("Wx", "Wh", "b")} for d in range(self.K)]
                for layer in range(self.L)]

    def forward(self, params, x, state0=None):
        """x (N, T, D); state0 in stacked's layout (L*K, N, H) [pair for the LSTM] or None."""
        h0, c0 = (state0 if self.cell == "lstm" else (state0, None)) if state0 is not None else (None, None)
        return stacked_forward(x, h0, self._nested(params), cell=self.cell,
                               bidirectional=self.bidirectional, c0=c0)

    def backward(self, dh, cache, dstate=None):
        """Returns dx (N, T, D), dstate0 (stacked's layout) and the weight gradients, flat."""
        dx, dstate0, dnested = stacked_backward(dh, cache, dstate)
        grads = {self._key(w, layer, d): g[w]
                 for layer, dirs in enumerate(dnested) for d, g in enumerate(dirs) for w in ("Wx", "Wh", "b")}
        return dx, dstate0, grads

    def zero_state(self, N, dtype):
        z = np.zeros((self.L * self.K, N, self.H), dtype=dtype)
        return (z, z.copy()) if self.cell == "lstm" else z

    def to_public(self, state):
        """stacked's (L, N, H) -> batch-first (N, L, H): decoders reorder states by row."""
        if self.cell == "lstm":
            return tuple(np.ascontiguousarray(s.transpose(1, 0, 2)) for s in state)
        return np.ascontiguousarray(state.transpose(1, 0, 2))

    def from_public(self, name, state, N):
        """Check a public state (N, L, H) [pair for the LSTM] and return stacked's layout."""
        dims = Dims(N=N, L=self.L, H=self.H)
        if self.cell == "lstm":
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise ValueError(f"{name} must be a pair (h, c) of arrays (N, L, H) for cell='lstm'")
            h, c = state
            dims.check(f"{name}[0]", h, "N,L,H")
            dims.check(f"{name}[1]", c, "N,L,H")
            return h.transpose(1, 0, 2), c.transpose(1, 0, 2)
        dims.check(name, state, "N,L,H")
        return state.transpose(1, 0, 2)

    def top_final(self, state):
        """The top layer's final hidden state of each direction, side by side: (N, K*H)."""
        h_n = state[0] if self.cell == "lstm" else state
        return np.concatenate([h_n[(self.L - 1) * self.K + d] for d in range(self.K)], axis=1)

    def top_final_grad(self, dtop, like):
        """dstate for stacked_backward when only top_final(state) received the gradient dtop."""
        h_n = like[0] if self.cell == "lstm" else like
        dh_n = np.zeros_like(h_n)
        for d in range(self.K):
            dh_n[(self.L - 1) * self.K + d] = dtop[:, d * self.H:(d + 1) * self.H]
        return (dh_n, None) if self.cell == "lstm" else dh_n


def _init_rng(seed):
    return np.random.default_rng(seed)


def _embedding(rng, V, D, dtype):
    # Unit-variance rows: after Wx, uniform in +-1/sqrt(H), pre-activations are O(1).
    return rng.standard_normal((V, D)).astype(dtype)


def _affine(rng, H, V, dtype):
    k = 1.0 / np.sqrt(H)
    return rng.uniform(-k, k, (H, V)).astype(dtype), np.zeros(V, dtype=dtype)


def _check_int(name, value, minimum=1):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} is {value!r}, expected an integer >= {minimum}")
    return int(value)


def _lengths(name, mask):
    """Lengths of prefix masks (N, T): each row True for its first steps, then False."""
    lengths = mask.sum(axis=1)
    prefix = np.arange(mask.shape[1]) < lengths[:, None]
    bad = np.flatnonzero((prefix != mask).any(axis=1) | (lengths == 0))
    if bad.size:
        n = int(bad[0])
        raise ValueError(f"{name} row {n} is {mask[n].astype(int).tolist()}: expected at least one True "
                         f"step, then only False (padding at the end)")
    return lengths


def _length_groups(lengths):
    """(length, indices) for every distinct length: equal lengths run as one batch."""
    return [(int(ell), np.flatnonzero(lengths == ell)) for ell in np.unique(lengths)]


def _check_tokens(tokens, V):
    if tokens.size and (tokens.min() < 0 or tokens.max() >= V):
        bad = tokens[(tokens < 0) | (tokens >= V)].flat[0]
        raise ValueError(f"tokens has a value {bad} outside [0, V) = [0, {V})")


def _log_softmax(scores):
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class LanguageModel:
    """Embedding -> stacked RNN/LSTM/GRU -> temporal affine -> softmax loss at every step.

    LanguageModel(vocab_size V, embed_dim D, hidden_size H, cell="rnn", num_layers L=1,
                  seed=0, dtype=np.float64)

    params: W_embed (V, D); per layer l: Wx_l{l} (D or H, G*H), Wh_l{l} (H, G*H), b_l{l};
    W_out (H, V), b_out (V,); G = 1 (rnn), 4 (lstm), 3 (gru).
    """

    def __init__(self, vocab_size, embed_dim, hidden_size, cell="rnn", num_layers=1, seed=0,
                 dtype=np.float64):
        self.V = _check_int("vocab_size", vocab_size)
        self.rnn = _Stack("", cell, _check_int("embed_dim", embed_dim), _check_int("hidden_size", hidden_size),
                          _check_int("num_layers", num_layers))
        self.cell, self.H, self.L = cell, hidden_size, num_layers
        rng = _init_rng(seed)
        self.params = {"W_embed": _embedding(rng, self.V, embed_dim, dtype)}
        self.params.update(self.rnn.init(rng, dtype))
        self.params["W_out"], self.params["b_out"] = _affine(rng, hidden_size, self.V, dtype)

    def initial_state(self, N):
        """The zero state for N sequences: h (N, L, H), or (h, c) for the LSTM."""
        return self.rnn.to_public(self.rnn.zero_state(_check_int("N", N), self.params["W_out"].dtype))

    def loss(self, x, y, mask=None, h0=None, return_state=False):
        """Cross-entropy of the next token at every unmasked step, summed over time, averaged over N.

        x: (N, T) input ids in [0, V)   y: (N, T) target ids (usually x shifted left by one)
        mask: (N, T) bool, False where y is padding; None means every step counts.
        h0: the state before the first step, h (N, L, H) or (h, c) for the LSTM; None for zeros.
            It is a constant here: no gradient flows into it (truncated BPTT stops there).
        Returns (loss, grads), grads keyed like params; with return_state=True, also the
        state after the last step, (loss, grads, state), to carry into the next chunk.
        """
        dims = Dims()
        dims.check("x", x, "N,T", dtype="int")
        dims.check("y", y, "N,T", dtype="int")
        if mask is not None:
            dims.check("mask", mask, "N,T", dtype="bool")
        N = dims["N"]
        p = self.params
        state0 = None if h0 is None else self.rnn.from_public("h0", h0, N)
        if mask is None:
            mask = np.ones(x.shape, dtype=bool)

        emb, c_emb = word_embedding_forward(x, p["W_embed"])
        h, state, c_rnn = self.rnn.forward(p, emb, state0)
        scores, c_out = temporal_affine_forward(h, p["W_out"], p["b_out"])
        loss, dscores = temporal_softmax_loss(scores, y, mask)

        dh, dW_out, db_out = temporal_affine_backward(dscores, c_out)
        demb, _, grads = self.rnn.backward(dh, c_rnn)
        grads["W_embed"] = word_embedding_backward(demb, c_emb)
        grads["W_out"], grads["b_out"] = dW_out, db_out
        grads = {k: grads[k] for k in p}  # the order of params
        if return_state:
            return loss, grads, self.rnn.to_public(state)
        return loss, grads

    def step(self, tokens, state):
        """One step of generation, the step function of seqlib.decode.

        tokens: (N,) ids of the current tokens.  state: h (N, L, H) or (h, c), e.g. initial_state(N).
        Returns log_probs (N, V) of the next token and the new state.
        """
        dims = Dims()
        dims.check("tokens", tokens, "N", dtype="int")
        _check_tokens(tokens, self.V)
        p = self.params
        state0 = self.rnn.from_public("state", state, dims["N"])
        emb, _ = word_embedding_forward(tokens[:, None], p["W_embed"])
        h, new_state, _ = self.rnn.forward(p, emb, state0)
        return _log_softmax(h[:, 0] @ p["W_out"] + p["b_out"]), self.rnn.to_public(new_state)

    def sample(self, start_token, length, temperature=1.0, rng=None, h0=None):
        """Sample ``length`` tokens after ``start_token`` from softmax(scores / temperature).

        start_token: an int, or (N,) ids to sample N sequences at once.
        temperature > 0: below 1 sharpens the distribution, above 1 flattens it.
        rng: a numpy Generator or a seed.  h0: the starting state, as in loss.
        Returns (length,) ids, or (N, length) when start_token is an array; the start
        token itself is not included.
        """
        single = np.ndim(start_token) == 0
        tokens = np.atleast_1d(np.asarray(start_token))
        Dims().check("start_token", tokens, "N", dtype="int")
        length = _check_int("length", length, minimum=0)
        temperature = float(temperature)
        if not temperature > 0 or not np.isfinite(temperature):
            raise ValueError(f"temperature is {temperature}, expected a positive number")
        rng = np.random.default_rng(rng)
        N = tokens.shape[0]
        state = self.initial_state(N) if h0 is None else h0
        out = np.empty((N, length), dtype=np.int64)
        for t in range(length):
            log_probs, state = self.step(tokens, state)
            p = np.exp(_log_softmax(log_probs / temperature))
            # Inverse-CDF sampling, one uniform draw per row; the clip guards the rounding
            # of a cumulative sum that ends a hair below 1.
            u = rng.random((N, 1))
            tokens = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), self.V - 1)
            out[:, t] = tokens
        return out[0] if single else out


class SentenceClassifier:
    """Many-to-one: embedding -> stacked RNN/LSTM/GRU -> last real state -> affine -> softmax.

    SentenceClassifier(vocab_size V, num_classes C, embed_dim D, hidden_size H, cell="rnn",
                       num_layers L=1, bidirectional=False, seed=0, dtype=np.float64)

    The sentence representation is the top layer's state after the last real token (from the
    mask), concatenated with, when bidirectional, the backward direction's state after reading
    the first token: (N, K*H), K = 2 if bidirectional else 1.
    params: W_embed (V, D); Wx_l{l}, Wh_l{l}, b_l{l} (+ *_reverse); W_out (K*H, C), b_out (C,).
    """

    def __init__(self, vocab_size, num_classes, embed_dim, hidden_size, cell="rnn", num_layers=1,
                 bidirectional=False, seed=0, dtype=np.float64):
        self.V = _check_int("vocab_size", vocab_size)
        self.C = _check_int("num_classes", num_classes, minimum=2)
        self.rnn = _Stack("", cell, _check_int("embed_dim", embed_dim), _check_int("hidden_size", hidden_size),
                          _check_int("num_layers", num_layers), bidirectional)
        self.cell, self.H, self.L = cell, hidden_size, num_layers
        rng = _init_rng(seed)
        self.params = {"W_embed": _embedding(rng, self.V, embed_dim, dtype)}
        self.params.update(self.rnn.init(rng, dtype))
        self.params["W_out"], self.params["b_out"] = _affine(rng, self.rnn.K * hidden_size, self.C, dtype)

    def _check(self, x, mask):
        dims = Dims()
        dims.check("x", x, "N,T", dtype="int")
        if mask is None:
            return np.full(x.shape[0], x.shape[1])
        dims.check("mask", mask, "N,T", dtype="bool")
        return _lengths("mask", mask)

    def _encode(self, x, lengths):
        p = self.params
        emb, c_emb = word_embedding_forward(x, p["W_embed"])
        r = np.empty((x.shape[0], self.rnn.K * self.H), dtype=emb.dtype)
        groups = []
        for ell, idx in _length_groups(lengths):
            _, state, cache = self.rnn.forward(p, emb[idx, :ell])
            r[idx] = self.rnn.top_final(state)
            groups.append((ell, idx, state, cache))
        return r, (emb.shape, c_emb, groups)

    def scores(self, x, mask=None):
        """Class scores (N, C) for x (N, T) ids with mask (N, T) (None: no padding)."""
        r, _ = self._encode(x, self._check(x, mask))
        return r @ self.params["W_out"] + self.params["b_out"]

    def predict(self, x, mask=None):
        """The most likely class of every sentence: (N,) ids in [0, C)."""
        return self.scores(x, mask).argmax(axis=1)

    def loss(self, x, y, mask=None):
        """Mean softmax cross-entropy of the labels.

        x: (N, T) ids in [0, V)   y: (N,) labels in [0, C)
        mask: (N, T) bool, True for the real tokens of each row, then False (padding at the
              end; at least one real token); None when no row is padded.
        Returns (loss, grads), grads keyed like params.
        """
        lengths = self._check(x, mask)
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


def shift_right(y, bos):
    """Teacher-forcing decoder inputs: [bos, y_0, ..., y_{T-2}] for every row of y (N, T)."""
    Dims().check("y", y, "N,T", dtype="int")
    out = np.empty_like(y)
    out[:, 0] = bos
    out[:, 1:] = y[:, :-1]
    return out


class Seq2Seq:
    """Encoder-decoder: the encoder's final state is the decoder's initial state.

    Seq2Seq(src_vocab_size, tgt_vocab_size V, embed_dim D, hidden_size H, cell="rnn",
            num_layers L=1, bos=1, eos=2, seed=0, dtype=np.float64)

    Encoder and decoder are stacks of the same cell and size, so layer l of the decoder starts
    from layer l of the encoder after the last real source token. Training uses teacher
    forcing: the decoder reads the target shifted right with <bos> (shift_right) and
    predicts the target.
    params: src_W_embed (U, D), tgt_W_embed (V, D); enc_Wx_l{l}, enc_Wh_l{l}, enc_b_l{l};
    dec_Wx_l{l}, dec_Wh_l{l}, dec_b_l{l}; W_out (H, V), b_out (V,). U: source vocabulary.
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_dim, hidden_size, cell="rnn",
                 num_layers=1, bos=1, eos=2, seed=0, dtype=np.float64):
        self.U = _check_int("src_vocab_size", src_vocab_size)
        self.V = _check_int("tgt_vocab_size", tgt_vocab_size)
        D, H, L = (_check_int("embed_dim", embed_dim), _check_int("hidden_size", hidden_size),
                   _check_int("num_layers", num_layers))
        for name, tok in (("bos", bos), ("eos", eos)):
            if not isinstance(tok, (int, np.integer)) or not 0 <= tok < self.V:
                raise ValueError(f"{name} is {tok!r}, expected an id in [0, tgt_vocab_size) = [0, {self.V})")
        self.bos, self.eos = int(bos), int(eos)
        self.encoder = _Stack("enc_", cell, D, H, L)
        self.decoder = _Stack("dec_", cell, D, H, L)
        self.cell, self.H, self.L = cell, H, L
        rng = _init_rng(seed)
        self.params = {"src_W_embed": _embedding(rng, self.U, D, dtype),
                       "tgt_W_embed": _embedding(rng, self.V, D, dtype)}
        self.params.update(self.encoder.init(rng, dtype))
        self.params.update(self.decoder.init(rng, dtype))
        self.params["W_out"], self.params["b_out"] = _affine(rng, H, self.V, dtype)

    def _encode(self, src, src_mask, dims):
        dims.check("src", src, "N,S", dtype="int")
        dims.check("src_mask", src_mask, "N,S", dtype="bool")
        lengths = _lengths("src_mask", src_mask)
        p = self.params
        emb, c_emb = word_embedding_forward(src, p["src_W_embed"])
        state = self.encoder.zero_state(src.shape[0], emb.dtype)
        groups = []
        for ell, idx in _length_groups(lengths):
            _, s, cache = self.encoder.forward(p, emb[idx, :ell])
            for full, part in zip(state if self.cell == "lstm" else (state,), s if self.cell == "lstm" else (s,)):
                full[:, idx] = part
            groups.append((ell, idx, cache))
        return state, (emb.shape, c_emb, groups)

    def encode(self, src, src_mask):
        """The decoder's initial state for a batch of sources.

        src: (N, S) source ids in [0, U), S source steps.  src_mask: (N, S) bool, True for the
        real tokens of each row, then False.
        Returns the state h (N, L, H), or (h, c) for the LSTM, to pass to step.
        """
        state, _ = self._encode(src, src_mask, Dims())
        return self.encoder.to_public(state)

    def loss(self, src, src_mask, tgt_in, tgt_out, tgt_mask):
        """Teacher-forced cross-entropy of the target, summed over time, averaged over N.

        src: (N, S) ids in [0, U)     src_mask: (N, S) bool, real tokens then padding
        tgt_in: (N, T) decoder inputs, shift_right(tgt_out, bos)
        tgt_out: (N, T) targets in [0, V)    tgt_mask: (N, T) bool, False on target padding
        Returns (loss, grads), grads keyed like params.
        """
        dims = Dims()
        dims.check("src", src, "N,S", dtype="int")
        dims.check("tgt_in", tgt_in, "N,T", dtype="int")
        dims.check("tgt_out", tgt_out, "N,T", dtype="int")
        dims.check("tgt_mask", tgt_mask, "N,T", dtype="bool")
        state0, (src_shape, c_src, groups) = self._encode(src, src_mask, dims)
        p = self.params
        emb, c_emb = word_embedding_forward(tgt_in, p["tgt_W_embed"])
        h, _, c_dec = self.decoder.forward(p, emb, state0)
        scores, c_out = temporal_affine_forward(h, p["W_out"], p["b_out"])
        loss, dscores = temporal_softmax_loss(scores, tgt_out, tgt_mask)

        dh, dW_out, db_out = temporal_affine_backward(dscores, c_out)
        demb, dstate0, grads = self.decoder.backward(dh, c_dec)
        grads["tgt_W_embed"] = word_embedding_backward(demb, c_emb)
        grads["W_out"], grads["b_out"] = dW_out, db_out
        # The decoder's initial state is the encoder's final one: its gradient enters the
        # encoder there, group by group.
        dsrc = np.zeros(src_shape, dtype=dh.dtype)
        for ell, idx, cache in groups:
            dstate = tuple(d[:, idx] for d in dstate0) if self.cell == "lstm" else dstate0[:, idx]
            dh_enc = np.zeros((len(idx), ell, self.H), dtype=dh.dtype)
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
        dims = Dims()
        dims.check("tokens", tokens, "B", dtype="int")
        _check_tokens(tokens, self.V)
        p = self.params
        state0 = self.decoder.from_public("state", state, dims["B"])
        emb, _ = word_embedding_forward(tokens[:, None], p["tgt_W_embed"])
        h, new_state, _ = self.decoder.forward(p, emb, state0)
        return _log_softmax(h[:, 0] @ p["W_out"] + p["b_out"]), self.decoder.to_public(new_state)
