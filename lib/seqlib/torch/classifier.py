"""Many-to-one: classify a whole sentence from the final state of a (bidirectional) RNN.

Chapter: "Stacked and bidirectional RNNs".

The sentence is summarised by the last layer's final state; when bidirectional, by the
forward direction's state after the last word and the backward direction's state after the
first word, concatenated (2H features). With lengths, "last word" means each sentence's
own last word, not the padding after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from seqlib.torch.model_parts import ConfiguredModel, check_config, check_token_tensor, make_rnn


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything that builds a SentenceClassifier, as plain data (a checkpoint stores it)."""

    vocab_size: int  #: V, the number of token ids
    embed_size: int  #: E, the size of a token's embedding
    hidden_size: int  #: H, the hidden units of every layer (and direction)
    num_classes: int  #: C, the labels
    num_layers: int = 1  #: L, stacked recurrent layers
    cell: str = "lstm"  #: "rnn", "lstm" or "gru"
    bidirectional: bool = False  #: read the sentence both ways (2H features for the output layer)
    dropout: float = 0.0  #: on the embeddings, between layers and before the output layer
    impl: str = "loop"  #: "loop" (the course's step-by-step code) or "fused" (torch's kernels)

    def __post_init__(self):
        check_config(self)


class SentenceClassifier(ConfiguredModel, nn.Module):
    """forward(tokens (N, T), lengths=None) -> logits (N, C); built from a ClassifierConfig.

    SentenceClassifier(vocab_size, embed_size, hidden_size, num_classes, num_layers=1,
                       cell="lstm", bidirectional=False, *, dropout=0.0, impl="loop"),
    or SentenceClassifier.from_config(ClassifierConfig(...)).
    """

    config_class = ClassifierConfig

    def __init__(self, vocab_size, embed_size, hidden_size, num_classes, num_layers=1, cell="lstm",
                 bidirectional=False, *, dropout=0.0, impl="loop"):
        super().__init__()
        self.config = cfg = ClassifierConfig(vocab_size, embed_size, hidden_size, num_classes, num_layers, cell,
                                             bidirectional, dropout, impl)
        self.vocab_size = cfg.vocab_size
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_size)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = make_rnn(cfg.cell, cfg.embed_size, cfg.hidden_size, num_layers=cfg.num_layers,
                            dropout=cfg.dropout, bidirectional=cfg.bidirectional, impl=cfg.impl)
        self.out = nn.Linear(cfg.hidden_size * (2 if cfg.bidirectional else 1), cfg.num_classes)

    def forward(self, tokens, lengths=None):
        """tokens: (N, T) ids in [0, V); lengths: (N,) or None. Returns logits (N, C)."""
        check_token_tensor("tokens", tokens, "N,T", self.vocab_size)
        _, h_n = self.rnn(self.drop(self.embed(tokens)), lengths=lengths)
        if isinstance(h_n, tuple):
            h_n = h_n[0]  # an LSTM's c_n is its memory, h_n what it shows
        dirs = 2 if self.rnn.bidirectional else 1
        last = h_n[-dirs:].transpose(0, 1).reshape(h_n.shape[1], -1)  # (N, dirs * H)
        return self.out(self.drop(last))
