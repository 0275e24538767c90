"""lm_torch through the trusted grader: the reference solution earns every point, the release
none, and each classic mistake loses exactly the tests that catch it."""

from __future__ import annotations

import pytest

from assignment_helpers import assert_mistake_caught, failing, solution_sources

pytestmark = pytest.mark.slow

TRAINING = "test_rnnlm_training_beats_unigram"
NAME = "lm_torch"


def _patched(grade_id: str, changes) -> str:
    """The reference solution of grade_id with pieces of code replaced: [(old, new), ...]."""
    source = solution_sources(NAME)[grade_id]
    for old, new in changes:
        assert old in source, f"{grade_id}: {old!r} is not in the reference solution"
        source = source.replace(old, new)
    return source


def test_a_solution_that_uses_torch_lstm_is_not_run(grade):
    sources = {gid: "solution" for gid in solution_sources(NAME)}
    sources["lstm_step"] = ("def lstm_step(x, prev_h, prev_c, w_ih, w_hh, b_ih=None, b_hh=None):\n"
                            "    return torch.lstm_cell(x, (prev_h, prev_c), w_ih, w_hh, b_ih, b_hh)")
    result = grade(NAME, sources)
    assert result.functions["lstm_step"].startswith("not run: it uses torch.lstm_cell")
    assert {"test_lstm_step_by_hand", "test_lstm_step_reference", "test_lstm_step_gradcheck"} <= failing(result)


# Classic mistakes, each with the graded cells that must catch it (and only those).
CLASSIC_BUGS = {
    "the lecture's gate order i, f, o, g instead of torch.nn's i, f, g, o": (
        "lstm_step", [("a_i, a_f, a_g, a_o = a.chunk(4, dim=1)", "a_i, a_f, a_o, a_g = a.chunk(4, dim=1)")],
        # seqlib reads the trained weights in torch's order: the evaluation of the training fails too
        {"test_lstm_step_by_hand", "test_lstm_step_reference", "test_lstm_reference", "test_rnnlm_reference",
         "test_rnnlm_training_beats_unigram"}, 14),
    "tanh(c_t) computed in NumPy: the values are right, the graph is cut": (
        "lstm_step", [("next_h = o * torch.tanh(next_c)",
                       "next_h = o * torch.from_numpy(np.tanh(next_c.detach().numpy()))")],
        {"test_lstm_step_gradcheck", "test_lstm_reference", "test_rnnlm_reference"}, 18),
    "the initial state hx ignored: every sequence starts from zeros": (
        "LSTM", [("        if hx is None:\n            h = c = input.new_zeros(N, self.hidden_size)\n"
                  "        else:\n            h, c = hx[0][0], hx[1][0]\n",
                  "        h = c = input.new_zeros(N, self.hidden_size)\n")],
        {"test_lstm_shapes", "test_lstm_reference", "test_rnnlm_shapes", "test_rnnlm_reference"}, 18),
    "the model's state not passed on to the LSTM": (
        "RNNLM", [("self.rnn(self.embed.weight[tokens], state)", "self.rnn(self.embed.weight[tokens])")],
        {"test_rnnlm_shapes", "test_rnnlm_reference"}, 22),
    "h detached, the memory c still attached to the chunk before": (
        "detach_state", [("    return type(state)(detach_state(s) for s in state)",
                          "    h, c = state\n    return (h.detach(), c)")],
        # the visible test's second chunk reaches the first one's freed graph through c
        {"test_detach_state_by_hand", "test_detach_state_reference", "test_lm_train_step_by_hand",
         "test_lm_train_step_truncates", "test_rnnlm_training_beats_unigram"}, 17),
    "the state not detached, backward(retain_graph=True) to silence the error": (
        "lm_train_step", [("    loss.backward()\n", "    loss.backward(retain_graph=True)\n"),
                          ("detach_state(state)", "state")],
        # with the output layer at zero no gradient reaches the first chunk: the visible test passes
        {"test_lm_train_step_truncates", "test_rnnlm_training_beats_unigram"}, 20),
    "the state returned attached: the next chunk's backward reaches a freed graph": (
        "lm_train_step", [("return loss.item(), detach_state(state)", "return loss.item(), state")],
        {"test_lm_train_step_by_hand", "test_lm_train_step_truncates", "test_rnnlm_training_beats_unigram"}, 19),
    "optimizer.zero_grad() forgotten: each chunk's gradients added to the last ones'": (
        "lm_train_step", [("    optimizer.zero_grad()\n", "")],
        {"test_lm_train_step_by_hand", "test_lm_train_step_truncates", "test_rnnlm_training_beats_unigram"}, 19),
    "clip_grad_norm_ called before backward: it clips nothing": (
        "lm_train_step", [("    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)\n",
                           "    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)\n    loss.backward()\n")],
        {"test_lm_train_step_truncates"}, 23),
    "the temperature multiplied instead of divided": (
        "sample", [("logits = log_probs / temperature", "logits = log_probs * temperature")],
        # at temperature 0.05 the visible test expects token 0 thirty times
        {"test_sample_by_hand", "test_sample_distribution"}, 22),
    "top_k ignored": (
        "sample", [("if top_k is not None and top_k < logits.shape[0]:", "if False:")],
        {"test_sample_by_hand", "test_sample_distribution"}, 22),
    "the score summed at the temperature, log p_tau": (
        "sample", [("score += float(log_probs[last])", "score += float(torch.log_softmax(logits, dim=0)[last])")],
        {"test_sample_by_hand", "test_sample_distribution"}, 22),
    "the loss returned without the state": (
        "lm_train_step", [("return loss.item(), detach_state(state)", "return loss.item()")],
        {"test_lm_train_step_by_hand", "test_lm_train_step_truncates", "test_rnnlm_training_beats_unigram"}, 19),
}


@pytest.mark.parametrize("bug", list(CLASSIC_BUGS))
def test_hidden_tests_catch_a_classic_mistake(grade, bug):
    grade_id, changes, must_fail, score = CLASSIC_BUGS[bug]
    result = assert_mistake_caught(grade, NAME, bug, grade_id, _patched(grade_id, changes), must_fail,
                                   training=TRAINING, score=score)
    by_hand = {t.grade_id: t.message for t in result.tests}.get("test_lm_train_step_by_hand", "")
    if bug == "the loss returned without the state":
        assert by_hand.startswith("lm_train_step returned one float, ") and by_hand.endswith(
            "; expected a pair (loss, state): did you forget to return state?"), by_hand
    if bug == "the state returned attached: the next chunk's backward reaches a freed graph":
        assert "chunk 1: the backward pass reached the graph of the chunk before" in by_hand, by_hand
