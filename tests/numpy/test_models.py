"""Models: gradients against finite differences, overfitting tiny data, padding, stepping, bad input."""

import numpy as np
import pytest

from seqlib import decode
from seqlib.gradcheck import check_gradients
from seqlib.numpy import RNNLM, Seq2Seq, SentenceClassifier, shift_right
from seqlib.numpy.optim import Adam

CELLS = ["rnn", "lstm", "gru"]


def assert_gradients(model, *args):
    """model.loss(*args)'s grads against centred differences, every parameter, float64.

    h = 1e-4: the differences of an O(1) loss carry ~1e-12 of rounding noise, which at the
    default 1e-5 already exceeds 1e-6 of an entry ~1e-5; the O(h^2) truncation stays ~1e-9.
    """
    loss, grads = model.loss(*args)
    names = list(model.params)
    assert list(grads) == names, "grads must have the keys of params, in order"

    def f(*arrays):
        saved = dict(model.params)
        model.params.update(zip(names, arrays))
        try:
            return model.loss(*args)[0]
        finally:
            model.params.update(saved)

    errors = check_gradients(f, [model.params[k] for k in names], {i: grads[k] for i, k in enumerate(names)},
                             h=1e-4)
    worst = {names[i]: e for i, e in errors.items() if e > 1e-6}
    assert not worst, f"relative errors above 1e-6: {worst}"


def _state(model, N, rng):
    z = model.initial_state(N)
    return tuple(rng.standard_normal(a.shape) for a in z) if isinstance(z, tuple) else rng.standard_normal(z.shape)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_language_model_gradients(cell, num_layers):
    rng = np.random.default_rng(1)
    model = RNNLM(4, 3, 2, cell=cell, num_layers=num_layers, seed=1)
    x, y = rng.integers(0, 4, (2, 3)), rng.integers(0, 4, (2, 3))
    mask = np.array([[True, True, True], [True, True, False]])
    assert_gradients(model, x, y, mask, _state(model, 2, rng))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_classifier_gradients(cell, num_layers, bidirectional):
    rng = np.random.default_rng(1)
    model = SentenceClassifier(4, 3, 2, 3, cell=cell, num_layers=num_layers, bidirectional=bidirectional, seed=1)
    x = rng.integers(0, 4, (3, 3))
    assert_gradients(model, x, np.array([0, 2, 1]), np.array([3, 1, 2]))


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_seq2seq_gradients(cell, num_layers):
    # Fixed seeds (as everywhere here) whose entries all stand clear of the noise above.
    rng = np.random.default_rng(4)
    model = Seq2Seq(4, 4, 3, 2, cell=cell, num_layers=num_layers, seed=4)
    src = rng.integers(0, 4, (2, 3))
    tgt = rng.integers(0, 4, (2, 3))
    lengths = np.array([3, 2])
    assert_gradients(model, src, lengths, shift_right(tgt, 1), tgt, np.arange(3) < lengths[:, None])


# --------------------------------------------------------------------------- overfitting


def _train(model, args, steps, lr):
    opt = Adam(lr)
    for _ in range(steps):
        loss, grads = model.loss(*args)
        opt.step(model.params, grads)
    return model.loss(*args)[0]


@pytest.mark.parametrize("cell", CELLS)
def test_language_model_overfits_four_sequences(cell):
    rng = np.random.default_rng(0)
    seqs = rng.integers(0, 6, (4, 9))
    seqs[:, 0] = [0, 1, 2, 3]  # distinct first tokens: every next token is determined
    model = RNNLM(6, 8, 16, cell=cell, num_layers=2, seed=0)
    start = model.loss(seqs[:, :-1], seqs[:, 1:])[0]
    final = _train(model, (seqs[:, :-1], seqs[:, 1:]), 150, 3e-2)
    # Summed over 8 steps: chance is 8 log 6 = 14.3
    assert start > 10 and final < 0.1, (start, final)


@pytest.mark.parametrize("cell, bidirectional", [("rnn", False), ("lstm", True), ("gru", True)])
def test_classifier_overfits_eight_sentences(cell, bidirectional):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, (8, 5))
    lengths = np.array([5, 2, 3, 4, 5, 3, 2, 4])
    y = np.array([0, 1, 2, 0, 1, 2, 1, 0])
    model = SentenceClassifier(6, 8, 16, 3, cell=cell, bidirectional=bidirectional, seed=0)
    final = _train(model, (x, y, lengths), 150, 3e-2)
    assert final < 0.05, final
    np.testing.assert_array_equal(model.predict(x, lengths), y)


def _reverse_task():
    """Reverse a sequence of 3..7; 0 is padding, 1 <bos>, 2 <eos>."""
    rng = np.random.default_rng(0)
    lengths = np.array([2, 3, 4, 3, 2, 4])
    src = np.zeros((6, 4), dtype=np.int64)
    tgt = np.zeros((6, 5), dtype=np.int64)
    for n, ell in enumerate(lengths):
        src[n, :ell] = rng.integers(3, 8, ell)
        tgt[n, :ell] = src[n, :ell][::-1]
        tgt[n, ell] = 2
    return src, lengths, tgt, np.arange(5) < (lengths + 1)[:, None]


@pytest.mark.parametrize("cell", CELLS)
def test_seq2seq_overfits_reversal_and_greedy_decoding_reproduces_it(cell):
    src, src_lengths, tgt, tgt_mask = _reverse_task()
    model = Seq2Seq(8, 8, 8, 32, cell=cell, bos=1, eos=2, seed=0)
    final = _train(model, (src, src_lengths, shift_right(tgt, 1), tgt, tgt_mask), 200, 2e-2)
    assert final < 0.05, final
    for n in range(len(src)):
        state = model.encode(src[n:n + 1, :src_lengths[n]])
        hyp = decode.greedy(model.step, state, model.bos, model.eos, max_len=6)
        assert hyp.tokens == tgt[n, :tgt_mask[n].sum()].tolist(), (n, hyp.tokens)


# --------------------------------------------------------------------------- behaviour


def _same_loss_and_grads(a, b):
    assert a[0] == pytest.approx(b[0], rel=1e-12)
    for k in a[1]:
        np.testing.assert_allclose(a[1][k], b[1][k], rtol=1e-10, atol=1e-14, err_msg=k)


@pytest.mark.parametrize("cell", CELLS)
def test_classifier_ignores_padding(cell):
    rng = np.random.default_rng(2)
    model = SentenceClassifier(5, 3, 4, 2, cell=cell, num_layers=2, bidirectional=True, seed=0)
    x = rng.integers(0, 5, (3, 4))
    lengths = np.array([4, 2, 3])
    mask = np.arange(4) < lengths[:, None]
    y = np.array([1, 0, 1])
    # Other ids under the padding, and three more padded steps: nothing may change, in
    # particular not the backward direction, which must start at the last real token.
    x2 = np.concatenate([np.where(mask, x, rng.integers(0, 5, x.shape)), rng.integers(0, 5, (3, 3))], axis=1)
    _same_loss_and_grads(model.loss(x, y, lengths), model.loss(x2, y, lengths))
    # The same sentence alone, unpadded, gets the same score as inside the batch.
    np.testing.assert_allclose(model.scores(x[1:2, :2]), model.scores(x2, lengths)[1:2], rtol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_seq2seq_ignores_source_padding(cell):
    rng = np.random.default_rng(3)
    model = Seq2Seq(5, 5, 3, 4, cell=cell, num_layers=2, seed=0)
    src = rng.integers(0, 5, (3, 4))
    src_lengths = np.array([2, 4, 3])
    src_mask = np.arange(4) < src_lengths[:, None]
    tgt = rng.integers(0, 5, (3, 3))
    tgt_mask = np.ones((3, 3), dtype=bool)
    src2 = np.concatenate([np.where(src_mask, src, 4), np.full((3, 2), 3)], axis=1)
    _same_loss_and_grads(model.loss(src, src_lengths, shift_right(tgt, 1), tgt, tgt_mask),
                         model.loss(src2, src_lengths, shift_right(tgt, 1), tgt, tgt_mask))


def _nll_by_steps(step, state, inputs, targets, mask):
    """-sum log p(target) over unmasked steps, feeding inputs one step at a time, / N."""
    total = 0.0
    for t in range(inputs.shape[1]):
        log_probs, state = step(inputs[:, t], state)
        total -= log_probs[np.arange(len(targets)), targets[:, t]][mask[:, t]].sum()
    return total / inputs.shape[0], state


@pytest.mark.parametrize("cell", CELLS)
def test_language_model_step_and_state_agree_with_loss(cell):
    rng = np.random.default_rng(4)
    model = RNNLM(6, 3, 4, cell=cell, num_layers=2, seed=0)
    x, y = rng.integers(0, 6, (2, 5)), rng.integers(0, 6, (2, 5))
    mask = rng.random((2, 5)) > 0.3
    h0 = _state(model, 2, rng)
    loss, _, state = model.loss(x, y, mask, h0=h0, return_state=True)
    nll, state_steps = _nll_by_steps(model.step, h0, x, y, mask)
    assert loss == pytest.approx(nll, rel=1e-12)
    for a, b in zip(*(s if isinstance(s, tuple) else (s,) for s in (state, state_steps))):
        assert a.shape == (2, 2, 4)  # batch-first (N, L, H)
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_seq2seq_step_from_encode_agrees_with_teacher_forced_loss(cell):
    rng = np.random.default_rng(5)
    model = Seq2Seq(5, 6, 3, 4, cell=cell, num_layers=2, seed=0)
    src = rng.integers(0, 5, (3, 4))
    src_lengths = np.array([4, 1, 3])
    tgt = rng.integers(0, 6, (3, 3))
    tgt_mask = np.arange(3) < np.array([3, 3, 2])[:, None]
    loss, _ = model.loss(src, src_lengths, shift_right(tgt, model.bos), tgt, tgt_mask)
    nll, _ = _nll_by_steps(model.step, model.encode(src, src_lengths), shift_right(tgt, model.bos), tgt, tgt_mask)
    assert loss == pytest.approx(nll, rel=1e-12)


def test_sampling_follows_the_tempered_distribution():
    model = RNNLM(4, 2, 3, cell="rnn", seed=0)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    model.params["W_out"][:] = 0.0  # every step predicts p, whatever the state
    model.params["b_out"][:] = np.log(p)
    n = 3000  # one long sequence: its tokens are independent draws from p
    draws = model.sample(0, n, rng=0)
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / n, p, atol=0.035)
    cold = p**2 / (p**2).sum()  # temperature 0.5 squares the probabilities
    draws = model.sample(0, n, temperature=0.5, rng=1)
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / n, cold, atol=0.035)


def test_sample_is_seqlib_decode_sample_over_the_step_function():
    """One sampler for both engines: RNNLM.sample draws exactly what seqlib.decode.sample draws."""
    model = RNNLM(7, 3, 5, cell="lstm", seed=0)
    want = decode.sample(model.step, model.initial_state(1), bos=2, eos=None, max_len=12, temperature=0.7, rng=3)
    assert len(want.tokens) == 12 and not want.finished, "eos=None: exactly max_len tokens"
    np.testing.assert_array_equal(model.sample(2, 12, temperature=0.7, rng=3), want.tokens)
    # N start tokens: one decode.sample each, in order, sharing one generator
    rng = np.random.default_rng(5)
    rows = [decode.sample(model.step, model.initial_state(1), bos=b, eos=None, max_len=4, rng=rng).tokens
            for b in (0, 1, 2)]
    np.testing.assert_array_equal(model.sample(np.array([0, 1, 2]), 4, rng=5), rows)


def test_sample_shapes_reproducibility_and_greedy_limit():
    model = RNNLM(7, 3, 5, cell="lstm", seed=0)
    a = model.sample(2, 12, rng=3)
    assert a.shape == (12,) and a.dtype.kind == "i" and a.min() >= 0 and a.max() < 7
    np.testing.assert_array_equal(a, model.sample(2, 12, rng=3))
    assert not np.array_equal(a, model.sample(2, 12, rng=4)), "another seed, another sample"
    assert model.sample(np.array([0, 1, 2]), 4, rng=0).shape == (3, 4)
    assert model.sample(2, 0, rng=0).shape == (0,)
    h0 = tuple(np.random.default_rng(1).normal(size=(1, 1, 5)) * 3 for _ in range(2))
    assert not np.allclose(model.step(np.array([2]), h0)[0], model.step(np.array([2]), None)[0])
    from_h0 = decode.sample(model.step, h0, bos=2, eos=None, max_len=12, rng=3).tokens
    np.testing.assert_array_equal(model.sample(2, 12, rng=3, h0=h0), from_h0)  # h0 is where sampling starts
    # A tiny temperature is greedy decoding.
    greedy = decode.greedy(model.step, model.initial_state(1), bos=2, eos=6, max_len=12)  # may stop at 6
    cold = model.sample(2, len(greedy.tokens), temperature=1e-3, rng=0)
    assert cold.tolist() == greedy.tokens


def test_params_are_read_at_every_call():
    model = RNNLM(5, 3, 4, seed=0)
    x = np.zeros((1, 3), dtype=np.int64)
    before = model.loss(x, x)[0]
    model.params["b_out"][0] += 5.0  # in place, as the optimizers do
    assert model.loss(x, x)[0] != before


# --------------------------------------------------------------------------- bad input


def test_language_model_rejects_bad_input():
    model = RNNLM(5, 3, 4, num_layers=2, cell="lstm")
    x = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"x has dtype float64, expected an integer array"):
        model.loss(x.astype(float), x)
    with pytest.raises(ValueError, match=r"y has shape \(2, 4\), expected \(N, T\) = \(2, 3\)"):
        model.loss(x, np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"mask has shape \(3, 3\), expected \(N, T\) = \(2, 3\)"):
        model.loss(x, x, np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"x has a value 5 outside \[0, V\)"):
        model.loss(x + 5, x)
    with pytest.raises(ValueError, match=r"x has shape \(2, 0\)"):
        model.loss(x[:, :0], x[:, :0])
    with pytest.raises(ValueError, match=r"h0 must be a pair \(h, c\)"):
        model.loss(x, x, h0=np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match=r"h0\[1\] has shape \(2, 1, 4\), expected \(N, L, H\) = \(2, 2, 4\)"):
        model.loss(x, x, h0=(np.zeros((2, 2, 4)), np.zeros((2, 1, 4))))
    with pytest.raises(ValueError, match=r"h0\[0\] contains NaN"):
        model.loss(x, x, h0=(np.full((2, 2, 4), np.nan), np.zeros((2, 2, 4))))
    with pytest.raises(ValueError, match=r"tokens has a value 5 outside \[0, V\) = \[0, 5\)"):
        model.step(np.array([0, 5]), model.initial_state(2))
    with pytest.raises(ValueError, match=r"temperature is 0.0"):
        model.sample(0, 3, temperature=0)
    with pytest.raises(ValueError, match=r"cell is 'lstmm'"):
        RNNLM(5, 3, 4, cell="lstmm")
    with pytest.raises(ValueError, match=r"num_layers is 0"):
        RNNLM(5, 3, 4, num_layers=0)


def test_classifier_and_seq2seq_reject_bad_input():
    clf = SentenceClassifier(5, 3, 4, 2)
    x = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"y has shape \(3,\), expected \(N,\) = \(2,\)"):
        clf.loss(x, np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T\] = \[1, 3\], got values from 1 to 4"):
        clf.loss(x, np.zeros(2, dtype=np.int64), np.array([1, 4]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T\] = \[1, 3\], got values from 0 to 2"):
        clf.loss(x, np.zeros(2, dtype=np.int64), np.array([0, 2]))
    with pytest.raises(ValueError, match=r"lengths has dtype float64, expected an integer array"):
        clf.loss(x, np.zeros(2, dtype=np.int64), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"y has a value 2 outside \[0, V\) = \[0, 2\)"):
        clf.loss(x, np.array([0, 2]))
    s2s = Seq2Seq(5, 6, 3, 4, cell="rnn")
    ok = np.ones((2, 3), dtype=bool)
    with pytest.raises(ValueError, match=r"src_lengths has shape \(3,\), expected \(N,\) = \(2,\)"):
        s2s.loss(x, np.array([3, 3, 3]), x, x, ok)
    with pytest.raises(ValueError, match=r"src_lengths must lie in \[1, T\] = \[1, 3\], got values from 3 to 4"):
        s2s.encode(x, [3, 4])
    with pytest.raises(ValueError, match=r"tgt_mask has dtype int64, expected a boolean array"):
        s2s.loss(x, None, x, x, ok.astype(np.int64))
    with pytest.raises(ValueError, match=r"tgt_in has shape \(3, 3\), expected \(N, T\) = \(2, 3\)"):
        s2s.loss(x, None, np.zeros((3, 3), dtype=np.int64), x, ok)
    with pytest.raises(ValueError, match=r"state has shape \(1, 4\), expected 3 dimensions \(N, L, H\)"):
        s2s.step(np.zeros(1, dtype=np.int64), np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"bos is 6, expected an id in \[0, tgt_vocab_size\)"):
        Seq2Seq(5, 6, 3, 4, bos=6)


def test_rnnlm_step_starts_from_zeros_when_state_is_none():
    """None means the zero state, as in seqlib.torch's RNNLM.step."""
    model = RNNLM(5, 3, 4, num_layers=2, cell="lstm", seed=0)
    tokens = np.array([1, 3])
    a, state_a = model.step(tokens, None)
    b, state_b = model.step(tokens, model.initial_state(2))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(state_a[0], state_b[0])
    assert state_a[0].shape == (2, 2, 4)
