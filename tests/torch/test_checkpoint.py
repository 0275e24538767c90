"""Checkpoints round-trip (weights, config, vocabulary) and hold plain data only."""

import pickle

import pytest
import torch

import seqlib.torch as st
from torch_helpers import assert_close


@pytest.mark.parametrize("make", [
    lambda: st.RNNLM(10, 8, 8, num_layers=2, cell="gru", tie_weights=True),
    lambda: st.SentenceClassifier(10, 4, 6, num_classes=3, bidirectional=True),
    lambda: st.Seq2Seq(10, 12, 4, 6, cell="rnn"),
])
def test_round_trip_rebuilds_the_same_model(tmp_path, make):
    model = make().eval()
    vocab = {"<pad>": 0, "<unk>": 1, "the": 2}
    path = tmp_path / "model.pt"
    st.save(path, model, vocab=vocab, epoch=3)
    loaded, ckpt = st.load_model(path)
    assert type(loaded) is type(model)
    assert ckpt["vocab"] == vocab and ckpt["extra"] == {"epoch": 3} and ckpt["config"] == model.config
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    tokens = torch.randint(0, 10, (2, 5))
    args = (tokens, tokens) if isinstance(model, st.Seq2Seq) else (tokens,)
    first = lambda out: out[0] if isinstance(out, tuple) else out  # noqa: E731
    assert_close("outputs", first(loaded.eval()(*args)), first(model(*args)), 0.0)


def test_checkpoint_is_loadable_with_weights_only(tmp_path):
    path = tmp_path / "m.pt"
    st.save(path, st.RNNLM(5, 4, 4), vocab=["a", "b", "c", "d", "e"])
    ckpt = torch.load(path, weights_only=True)  # raises if anything but plain data is inside
    assert ckpt["model"] == "RNNLM" and ckpt["vocab"][0] == "a"


def test_objects_are_refused_on_save(tmp_path):
    class Vocab:
        pass

    with pytest.raises(TypeError, match=r"vocab is a Vocab; a checkpoint holds plain data only"):
        st.save(tmp_path / "m.pt", st.RNNLM(5, 4, 4), vocab=Vocab())
    with pytest.raises(TypeError, match=r"vocab\['src'\]\[1\] is a set"):
        st.save(tmp_path / "m.pt", st.RNNLM(5, 4, 4), vocab={"src": ["a", {"b"}]})
    assert not (tmp_path / "m.pt").exists()


def test_foreign_files_are_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match=r"is not a seqlib checkpoint"):
        st.load(path)
    evil = tmp_path / "evil.pt"
    torch.save({"format": 1, "x": Unsafe()}, evil)  # an arbitrary object: could run code on load
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        st.load(evil)


class Unsafe:
    """Any class at all: weights_only loading must refuse to construct it."""
