"""The same checks on a CUDA GPU (skipped without one): cuDNN vs our loop, models, CUDA graphs.

Autocast is checked on both devices in test_autocast.py."""

import pytest
import torch

import seqlib.torch as st
from torch_helpers import KINDS, assert_close, cuda_or_skip

pytestmark = pytest.mark.cuda
N, T, D, H = 4, 7, 5, 8


@pytest.fixture(autouse=True)
def _exact_cuda_math():
    cuda_or_skip()
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # TF32 rounds to 1e-3
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 1e-5)])
@pytest.mark.parametrize("kind", list(KINDS))
def test_loop_matches_cudnn_with_lengths(kind, dtype, tol):
    cls, _, extra = KINDS[kind]
    m = cls(D, H, num_layers=2, bidirectional=True, dtype=dtype, device="cuda", **extra)
    x = torch.randn(N, T, D, dtype=dtype, device="cuda", requires_grad=True)
    lengths = torch.tensor([7, 3, 5, 1])
    res = {}
    for impl in ("fused", "loop"):
        m.impl = impl
        m.zero_grad()
        x.grad = None
        out, h_n = m(x, lengths=lengths)
        finals = h_n if isinstance(h_n, tuple) else (h_n,)
        (out.square().sum() + sum(f.square().sum() for f in finals)).backward()
        res[impl] = [out, *finals, x.grad] + [p.grad for p in m.parameters()]
    for k, (a, b) in enumerate(zip(res["loop"], res["fused"])):
        assert_close(f"tensor {k}", a, b, tol * 10 if dtype == torch.float32 else tol)


def test_models_train_on_the_gpu():
    dev = st.device("cuda")
    model = st.RNNLM(11, 8, 8, num_layers=2, tie_weights=True).to(dev)
    tokens = torch.randint(0, 11, (3, 6), device=dev)
    logits, _ = model(tokens)
    torch.nn.functional.cross_entropy(logits.reshape(-1, 11), tokens.reshape(-1)).backward()
    assert all(p.grad is not None and p.grad.is_cuda for p in model.parameters())


def test_cuda_graphed_loop_matches_eager(monkeypatch):
    """The recorded LSTM loop (seqlib.torch.graphs) gives the eager loop's numbers, twice."""
    from seqlib.torch import graphs

    m = st.LSTM(D, H, num_layers=2, bidirectional=True, device="cuda")
    x = torch.randn(N, T, D, device="cuda", requires_grad=True)

    def grads():
        m.zero_grad()
        x.grad = None
        out, (h_n, c_n) = m(x, lengths=torch.tensor([7, 3, 5, 1]))
        (out.square().sum() + c_n.sum()).backward()
        return [out.detach(), x.grad] + [p.grad for p in m.parameters()]

    monkeypatch.setenv("SEQLIB_CUDA_GRAPHS", "0")
    want = grads()
    monkeypatch.setenv("SEQLIB_CUDA_GRAPHS", "1")
    graphs.clear()
    for attempt in range(2):  # the first call records, the second replays
        for k, (a, b) in enumerate(zip(grads(), want)):
            assert_close(f"call {attempt}, tensor {k}", a, b, 1e-6)
    assert len(graphs._graphs) > 0
