"""Checkpoints round-trip (weights, config, vocabulary) and hold plain data only."""

import dataclasses
import pickle

import pytest
import torch

import seqlib.torch as st
from torch_helpers import assert_close


@pytest.mark.parametrize("make", [
    lambda: st.RNNLM(10, 8, 8, num_layers=2, cell="gru", tie_weights=True),
    lambda: st.SentenceClassifier(10, 4, 6, num_classes=3, bidirectional=True),
    lambda: st.Seq2Seq(10, 12, 4, 6, cell="rnn"),
    lambda: st.Seq2Seq(10, 12, 4, 6, cell="gru", attention="additive"),
])
def test_round_trip_rebuilds_the_same_model(tmp_path, make):
    model = make().eval()
    vocab = {"<pad>": 0, "<unk>": 1, "the": 2}
    path = tmp_path / "model.pt"
    st.save(path, model, vocab=vocab, epoch=3)
    loaded, ckpt = st.load_model(path)
    assert type(loaded) is type(model)
    assert ckpt["vocab"] == vocab and ckpt["extra"] == {"epoch": 3}
    assert ckpt["format"] == 2 and ckpt["config"] == dataclasses.asdict(model.config)
    assert loaded.config == model.config and type(loaded.config) is model.config_class
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


def _format_1(path, model, config):
    """A checkpoint as seqlib wrote it before the config dataclasses: config = constructor kwargs."""
    torch.save({"format": 1, "model": type(model).__name__, "config": config,
                "state_dict": model.state_dict(), "vocab": None, "extra": {"epoch": 1}}, path)


def test_a_format_1_checkpoint_still_loads(tmp_path):
    model = st.Seq2Seq(10, 12, 4, 6, num_layers=2, cell="gru").eval()
    kwargs = dict(src_vocab_size=10, tgt_vocab_size=12, embed_size=4, hidden_size=6, num_layers=2, cell="gru",
                  dropout=0.0, impl="loop")
    _format_1(tmp_path / "old.pt", model, kwargs)
    loaded, ckpt = st.load_model(tmp_path / "old.pt")
    assert ckpt["format"] == 1 and loaded.config == st.Seq2SeqConfig(**kwargs)
    src, tgt = torch.randint(0, 10, (2, 5)), torch.randint(0, 12, (2, 4))
    assert_close("outputs", loaded.eval()(src, tgt), model(src, tgt), 0.0)


def test_a_format_1_checkpoint_that_does_not_fit_says_what_to_do(tmp_path):
    model = st.RNNLM(5, 4, 4)
    _format_1(tmp_path / "old.pt", model, dict(vocab_size=5, embed_size=4, hidden_size=4, rnn_type="lstm"))
    with pytest.raises(ValueError) as err:
        st.load_model(tmp_path / "old.pt")
    message = str(err.value)
    assert "format 1" in message and "LMConfig does not have: ['rnn_type']" in message
    assert "RNNLM.from_config(LMConfig(...))" in message and "load_state_dict" in message
    _format_1(tmp_path / "short.pt", model, dict(vocab_size=5, embed_size=4))
    with pytest.raises(ValueError, match=r"fields it needs and the checkpoint lacks: \['hidden_size'\]"):
        st.load_model(tmp_path / "short.pt")


def test_a_checkpoint_from_a_newer_format_is_refused_with_the_formats_read(tmp_path):
    torch.save({"format": 4, "model": "RNNLM", "config": {}}, tmp_path / "new.pt")
    with pytest.raises(ValueError, match=r"format 4; this seqlib reads formats \(1, 2, 3\)"):
        st.load(tmp_path / "new.pt")


def test_models_are_built_from_their_configs():
    cfg = st.LMConfig(vocab_size=7, embed_size=6, hidden_size=6, num_layers=2, cell="gru", tie_weights=True)
    model = st.RNNLM.from_config(cfg)
    assert model.config == cfg and model.out.weight is model.embed.weight and model.rnn.num_layers == 2
    assert st.RNNLM(7, 6, 6, num_layers=2, cell="gru", tie_weights=True).config == cfg  # the same, by arguments
    model.impl = "fused"
    assert model.config.impl == "fused" and model.rnn.impl == "fused", "the config follows the impl switch"
    with pytest.raises(TypeError, match="RNNLM.from_config takes a config of type LMConfig, got ClassifierConfig"):
        st.RNNLM.from_config(st.ClassifierConfig(5, 4, 4, num_classes=2))
    for bad, match in [(dict(hidden_size=0), "hidden_size is 0, expected a positive integer"),
                       (dict(cell="lstmm"), "cell is 'lstmm'"), (dict(impl="cuda"), "impl is 'cuda'"),
                       (dict(dropout=1.0), r"dropout is 1.0, expected a probability in \[0, 1\)"),
                       (dict(embed_size=5), "tie_weights needs embed_size == hidden_size")]:
        with pytest.raises(ValueError, match=match):
            dataclasses.replace(cfg, **bad)


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


def test_int8_checkpoints_store_a_quarter_and_load_as_float32(tmp_path):
    torch.manual_seed(0)
    model = st.Seq2Seq(50, 60, 16, 32, cell="lstm", attention="bilinear").eval()
    st.save(tmp_path / "full.pt", model)
    st.save(tmp_path / "int8.pt", model, int8=True, note="shipped")
    raw = torch.load(tmp_path / "int8.pt", weights_only=True)
    assert raw["format"] == 3 and raw["state_dict"]["out.weight"].dtype == torch.int8
    assert raw["state_dict"]["out.bias"].dtype == torch.float32, "vectors are kept as they are"
    assert (tmp_path / "int8.pt").stat().st_size < 0.4 * (tmp_path / "full.pt").stat().st_size
    loaded, ckpt = st.load_model(tmp_path / "int8.pt")
    assert ckpt["extra"] == {"note": "shipped"} and "int8_scales" not in ckpt
    for name, w in model.state_dict().items():
        got = loaded.state_dict()[name]
        assert got.dtype == torch.float32, name
        row_max = w.abs().reshape(w.shape[0], -1).amax(1) if w.dim() >= 2 else w.abs().max()
        # symmetric rounding: within half a step (row max / 127 / 2) of the original, every entry
        err = (got - w).abs().reshape(w.shape[0], -1).amax(1) if w.dim() >= 2 else (got - w).abs().max()
        assert (err <= row_max / 254 + 1e-7).all(), name
    src, tgt = torch.randint(0, 50, (2, 5)), torch.randint(0, 60, (2, 4))
    assert (loaded(src, tgt) - model(src, tgt)).abs().max() < 0.05

