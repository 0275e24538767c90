"""Bad arguments fail at the public boundary with a message naming the argument and shape."""

import pytest
import torch

import seqlib.torch as st


@pytest.fixture
def lstm():
    return st.LSTM(4, 6, num_layers=2)


def test_input_of_wrong_rank(lstm):
    with pytest.raises(ValueError, match=r"input has shape \(5, 4\), expected 3 dimensions \(N, T, D\)"):
        lstm(torch.randn(5, 4))


def test_input_with_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match=r"input has shape \(2, 5, 3\), expected \(N, T, D\) = \(2, 5, 4\)"):
        lstm(torch.randn(2, 5, 3))


def test_time_first_input_is_named_as_such():
    m = st.GRU(4, 6, batch_first=False)
    with pytest.raises(ValueError, match=r"expected \(T, N, D\) = \(2, 5, 4\)"):
        m(torch.randn(2, 5, 3))


def test_initial_state_with_wrong_layers(lstm):
    h0 = torch.zeros(1, 2, 6)
    with pytest.raises(ValueError, match=r"h0 has shape \(1, 2, 6\), expected \(L, N, H\) = \(2, 2, 6\)"):
        lstm(torch.randn(2, 5, 4), (h0, torch.zeros(2, 2, 6)))


def test_bidirectional_state_needs_two_per_layer():
    m = st.RNN(4, 6, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match=r"hx has shape \(2, 3, 6\), expected \(2L, N, H\) = \(4, 3, 6\)"):
        m(torch.randn(3, 5, 4), torch.zeros(2, 3, 6))


def test_lstm_state_must_be_a_pair(lstm):
    with pytest.raises(TypeError, match=r"hx must be a pair \(h0, c0\)"):
        lstm(torch.randn(2, 5, 4), torch.zeros(2, 2, 6))


@pytest.mark.parametrize("lengths, message", [
    ([5, 0], r"lengths must lie in \[1, T\] = \[1, 5\], got values from 0 to 5"),
    ([6, 2], r"lengths must lie in \[1, T\] = \[1, 5\], got values from 2 to 6"),
    ([5, 2, 1], r"lengths has shape \(3,\), expected \(N,\) = \(2,\)"),
])
@pytest.mark.parametrize("impl", ["loop", "fused"])
def test_lengths_out_of_range_or_wrong_size(lstm, lengths, message, impl):
    lstm.impl = impl
    with pytest.raises(ValueError, match=message):
        lstm(torch.randn(2, 5, 4), lengths=lengths)


def test_lengths_must_be_integers(lstm):
    with pytest.raises(ValueError, match=r"lengths has dtype torch.float32, expected an integer array"):
        lstm(torch.randn(2, 5, 4), lengths=torch.tensor([5.0, 2.0]))


def test_dtype_must_match_the_parameters(lstm):
    with pytest.raises(ValueError, match=r"input has dtype torch.float64, expected torch.float32"):
        lstm(torch.randn(2, 5, 4, dtype=torch.float64))


def test_unknown_impl_and_cell():
    with pytest.raises(ValueError, match=r"impl is 'cudnn', expected one of \('loop', 'fused'\)"):
        st.LSTM(4, 6, impl="cudnn")
    with pytest.raises(ValueError, match=r"cell is 'transformer', expected one of"):
        st.make_rnn("transformer", 4, 6)
    with pytest.raises(ValueError, match=r"nonlinearity is 'sigmoid', expected one of \('tanh', 'relu'\)"):
        st.RNN(4, 6, nonlinearity="sigmoid")


def test_cell_input_of_wrong_rank_and_state():
    cell = st.LSTMCell(4, 6)
    with pytest.raises(ValueError, match=r"input has shape \(4,\), expected 2 dimensions \(N, D\)"):
        cell(torch.randn(4))
    with pytest.raises(ValueError, match=r"c has shape \(3, 5\), expected \(N, H\) = \(3, 6\)"):
        cell(torch.randn(3, 4), (torch.zeros(3, 6), torch.zeros(3, 5)))


def test_layer_function_arguments():
    x, h0 = torch.randn(2, 5, 4), torch.zeros(2, 6)
    w_ih, w_hh = torch.randn(24, 4), torch.randn(24, 5)
    with pytest.raises(ValueError, match=r"w_hh has shape \(24, 5\), expected \(4H, H\) = \(24, 6\)"):
        st.lstm_layer(x, h0, h0, w_ih, w_hh)


def test_model_token_ids_are_checked():
    lm = st.RNNLM(10, 8, 8)
    with pytest.raises(ValueError, match=r"tokens has a value 10 outside \[0, V\) = \[0, 10\)"):
        lm(torch.tensor([[0, 10]]))
    with pytest.raises(ValueError, match=r"tokens has dtype torch.float32, expected an integer array"):
        lm(torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"tie_weights needs embed_size == hidden_size, got 8 and 16"):
        st.RNNLM(10, 8, 16, tie_weights=True)


def test_seq2seq_arguments():
    model = st.Seq2Seq(7, 9, 8, 8)
    with pytest.raises(ValueError, match=r"tgt has shape \(3, 4\), expected \(N, T\) = \(2, 4\)"):
        model(torch.zeros(2, 5, dtype=torch.long), torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"teacher_forcing_ratio is 1.5"):
        model(torch.zeros(2, 5, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long), teacher_forcing_ratio=1.5)


def test_value_checks_never_read_a_tensor_off_the_host():
    """Ids and lengths are range-checked only in CPU memory: on a GPU the read would be a
    host-device synchronisation in every forward pass. A meta tensor has no values at all,
    so any read of one raises; the checks must return without touching it."""
    from seqlib.shapes import check_ids
    from seqlib.torch.stacked import check_lengths

    ids = torch.empty(2, 3, dtype=torch.long, device="meta")
    check_ids("tokens", ids, 5)
    assert check_lengths(torch.empty(2, dtype=torch.long, device="meta"), 2, 3).device.type == "meta"
    with pytest.raises(RuntimeError, match="meta"):  # what a read of a meta tensor does
        int(ids.min())


def test_seq2seq_forward_checks_each_argument_once(monkeypatch):
    import seqlib.torch.model_parts as mp

    seen = []
    real = mp.check_ids
    monkeypatch.setattr(mp, "check_ids", lambda name, ids, V: (seen.append(name), real(name, ids, V)))
    st.Seq2Seq(7, 9, 8, 8)(torch.zeros(2, 5, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long))
    assert seen == ["src", "tgt"]
