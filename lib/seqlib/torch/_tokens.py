"""Argument checking for token batches, shared by the models (RNNLM, SentenceClassifier, Seq2Seq)."""

from __future__ import annotations

import torch

from seqlib.shapes import Dims


def check_tokens(name: str, tokens, spec: str, vocab_size: int, dims: Dims | None = None) -> torch.Tensor:
    """tokens: an integer tensor of shape spec with ids in [0, vocab_size)."""
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(tokens).__name__}")
    (dims or Dims()).check(name, tokens, spec, dtype="int")
    lo, hi = int(tokens.min()), int(tokens.max())
    if lo < 0 or hi >= vocab_size:
        raise ValueError(f"{name} holds ids from {lo} to {hi}, expected ids in [0, V) = [0, {vocab_size})")
    return tokens
