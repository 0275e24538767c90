"""seqlib.train: truncated BPTT really truncates, early stopping and the best checkpoint, autocast."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from seqlib.torch import RNNLM, load
from seqlib.train import LMTask, Stop, TrainConfig, Trainer, detach_state, sample_on_eval
from seqlib.vocab import Vocab


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only spin on a shared machine
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------- truncated BPTT


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("impl", ["loop", "fused"])
def test_detach_stops_the_gradient_at_the_chunk_boundary(cell, impl):
    torch.manual_seed(0)
    model = RNNLM(7, 4, 5, num_layers=2, cell=cell, impl=impl)
    x1, x2 = torch.randint(0, 7, (3, 4)), torch.randint(0, 7, (3, 4))
    h = torch.zeros(2, 3, 5, requires_grad=True)
    state0 = (h, torch.zeros(2, 3, 5)) if cell == "lstm" else h

    def loss_of_second_chunk(cut):
        _, state1 = model(x1, state0)
        logits, _ = model(x2, detach_state(state1) if cut else state1)
        return logits.sum()

    loss_of_second_chunk(cut=False).backward()
    assert h.grad is not None and h.grad.abs().sum() > 0, "without detach the gradient must reach chunk 1"
    h.grad = None
    loss_of_second_chunk(cut=True).backward()
    assert h.grad is None, f"after detach_state the gradient still reached chunk 1: {h.grad}"


def test_detach_keeps_the_values_and_the_structure():
    a, b = torch.randn(2, 3, requires_grad=True), torch.randn(2, 3, requires_grad=True)
    state = (a * 2, b + 1)
    cut = detach_state(state)
    assert isinstance(cut, tuple) and len(cut) == 2
    assert all(not c.requires_grad for c in cut)
    torch.testing.assert_close(cut[0], a * 2)
    assert detach_state(None) is None


class _Spy(nn.Module):
    """An RNNLM that records the state each chunk starts from and the one it hands on."""

    def __init__(self, lm):
        super().__init__()
        self.lm, self.seen, self.returned = lm, [], []
        self.config = lm.config

    def forward(self, x, state=None):
        self.seen.append(state)
        logits, new = self.lm(x, state)
        self.returned.append(new)
        return logits, new


def test_the_trainer_carries_the_state_detached_and_resets_it_each_epoch():
    torch.manual_seed(0)
    ids = np.random.default_rng(0).integers(0, 6, size=400)
    spy = _Spy(RNNLM(6, 4, 8, cell="lstm"))
    task = LMTask(ids, ids[:100], batch_size=2, seq_len=10)
    steps = len(task.train)
    Trainer(spy, task, max_epochs=2, patience=None, progress=False).fit()
    train_calls = [k for k, s in enumerate(spy.seen) if k < steps]  # epoch 1, before its evaluation
    assert spy.seen[0] is None, "an epoch must start from the zero state"
    for k in train_calls[1:]:
        h_in, h_out_prev = spy.seen[k][0], spy.returned[k - 1][0]
        assert h_in.grad_fn is None and not h_in.requires_grad, f"chunk {k} starts from a state still in the graph"
        torch.testing.assert_close(h_in, h_out_prev.detach())
    second_epoch = [k for k, s in enumerate(spy.seen) if k > steps + len(task.valid) - 1]
    assert spy.seen[second_epoch[0]] is None, "the second epoch must start from the zero state again"


# --------------------------------------------------------------------------- early stopping, best checkpoint


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.config = {}


class _ScriptedTask:
    """A regression task whose validation losses are scripted, to drive early stopping."""

    carries_state = False

    def __init__(self, valid_losses):
        self.valid_losses = list(valid_losses)
        self.evals = 0
        self.x = torch.randn(8, 3)

    def train_batches(self, rng):
        return range(1000)

    def loss(self, model, batch, state):
        return model.lin(self.x).pow(2).mean(), 8, None

    def evaluate(self, model, max_batches=None):
        self.evals += 1
        return {"loss": self.valid_losses[self.evals - 1]}


def test_early_stopping_keeps_the_best_weights_and_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = _Toy()
    task = _ScriptedTask([3.0, 2.0, 2.5, 2.6, 2.7, 1.0, 0.5])
    snapshots = []

    def on_eval(trainer, record):
        snapshots.append({k: v.clone() for k, v in trainer.model.state_dict().items()})

    trainer = Trainer(model, task, lr=0.1, schedule=None, patience=3, eval_every=5, max_epochs=1,
                      checkpoint=tmp_path / "best.pt", progress=False, on_eval=on_eval, extra={"task": "toy"})
    history = trainer.fit()
    assert [r["valid_loss"] for r in history] == [3.0, 2.0, 2.5, 2.6, 2.7], "must stop after 3 evaluations without improvement"
    assert "early stopping" in trainer.stop_reason
    assert [r["best"] for r in history] == [True, True, False, False, False]
    assert [r["step"] for r in history] == [5, 10, 15, 20, 25]
    best = snapshots[1]
    assert not torch.equal(snapshots[1]["lin.weight"], snapshots[4]["lin.weight"]), "training must change the weights"
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, best[k], msg=f"after fit, {k} is not the weight of the best evaluation")
    ckpt = load(tmp_path / "best.pt")
    for k, v in ckpt["state_dict"].items():
        torch.testing.assert_close(v, best[k], msg=f"the checkpoint's {k} is not the best evaluation's")
    assert ckpt["extra"]["best_valid_loss"] == 2.0 and ckpt["extra"]["task"] == "toy"
    assert len(ckpt["extra"]["history"]) == 5, "the final checkpoint carries the whole history"


def test_no_patience_runs_to_the_step_limit_and_plateau_halves_the_lr():
    model = _Toy()
    task = _ScriptedTask([1.0] * 10)
    trainer = Trainer(model, task, lr=0.1, schedule="plateau", patience=None, eval_every=2, max_steps=10,
                      progress=False)
    history = trainer.fit()
    assert len(history) == 5 and trainer.step == 10
    assert history[0]["lr"] == pytest.approx(0.1)
    assert history[-1]["lr"] < 0.1, "ReduceLROnPlateau must lower the rate when the loss stops improving"


def test_time_budget_and_dry_run_stop_training():
    model = _Toy()
    trainer = Trainer(model, _ScriptedTask([1.0] * 3), max_minutes=1e-9, patience=None, progress=False)
    trainer.fit()
    assert trainer.step == 1 and "time budget" in trainer.stop_reason
    trainer = Trainer(_Toy(), _ScriptedTask([1.0] * 3), dry_run=True, progress=False)
    history = trainer.fit()
    assert trainer.step == 2 and len(history) == 1


class _DivergingTask(_ScriptedTask):
    """The training loss is NaN from the third batch on (a learning rate far too high, say)."""

    def __init__(self, valid_losses, nan_at=3):
        super().__init__(valid_losses)
        self.batches, self.nan_at = 0, nan_at

    def loss(self, model, batch, state):
        self.batches += 1
        loss = model.lin(self.x).pow(2).mean()
        return (loss * math.nan if self.batches >= self.nan_at else loss), 8, None


def test_a_nan_training_loss_stops_the_run_before_it_reaches_the_weights(tmp_path):
    torch.manual_seed(0)
    model = _Toy()
    trainer = Trainer(model, _DivergingTask([2.0, 1.0]), lr=0.1, schedule=None, patience=None, eval_every=1,
                      max_steps=10, checkpoint=tmp_path / "best.pt", progress=False)
    history = trainer.fit()
    assert trainer.stop is Stop.NOT_FINITE and trainer.step == 2
    assert trainer.stop_reason == "the training loss became nan at step 3: training stopped before that step's update"
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert [r["step"] for r in history] == [1, 2] and trainer.checkpoint_written
    assert load(tmp_path / "best.pt")["extra"]["best_valid_loss"] == 1.0


def test_a_run_without_a_finite_validation_loss_claims_no_checkpoint(tmp_path):
    trainer = Trainer(_Toy(), _ScriptedTask([math.nan] * 4), schedule="plateau", patience=None, eval_every=1,
                      max_steps=3, checkpoint=tmp_path / "best.pt", progress=False)
    history = trainer.fit()
    assert trainer.stop is Stop.MAX_STEPS and len(history) == 3 and not any(r["best"] for r in history)
    assert not trainer.checkpoint_written and not (tmp_path / "best.pt").exists()
    assert math.isnan(history[-1]["valid_ppl"])


def test_cosine_schedule_needs_its_length():
    with pytest.raises(ValueError, match="max_steps"):
        Trainer(_Toy(), _ScriptedTask([1.0]), schedule="cosine")


# --------------------------------------------------------------------------- TrainConfig


def test_a_config_and_keyword_overrides_give_the_same_run(tmp_path):
    config = TrainConfig(lr=0.1, schedule=None, patience=None, eval_every=2, max_steps=6, progress=False)
    runs = []
    for args, kwargs in [((config,), {}), ((), dict(lr=0.1, schedule=None, patience=None, eval_every=2,
                                                    max_steps=6, progress=False))]:
        torch.manual_seed(0)  # the same model and data for both
        trainer = Trainer(_Toy(), _ScriptedTask([3.0, 2.0, 1.0]), *args, **kwargs)
        assert trainer.config == config
        runs.append([(r["step"], r["valid_loss"], r["train_loss"]) for r in trainer.fit()])
    assert runs[0] == runs[1] and [step for step, *_ in runs[0]] == [2, 4, 6]
    override = Trainer(_Toy(), _ScriptedTask([1.0]), config, max_steps=4, checkpoint=tmp_path / "b.pt")
    assert override.config.max_steps == 4 and override.config.lr == 0.1, "overrides apply on top of the config"
    assert override.config.checkpoint == str(tmp_path / "b.pt"), "a path is kept as plain text"


def test_trainer_refuses_unknown_arguments_and_bad_values():
    with pytest.raises(TypeError, match=r"unknown keyword arguments \['lrr'\].*TrainConfig: \['lr', 'clip'"):
        Trainer(_Toy(), _ScriptedTask([1.0]), lrr=0.1)
    with pytest.raises(TypeError, match="config must be a TrainConfig, got dict"):
        Trainer(_Toy(), _ScriptedTask([1.0]), {"lr": 0.1})
    with pytest.raises(ValueError, match=r"schedule is 'step', expected one of \('plateau', 'cosine'\) or None"):
        TrainConfig(schedule="step")


def test_autocast_is_stored_by_name_and_dry_run_sets_the_limits():
    assert TrainConfig(autocast=torch.bfloat16).autocast == "bf16" == TrainConfig(autocast="bf16").autocast
    dry = Trainer(_Toy(), _ScriptedTask([1.0]), dry_run=True, max_steps=100).config
    assert (dry.max_steps, dry.eval_every, dry.eval_batches, dry.max_epochs) == (2, 2, 2, 1)
    assert TrainConfig(schedule="cosine", dry_run=True).effective().max_steps == 2


def test_the_checkpoint_holds_the_train_config_as_plain_data(tmp_path):
    trainer = Trainer(_Toy(), _ScriptedTask([2.0, 1.0]), lr=0.05, eval_every=1, max_steps=2, patience=None,
                      checkpoint=tmp_path / "best.pt", progress=False, autocast=torch.bfloat16)
    trainer.fit()
    stored = torch.load(tmp_path / "best.pt", weights_only=True)["extra"]["train_config"]
    assert TrainConfig(**stored) == trainer.config and stored["autocast"] == "bf16" and stored["lr"] == 0.05


# --------------------------------------------------------------------------- it learns


def test_a_small_lm_learns_a_periodic_text_and_samples_it():
    text = "abcd" * 300
    vocab = Vocab.build(text)
    ids = vocab.encode(text)
    torch.manual_seed(0)
    model = RNNLM(len(vocab), 8, 16, cell="lstm")
    task = LMTask(ids, ids[:200], batch_size=4, seq_len=20)
    trainer = Trainer(model, task, lr=1e-2, max_epochs=8, patience=None, progress=False,
                      on_eval=sample_on_eval(vocab, prime="ab", length=8, temperature=0.1))
    history = trainer.fit()
    assert history[-1]["valid_loss"] < 0.1, f"valid loss {history[-1]['valid_loss']:.3f} on a period-4 text"
    assert history[-1]["valid_ppl"] == pytest.approx(math.exp(history[-1]["valid_loss"]))
    assert history[-1]["sample"] == "cdabcdab"
    assert {"train_loss", "tokens_per_s", "grad_norm", "lr", "seconds"} <= set(history[-1])


@pytest.mark.parametrize("impl", ["fused", "loop"])
def test_training_under_bf16_autocast_learns_and_keeps_float32_weights(impl):
    text = "abcd" * 300
    vocab = Vocab.build(text)
    ids = vocab.encode(text)
    torch.manual_seed(0)
    model = RNNLM(len(vocab), 8, 16, cell="lstm", impl=impl)
    seen = []  # the output layer's dtype in training forward passes
    model.out.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype) if mod.training else None)
    task = LMTask(ids, ids[:200], batch_size=4, seq_len=20)
    trainer = Trainer(model, task, lr=1e-2, max_epochs=8, patience=None, progress=False, autocast=torch.bfloat16)
    history = trainer.fit()
    assert set(seen) == {torch.bfloat16}, "the training forward passes did not run under autocast"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert history[-1]["valid_loss"] < 0.1, f"valid loss {history[-1]['valid_loss']:.3f} on a period-4 text"


def test_autocast_takes_bfloat16_only():
    with pytest.raises(ValueError, match="autocast"):
        Trainer(_Toy(), _ScriptedTask([1.0]), autocast=torch.float16)
