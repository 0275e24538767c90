"""First-order optimizers as small classes: SGD, momentum, Adagrad (min-char-rnn's), Adam.

Chapter: "Language models", where min-char-rnn's training
loop is taken apart; gradient clipping, its companion, lives in ``seqlib.numpy.clip``.

Every optimizer works on two dicts that share their keys, ``params`` and ``grads``
(name -> array, the ``params`` dict of a model and the ``grads`` its ``loss`` returns), and
updates ``params`` in place, so a model holding those arrays sees the new values at once::

    opt = Adam(lr=1e-2)
    loss, grads = model.loss(x, y)
    opt.step(model.params, grads)

State (velocities, squared-gradient memories) is kept per parameter name.
"""

from __future__ import annotations

import numpy as np

from seqlib.shapes import Dims


def check_named_arrays(params_name: str, params, grads_name: str, grads) -> None:
    """Check that two dicts name->array have the same keys and, key by key, the same shape.

    The arrays of ``params`` must be floating-point ndarrays (they are updated in place);
    those of ``grads`` must be finite floating-point arrays shaped like them.
    """
    for name, d in ((params_name, params), (grads_name, grads)):
        if not isinstance(d, dict):
            raise TypeError(f"{name} must be a dict name -> array, got {type(d).__name__}")
    if params.keys() != grads.keys():
        missing = sorted(set(params) - set(grads))
        extra = sorted(set(grads) - set(params))
        raise ValueError(
            f"{grads_name} and {params_name} have different keys: "
            f"missing from {grads_name} {missing}, not in {params_name} {extra}"
        )
    for key, p in params.items():
        if not isinstance(p, np.ndarray):
            raise TypeError(f"{params_name}[{key!r}] must be a NumPy array (it is updated in place), "
                            f"got {type(p).__name__}")
        spec = ",".join(str(s) for s in p.shape)
        Dims().check(f"{params_name}[{key!r}]", p, spec, finite=False)
        Dims().check(f"{grads_name}[{key!r}]", grads[key], spec)


def _check_positive(name: str, value) -> float:
    value = float(value)
    if not value > 0 or not np.isfinite(value):
        raise ValueError(f"{name} is {value}, expected a positive number")
    return value


def _check_fraction(name: str, value) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} is {value}, expected a number in [0, 1)")
    return value


class Optimizer:
    """Base class: validates the dicts, then updates each parameter with ``_update``."""

    def __init__(self, lr: float):
        self.lr = _check_positive("lr", lr)
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def step(self, params: dict, grads: dict) -> None:
        """Update every params[name] in place from grads[name] (same keys, same shapes)."""
        check_named_arrays("params", params, "grads", grads)
        for key, p in params.items():
            state = self.state.get(key)
            if state and next(iter(state.values())).shape != p.shape:
                raise ValueError(f"params[{key!r}] has shape {p.shape}, but the optimizer's state "
                                 f"for it has shape {next(iter(state.values())).shape}; "
                                 f"use a new optimizer")
        self._count_step()
        for key, p in params.items():
            self._update(key, p, grads[key])

    def _count_step(self) -> None:
        """Called once per step, after validation: a rejected step changes no state."""

    def _slot(self, key: str, slot: str, like: np.ndarray) -> np.ndarray:
        """Per-parameter state array, zero at the first step."""
        state = self.state.setdefault(key, {})
        if slot not in state:
            state[slot] = np.zeros_like(like)
        return state[slot]

    def _update(self, key: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: p <- p - lr * g."""

    def _update(self, key, p, g):
        p -= self.lr * g


class Momentum(Optimizer):
    """SGD with momentum, in torch.optim.SGD's form:

        v <- momentum * v + g
        p <- p - lr * v

    With a constant lr this is the same trajectory as the velocity form
    u <- momentum * u - lr * g, p <- p + u (u = -lr * v).
    """

    def __init__(self, lr: float, momentum: float = 0.9):
        super().__init__(lr)
        self.momentum = _check_fraction("momentum", momentum)

    def _update(self, key, p, g):
        v = self._slot(key, "velocity", p)
        v *= self.momentum
        v += g
        p -= self.lr * v


class Adagrad(Optimizer):
    """Adagrad exactly as min-char-rnn writes it:

        mem <- mem + g * g
        p   <- p - lr * g / sqrt(mem + eps)

    eps sits inside the square root, where torch.optim.Adagrad adds it outside; the two
    differ only while mem is of the order of eps.
    """

    def __init__(self, lr: float, eps: float = 1e-8):
        super().__init__(lr)
        self.eps = _check_positive("eps", eps)

    def _update(self, key, p, g):
        mem = self._slot(key, "mem", p)
        mem += g * g
        p -= self.lr * g / np.sqrt(mem + self.eps)


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), with bias correction, as torch.optim.Adam computes it:

        m <- b1 m + (1 - b1) g          v <- b2 v + (1 - b2) g * g
        p <- p - lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t)

    t counts calls to ``step``, starting at 1.
    """

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(lr)
        if len(betas) != 2:
            raise ValueError(f"betas is {betas!r}, expected two numbers (b1, b2)")
        self.betas = (_check_fraction("betas[0]", betas[0]), _check_fraction("betas[1]", betas[1]))
        self.eps = _check_positive("eps", eps)
        self.t = 0

    def _count_step(self):
        self.t += 1

    def _update(self, key, p, g):
        b1, b2 = self.betas
        m = self._slot(key, "m", p)
        v = self._slot(key, "v", p)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        m_hat = m / (1 - b1**self.t)
        v_hat = v / (1 - b2**self.t)
        p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
