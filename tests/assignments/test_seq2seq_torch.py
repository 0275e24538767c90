"""seq2seq_torch through the trusted grader: the reference solution earns every point, the
release none, and each classic mistake loses exactly the tests that catch it."""

from __future__ import annotations

import pytest

from assignment_helpers import assert_mistake_caught, solution_sources

pytestmark = pytest.mark.slow

NAME = "seq2seq_torch"
TRAINING = "test_translator_exact_match"


def _with(source: str, old: str, new: str) -> str:
    """The reference solution's source with one passage replaced (which must be there)."""
    assert old in source, f"{old!r} is not in the reference solution"
    return source.replace(old, new)


REF = solution_sources(NAME)

# Classic mistakes: (graded cell, its source, the tests that must catch it, and only those).
CLASSIC_BUGS = {
    "teacher forcing fed the targets unshifted": (
        "shift_right", "def shift_right(y, bos):\n    return y.clone()",
        # the model learns to copy the word it is shown: its loss falls, its translations fail
        {"test_shift_right_by_hand", "test_shift_right_reference", TRAINING}, 22),
    "the encoder reads the padding (src_lengths ignored)": (
        "Seq2Seq", _with(REF["Seq2Seq"], "        if src_lengths is not None:\n", "        if False:\n"),
        {"test_seq2seq_teacher_forcing", "test_seq2seq_encode_reference", "test_seq2seq_forward_reference"}, 20),
    "the encoder's state detached before the decoder": (
        "Seq2Seq", _with(REF["Seq2Seq"], "        h, c = self.encode(src, src_lengths)\n",
                         "        h, c = (s.detach() for s in self.encode(src, src_lengths))\n"),
        # the logits are right; only the gradients (and so training) are wrong
        {"test_seq2seq_forward_reference", TRAINING}, 21),
    "step returns the logits, not log-probabilities": (
        "Seq2Seq", _with(REF["Seq2Seq"], "log_probs = torch.log_softmax(self.out(out[:, 0]), dim=-1)",
                         "log_probs = self.out(out[:, 0])"),
        {"test_seq2seq_teacher_forcing", "test_seq2seq_step_reference"}, 24),
    "forward returns log-probabilities, not the scores": (
        "Seq2Seq", _with(REF["Seq2Seq"], "        return self.out(out)",
                         "        return torch.log_softmax(self.out(out), dim=-1)"),
        # log_softmax of log-probabilities is themselves, and the loss is the same: only the visible
        # test's comparison with out.weight h_t + out.bias, and the reference, tell
        {"test_seq2seq_teacher_forcing", "test_seq2seq_forward_reference"}, 22),
    "step fails on the NumPy tokens that the decoders pass": (
        "Seq2Seq", _with(REF["Seq2Seq"], "        tokens = torch.as_tensor(tokens, device=self.tgt_embed.weight.device)\n", ""),
        {"test_seq2seq_teacher_forcing", "test_seq2seq_step_reference"}, 24),
    "the loss averaged over every position, padding included": (
        "temporal_softmax_loss",
        "def temporal_softmax_loss(x, y, mask):\n"
        "    return F.cross_entropy(x.reshape(-1, x.shape[-1]), y.reshape(-1))",
        {"test_temporal_softmax_loss_by_hand", "test_temporal_softmax_loss_reference"}, 24),
    "the loss divided by the number of real tokens, not of sentences": (
        "temporal_softmax_loss", _with(REF["temporal_softmax_loss"], "/ x.shape[0]", "/ mask.sum()"),
        {"test_temporal_softmax_loss_by_hand", "test_temporal_softmax_loss_reference"}, 24),
    "the log of a softmax: scores in the hundreds overflow": (
        "temporal_softmax_loss", _with(REF["temporal_softmax_loss"], "torch.log_softmax(x, dim=-1)",
                                       "torch.log(torch.softmax(x, dim=-1))"),
        {"test_temporal_softmax_loss_by_hand", "test_temporal_softmax_loss_reference"}, 24),
    "greedy goes on after eos": (
        "greedy", _with(REF["greedy"], "        if last == eos:\n            return Hypothesis(tokens, score, True)\n",
                        ""),
        {"test_greedy_by_hand", "test_greedy_reference"}, 24),
    "beam search keeps extending finished hypotheses": (
        "beam_search", _with(REF["beam_search"], "            if words[j] == eos:\n", "            if False:\n"),
        {"test_beam_search_by_hand", "test_beam_search_reference", "test_beam_search_exhaustive"}, 20),
    "beam search ranks by the new token's log-probability alone (scores not accumulated)": (
        "beam_search", _with(REF["beam_search"], "(scores[:, None] + log_probs).reshape(-1)", "log_probs.reshape(-1)"),
        {"test_beam_search_by_hand", "test_beam_search_reference", "test_beam_search_exhaustive"}, 20),
    "beam search multiplies probabilities instead of adding log-probabilities": (
        "beam_search", _with(_with(REF["beam_search"], "live, scores = [[]], np.zeros(1)", "live, scores = [[]], np.ones(1)"),
                             "(scores[:, None] + log_probs)", "(scores[:, None] * np.exp(log_probs))"),
        {"test_beam_search_by_hand", "test_beam_search_reference", "test_beam_search_exhaustive"}, 20),
    "beam search does not reorder the state": (
        "beam_search", _with(REF["beam_search"], "        state = reorder_state(state, parents[keep])\n", ""),
        {"test_beam_search_by_hand", "test_beam_search_reference", "test_beam_search_exhaustive"}, 20),
}


CLASSIC_BUGS["the length penalty ignored: results ranked by the plain score"] = (
    "beam_search", _with(REF["beam_search"], "        return h.score / ((5 + len(h.tokens)) / 6) ** length_penalty\n",
                         "        return h.score\n"),
    # the visible test's length_penalty = 4 on the table; the exhaustive oracle's penalties happen to
    # leave its rankings as they are
    {"test_beam_search_by_hand", "test_beam_search_reference"}, 22)


@pytest.mark.parametrize("bug", list(CLASSIC_BUGS))
def test_hidden_tests_catch_a_classic_mistake(grade, bug):
    grade_id, source, must_fail, score = CLASSIC_BUGS[bug]
    assert_mistake_caught(grade, NAME, bug, grade_id, source, must_fail, training=TRAINING, score=score)
