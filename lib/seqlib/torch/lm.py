"""A recurrent language model: embedding, stacked RNN/LSTM/GRU, a softmax over the vocabulary.

Chapter: "Language models".

    e_t = E[w_t]                       (N, T, E)   embedding of token w_t
    h_t = RNN(e_1..e_t)                (N, T, H)   the last layer's output
    logits_t = h_t W^T + b             (N, T, V)   scores for w_{t+1}

With tied weights (Press & Wolf, 2017) W is the embedding matrix itself, which needs E = H:
the same vector represents a word as input and as prediction, and the model has V*E fewer
parameters.

    model = RNNLM(V, 64, 512, num_layers=2, cell="lstm")             # the config's fields ...
    model = RNNLM.from_config(LMConfig(V, 64, 512, num_layers=2))     # ... or the config itself
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqlib.torch.model_parts import ConfiguredModel, check_config, check_token_tensor, make_rnn, transpose_state


@dataclass(frozen=True)
class LMConfig:
    """Everything that builds an RNNLM, as plain data (a checkpoint stores it)."""

    vocab_size: int  #: V, the number of token ids
    embed_size: int  #: E, the size of a token's embedding
    hidden_size: int  #: H, the hidden units of every layer
    num_layers: int = 1  #: L, stacked recurrent layers
    cell: str = "lstm"  #: "rnn", "lstm" or "gru"
    dropout: float = 0.0  #: on the embeddings, between layers and before the output layer
    tie_weights: bool = False  #: the output layer reuses the embedding matrix (needs E = H)
    impl: str = "loop"  #: "loop" (the course's step-by-step code) or "fused" (torch's kernels)

    def __post_init__(self):
        check_config(self)
        if self.tie_weights and self.embed_size != self.hidden_size:
            raise ValueError(f"tie_weights needs embed_size == hidden_size, got {self.embed_size} and {self.hidden_size}")


class RNNLM(ConfiguredModel, nn.Module):
    """Language model over token ids, built from an LMConfig.

    RNNLM(vocab_size, embed_size, hidden_size, num_layers=1, cell="lstm", *, dropout=0.0,
          tie_weights=False, impl="loop"), or RNNLM.from_config(LMConfig(...)).
    forward(tokens (N, T), state=None, lengths=None) -> logits (N, T, V), state
    state: the recurrent state (L, N, H) (LSTM: a pair), to carry across batches (truncated
    BPTT: detach it between batches).
    """

    config_class = LMConfig

    def __init__(self, vocab_size, embed_size, hidden_size, num_layers=1, cell="lstm", *, dropout=0.0,
                 tie_weights=False, impl="loop"):
        super().__init__()
        self.config = cfg = LMConfig(vocab_size, embed_size, hidden_size, num_layers, cell, dropout,
                                     tie_weights, impl)
        self.vocab_size = cfg.vocab_size
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_size)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = make_rnn(cfg.cell, cfg.embed_size, cfg.hidden_size, num_layers=cfg.num_layers,
                            dropout=cfg.dropout, impl=cfg.impl)
        self.out = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        if cfg.tie_weights:
            self.out.weight = self.embed.weight  # one Parameter, two uses

    def forward(self, tokens, state=None, lengths=None):
        """tokens: (N, T) ids in [0, V). Returns logits (N, T, V) and the final state."""
        check_token_tensor("tokens", tokens, "N,T", self.vocab_size)
        return self._run(tokens, state, lengths)

    def _run(self, tokens, state=None, lengths=None):
        h, state = self.rnn(self.drop(self.embed(tokens)), state, lengths=lengths)
        return self.out(self.drop(h)), state

    def step(self, tokens, state=None):
        """One token for each of N sequences: the step function of seqlib.decode.

        tokens: (N,) ids (a tensor or a NumPy array); state: batch-first (N, L, H) (LSTM: a
        pair), or None for zeros. Returns log_probs (N, V) for the next token and the new
        state, batch-first, like seqlib.numpy.lm.RNNLM.step.
        """
        tokens = torch.as_tensor(tokens, device=self.embed.weight.device)
        check_token_tensor("tokens", tokens, "N", self.vocab_size)
        logits, state = self._run(tokens[:, None], None if state is None else transpose_state(state))
        return torch.log_softmax(logits[:, 0], dim=-1), transpose_state(state)
