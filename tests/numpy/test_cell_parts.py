"""seqlib.numpy.cell_parts: the time-major helpers against the batch-first ones."""

import numpy as np

from seqlib.numpy.cell_parts import states_before, time_major, weight_grads, weight_grads_time_major


def test_time_major_is_free_for_a_view_of_a_time_major_buffer_and_a_copy_otherwise():
    buf = np.arange(24.0).reshape(2, 3, 4)  # (T, N, ·)
    view = buf.transpose(1, 0, 2)  # (N, T, ·)
    assert np.shares_memory(time_major(view), buf)
    plain = np.ascontiguousarray(view)
    tm = time_major(plain)
    assert not np.shares_memory(tm, plain)
    np.testing.assert_array_equal(tm, buf)


def test_weight_grads_time_major_equals_weight_grads():
    rng = np.random.default_rng(0)
    N, T, D, H, G = 3, 4, 2, 5, 4
    x, h0, h = rng.normal(size=(N, T, D)), rng.normal(size=(N, H)), rng.normal(size=(N, T, H))
    da, Wx = rng.normal(size=(N, T, G * H)), rng.normal(size=(D, G * H))
    dx, dWx, dWh, db = weight_grads(x, states_before(h0, h), da, Wx)
    x_tm = time_major(x)
    x_tm_before = x_tm.copy()
    dx_tm, dWx_tm, dWh_tm, db_tm = weight_grads_time_major(x_tm, h0, time_major(h), time_major(da), Wx)
    np.testing.assert_array_equal(x_tm, x_tm_before)
    np.testing.assert_allclose(dx_tm.transpose(1, 0, 2), dx, rtol=1e-12)
    for got, want in ((dWx_tm, dWx), (dWh_tm, dWh), (db_tm, db)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # dx may be written over x itself, which is read first
    dx_in_x, *_ = weight_grads_time_major(x_tm, h0, time_major(h), time_major(da), Wx, dx=x_tm)
    assert dx_in_x is x_tm
    np.testing.assert_allclose(dx_in_x, dx_tm, rtol=1e-12)
