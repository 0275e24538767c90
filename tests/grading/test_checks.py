"""seqlib.grading: the checks inside the assignments say what was expected and what came back."""

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
