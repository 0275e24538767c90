"""seqlib.decode against brute force: exhaustive search, greedy, and sampling statistics."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from seqlib.decode import (Hypothesis, beam_search, gnmt_length_penalty, greedy, reorder_state, sample,
                           softmax_with_temperature)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class TinyRNN:
    """A random tanh RNN: its next-token distribution depends on the whole history."""

    def __init__(self, V: int, H: int, seed: int, sharpness: float = 3.0):
        rng = np.random.default_rng(seed)
        self.E = rng.normal(size=(V, H))
        self.W = rng.normal(size=(H, H)) / math.sqrt(H)
        self.U = rng.normal(size=(H, V)) * sharpness / math.sqrt(H)
        self.H = H
        self.calls = 0

    def init_state(self):
        return np.zeros((1, self.H))

    def __call__(self, tokens, state):
        self.calls += 1
        assert tokens.shape == (state.shape[0],), "step got tokens and state of different B"
        h = np.tanh(state @ self.W + self.E[tokens])
        return log_softmax(h @ self.U), h


def exhaustive(step, state, bos, eos, max_len):
    """Every sequence the decoder can return, with its score, by brute force."""
    V = step(np.array([bos]), state)[0].shape[1]
    out = []
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(V), repeat=n):
            if eos in seq[:-1]:
                continue  # nothing follows eos
            if seq[-1] != eos and n < max_len:
                continue  # unfinished sequences only count at max_len
            s, last, score = state, bos, 0.0
            for w in seq:
                lp, s = step(np.array([last]), s)
                score += lp[0, w]
                last = w
            out.append(Hypothesis(list(seq), score, seq[-1] == eos))
    return out


CASES = [  # V, max_len, eos, seed
    (3, 4, 0, 0),
    (4, 3, 2, 1),
    (4, 4, 3, 2),
    (5, 3, 1, 3),
    (2, 6, 1, 4),
]


@pytest.mark.parametrize("V,max_len,eos,seed", CASES)
@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_beam_equals_exhaustive_search_when_nothing_is_pruned(V, max_len, eos, seed, alpha):
    rnn = TinyRNN(V, 5, seed)
    bos = V - 1 if eos != V - 1 else 0
    every = exhaustive(rnn, rnn.init_state(), bos, eos, max_len)
    every.sort(key=lambda h: h.score / gnmt_length_penalty(len(h.tokens), alpha), reverse=True)
    got = beam_search(rnn, rnn.init_state(), bos, eos, beam_size=V**max_len, max_len=max_len, length_penalty=alpha)
    assert len(got) == len(every), f"beam found {len(got)} sequences, brute force {len(every)}"
    for rank, (g, e) in enumerate(zip(got, every)):
        assert g.tokens == e.tokens, f"rank {rank}: beam {g.tokens}, exhaustive {e.tokens}"
        assert g.score == pytest.approx(e.score, abs=1e-10)
        assert g.finished == e.finished


@pytest.mark.parametrize("V,max_len,eos,seed", CASES)
@pytest.mark.parametrize("beam", [2, 3])
def test_small_beam_returns_true_scores_sorted_and_never_beats_the_optimum(V, max_len, eos, seed, beam):
    rnn = TinyRNN(V, 5, seed)
    every = exhaustive(rnn, rnn.init_state(), 0 if eos else 1, eos, max_len)
    truth = {tuple(h.tokens): h.score for h in every}
    got = beam_search(rnn, rnn.init_state(), 0 if eos else 1, eos, beam, max_len)
    assert 1 <= len(got) <= beam
    scores = [h.score for h in got]
    assert scores == sorted(scores, reverse=True)
    for h in got:
        assert tuple(h.tokens) in truth, f"{h.tokens} is not a possible output"
        assert h.score == pytest.approx(truth[tuple(h.tokens)], abs=1e-10)
    assert got[0].score <= max(truth.values()) + 1e-12


@pytest.mark.parametrize("seed", range(6))
def test_beam_size_one_is_greedy(seed):
    V = 6
    rnn = TinyRNN(V, 8, seed, sharpness=1.0)
    g = greedy(rnn, rnn.init_state(), bos=0, eos=1, max_len=12)
    b = beam_search(rnn, rnn.init_state(), bos=0, eos=1, beam_size=1, max_len=12)
    assert len(b) == 1
    assert b[0].tokens == g.tokens and b[0].score == pytest.approx(g.score, abs=1e-12)
    assert b[0].finished == g.finished


def test_greedy_follows_argmax_and_stops_at_eos():
    # position-dependent table: the state counts steps
    table = np.log(np.array([[0.1, 0.2, 0.7], [0.1, 0.6, 0.3], [0.8, 0.1, 0.1]]))

    def step(tokens, state):
        return table[state[:, 0] % 3], state + 1

    h = greedy(step, np.zeros((1, 1), dtype=int), bos=1, eos=0, max_len=10)
    assert h.tokens == [2, 1, 0] and h.finished
    assert h.score == pytest.approx(np.log(0.7 * 0.6 * 0.8))
    h = greedy(step, np.zeros((1, 1), dtype=int), bos=1, eos=0, max_len=2)
    assert h.tokens == [2, 1] and not h.finished


def test_eos_is_included_and_bos_excluded_and_nothing_follows_eos():
    rnn = TinyRNN(4, 4, 7)
    for h in beam_search(rnn, rnn.init_state(), bos=3, eos=2, beam_size=8, max_len=5):
        if h.finished:
            assert h.tokens[-1] == 2 and 2 not in h.tokens[:-1]
        else:
            assert len(h.tokens) == 5 and 2 not in h.tokens
    # a model that always says eos
    always_eos = lambda tok, s: (np.log(np.tile([0.9, 0.05, 0.05], (len(tok), 1))), s)  # noqa: E731
    assert greedy(always_eos, np.zeros((1, 1)), bos=1, eos=0, max_len=5).tokens == [0]
    hyps = beam_search(always_eos, np.zeros((1, 1)), bos=1, eos=0, beam_size=3, max_len=5)
    assert hyps[0].tokens == [0] and hyps[0].finished
    for seed in range(20):
        h = sample(always_eos, np.zeros((1, 1)), 1, 0, 5, rng=seed)
        assert (h.finished and h.tokens[-1] == 0 and 0 not in h.tokens[:-1]) or (
            not h.finished and len(h.tokens) == 5 and 0 not in h.tokens
        ), h


def test_length_penalty_prefers_longer_outputs():
    # eos now (p=0.4) versus two more tokens with p=0.6 each then eos for sure: 0.36 < 0.4
    def step(tokens, state):
        t = state[:, 0]
        lp = np.full((len(tokens), 3), -np.inf)
        lp[t == 0] = np.log([0.4, 0.6, 1e-300])
        lp[t == 1] = np.log([1e-300, 0.6, 0.4])
        lp[t >= 2] = np.log([1.0, 1e-300, 1e-300])
        return lp, state + 1

    s0 = np.zeros((1, 1), dtype=int)
    plain = beam_search(step, s0, bos=2, eos=0, beam_size=4, max_len=4)
    assert plain[0].tokens == [0]
    long = beam_search(step, s0, bos=2, eos=0, beam_size=4, max_len=4, length_penalty=2.0)
    assert long[0].tokens == [1, 1, 0]
    assert long[0].score == pytest.approx(np.log(0.36))


def plain_beam(step, state, bos, eos, beam, max_len, alpha):
    """Textbook beam search that always runs max_len steps (no early stop), one state per hypothesis."""
    live = [([], 0.0, state, bos)]
    done = []
    for t in range(max_len):
        cands = []
        for toks, score, s, last in live:
            lp, s2 = step(np.array([last]), s)
            cands += [(toks + [w], score + lp[0, w], s2, w) for w in range(lp.shape[1])]
        cands.sort(key=lambda c: -c[1])
        live = []
        for c in cands[:beam]:
            (done if c[3] == eos else live).append(c)
        if t == max_len - 1:
            done += live
    done.sort(key=lambda c: -c[1] / gnmt_length_penalty(len(c[0]), alpha))
    return [(c[0], c[1]) for c in done[:beam]]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_early_stop_never_changes_the_result(seed, alpha):
    rnn = TinyRNN(5, 6, 100 + seed, sharpness=2.0)
    want = plain_beam(rnn, rnn.init_state(), 0, 1, 3, 8, alpha)
    got = beam_search(rnn, rnn.init_state(), 0, 1, beam_size=3, max_len=8, length_penalty=alpha)
    assert [h.tokens for h in got] == [w[0] for w in want]
    np.testing.assert_allclose([h.score for h in got], [w[1] for w in want], atol=1e-10)


def test_early_stop_compares_with_the_kth_finished_not_the_best():
    # token 0 is eos. After two steps the finished ones score log .3 and log .245 while the
    # live [1, 1] (log .28) sits between them: it must go on, and [1, 1, eos] (log .266)
    # takes second place.
    table = {
        (): [0.3, 0.7, 0.0],
        (1,): [0.35, 0.4, 0.25],
        (1, 1): [0.95, 0.05, 0.0],
    }

    def step(tokens, state):
        # state rows: every token fed so far (bos first), padded with -1
        full = [[int(v) for v in r if v >= 0] + [int(t)] for r, t in zip(state, tokens)]
        lp = np.log(np.array([table.get(tuple(f[1:]), [1.0, 0.0, 0.0]) for f in full]) + 1e-300)
        grown = np.full((len(full), state.shape[1] + 1), -1)
        for i, f in enumerate(full):
            grown[i, : len(f)] = f
        return lp, grown

    s0 = np.full((1, 0), -1)
    for alpha in (0.0, 0.5):
        got = beam_search(step, s0, bos=2, eos=0, beam_size=2, max_len=6, length_penalty=alpha)
        want = plain_beam(step, s0, 2, 0, 2, 6, alpha)
        assert [h.tokens for h in got] == [w[0] for w in want]
    got = beam_search(step, s0, bos=2, eos=0, beam_size=2, max_len=6)
    assert [h.tokens for h in got] == [[0], [1, 1, 0]]
    np.testing.assert_allclose([h.score for h in got], np.log([0.3, 0.7 * 0.4 * 0.95]))


def test_beam_search_stops_early_when_nothing_can_overtake():
    rnn = TinyRNN(4, 4, 11)
    calls_before = rnn.calls
    beam_search(rnn, rnn.init_state(), bos=0, eos=1, beam_size=2, max_len=50)
    # a peaked random RNN says eos within a few steps; without the stop it would run 50
    assert rnn.calls - calls_before < 50


# --------------------------------------------------------------------------- sampling


CHI2_CRIT_DF5_P001 = 20.515  # chi-square critical value, 5 degrees of freedom, p = 0.001


def chi_square(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = counts.sum() * probs
    mask = expected > 0
    assert counts[~mask].sum() == 0, "a token of probability 0 was sampled"
    return float(((counts[mask] - expected[mask]) ** 2 / expected[mask]).sum())


def stationary(logits):
    """A step function whose next-token distribution never changes."""
    lp = log_softmax(np.asarray(logits, dtype=float))
    return lambda tok, s: (np.tile(lp, (len(tok), 1)), s)


@pytest.mark.parametrize("T", [0.5, 1.0, 2.0])
def test_sampling_frequencies_match_softmax_over_temperature(T):
    logits = np.array([1.0, -0.5, 0.3, 2.0, 0.0, -1.0, -np.inf])  # token 6 is eos, never drawn
    n = 20000
    h = sample(stationary(logits), None, bos=0, eos=6, max_len=n, temperature=T, rng=1234)
    assert len(h.tokens) == n and not h.finished
    counts = np.bincount(h.tokens, minlength=7)[:6]
    p = np.exp(log_softmax(logits[:6] / T))
    stat = chi_square(counts, p)
    assert stat < CHI2_CRIT_DF5_P001, f"chi2 = {stat:.1f} at T = {T}: counts {counts}, expected {n * p}"
    # the same check against the untempered distribution must fail, or the test is blind
    if T != 1.0:
        wrong = np.exp(log_softmax(logits[:6]))
        assert chi_square(counts, wrong) > CHI2_CRIT_DF5_P001


def test_top_k_never_leaves_the_top_k_and_renormalises():
    logits = np.array([0.5, 2.0, -1.0, 1.5, 1.0, 0.0, -np.inf])  # top 3: tokens 1, 3, 4
    n = 20000
    h = sample(stationary(logits), None, bos=0, eos=6, max_len=n, top_k=3, rng=7)
    assert set(h.tokens) <= {1, 3, 4}, f"sampled outside the top 3: {sorted(set(h.tokens))}"
    counts = np.bincount(h.tokens, minlength=6)[[1, 3, 4]]
    p = np.exp(log_softmax(logits[[1, 3, 4]]))
    stat = chi_square(counts, p)
    assert stat < 13.816, f"chi2 = {stat:.1f} (critical 13.816 at df 2, p = 0.001)"


def test_top_k_equal_to_v_is_plain_sampling_and_top_1_is_greedy():
    rnn = TinyRNN(5, 6, 3, sharpness=1.0)
    a = sample(rnn, rnn.init_state(), 0, 1, 15, top_k=5, rng=42)
    b = sample(rnn, rnn.init_state(), 0, 1, 15, rng=42)
    assert a == b
    g = greedy(rnn, rnn.init_state(), 0, 1, 15)
    assert sample(rnn, rnn.init_state(), 0, 1, 15, top_k=1, rng=5).tokens == g.tokens


def test_sampling_is_reproducible_with_a_seed_or_generator():
    rnn = TinyRNN(5, 6, 3, sharpness=0.5)
    a = sample(rnn, rnn.init_state(), 0, 1, 30, rng=99)
    b = sample(rnn, rnn.init_state(), 0, 1, 30, rng=np.random.default_rng(99))
    c = sample(rnn, rnn.init_state(), 0, 1, 30, rng=100)
    assert a == b and a.tokens != c.tokens
    # the score is the model's own log-probability of the sampled tokens
    s, last, score = rnn.init_state(), 0, 0.0
    for w in a.tokens:
        lp, s = rnn(np.array([last]), s)
        score, last = score + lp[0, w], w
    assert a.score == pytest.approx(score)


def test_sampling_without_eos_draws_exactly_max_len_tokens():
    logits = np.array([0.0, 3.0, 0.0])  # token 1, an eos elsewhere, is the likeliest
    h = sample(stationary(logits), None, bos=0, eos=None, max_len=50, rng=3)
    assert len(h.tokens) == 50 and not h.finished and h.tokens.count(1) > 25
    with_eos = sample(stationary(logits), None, bos=0, eos=1, max_len=50, rng=3)
    assert with_eos.finished and with_eos.tokens[-1] == 1 and with_eos.tokens == h.tokens[:len(with_eos)]
    with pytest.raises(TypeError, match="eos must be an integer"):
        greedy(stationary(logits), None, 0, None, 5)  # only sampling may run without an end token


# --------------------------------------------------------------------------- state handling


def test_reorder_state_handles_nested_tuples_dicts_and_none():
    h = np.arange(6.0).reshape(3, 2)
    c = np.arange(3)
    out = reorder_state(((h, c), {"mem": h}, None), np.array([2, 2, 0]))
    np.testing.assert_array_equal(out[0][0], h[[2, 2, 0]])
    np.testing.assert_array_equal(out[0][1], c[[2, 2, 0]])
    np.testing.assert_array_equal(out[1]["mem"], h[[2, 2, 0]])
    assert out[2] is None
    with pytest.raises(TypeError, match="state leaves"):
        reorder_state([1.0], np.array([0]))


def test_beam_search_with_torch_tensor_state_and_log_probs():
    torch = pytest.importorskip("torch")
    rnn = TinyRNN(4, 5, 21)

    def torch_step(tokens, state):
        h, c = state  # an LSTM-like pair; c only rides along to test tuple reordering
        assert isinstance(h, torch.Tensor) and h.shape[0] == c.shape[0] == len(tokens)
        lp, h_new = rnn(tokens, h.numpy())
        return torch.from_numpy(lp).float(), (torch.from_numpy(h_new), c[:, :1].repeat(1, 2) + 1)

    s0 = (torch.zeros(1, 5, dtype=torch.float64), torch.zeros(1, 2))
    got = beam_search(torch_step, s0, bos=0, eos=3, beam_size=64, max_len=3)
    ref = beam_search(rnn, rnn.init_state(), bos=0, eos=3, beam_size=64, max_len=3)
    assert [h.tokens for h in got] == [h.tokens for h in ref]
    np.testing.assert_allclose([h.score for h in got], [h.score for h in ref], atol=1e-5)


# --------------------------------------------------------------------------- bad arguments


def test_bad_arguments_are_named():
    rnn = TinyRNN(4, 3, 0)
    s0 = rnn.init_state()
    with pytest.raises(ValueError, match="beam_size is 0"):
        beam_search(rnn, s0, 0, 1, beam_size=0, max_len=3)
    with pytest.raises(TypeError, match="beam_size must be an integer"):
        beam_search(rnn, s0, 0, 1, beam_size=2.0, max_len=3)
    with pytest.raises(ValueError, match="max_len is 0"):
        greedy(rnn, s0, 0, 1, max_len=0)
    with pytest.raises(ValueError, match="temperature is 0"):
        sample(rnn, s0, 0, 1, 3, temperature=0)
    with pytest.raises(ValueError, match="temperature is -1"):
        sample(rnn, s0, 0, 1, 3, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k is 0"):
        sample(rnn, s0, 0, 1, 3, top_k=0)
    with pytest.raises(ValueError, match="top_k is 5, expected at most V = 4"):
        sample(rnn, s0, 0, 1, 3, top_k=5)
    with pytest.raises(ValueError, match="eos is 4, expected a token id below V = 4"):
        greedy(rnn, s0, 0, 4, 3)
    with pytest.raises(ValueError, match="length_penalty is -0.5"):
        beam_search(rnn, s0, 0, 1, 2, 3, length_penalty=-0.5)
    with pytest.raises(ValueError, match="bos is -1"):
        greedy(rnn, s0, -1, 1, 3)


def test_bad_log_probs_from_step_are_reported():
    def wrong_shape(tok, s):
        return np.zeros((len(tok) + 1, 4)), s

    with pytest.raises(ValueError, match=r"log_probs returned by step has shape \(2, 4\), expected \(B, V\) = \(1, 4\)"):
        greedy(wrong_shape, None, 0, 1, 3)

    def vocab_changes(tok, s):
        s = s + 1
        return np.log(np.full((len(tok), 3 + int(s)), 1 / (3 + s))), s

    with pytest.raises(ValueError, match=r"expected \(B, V\) = \(1, 4\)"):
        greedy(vocab_changes, 0, 0, 3, 3)

    def nan(tok, s):
        return np.full((len(tok), 3), np.nan), s

    with pytest.raises(ValueError, match="NaN"):
        beam_search(nan, None, 0, 1, 2, 3)
    with pytest.raises(TypeError, match="pair"):
        greedy(lambda tok, s: np.zeros((1, 3)), None, 0, 1, 3)


# --------------------------------------------------------------------------- softmax_with_temperature


def test_softmax_with_temperature_is_the_formula_and_is_stable():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(3, 4, 7))
    for tau in (0.3, 1.0, 2.5):
        e = np.exp(scores / tau)
        np.testing.assert_allclose(softmax_with_temperature(scores, tau), e / e.sum(-1, keepdims=True), rtol=1e-12)
    huge = np.array([1000.0, 999.0, -np.inf])  # exp(1000) overflows: only the shifted form works
    np.testing.assert_allclose(softmax_with_temperature(huge, 1.0), [1 / (1 + np.exp(-1)), 1 / (1 + np.e), 0.0])
    assert softmax_with_temperature(huge, 1e-3)[0] == 1.0  # towards greedy
    flat = softmax_with_temperature(scores, 1e6)
    np.testing.assert_allclose(flat, 1 / 7, rtol=1e-5)  # towards uniform


@pytest.mark.parametrize("bad, match", [(np.array([-np.inf, -np.inf]), "all -inf"),
                                        (np.array([np.nan, 1.0]), "NaN"), (np.zeros(0), "V >= 1")])
def test_softmax_with_temperature_rejects_scores_with_no_distribution(bad, match):
    with pytest.raises(ValueError, match=match):
        softmax_with_temperature(bad, 1.0)
    with pytest.raises(ValueError, match="temperature is 0"):
        softmax_with_temperature(np.ones(3), 0)
