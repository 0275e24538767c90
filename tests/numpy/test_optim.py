"""Optimizers: each update against values worked out by hand, and against torch.optim."""

import numpy as np
import pytest

from seqlib.numpy.optim import SGD, Adagrad, Adam, Momentum


def _pair():
    params = {"W": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.array([0.5, -0.5])}
    grads = {"W": np.array([[0.5, -1.0], [2.0, 0.0]]), "b": np.array([1.0, -2.0])}
    return params, grads


def test_sgd_matches_hand_computed_update_in_place():
    params, grads = _pair()
    W = params["W"]
    SGD(lr=0.1).step(params, grads)
    assert params["W"] is W, "step must update the arrays in place, not rebind them"
    np.testing.assert_allclose(W, [[0.95, 2.1], [2.8, 4.0]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(params["b"], [0.4, -0.3], rtol=0, atol=1e-15)


def test_momentum_two_steps_hand_computed():
    p = {"w": np.array([1.0])}
    opt = Momentum(lr=0.1, momentum=0.5)
    opt.step(p, {"w": np.array([2.0])})  # v = 2, w = 1 - 0.2
    np.testing.assert_allclose(p["w"], [0.8], rtol=0, atol=1e-15)
    opt.step(p, {"w": np.array([-1.0])})  # v = 0.5 * 2 - 1 = 0, w unchanged
    np.testing.assert_allclose(p["w"], [0.8], rtol=0, atol=1e-15)
    opt.step(p, {"w": np.array([4.0])})  # v = 4, w = 0.8 - 0.4
    np.testing.assert_allclose(p["w"], [0.4], rtol=0, atol=1e-15)


def test_adagrad_is_min_char_rnn_update():
    rng = np.random.default_rng(0)
    params = {"Wxh": rng.standard_normal((3, 4)), "by": rng.standard_normal(4)}
    ref = {k: v.copy() for k, v in params.items()}
    mem = {k: np.zeros_like(v) for k, v in params.items()}
    opt = Adagrad(lr=0.1)
    for _ in range(3):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        # min-char-rnn's loop, literally
        for k in ref:
            mem[k] += grads[k] * grads[k]
            ref[k] += -0.1 * grads[k] / np.sqrt(mem[k] + 1e-8)
        opt.step(params, grads)
    for k in ref:
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-14, atol=0)


def test_adagrad_first_step_hand_computed():
    p = {"w": np.array([1.0, 1.0])}
    Adagrad(lr=0.5, eps=1e-8).step(p, {"w": np.array([3.0, -4.0])})
    # mem = g^2, so the step is lr * g / sqrt(g^2 + eps) ~ lr * sign(g)
    np.testing.assert_allclose(p["w"], [1 - 0.5 * 3 / np.sqrt(9 + 1e-8), 1 + 0.5 * 4 / np.sqrt(16 + 1e-8)],
                               rtol=0, atol=1e-15)


def test_adam_first_two_steps_hand_computed():
    p = {"w": np.array([1.0])}
    opt = Adam(lr=0.1, betas=(0.5, 0.75), eps=0.0 + 1e-12)
    opt.step(p, {"w": np.array([2.0])})
    # m = 1, v = 1; m_hat = 2, v_hat = 4: the first step is lr * sign(g)
    np.testing.assert_allclose(p["w"], [0.9], rtol=0, atol=1e-12)
    opt.step(p, {"w": np.array([-2.0])})
    # m = 0.5*1 - 1 = -0.5, v = 0.75 + 0.25*4 = 1.75; m_hat = -0.5/0.75, v_hat = 1.75/0.4375 = 4
    np.testing.assert_allclose(p["w"], [0.9 + 0.1 * (0.5 / 0.75) / 2.0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_parity_with_torch_optim(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    params = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    tparams = [torch.tensor(params[k].copy(), requires_grad=True) for k in ("W", "b")]
    ours, theirs = {
        "sgd": (SGD(0.05), torch.optim.SGD(tparams, lr=0.05)),
        "momentum": (Momentum(0.05, 0.8), torch.optim.SGD(tparams, lr=0.05, momentum=0.8)),
        "adam": (Adam(0.05, (0.8, 0.9), 1e-8), torch.optim.Adam(tparams, lr=0.05, betas=(0.8, 0.9), eps=1e-8)),
    }[name]
    for _ in range(5):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        for t, k in zip(tparams, ("W", "b")):
            t.grad = torch.tensor(grads[k])
        ours.step(params, grads)
        theirs.step()
    for t, k in zip(tparams, ("W", "b")):
        np.testing.assert_allclose(params[k], t.detach().numpy(), rtol=1e-13, atol=1e-15)


def test_state_is_kept_per_parameter_name():
    a = {"w": np.array([0.0])}
    opt = Momentum(lr=1.0, momentum=0.5)
    opt.step(a, {"w": np.array([1.0])})
    opt.step({"u": np.array([0.0])}, {"u": np.array([1.0])})  # a fresh velocity for "u"
    assert opt.state["u"]["velocity"][0] == 1.0
    assert opt.state["w"]["velocity"][0] == 1.0


@pytest.mark.parametrize("opt", [SGD(0.1), Momentum(0.1), Adagrad(0.1), Adam(0.1)], ids=lambda o: type(o).__name__)
def test_bad_dicts_raise_value_error_naming_the_argument(opt):
    params, grads = _pair()
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(ValueError, match=r"grads and params have different keys.*missing from grads \['b'\]"):
        opt.step(params, {"W": grads["W"]})
    with pytest.raises(ValueError, match=r"grads\['W'\] has shape \(2, 3\), expected \(2, 2\)"):
        opt.step(params, {"W": np.zeros((2, 3)), "b": grads["b"]})
    with pytest.raises(ValueError, match=r"grads\['b'\] contains NaN"):
        opt.step(params, {"W": grads["W"], "b": np.array([np.nan, 0.0])})
    with pytest.raises(ValueError, match=r"params\['b'\] has dtype int64"):
        opt.step({"W": params["W"], "b": np.array([1, 2])}, grads)
    with pytest.raises(TypeError, match=r"params\['b'\] must be a NumPy array"):
        opt.step({"W": params["W"], "b": [1.0, 2.0]}, grads)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k], err_msg="a rejected step must not update")
    assert getattr(opt, "t", 0) == 0, "a rejected step must not count"


def test_shape_change_of_a_parameter_is_refused():
    opt = Adagrad(0.1)
    opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
    with pytest.raises(ValueError, match=r"params\['w'\] has shape \(3,\).*state"):
        opt.step({"w": np.zeros(3)}, {"w": np.ones(3)})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SGD(0.0), "lr is 0.0"),
        (lambda: SGD(-1), "lr is -1.0"),
        (lambda: Momentum(0.1, momentum=1.0), "momentum is 1.0"),
        (lambda: Adagrad(0.1, eps=0), "eps is 0.0"),
        (lambda: Adam(0.1, betas=(0.9, 1.5)), r"betas\[1\] is 1.5"),
        (lambda: Adam(0.1, betas=(0.9,)), "betas is"),
    ],
)
def test_bad_hyperparameters_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()
