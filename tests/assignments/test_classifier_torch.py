"""classifier_torch through the trusted grader: the reference solution earns every point, the
release none, and each classic mistake loses exactly the tests that catch it."""

from __future__ import annotations

import pytest

from assignment_helpers import assert_mistake_caught, failing, solution_sources

pytestmark = pytest.mark.slow

TRAINING = "test_classifier_beats_majority"
NAME = "classifier_torch"


def _patched(grade_id: str, changes) -> str:
    """The reference solution of grade_id with pieces of code replaced: [(old, new), ...]."""
    source = solution_sources(NAME)[grade_id]
    for old, new in changes:
        assert old in source, f"{grade_id}: {old!r} is not in the reference solution"
        source = source.replace(old, new)
    return source


def test_a_solution_that_packs_the_batch_is_not_run(grade):
    sources = {gid: "solution" for gid in solution_sources(NAME)}
    sources["LSTM"] = _patched("LSTM", [("    def forward(self, input, hx=None, lengths=None):\n",
                                         "    def forward(self, input, hx=None, lengths=None):\n"
                                         "        from torch.nn.utils.rnn import pack_padded_sequence\n")])
    result = grade(NAME, sources)
    assert result.functions["LSTM"].startswith("not run: it uses pack_padded_sequence")
    assert "test_lstm_reference" in failing(result)


# Classic mistakes, each with the graded cells that must catch it (and only those).
CLASSIC_BUGS = {
    "the whole time axis flipped: the padding reversed with the sentence": (
        "reverse_index", [("    t = torch.arange(T, device=device).expand(N, T)\n    L = lengths.to(device)[:, None]\n"
                           "    return torch.where(t < L, L - 1 - t, t)",
                           "    return (T - 1 - torch.arange(T, device=device)).expand(N, T)")],
        {"test_reverse_index_by_hand", "test_reverse_index_reference", "test_lstm_shapes", "test_lstm_padding_by_hand",
         "test_lstm_reference", "test_lstm_padding_invariance", "test_classifier_reference",
         "test_classifier_padding_invariance"}, 8),
    "the last padded step read as the final state": (
        "last_step", [("    return h[torch.arange(h.shape[0], device=h.device), last]", "    return h[:, -1]")],
        {"test_last_step_by_hand", "test_last_step_reference", "test_lstm_shapes", "test_lstm_padding_by_hand",
         "test_lstm_reference", "test_lstm_padding_invariance", "test_classifier_reference",
         "test_classifier_padding_invariance"}, 9),
    "the outputs of the padding not set to zero": (
        "LSTM", [("        if lengths is not None:\n            mask", "        if False:\n            mask")],
        # the classifier reads the final states only: its tests pass
        {"test_lstm_shapes", "test_lstm_padding_by_hand", "test_lstm_reference", "test_lstm_padding_invariance"}, 16),
    "the padding zeroed through .data: right values, gradients that reach the padding": (
        "LSTM", [("output = output * mask[:, :, None].to(output.dtype)", "output.data[~mask] = 0.0")],
        {"test_lstm_reference", "test_lstm_gradcheck"}, 18),
    "the backward direction's outputs not reversed back in line with the input": (
        "LSTM", [("outputs.append(h if direction == 0 else reverse_time(h, rev))", "outputs.append(h)")],
        # one layer's final states are unaffected; a second layer reads the misaligned outputs
        {"test_lstm_shapes", "test_lstm_reference", "test_classifier_reference"}, 16),
    "the classifier reads output[:, -1], padding for the short sentences": (
        "SentenceClassifier", [("        _, (h_n, _) = self.rnn(self.embed(tokens), lengths=lengths)\n"
                                "        dirs = 2 if self.rnn.bidirectional else 1\n"
                                "        last = h_n[-dirs:].transpose(0, 1).reshape(tokens.shape[0], -1)"
                                "  # (N, dirs * H), forward first\n",
                                "        output, _ = self.rnn(self.embed(tokens), lengths=lengths)\n"
                                "        last = output[:, -1]\n")],
        # it still learns something: the training test alone does not catch it
        {"test_classifier_shapes", "test_classifier_reference", "test_classifier_padding_invariance"}, 17),
    "the classifier reads the first layer's final states, not the top layer's": (
        "SentenceClassifier", [("h_n[-dirs:]", "h_n[:dirs]")],
        {"test_classifier_shapes", "test_classifier_reference"}, 19),
    "the initial state hx ignored: every direction starts from zeros": (
        "LSTM", [("        if hx is None:\n", "        if True:\n")],
        # the visible test runs one layer from a given (h0, c0)
        {"test_lstm_shapes", "test_lstm_reference"}, 19),
}


@pytest.mark.parametrize("bug", list(CLASSIC_BUGS))
def test_hidden_tests_catch_a_classic_mistake(grade, bug):
    grade_id, changes, must_fail, score = CLASSIC_BUGS[bug]
    assert_mistake_caught(grade, NAME, bug, grade_id, _patched(grade_id, changes), must_fail, training=TRAINING,
                          score=score)
