"""Truncated BPTT: the state carry reproduces the full forward pass, and gradients stop at boundaries."""

import numpy as np
import pytest

from seqlib.gradcheck import check_gradients, rel_error
from seqlib.numpy.bptt import bptt_chunks, make_streams, train_lm, train_truncated_bptt, truncated_bptt
from seqlib.numpy import RNNLM
from seqlib.numpy.optim import SGD, Adam
from seqlib.vocab import Vocab

CELLS = ["rnn", "lstm", "gru"]


def test_make_streams_cuts_contiguous_equal_streams():
    streams = make_streams(np.arange(11), 3)
    np.testing.assert_array_equal(streams, [[0, 1, 2], [3, 4, 5], [6, 7, 8]])


def test_chunks_cover_every_pair_once_with_a_short_last_chunk():
    streams = np.arange(14).reshape(2, 7)
    chunks = list(bptt_chunks(streams, 4))
    assert [x.shape for x, _ in chunks] == [(2, 4), (2, 2)]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in chunks], axis=1), streams[:, :-1])
    np.testing.assert_array_equal(np.concatenate([y for _, y in chunks], axis=1), streams[:, 1:])


def _streams(seed=0, N=3, S=10, V=5):
    return np.random.default_rng(seed).integers(0, V, (N, S))


def _state_allclose(a, b):
    for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
def test_carried_state_gives_the_full_sequence_forward(cell):
    model = RNNLM(5, 3, 4, cell=cell, num_layers=2, seed=1)
    streams = _streams()
    full_loss, _, full_state = model.loss(streams[:, :-1], streams[:, 1:], return_state=True)
    results = list(truncated_bptt(model, streams, 4))
    assert len(results) == 3  # 9 pairs in chunks of 4, 4, 1
    # The loss is a sum over time: the chunks' losses add up to the whole sequence's.
    assert sum(r[0] for r in results) == pytest.approx(full_loss, rel=1e-12)
    _state_allclose(results[-1][2], full_state)
    # Without the carry each chunk restarts from zeros, and the forward pass differs.
    restarted = sum(model.loss(x, y)[0] for x, y in bptt_chunks(streams, 4))
    assert abs(restarted - full_loss) > 1e-3


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_stop_at_the_chunk_boundary(cell):
    # Fixed seeds: at h = 1e-4 the finite-difference noise is ~1e-12, so an entry that
    # happens to be ~1e-7 would fail the elementwise 1e-6 on noise alone; these draw none.
    model = RNNLM(5, 3, 3, cell=cell, num_layers=1, seed=1)
    streams = _streams(seed=1, N=2, S=7)
    (_, _, state1), (loss2, grads2, _) = list(truncated_bptt(model, streams, 3))[:2]
    x2, y2 = streams[:, 3:6], streams[:, 4:7]

    # The truncated gradient is that of chunk 2's loss with its h0 held constant.
    names = list(model.params)

    def chunk2_loss(*arrays):
        saved = dict(model.params)
        model.params.update(zip(names, arrays))
        try:
            return model.loss(x2, y2, h0=state1)[0]
        finally:
            model.params.update(saved)

    errors = check_gradients(chunk2_loss, [model.params[k] for k in names],
                             {i: grads2[k] for i, k in enumerate(names)}, h=1e-4)
    assert max(errors.values()) <= 1e-6, errors

    # Full BPTT of the same loss terms (chunk 1's steps masked out) also sends gradient
    # through h0 into chunk 1: the output layer sees the same states and agrees, every
    # weight that acts before the boundary gets a different gradient.
    x, y = streams[:, :6], streams[:, 1:7]
    mask = np.arange(6)[None, :].repeat(2, axis=0) >= 3
    loss_full, grads_full = model.loss(x, y, mask)
    assert loss_full == pytest.approx(loss2, rel=1e-12)
    for k in ("W_out", "b_out"):
        assert rel_error(grads_full[k], grads2[k]) < 1e-12, k
    for k in ("W_embed", "Wx_l0", "Wh_l0", "b_l0"):
        assert rel_error(grads_full[k], grads2[k]) > 1e-3, f"{k}: no gradient crossed the boundary?"


def test_training_reads_updated_parameters_chunk_after_chunk():
    model = RNNLM(5, 3, 4, seed=0)
    twin = RNNLM(5, 3, 4, seed=0)
    streams = _streams(seed=4, S=13)
    losses, state = train_truncated_bptt(model, streams, 4, SGD(0.5))
    # The same loop written out: a step after every chunk, the state carried.
    opt, s, want = SGD(0.5), None, []
    for x, y in bptt_chunks(streams, 4):
        loss, grads, s = twin.loss(x, y, h0=s, return_state=True)
        opt.step(twin.params, grads)
        want.append(loss)
    np.testing.assert_allclose(losses, want, rtol=1e-13)
    np.testing.assert_allclose(state, s, rtol=1e-13)
    for k in model.params:
        np.testing.assert_allclose(model.params[k], twin.params[k], rtol=1e-13, err_msg=k)


def test_truncated_training_learns_a_periodic_text():
    text = np.tile(np.array([0, 1, 2, 3, 1, 2, 4]), 40)
    streams = make_streams(text, 4)
    model = RNNLM(5, 8, 16, cell="lstm", seed=0)
    opt, state = Adam(2e-2), None
    first = None
    for _ in range(15):
        losses, state = train_truncated_bptt(model, streams, 10, opt, clip_norm=5.0, state=state)
        first = losses[0] if first is None else first
    # Per chunk of 10 steps; uniform guessing costs 10 * log 5 = 16.1.
    assert first > 10 and losses.mean() < 1.0, (first, losses.mean())


def test_bad_input_raises_value_error_naming_the_argument():
    with pytest.raises(ValueError, match=r"data has dtype float64, expected an integer array"):
        make_streams(np.arange(10.0), 2)
    with pytest.raises(ValueError, match=r"num_streams is 0"):
        make_streams(np.arange(10), 0)
    with pytest.raises(ValueError, match=r"data has shape \(5,\): too short for 3 streams"):
        make_streams(np.arange(5), 3)
    with pytest.raises(ValueError, match=r"streams has shape \(10,\), expected 2 dimensions"):
        next(bptt_chunks(np.arange(10), 3))
    with pytest.raises(ValueError, match=r"seq_length is 0"):
        next(bptt_chunks(np.zeros((2, 5), dtype=int), 0))
    with pytest.raises(ValueError, match=r"streams has shape \(2, 1\): need at least 2 steps"):
        next(bptt_chunks(np.zeros((2, 1), dtype=int), 3))


def test_numpy_loop_lowers_the_loss():
    text = "abcabd" * 100
    vocab = Vocab.build(text)
    model = RNNLM(len(vocab), 8, 16, cell="rnn", seed=0)
    history = train_lm(model, vocab.encode(text), seq_length=12, num_streams=4, max_steps=300, epochs=100,
                       log_every=50, sample_every=300, sample_length=5, progress=False)
    assert len(history) == 6 and history[-1]["step"] == 300
    assert history[-1]["smooth_loss"] < history[0]["smooth_loss"] - 0.5, [r["smooth_loss"] for r in history]
    assert history[-1]["sample"].shape == (5,)
