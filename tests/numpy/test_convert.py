"""seqlib.numpy.convert: gate order, transposes, biases and the GRU's z sign, both ways."""

import numpy as np
import pytest
import torch

from seqlib.numpy import convert, from_torch_state_dict, init_stacked_params, to_torch_state_dict

TORCH = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def labelled_state_dict(cell, D=2, H=3):
    """A one-layer torch state_dict whose gate block k holds the value 10*(k+1) (+ a column index)."""
    G = len(convert.TORCH_GATES[cell])
    rows = np.repeat(10.0 * np.arange(1, G + 1), H)[:, None]
    return {
        "weight_ih_l0": rows + np.arange(D),
        "weight_hh_l0": rows + np.arange(H),
        "bias_ih_l0": rows[:, 0] + 0.5,
        "bias_hh_l0": rows[:, 0] + 0.25,
    }


def test_lstm_gates_come_out_in_the_lecture_order():
    # torch: i, f, g, o -> blocks labelled 10, 20, 30, 40; seqlib wants i, f, o, g = 10, 20, 40, 30.
    (p,), = from_torch_state_dict(labelled_state_dict("lstm"), "lstm")
    H = 3
    assert p["Wx"].shape == (2, 12) and p["Wh"].shape == (3, 12) and p["b"].shape == (12,)
    np.testing.assert_array_equal(p["Wx"][0, ::H], [10, 20, 40, 30])  # transposed: row = input feature
    np.testing.assert_array_equal(p["Wx"][1, ::H], [11, 21, 41, 31])
    np.testing.assert_array_equal(p["b"][::H], [20.75, 40.75, 80.75, 60.75])  # b_ih + b_hh


def test_gru_gates_come_out_as_z_r_h_with_z_negated_and_b_hn_apart():
    # torch: r, z, n = 10, 20, 30; seqlib: z (negated), r, h~, and b = [b_z, b_r, b_in, b_hn].
    (p,), = from_torch_state_dict(labelled_state_dict("gru"), "gru")
    H = 3
    np.testing.assert_array_equal(p["Wh"][0, ::H], [-20, 10, 30])
    np.testing.assert_array_equal(p["b"][::H], [-40.75, 20.75, 30.5, 30.25])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_round_trips(cell, bidirectional):
    rng = np.random.default_rng(3)
    params = init_stacked_params(3, 4, 2, cell, bidirectional, reset="after", rng=rng)
    back = from_torch_state_dict(to_torch_state_dict(params, cell), cell)
    for layer, layer_back in zip(params, back, strict=True):
        for p, q in zip(layer, layer_back, strict=True):
            for k in ("Wx", "Wh", "b"):
                np.testing.assert_array_equal(p[k], q[k])
    # torch -> seqlib -> torch keeps every weight; of the biases, what the math sees.
    module = TORCH[cell](3, 4, num_layers=2, bidirectional=bidirectional, batch_first=True).double()
    sd = {k: v.numpy() for k, v in module.state_dict().items()}
    again = to_torch_state_dict(from_torch_state_dict(module.state_dict(), cell), cell)
    assert sorted(again) == sorted(sd)
    for k in sd:
        if k.startswith("weight"):
            np.testing.assert_array_equal(again[k], sd[k])
        elif k.startswith("bias_ih"):
            kh = k.replace("_ih", "_hh")
            n = slice(8, 12) if cell == "gru" else slice(0, 0)  # GRU's n gate keeps both biases
            np.testing.assert_allclose(again[k] + again[kh], sd[k] + sd[kh], rtol=1e-15)
            np.testing.assert_array_equal(again[k][n], sd[k][n])
            np.testing.assert_array_equal(again[kh][n], sd[kh][n])


def test_converted_weights_load_into_torch_and_give_the_same_numbers():
    rng = np.random.default_rng(4)
    params = init_stacked_params(3, 4, 1, "lstm", rng=rng)
    module = torch.nn.LSTM(3, 4, batch_first=True).double()
    module.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state_dict(params, "lstm").items()})
    from seqlib.numpy import lstm_forward

    x = rng.normal(size=(2, 5, 3))
    h, _ = lstm_forward(x, np.zeros((2, 4)), **params[0][0])
    out, _ = module(torch.from_numpy(x))
    np.testing.assert_allclose(h, out.detach().numpy(), rtol=0, atol=1e-14)


def test_reorder_gates_is_undone_by_the_reverse_call():
    a = np.arange(24.0).reshape(2, 12)
    for cell in ("lstm", "gru"):
        there = convert.reorder_gates(a, cell, True, axis=1)
        assert not np.array_equal(there, a)
        np.testing.assert_array_equal(convert.reorder_gates(there, cell, False, axis=1), a)


def test_conversion_errors():
    params = init_stacked_params(3, 4, 1, "gru", reset="before", rng=0)
    with pytest.raises(ValueError, match=r"params\[0\]\[0\]\['b'\] has shape \(12,\), expected \(16,\) \(torch.nn.GRU places"):
        to_torch_state_dict(params, "gru")
    with pytest.raises(ValueError, match=r"cell is 'gur', expected one of"):
        to_torch_state_dict(params, "gur")
    sd = labelled_state_dict("lstm")
    del sd["bias_hh_l0"]
    with pytest.raises(ValueError, match=r"state_dict lacks bias_hh_l0"):
        from_torch_state_dict(sd, "lstm")
    with pytest.raises(ValueError, match=r"unexpected key 'weight_hr_l0'"):
        from_torch_state_dict({"weight_hr_l0": np.zeros((2, 2))}, "lstm")
