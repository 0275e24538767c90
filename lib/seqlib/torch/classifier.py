"""Many-to-one: classify a whole sentence from the final state of a (bidirectional) RNN.

Chapter: "Stacked and bidirectional RNNs".

The sentence is summarised by the last layer's final state; when bidirectional, by the
forward direction's state after the last word and the backward direction's state after the
first word, concatenated (2H features). With lengths, "last word" means each sentence's
own last word, not the padding after it.
"""

from __future__ import annotations

from torch import nn

from seqlib.torch.model_parts import ModelImplMixin, check_tokens, make_rnn


class SentenceClassifier(ModelImplMixin, nn.Module):
    """forward(tokens (N, T), lengths=None) -> logits (N, C)."""

    def __init__(self, vocab_size, embed_size, hidden_size, num_classes, num_layers=1, cell="lstm",
                 bidirectional=False, dropout=0.0, impl="loop"):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, embed_size=embed_size, hidden_size=hidden_size,
                           num_classes=num_classes, num_layers=num_layers, cell=cell,
                           bidirectional=bidirectional, dropout=dropout, impl=impl)
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.drop = nn.Dropout(dropout)
        self.rnn = make_rnn(cell, embed_size, hidden_size, num_layers=num_layers, dropout=dropout,
                            bidirectional=bidirectional, impl=impl)
        self.out = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, tokens, lengths=None):
        """tokens: (N, T) ids in [0, V); lengths: (N,) or None. Returns logits (N, C)."""
        check_tokens("tokens", tokens, "N,T", self.vocab_size)
        _, h_n = self.rnn(self.drop(self.embed(tokens)), lengths=lengths)
        if isinstance(h_n, tuple):
            h_n = h_n[0]  # an LSTM's c_n is its memory, h_n what it shows
        dirs = 2 if self.rnn.bidirectional else 1
        last = h_n[-dirs:].transpose(0, 1).reshape(h_n.shape[1], -1)  # (N, dirs * H)
        return self.out(self.drop(last))
