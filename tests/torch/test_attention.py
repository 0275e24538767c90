"""seqlib.torch.attention against seqlib.numpy.attention (float64), against torch's
scaled_dot_product_attention, under torch.autograd.gradcheck, in float32, and on a GPU."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import seqlib.numpy.attention as na
import seqlib.torch.attention as ta
from torch_helpers import assert_close, cuda_or_skip

N, T, S, H, K, A = 3, 4, 6, 5, 7, 3
TOL = 1e-12
LENGTHS = [2, 6, 4]  # the first and last sequences are padded


def t64(*shape):
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


def make_args(score):
    """query, keys, src_lengths and params (a dict of leaf tensors) for one score."""
    key_size = H if score == "dot" else K
    params = na.init_attention_params(np.random.default_rng(0), score, H, key_size, A if score == "additive" else None)
    params = {name: (2 * torch.from_numpy(p)).requires_grad_() for name, p in params.items()}
    return t64(N, T, H), t64(N, S, key_size), torch.tensor(LENGTHS), params


def numpy_of(tensors):
    return [x.detach().numpy() for x in tensors]


def check_against_numpy(name, got, want, grads, np_grads):
    assert_close(name, got.detach(), torch.from_numpy(want), TOL)
    for k, (g, ng) in enumerate(zip(grads, np_grads)):
        assert_close(f"{name}: gradient of argument {k}", g, torch.from_numpy(ng), TOL)


# --------------------------------------------------------------------------------------
# The same numbers as seqlib.numpy (float64): outputs, and autograd vs the hand-written backward
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("score", na.SCORES)
def test_scores_match_numpy(score):
    query, keys, _, params = make_args(score)
    args = [query, keys, *params.values()]
    extra = (0.5,) if score == "dot" else ()  # a scale that is not 1
    out = getattr(ta, f"{score}_scores")(*args, *extra)
    dout = torch.randn_like(out)
    grads = torch.autograd.grad(out, args, dout)
    want, cache = getattr(na, f"{score}_scores_forward")(*numpy_of(args), *extra)
    np_grads = getattr(na, f"{score}_scores_backward")(dout.numpy(), cache)
    check_against_numpy(f"{score}_scores", out, want, grads, np_grads)


def test_masked_softmax_and_context_match_numpy():
    scores, values = t64(N, T, S), t64(N, S, K)
    weights = ta.masked_softmax(scores, torch.tensor(LENGTHS))
    dweights = torch.randn_like(weights)
    (dscores,) = torch.autograd.grad(weights, scores, dweights)
    want, cache = na.masked_softmax_forward(scores.detach().numpy(), np.array(LENGTHS))
    check_against_numpy("masked_softmax", weights, want, [dscores], [na.masked_softmax_backward(dweights.numpy(), cache)])

    w = weights.detach().requires_grad_()
    out = ta.context(w, values)
    dout = torch.randn_like(out)
    grads = torch.autograd.grad(out, [w, values], dout)
    want, cache = na.context_forward(w.detach().numpy(), values.detach().numpy())
    check_against_numpy("context", out, want, grads, na.context_backward(dout.numpy(), cache))


@pytest.mark.parametrize("score", na.SCORES)
def test_attention_and_module_match_numpy(score):
    query, keys, src_lengths, params = make_args(score)
    out, weights = ta.attention(query, keys, src_lengths, score, params)
    dout = torch.randn_like(out)
    grads = torch.autograd.grad(out, [query, keys, *params.values()], dout)
    np_params = {name: p.detach().numpy() for name, p in params.items()}
    (want, want_weights), cache = na.attention_forward(*numpy_of([query, keys]), np.array(LENGTHS), score, np_params)
    dquery, dkeys, dparams = na.attention_backward(dout.numpy(), cache)
    check_against_numpy("attention", out, want, grads, [dquery, dkeys, *dparams.values()])
    assert_close("weights", weights.detach(), torch.from_numpy(want_weights), TOL)

    # The module, its parameters loaded from the numpy dict: the same numbers again.
    m = ta.Attention(score, H, keys.shape[2], A if score == "additive" else None, dtype=torch.float64)
    m.load_state_dict({name: torch.from_numpy(p) for name, p in np_params.items()})
    m_out, m_weights = m(query, keys, src_lengths)
    assert_close("Attention module", m_out.detach(), torch.from_numpy(want), TOL)
    assert_close("Attention module weights", m_weights.detach(), torch.from_numpy(want_weights), TOL)


# --------------------------------------------------------------------------------------
# torch's own scaled dot-product attention, and gradcheck
# --------------------------------------------------------------------------------------

def test_scaled_dot_matches_torch_scaled_dot_product_attention():
    query, keys = t64(N, T, H), t64(N, S, H)
    src_lengths = torch.tensor(LENGTHS)
    weights = ta.masked_softmax(ta.dot_scores(query, keys, 1 / math.sqrt(H)), src_lengths)
    out = ta.context(weights, keys)
    mask = (torch.arange(S)[None, :] < src_lengths[:, None])[:, None, :].expand(N, T, S)  # True: attend
    want = F.scaled_dot_product_attention(query, keys, keys, attn_mask=mask)
    assert_close("context vs scaled_dot_product_attention", out.detach(), want.detach(), TOL)
    # attention() with score="dot" on the scaled query is the same thing.
    scaled, _ = ta.attention(query / math.sqrt(H), keys, src_lengths)
    assert_close("attention(query / sqrt(H))", scaled.detach(), want.detach(), TOL)
    dout = torch.randn_like(out)
    grads = torch.autograd.grad(out, [query, keys], dout)
    want_grads = torch.autograd.grad(want, [query, keys], dout)
    for name, g, w in zip(["dquery", "dkeys"], grads, want_grads):
        assert_close(name, g, w, TOL)


@pytest.mark.parametrize("score", na.SCORES)
def test_attention_passes_gradcheck(score):
    query, keys, src_lengths, params = make_args(score)
    names = list(params)

    def f(query, keys, *arrays):
        return ta.attention(query, keys, src_lengths, score, dict(zip(names, arrays)))

    assert torch.autograd.gradcheck(f, (query, keys, *params.values()))


def test_parts_pass_gradcheck():
    src_lengths = torch.tensor(LENGTHS)
    assert torch.autograd.gradcheck(lambda q, k: ta.dot_scores(q, k, 0.5), (t64(N, T, H), t64(N, S, H)))
    assert torch.autograd.gradcheck(ta.bilinear_scores, (t64(N, T, H), t64(N, S, K), t64(H, K)))
    assert torch.autograd.gradcheck(ta.additive_scores, (t64(N, T, H), t64(N, S, K), t64(H, A), t64(K, A), t64(A)))
    assert torch.autograd.gradcheck(lambda s: ta.masked_softmax(s, src_lengths), (t64(N, T, S),))
    assert torch.autograd.gradcheck(ta.context, (t64(N, T, S), t64(N, S, K)))


@pytest.mark.parametrize("score", na.SCORES)
def test_padding_has_weight_zero_and_no_gradient(score):
    query, keys, src_lengths, params = make_args(score)
    out, weights = ta.attention(query, keys, src_lengths, score, params)
    out.square().sum().backward()
    padding = torch.arange(S)[None, :] >= src_lengths[:, None]  # (N, S)
    assert torch.all(weights.detach()[padding[:, None, :].expand(N, T, S)] == 0)
    assert_close("real weights sum to 1", weights.detach().sum(-1), torch.ones(N, T, dtype=torch.float64), TOL)
    assert torch.all(keys.grad[padding] == 0), "padded keys received a gradient"


# --------------------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("score, key_size, attention_size", [("dot", H, None), ("bilinear", K, None), ("additive", K, A)])
def test_module_parameters_are_named_and_laid_out_like_numpy(score, key_size, attention_size):
    m = ta.Attention(score, H, key_size, attention_size)
    np_params = na.init_attention_params(0, score, H, key_size, attention_size)
    assert [(n, tuple(p.shape)) for n, p in m.state_dict().items()] == [(n, p.shape) for n, p in np_params.items()]
    for name, p in m.named_parameters():
        bound = 1 / math.sqrt(p.shape[0])
        assert p.abs().max() <= bound and p.abs().max() > bound / 2, f"{name} is not uniform in ±1/sqrt(fan_in)"
        assert p.dtype == torch.float32


@pytest.mark.parametrize("score", na.SCORES)
def test_module_runs_in_float32(score):
    key_size = H if score == "dot" else K
    m64 = ta.Attention(score, H, key_size, A if score == "additive" else None, dtype=torch.float64)
    m32 = ta.Attention(score, H, key_size, A if score == "additive" else None)
    m32.load_state_dict(m64.state_dict())
    assert all(p.dtype == torch.float32 for p in m32.parameters())
    query, keys = torch.randn(N, T, H, dtype=torch.float64), torch.randn(N, S, key_size, dtype=torch.float64)
    out64, w64 = m64(query, keys, LENGTHS)
    query32 = query.float().requires_grad_()
    out32, w32 = m32(query32, keys.float(), LENGTHS)
    assert out32.dtype == w32.dtype == torch.float32
    assert_close("float32 context", out32.double(), out64, 1e-5)
    assert_close("float32 weights", w32.double(), w64, 1e-5)
    out32.sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in [query32, *m32.parameters()])


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("lengths, match", [
    ([2, 0, 4], r"src_lengths must lie in \[1, S\] = \[1, 6\], got values from 0 to 4"),
    (torch.tensor([2, 7, 4]), r"src_lengths must lie in \[1, S\] = \[1, 6\], got values from 2 to 7"),
    ([2, 4], r"src_lengths has shape \(2,\), expected \(N,\) = \(3,\)"),
    (torch.tensor([2.0, 6.0, 4.0]), r"src_lengths has dtype torch.float32, expected an integer array"),
])
def test_bad_src_lengths_on_the_cpu(lengths, match):
    with pytest.raises(ValueError, match=match):
        ta.masked_softmax(torch.zeros(N, T, S), lengths)


@pytest.mark.parametrize("args, match", [
    (("mlp", H, H), r"score is 'mlp', expected one of \('dot', 'bilinear', 'additive'\)"),
    (("dot", H, K), r"key_size is 7, expected query_size = 5: score='dot' needs H = K"),
    (("additive", H, K), r"attention_size is None, expected an integer >= 1"),
    (("bilinear", H, K, A), r"attention_size is 3, expected None: only score='additive' uses it"),
])
def test_module_rejects_bad_config(args, match):
    with pytest.raises(ValueError, match=match):
        ta.Attention(*args)


def test_attention_rejects_bad_score_params_and_shapes():
    query, keys, src_lengths, params = make_args("additive")
    with pytest.raises(ValueError, match=r"score is 'mlp', expected one of"):
        ta.attention(query, keys, src_lengths, "mlp", params)
    match = r"params has keys \['W_k', 'W_q'\], expected \['W_q', 'W_k', 'v'\] for score='additive'"
    with pytest.raises(ValueError, match=match):
        ta.attention(query, keys, src_lengths, "additive", {"W_q": params["W_q"], "W_k": params["W_k"]})
    with pytest.raises(ValueError, match=r"W_q has shape \(7, 3\), expected \(H, A\) = \(5, 3\)"):
        ta.attention(query, keys, src_lengths, "additive", {**params, "W_q": torch.zeros(K, A)})
    with pytest.raises(ValueError, match=r"keys has shape \(3, 6, 7\), expected \(N, S, H\) = \(3, 6, 5\)"):
        ta.attention(query, keys, src_lengths)
    with pytest.raises(ValueError, match=r"W has shape \(7, 5\), expected \(H, K\) = \(5, 7\)"):
        ta.Attention("bilinear", K, H)(query, keys, src_lengths)


# --------------------------------------------------------------------------------------
# On a GPU: no host synchronisation in the forward pass
# --------------------------------------------------------------------------------------

@pytest.mark.cuda
@pytest.mark.parametrize("score", na.SCORES)
def test_forward_does_not_synchronise_the_gpu(score):
    cuda_or_skip()
    key_size = H if score == "dot" else K
    m = ta.Attention(score, H, key_size, A if score == "additive" else None, device="cuda", dtype=torch.float64)
    on_gpu = dict(device="cuda", dtype=torch.float64)
    query, keys = torch.randn(N, T, H, **on_gpu), torch.randn(N, S, key_size, **on_gpu)
    src_lengths = torch.tensor(LENGTHS, device="cuda")
    m(query, keys, src_lengths)  # warm-up: the first call may load kernels
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out, weights = m(query, keys, src_lengths)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    cpu = ta.Attention(score, H, key_size, A if score == "additive" else None, dtype=torch.float64)
    cpu.load_state_dict({k: v.cpu() for k, v in m.state_dict().items()})
    want, want_weights = cpu(query.cpu(), keys.cpu(), LENGTHS)
    assert_close("context on the GPU", out.cpu(), want, 1e-10)
    assert_close("weights on the GPU", weights.cpu(), want_weights, 1e-10)
