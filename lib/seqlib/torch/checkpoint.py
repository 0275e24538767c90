"""Checkpoints: weights, the model's config and the vocabulary, loaded without pickle code.

Chapter: "Language models" (saving a trained model and reloading it for generation).

A checkpoint is a dict of plain data and tensors, so torch.load(weights_only=True) reads it:
a checkpoint downloaded from elsewhere cannot run code on load. That is also why the
vocabulary must be plain data (a list of tokens or a dict token -> id), not an object.

    {"format": 2, "model": "RNNLM", "config": asdict(LMConfig(...)), "state_dict": {...},
     "vocab": [...], "extra": {...}}

``save(..., int8=True)`` stores every weight matrix as int8 with one float32 scale per row
(symmetric: w ≈ q * scale, |q| <= 127), about a quarter of float32's size, in format 3; ``load``
turns them back into float32, so the rest of the code never sees the difference. It is for
shipping a trained model (chapter 7's copies in bench/checkpoints), not for training on.

Format 1 (before the config dataclasses) stored the constructor's keyword arguments as
"config": the same names as the fields of today's configs, so such checkpoints still load.
One whose config does not fit (a field that no longer exists, one that is missing) fails
with a message that names the fields and says what to do.
"""

from __future__ import annotations

import dataclasses

import torch

FORMAT = 2
INT8_FORMAT = 3  #: format 2 with int8 weight matrices and their row scales ("int8_scales")
READS = (1, 2, 3)  #: the formats load() accepts
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


def plain_config(config) -> dict:
    """A config as a checkpoint stores it: dataclasses.asdict of a config dataclass, or a
    copy of a dict (a model of one's own may keep its config as a dict)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, dict):
        return dict(config)
    raise TypeError(f"config is a {type(config).__name__}; expected a config dataclass or a dict")


def quantize_int8(state_dict: dict) -> tuple[dict, dict]:
    """Every floating matrix (2 or more dimensions) of state_dict as int8 q with float32 row
    scales s, w ≈ q * s[:, None, ...], s = max |w| of the row / 127; vectors stay as they are.
    Returns (the new state dict, {name: s}). dequantize_int8 undoes it, to within s / 2."""
    state, scales = {}, {}
    for name, w in state_dict.items():
        if not (w.is_floating_point() and w.dim() >= 2):
            state[name] = w
            continue
        w = w.detach().float()
        s = w.abs().reshape(w.shape[0], -1).amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / 127
        shape = (-1,) + (1,) * (w.dim() - 1)
        state[name] = torch.round(w / s.reshape(shape)).clamp(-127, 127).to(torch.int8)
        scales[name] = s
    return state, scales


def dequantize_int8(state_dict: dict, scales: dict) -> dict:
    """The float32 state dict that quantize_int8's output stands for."""
    out = dict(state_dict)
    for name, s in scales.items():
        q = state_dict[name]
        out[name] = q.float() * s.reshape((-1,) + (1,) * (q.dim() - 1))
    return out


def save(path, model: torch.nn.Module, vocab=None, config=None, *, int8=False, **extra) -> None:
    """Save model.state_dict() with its config (default: model.config) and vocab.

    config: a config dataclass (LMConfig ...) or a dict; stored as plain data.
    vocab: a list of tokens, a dict token -> id (or a dict of such, e.g. source and
    target), or None. extra: more plain data (epoch, validation loss ...).
    int8: store the weight matrices as int8 with row scales (format 3, see the module docstring).
    """
    config = getattr(model, "config", None) if config is None else config
    if config is None:
        raise ValueError("config is None and the model has no .config: pass config=dict(...) to rebuild it")
    config = plain_config(config)
    _check_plain("config", config)
    _check_plain("vocab", vocab)
    _check_plain("extra", extra)
    ckpt = {"format": FORMAT, "model": type(model).__name__, "config": config,
            "state_dict": model.state_dict(), "vocab": vocab, "extra": extra}
    if int8:
        ckpt["state_dict"], ckpt["int8_scales"] = quantize_int8(ckpt["state_dict"])
        ckpt["format"] = INT8_FORMAT
    torch.save(ckpt, path)


def load(path, map_location=None) -> dict:
    """Read a checkpoint written by save (weights_only=True): a dict with the keys above."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        raise ValueError(f"{path} is not a seqlib checkpoint (no 'format' key)")
    if ckpt["format"] not in READS:
        raise ValueError(f"{path} is a seqlib checkpoint of format {ckpt['format']!r}; this seqlib reads "
                         f"formats {READS}: load it with the seqlib that wrote it, or update seqlib")
    if ckpt["format"] == INT8_FORMAT:
        ckpt["state_dict"] = dequantize_int8(ckpt["state_dict"], ckpt.pop("int8_scales"))
        ckpt["format"] = FORMAT  # what the caller holds now: float32 weights
    return ckpt


def config_from_checkpoint(config_class, ckpt: dict, path=""):
    """config_class(**ckpt["config"]), or a ValueError that says which fields do not fit and what to do."""
    stored = ckpt["config"]
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(stored) - set(fields))
    missing = sorted(name for name, f in fields.items() if name not in stored
                     and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    if unknown or missing:
        problems = "; ".join(p for p in (unknown and f"fields {config_class.__name__} does not have: {unknown}",
                                         missing and f"fields it needs and the checkpoint lacks: {missing}") if p)
        raise ValueError(
            f"{path}: the config of this {ckpt['model']} checkpoint (format {ckpt['format']}) does not fit "
            f"{config_class.__name__} ({problems}). Build the model yourself, "
            f"model = {ckpt['model']}.from_config({config_class.__name__}(...)) with the sizes of "
            f"ckpt['config'], then model.load_state_dict(ckpt['state_dict']) and seqlib.torch.save it again "
            f"(it is written in format {FORMAT})")
    return config_class(**stored)


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
    cls = models[ckpt["model"]]
    model = cls.from_config(config_from_checkpoint(cls.config_class, ckpt, path))
    model.load_state_dict(ckpt["state_dict"], strict=True)
    if map_location is not None:
        model.to(map_location)
    return model, ckpt
