"""A language model: embedding -> stacked RNN/LSTM/GRU -> temporal affine -> softmax loss.

Chapter: "Language models". The PyTorch mirror is seqlib.torch.lm.RNNLM; the shared parts
(params layout, batch-first states) are described in seqlib.numpy.model_parts.
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
    lm_loss,
)
from seqlib import decode
from seqlib.shapes import Dims, check_ids


class RNNLM:
    """Embedding -> stacked RNN/LSTM/GRU -> temporal affine -> softmax loss at every step.

    RNNLM(vocab_size V, embed_size D, hidden_size H, num_layers L=1, cell="lstm", *,
          seed=0, dtype=np.float64)

    params: W_embed (V, D); per layer l: Wx_l{l} (D or H, G*H), Wh_l{l} (H, G*H), b_l{l};
    W_out (H, V), b_out (V,); G = 1 (rnn), 4 (lstm), 3 (gru).
    """

    def __init__(self, vocab_size, embed_size, hidden_size, num_layers=1, cell="lstm", *, seed=0,
                 dtype=np.float64):
        self.V = check_int("vocab_size", vocab_size)
        self.rnn = Stack("", cell, check_int("embed_size", embed_size), check_int("hidden_size", hidden_size),
                          check_int("num_layers", num_layers))
        self.cell, self.H, self.L = cell, hidden_size, num_layers
        rng = init_rng(seed)
        self.params = {"W_embed": init_embedding(rng, self.V, embed_size, dtype)}
        self.params.update(self.rnn.init(rng, dtype))
        self.params["W_out"], self.params["b_out"] = init_affine(rng, hidden_size, self.V, dtype)

    def initial_state(self, N):
        """The zero state for N sequences: h (N, L, H), or (h, c) for the LSTM."""
        return self.rnn.to_public(self.rnn.zero_state(check_int("N", N), self.params["W_out"].dtype))

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

        loss, grads, _, state = lm_loss(self.rnn, p, "W_embed", x, y, mask, state0)
        grads = {k: grads[k] for k in p}  # the order of params
        if return_state:
            return loss, grads, self.rnn.to_public(state)
        return loss, grads

    def step(self, tokens, state=None):
        """One step of generation, the step function of seqlib.decode.

        tokens: (N,) ids of the current tokens.  state: h (N, L, H) or (h, c), e.g.
        initial_state(N), or None for zeros.
        Returns log_probs (N, V) of the next token and the new state.
        """
        return decode_step(self.rnn, self.params, "W_embed", self.V, tokens, state)

    def sample(self, start_token, length, temperature=1.0, rng=None, h0=None):
        """Sample ``length`` tokens after ``start_token`` from softmax(scores / temperature).

        start_token: an int, or (N,) ids to sample N sequences, one after the other.
        temperature > 0: below 1 sharpens the distribution, above 1 flattens it.
        rng: a numpy Generator or a seed.  h0: the starting state, as in loss.
        Returns (length,) ids, or (N, length) when start_token is an array; the start
        token itself is not included. Each sequence is seqlib.decode.sample over this
        model's step function (no end token: exactly length tokens), one rng for all.
        """
        single = np.ndim(start_token) == 0
        tokens = np.atleast_1d(np.asarray(start_token))
        Dims().check("start_token", tokens, "N", dtype="int")
        check_ids("start_token", tokens, self.V)
        length = check_int("length", length, minimum=0)
        temperature = float(temperature)
        if not temperature > 0 or not np.isfinite(temperature):
            raise ValueError(f"temperature is {temperature}, expected a positive number")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        N = tokens.shape[0]
        state = self.initial_state(N) if h0 is None else self.rnn.to_public(self.rnn.from_public("h0", h0, N))
        out = np.empty((N, length), dtype=np.int64)
        for n in range(N if length else 0):
            hyp = decode.sample(self.step, decode.reorder_state(state, [n]), bos=int(tokens[n]), eos=None,
                                max_len=length, temperature=temperature, rng=rng)
            out[n] = hyp.tokens
        return out[0] if single else out
