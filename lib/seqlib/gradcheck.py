"""Centred finite differences: the ground truth every hand-written backward is tested against.

Explained in the chapter "Backpropagation through time"; used by the tests and by the
hidden tests of every assignment. Checks are meant for float64 inputs: in float32 the
rounding error of a difference quotient swamps the comparison.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def rel_error(a, b) -> float:
    """Largest elementwise relative error |a - b| / max(1e-8, |a| + |b|)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(
    f: Callable[..., object],
    inputs: Sequence[np.ndarray],
    wrt: int,
    dout: np.ndarray | None = None,
    h: float = 1e-4,
) -> np.ndarray:
    """Gradient of sum(f(*inputs) * dout) with respect to inputs[wrt], by centred differences.

    The five-point centred stencil
        (-f(x + 2h) + 8 f(x + h) - 8 f(x - h) + f(x - 2h)) / 12h
    has truncation error O(h^4) (the two-point (f(x + h) - f(x - h)) / 2h has O(h^2)), so h
    can be large enough that rounding error stays near 1e-12: a float64 check can then
    demand relative errors below 1e-7 even for small gradient entries.

    f:      called as f(*inputs); returns an array shaped like dout, or a scalar when dout is None.
            Only the first element is used when f returns a tuple, so f may be a *_forward function.
    inputs: the arguments of f. They are copied: the caller's arrays are never modified,
            even when f modifies its arguments in place.
    wrt:    index into inputs of the array to differentiate.
    dout:   upstream gradient, the weights of the sum; None when f returns a scalar loss.
    """
    # IPython leaves these frames out of a student's traceback: an error inside their function
    # then reads from the test's line straight to their own code.
    __tracebackhide__ = True
    args = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in inputs]
    x = args[wrt]
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise ValueError(f"inputs[{wrt}] must be a floating-point array to differentiate")

    def value() -> np.ndarray:
        __tracebackhide__ = True
        fresh = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]
        out = f(*fresh)
        if isinstance(out, tuple):
            out = out[0]
        out = np.asarray(out, dtype=np.float64)
        if dout is None and out.size != 1:
            raise ValueError(f"f returned shape {out.shape}; pass dout for non-scalar outputs")
        if dout is not None and out.shape != np.shape(dout):
            raise ValueError(f"f returned shape {out.shape}, dout has shape {np.shape(dout)}")
        return out

    weights = 1.0 if dout is None else np.asarray(dout, dtype=np.float64)
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        shifted = {}
        for k in (-2, -1, 1, 2):
            flat[i] = old + k * h
            shifted[k] = value()
        flat[i] = old
        # Combine elementwise before weighting: outputs the change does not touch cancel
        # exactly, so rounding error does not grow with the size of the output.
        diff = 8 * (shifted[1] - shifted[-1]) - (shifted[2] - shifted[-2])
        gflat[i] = np.sum(diff * weights) / (12 * h)
    return grad


def check_gradients(
    f: Callable[..., object],
    inputs: Sequence[np.ndarray],
    grads: dict[int, np.ndarray],
    dout: np.ndarray | None = None,
    h: float = 1e-4,
) -> dict[int, float]:
    """Relative error of each analytic gradient against numerical_gradient.

    grads maps an index into inputs to the analytic gradient for that input.
    Returns the same keys mapped to rel_error.
    """
    return {i: rel_error(g, numerical_gradient(f, inputs, i, dout, h)) for i, g in grads.items()}
