"""seqlib.grading: the checks inside the assignments say what was expected and what came back."""

import re

import numpy as np
import pytest

from seqlib import grading


def test_expect_close_reports_the_worst_entry():
    expected = np.array([[0.1, 0.2], [0.3, 0.4]])
    got = expected.copy()
    got[1, 0] = 0.9
    with pytest.raises(AssertionError, match=r"at index \(1, 0\): got 0\.9, expected 0\.3"):
        grading.expect_close("next_h", got, expected)
    grading.expect_close("next_h", expected + 1e-12, expected)


def test_expect_close_rejects_wrong_shapes_types_and_nan():
    with pytest.raises(AssertionError, match=r"expected shape \(2, 3\), got \(3, 2\)"):
        grading.expect_close("h", np.zeros((3, 2)), np.zeros((2, 3)))
    with pytest.raises(AssertionError, match="expected a NumPy array of shape"):
        grading.expect_close("h", [[0.0]], np.zeros((1, 1)))
    with pytest.raises(AssertionError, match="NaN"):
        grading.expect_close("h", np.array([np.nan]), np.zeros(1))


def test_checks_survive_a_student_rebinding_numpy():
    saved = np.abs
    try:
        np.abs = lambda x: 0 * x  # would make every difference look like zero
        with pytest.raises(AssertionError):
            grading.expect_close("h", np.ones(2), np.zeros(2))
    finally:
        np.abs = saved


def test_expect_gradient_uses_finite_differences_of_the_given_function():
    x = np.linspace(-1, 1, 4)
    dout = np.ones(4)
    grading.expect_gradient("dx", np.tanh, [x], 0, 1 - np.tanh(x) ** 2, dout, tol=1e-9)
    with pytest.raises(AssertionError, match="finite-difference"):
        grading.expect_gradient("dx", np.tanh, [x], 0, np.ones(4), dout)


def test_expect_tensor_wants_a_tensor_of_the_right_shape_and_values():
    import torch

    grading.expect_tensor("h_n", torch.ones(2, 3, dtype=torch.float64), np.ones((2, 3)))
    with pytest.raises(AssertionError, match="expected a torch tensor of shape \\(2, 3\\), got ndarray"):
        grading.expect_tensor("h_n", np.ones((2, 3)), torch.ones(2, 3))
    with pytest.raises(AssertionError, match=r"expected shape \(2, 3\), got \(3, 2\)"):
        grading.expect_tensor("h_n", torch.ones(3, 2), torch.ones(2, 3))
    with pytest.raises(AssertionError, match=r"at index \(1,\): got 5, expected 1"):
        grading.expect_tensor("h_n", torch.tensor([1.0, 5.0], requires_grad=True), torch.ones(2))


def _torch_functions():
    import torch

    def good(x, w):
        return torch.tanh(x @ w), (x * x).sum()

    def detached(x, w):
        return torch.tanh(x @ w.detach())

    def through_numpy(x, w):
        return torch.from_numpy(np.tanh(x.detach().numpy() @ w.detach().numpy()))

    return good, detached, through_numpy


def test_expect_gradcheck_runs_torch_gradcheck_on_the_functions_own_autograd():
    import torch

    good, detached, through_numpy = _torch_functions()
    gen = torch.Generator().manual_seed(0)
    x, w = (torch.randn(*s, generator=gen, dtype=torch.float64) for s in ((2, 3), (3, 4)))
    grading.expect_gradcheck("good", good, [x, w])
    for bad in (detached, through_numpy):
        for fast in (False, True):
            with pytest.raises(AssertionError, match="(?s)gradcheck finds .*(Jacobian mismatch|mismatch)"):
                grading.expect_gradcheck(bad.__name__, bad, [x, w], fast_mode=fast)
    grading.expect_gradcheck("good", good, [x, w], fast_mode=True)
    with pytest.raises(ValueError, match="float64"):
        grading.expect_gradcheck("good", good, [x.float(), w.float()])


def test_a_non_finite_expected_value_is_an_error_not_a_pass():
    for bad in (np.nan, np.inf):
        with pytest.raises(grading.CheckError, match="expected value contains NaN"):
            grading.expect_close("h", np.array([bad]), np.array([bad]))  # NaN "matches" NaN: never
    # a gradient check of a function that returns NaN: the finite differences are NaN too
    with pytest.raises(grading.CheckError):
        grading.expect_gradient("dx", lambda x: x * np.nan, [np.ones(3)], 0, np.zeros(3), np.ones(3))


# --------------------------------------------------------------------------- what came back, before unpacking


@pytest.mark.parametrize("got, names, message", [
    (np.zeros((1, 2)), ("next_h", "cache"),
     "rnn_step_forward returned one array of shape (1, 2); expected a pair (next_h, cache): "
     "did you forget to return cache?"),
    (None, ("next_h", "cache"),
     "rnn_step_forward returned None; expected a pair (next_h, cache): is a return statement missing?"),
    ((np.zeros(2), np.zeros(3), np.zeros(1)), ("next_h", "cache"),
     "rnn_step_forward returned 3 values (an array of shape (2,), an array of shape (3,), an array of shape (1,)); "
     "expected a pair (next_h, cache)"),
    (np.zeros(3), ("next_h", "next_c", "cache"),
     "rnn_step_forward returned one array of shape (3,); expected 3 values (next_h, next_c, cache): "
     "did you forget to return next_c and cache?"),
    (2.5, ("loss", "state"),
     "rnn_step_forward returned one float, 2.5; expected a pair (loss, state): did you forget to return state?"),
])
def test_expect_returns_says_what_came_back_and_what_was_due(got, names, message):
    with pytest.raises(AssertionError) as caught:
        grading.expect_returns("rnn_step_forward", got, names)
    assert str(caught.value) == message


def test_expect_returns_accepts_tuples_and_lists_and_checks_nested_pairs():
    import torch

    grading.expect_returns("f", (np.zeros(1), {"x": 1}), ("next_h", "cache"))
    grading.expect_returns("f", [np.zeros(1), None], ("next_h", "cache"))  # a list unpacks as well
    grading.expect_returns("f", (torch.zeros(2), (torch.zeros(1), torch.zeros(1))), ("output", ("h_n", "c_n")))
    with pytest.raises(AssertionError, match=r"^LSTM\.forward returned 2 values \(a tensor of shape \(2, 5, 4\), "
                                             r"a tensor of shape \(1, 2, 4\)\); expected a pair \(output, \(h_n, c_n\)\)$"):
        grading.expect_returns("LSTM.forward", (torch.zeros(2, 5, 4), torch.zeros(1, 2, 4)), ("output", ("h_n", "c_n")))


def test_expect_returns_reads_what_the_grader_keeps_in_the_worker():
    class Handle:  # as seqlib.grading.remote.RemoteObject: a tuple left in the worker says its type
        _type_name = "tuple"

        def __len__(self):
            return 2

        def __iter__(self):
            return iter([np.zeros(1), np.zeros(1)])

    grading.expect_returns("f", (np.zeros(1), Handle()), ("output", ("h", "c")))
    Handle._type_name = "generator"
    with pytest.raises(AssertionError, match=r"f returned one generator; expected a pair \(next_h, cache\)"):
        grading.expect_returns("f", Handle(), ("next_h", "cache"))


# --------------------------------------------------------------------------- the traceback a student sees


def test_a_failed_check_is_an_assertion_error_the_grader_records_with_its_message():
    from seqlib.grading.job import _classify

    with pytest.raises(grading.CheckFailed) as caught:
        grading.expect_close("next_h", np.ones(2), np.zeros(2))
    assert isinstance(caught.value, AssertionError)
    assert _classify(caught.value) == ("failed", str(caught.value))
    assert str(caught.value).startswith("next_h differs from the expected values.")
    assert _classify(grading.CheckError("h: the expected value contains NaN")) == \
        ("error", "h: the expected value contains NaN")


def _a_visible_test():
    grading.expect_returns("rnn_step_forward", np.zeros((1, 2)), ("next_h", "cache"))


def test_the_traceback_of_a_failed_check_leaves_out_the_checks_own_frames():
    # Outside IPython the rendering falls back to Python's traceback text, with the same frames.
    with pytest.raises(grading.CheckFailed) as caught:
        _a_visible_test()
    text = "\n".join(caught.value._render_traceback_())
    assert "_a_visible_test" in text and "expect_returns(" in text  # the test's own line
    assert "seqlib/grading/__init__.py" not in text, text
    assert text.rstrip().endswith("did you forget to return cache?")


@pytest.mark.slow
def test_jupyter_shows_the_failed_line_of_the_test_and_not_the_checks():
    """A real kernel (ipykernel, IPython) runs a visible test that fails: its traceback ends at the
    test's line, and the message is the check's."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import numpy as np\nfrom seqlib import grading\n\n\ndef rnn_step_forward(x):\n    next_h = np.tanh(x)\n"
        "    return next_h\n\n\ndef test_rnn_step_forward_shapes():\n    out = rnn_step_forward(np.zeros((1, 2)))\n"
        "    grading.expect_returns(\"rnn_step_forward\", out, (\"next_h\", \"cache\"))\n    next_h, cache = out\n\n\n"
        "test_rnn_step_forward_shapes()\n"),
        nbformat.v4.new_code_cell("def test_gradient():\n"
                                  "    grading.expect_gradient('dx', np.tanh, [np.ones(3)], 0, np.ones(3), np.ones(3))\n\n\n"
                                  "test_gradient()\n")]
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    for cell, line, message in [(nb.cells[0], 'grading.expect_returns("rnn_step_forward", out, ("next_h", "cache"))',
                                 "did you forget to return cache?"),
                                (nb.cells[1], "grading.expect_gradient('dx', np.tanh", "differs from the expected")]:
        (error,) = [o for o in cell.outputs if o.output_type == "error"]
        text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))
        assert error.ename == "CheckFailed" and message in error.evalue
        assert "seqlib/grading" not in text and "skipping hidden" not in text, text
        frames = [l for l in text.splitlines() if l.startswith(("Cell In", "File "))]
        assert len(frames) == 2 and frames[-1].startswith("Cell In") and "in test_" in frames[-1], frames
        assert line in text.split(frames[-1])[1]
