"""gru_torch through the trusted grader: the reference solution earns every point, the release
none, each classic mistake loses exactly the tests that catch it, and a solution that uses
torch's own GRU is not run."""

from __future__ import annotations

import pytest

from assignment_helpers import assert_mistake_caught, failing, solution_sources

pytestmark = pytest.mark.slow

NAME = "gru_torch"


STEP = ("def gru_step(x, prev_h, w_ih, w_hh, b_ih=None, b_hh=None, reset='after'):\n"
        "    if reset not in ('after', 'before'):\n        raise ValueError(reset)\n"
        "    H = prev_h.shape[1]\n    xw = x @ w_ih.t()\n    hw = prev_h @ w_hh[:2 * H].t()\n    b_hn = 0.0\n"
        "    if b_ih is not None:\n        xw = xw + b_ih\n        hw = hw + b_hh[:2 * H]\n"
        "        b_hn = b_hh[2 * H:]\n"
        "    r = torch.sigmoid(xw[:, :H] + hw[:, :H])\n    z = torch.sigmoid(xw[:, H:2 * H] + hw[:, H:])\n"
        "    w_hn = w_hh[2 * H:]\n    if reset == 'after':\n        n = torch.tanh({after})\n"
        "    else:\n        n = torch.tanh({before})\n    return {update}")
AFTER = "xw[:, 2 * H:] + r * (prev_h @ w_hn.t() + b_hn)"
BEFORE = "xw[:, 2 * H:] + (r * prev_h) @ w_hn.t() + b_hn"
UPDATE = "(1 - z) * n + z * prev_h"


def step(after=AFTER, before=BEFORE, update=UPDATE):
    return STEP.format(after=after, before=before, update=update)


FORWARD = ("def gru_layer_autograd(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reset='after'):\n"
           "    h, states = h0, []\n    for t in range(x.shape[1]):\n"
           "        h = gru_step(x[:, t], {state}, w_ih, w_hh, b_ih, b_hh, reset)\n        states.append(h)\n"
           "    return torch.stack(states, dim=1)")

STEP_TESTS = {"test_gru_step_by_hand", "test_gru_step_gradcheck", "test_gru_step_torch", "test_gru_step_reset_before"}
FORWARD_TESTS = {"test_gru_layer_shapes", "test_gru_layer_torch", "test_gru_layer_reset_before",
                 "test_gru_layer_gradcheck"}

# Classic mistakes, each with the graded cells that must catch it (and only those). The sequence
# calls the student's gru_step, so a mistake in the step also costs the sequence's comparisons
# (not its shapes test, which compares it with that same step, nor gradcheck, which checks
# autograd against the student's own forward).
CLASSIC_BUGS = {
    "the reset gate applied after the product where it belongs before": (
        "gru_step", step(before=AFTER),
        {"test_gru_step_by_hand", "test_gru_step_reset_before", "test_gru_layer_reset_before"}, 7),
    "the reset gate applied before the product in torch's form": (
        "gru_step", step(after=BEFORE),
        {"test_gru_step_by_hand", "test_gru_step_torch", "test_gru_layer_torch"}, 7),
    "z and 1 - z swapped (the lecture's z in torch's update)": (
        "gru_step", step(update="z * n + (1 - z) * prev_h"),
        {"test_gru_step_by_hand", "test_gru_step_torch", "test_gru_step_reset_before", "test_gru_layer_torch",
         "test_gru_layer_reset_before"}, 3),
    "b_hn added outside r in torch's form": (
        "gru_step", step(after="xw[:, 2 * H:] + r * (prev_h @ w_hn.t()) + b_hn"),
        {"test_gru_step_by_hand", "test_gru_step_torch", "test_gru_layer_torch"}, 7),
    "the state detached between steps: no gradient through time": (
        "gru_layer_autograd", FORWARD.format(state="h.detach()"),
        # the visible test's gradcheck through time catches it before submission
        {"test_gru_layer_shapes", "test_gru_layer_torch", "test_gru_layer_reset_before", "test_gru_layer_gradcheck"},
        6),
    "h0 at every step: the state not carried": (
        "gru_layer_autograd", FORWARD.format(state="h0"),
        {"test_gru_layer_shapes", "test_gru_layer_torch", "test_gru_layer_reset_before"}, 7),
    "a reset other than 'after' taken as 'before', no ValueError": (
        "gru_step", step().replace("    if reset not in ('after', 'before'):\n        raise ValueError(reset)\n", ""),
        {"test_gru_step_by_hand", "test_gru_step_reset_before"}, 9),
}


@pytest.mark.parametrize("bug", list(CLASSIC_BUGS))
def test_hidden_tests_catch_a_classic_mistake(grade, bug):
    grade_id, source, must_fail, score = CLASSIC_BUGS[bug]
    assert_mistake_caught(grade, NAME, bug, grade_id, source, must_fail, score=score)


TORCH_GRU = {
    "torch.nn.GRUCell": "def gru_step(x, prev_h, w_ih, w_hh, b_ih=None, b_hh=None, reset='after'):\n"
                        "    cell = torch.nn.GRUCell(x.shape[1], prev_h.shape[1], dtype=x.dtype)\n"
                        "    cell.load_state_dict({'weight_ih': w_ih, 'weight_hh': w_hh, 'bias_ih': b_ih, "
                        "'bias_hh': b_hh})\n    return cell(x, prev_h)",
    "torch.gru_cell, imported under another name": "from torch import gru_cell as cell\n\n"
                        "def gru_step(x, prev_h, w_ih, w_hh, b_ih=None, b_hh=None, reset='after'):\n"
                        "    return cell(x, prev_h, w_ih, w_hh, b_ih, b_hh)",
}


@pytest.mark.parametrize("how", list(TORCH_GRU))
def test_a_step_that_uses_torchs_gru_is_not_run(grade, how):
    sources = {gid: "solution" for gid in solution_sources(NAME)}
    sources["gru_step"] = TORCH_GRU[how]
    result = grade(NAME, sources)
    assert result.functions["gru_step"].startswith("not run: it uses"), result.functions
    # the sequence calls gru_step, so nothing passes but nothing else is refused
    assert failing(result) == STEP_TESTS | FORWARD_TESTS
    assert result.functions["gru_layer_autograd"] == "ok"
    by_hand = next(t for t in result.tests if t.grade_id == "test_gru_step_by_hand")
    assert by_hand.message.startswith("gru_step is not defined: its solution cell was not run: it uses "), by_hand
