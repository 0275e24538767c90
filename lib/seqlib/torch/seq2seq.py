"""Encoder-decoder (sequence to sequence) with a recurrent encoder and decoder.

Chapter: "Sequence to sequence".

The encoder reads the source and hands its final state to the decoder as its initial
state; the decoder is a language model over the target, conditioned through that state:

    state = Encoder(x_1..x_S)
    logits_t = Decoder(y_0..y_t | state)      predicts y_{t+1}; y_0 is BOS

Training feeds the true previous token (teacher forcing). With teacher_forcing_ratio < 1,
each example at each step feeds, with probability 1 - ratio, the model's own previous
prediction instead, so that training looks more like generation (scheduled sampling).
``step`` is the one-token interface the decoders of seqlib.decode call (greedy, beam search).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqlib.shapes import Dims
from seqlib.torch.model_parts import ConfiguredModel, check_config, check_tokens, make_rnn, transpose_state


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Everything that builds a Seq2Seq, as plain data (a checkpoint stores it)."""

    src_vocab_size: int  #: the source vocabulary
    tgt_vocab_size: int  #: V, the target vocabulary
    embed_size: int  #: E, the size of a token's embedding (source and target)
    hidden_size: int  #: H, the hidden units of every layer of encoder and decoder
    num_layers: int = 1  #: L, stacked layers of the encoder and of the decoder
    cell: str = "lstm"  #: "rnn", "lstm" or "gru"
    dropout: float = 0.0  #: on the embeddings, between layers and before the output layer
    impl: str = "loop"  #: "loop" (the course's step-by-step code) or "fused" (torch's kernels)

    def __post_init__(self):
        check_config(self)


class Seq2Seq(ConfiguredModel, nn.Module):
    """forward(src (N, S), tgt (N, T), src_lengths=None, teacher_forcing_ratio=1.0) -> logits (N, T, V).

    Seq2Seq(src_vocab_size, tgt_vocab_size, embed_size, hidden_size, num_layers=1, cell="lstm",
            dropout=0.0, impl="loop"), or Seq2Seq.from_config(Seq2SeqConfig(...)).
    tgt holds the decoder's inputs, BOS first (the target shifted right); logits[:, t]
    scores the token that follows tgt[:, t]. V is the target vocabulary size.
    """

    config_class = Seq2SeqConfig

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_size, hidden_size, num_layers=1, cell="lstm",
                 dropout=0.0, impl="loop"):
        super().__init__()
        self.config = cfg = Seq2SeqConfig(src_vocab_size, tgt_vocab_size, embed_size, hidden_size, num_layers,
                                          cell, dropout, impl)
        self.src_vocab_size, self.tgt_vocab_size = cfg.src_vocab_size, cfg.tgt_vocab_size
        self.src_embed = nn.Embedding(cfg.src_vocab_size, cfg.embed_size)
        self.tgt_embed = nn.Embedding(cfg.tgt_vocab_size, cfg.embed_size)
        self.drop = nn.Dropout(cfg.dropout)
        layer = dict(num_layers=cfg.num_layers, dropout=cfg.dropout, impl=cfg.impl)
        self.encoder = make_rnn(cfg.cell, cfg.embed_size, cfg.hidden_size, **layer)
        self.decoder = make_rnn(cfg.cell, cfg.embed_size, cfg.hidden_size, **layer)
        self.out = nn.Linear(cfg.hidden_size, cfg.tgt_vocab_size)

    def encode(self, src, src_lengths=None):
        """src: (N, S) ids; src_lengths: (N,) or None.

        Returns the decoder's initial state, batch-first (N, L, H) (LSTM: a pair), as step takes it.
        """
        return transpose_state(self._encode(src, src_lengths))

    def _encode(self, src, src_lengths=None):
        check_tokens("src", src, "N,S", self.src_vocab_size)
        _, state = self.encoder(self.drop(self.src_embed(src)), lengths=src_lengths)
        return state  # layer-first, as the decoder takes it

    def _decode(self, tokens, state):
        h, state = self.decoder(self.drop(self.tgt_embed(tokens)), state)
        return self.out(self.drop(h)), state  # (N, T, V)

    def forward(self, src, tgt, src_lengths=None, teacher_forcing_ratio=1.0, generator=None):
        """src: (N, S)  tgt: (N, T), BOS first  ->  logits (N, T, V).

        generator: a torch.Generator for the teacher-forcing coin flips (reproducible runs).
        """
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(f"teacher_forcing_ratio is {teacher_forcing_ratio}, expected a value in [0, 1]")
        dims = Dims()
        check_tokens("src", src, "N,S", self.src_vocab_size, dims)
        check_tokens("tgt", tgt, "N,T", self.tgt_vocab_size, dims)
        state = self._encode(src, src_lengths)
        if teacher_forcing_ratio == 1.0:
            return self._decode(tgt, state)[0]  # every input known: one call over all steps
        logits, inp = [], tgt[:, 0]
        for t in range(tgt.shape[1]):
            step_logits, state = self._decode(inp[:, None], state)
            logits.append(step_logits[:, 0])
            if t + 1 < tgt.shape[1]:
                teacher = torch.rand(tgt.shape[0], generator=generator, device=generator.device if generator else None)
                teacher = teacher.to(tgt.device) < teacher_forcing_ratio
                inp = torch.where(teacher, tgt[:, t + 1], step_logits[:, 0].argmax(-1))
        return torch.stack(logits, dim=1)

    def step(self, tokens, state):
        """One decoder step, the step function of seqlib.decode (greedy, sampling, beam search).

        tokens: (N,) ids (a tensor or a NumPy array); state: batch-first (N, L, H) (LSTM: a
        pair), from encode or the previous step. Returns log_probs (N, V) for the next token
        and the new state, batch-first, like seqlib.numpy.seq2seq.Seq2Seq.step.
        """
        tokens = torch.as_tensor(tokens, device=self.tgt_embed.weight.device)
        check_tokens("tokens", tokens, "N", self.tgt_vocab_size)
        logits, state = self._decode(tokens[:, None], transpose_state(state))
        return torch.log_softmax(logits[:, 0], dim=-1), transpose_state(state)
