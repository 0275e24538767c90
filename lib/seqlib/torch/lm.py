"""A recurrent language model: embedding, stacked RNN/LSTM/GRU, a softmax over the vocabulary.

Chapter: "Language models".

    e_t = E[w_t]                       (N, T, E)   embedding of token w_t
    h_t = RNN(e_1..e_t)                (N, T, H)   the last layer's output
    logits_t = h_t W^T + b             (N, T, V)   scores for w_{t+1}

With tied weights (Press & Wolf, 2017) W is the embedding matrix itself, which needs E = H:
the same vector represents a word as input and as prediction, and the model has V*E fewer
parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlib.torch.model_parts import ModelImplMixin, check_tokens, make_rnn, transpose_state


class RNNLM(ModelImplMixin, nn.Module):
    """Language model over token ids.

    forward(tokens (N, T), state=None, lengths=None) -> logits (N, T, V), state
    state: the recurrent state (L, N, H) (LSTM: a pair), to carry across batches (truncated
    BPTT: detach it between batches).
    """

    def __init__(self, vocab_size, embed_size, hidden_size, num_layers=1, cell="lstm", dropout=0.0,
                 tie_weights=False, impl="loop"):
        super().__init__()
        if tie_weights and embed_size != hidden_size:
            raise ValueError(f"tie_weights needs embed_size == hidden_size, got {embed_size} and {hidden_size}")
        self.config = dict(vocab_size=vocab_size, embed_size=embed_size, hidden_size=hidden_size,
                           num_layers=num_layers, cell=cell, dropout=dropout, tie_weights=tie_weights, impl=impl)
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.drop = nn.Dropout(dropout)
        self.rnn = make_rnn(cell, embed_size, hidden_size, num_layers=num_layers, dropout=dropout, impl=impl)
        self.out = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.out.weight = self.embed.weight  # one Parameter, two uses

    def forward(self, tokens, state=None, lengths=None):
        """tokens: (N, T) ids in [0, V). Returns logits (N, T, V) and the final state."""
        check_tokens("tokens", tokens, "N,T", self.vocab_size)
        h, state = self.rnn(self.drop(self.embed(tokens)), state, lengths=lengths)
        return self.out(self.drop(h)), state

    def step(self, tokens, state=None):
        """One token for each of N sequences: the step function of seqlib.decode.

        tokens: (N,) ids (a tensor or a NumPy array); state: batch-first (N, L, H) (LSTM: a
        pair), or None for zeros. Returns log_probs (N, V) for the next token and the new
        state, batch-first, like seqlib.numpy.lm.RNNLM.step.
        """
        tokens = torch.as_tensor(tokens, device=self.embed.weight.device)
        check_tokens("tokens", tokens, "N", self.vocab_size)
        logits, state = self(tokens[:, None], None if state is None else transpose_state(state))
        return torch.log_softmax(logits[:, 0], dim=-1), transpose_state(state)
