"""The grading channel: the message format the grader and the sandboxed worker speak.

This file is also loaded inside the sandbox (by seqlib/grading/worker.py, as the module
``channel``), where seqlib is not installed: it imports nothing but the standard library and
NumPy. The trusted grader imports it as seqlib.grading.channel: the format lives in one place.

The channel carries plain data only, never pickle. A message is its length (8 bytes,
big-endian), the length of its JSON header (4 bytes), the UTF-8 JSON header, and the raw
bytes of the arrays it refers to, whose dtype (numbers and bools only) and shape the header
lists. In the JSON, lists, str, bool, int and finite floats are themselves; everything else
is a one-key object:

    {"$a": k}          array k of the message (numbers or bools; "torch": 1 for a tensor)
    {"$t": [...]}      a tuple                  {"$d": {...}}    a dict
    {"$f": "nan"}      nan, inf or -inf         {"$h": id}       an object kept by the worker
    {"$n": name}       the student's object called name (grader -> worker)
    {"$cb": id}        a grader-side function the worker may call back
    {"$dc": name, "fields": {...}}   a dataclass instance, by its fields (worker -> grader)

What a student's function returns comes back as values where it is arrays, numbers, strings,
None, a str-keyed dict or a dataclass of plain data, or a tuple/list of those at the top level; any
other object (a cache of the student's own design, a module) stays in the worker and comes
back as a handle, which the grader may pass back in, read attributes of, index, or call.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct

import numpy as np

MAX_MESSAGE = 256 << 20  # bytes: a message larger than this is a protocol error
MAX_HEADER = 16 << 20
MAX_ARRAYS = 100_000
ARRAY_KINDS = "biuf"  # bool, int, uint, float: no objects, strings or structured dtypes


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed message."""


def _is_leaf(v, torch) -> bool:
    return v is None or isinstance(v, (bool, str, int, float, np.generic, np.ndarray)) or \
        (torch is not None and isinstance(v, torch.Tensor))


class Encoder:
    """Turns values into a JSON-able header and the arrays it refers to.

    ``value`` applies the rule for what a student's function returns (see the module
    docstring), keeping non-plain objects in the worker through ``keep`` (obj -> handle id);
    ``plain`` encodes plain data only and refuses anything else.
    """

    def __init__(self, keep=None, torch=None):
        self.arrays: list[np.ndarray] = []
        self.keep = keep
        self.torch = torch

    def _array(self, a, is_tensor=False) -> dict:
        if a.dtype.kind not in ARRAY_KINDS:
            raise TypeError(f"an array of dtype {a.dtype} cannot be sent (numbers and bools only)")
        self.arrays.append(a)
        return {"$a": len(self.arrays) - 1, "torch": 1} if is_tensor else {"$a": len(self.arrays) - 1}

    def _leaf(self, v):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            f = float(v)
            return f if math.isfinite(f) else {"$f": repr(f)}
        if isinstance(v, np.ndarray):
            return self._array(v)
        if isinstance(v, np.generic):
            raise TypeError(f"a NumPy {type(v).__name__} cannot be sent")
        return self._array(v.detach().cpu().numpy(), is_tensor=True)

    def plain(self, v, depth: int = 12):
        """v as plain data all the way down; TypeError for anything else."""
        if _is_leaf(v, self.torch):
            return self._leaf(v)
        if depth <= 0:
            raise TypeError("data nested too deeply to send")
        if isinstance(v, tuple):
            return {"$t": [self.plain(x, depth - 1) for x in v]}
        if isinstance(v, list):
            return [self.plain(x, depth - 1) for x in v]
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"$d": {k: self.plain(x, depth - 1) for k, x in v.items()}}
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {"$dc": type(v).__name__,
                    "fields": {f.name: self.plain(getattr(v, f.name), depth - 1) for f in dataclasses.fields(v)}}
        raise TypeError(f"a {type(v).__name__} cannot be sent (plain data and arrays only)")

    def _flat(self, v):
        """A leaf, or a str-keyed dict or a dataclass of plain data, as a value; anything else kept."""
        if _is_leaf(v, self.torch):
            return self._leaf(v)
        flat = (isinstance(v, dict) and all(isinstance(k, str) for k in v)) \
            or (dataclasses.is_dataclass(v) and not isinstance(v, type))
        if flat:
            try:
                return self.plain(v, depth=3)
            except TypeError:
                pass
        if self.keep is None:
            raise TypeError(f"a {type(v).__name__} cannot be sent (plain data and arrays only)")
        return {"$h": self.keep(v), "type": type(v).__name__}

    def value(self, v):
        """What a function returned: a tuple or list is sent element by element."""
        if isinstance(v, tuple):
            return {"$t": [self._flat(x) for x in v]}
        if isinstance(v, list):
            return [self._flat(x) for x in v]
        return self._flat(v)


def decode(node, arrays: list, resolve=None, torch=None):
    """The value of an encoded node; resolve(node) handles "$h", "$n" and "$cb" (None: refuse)."""
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [decode(x, arrays, resolve, torch) for x in node]
    if not isinstance(node, dict) or len(node) == 0:
        raise ProtocolError(f"unexpected node {str(node)[:80]}")
    if "$a" in node:
        k = node["$a"]
        if not isinstance(k, int) or not 0 <= k < len(arrays):
            raise ProtocolError(f"array index {k!r} out of range")
        a = arrays[k]
        if node.get("torch"):
            if torch is None:
                raise ProtocolError("a tensor arrived where torch is not in use")
            return torch.from_numpy(a.copy())
        return a
    if "$t" in node:
        return tuple(decode(x, arrays, resolve, torch) for x in _list(node["$t"]))
    if "$d" in node:
        d = node["$d"]
        if not isinstance(d, dict):
            raise ProtocolError("a $d node holds no dict")
        return {str(k): decode(v, arrays, resolve, torch) for k, v in d.items()}
    if "$f" in node:
        if node["$f"] not in ("nan", "inf", "-inf"):
            raise ProtocolError(f"unexpected float {node['$f']!r}")
        return float(node["$f"])
    if resolve is not None and any(k in node for k in ("$h", "$n", "$cb", "$dc")):
        return resolve(node, lambda n: decode(n, arrays, resolve, torch))
    raise ProtocolError(f"unexpected node {str(node)[:80]}")


def _list(x):
    if not isinstance(x, list):
        raise ProtocolError("expected a list")
    return x


def pack(header: dict, arrays: list) -> bytes:
    """One message: the header (with the arrays' dtypes and shapes added) and their bytes."""
    arrays = [np.asarray(a, order="C") for a in arrays]  # not ascontiguousarray: it makes a 0-d array (1,)
    meta = [[a.dtype.str, list(a.shape)] for a in arrays]
    head = json.dumps(dict(header, arrays=meta), allow_nan=False, separators=(",", ":")).encode()
    body = [struct.pack(">I", len(head)), head] + [a.tobytes() for a in arrays]
    size = sum(len(b) for b in body)
    return struct.pack(">Q", size) + b"".join(body)


def _dtype(text) -> np.dtype:
    try:
        dt = np.dtype(text) if isinstance(text, str) and len(text) < 8 else None
    except TypeError:
        dt = None
    if dt is None or dt.kind not in ARRAY_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise ProtocolError(f"array of dtype {text!r}")
    return dt


def read_message(read_exact) -> tuple[dict, list[np.ndarray]]:
    """Read one message with read_exact(n) -> n bytes; every part is checked before use."""
    (size,) = struct.unpack(">Q", read_exact(8))
    if not 4 <= size <= MAX_MESSAGE:
        raise ProtocolError(f"a message of {size} bytes (the limit is {MAX_MESSAGE})")
    data = read_exact(size)
    (n,) = struct.unpack(">I", data[:4])
    if n > min(MAX_HEADER, size - 4):
        raise ProtocolError("a header longer than its message")
    try:
        header = json.loads(data[4:4 + n].decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ProtocolError(f"unreadable header: {err}") from None
    meta = header.get("arrays") if isinstance(header, dict) else None
    if not isinstance(meta, list) or len(meta) > MAX_ARRAYS:
        raise ProtocolError("header is not a message")
    arrays, offset = [], 4 + n
    for m in meta:
        if not (isinstance(m, list) and len(m) == 2 and isinstance(m[1], list)
                and all(isinstance(d, int) and 0 <= d for d in m[1])):
            raise ProtocolError("bad array description")
        dt = _dtype(m[0])
        count = math.prod(m[1])
        nbytes = count * dt.itemsize
        if offset + nbytes > len(data):
            raise ProtocolError("arrays longer than the message")
        arrays.append(np.frombuffer(data, dt, count, offset).reshape(m[1]).copy())
        offset += nbytes
    if offset != len(data):
        raise ProtocolError("bytes left over after the arrays")
    return header, arrays
