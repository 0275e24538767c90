"""Checks used by the tests inside the assignments, and (in the submodules) the trusted grader.

A failing check says what was expected and what came back, so a student who reads a
red cell knows what to fix::

    CheckFailed: rnn_step_forward next_h (N=2, D=3, H=4) differs from the expected values.
      largest relative error 3.2e-01 (allowed 1e-08) at index (0, 2): got 0.1203, expected 0.4471

    CheckFailed: rnn_step_forward returned one array of shape (1, 2); expected a pair
    (next_h, cache): did you forget to return cache?

The checks raise ``CheckFailed``, an AssertionError. Each check marks its own frame with a local
``__tracebackhide__ = True``; in Jupyter (IPython) the traceback of a CheckFailed leaves those
frames out, so it ends at the line of the test that failed and at the student's own code, never
inside this module. The message is the exception's text, so the grader's record of a failed
test (and the feedback) carries it unchanged.

The same test cells run in two places. In the student's notebook they call the student's
functions directly and teach. When the work is graded they run in the grader's own process
(seqlib.grading.job), where each solution name stands for the student's function running in
a sandboxed worker (seqlib.grading.remote, .sandbox, .worker): whatever the student's code
does to NumPy, to these checks or to anything else, it does in the worker, not here.

Modules: ``job`` grades one submission, ``course`` a class (nbgrader's gradebook, parallel
jobs, the summary table), ``notebook`` reads assignments and submissions, ``similarity``
flags copied code, ``feedback`` keeps hidden tests out of the feedback (and names each test,
typesets its maths, runs no script), ``links`` points a release and its feedback at the built
chapter pages, ``release`` makes ``assignments/`` from ``solutions/``.
"""

from __future__ import annotations

import types as _types
from typing import Callable

import numpy as _np

from seqlib.gradcheck import numerical_gradient as _numerical_gradient

# Bound at import, so that a test cell rebinding numpy's names in a notebook changes no check.
_asarray, _abs, _maximum, _argmax = _np.asarray, _np.abs, _np.maximum, _np.argmax
_unravel, _isfinite, _float64, _ndarray = _np.unravel_index, _np.isfinite, _np.float64, _np.ndarray


def _without_hidden_frames(tb):
    """tb without the frames that hide themselves (a local __tracebackhide__ = True)."""
    kept = []
    while tb is not None:
        if tb.tb_frame.f_locals.get("__tracebackhide__") is not True:
            kept.append(tb)
        tb = tb.tb_next
    out = None
    for t in reversed(kept):
        out = _types.TracebackType(out, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return out


class _Hidden:
    """IPython draws an exception through its ``_render_traceback_`` when it has one: the
    checks' exceptions are drawn as IPython would draw them, minus the checks' own frames
    (IPython alone hides such frames only between two others, never the one that raised)."""

    def _render_traceback_(self):
        tb = _without_hidden_frames(self.__traceback__)
        try:
            from IPython import get_ipython

            return get_ipython().InteractiveTB.structured_traceback(type(self), self, tb)
        except Exception:  # noqa: BLE001 - no IPython, or a formatter that changed: plain text
            import traceback

            return "".join(traceback.format_exception(type(self), self, tb)).splitlines()


class CheckFailed(_Hidden, AssertionError):
    """A check failed: the message says what was expected and what came back."""


class CheckError(_Hidden, Exception):
    """A check could not be made: its expected value is NaN or infinite (computed from what a
    student's code returned, say). A test that raises it is an error, never a pass."""


def expect_array(what: str, got, shape: tuple[int, ...]) -> None:
    """Fail unless got is a NumPy array of exactly the given shape."""
    __tracebackhide__ = True
    if not isinstance(got, _ndarray):
        raise CheckFailed(f"{what}: expected a NumPy array of shape {shape}, got {type(got).__name__}")
    if got.shape != tuple(shape):
        raise CheckFailed(f"{what}: expected shape {tuple(shape)}, got {got.shape}")


def expect_close(what: str, got, expected, tol: float = 1e-8) -> None:
    """Fail unless got matches expected elementwise to relative error tol.

    Relative error is |got - expected| / max(1e-8, |got| + |expected|), the measure the
    gradient checks of the course use.
    """
    __tracebackhide__ = True
    expected = _asarray(expected, dtype=_float64)
    if not _isfinite(expected).all():
        # NaN compares as "not larger than tol": without this a NaN expected value would pass.
        raise CheckError(f"{what}: the expected value contains NaN or infinity, so nothing can match it")
    expect_array(what, got, expected.shape)
    got = _asarray(got, dtype=_float64)
    if not _isfinite(got).all():
        raise CheckFailed(f"{what}: contains NaN or infinity")
    err = _abs(got - expected) / _maximum(1e-8, _abs(got) + _abs(expected))
    if err.size == 0:
        return
    worst = int(_argmax(err))
    if err.flat[worst] > tol:
        at = tuple(int(i) for i in _unravel(worst, err.shape))
        raise CheckFailed(
            f"{what} differs from the expected values.\n"
            f"  largest relative error {err.flat[worst]:.1e} (allowed {tol:.0e}) at index {at}: "
            f"got {got.flat[worst]:.6g}, expected {expected.flat[worst]:.6g}"
        )


def expect_gradient(what: str, f: Callable, inputs: list, wrt: int, analytic, dout, tol: float = 1e-6) -> None:
    """Fail unless analytic matches the centred finite-difference gradient of f.

    f is called as f(*inputs); the gradient is that of sum(f(*inputs) * dout) with respect
    to inputs[wrt]. The inputs are copied, so f may be the student's own forward function.
    """
    __tracebackhide__ = True
    numeric = _numerical_gradient(f, inputs, wrt, dout)
    expect_close(f"{what} (against a finite-difference gradient)", analytic, numeric, tol)


def expect_returns(what: str, got, names: tuple) -> None:
    """Fail unless got, what the function called what returned, holds one value for each of
    names: a tuple or a list, checked before a test unpacks it (``next_h, cache = got``).

    names: the values' names, a nested tuple for a value that is a tuple itself, as
    ``("output", ("h_n", "c_n"))``. The message says what came back and what was due::

        rnn_step_forward returned one array of shape (1, 2); expected a pair (next_h, cache):
        did you forget to return cache?
    """
    __tracebackhide__ = True
    names = tuple(names)
    if _holds(got, names):
        return
    hint = ""
    if got is None:
        hint = ": is a return statement missing?"
    elif not _is_sequence(got) and len(names) > 1:
        hint = f": did you forget to return {' and '.join(_form(n, inner=True) for n in names[1:])}?"
    raise CheckFailed(f"{what} returned {_describe(got, top=True)}; expected {_form(names)}{hint}")


def _is_sequence(v) -> bool:
    # a tuple the grader keeps in the student's worker comes back as a handle that says its type
    return isinstance(v, (tuple, list)) or getattr(v, "_type_name", None) in ("tuple", "list")


def _holds(got, names) -> bool:
    if not isinstance(names, tuple):
        return True
    if not _is_sequence(got) or len(got) != len(names):
        return False
    return all(_holds(g, n) for g, n in zip(got, names))


def _form(names, inner: bool = False) -> str:
    """("next_h", "cache") -> 'a pair (next_h, cache)'; inner: the bare '(next_h, cache)'."""
    if not isinstance(names, tuple):
        return str(names)
    listed = "(" + ", ".join(_form(n, inner=True) for n in names) + ")"
    if inner:
        return listed
    return f"a pair {listed}" if len(names) == 2 else f"{len(names)} values {listed}"


def _describe(v, top: bool = False) -> str:
    """What a returned value is, in words: 'one array of shape (1, 2)', 'None', '3 values (...)'."""
    if v is None:
        return "None"
    shape = getattr(v, "shape", None)
    if isinstance(v, _ndarray):
        return f"{'one' if top else 'an'} array of shape {v.shape}"
    if type(v).__module__.split(".")[0] == "torch" and shape is not None:
        return f"{'one' if top else 'a'} tensor of shape {tuple(shape)}"
    if _is_sequence(v):
        kind = "tuple" if isinstance(v, tuple) else "list" if isinstance(v, list) else v._type_name
        if not top:
            return f"a {kind} of {len(v)} values"
        shown = ", ".join(_describe(x) for x in list(v)[:6]) + (", ..." if len(v) > 6 else "")
        return f"{len(v)} values ({shown})" if len(v) != 1 else f"a {kind} of one value ({shown})"
    if isinstance(v, (bool, int, float, _np.generic)):
        return f"{'one' if top else 'a'} {type(v).__name__}, {v!r}"
    name = getattr(v, "_type_name", type(v).__name__)
    return f"{'one' if top else 'a'} {name}"


# --------------------------------------------------------------------------- PyTorch checks
# torch is imported only when a torch check runs: the NumPy assignments never need it.


def expect_tensor(what: str, got, expected, tol: float = 1e-8) -> None:
    """Fail unless got is a torch tensor of expected's shape that matches it to relative
    error tol (the measure of expect_close). A NumPy array where a tensor was due fails."""
    __tracebackhide__ = True
    import torch

    expected = torch.as_tensor(expected)
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{what}: expected a torch tensor of shape {tuple(expected.shape)}, "
                             f"got {type(got).__name__}")
    if tuple(got.shape) != tuple(expected.shape):
        raise CheckFailed(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
    expect_close(what, got.detach().cpu().double().numpy(), expected.detach().cpu().double().numpy(), tol)


def expect_gradcheck(what: str, fn: Callable, inputs, atol: float = 1e-6, rtol: float = 1e-4,
                     fast_mode: bool = False) -> None:
    """Fail unless torch.autograd.gradcheck passes for fn at inputs (float64 tensors; other
    arguments are passed through).

    fn(*inputs) returns a tensor or a tuple of tensors. fn may be the student's function as
    the grader sees it (seqlib.grading.remote): gradcheck then runs here, in the grader, and
    only fn's calls run in the worker: each forward call there, and each backward through
    autograd there (seqlib.grading.harness.grads, with gradcheck's output gradients), so
    the finite differences and the comparison are the grader's own. fast_mode: gradcheck's
    (random projections of the Jacobians): far fewer calls, for functions of many inputs.
    """
    __tracebackhide__ = True
    import torch
    from torch.autograd.gradcheck import GradcheckError

    from seqlib.grading import harness

    inputs = tuple(inputs)
    for k, x in enumerate(inputs):
        if isinstance(x, torch.Tensor) and x.dtype.is_floating_point and x.dtype != torch.float64:
            raise ValueError(f"expect_gradcheck needs float64 tensors: input {k} is {x.dtype}")
    arity = {}

    class Through(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *xs):
            ctx.xs = xs
            out = fn(*xs)
            arity["tuple"] = isinstance(out, (tuple, list))
            outs = tuple(out) if arity["tuple"] else (out,)
            if not all(isinstance(o, torch.Tensor) for o in outs):
                raise CheckFailed(f"{what}: expected a tensor or a tuple of tensors, got "
                                     f"{', '.join(type(o).__name__ for o in outs)}")
            return tuple(o.detach().clone() for o in outs)

        @staticmethod
        def backward(ctx, *douts):
            with torch.enable_grad():  # a Function's backward runs without it; fn's own graph needs it
                _, grads = harness.grads(fn, list(ctx.xs), list(douts) if arity["tuple"] else douts[0])
            out = []
            for k, x in enumerate(ctx.xs):
                if isinstance(x, torch.Tensor) and x.requires_grad:
                    g = grads[k]  # None where autograd found no path from x to the outputs
                    out.append(torch.zeros_like(x) if g is None else g)
                else:
                    out.append(None)
            return tuple(out)

    leaves = tuple(x.detach().clone().requires_grad_(True) if isinstance(x, torch.Tensor) and
                   x.dtype.is_floating_point else x for x in inputs)
    try:
        torch.autograd.gradcheck(lambda *xs: Through.apply(*xs), leaves, atol=atol, rtol=rtol, fast_mode=fast_mode)
    except GradcheckError as err:
        text = str(err)
        raise CheckFailed(f"{what}: torch.autograd.gradcheck finds that the gradients autograd computes "
                             f"through your code differ from finite differences of it (a detach(), .data, "
                             f"NumPy or an in-place change inside breaks the graph):\n{text[:1500]}") from None
