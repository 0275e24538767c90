"""Encoder-decoder (sequence to sequence) with a recurrent encoder and decoder, and attention.

Chapters: "Sequence to sequence", "Attention" (``attention=``).

The encoder reads the source and hands its final state to the decoder as its initial
state; the decoder is a language model over the target, conditioned through that state:

    state = Encoder(x_1..x_S)
    logits_t = Decoder(y_0..y_t | state)      predicts y_{t+1}; y_0 is BOS

That one state is the bottleneck. With ``attention`` ("dot", "bilinear" or "additive",
seqlib.torch.attention) the decoder also reads every encoder output e_1..e_S at every step,
as Luong et al. (2015) do:

    c_t = Σ_s α_ts e_s,   α_t = softmax over the real source positions of score(h_t, e_s)
    h~_t = tanh(W_c [h_t; c_t] + b_c)          logits_t = W_out h~_t + b_out

The context c_t is computed from the decoder's own h_t (not fed back into the RNN), so a
teacher-forced pass still runs the decoder over all steps at once.

Training feeds the true previous token (teacher forcing). With teacher_forcing_ratio < 1,
each example at each step feeds, with probability 1 - ratio, the model's own previous
prediction instead, so that training looks more like generation (a fixed mix; scheduled
sampling lowers the ratio as training goes on).
``step`` is the one-token interface the decoders of seqlib.decode call (greedy, beam search).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqlib.shapes import Dims
from seqlib.torch.attention import SCORES, Attention
from seqlib.torch.model_parts import ConfiguredModel, check_config, check_token_tensor, make_rnn, transpose_state


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
    attention: str | None = None  #: None (the final state only), or "dot", "bilinear", "additive"

    def __post_init__(self):
        check_config(self)
        if self.attention not in (None, *SCORES):
            raise ValueError(f"attention is {self.attention!r}, expected None or one of {SCORES}")


class Seq2Seq(ConfiguredModel, nn.Module):
    """forward(src (N, S), tgt (N, T), src_lengths=None, teacher_forcing_ratio=1.0) -> logits (N, T, V).

    Seq2Seq(src_vocab_size, tgt_vocab_size, embed_size, hidden_size, num_layers=1, cell="lstm", *,
            dropout=0.0, impl="loop", attention=None), or Seq2Seq.from_config(Seq2SeqConfig(...)).
    tgt holds the decoder's inputs, BOS first (the target shifted right); logits[:, t]
    scores the token that follows tgt[:, t]. V is the target vocabulary size.
    With attention, the state that encode returns and step carries is the triple
    (recurrent state, encoder outputs (N, S, H), src_lengths (N,)): beam search reorders all three.
    """

    config_class = Seq2SeqConfig

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_size, hidden_size, num_layers=1, cell="lstm", *,
                 dropout=0.0, impl="loop", attention=None):
        super().__init__()
        self.config = cfg = Seq2SeqConfig(src_vocab_size, tgt_vocab_size, embed_size, hidden_size, num_layers,
                                          cell, dropout, impl, attention)
        self.src_vocab_size, self.tgt_vocab_size = cfg.src_vocab_size, cfg.tgt_vocab_size
        self.src_embed = nn.Embedding(cfg.src_vocab_size, cfg.embed_size)
        self.tgt_embed = nn.Embedding(cfg.tgt_vocab_size, cfg.embed_size)
        self.drop = nn.Dropout(cfg.dropout)
        layer = dict(num_layers=cfg.num_layers, dropout=cfg.dropout, impl=cfg.impl)
        self.encoder = make_rnn(cfg.cell, cfg.embed_size, cfg.hidden_size, **layer)
        self.decoder = make_rnn(cfg.cell, cfg.embed_size, cfg.hidden_size, **layer)
        self.attention = self.combine = None
        if cfg.attention is not None:
            H = cfg.hidden_size
            self.attention = Attention(cfg.attention, H, H, H if cfg.attention == "additive" else None)
            self.combine = nn.Linear(2 * H, H)  # W_c, b_c
        self.out = nn.Linear(cfg.hidden_size, cfg.tgt_vocab_size)

    def encode(self, src, src_lengths=None):
        """src: (N, S) ids; src_lengths: (N,) or None.

        Returns the decoder's initial state, batch-first (N, L, H) (LSTM: a pair), as step takes
        it; with attention, the triple (that state, encoder outputs (N, S, H), src_lengths (N,)).
        """
        check_token_tensor("src", src, "N,S", self.src_vocab_size)
        state, memory = self._encode(src, src_lengths)
        return transpose_state(state) if memory is None else (transpose_state(state), *memory)

    def _encode(self, src, src_lengths=None):
        """The decoder's initial state (layer-first, as the decoder takes it) and, with attention,
        the memory it reads: (encoder outputs (N, S, H), src_lengths (N,) on their device)."""
        out, state = self.encoder(self.drop(self.src_embed(src)), lengths=src_lengths)
        if self.attention is None:
            return state, None
        N, S = src.shape
        lengths = (torch.full((N,), S, device=out.device) if src_lengths is None
                   else torch.as_tensor(src_lengths, device=out.device))
        return state, (out, lengths)

    def _decode(self, tokens, state, memory=None, weights=False):
        h, state = self.decoder(self.drop(self.tgt_embed(tokens)), state)
        alpha = None
        if memory is not None:
            context, alpha = self.attention(h, *memory)  # c_t, α_t for every step at once
            h = torch.tanh(self.combine(torch.cat([h, context], dim=-1)))  # h~_t = tanh(W_c [h_t; c_t] + b_c)
        logits = self.out(self.drop(h))  # (N, T, V)
        return (logits, state, alpha) if weights else (logits, state)

    def alignments(self, src, tgt, src_lengths=None):
        """The attention weights α (N, T, S) of a teacher-forced pass: row t says where the
        decoder looked to predict the token after tgt[:, t]. Only for a model with attention."""
        if self.attention is None:
            raise ValueError("alignments needs a model with attention (Seq2SeqConfig.attention)")
        dims = Dims()
        check_token_tensor("src", src, "N,S", self.src_vocab_size, dims)
        check_token_tensor("tgt", tgt, "N,T", self.tgt_vocab_size, dims)
        state, memory = self._encode(src, src_lengths)
        return self._decode(tgt, state, memory, weights=True)[2]

    def forward(self, src, tgt, src_lengths=None, teacher_forcing_ratio=1.0, generator=None):
        """src: (N, S)  tgt: (N, T), BOS first  ->  logits (N, T, V).

        generator: a torch.Generator for the teacher-forcing coin flips (reproducible runs).
        """
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(f"teacher_forcing_ratio is {teacher_forcing_ratio}, expected a value in [0, 1]")
        dims = Dims()
        check_token_tensor("src", src, "N,S", self.src_vocab_size, dims)
        check_token_tensor("tgt", tgt, "N,T", self.tgt_vocab_size, dims)
        state, memory = self._encode(src, src_lengths)
        if teacher_forcing_ratio == 1.0:
            return self._decode(tgt, state, memory)[0]  # every input known: one call over all steps
        logits, inp = [], tgt[:, 0]
        for t in range(tgt.shape[1]):
            step_logits, state = self._decode(inp[:, None], state, memory)
            logits.append(step_logits[:, 0])
            if t + 1 < tgt.shape[1]:
                teacher = torch.rand(tgt.shape[0], generator=generator, device=generator.device if generator else None)
                teacher = teacher.to(tgt.device) < teacher_forcing_ratio
                inp = torch.where(teacher, tgt[:, t + 1], step_logits[:, 0].argmax(-1))
        return torch.stack(logits, dim=1)

    def step(self, tokens, state):
        """One decoder step, the step function of seqlib.decode (greedy, sampling, beam search).

        tokens: (N,) ids (a tensor or a NumPy array); state: batch-first (N, L, H) (LSTM: a
        pair; with attention, the triple encode returns), from encode or the previous step.
        Returns log_probs (N, V) for the next token and the new state, batch-first, like
        seqlib.numpy.seq2seq.Seq2Seq.step.
        """
        tokens = torch.as_tensor(tokens, device=self.tgt_embed.weight.device)
        check_token_tensor("tokens", tokens, "N", self.tgt_vocab_size)
        memory = None
        if self.attention is not None:
            state, *memory = state
        logits, state = self._decode(tokens[:, None], transpose_state(state), memory)
        state = transpose_state(state)
        return torch.log_softmax(logits[:, 0], dim=-1), state if memory is None else (state, *memory)
