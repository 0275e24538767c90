"""Gradient clipping, the remedy for exploding gradients.

Chapter: "Backpropagation through time" (exploding and vanishing gradients). The lecture's
algorithm rescales the whole gradient when its norm passes a threshold, which keeps its
direction; min-char-rnn clips every entry to an interval, which does not. Both act in
place on a dict name -> array, the ``grads`` a model's ``loss`` returns. The PyTorch
counterparts are ``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``.
"""

from __future__ import annotations

import numpy as np

from seqlib.numpy.optim import check_named_arrays


def _check_grads(grads) -> None:
    # The gradients are checked against themselves: float, finite, any shape.
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict name -> array, got {type(grads).__name__}")
    check_named_arrays("grads", grads, "grads", grads)


def _check_threshold(name: str, value) -> float:
    value = float(value)
    if not value > 0 or not np.isfinite(value):
        raise ValueError(f"{name} is {value}, expected a positive number")
    return value


def global_norm(grads: dict) -> float:
    """The Euclidean norm of all gradients taken together, as if concatenated into one vector."""
    _check_grads(grads)
    return _global_norm(grads)


def _global_norm(grads: dict) -> float:
    return float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))


def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """Rescale all gradients together, in place, so that their global norm is at most max_norm.

    The lecture's algorithm, with g the concatenation of every gradient:

        if ||g|| > max_norm:  g <- max_norm * g / ||g||

    grads: dict name -> array of any shape, modified in place.
    Returns the global norm before clipping (what torch.nn.utils.clip_grad_norm_ returns),
    useful to watch for explosions while training.
    """
    max_norm = _check_threshold("max_norm", max_norm)
    _check_grads(grads)
    total = _global_norm(grads)
    if total > max_norm:
        scale = max_norm / total
        for g in grads.values():
            g *= scale
    return total


def clip_grad_value(grads: dict, clip: float) -> None:
    """Clip every gradient entry to [-clip, clip], in place: min-char-rnn's
    ``np.clip(dparam, -5, 5, out=dparam)``.

    grads: dict name -> array of any shape, modified in place.
    """
    clip = _check_threshold("clip", clip)
    _check_grads(grads)
    for g in grads.values():
        np.clip(g, -clip, clip, out=g)
