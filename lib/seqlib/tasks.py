"""The tasks seqlib.train.Trainer trains on: language modelling, classification, translation.

Chapters: "Language models" (truncated BPTT with a carried state), "Stacked and bidirectional
RNNs" (sentence classification), "Sequence to sequence" (teacher forcing).

The Trainer knows nothing about the task; a task object supplies the batches and the loss:

    task.train_batches(rng)                      -> iterable of batches (one epoch)
    task.loss(model, batch, state)               -> (mean loss tensor, tokens counted, new state)
    task.evaluate(model, max_batches=None)       -> {"loss": nats per token, ...more metrics}
    task.batch_tokens(batch)  (optional)         -> tokens read, when the loss counts something else

``state`` is what a language model carries from one chunk to the next (None for tasks
without one). Shapes: x, y (N, T) token ids; logits (N, T, V); lengths (N,).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from seqlib.data.batching import LMBatches, classification_batches, seq2seq_batches
from seqlib.vocab import PAD_ID

__all__ = ["LMTask", "ClassifierTask", "Seq2SeqTask"]


def _tensor(a, device) -> torch.Tensor:
    return torch.tensor(np.asarray(a), device=device)  # a copy: batches are read-only views


class LMTask:
    """Next-token prediction over N parallel streams of one long text (truncated BPTT).

    train_ids, valid_ids: (M,) token ids.  batch_size: N streams.  seq_len: T, the
    truncation length.  The state is carried across chunks and reset at each epoch.
    """

    carries_state = True

    def __init__(self, train_ids, valid_ids, batch_size: int = 32, seq_len: int = 100,
                 eval_batch_size: int = 16, device=None):
        self.train = LMBatches(np.asarray(train_ids), batch_size, seq_len)
        self.valid = LMBatches(np.asarray(valid_ids), eval_batch_size, seq_len)
        self.device = device or torch.device("cpu")

    def train_batches(self, rng):
        return iter(self.train)

    def loss(self, model, batch, state):
        x, y = (_tensor(a, self.device) for a in batch)
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        return loss, y.numel(), state

    @torch.no_grad()
    def evaluate(self, model, max_batches: int | None = None) -> dict:
        """Mean nats per token over the validation streams, state carried as in training."""
        total, count, state = 0.0, 0, None
        for k, batch in enumerate(self.valid):
            if max_batches is not None and k >= max_batches:
                break
            loss, n, state = self.loss(model, batch, state)
            total, count = total + float(loss) * n, count + n
        return {"loss": total / count}


class ClassifierTask:
    """Sentence classification: padded, length-bucketed batches of (ids, label).

    xs: list of (T_i,) id arrays; ys: (n,) labels. Metrics: loss (nats per sentence), accuracy.
    """

    carries_state = False

    def __init__(self, train_xs, train_ys, valid_xs, valid_ys, batch_size: int = 64, device=None):
        self.train_data, self.valid_data = (train_xs, train_ys), (valid_xs, valid_ys)
        self.batch_size = batch_size
        self.device = device or torch.device("cpu")

    def train_batches(self, rng):
        return classification_batches(*self.train_data, self.batch_size, shuffle=True, rng=rng)

    def _logits(self, model, b):
        return model(_tensor(b.x, self.device), lengths=torch.as_tensor(b.lengths))

    def loss(self, model, batch, state):
        y = _tensor(batch.y, self.device)
        return F.cross_entropy(self._logits(model, batch), y), len(batch.y), None

    def batch_tokens(self, batch) -> int:
        """Tokens read by one batch (the loss counts sentences; throughput counts tokens)."""
        return int(batch.lengths.sum())

    @torch.no_grad()
    def evaluate(self, model, max_batches: int | None = None) -> dict:
        total, correct, count = 0.0, 0, 0
        batches = classification_batches(*self.valid_data, self.batch_size, shuffle=False)
        for k, b in enumerate(batches):
            if max_batches is not None and k >= max_batches:
                break
            logits = self._logits(model, b)
            y = _tensor(b.y, self.device)
            total += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(-1) == y).sum())
            count += len(b.y)
        return {"loss": total / count, "accuracy": correct / count}


class Seq2SeqTask:
    """Translation with teacher forcing: the decoder reads <bos> y_1 .. y_{n-1}, predicts y_1 .. <eos>.

    srcs: list of (S_i,) ids; tgts: list of (T_i,) ids holding <bos> ... <eos>.
    Metrics: loss (nats per target token, padding excluded), token accuracy.
    """

    carries_state = False

    def __init__(self, train_srcs, train_tgts, valid_srcs, valid_tgts, batch_size: int = 64,
                 teacher_forcing_ratio: float = 1.0, device=None):
        self.train_data, self.valid_data = (train_srcs, train_tgts), (valid_srcs, valid_tgts)
        self.batch_size = batch_size
        self.teacher_forcing_ratio = teacher_forcing_ratio
        self.device = device or torch.device("cpu")

    def train_batches(self, rng):
        return seq2seq_batches(*self.train_data, self.batch_size, shuffle=True, rng=rng)

    def _logits(self, model, b, ratio=1.0):
        return model(_tensor(b.src, self.device), _tensor(b.tgt_in, self.device),
                     src_lengths=torch.as_tensor(b.src_lengths), teacher_forcing_ratio=ratio)

    def loss(self, model, batch, state):
        logits = self._logits(model, batch, self.teacher_forcing_ratio)
        y = _tensor(batch.tgt_out, self.device)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=PAD_ID)
        return loss, int(batch.tgt_mask.sum()), None

    @torch.no_grad()
    def evaluate(self, model, max_batches: int | None = None) -> dict:
        total, correct, count = 0.0, 0, 0
        for k, b in enumerate(seq2seq_batches(*self.valid_data, self.batch_size, shuffle=False)):
            if max_batches is not None and k >= max_batches:
                break
            logits = self._logits(model, b)
            y = _tensor(b.tgt_out, self.device)
            mask = y != PAD_ID
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                           ignore_index=PAD_ID, reduction="sum"))
            correct += int(((logits.argmax(-1) == y) & mask).sum())
            count += int(mask.sum())
        return {"loss": total / count, "token_accuracy": correct / count}
