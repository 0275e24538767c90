"""Truncated backpropagation through time over long sequences.

Chapter: "Backpropagation through time", section "Truncated BPTT"; used to train the
character-level language model of bench/char_rnn_speed.py. ``train_lm`` is min-char-rnn's
whole training loop on top of it (logging a smoothed loss and samples).

A text too long to backpropagate through in one piece is cut into N streams read side by
side (a batch of N sequences, each one contiguous stretch of the text), and each stream
into chunks of T steps. Chunk k + 1 starts from the hidden state where chunk k ended, so
the forward pass sees one unbroken sequence; but that state enters as a constant h0, so
backpropagation stops at the chunk boundary: each update costs T steps of BPTT, whatever
the length of the text.

Any model works whose loss has the form of RNNLM.loss::

    loss, grads, state = model.loss(x, y, h0=state, return_state=True)

with x, y: (N, T) and state None (zeros) at the start.
"""

from __future__ import annotations

import math
import time
from typing import Iterator

import numpy as np

from seqlib.numpy.clip import clip_grad_norm
from seqlib.shapes import Dims


def make_streams(data, num_streams):
    """Cut one long sequence of token ids into N equal contiguous streams, side by side.

    data: (S,) integer ids.  num_streams: N.
    Returns streams (N, S // N): stream n is data[n * (S // N) : (n + 1) * (S // N)]; the last
    S mod N tokens are dropped so that every stream has the same length.
    """
    Dims().check("data", data, "S", dtype="int")
    if not isinstance(num_streams, (int, np.integer)) or isinstance(num_streams, bool) or num_streams < 1:
        raise ValueError(f"num_streams is {num_streams!r}, expected a positive integer")
    S = data.shape[0] // num_streams
    if S < 2:
        raise ValueError(f"data has shape {data.shape}: too short for {num_streams} streams of at "
                         f"least 2 tokens (an input and its target)")
    return data[: S * num_streams].reshape(num_streams, S)


def bptt_chunks(streams, seq_length) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Consecutive (inputs, targets) chunks of streams, targets one step ahead.

    streams: (N, S) integer ids.  seq_length: T.
    Yields (x, y), both (N, T): x = streams[:, i:i+T], y = streams[:, i+1:i+T+1] for
    i = 0, T, 2T, ...; the last chunk is shorter when S - 1 is not a multiple of T, so the
    chunks together cover every one of the S - 1 (input, next token) pairs exactly once.
    """
    Dims().check("streams", streams, "N,S", dtype="int")
    if not isinstance(seq_length, (int, np.integer)) or isinstance(seq_length, bool) or seq_length < 1:
        raise ValueError(f"seq_length is {seq_length!r}, expected a positive integer")
    S = streams.shape[1]
    if S < 2:
        raise ValueError(f"streams has shape {streams.shape}: need at least 2 steps per stream")
    for i in range(0, S - 1, seq_length):
        j = min(i + seq_length, S - 1)
        yield streams[:, i:j], streams[:, i + 1 : j + 1]


def truncated_bptt(model, streams, seq_length, state=None):
    """Run model.loss over the chunks of streams in order, carrying the state between them.

    streams: (N, S) integer ids.  seq_length: T, the truncation length.
    state: the state before the first chunk (the model's layout, e.g. (N, L, H)), None for zeros.
    Yields (loss, grads, state) after each chunk, state being the one carried into the next
    chunk. The generator is lazy: update the parameters with grads before asking for the
    next chunk, and the next chunk runs with the new parameters, as in min-char-rnn.

    The carried state is a constant input of the next chunk; its gradient is never used:
    nothing flows back across a chunk boundary.
    """
    for x, y in bptt_chunks(streams, seq_length):
        loss, grads, state = model.loss(x, y, h0=state, return_state=True)
        yield loss, grads, state


def train_truncated_bptt(model, streams, seq_length, optimizer, clip_norm=None, state=None):
    """One pass over streams with truncated BPTT: one optimizer step per chunk.

    model: see the module docstring; its ``params`` dict is updated in place.
    optimizer: an object with step(params, grads), e.g. seqlib.numpy.optim.Adam.
    clip_norm: if given, clip the global gradient norm to it before each step.
    state: the state before the first chunk, None for zeros.
    Returns losses (K,), one per chunk (each the loss of that chunk, per stream), and the
    state after the last chunk, to continue on the next pass.
    """
    losses = []
    for loss, grads, state in truncated_bptt(model, streams, seq_length, state):
        if clip_norm is not None:
            clip_grad_norm(grads, clip_norm)
        optimizer.step(model.params, grads)
        losses.append(loss)
    return np.array(losses), state


def train_lm(model, ids, seq_length: int = 25, num_streams: int = 16, optimizer=None,
                   clip_norm: float | None = 5.0, epochs: int = 1, max_steps: int | None = None,
                   max_minutes: float | None = None, log_every: int = 100, sample_every: int | None = None,
                   sample_length: int = 200, seed: int = 0, progress: bool = True) -> list[dict]:
    """min-char-rnn's loop, batched: N streams, chunks of T steps, smoothed loss, samples.

    model: a seqlib.numpy.lm.RNNLM.  ids: (M,) token ids.
    The streams and chunks are this module's, the optimizer one of seqlib.numpy.optim (Adam by
    default). Returns history: one dict per log_every steps with step, seconds,
    smooth_loss (nats per token, exponential average as in min-char-rnn), and, every
    sample_every steps, "sample": ids (sample_length,) drawn from the current model.
    """
    from tqdm.auto import tqdm

    from seqlib.numpy.optim import Adam

    optimizer = optimizer or Adam(lr=2e-3)
    streams = make_streams(np.asarray(ids), num_streams)
    rng = np.random.default_rng(seed)
    smooth = math.log(model.V)  # the loss of a uniform guess, min-char-rnn's starting value
    history: list[dict] = []
    started = time.perf_counter()
    step = 0
    bar = tqdm(total=max_steps, disable=not progress, unit="step")
    for _ in range(epochs):
        for loss, grads, _state in truncated_bptt(model, streams, seq_length):
            if clip_norm is not None:
                clip_grad_norm(grads, clip_norm)
            optimizer.step(model.params, grads)
            step += 1
            # model.loss sums over time and averages over N; per token is / T
            smooth = 0.99 * smooth + 0.01 * loss / seq_length
            bar.update(1)
            bar.set_postfix(loss=f"{smooth:.3f}", refresh=False)
            if step % log_every == 0 or (sample_every and step % sample_every == 0):
                rec = {"step": step, "seconds": time.perf_counter() - started, "smooth_loss": smooth}
                if sample_every and step % sample_every == 0:
                    rec["sample"] = model.sample(int(streams[0, 0]), sample_length, rng=rng)
                history.append(rec)
            if (max_steps is not None and step >= max_steps) or \
                    (max_minutes is not None and time.perf_counter() - started > 60 * max_minutes):
                bar.close()
                return history
    bar.close()
    return history
