"""Training the PyTorch models: one Trainer, and the tasks it trains on.

Chapters: "Language models" (truncated BPTT with a carried, detached state; perplexity;
checkpoints), "Sequence to sequence" (teacher forcing), "Stacked and bidirectional RNNs"
(sentence classification). The NumPy engine's loop, min-char-rnn's, is
seqlib.numpy.bptt.train_lm; generating from a trained model is seqlib.torch.generate.

The Trainer knows nothing about the task; a task object supplies the batches and the loss:

    task.train_batches(rng)                      -> iterable of batches (one epoch)
    task.loss(model, batch, state)               -> (mean loss tensor, tokens counted, new state)
    task.evaluate(model, max_batches=None)       -> {"loss": nats per token, ...more metrics}
    task.batch_tokens(batch)  (optional)         -> tokens read, when the loss counts something else

``state`` is what a language model carries from one chunk to the next (None for tasks
without one). The Trainer detaches it after every step: the forward pass of chunk k + 1
starts where chunk k ended, but backpropagation stops at the boundary (truncated BPTT),
otherwise every step would backpropagate through the whole epoch so far.

Shapes: x, y (N, T) token ids; logits (N, T, V); lengths (N,); the LSTM state is a pair of
(L, N, H) tensors.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from seqlib.data.batching import LMBatches, classification_batches, seq2seq_batches
from seqlib.torch.generate import sample_text
from seqlib.vocab import PAD_ID, Vocab

__all__ = ["Trainer", "LMTask", "ClassifierTask", "Seq2SeqTask", "seed_everything", "detach_state",
           "sample_on_eval"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def detach_state(state):
    """The same state cut from the graph that produced it: a tensor, or nested tuples of them.

    Carrying a detached state into the next chunk is what makes BPTT *truncated*.
    """
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


def _tensor(a, device) -> torch.Tensor:
    return torch.tensor(np.asarray(a), device=device)  # a copy: batches are read-only views


# --------------------------------------------------------------------------- tasks


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


# --------------------------------------------------------------------------- trainer


class Trainer:
    """Train a seqlib.torch model on a task, keeping the weights with the best validation loss.

    optimizer: a torch optimizer (default Adam(lr)).  clip: max global gradient norm (None: off).
    schedule: "plateau" (ReduceLROnPlateau on the validation loss, factor 0.5), "cosine"
        (CosineAnnealingLR over max_steps) or None.
    patience: stop after this many evaluations without a validation improvement (None: never).
    eval_every: optimizer steps between evaluations (None: once per epoch).
    eval_batches: evaluate on at most this many validation batches (None: all of them).
    max_epochs, max_steps, max_minutes: whichever comes first ends training; there is always
        a final evaluation.
    checkpoint: path of the best checkpoint (written by seqlib.torch.save whenever the
        validation loss improves); vocab and extra go into it as plain data.
    dry_run: two optimizer steps and an evaluation on two batches, for CI.
    autocast: None, or a dtype (torch.bfloat16) for the training forward passes under
        torch.autocast on the model's device; weights, gradients and evaluation stay float32.
        bfloat16 keeps float32's exponent range, so no loss scaling is needed. It speeds up
        impl="fused" on a GPU; impl="loop" runs in float32 under it, and so does a fused layer
        on a CPU without bfloat16 kernels for it, with a warning (seqlib.torch.precision).
    on_eval: called as on_eval(trainer, record) after each evaluation; whatever it adds to
        the record dict (e.g. a sample) lands in history.

    After fit(), ``model`` holds the best weights and ``history`` one dict per evaluation:
    step, epoch, seconds, tokens, lr, train_loss (mean since the last evaluation), train_ppl,
    valid_loss, valid_ppl, grad_norm (mean before clipping), tokens_per_s (training tokens per
    second of the whole run so far, evaluations included), best (whether it improved), and
    the task's other metrics as valid_*.
    """

    def __init__(self, model: torch.nn.Module, task, *, optimizer=None, lr: float = 2e-3, clip: float | None = 5.0,
                 schedule: str | None = "plateau", patience: int | None = 5, min_delta: float = 0.0,
                 eval_every: int | None = None, eval_batches: int | None = None, max_epochs: int = 10,
                 max_steps: int | None = None, max_minutes: float | None = None, checkpoint=None,
                 vocab=None, extra: dict | None = None, seed: int = 0, dry_run: bool = False,
                 progress: bool = True, on_eval: Callable | None = None, autocast: torch.dtype | None = None):
        if schedule not in (None, "plateau", "cosine"):
            raise ValueError(f"schedule is {schedule!r}, expected 'plateau', 'cosine' or None")
        if autocast not in (None, torch.bfloat16):
            # float16 would also need loss scaling (torch.amp.GradScaler), which Trainer does not do
            raise ValueError(f"autocast is {autocast!r}, expected None or torch.bfloat16")
        if dry_run:
            max_steps, eval_every, eval_batches, max_epochs = 2, 2, 2, 1
        if schedule == "cosine" and max_steps is None:
            raise ValueError("schedule='cosine' needs max_steps (the length of the cosine)")
        self.model, self.task = model, task
        self.optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
        if schedule == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=0.5, patience=1)
        elif schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max_steps)
        else:
            self.scheduler = None
        self.schedule = schedule
        self.clip, self.patience, self.min_delta = clip, patience, min_delta
        self.eval_every, self.eval_batches = eval_every, eval_batches
        self.max_epochs, self.max_steps, self.max_minutes = max_epochs, max_steps, max_minutes
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.vocab, self.extra = vocab, dict(extra or {})
        self.seed, self.dry_run, self.progress, self.on_eval = seed, dry_run, progress, on_eval
        self.autocast = autocast
        self.history: list[dict[str, Any]] = []
        self.best_loss = math.inf
        self.best_state: dict | None = None
        self.step = 0
        self.bad_evals = 0
        self.stop_reason = ""

    # ---- one evaluation: history, schedule, best checkpoint, early stopping
    def _evaluate(self, epoch, started, tokens, window) -> bool:
        self.model.eval()
        metrics = self.task.evaluate(self.model, self.eval_batches)
        self.model.train()
        seconds = time.perf_counter() - started
        loss = metrics["loss"]
        record = {"step": self.step, "epoch": epoch, "seconds": seconds, "tokens": tokens,
                  "lr": self.optimizer.param_groups[0]["lr"]}
        if window["n"]:
            train_loss = window["loss"] / window["n"]
            record.update(train_loss=train_loss, train_ppl=_ppl(train_loss), grad_norm=window["grad"] / window["steps"])
        record.update(valid_loss=loss, valid_ppl=_ppl(loss), tokens_per_s=tokens / max(seconds, 1e-9))
        record.update({f"valid_{k}": v for k, v in metrics.items() if k != "loss"})
        window.update(loss=0.0, n=0, grad=0.0, steps=0)
        improved = loss < self.best_loss - self.min_delta
        record["best"] = improved
        if improved:
            self.best_loss, self.bad_evals = loss, 0
            self.best_state = copy.deepcopy(self.model.state_dict())
        else:
            self.bad_evals += 1
        if self.schedule == "plateau":
            self.scheduler.step(loss)
        if self.on_eval is not None:
            self.on_eval(self, record)
        self.history.append(record)
        if improved and self.checkpoint is not None:
            self.save(self.checkpoint)  # now, not at the end: a run that is killed keeps its best
        if self.patience is not None and self.bad_evals >= self.patience:
            self.stop_reason = f"early stopping: no improvement in {self.bad_evals} evaluations"
            return True
        return False

    def save(self, path) -> None:
        """The current weights as a seqlib.torch checkpoint, with vocab, extra and history."""
        from seqlib.torch.checkpoint import plain_records, save

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save(path, self.model, vocab=self.vocab, **self.extra, history=plain_records(self.history),
             best_valid_loss=self.best_loss)

    def fit(self) -> list[dict]:
        """Train until a limit is reached; returns history. The model ends with the best weights."""
        from tqdm.auto import tqdm

        seed_everything(self.seed)
        rng = np.random.default_rng(self.seed)
        self.model.train()
        self.bad_evals = 0
        started = time.perf_counter()
        deadline = None if self.max_minutes is None else started + 60 * self.max_minutes
        tokens = 0
        window = {"loss": 0.0, "n": 0, "grad": 0.0, "steps": 0}
        device_type = next(self.model.parameters()).device.type
        bar = tqdm(total=self.max_steps, disable=not self.progress, unit="step", dynamic_ncols=True)
        done = evaluated = False
        epoch = 0
        for epoch in range(1, self.max_epochs + 1):
            state = None  # each epoch starts the streams afresh
            for batch in self.task.train_batches(rng):
                with (torch.autocast(device_type, dtype=self.autocast) if self.autocast else contextlib.nullcontext()):
                    loss, n, state = self.task.loss(self.model, batch, state)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad = None
                if self.clip is not None:
                    grad = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip))
                self.optimizer.step()
                if self.schedule == "cosine":
                    self.scheduler.step()
                state = detach_state(state)
                self.step += 1
                tokens += self.task.batch_tokens(batch) if hasattr(self.task, "batch_tokens") else n
                value = float(loss.detach())
                window["loss"] += value * n
                window["n"] += n
                window["grad"] += grad if grad is not None else 0.0
                window["steps"] += 1
                elapsed = time.perf_counter() - started
                bar.update(1)
                bar.set_postfix(loss=f"{value:.3f}", ppl=f"{_ppl(value):.2f}", tok_s=f"{tokens / max(elapsed, 1e-9):.0f}",
                                refresh=False)
                evaluated = False
                if self.eval_every is not None and self.step % self.eval_every == 0:
                    done, evaluated = self._evaluate(epoch, started, tokens, window), True
                if self.max_steps is not None and self.step >= self.max_steps:
                    self.stop_reason = self.stop_reason or f"max_steps = {self.max_steps}"
                    done = True
                if deadline is not None and time.perf_counter() > deadline:
                    self.stop_reason = self.stop_reason or f"time budget of {self.max_minutes} min"
                    done = True
                if done:
                    break
            if not evaluated and (self.eval_every is None or done):
                done = self._evaluate(epoch, started, tokens, window) or done
                evaluated = True
            if done:
                break
        else:
            self.stop_reason = self.stop_reason or f"max_epochs = {self.max_epochs}"
        if not evaluated:
            self._evaluate(epoch, started, tokens, window)
        bar.close()
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            if self.checkpoint is not None:
                self.save(self.checkpoint)  # the same best weights, with the whole history
        self.model.eval()
        return self.history


def _ppl(nats: float) -> float:
    return math.exp(min(nats, 700.0))  # exp overflows a float beyond ~709


# --------------------------------------------------------------------------- callbacks


def sample_on_eval(vocab: Vocab, prime: str = "\n", length: int = 200, temperature: float = 0.8, seed: int = 0):
    """An on_eval callback for Trainer that adds record["sample"]: text from the model so far.

    The samples of a history are the "samples at several stages of training" figure
    (seqlib.plots.plot_samples(history)).
    """
    def on_eval(trainer, record):
        was_training = trainer.model.training
        trainer.model.eval()
        record["sample"] = sample_text(trainer.model, vocab, prime, length, temperature, seed=seed)
        trainer.model.train(was_training)

    return on_eval
