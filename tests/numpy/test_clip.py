"""Gradient clipping by global norm and by value: exact results on worked cases."""

import numpy as np
import pytest

from seqlib.numpy.clip import clip_grad_norm, clip_grad_value, global_norm


def _grads():
    # global norm sqrt(3^2 + 4^2 + 12^2) = 13
    return {"a": np.array([3.0, 4.0]), "b": np.array([[12.0]])}


def test_clip_grad_norm_rescales_all_gradients_together():
    g = _grads()
    a = g["a"]
    total = clip_grad_norm(g, 6.5)
    assert total == 13.0
    assert g["a"] is a, "clipping must act in place"
    np.testing.assert_array_equal(g["a"], [1.5, 2.0])
    np.testing.assert_array_equal(g["b"], [[6.0]])
    assert global_norm(g) == pytest.approx(6.5, rel=1e-15)


def test_clip_grad_norm_below_threshold_leaves_gradients_untouched():
    g = _grads()
    assert clip_grad_norm(g, 13.0) == 13.0  # not above the threshold: no rescaling
    np.testing.assert_array_equal(g["a"], [3.0, 4.0])
    np.testing.assert_array_equal(g["b"], [[12.0]])


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    g = {k: rng.standard_normal(s) * 10 for k, s in (("W", (4, 3)), ("b", (3,)))}
    t = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in g.values()]
    for tt, v in zip(t, g.values()):
        tt.grad = torch.tensor(v)
    total = clip_grad_norm(g, 1.0)
    t_total = torch.nn.utils.clip_grad_norm_(t, 1.0)
    assert total == pytest.approx(float(t_total), rel=1e-14)
    for tt, v in zip(t, g.values()):
        # torch divides by norm + 1e-6
        np.testing.assert_allclose(v, tt.grad.numpy(), rtol=1e-6)


def test_clip_grad_value_is_min_char_rnn_np_clip():
    g = {"W": np.array([[-7.0, 0.5], [5.0, 6.0]]), "b": np.array([-5.0, 4.9])}
    W = g["W"]
    clip_grad_value(g, 5)
    assert g["W"] is W
    np.testing.assert_array_equal(g["W"], [[-5.0, 0.5], [5.0, 5.0]])
    np.testing.assert_array_equal(g["b"], [-5.0, 4.9])


@pytest.mark.parametrize("fn", [clip_grad_norm, clip_grad_value])
def test_bad_input_raises(fn):
    with pytest.raises(ValueError, match=r"(max_norm|clip) is 0.0"):
        fn(_grads(), 0.0)
    with pytest.raises(ValueError, match=r"(max_norm|clip) is -1.0"):
        fn(_grads(), -1)
    with pytest.raises(ValueError, match=r"grads\['a'\] contains NaN"):
        fn({"a": np.array([np.nan])}, 1.0)
    with pytest.raises(ValueError, match=r"grads\['a'\] has dtype int64"):
        fn({"a": np.array([1, 2])}, 1.0)
    with pytest.raises(TypeError, match=r"grads must be a dict"):
        fn([np.ones(2)], 1.0)
