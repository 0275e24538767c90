"""rnn_numpy, lm_numpy and lstm_numpy through the trusted grader: the reference solution earns
every point, the release none, and each classic mistake loses exactly the tests that catch it."""

from __future__ import annotations

import pytest

from assignment_helpers import REPO, assert_mistake_caught, failing, solution_sources

pytestmark = pytest.mark.slow

NAMES = ["rnn_numpy", "lm_numpy", "lstm_numpy"]


# The tests that call rnn_forward.
USES_RNN_FORWARD = {"test_rnn_forward_shapes", "test_rnn_forward_reference", "test_rnn_backward_shapes",
                    "test_rnn_backward_gradcheck"}

# Classic mistakes, each with the graded cells that must catch it (and only those), and the score
# it leaves (of 13 for rnn_numpy and lstm_numpy, of 15 for lm_numpy).
CLASSIC_BUGS = {
    "dW[x] += dout keeps one gradient of a repeated token": (
        "lm_numpy", "word_embedding_backward",
        "def word_embedding_backward(dout, cache):\n    x, W_shape = cache\n    dW = np.zeros(W_shape)\n"
        "    dW[x] += dout\n    return dW",
        {"test_word_embedding_backward_repeats", "test_word_embedding_backward_gradcheck",
         "test_language_model_gradient"}, 10),
    "softmax without subtracting the maximum overflows": (
        "lm_numpy", "softmax_with_temperature",
        "def softmax_with_temperature(scores, temperature):\n    e = np.exp(np.asarray(scores) / temperature)\n"
        "    return e / e.sum(axis=-1, keepdims=True)",
        # the visible test's scores (1000, 999, 0) overflow: caught before submission
        {"test_softmax_with_temperature_by_hand", "test_softmax_with_temperature_reference"}, 12),
    "a softmax over the whole batch instead of each row": (
        "lm_numpy", "softmax_with_temperature",
        "def softmax_with_temperature(scores, temperature):\n    s = np.asarray(scores, dtype=float) / temperature\n"
        "    e = np.exp(s - s.max())\n    return e / e.sum()",
        # caught by the visible test's batch of two rows, before submission
        {"test_softmax_with_temperature_by_hand", "test_softmax_with_temperature_reference"}, 12),
    "the loss averaged over all steps instead of summed over time": (
        "lm_numpy", "temporal_softmax_loss",
        "def temporal_softmax_loss(x, y, mask):\n    N, T, V = x.shape\n"
        "    s = x - x.max(axis=2, keepdims=True)\n    log_p = s - np.log(np.exp(s).sum(axis=2, keepdims=True))\n"
        "    picked = np.take_along_axis(log_p, y[..., None], axis=2)[..., 0]\n"
        "    loss = -(picked * mask).sum() / mask.sum()\n    dx = np.exp(log_p)\n"
        "    dx[np.arange(N)[:, None], np.arange(T)[None, :], y] -= 1.0\n"
        "    dx *= mask[:, :, None] / mask.sum()\n    return loss, dx",
        # the whole-model gradient check still passes: it differentiates the student's own loss
        {"test_temporal_softmax_loss_by_hand", "test_temporal_softmax_loss_reference"}, 11),
    "the gradient of the loss not divided by N": (
        "lm_numpy", "temporal_softmax_loss",
        "def temporal_softmax_loss(x, y, mask):\n    N, T, V = x.shape\n"
        "    s = x - x.max(axis=2, keepdims=True)\n    log_p = s - np.log(np.exp(s).sum(axis=2, keepdims=True))\n"
        "    picked = np.take_along_axis(log_p, y[..., None], axis=2)[..., 0]\n"
        "    loss = -(picked * mask).sum() / N\n    dx = np.exp(log_p)\n"
        "    dx[np.arange(N)[:, None], np.arange(T)[None, :], y] -= 1.0\n"
        "    dx *= mask[:, :, None]\n    return loss, dx",
        # the visible test's dx at a real step, and the whole model's gradient check
        {"test_temporal_softmax_loss_by_hand", "test_temporal_softmax_loss_reference", "test_language_model_gradient"},
        9),
    "dc_t without the path through h_t = o * tanh(c_t)": (
        "lstm_numpy", "lstm_step_backward",
        "def lstm_step_backward(dnext_h, dnext_c, cache):\n    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache\n"
        "    dc = dnext_c\n"
        "    da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f),\n"
        "                         dnext_h * tanh_c * o * (1 - o), dc * i * (1 - g ** 2)], axis=1)\n"
        "    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)",
        {"test_lstm_step_backward_gradcheck", "test_lstm_step_backward_reference", "test_lstm_backward_shapes",
         "test_lstm_backward_reference"}, 6),
    "the bias forgotten in the LSTM step": (
        "lstm_numpy", "lstm_step_forward",
        "def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):\n    H = prev_h.shape[1]\n    a = x @ Wx + prev_h @ Wh\n"
        "    i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H])\n"
        "    g = np.tanh(a[:, 3 * H:])\n    next_c = f * prev_c + i * g\n    tanh_c = np.tanh(next_c)\n"
        "    return o * tanh_c, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c)",
        {"test_lstm_step_forward_by_hand", "test_lstm_step_forward_reference", "test_lstm_step_backward_gradcheck",
         "test_lstm_step_backward_reference", "test_lstm_forward_reference", "test_lstm_backward_reference"}, 2),
    "the RNN's bias forgotten in the sequence": (
        "rnn_numpy", "rnn_forward",
        "def rnn_forward(x, h0, Wx, Wh, b):\n    h, caches, prev_h = [], [], h0\n    for t in range(x.shape[1]):\n"
        "        prev_h, c = rnn_step_forward(x[:, t], prev_h, Wx, Wh, 0 * b)\n        h.append(prev_h)\n"
        "        caches.append(c)\n    return np.stack(h, axis=1), caches",
        # rnn_backward's visible dWh check is consistent with the student's own (biasless) forward
        {"test_rnn_forward_shapes", "test_rnn_forward_reference", "test_rnn_backward_gradcheck"}, 7),
    "h0 ignored: the sequence starts from zeros": (
        "rnn_numpy", "rnn_forward",
        "def rnn_forward(x, h0, Wx, Wh, b):\n    h, caches, prev_h = [], [], np.zeros_like(h0)\n"
        "    for t in range(x.shape[1]):\n        prev_h, c = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)\n"
        "        h.append(prev_h)\n        caches.append(c)\n    return np.stack(h, axis=1), caches",
        # the visible backward test's dh0 against finite differences: h0 changes nothing, dh0 is not 0
        USES_RNN_FORWARD, 6),
    "c0 = h0 in the LSTM instead of zeros": (
        "lstm_numpy", "lstm_forward",
        "def lstm_forward(x, h0, Wx, Wh, b):\n    h, caches, prev_h, prev_c = [], [], h0, h0\n"
        "    for t in range(x.shape[1]):\n        prev_h, prev_c, c = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)\n"
        "        h.append(prev_h)\n        caches.append(c)\n    return np.stack(h, axis=1), caches",
        # lstm_backward's visible test checks dWh, which the forward's own cache keeps consistent
        {"test_lstm_forward_shapes", "test_lstm_forward_reference", "test_lstm_backward_reference"}, 7),
    "the mask ignored: the padding counted in the loss": (
        "lm_numpy", "temporal_softmax_loss",
        "def temporal_softmax_loss(x, y, mask):\n    N, T, V = x.shape\n"
        "    s = x - x.max(axis=2, keepdims=True)\n    log_p = s - np.log(np.exp(s).sum(axis=2, keepdims=True))\n"
        "    loss = -np.take_along_axis(log_p, y[..., None], axis=2).sum() / N\n    dx = np.exp(log_p)\n"
        "    dx[np.arange(N)[:, None], np.arange(T)[None, :], y] -= 1.0\n    return loss, dx / N",
        {"test_temporal_softmax_loss_by_hand", "test_temporal_softmax_loss_reference"}, 11),
    "W_h applied as the lecture's column vectors: prev_h @ Wh.T, and its transpose in the backward pass": (
        "rnn_numpy", "rnn_step_forward",
        {"rnn_step_forward": "def rnn_step_forward(x, prev_h, Wx, Wh, b):\n"
                             "    next_h = np.tanh(x @ Wx + prev_h @ Wh.T + b)\n"
                             "    return next_h, (x, prev_h, Wx, Wh, next_h)",
         "rnn_step_backward": "def rnn_step_backward(dnext_h, cache):\n    x, prev_h, Wx, Wh, next_h = cache\n"
                              "    da = dnext_h * (1 - next_h ** 2)\n"
                              "    return da @ Wx.T, da @ Wh, x.T @ da, da.T @ prev_h, da.sum(axis=0)"},
        # consistent with itself, so the gradient checks against its own forward pass pass; the visible
        # step test's W_h is not symmetric, so the mistake shows before submission
        {"test_rnn_step_forward_shapes", "test_rnn_step_forward_reference", "test_rnn_step_backward_gradcheck",
         "test_rnn_forward_shapes", "test_rnn_forward_reference", "test_rnn_backward_gradcheck"}, 2),
}


@pytest.mark.parametrize("bug", list(CLASSIC_BUGS))
def test_hidden_tests_catch_a_classic_mistake(grade, bug):
    name, grade_id, source, must_fail, score = CLASSIC_BUGS[bug]
    assert_mistake_caught(grade, name, bug, grade_id, source, must_fail, score=score)


# An honest mistake that a test cell's variables used to hide: rnn_forward sizes its output with
# N, T and H it never defined. The visible test set N, T, D, H = 2, 3, 4, 5 before calling it, so
# the notebook found them and every test passed there; the grader's worker has no such globals.
GLOBALS = ("def rnn_forward(x, h0, Wx, Wh, b):\n    h = np.zeros((N, T, H))\n    caches, prev_h = [], h0\n"
           "    for t in range(T):\n        prev_h, c = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)\n"
           "        h[:, t] = prev_h\n        caches.append(c)\n    return h, caches")


def test_a_function_that_reads_a_tests_variable_fails_when_graded(grade):
    result = assert_mistake_caught(grade, "rnn_numpy", "rnn_forward reads N, T and H of the test", "rnn_forward",
                                   GLOBALS, USES_RNN_FORWARD, score=6)
    shapes = next(t for t in result.tests if t.grade_id == "test_rnn_forward_shapes")
    assert shapes.message == ("rnn_forward raised NameError: name 'N' is not defined (cell rnn_forward, line 2, "
                              "in rnn_forward)"), shapes.message


def test_the_same_function_fails_in_the_notebook_before_submission(tmp_path):
    """The test cells keep their variables inside their functions: in the notebook too, the
    visible test of rnn_forward now fails with the grader's NameError, not after submission."""
    import json

    import nbformat
    from nbclient import NotebookClient

    nb = json.loads((REPO / "solutions" / "rnn_numpy" / "rnn_numpy.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "rnn_forward":
            cell["source"] = GLOBALS
    nb = nbformat.reads(json.dumps(nb), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = {c.metadata["nbgrader"]["grade_id"]: o for c in nb.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"}
    assert set(errors) == USES_RNN_FORWARD, sorted(errors)
    assert (errors["test_rnn_forward_shapes"].ename, errors["test_rnn_forward_shapes"].evalue) == \
        ("NameError", "name 'N' is not defined")


def test_a_forgotten_cache_is_named_in_the_message_the_student_gets(grade):
    """rnn_step_forward returns next_h alone. The visible test says so before unpacking it, and the
    grader records that message for the feedback; every function built on the step fails too."""
    step = solution_sources("rnn_numpy")["rnn_step_forward"].replace("    return next_h, cache", "    return next_h")
    assert step != solution_sources("rnn_numpy")["rnn_step_forward"]
    result = grade("rnn_numpy", dict({gid: "solution" for gid in solution_sources("rnn_numpy")}, rnn_step_forward=step))
    assert (result.score, result.max_score) == (0.0, 13.0) and len(failing(result)) == 8
    shapes = next(t for t in result.tests if t.grade_id == "test_rnn_step_forward_shapes")
    assert (shapes.status, shapes.message) == ("failed", "rnn_step_forward returned one array of shape (1, 2); "
                                                         "expected a pair (next_h, cache): did you forget to return cache?")
