"""rnn_numpy, lm_numpy and lstm_numpy through the trusted grader: the reference solution earns
every point, the release none, and each classic mistake loses exactly the tests that catch it."""

from __future__ import annotations

import pytest

from assignment_helpers import assert_mistake_caught

pytestmark = pytest.mark.slow

NAMES = ["rnn_numpy", "lm_numpy", "lstm_numpy"]


# Classic mistakes, each with the graded cells that must catch it (and only those).
CLASSIC_BUGS = {
    "dW[x] += dout keeps one gradient of a repeated token": (
        "lm_numpy", "word_embedding_backward",
        "def word_embedding_backward(dout, cache):\n    x, W_shape = cache\n    dW = np.zeros(W_shape)\n"
        "    dW[x] += dout\n    return dW",
        {"test_word_embedding_backward_repeats", "test_word_embedding_backward_gradcheck",
         "test_language_model_gradient"}),
    "softmax without subtracting the maximum overflows": (
        "lm_numpy", "softmax_with_temperature",
        "def softmax_with_temperature(scores, temperature):\n    e = np.exp(np.asarray(scores) / temperature)\n"
        "    return e / e.sum(axis=-1, keepdims=True)",
        {"test_softmax_with_temperature_reference"}),
    "a softmax over the whole batch instead of each row": (
        "lm_numpy", "softmax_with_temperature",
        "def softmax_with_temperature(scores, temperature):\n    s = np.asarray(scores, dtype=float) / temperature\n"
        "    e = np.exp(s - s.max())\n    return e / e.sum()",
        # caught by the visible test's batch of two rows, before submission
        {"test_softmax_with_temperature_by_hand", "test_softmax_with_temperature_reference"}),
    "the loss averaged over all steps instead of summed over time": (
        "lm_numpy", "temporal_softmax_loss",
        "def temporal_softmax_loss(x, y, mask):\n    N, T, V = x.shape\n"
        "    s = x - x.max(axis=2, keepdims=True)\n    log_p = s - np.log(np.exp(s).sum(axis=2, keepdims=True))\n"
        "    picked = np.take_along_axis(log_p, y[..., None], axis=2)[..., 0]\n"
        "    loss = -(picked * mask).sum() / mask.sum()\n    dx = np.exp(log_p)\n"
        "    dx[np.arange(N)[:, None], np.arange(T)[None, :], y] -= 1.0\n"
        "    dx *= mask[:, :, None] / mask.sum()\n    return loss, dx",
        # the whole-model gradient check still passes: it differentiates the student's own loss
        {"test_temporal_softmax_loss_by_hand", "test_temporal_softmax_loss_reference"}),
    "dc_t without the path through h_t = o * tanh(c_t)": (
        "lstm_numpy", "lstm_step_backward",
        "def lstm_step_backward(dnext_h, dnext_c, cache):\n    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache\n"
        "    dc = dnext_c\n"
        "    da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f),\n"
        "                         dnext_h * tanh_c * o * (1 - o), dc * i * (1 - g ** 2)], axis=1)\n"
        "    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)",
        {"test_lstm_step_backward_gradcheck", "test_lstm_step_backward_reference", "test_lstm_backward_shapes",
         "test_lstm_backward_reference"}),
    "the bias forgotten in the LSTM step": (
        "lstm_numpy", "lstm_step_forward",
        "def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):\n    H = prev_h.shape[1]\n    a = x @ Wx + prev_h @ Wh\n"
        "    i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H])\n"
        "    g = np.tanh(a[:, 3 * H:])\n    next_c = f * prev_c + i * g\n    tanh_c = np.tanh(next_c)\n"
        "    return o * tanh_c, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c)",
        {"test_lstm_step_forward_by_hand", "test_lstm_step_forward_reference", "test_lstm_step_backward_gradcheck",
         "test_lstm_step_backward_reference", "test_lstm_forward_reference", "test_lstm_backward_reference"}),
    "the RNN's bias forgotten in the sequence": (
        "rnn_numpy", "rnn_forward",
        "def rnn_forward(x, h0, Wx, Wh, b):\n    h, caches, prev_h = [], [], h0\n    for t in range(x.shape[1]):\n"
        "        prev_h, c = rnn_step_forward(x[:, t], prev_h, Wx, Wh, 0 * b)\n        h.append(prev_h)\n"
        "        caches.append(c)\n    return np.stack(h, axis=1), caches",
        # rnn_backward's visible dWh check is consistent with the student's own (biasless) forward
        {"test_rnn_forward_shapes", "test_rnn_forward_reference", "test_rnn_backward_gradcheck"}),
}


@pytest.mark.parametrize("bug", list(CLASSIC_BUGS))
def test_hidden_tests_catch_a_classic_mistake(grade, bug):
    name, grade_id, source, must_fail = CLASSIC_BUGS[bug]
    assert_mistake_caught(grade, name, bug, grade_id, source, must_fail)
