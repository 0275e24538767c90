"""Autocast to bfloat16, on the CPU and on a CUDA GPU (skipped without one).

The fused path runs torch's kernels, so autocast turns it to bfloat16: close to float32, not
equal. The loop path's Functions cast their inputs to float32 and run with autocast off, so
they give exactly their float32 numbers, forward and backward.
"""

import pytest
import torch

import seqlib.torch as st
from torch_helpers import KINDS, assert_close, cuda_or_skip

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
N, T, D, H = 4, 7, 5, 8


@pytest.fixture(params=DEVICES)
def dev(request):
    if request.param == "cuda":
        cuda_or_skip()
    return request.param


def _run(m, x, lengths, autocast_on):
    m.zero_grad()
    x.grad = None
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast_on):
        out, h_n = m(x, lengths=lengths)
    finals = h_n if isinstance(h_n, tuple) else (h_n,)
    (out.float().square().sum() + sum(f.float().sum() for f in finals)).backward()
    return out, [out, *finals, x.grad] + [p.grad for p in m.parameters()]


@pytest.mark.parametrize("kind", list(KINDS))
def test_loop_under_autocast_keeps_its_float32_numbers(kind, dev):
    cls, _, extra = KINDS[kind]
    m = cls(D, H, num_layers=2, bidirectional=True, impl="loop", device=dev, **extra)
    x = torch.randn(N, T, D, device=dev, requires_grad=True)
    lengths = torch.tensor([7, 3, 5, 1])
    _, want = _run(m, x, lengths, autocast_on=False)
    out, got = _run(m, x, lengths, autocast_on=True)
    assert out.dtype == torch.float32
    for k, (a, b) in enumerate(zip(got, want)):
        assert_close(f"tensor {k}", a, b, 1e-6)


@pytest.mark.parametrize("kind", list(KINDS))
def test_fused_under_autocast_is_close_to_float32(kind, dev):
    cls, _, extra = KINDS[kind]
    m = cls(D, H, num_layers=2, impl="fused", device=dev, **extra)
    x = torch.randn(N, T, D, device=dev, requires_grad=True)
    _, want = _run(m, x, None, autocast_on=False)
    _, got = _run(m, x, None, autocast_on=True)
    assert_close("output", got[0].float(), want[0], 5e-2)
    for k, (a, b) in enumerate(zip(got[1:], want[1:]), start=1):
        assert torch.isfinite(a).all(), f"tensor {k} has a non-finite value under autocast"
        # bfloat16 keeps 8 bits of mantissa: gradients agree to a few percent of their scale
        assert_close(f"tensor {k}", a.float(), b, 5e-2 * max(1.0, b.abs().max().item()))


@pytest.mark.parametrize("impl", ["loop", "fused"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_language_model_trains_under_autocast(cell, impl, dev):
    model = st.RNNLM(11, 8, 8, num_layers=2, cell=cell, tie_weights=True, impl=impl).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    tokens = torch.randint(0, 11, (3, 6), device=dev)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        with torch.autocast(dev, dtype=torch.bfloat16):
            logits, _ = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, 11), tokens[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], f"{cell}/{impl}: loss {losses[0]:.3f} -> {losses[-1]:.3f}"


@pytest.mark.parametrize("impl", ["loop", "fused"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_state_returned_under_autocast_goes_back_in(kind, impl, dev):
    """Truncated BPTT and decoding feed a module its own state; under autocast that state
    may be bfloat16 while the parameters are float32."""
    cls, _, extra = KINDS[kind]
    m = cls(D, H, num_layers=2, impl=impl, device=dev, **extra)
    x = torch.randn(N, T, D, device=dev)
    with torch.autocast(dev, dtype=torch.bfloat16):
        _, state = m(x)
        out, _ = m(x, state)
    assert torch.isfinite(out).all()
    first = state[0] if isinstance(state, tuple) else state
    if first.dtype == torch.bfloat16:  # outside autocast the same state is refused, by name
        with pytest.raises(ValueError, match=r"(h0|hx) has dtype torch.bfloat16, expected torch.float32"):
            m(x, state)


@pytest.mark.parametrize("impl", ["loop", "fused"])
def test_seq2seq_trains_and_decodes_under_autocast(impl, dev):
    model = st.Seq2Seq(9, 9, 8, 16, num_layers=2, impl=impl).to(dev)
    src = torch.randint(3, 9, (4, 5), device=dev)
    tgt = torch.cat([torch.ones(4, 1, dtype=torch.long, device=dev), src], dim=1)  # copy task
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        with torch.autocast(dev, dtype=torch.bfloat16):
            logits = model(src, tgt[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, 9), tgt[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], f"{impl}: loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    model.eval()
    with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16):
        state = model.encode(src)
        tokens = torch.ones(4, dtype=torch.long, device=dev)
        out = []
        for _ in range(5):  # the step function seqlib.decode drives, its state fed back each time
            log_probs, state = model.step(tokens, state)
            tokens = log_probs.argmax(-1)
            out.append(tokens)
    copied = (torch.stack(out, dim=1) == src).float().mean().item()
    assert copied > 0.5, f"{impl}: greedy decoding under autocast copied {copied:.0%} of the tokens"
