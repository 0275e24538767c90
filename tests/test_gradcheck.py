"""seqlib.gradcheck: the checker every other gradient test relies on."""

import numpy as np
import pytest

from seqlib.gradcheck import check_gradients, numerical_gradient, rel_error


def test_numerical_gradient_of_a_known_function():
    rng = np.random.default_rng(0)
    A, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    # f(A, x) = sum(sin(A @ x) * dout): gradient wrt x is A.T @ (cos(A x) * dout)
    dout = rng.normal(size=3)
    numeric = numerical_gradient(lambda A, x: np.sin(A @ x), [A, x], 1, dout)
    assert rel_error(numeric, A.T @ (np.cos(A @ x) * dout)) < 1e-10


def test_scalar_function_without_dout():
    x = np.array([1.0, -2.0, 3.0])
    assert rel_error(numerical_gradient(lambda x: np.sum(x**3), [x], 0), 3 * x**2) < 1e-10


def test_inputs_are_copied_even_when_f_writes_into_them():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    before = x.copy()

    def f(x):
        x *= 2.0  # a careless forward pass that modifies its argument
        return x.sum()

    grad = numerical_gradient(f, [x], 0)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(grad, np.full_like(x, 2.0), rtol=1e-9)


def test_check_gradients_flags_a_wrong_gradient():
    x = np.linspace(-1, 1, 5)
    errors = check_gradients(np.tanh, [x], {0: 1 - np.tanh(x) ** 2}, dout=np.ones(5))
    assert errors[0] < 1e-9
    wrong = check_gradients(np.tanh, [x], {0: 1 - np.tanh(x)}, dout=np.ones(5))
    assert wrong[0] > 1e-2


def test_bad_calls_say_what_is_wrong():
    with pytest.raises(ValueError, match="floating-point"):
        numerical_gradient(lambda x: x, [np.arange(3)], 0, np.ones(3))
    with pytest.raises(ValueError, match="pass dout"):
        numerical_gradient(lambda x: x, [np.ones(3)], 0)
    with pytest.raises(ValueError, match=r"dout has shape \(2,\)"):
        numerical_gradient(lambda x: x, [np.ones(3)], 0, np.ones(2))
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.ones(2), np.ones(3))
