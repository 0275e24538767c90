"""Checkpoints: weights, the constructor's config and the vocabulary, loaded without pickle code.

Chapter: "Language models" (saving a trained model and reloading it for generation).

A checkpoint is a dict of plain data and tensors, so torch.load(weights_only=True) reads it:
a checkpoint downloaded from elsewhere cannot run code on load. That is also why the
vocabulary must be plain data (a list of tokens or a dict token -> id), not an object.

    {"format": 1, "model": "RNNLM", "config": {...}, "state_dict": {...}, "vocab": [...], "extra": {...}}
"""

from __future__ import annotations

import torch

FORMAT = 1
_PLAIN = (str, int, float, bool, type(None))


def _check_plain(name: str, value, where: str = "") -> None:
    where = where or name
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, (list, tuple)):
        for k, v in enumerate(value):
            _check_plain(name, v, f"{where}[{k}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where} has a key of type {type(k).__name__}; keys must be str or int")
            _check_plain(name, v, f"{where}[{k!r}]")
        return
    raise TypeError(f"{where} is a {type(value).__name__}; a checkpoint holds plain data only "
                    "(str, int, float, bool, None, lists and dicts of them)")


def plain_records(records: list[dict]) -> list[dict]:
    """records (a training history, say) with NumPy and torch scalars turned into Python ones
    and every other non-plain value left out, so that a checkpoint can hold them."""
    out = []
    for rec in records:
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()
                    if isinstance(v, _PLAIN) or hasattr(v, "item")})
    return out


def save(path, model: torch.nn.Module, vocab=None, config: dict | None = None, **extra) -> None:
    """Save model.state_dict() with its config (default: model.config) and vocab.

    vocab: a list of tokens, a dict token -> id (or a dict of such, e.g. source and
    target), or None. extra: more plain data (epoch, validation loss ...).
    """
    config = getattr(model, "config", None) if config is None else config
    if config is None:
        raise ValueError("config is None and the model has no .config: pass config=dict(...) to rebuild it")
    _check_plain("config", config)
    _check_plain("vocab", vocab)
    _check_plain("extra", extra)
    torch.save({"format": FORMAT, "model": type(model).__name__, "config": dict(config),
                "state_dict": model.state_dict(), "vocab": vocab, "extra": extra}, path)


def load(path, map_location=None) -> dict:
    """Read a checkpoint written by save (weights_only=True): a dict with the keys above."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a seqlib checkpoint (format {FORMAT})")
    return ckpt


def load_model(path, map_location=None):
    """Rebuild a seqlib.torch model (RNNLM, SentenceClassifier, Seq2Seq) from a checkpoint.

    Returns (model, checkpoint); the weights are loaded with strict=True.
    """
    from seqlib.torch.classifier import SentenceClassifier
    from seqlib.torch.lm import RNNLM
    from seqlib.torch.seq2seq import Seq2Seq

    models = {cls.__name__: cls for cls in (RNNLM, SentenceClassifier, Seq2Seq)}
    ckpt = load(path, map_location)
    if ckpt["model"] not in models:
        raise ValueError(f"{path} holds a {ckpt['model']}; load_model rebuilds only {sorted(models)}")
    model = models[ckpt["model"]](**ckpt["config"])
    model.load_state_dict(ckpt["state_dict"], strict=True)
    if map_location is not None:
        model.to(map_location)
    return model, ckpt
