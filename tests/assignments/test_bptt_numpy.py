"""bptt_numpy through the trusted grader: the reference solution earns every point, the release
none, and each classic mistake loses exactly the tests that catch it."""

from __future__ import annotations

import pytest

from assignment_helpers import assert_mistake_caught

pytestmark = pytest.mark.slow

NAME = "bptt_numpy"


CLIP_NORM = "def clip_grad_norm(grads, max_norm):\n{body}"
NORMS = ("def hidden_gradient_norms(x, h0, Wx, Wh, b, dh_T=None):\n"
         "    N, T, _ = x.shape\n    h, prev_h = [], h0\n    for t in range(T):\n"
         "        prev_h = np.tanh(x[:, t] @ Wx + prev_h @ Wh + b)\n        h.append(prev_h)\n"
         "    delta = np.ones_like(h0) if dh_T is None else dh_T\n    norms = np.empty((N, T))\n"
         "    norms[:, T - 1] = np.linalg.norm(delta, axis=1)\n    for t in range(T - 1, 0, -1):\n"
         "        delta = {back}\n        norms[:, t - 1] = np.linalg.norm(delta, axis=1)\n    return norms")
TRAIN = ("def train_truncated_bptt(model, streams, seq_length, optimizer, clip_norm=None, state=None):\n"
         "    S = streams.shape[1]\n    losses = []\n    for i in range({range}):\n"
         "        j = min(i + seq_length, S - 1)\n"
         "        loss, grads, state = model.loss({x}, {y}, h0={h0}, return_state=True)\n"
         "        if clip_norm is not None:\n            {clip}\n"
         "        optimizer.step(model.params, grads)\n        losses.append(loss)\n"
         "    return np.array(losses), state")


def train(range_="0, S - 1, seq_length", x="streams[:, i:j]", y="streams[:, i + 1:j + 1]", h0="state",
          clip="clip_grad_norm(grads, clip_norm)"):
    return TRAIN.format(range=range_, x=x, y=y, h0=h0, clip=clip)


LOOP_TESTS = {"test_train_truncated_bptt_chunks", "test_train_truncated_bptt_reference",
              "test_train_truncated_bptt_clipped"}

# Classic mistakes, each with the graded cells that must catch it (and only those).
CLASSIC_BUGS = {
    "the lecture slide's squared norm, np.sum(grad * grad)": (
        "clip_grad_norm",
        CLIP_NORM.format(body="    total = float(sum(np.sum(g * g) for g in grads.values()))\n"
                              "    if total > max_norm:\n        for g in grads.values():\n"
                              "            g *= max_norm / total\n    return total"),
        # the loops with clipping (the visible one's second pass too) call the student's clip_grad_norm
        {"test_clip_grad_norm_by_hand", "test_clip_grad_norm_reference", "test_train_truncated_bptt_chunks",
         "test_train_truncated_bptt_clipped"}, 8),
    "every array clipped to max_norm on its own": (
        "clip_grad_norm",
        CLIP_NORM.format(body="    total = float(np.sqrt(sum(np.sum(g * g) for g in grads.values())))\n"
                              "    for g in grads.values():\n        n = np.sqrt(np.sum(g * g))\n"
                              "        if n > max_norm:\n            g *= max_norm / n\n    return total"),
        {"test_clip_grad_norm_by_hand", "test_clip_grad_norm_reference", "test_train_truncated_bptt_chunks",
         "test_train_truncated_bptt_clipped"}, 8),
    "the norm after clipping returned": (
        "clip_grad_norm",
        CLIP_NORM.format(body="    total = float(np.sqrt(sum(np.sum(g * g) for g in grads.values())))\n"
                              "    if total > max_norm:\n        for g in grads.values():\n"
                              "            g *= max_norm / total\n        total = float(max_norm)\n    return total"),
        # the loop does not use the returned norm
        {"test_clip_grad_norm_by_hand", "test_clip_grad_norm_reference"}, 10),
    "np.clip without out=: a new array, grads unchanged": (
        "clip_grad_value",
        "def clip_grad_value(grads, clip):\n    for g in grads.values():\n        g = np.clip(g, -clip, clip)",
        {"test_clip_grad_value_by_hand", "test_clip_grad_value_reference"}, 11),
    "tanh' taken at the previous state": (
        "hidden_gradient_norms",
        NORMS.format(back="(delta * (1 - h[t - 1] ** 2)) @ Wh.T"),
        # at the origin every state is 0 and the sigma < 1 bound holds for any |tanh'| <= 1
        {"test_hidden_gradient_norms_by_hand", "test_hidden_gradient_norms_reference"}, 10),
    "the tanh' factor forgotten: W_h alone": (
        "hidden_gradient_norms",
        NORMS.format(back="delta @ Wh.T"),
        {"test_hidden_gradient_norms_by_hand", "test_hidden_gradient_norms_reference"}, 10),
    "W_h instead of its transpose": (
        "hidden_gradient_norms",
        NORMS.format(back="(delta * (1 - h[t] ** 2)) @ Wh"),
        # the visible case of H = 2 with W_h = [[1, 2], [0, 3]] tells them apart (an orthogonal Q's
        # transpose is orthogonal too: the regimes test does not)
        {"test_hidden_gradient_norms_by_hand", "test_hidden_gradient_norms_reference"}, 10),
    "the state not carried: every chunk starts from zeros": (
        "train_truncated_bptt", train(h0="None"), LOOP_TESTS, 9),
    "the last, shorter chunk dropped": (
        "train_truncated_bptt", train(range_="0, S - seq_length, seq_length"), LOOP_TESTS, 9),
    "backpropagating across the boundary: every chunk reruns the stream from its start": (
        "train_truncated_bptt", train(x="streams[:, :j]", y="streams[:, 1:j + 1]", h0="None"), LOOP_TESTS, 9),
    "clip_norm ignored": (
        # the visible test's second pass clips
        "train_truncated_bptt", train(clip="pass"), {"test_train_truncated_bptt_chunks",
                                                    "test_train_truncated_bptt_clipped"}, 11),
    "the state passed in ignored: the first chunk starts from zeros": (
        # the visible test's second pass starts from the state the first one ended with
        "train_truncated_bptt", train(h0="state if i else None"), {"test_train_truncated_bptt_chunks",
                                                                   "test_train_truncated_bptt_reference"}, 10),
    "the losses returned without the state": (
        "train_truncated_bptt", train().replace("    return np.array(losses), state", "    return np.array(losses)"),
        # said before unpacking: "train_truncated_bptt returned one array of shape (3,); expected a pair ..."
        LOOP_TESTS, 9),
}


@pytest.mark.parametrize("bug", list(CLASSIC_BUGS))
def test_hidden_tests_catch_a_classic_mistake(grade, bug):
    grade_id, source, must_fail, score = CLASSIC_BUGS[bug]
    result = assert_mistake_caught(grade, NAME, bug, grade_id, source, must_fail, score=score)
    if bug == "the losses returned without the state":
        chunks = next(t for t in result.tests if t.grade_id == "test_train_truncated_bptt_chunks")
        assert chunks.message == ("train_truncated_bptt returned one array of shape (3,); expected a pair "
                                  "(losses, state): did you forget to return state?"), chunks.message
