"""Gradient-flow tools against an explicit Jacobian product and finite differences."""

import numpy as np
import pytest

from seqlib.gradcheck import numerical_gradient
from seqlib.numpy.gradflow import (
    hidden_gradient_norms,
    hidden_jacobian_norms,
    hidden_jacobians,
    recurrent_singular_values,
)
from seqlib.numpy.gru import gru_forward
from seqlib.numpy.lstm import lstm_step_forward
from seqlib.numpy.rnn import rnn_forward


def _rnn_case(seed=0, N=2, T=5, D=3, H=4, scale=0.8):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)),
            rng.standard_normal((D, H)) * 0.5, rng.standard_normal((H, H)) * scale / np.sqrt(H),
            rng.standard_normal(H) * 0.1)


def _lstm_case(seed=0, N=2, T=4, D=3, H=3):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)),
            rng.standard_normal((D, 4 * H)) * 0.5, rng.standard_normal((H, 4 * H)) * 0.5,
            rng.standard_normal(4 * H) * 0.1, rng.standard_normal((N, H)))


def _explicit_rnn_jacobians(x, h0, Wx, Wh, b):
    """prod_k diag(1 - h_k^2) Wh^T, written out with matrices, one sample at a time."""
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    N, T, H = h.shape
    J = np.empty((N, T, H, H))
    for n in range(N):
        P = np.eye(H)
        J[n, T - 1] = P
        for t in range(T - 1, 0, -1):
            P = P @ (np.diag(1 - h[n, t] ** 2) @ Wh.T)  # dh_T/dh_t = dh_T/dh_{t+1} dh_{t+1}/dh_t
            J[n, t - 1] = P
    return J


def test_rnn_jacobians_equal_explicit_product():
    args = _rnn_case()
    J = hidden_jacobians(*args)
    np.testing.assert_allclose(J, _explicit_rnn_jacobians(*args), rtol=1e-12, atol=1e-14)


def test_rnn_gradient_norms_are_jacobian_transpose_products():
    args = _rnn_case(seed=1)
    rng = np.random.default_rng(5)
    dh_T = rng.standard_normal((2, 4))
    J = _explicit_rnn_jacobians(*args)
    want = np.linalg.norm(np.einsum("ntij,ni->ntj", J, dh_T), axis=2)
    got = hidden_gradient_norms(*args, dh_T=dh_T)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got[:, -1], np.linalg.norm(dh_T, axis=1), rtol=1e-15)


def test_rnn_norms_vanish_below_the_singular_value_bound():
    x, h0, Wx, _, b = _rnn_case(seed=2, T=8)
    Q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((4, 4)))
    Wh = 0.5 * Q  # every singular value is 0.5
    np.testing.assert_allclose(recurrent_singular_values(Wh), [0.5] * 4, rtol=1e-12)
    norms = hidden_jacobian_norms(x, h0, Wx, Wh, b)
    bound = 0.5 ** np.arange(7, -1, -1)
    assert norms.shape == (2, 8)
    assert np.all(norms <= bound + 1e-12), f"{norms} exceeds {bound}"
    assert norms[0, 0] < 1e-2 and norms[0, -1] == pytest.approx(1.0)


def _lstm_run(x, h, c, Wx, Wh, b):
    """States after every step, by lstm_step_forward: (h (N, T, H), c (N, T, H))."""
    hs, cs = [], []
    for t in range(x.shape[1]):
        h, c, _ = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        hs.append(h)
        cs.append(c)
    return np.stack(hs, axis=1), np.stack(cs, axis=1)


@pytest.mark.parametrize("state", ["h", "c"])
def test_lstm_jacobians_match_finite_differences(state):
    x, h0, Wx, Wh, b, c0 = _lstm_case()
    J = hidden_jacobians(x, h0, Wx, Wh, b, cell="lstm", c0=c0, state=state)
    T = x.shape[1]
    np.testing.assert_allclose(J[:, T - 1], np.broadcast_to(np.eye(3), (2, 3, 3)), atol=0)
    for t in range(T - 1):
        # rerun steps t+2..T from a perturbed state (h_{t+1}, c_{t+1})
        rest = x[:, t + 1:]
        h, c = _lstm_run(x, h0, c0, Wx, Wh, b)
        ht, ct = h[:, t].copy(), c[:, t].copy()
        k = 0 if state == "h" else 1
        f = lambda a, c_: _lstm_run(rest, a, c_, Wx, Wh, b)[k][:, -1]
        wrt = k
        for i in range(3):
            dout = np.zeros((2, 3))
            dout[:, i] = 1.0
            row = numerical_gradient(f, [ht, ct], wrt, dout=dout)
            np.testing.assert_allclose(J[:, t, i], row, rtol=1e-7, atol=1e-10,
                                       err_msg=f"row {i} of d{state}_T/d{state}_{t + 1}")


def test_lstm_gradient_norms_match_jacobians():
    x, h0, Wx, Wh, b, c0 = _lstm_case(seed=4)
    dh_T = np.random.default_rng(0).standard_normal((2, 3))
    J = hidden_jacobians(x, h0, Wx, Wh, b, cell="lstm", c0=c0)
    want = np.linalg.norm(np.einsum("ntij,ni->ntj", J, dh_T), axis=2)
    got = hidden_gradient_norms(x, h0, Wx, Wh, b, cell="lstm", c0=c0, dh_T=dh_T)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_lstm_cell_path_is_the_forget_gate_product_when_gates_saturate():
    # Forget gate pinned at 1 and input gate at 0: c_t = c_{t-1}, so dc_T/dc_t = I exactly
    # for every t, however long the sequence: the constant error carousel.
    H, D = 3, 2
    b = np.zeros(4 * H)
    b[:H] = -50.0  # i ~ 0
    b[H:2 * H] = 50.0  # f ~ 1
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 20, D))
    norms = hidden_jacobian_norms(x, rng.standard_normal((1, H)), rng.standard_normal((D, 4 * H)) * 0.1,
                                  rng.standard_normal((H, 4 * H)) * 0.1, b, cell="lstm", state="c")
    np.testing.assert_allclose(norms, 1.0, rtol=1e-12)


def test_recurrent_singular_values_of_lstm_gate_blocks():
    rng = np.random.default_rng(0)
    Wh = rng.standard_normal((3, 12))
    s = recurrent_singular_values(Wh, cell="lstm")
    assert s.shape == (4, 3)
    for k in range(4):  # gates i, f, o, g side by side
        np.testing.assert_allclose(s[k], np.linalg.svd(Wh[:, 3 * k:3 * k + 3], compute_uv=False), rtol=1e-12)


def test_bad_input_raises_value_error_naming_the_argument():
    x, h0, Wx, Wh, b = _rnn_case()
    with pytest.raises(ValueError, match=r"Wh has shape \(4, 5\), expected \(H, H\) = \(4, 4\)"):
        recurrent_singular_values(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"Wh has shape \(4, 4\), expected \(H, 4H\)"):
        recurrent_singular_values(Wh, cell="lstm")
    with pytest.raises(ValueError, match=r"h0 has shape \(2, 5\), expected \(N, H\) = \(2, 4\)"):
        hidden_gradient_norms(x, np.zeros((2, 5)), Wx, Wh, b)
    with pytest.raises(ValueError, match=r"dh_T has shape \(3, 4\), expected \(N, H\) = \(2, 4\)"):
        hidden_gradient_norms(x, h0, Wx, Wh, b, dh_T=np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"x has shape \(2, 0, 3\)"):
        hidden_jacobians(x[:, :0], h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"x contains NaN"):
        hidden_jacobians(np.full_like(x, np.nan), h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"state is 'c', expected one of \('h',\)"):
        hidden_jacobians(x, h0, Wx, Wh, b, state="c")
    with pytest.raises(ValueError, match=r"cell is 'lstmm'"):
        hidden_jacobians(x, h0, Wx, Wh, b, cell="lstmm")
    with pytest.raises(ValueError, match=r"Wx has shape \(3, 4\), expected \(D, 3H\)"):
        hidden_jacobians(x, h0, Wx, Wh, b, cell="gru")
    with pytest.raises(ValueError, match=r"ord is 1"):
        hidden_jacobian_norms(x, h0, Wx, Wh, b, ord=1)


def test_gru_jacobians_match_finite_differences():
    rng = np.random.default_rng(6)
    N, T, D, H = 2, 4, 3, 3
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh, b = rng.standard_normal((D, 3 * H)), rng.standard_normal((H, 3 * H)), rng.standard_normal(3 * H) * 0.1
    J = hidden_jacobians(x, h0, Wx, Wh, b, cell="gru")
    h, _ = gru_forward(x, h0, Wx, Wh, b)
    for t in range(T - 1):
        f = lambda a: gru_forward(x[:, t + 1:], a, Wx, Wh, b)[0][:, -1]
        for i in range(H):
            dout = np.zeros((N, H))
            dout[:, i] = 1.0
            row = numerical_gradient(f, [h[:, t].copy()], 0, dout=dout)
            np.testing.assert_allclose(J[:, t, i], row, rtol=1e-7, atol=1e-10)
    s = recurrent_singular_values(Wh, cell="gru")
    np.testing.assert_allclose(s[2], np.linalg.svd(Wh[:, 2 * H:], compute_uv=False), rtol=1e-12)
