"""Training the PyTorch models: a TrainConfig, and the Trainer that runs it on a task.

Chapters: "Language models" (truncated BPTT with a carried, detached state; perplexity;
checkpoints), "Sequence to sequence" (teacher forcing), "Stacked and bidirectional RNNs"
(sentence classification). The tasks are seqlib.tasks' (LMTask, ClassifierTask,
Seq2SeqTask, importable from here too); the NumPy engine's loop, min-char-rnn's, is
seqlib.numpy.bptt.train_lm; generating from a trained model is seqlib.torch.generate.

    trainer = Trainer(model, task, lr=3e-3, max_steps=500)           # overrides of TrainConfig()
    trainer = Trainer(model, task, TrainConfig(lr=3e-3, max_steps=500))  # or a config
    history = trainer.fit()

fit() is one loop over epochs and batches that a reader can follow top to bottom: each
batch is one ``_train_step`` (forward under autocast if asked, backward, clip, optimizer
step, the state carried on detached); an ``_evaluate`` when one is due (history, schedule,
best weights, early stopping); a ``Stop`` when a limit is reached or the loss is no longer a
number; then a final evaluation, and the best weights put back. Detaching the carried state after every step is what makes BPTT
*truncated*: chunk k + 1 starts where chunk k ended, but backpropagation stops at the
boundary.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import enum
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from seqlib.metrics import perplexity
from seqlib.tasks import ClassifierTask, LMTask, Seq2SeqTask
from seqlib.torch.generate import sample_text
from seqlib.vocab import Vocab

__all__ = ["TrainConfig", "Trainer", "Stop", "LMTask", "ClassifierTask", "Seq2SeqTask", "seed_everything",
           "detach_state", "sample_on_eval", "SCHEDULES", "AUTOCAST"]

SCHEDULES = ("plateau", "cosine")
#: autocast dtypes by name; float16 would also need loss scaling (torch.amp.GradScaler)
AUTOCAST = {"bf16": torch.bfloat16}


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


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained, as plain data (each checkpoint stores it as extra["train_config"]).

    max_epochs, max_steps, max_minutes: whichever comes first ends training; there is always
    a final evaluation. autocast="bf16": the training forward passes run under torch.autocast
    in bfloat16 on the model's device; weights, gradients and evaluation stay float32, and
    bfloat16 keeps float32's exponent range, so no loss scaling is needed. It speeds up
    impl="fused" on a GPU; impl="loop" runs in float32 under it, and so does a fused layer on
    a CPU without bfloat16 kernels for it, with a warning (seqlib.torch.precision).
    """

    lr: float = 2e-3  #: Adam's learning rate (when the Trainer gets no optimizer)
    clip: float | None = 5.0  #: max global gradient norm (None: no clipping)
    schedule: str | None = "plateau"  #: "plateau" (halve the lr when the validation loss stalls), "cosine" or None
    patience: int | None = 5  #: stop after this many evaluations without improvement (None: never)
    min_delta: float = 0.0  #: how much lower a validation loss must be to count as an improvement
    eval_every: int | None = None  #: optimizer steps between evaluations (None: once per epoch)
    eval_batches: int | None = None  #: evaluate on at most this many validation batches (None: all)
    max_epochs: int = 10
    max_steps: int | None = None  #: also the length of the cosine schedule
    max_minutes: float | None = None  #: a time budget
    checkpoint: str | None = None  #: where to write the best checkpoint (seqlib.torch.save), whenever it improves
    seed: int = 0  #: for seed_everything and the batch order
    dry_run: bool = False  #: two optimizer steps and an evaluation on two batches, for CI
    progress: bool = True  #: a tqdm progress bar
    autocast: str | None = None  #: None or "bf16" (torch.bfloat16 is accepted, and stored as "bf16")

    def __post_init__(self):
        if self.schedule not in (None, *SCHEDULES):
            raise ValueError(f"schedule is {self.schedule!r}, expected one of {SCHEDULES} or None")
        names = {v: k for k, v in AUTOCAST.items()}
        if self.autocast in names:  # torch.bfloat16 -> "bf16": the config stays plain data
            object.__setattr__(self, "autocast", names[self.autocast])
        if self.autocast not in (None, *AUTOCAST):
            raise ValueError(f"autocast is {self.autocast!r}, expected None or one of {tuple(AUTOCAST)} "
                             "(torch.bfloat16)")
        if self.checkpoint is not None:
            object.__setattr__(self, "checkpoint", str(self.checkpoint))
        if self.schedule == "cosine" and self.max_steps is None and not self.dry_run:
            raise ValueError("schedule='cosine' needs max_steps (the length of the cosine)")

    def effective(self) -> TrainConfig:
        """The config a run uses: dry_run replaces the limits with two steps and two batches."""
        if not self.dry_run:
            return self
        return dataclasses.replace(self, max_steps=2, eval_every=2, eval_batches=2, max_epochs=1)


@dataclass
class _Window:
    """Training statistics since the last evaluation."""

    loss: float = 0.0  # sum of loss * count
    count: int = 0
    grad_norm: float = 0.0  # sum over steps, before clipping
    steps: int = 0

    def add(self, loss: float, count: int, grad_norm: float | None) -> None:
        self.loss += loss * count
        self.count += count
        self.grad_norm += grad_norm or 0.0
        self.steps += 1

    def means(self) -> dict:
        if not self.count:
            return {}
        train_loss = self.loss / self.count
        return {"train_loss": train_loss, "train_ppl": perplexity(train_loss),
                "grad_norm": self.grad_norm / self.steps}


class Stop(enum.Enum):
    """Why a run ended: the first limit reached, or a loss that is no longer a number."""

    MAX_EPOCHS = "max_epochs"
    MAX_STEPS = "max_steps"
    TIME_BUDGET = "time budget"
    EARLY_STOPPING = "early stopping"
    NOT_FINITE = "loss not finite"


@dataclass
class _Run:
    """Everything one fit() changes as it goes, made in one place: fit's first line."""

    rng: np.random.Generator
    deadline: float | None
    started: float = dataclasses.field(default_factory=time.perf_counter)
    step: int = 0
    epoch: int = 0
    tokens: int = 0
    bad_evals: int = 0  # evaluations in a row without improvement
    evaluated_at: int = -1  # the step of the latest evaluation
    window: _Window = dataclasses.field(default_factory=_Window)
    stop: Stop | None = None
    bad_loss: float | None = None  # the loss that was not finite (Stop.NOT_FINITE)


class Trainer:
    """Train a seqlib.torch model on a task (seqlib.tasks), keeping the weights with the best
    validation loss.

    Trainer(model, task, config=None, *, optimizer=None, vocab=None, extra=None, on_eval=None,
            **overrides)
    config: a TrainConfig (default TrainConfig()); overrides: any of its fields by name
        (lr=3e-3, max_steps=500, ...), applied on top of it.
    optimizer: a torch optimizer (default Adam(config.lr)).
    vocab, extra: plain data written into every checkpoint, beside the weights.
    on_eval: called as on_eval(trainer, record) after each evaluation; whatever it adds to
        the record dict (e.g. a sample, see sample_on_eval) lands in history.

    After fit(), ``model`` holds the best weights and ``history`` one dict per evaluation:
    step, epoch, seconds, tokens, lr, train_loss (mean since the last evaluation), train_ppl,
    grad_norm (mean before clipping), valid_loss, valid_ppl, tokens_per_s (training tokens per
    second of the whole run so far, evaluations included), the task's other metrics as
    valid_*, and best (whether it improved). ``stop`` (a Stop) and ``stop_reason`` (in words)
    say why training ended; ``checkpoint_written`` whether config.checkpoint holds the best
    weights (never when no validation loss was a number).
    """

    def __init__(self, model: torch.nn.Module, task, config: TrainConfig | None = None, *, optimizer=None,
                 vocab=None, extra: dict | None = None, on_eval: Callable | None = None, **overrides):
        self.config = _configure(config, overrides).effective()
        self.model, self.task = model, task
        self.optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=self.config.lr)
        self.scheduler = _scheduler(self.optimizer, self.config)
        self.vocab, self.extra, self.on_eval = vocab, dict(extra or {}), on_eval
        self.history: list[dict[str, Any]] = []
        self.best_loss = math.inf
        self.best_state: dict | None = None
        self.checkpoint_written = False
        self.run: _Run | None = None

    def fit(self) -> list[dict]:
        """Train until a limit is reached; returns history. The model ends with the best weights."""
        from tqdm.auto import tqdm

        cfg = self.config
        seed_everything(cfg.seed)
        run = self.run = _Run(np.random.default_rng(cfg.seed),
                              None if cfg.max_minutes is None else time.perf_counter() + 60 * cfg.max_minutes)
        self.model.train()
        with tqdm(total=cfg.max_steps, disable=not cfg.progress, unit="step", dynamic_ncols=True) as bar:
            while run.stop is None and run.epoch < cfg.max_epochs:
                run.epoch += 1
                state = None  # each epoch starts the streams afresh
                for batch in self.task.train_batches(run.rng):
                    state = self._train_step(batch, state, bar)
                    if run.stop is None and cfg.eval_every is not None and run.step % cfg.eval_every == 0:
                        self._evaluate()
                    run.stop = run.stop or self._limit_reached()
                    if run.stop is not None:
                        break
                if run.stop is None and cfg.eval_every is None:
                    self._evaluate()  # once per epoch
            run.stop = run.stop or Stop.MAX_EPOCHS
        if run.evaluated_at != run.step:
            self._evaluate()  # the last steps are measured too
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            if cfg.checkpoint is not None:
                self.save(cfg.checkpoint)  # with the whole history
        self.model.eval()
        return self.history

    @property
    def step(self) -> int:
        """Optimizer steps taken so far (0 before fit)."""
        return self.run.step if self.run else 0

    @property
    def stop(self) -> Stop | None:
        """Why the last fit ended (None before fit)."""
        return self.run.stop if self.run else None

    @property
    def stop_reason(self) -> str:
        """Why the last fit ended, in words ("" before fit)."""
        cfg, stop = self.config, self.stop
        return {None: "", Stop.MAX_EPOCHS: f"max_epochs = {cfg.max_epochs}", Stop.MAX_STEPS: f"max_steps = {cfg.max_steps}",
                Stop.TIME_BUDGET: f"time budget of {cfg.max_minutes} min",
                Stop.EARLY_STOPPING: f"early stopping: no improvement in {cfg.patience} evaluations",
                Stop.NOT_FINITE: f"the training loss became {self.run and self.run.bad_loss} at step "
                                 f"{self.step + 1}: training stopped before that step's update"}[stop]

    # ---- the steps of fit

    def _train_step(self, batch, state, bar):
        """One optimizer step on one batch; returns the state to carry on, detached. A loss that
        is not a number ends the run before it reaches the weights."""
        run, dtype = self.run, AUTOCAST.get(self.config.autocast)
        with torch.autocast(next(self.model.parameters()).device.type, dtype=dtype) if dtype else contextlib.nullcontext():
            loss, count, state = self.task.loss(self.model, batch, state)
        value = float(loss.detach())
        if not math.isfinite(value):
            run.stop, run.bad_loss = Stop.NOT_FINITE, value
            return None
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = None
        if self.config.clip is not None:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip))
        self.optimizer.step()
        if self.config.schedule == "cosine":
            self.scheduler.step()
        run.step += 1
        run.tokens += self.task.batch_tokens(batch) if hasattr(self.task, "batch_tokens") else count
        run.window.add(value, count, grad_norm)
        bar.update(1)
        bar.set_postfix(loss=f"{value:.3f}", ppl=f"{perplexity(value):.2f}",
                        tok_s=f"{run.tokens / max(time.perf_counter() - run.started, 1e-9):.0f}", refresh=False)
        return detach_state(state)

    def _evaluate(self) -> None:
        """One evaluation: a history record, the schedule, the best weights, early stopping."""
        run, cfg = self.run, self.config
        self.model.eval()
        metrics = self.task.evaluate(self.model, cfg.eval_batches)
        self.model.train()
        loss = metrics["loss"]
        seconds = time.perf_counter() - run.started
        record = {"step": run.step, "epoch": run.epoch, "seconds": seconds, "tokens": run.tokens,
                  "lr": self.optimizer.param_groups[0]["lr"], **run.window.means(),
                  "valid_loss": loss, "valid_ppl": perplexity(loss),
                  "tokens_per_s": run.tokens / max(seconds, 1e-9),
                  **{f"valid_{k}": v for k, v in metrics.items() if k != "loss"}}
        run.window, run.evaluated_at = _Window(), run.step
        record["best"] = improved = loss < self.best_loss - cfg.min_delta  # False for NaN
        if improved:
            self.best_loss, run.bad_evals = loss, 0
            self.best_state = copy.deepcopy(self.model.state_dict())
        else:
            run.bad_evals += 1
        if cfg.schedule == "plateau" and math.isfinite(loss):
            self.scheduler.step(loss)
        if self.on_eval is not None:
            self.on_eval(self, record)
        self.history.append(record)
        if improved and cfg.checkpoint is not None:
            self.save(cfg.checkpoint)  # now, not at the end: a run that is killed keeps its best
        if run.stop is None and cfg.patience is not None and run.bad_evals >= cfg.patience:
            run.stop = Stop.EARLY_STOPPING

    def _limit_reached(self) -> Stop | None:
        """The limit (max_steps, the time budget) this step reached, if any."""
        run, cfg = self.run, self.config
        if cfg.max_steps is not None and run.step >= cfg.max_steps:
            return Stop.MAX_STEPS
        if run.deadline is not None and time.perf_counter() > run.deadline:
            return Stop.TIME_BUDGET
        return None

    def save(self, path) -> None:
        """The current weights as a seqlib.torch checkpoint, with vocab, extra, history and the TrainConfig."""
        from seqlib.torch.checkpoint import plain_records, save

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save(path, self.model, vocab=self.vocab, **self.extra, history=plain_records(self.history),
             best_valid_loss=self.best_loss, train_config=dataclasses.asdict(self.config))
        self.checkpoint_written = True


def _configure(config: TrainConfig | None, overrides: dict) -> TrainConfig:
    """config (default TrainConfig()) with the overrides applied; unknown names are an error."""
    if config is None:
        config = TrainConfig()
    elif not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise TypeError(f"Trainer got unknown keyword arguments {unknown}; it takes optimizer, vocab, extra, "
                        f"on_eval and the fields of TrainConfig: {fields}")
    return dataclasses.replace(config, **overrides)


def _scheduler(optimizer, config: TrainConfig):
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.max_steps)
    return None


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
