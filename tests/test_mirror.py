"""One name, one contract: a public name that exists in both engines means the same thing in both.

The course asks readers to put seqlib.numpy and seqlib.torch side by side. Where a module of
one engine and the module of the same name in the other both define a public function or
class of the same name, it must take the same parameters, with the same names, in the same
order and with the same defaults (a class: its constructor's positional parameters, and every
public method the two share; what one engine alone has, such as a seed or dropout, is
keyword-only). Where the two must differ (a NumPy layer returns (out, cache), a PyTorch one
returns out and lets autograd keep the rest), they carry different names; the test finds
every shared name itself, so a new one is checked the day it is written.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
import torch

import seqlib.numpy
import seqlib.torch


def _public(pkg) -> dict[tuple[str, str], object]:
    """(module, name) -> object for every public function and class defined in pkg's modules."""
    out = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        for name, obj in vars(mod).items():
            if not name.startswith("_") and getattr(obj, "__module__", None) == mod.__name__ \
                    and (inspect.isfunction(obj) or inspect.isclass(obj)):
                out[(info.name, name)] = obj
    return out


NUMPY, TORCH = _public(seqlib.numpy), _public(seqlib.torch)
SHARED = sorted(set(NUMPY) & set(TORCH))
NAMES_NUMPY, NAMES_TORCH = {n for _, n in NUMPY}, {n for _, n in TORCH}


def _params(fn, positional_only: bool = False):
    """[(name, kind, default)] of fn's parameters, without self; only the positional ones if asked."""
    out = []
    for p in inspect.signature(fn).parameters.values():
        if p.name == "self" or (positional_only and p.kind is p.KEYWORD_ONLY):
            continue
        out.append((p.name, p.kind, p.default))
    return out


def _methods(cls) -> dict[str, object]:
    own = {}
    for klass in cls.__mro__:
        if klass.__module__.startswith("seqlib."):
            for name, obj in vars(klass).items():
                if not name.startswith("_") and inspect.isfunction(obj):
                    own.setdefault(name, obj)
    return own


def test_the_engines_share_names_and_every_shared_name_is_in_the_same_module():
    assert SHARED, "no shared names found: the discovery is broken"
    # A name in both engines but in modules of different names would escape the test above.
    for name in NAMES_NUMPY & NAMES_TORCH:
        mods_np = {m for m, n in NUMPY if n == name}
        mods_pt = {m for m, n in TORCH if n == name}
        assert mods_np == mods_pt, f"{name} is in seqlib.numpy.{mods_np} but seqlib.torch.{mods_pt}"


@pytest.mark.parametrize("key", SHARED, ids=[f"{m}.{n}" for m, n in SHARED])
def test_a_shared_name_has_one_signature(key):
    a, b = NUMPY[key], TORCH[key]
    assert inspect.isclass(a) == inspect.isclass(b), f"{key}: a class in one engine, a function in the other"
    if inspect.isfunction(a):
        assert _params(a) == _params(b), f"{key}: {inspect.signature(a)} against {inspect.signature(b)}"
        return
    assert _params(a.__init__, True) == _params(b.__init__, True), (
        f"{key}: positional parameters {inspect.signature(a.__init__)} against {inspect.signature(b.__init__)}; "
        "what only one engine has must be keyword-only")
    ma, mb = _methods(a), _methods(b)
    for name in sorted(set(ma) & set(mb)):
        assert _params(ma[name]) == _params(mb[name]), (
            f"{key}.{name}: {inspect.signature(ma[name])} against {inspect.signature(mb[name])}")


def test_the_layer_functions_that_differ_in_what_they_return_have_different_names():
    for cell in ("rnn", "lstm", "gru"):
        assert f"{cell}_forward" in NAMES_NUMPY and f"{cell}_forward" not in NAMES_TORCH
        assert f"{cell}_layer" in NAMES_TORCH and f"{cell}_layer" not in NAMES_NUMPY


def _same_structure(a, b, where):
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), f"{where}: {type(a)} against {type(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _same_structure(x, y, f"{where}[{i}]")
        return
    a = np.asarray(a)
    b = b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, f"{where}: shape {a.shape} against {b.shape}"


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_shared_model_methods_return_the_same_structure(cell):
    rng = np.random.default_rng(0)
    src, lengths = rng.integers(0, 7, size=(3, 5)), np.array([5, 2, 4])
    s2s = (seqlib.numpy.Seq2Seq(7, 9, 4, 6, 2, cell), seqlib.torch.Seq2Seq(7, 9, 4, 6, 2, cell).eval())
    states = [m.encode(src if i == 0 else torch.as_tensor(src), lengths if i == 0 else torch.as_tensor(lengths))
              for i, m in enumerate(s2s)]
    _same_structure(states[0], states[1], f"Seq2Seq.encode ({cell})")
    with torch.no_grad():
        steps = [m.step(np.array([1, 2, 3]), s) for m, s in zip(s2s, states)]
    _same_structure(steps[0], steps[1], f"Seq2Seq.step ({cell})")
    lms = (seqlib.numpy.RNNLM(9, 4, 6, 2, cell), seqlib.torch.RNNLM(9, 4, 6, 2, cell).eval())
    with torch.no_grad():
        steps = [m.step(np.array([1, 2, 3])) for m in lms]
    _same_structure(steps[0], steps[1], f"RNNLM.step ({cell})")
