"""Loop vs fused vs torch.nn for RNN, LSTM and GRU: outputs, final states and every gradient."""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqlib.torch as st
from torch_helpers import KINDS, TOL, assert_close

N, T, D, H = 3, 5, 4, 6


def run(module, x, hx, lengths, weights, use_nn_packing=False):
    """Forward, a loss touching every output, backward; returns {name: tensor} to compare."""
    module.zero_grad()
    x = x.detach().clone().requires_grad_()
    hx = tuple(h.detach().clone().requires_grad_() for h in hx)
    state = hx if isinstance(module, torch.nn.LSTM) else hx[0]
    if use_nn_packing:  # plain torch.nn: lengths go through a packed sequence
        packed = pack_padded_sequence(x, lengths, batch_first=module.batch_first, enforce_sorted=False)
        out, h_n = module(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=module.batch_first, total_length=x.shape[1 if module.batch_first else 0])
    elif lengths is not None:
        out, h_n = module(x, state, lengths=lengths)
    else:
        out, h_n = module(x, state)
    finals = h_n if isinstance(h_n, tuple) else (h_n,)
    loss = (out * weights[0]).sum() + sum((f * w).sum() for f, w in zip(finals, weights[1:]))
    loss.backward()
    got = {"output": out, "x.grad": x.grad}
    got.update({f"final[{k}]": f for k, f in enumerate(finals)})
    got.update({f"hx[{k}].grad": h.grad for k, h in enumerate(hx)})
    got.update({f"{name}.grad": p.grad for name, p in module.named_parameters()})
    return got


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("batch_first", [True, False])
def test_loop_fused_and_torch_nn_agree(kind, dtype, with_lengths, batch_first):
    ours_cls, nn_cls, extra = KINDS[kind]
    ours = ours_cls(D, H, num_layers=2, bidirectional=True, batch_first=batch_first, dtype=dtype, **extra)
    ref = nn_cls(D, H, num_layers=2, bidirectional=True, batch_first=batch_first, dtype=dtype, **extra)
    ref.load_state_dict(ours.state_dict(), strict=True)
    shape = (N, T, D) if batch_first else (T, N, D)
    x = torch.randn(*shape, dtype=dtype)
    n_states = 2 if kind == "lstm" else 1
    hx = tuple(torch.randn(4, N, H, dtype=dtype) for _ in range(n_states))
    lengths = torch.tensor([5, 2, 4]) if with_lengths else None
    out_shape = (N, T, 2 * H) if batch_first else (T, N, 2 * H)
    weights = [torch.randn(*out_shape, dtype=dtype)] + [torch.randn(4, N, H, dtype=dtype) for _ in range(n_states)]

    want = run(ref, x, hx, lengths, weights, use_nn_packing=with_lengths)
    for impl in ("loop", "fused"):
        ours.impl = impl
        got = run(ours, x, hx, lengths, weights)
        assert got.keys() == want.keys()
        for name in want:
            assert_close(f"{impl} {name}", got[name], want[name], TOL[dtype])


@pytest.mark.parametrize("kind", list(KINDS))
def test_padded_steps_are_zero_and_do_not_change_the_state(kind):
    ours_cls, _, extra = KINDS[kind]
    m = ours_cls(D, H, num_layers=2, bidirectional=True, dtype=torch.float64, **extra)
    x = torch.randn(2, T, D, dtype=torch.float64)
    lengths = torch.tensor([T, 3])
    out, h_n = m(x, lengths=lengths)
    assert out[1, 3:].abs().max() == 0, "outputs past a sequence's length must be zero"
    # The short sequence alone, without padding, must give the same outputs and final state.
    out_short, h_short = m(x[1:, :3])
    assert_close("output", out[1:, :3], out_short, 1e-12)
    finals = zip(h_n, h_short) if isinstance(h_n, tuple) else [(h_n, h_short)]
    for a, b in finals:
        assert_close("final state", a[:, 1:], b, 1e-12)


@pytest.mark.parametrize("kind", list(KINDS))
def test_state_dicts_load_both_ways(kind):
    ours_cls, nn_cls, extra = KINDS[kind]
    ours = ours_cls(D, H, num_layers=2, bidirectional=True, **extra)
    ref = nn_cls(D, H, num_layers=2, bidirectional=True, batch_first=True, **extra)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ref.load_state_dict(ours.state_dict(), strict=True)
    ours2 = ours_cls(D, H, num_layers=2, bidirectional=True, **extra)
    ours2.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(N, T, D)
    assert_close("output", ours2(x)[0], ref(x)[0], 1e-5)


def test_dropout_between_layers_only_in_training():
    m = st.LSTM(D, H, num_layers=2, dropout=0.5, dtype=torch.float64)
    x = torch.randn(N, T, D, dtype=torch.float64)
    m.train()
    a, b = m(x)[0], m(x)[0]
    assert (a - b).abs().max() > 1e-6, "dropout in training should make two passes differ"
    m.eval()
    m.impl = "fused"
    want = m(x)[0]
    m.impl = "loop"
    assert_close("eval output", m(x)[0], want, 1e-12)


@pytest.mark.parametrize("kind", list(KINDS))
def test_without_bias_agrees(kind):
    ours_cls, nn_cls, extra = KINDS[kind]
    m = ours_cls(D, H, num_layers=2, bias=False, dtype=torch.float64, **extra)
    ref = nn_cls(D, H, num_layers=2, bias=False, batch_first=True, dtype=torch.float64, **extra)
    ref.load_state_dict(m.state_dict(), strict=True)
    x = torch.randn(N, T, D, dtype=torch.float64)
    assert_close("output", m(x)[0], ref(x)[0], 1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_cells_loop_fused_and_torch_nn_agree(cell):
    ours_cls = {"rnn": st.RNNCell, "lstm": st.LSTMCell, "gru": st.GRUCell}[cell]
    nn_cls = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[cell]
    ours = ours_cls(D, H, dtype=torch.float64)
    ref = nn_cls(D, H, dtype=torch.float64)
    ref.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(N, D, dtype=torch.float64)
    hx = (torch.randn(N, H, dtype=torch.float64), torch.randn(N, H, dtype=torch.float64))
    hx = hx if cell == "lstm" else hx[0]
    want = ref(x, hx)
    for impl in ("loop", "fused"):
        ours.impl = impl
        got = ours(x, hx)
        for a, b in zip(got if cell == "lstm" else [got], want if cell == "lstm" else [want]):
            assert_close(f"{impl} {cell} cell", a, b, 1e-12)
