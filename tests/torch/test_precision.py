"""seqlib.torch.precision: bfloat16 autocast on every CPU, with or without a bfloat16 LSTM kernel.

The fallback (a fused layer leaves autocast and runs in float32) is tested on every machine by
forcing the "no kernel" answer; the native bfloat16 kernel is tested where the CPU has one.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

import seqlib.torch as st
from seqlib.torch import precision
from torch_helpers import KINDS, assert_close

N, T, D, H = 3, 6, 5, 7
MODES = {"rnn_tanh": "RNN_TANH", "rnn_relu": "RNN_RELU", "lstm": "LSTM", "gru": "GRU"}


def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    found = [f for f in flags if "bf16" in f or f in ("avx512f", "avx2")]
    return " ".join(found) or "none of avx2, avx512f, *bf16"


@pytest.fixture
def no_bf16_kernel(monkeypatch):
    """Force the answer of a CPU without bfloat16 RNN kernels, warnings not yet given."""
    monkeypatch.setattr(precision, "fused_kernel_runs", lambda mode, dtype: False)
    monkeypatch.setattr(precision, "_warned", set())


@pytest.mark.parametrize("kind", list(MODES))
def test_the_probe_says_what_torch_does_on_this_cpu(kind):
    """The probe's answer must be what a full-size torch.nn call under autocast does here."""
    cls, _, extra = KINDS[kind]
    layer = getattr(torch.nn, cls.__name__)(D, H, num_layers=2, batch_first=True, **extra)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            layer(torch.randn(N, T, D))
        runs = True
    except RuntimeError as err:
        assert "primitive" in str(err), err  # the oneDNN failure, nothing else
        runs = False
    assert precision.fused_kernel_runs(MODES[kind], torch.bfloat16) is runs, f"CPU flags: {_cpu_flags()}"


@pytest.mark.parametrize("kind", list(KINDS))
def test_without_a_kernel_the_fused_layer_runs_in_float32_and_warns_once(kind, no_bf16_kernel):
    cls, _, extra = KINDS[kind]
    m = cls(D, H, num_layers=2, bidirectional=True, impl="fused", **extra)
    x = torch.randn(N, T, D)
    lengths = torch.tensor([6, 2, 4])
    want, want_state = m(x, lengths=lengths)
    with pytest.warns(RuntimeWarning, match=f"no bfloat16 kernel for torch's {MODES[kind]}"):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got, got_state = m(x, lengths=lengths)
    assert got.dtype == torch.float32
    assert_close("output", got, want, 0.0)  # float32, autocast off: the very same numbers
    for a, b in zip(got_state if isinstance(got_state, tuple) else (got_state,),
                    want_state if isinstance(want_state, tuple) else (want_state,)):
        assert_close("final state", a, b, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call must not warn again
        with torch.autocast("cpu", dtype=torch.bfloat16):
            m(x)


@pytest.mark.parametrize("impl", ["loop", "fused"])
def test_without_a_kernel_a_model_still_trains_in_bfloat16_around_the_rnn(impl, no_bf16_kernel):
    model = st.RNNLM(11, 8, 8, num_layers=2, cell="lstm", tie_weights=True, impl=impl)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    tokens = torch.randint(0, 11, (3, 6))
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(30):
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits, _ = model(tokens[:, :-1])
            assert logits.dtype == torch.bfloat16  # the output layer is still under autocast
            loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, 11), tokens[:, 1:].reshape(-1))
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], f"{impl}: loss {losses[0]:.3f} -> {losses[-1]:.3f}"


def test_no_fallback_outside_autocast_or_off_the_cpu(no_bf16_kernel):
    assert not precision.fused_runs_in_float32("LSTM", torch.device("cpu"))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not precision.fused_runs_in_float32("LSTM", torch.device("cuda"))
        with pytest.warns(RuntimeWarning):
            assert precision.fused_runs_in_float32("LSTM", torch.device("cpu"))


def test_the_loop_path_never_asks_for_the_fallback(monkeypatch):
    def fail(mode, dtype):
        raise AssertionError("the loop path computes in float32: it has no kernel to probe")

    monkeypatch.setattr(precision, "fused_kernel_runs", fail)
    m = st.LSTM(D, H, impl="loop")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = m(torch.randn(N, T, D))
    assert out.dtype == torch.float32


@pytest.mark.skipif(not precision.fused_kernel_runs("LSTM", torch.bfloat16),
                    reason="needs a CPU with a native bfloat16 LSTM kernel (oneDNN: AVX-512 BF16 or AMX); "
                           f"this one has: {_cpu_flags()}")
def test_with_a_kernel_the_fused_lstm_runs_in_bfloat16_without_a_warning():
    m = st.LSTM(D, H, num_layers=2, impl="fused")
    x = torch.randn(N, T, D)
    want, _ = m(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got, _ = m(x)
    assert got.dtype == torch.bfloat16
    assert_close("output", got.float(), want, 5e-2)


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode is 'LSTMX'"):
        precision.fused_kernel_runs("LSTMX", torch.bfloat16)
