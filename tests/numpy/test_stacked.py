"""seqlib.numpy.stacked: multi-layer, bidirectional networks against finite differences and torch.nn."""

import numpy as np
import pytest
import torch

from seqlib.gradcheck import check_gradients, rel_error
from seqlib.numpy import (
    from_torch_state_dict,
    init_stacked_params,
    stacked_backward,
    stacked_forward,
    to_torch_state_dict,
)

CELLS = ["rnn", "lstm", "gru"]
TORCH = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
KEYS = ("Wx", "Wh", "b")


def flatten(params):
    return [p[k] for layer in params for p in layer for k in KEYS]


def unflatten(arrays, like):
    it = iter(arrays)
    return [[{k: next(it) for k in KEYS} for _ in layer] for layer in like]


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell, reset", [("rnn", "before"), ("lstm", "before"), ("gru", "before"), ("gru", "after")])
def test_stacked_backward_matches_finite_differences(cell, reset, bidirectional):
    rng = np.random.default_rng(7)
    N, T, D, H, L = 2, 3, 3, 2, 2
    K = 2 if bidirectional else 1
    params = init_stacked_params(D, H, L, cell, bidirectional, reset, rng)
    x, h0, c0 = rng.normal(size=(N, T, D)), rng.normal(size=(L * K, N, H)), rng.normal(size=(L * K, N, H))
    lstm = cell == "lstm"
    kw = dict(cell=cell, bidirectional=bidirectional, reset=reset)

    def outputs(x, h0, c0, *flat):
        h, state, _ = stacked_forward(x, h0, unflatten(flat, params), c0=c0 if lstm else None, **kw)
        return np.concatenate([a.ravel() for a in (h, *(state if lstm else (state,)))])

    h, state, cache = stacked_forward(x, h0, params, c0=c0 if lstm else None, **kw)
    dh, dh_n, dc_n = rng.normal(size=h.shape), rng.normal(size=h0.shape), rng.normal(size=h0.shape)
    dx, dstate0, dparams = stacked_backward(dh, cache, (dh_n, dc_n) if lstm else dh_n)
    dh0, dc0 = dstate0 if lstm else (dstate0, np.zeros_like(c0))
    dout = np.concatenate([a.ravel() for a in ((dh, dh_n, dc_n) if lstm else (dh, dh_n))])
    grads = dict(enumerate([dx, dh0, dc0, *flatten(dparams)]))
    errors = check_gradients(outputs, [x, h0, c0, *flatten(params)], grads, dout)
    assert max(errors.values()) <= 1e-6, errors


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_stacked_matches_torch_outputs_states_and_every_gradient(cell, bidirectional):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    N, T, D, H, L = 3, 4, 5, 6, 2
    K = 2 if bidirectional else 1
    module = TORCH[cell](D, H, num_layers=L, bidirectional=bidirectional, batch_first=True).double()
    params = from_torch_state_dict(module.state_dict(), cell)
    x, h0, c0 = rng.normal(size=(N, T, D)), rng.normal(size=(L * K, N, H)), rng.normal(size=(L * K, N, H))
    dh, dh_n, dc_n = rng.normal(size=(N, T, K * H)), rng.normal(size=h0.shape), rng.normal(size=h0.shape)
    lstm = cell == "lstm"

    h, state, cache = stacked_forward(x, h0, params, cell, bidirectional, c0=c0 if lstm else None, reset="after")
    dx, dstate0, dparams = stacked_backward(dh, cache, (dh_n, dc_n) if lstm else dh_n)

    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    ht, state_t = module(xt, (h0t, c0t) if lstm else h0t)
    states_t = state_t if lstm else (state_t,)
    loss = (ht * torch.from_numpy(dh)).sum() + sum(
        (s * torch.from_numpy(g)).sum() for s, g in zip(states_t, (dh_n, dc_n))
    )
    loss.backward()

    def close(name, ours, theirs):
        theirs = theirs.detach().numpy()
        err = np.abs(ours - theirs).max()
        assert err <= 1e-10, f"{name}: max abs difference {err:.3g}"

    close("h", h, ht)
    for name, ours, theirs in zip(("h_n", "c_n"), state if lstm else (state,), states_t):
        close(name, ours, theirs)
    close("dx", dx, xt.grad)
    close("dh0", dstate0[0] if lstm else dstate0, h0t.grad)
    if lstm:
        close("dc0", dstate0[1], c0t.grad)
    grads = to_torch_state_dict(dparams, cell, gradients=True)
    names = [name for name, _ in module.named_parameters()]
    assert sorted(grads) == sorted(names)
    for name, p in module.named_parameters():
        close(f"d {name}", grads[name], p.grad)


def test_stacked_with_zero_initial_states_equals_explicit_zeros():
    rng = np.random.default_rng(1)
    params = init_stacked_params(3, 4, 2, "lstm", True, rng=rng)
    x, zeros = rng.normal(size=(2, 5, 3)), np.zeros((4, 2, 4))
    h, (h_n, c_n), _ = stacked_forward(x, None, params, "lstm", True)
    h2, (h_n2, c_n2), _ = stacked_forward(x, zeros, params, "lstm", True, c0=zeros)
    assert rel_error(h, h2) == 0 and rel_error(h_n, h_n2) == 0 and rel_error(c_n, c_n2) == 0
    assert h.shape == (2, 5, 8) and h_n.shape == c_n.shape == (4, 2, 4)
    # The forward direction's final state is its last output; the backward one's is its first.
    np.testing.assert_array_equal(h_n[2], h[:, -1, :4])
    np.testing.assert_array_equal(h_n[3], h[:, 0, 4:])


def test_stacked_rejects_bad_input():
    rng = np.random.default_rng(2)
    params = init_stacked_params(3, 4, 2, "gru", True, rng=rng)
    x = rng.normal(size=(2, 5, 3))
    with pytest.raises(ValueError, match=r"h0 has shape \(2, 2, 4\), expected \(2L, N, H\) = \(4, 2, 4\)"):
        stacked_forward(x, np.zeros((2, 2, 4)), params, "gru", True)
    with pytest.raises(ValueError, match=r"c0 is only for cell='lstm', got cell='gru'"):
        stacked_forward(x, None, params, "gru", True, c0=np.zeros((4, 2, 4)))
    with pytest.raises(ValueError, match=r"params\[0\] must be a list of 1 direction dict\(s\)"):
        stacked_forward(x, None, params, "gru", False)
    with pytest.raises(ValueError, match=r"params\[0\]\[0\]\['Wh'\] has shape \(4, 12\), expected \(H, 4H\) = \(4, 16\)"):
        stacked_forward(x, None, params, "lstm", True)
    with pytest.raises(ValueError, match=r"params\[0\]\[0\]\['b'\] has shape \(12,\), expected \(4H,\) = \(16,\)"):
        stacked_forward(x, None, params, "gru", True, reset="after")
    wide = [[dict(p) for p in layer] for layer in params]
    wide[1][1]["Wx"] = np.zeros((4, 12))
    with pytest.raises(ValueError, match=r"params\[1\]\[1\]\['Wx'\] has shape \(4, 12\), expected \(2H, 3H\) = \(8, 12\)"):
        stacked_forward(x, None, wide, "gru", True)
    with pytest.raises(ValueError, match=r"x has shape \(2, 0, 3\): every dimension"):
        stacked_forward(np.zeros((2, 0, 3)), None, params, "gru", True)
    with pytest.raises(ValueError, match=r"cell is 'rrn', expected one of"):
        stacked_forward(x, None, params, "rrn", True)
    h, _, cache = stacked_forward(x, None, params, "gru", True)
    with pytest.raises(ValueError, match=r"dh has shape \(2, 5, 4\), expected \(N, T, K\*H\) = \(2, 5, 8\)"):
        stacked_backward(np.zeros((2, 5, 4)), cache)
    with pytest.raises(ValueError, match=r"dh_n has shape \(2, 2, 4\), expected \(L\*K, N, H\) = \(4, 2, 4\)"):
        stacked_backward(np.zeros_like(h), cache, np.zeros((2, 2, 4)))
