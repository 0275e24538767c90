"""Argument checking at the public boundary of seqlib, shared by both engines.

Shapes are written with the letters of the package docstring (N, T, D, H, V, L). A
``Dims`` object binds each letter to a size the first time it sees it, so a later
mismatch can say what was expected and why::

    ValueError: prev_h has shape (3, 5), expected (N, H) = (3, 4)

Nothing here broadcasts: an argument either has exactly the expected shape or the
call fails with a message that names it. Chapter "Sequences and the vanilla RNN" shows
one of these errors.
"""

from __future__ import annotations

import functools
import re

import numpy as np

_TOKEN = re.compile(r"^(\d*)([A-Za-z]\w*)$|^(\d+)$")


@functools.lru_cache(maxsize=None)  # a few dozen specs, parsed at every call of every checked function
def _parse(spec: str) -> tuple[tuple[int, str | None], ...]:
    """'N,4H' -> ((1, 'N'), (4, 'H')); a bare number is a fixed size: '3' -> ((3, None),)."""
    tokens = [t.strip() for t in spec.split(",")] if spec.strip() else []
    parsed = []
    for token in tokens:
        m = _TOKEN.match(token)
        if m is None:
            raise ValueError(f"bad shape spec {spec!r}")
        if m.group(3):
            parsed.append((int(m.group(3)), None))
        else:
            parsed.append((int(m.group(1) or 1), m.group(2)))
    return tuple(parsed)


class Dims:
    """Binds shape letters to sizes while the arguments of one call are checked.

    dims = Dims(H=4)               # optional sizes known up front
    dims.check("x", x, "N,D")      # binds N and D from x
    dims.check("Wx", Wx, "D,4H")   # binds H = Wx.shape[1] // 4, checks D
    """

    def __init__(self, **known: int):
        self.sizes: dict[str, int] = dict(known)

    def __getitem__(self, letter: str) -> int:
        return self.sizes[letter]

    def _expected(self, parsed) -> tuple[str, str]:
        names = ", ".join(f"{k}{n}" if k != 1 and n else (n or str(k)) for k, n in parsed)
        values = []
        for k, n in parsed:
            if n is None:
                values.append(str(k))
            elif n in self.sizes:
                values.append(str(k * self.sizes[n]))
            else:
                values.append("?")
        return f"({names}{',' if len(parsed) == 1 else ''})", f"({', '.join(values)}{',' if len(parsed) == 1 else ''})"

    def check(self, name: str, arr, spec: str, *, dtype: str = "float", finite: bool = True):
        """Check that ``arr`` has the shape ``spec`` and a sensible dtype; return it.

        dtype: "float" (any floating type), "int" (any integer type) or None (unchecked).
        finite: for float arrays, reject NaN and infinity.
        """
        shape = getattr(arr, "shape", None)
        if shape is None:
            raise TypeError(f"{name} must be an array, got {type(arr).__name__}")
        shape = tuple(int(s) for s in shape)
        parsed = _parse(spec)
        if len(shape) != len(parsed):
            names, _ = self._expected(parsed)
            raise ValueError(f"{name} has shape {shape}, expected {len(parsed)} dimensions {names}")
        # First bind what can be bound, then compare: the message then shows full sizes.
        for size, (k, letter) in zip(shape, parsed):
            if letter is not None and letter not in self.sizes and size % k == 0:
                self.sizes[letter] = size // k
        for size, (k, letter) in zip(shape, parsed):
            want = k if letter is None else k * self.sizes.get(letter, -1)
            if size != want:
                names, values = self._expected(parsed)
                raise ValueError(f"{name} has shape {shape}, expected {names} = {values}")
            if size == 0:
                names, _ = self._expected(parsed)
                raise ValueError(f"{name} has shape {shape}: every dimension of {names} must be at least 1")
        _check_dtype(name, arr, dtype, finite)
        return arr


def _check_dtype(name, arr, dtype, finite):
    kind = _dtype_kind(arr)
    if dtype == "float":
        if kind != "f":
            raise ValueError(f"{name} has dtype {arr.dtype}, expected a floating-point array")
        if finite and not _all_finite(arr):
            raise ValueError(f"{name} contains NaN or infinity")
    elif dtype == "int":
        if kind not in "iu":
            raise ValueError(f"{name} has dtype {arr.dtype}, expected an integer array")
    elif dtype == "bool":
        if kind != "b":
            raise ValueError(f"{name} has dtype {arr.dtype}, expected a boolean array")
    elif dtype is not None:
        raise ValueError(f"unknown dtype requirement {dtype!r}")


def _dtype_kind(arr) -> str:
    """NumPy's dtype.kind, also for torch tensors (without importing torch)."""
    dt = arr.dtype
    if isinstance(dt, np.dtype):
        return dt.kind
    if getattr(dt, "is_floating_point", False):
        return "f"
    if dt is not None and str(dt) == "torch.bool":
        return "b"
    if getattr(dt, "is_complex", False):
        return "c"
    return "i"  # remaining torch dtypes are integers


def _all_finite(arr) -> bool:
    if isinstance(arr, np.ndarray):
        return bool(np.isfinite(arr).all())
    return bool(arr.isfinite().all())  # torch.Tensor


def check_grad(name: str, grad, shape: tuple, letters: str) -> None:
    """An upstream gradient must have exactly the shape of the output it belongs to.

    Used by every *_backward: a (N, H) gradient for a (N, T, H) output is an error here,
    never something to broadcast.
    """
    got = getattr(grad, "shape", None)
    if got is None:
        raise TypeError(f"{name} must be an array, got {type(grad).__name__}")
    if tuple(got) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(got)}, expected {letters} = {tuple(shape)}")


def values_on_host(arr) -> bool:
    """True when arr's values can be read without waiting for a device: a NumPy array, or a
    torch tensor in CPU memory. A check that reads values (ids in range, lengths in [1, T])
    is made only then: on a GPU it would cost a host-device synchronisation on every call,
    the price torch.nn does not pay either (an id out of range there fails in the embedding)."""
    device = getattr(arr, "device", None)
    return device is None or getattr(device, "type", device) == "cpu"


def check_ids(name: str, ids, V: int, letter: str = "V") -> None:
    """Token ids index a table: anything outside [0, V) would wrap around (negatives) or crash.

    ids: a NumPy array or a torch tensor of integers, any shape; read only where
    values_on_host(ids). A ValueError names the argument and the first id out of range.
    """
    if not values_on_host(ids):
        return
    bad = (ids < 0) | (ids >= V)
    if bad.any():
        raise ValueError(f"{name} has a value {int(ids[bad].reshape(-1)[0])} outside [0, {letter}) = [0, {V})")
