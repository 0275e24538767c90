"""The released assignments: generated from solutions/, up to date, and free of solutions.

nbval runs every solution notebook (configured in pyproject.toml): the reference solution
must pass all its tests. Here the other half: the release a student gets must fail them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NAMES = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())

pytestmark = pytest.mark.slow


def test_there_are_assignments():
    assert {"rnn_numpy", "lm_numpy", "lstm_numpy"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_release_is_generated_from_the_current_solution(name, tmp_path):
    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    shutil.copytree(REPO / "solutions" / name, tmp_path / "solutions" / name)
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    result = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    fresh = tmp_path / "assignments" / name
    committed = REPO / "assignments" / name
    fresh_files = sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file())
    committed_files = sorted(p.relative_to(committed).as_posix() for p in committed.rglob("*") if p.is_file())
    assert committed_files == fresh_files, "assignments/ is stale: run `make release`"
    for rel in fresh_files:
        assert (committed / rel).read_bytes() == (fresh / rel).read_bytes(), (
            f"assignments/{name}/{rel} differs from what solutions/ generates: run `make release`")


@pytest.mark.parametrize("name", NAMES)
def test_release_has_no_solution_or_hidden_tests(name):
    for nb_path in (REPO / "assignments" / name).glob("*.ipynb"):
        text = nb_path.read_text(encoding="utf-8")
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, f"{nb_path.name} contains {marker!r}"


def _has_code(source: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in source.splitlines())


@pytest.mark.parametrize("name", NAMES)
def test_every_visible_test_fails_on_the_release(name):
    """A release that passes a test leaks its solution (or the test checks nothing)."""
    for nb_path in (REPO / "assignments" / name).glob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": str(nb_path.parent)}}).execute()
        # Hidden-test cells are comments only in a release; the autograder restores their code.
        graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                  and c.cell_type == "code" and _has_code(c.source)]
        assert graded, f"{nb_path.name} has no visible test cells"
        passing = [c.metadata["nbgrader"]["grade_id"] for c in graded
                   if not any(o.get("output_type") == "error" for o in c.outputs)]
        assert passing == [], f"{nb_path.name}: graded cells pass without a solution: {passing}"


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
}


@pytest.mark.parametrize("bug", list(CLASSIC_BUGS))
def test_hidden_tests_catch_a_classic_mistake(bug):
    """The solution notebook, hidden tests included, with one function replaced by a buggy one."""
    name, grade_id, source, must_fail = CLASSIC_BUGS[bug]
    nb = nbformat.read(REPO / "solutions" / name / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "solutions" / name)}}).execute()
    failing = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade")
               and any(o.get("output_type") == "error" for o in c.outputs)}
    assert failing == must_fail, f"{bug}: failing cells {sorted(failing)}, expected {sorted(must_fail)}"
