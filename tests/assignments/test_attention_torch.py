"""attention_torch through the trusted grader: each classic mistake loses exactly the tests that
catch it, and so exactly their points; honest habits (a display() while debugging, a %%time)
cost nothing; a solution that uses torch's own attention is not run. (The reference solution's
full marks and the release's zero: tests/assignments/test_every_assignment.py.)"""

from __future__ import annotations

import pytest

from assignment_helpers import failing, solution_sources

pytestmark = pytest.mark.slow

NAME = "attention_torch"
MAX_SCORE = 17.0
REF = solution_sources(NAME)


def _with(grade_id: str, old: str, new: str) -> str:
    """The reference solution of grade_id with one passage replaced (which must be there)."""
    assert old in REF[grade_id], f"{old!r} is not in the reference solution of {grade_id}"
    return REF[grade_id].replace(old, new)


def _graded(grade, **changed):
    """The trusted grader's result for the reference solution with some cells replaced."""
    sources = {gid: "solution" for gid in REF}
    sources.update(changed)
    return grade(NAME, sources)


MASK = "weights = torch.softmax(scores.masked_fill(~real[:, None, :], float(\"-inf\")), dim=-1)"
SOFTMAX_TESTS = {"test_masked_softmax_by_hand", "test_masked_softmax_reference"}
# The visible decoder test, the comparisons with seqlib's step and with its teacher-forced pass.
DECODER_TESTS = {"test_decoder_step_by_hand", "test_decoder_step_reference", "test_decoder_teacher_forcing"}

# Classic mistakes: (graded cell, its source, the tests that must catch it (and only those),
# the score that leaves out of 17). The decoder calls the student's own functions, so a mistake
# in masked_softmax also costs the decoder's comparisons; gradcheck checks autograd against the
# student's own forward, so it passes a wrong but differentiable forward.
CLASSIC_BUGS = {
    "the softmax over the query steps (dim=1), not the source steps": (
        "masked_softmax", _with("masked_softmax", "float(\"-inf\")), dim=-1)", "float(\"-inf\")), dim=1)"),
        # one query step a decoder step: the weights are 1 at every real step and 0/0 at the padding
        SOFTMAX_TESTS | DECODER_TESTS | {"test_decoder_step_gradcheck"}, 7.0),
    "the padding not masked": (
        "masked_softmax", "def masked_softmax(scores, src_lengths):\n    return torch.softmax(scores, dim=-1)",
        SOFTMAX_TESTS | DECODER_TESTS, 8.0),
    "the mask applied after the softmax (the padding's weights set to 0, its share kept)": (
        "masked_softmax", _with("masked_softmax", MASK, "weights = torch.softmax(scores, dim=-1) * real[:, None, :]"),
        SOFTMAX_TESTS | DECODER_TESTS, 8.0),
    "the padding given a score of 0 instead of -inf": (
        "masked_softmax", _with("masked_softmax", "float(\"-inf\")", "0.0"),
        SOFTMAX_TESTS | DECODER_TESTS, 8.0),
    "the context left out of the output layer (logits from h_t alone)": (
        "AttentionDecoder", _with("AttentionDecoder", "self.out(h_tilde[:, 0])", "self.out(out[:, 0])"),
        # the weights and the new state are right: only the predictions are wrong
        DECODER_TESTS, 11.0),
    "the attentional vector fed back as the recurrent state": (
        "AttentionDecoder", _with("AttentionDecoder", "return log_probs, (h[0], c[0]), weights[:, 0]",
                                  "return log_probs, (h_tilde[:, 0], c[0]), weights[:, 0]"),
        DECODER_TESTS, 11.0),
    "additive attention without its tanh": (
        "additive_scores", _with("additive_scores", "u = torch.tanh(qW[:, :, None, :] + kW[:, None, :, :])",
                                 "u = qW[:, :, None, :] + kW[:, None, :, :]"),
        # the visible decoder test uses the dot score
        {"test_scores_by_hand", "test_additive_scores_reference", "test_decoder_step_reference",
         "test_decoder_teacher_forcing"}, 9.0),
}


@pytest.mark.parametrize("bug", list(CLASSIC_BUGS))
def test_hidden_tests_catch_a_classic_mistake(grade, bug):
    grade_id, source, must_fail, score = CLASSIC_BUGS[bug]
    result = _graded(grade, **{grade_id: source})
    assert failing(result) == must_fail, f"{bug}: failing {sorted(failing(result))}, expected {sorted(must_fail)}"
    assert (result.score, result.max_score) == (score, MAX_SCORE), f"{bug}: {result.score} of {result.max_score}"


HONEST = {
    "a display() left in while debugging": {
        "masked_softmax": _with("masked_softmax", "    S = scores.shape[-1]\n",
                                "    display(scores.shape, src_lengths)\n    S = scores.shape[-1]\n")},
    "a %%time on a cell": {"context": "%%time\n" + REF["context"]},
    "a print in the decoder's forward": {
        "AttentionDecoder": _with("AttentionDecoder", "        h, c = state\n",
                                  "        h, c = state\n        print('step', tokens.shape, keys.shape)\n")},
}


@pytest.mark.parametrize("habit", list(HONEST))
def test_honest_habits_cost_nothing(grade, habit):
    result = _graded(grade, **HONEST[habit])
    assert (result.score, result.max_score) == (MAX_SCORE, MAX_SCORE), [t for t in result.tests if t.status != "passed"]
    assert all(v == "ok" for v in result.functions.values()), result.functions
    assert result.refused == [] and result.problem == ""


def test_a_decoder_that_uses_torchs_attention_is_not_run(grade):
    sdpa = _with("AttentionDecoder",
                 "h_tilde = torch.tanh(self.combine(torch.cat([out, context(weights, keys)], dim=-1)))",
                 "c_t = F.scaled_dot_product_attention(out, keys, keys, scale=1.0)\n"
                 "        h_tilde = torch.tanh(self.combine(torch.cat([out, c_t], dim=-1)))")
    result = _graded(grade, AttentionDecoder=sdpa)
    assert result.functions["AttentionDecoder"].startswith("not run: it uses scaled_dot_product_attention")
    # the functions of sections 1-3 keep their points; every test of the decoder fails
    assert failing(result) == DECODER_TESTS | {"test_decoder_step_gradcheck"}
    assert result.score == 10.0
    by_hand = next(t for t in result.tests if t.grade_id == "test_decoder_step_by_hand")
    assert "AttentionDecoder is not defined: its solution cell was not run: it uses " in by_hand.message, by_hand
