"""What the NumPy models share: the stacked core kept in a flat params dict, initial
weights, and the checks on token ids, lengths and sizes.

Chapters: "Language models", "Stacked and bidirectional RNNs", "Sequence to sequence"
(the models of seqlib.numpy.lm, .classifier and .seq2seq).

Each model keeps its weights in one flat dict ``params`` (name -> array) and has
``loss(...) -> (loss, grads)``, with ``grads`` keyed like ``params``: the pair an optimizer
of seqlib.numpy.optim takes. ``loss`` always reads the arrays of ``params``, so updating
them in place (or replacing one) changes the model.

The recurrent core of every model is seqlib.numpy.stacked: ``cell`` is "rnn", "lstm" or
"gru" and ``num_layers`` stacks L of them. Recurrent states cross the public boundary
batch-first, as seqlib.decode expects of a step function: h (N, L, H), and for the LSTM
the pair (h, c) of two such arrays. Padding comes at the end of a sequence, and a source's
real length is given as ``lengths`` (N,), as in seqlib.torch; where a model needs the state
after the last real token, sequences of equal length run together, so no state ever reads
padding.
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
from seqlib.cells import check_cell
from seqlib.shapes import Dims, check_ids


class Stack:
    """A stacked recurrent network whose weights live in a model's flat params dict under
    ``{prefix}Wx_l{l}``, ``{prefix}Wh_l{l}``, ``{prefix}b_l{l}`` (suffix ``_reverse`` for the
    backward direction, as torch.nn names them). The one place that dispatches on the cell."""

    def __init__(self, prefix, cell, D, H, L, bidirectional=False):
        check_cell(cell)
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


def init_rng(seed):
    """A NumPy Generator from a seed (an int, None, or a Generator, which is used as it is)."""
    return np.random.default_rng(seed)


def init_embedding(rng, V, D, dtype):
    """(V, D) embedding weights, one standard-normal row per token."""
    # Unit-variance rows: after Wx, uniform in +-1/sqrt(H), pre-activations are O(1).
    return rng.standard_normal((V, D)).astype(dtype)


def init_affine(rng, H, V, dtype):
    """An output layer's W (H, V), uniform in +-1/sqrt(H) as torch.nn.Linear, and b (V,) zeros."""
    k = 1.0 / np.sqrt(H)
    return rng.uniform(-k, k, (H, V)).astype(dtype), np.zeros(V, dtype=dtype)


def check_int(name, value, minimum=1):
    """value as an int; a ValueError naming it unless it is an integer >= minimum."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} is {value!r}, expected an integer >= {minimum}")
    return int(value)


def length_groups(lengths):
    """(length, indices) for every distinct length: equal lengths run as one batch."""
    return [(int(ell), np.flatnonzero(lengths == ell)) for ell in np.unique(lengths)]


def log_softmax(scores):
    """log softmax over the last axis, shifted by the maximum so exp never overflows."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def decode_step(stack, params, embed_key, V, tokens, state):
    """One token through embedding, stack and output layer: a step function of seqlib.decode.

    tokens: (N,) ids in [0, V); state: batch-first (N, L, H) (LSTM: a pair), or None for zeros.
    Returns log_probs (N, V) of the next token and the new state, batch-first.
    """
    dims = Dims()
    dims.check("tokens", tokens, "N", dtype="int")
    check_ids("tokens", tokens, V)
    W_out = params["W_out"]
    if state is None:
        state0 = stack.zero_state(dims["N"], W_out.dtype)
    else:
        state0 = stack.from_public("state", state, dims["N"])
    emb, _ = word_embedding_forward(tokens[:, None], params[embed_key])
    h, new_state, _ = stack.forward(params, emb, state0)
    return log_softmax(h[:, 0] @ W_out + params["b_out"]), stack.to_public(new_state)


def lm_loss(stack, params, embed_key, x, y, mask, state0):
    """The language-model pipeline, forward and backward: the RNNLM, and Seq2Seq's decoder.

    embedding (params[embed_key]) -> stack -> W_out, b_out -> softmax loss of y under mask.
    x, y: (N, T) ids; mask: (N, T) bool; state0: the stack's initial state (its own layout)
    or None for zeros.
    Returns loss, grads (for the embedding, the stack and the output layer), the gradient
    of the initial state (stacked's layout) and the final state (stacked's layout).
    """
    emb, c_emb = word_embedding_forward(x, params[embed_key])
    h, state, c_rnn = stack.forward(params, emb, state0)
    scores, c_out = temporal_affine_forward(h, params["W_out"], params["b_out"])
    loss, dscores = temporal_softmax_loss(scores, y, mask)

    dh, dW_out, db_out = temporal_affine_backward(dscores, c_out)
    demb, dstate0, grads = stack.backward(dh, c_rnn)
    grads[embed_key] = word_embedding_backward(demb, c_emb)
    grads["W_out"], grads["b_out"] = dW_out, db_out
    return loss, grads, dstate0, state

