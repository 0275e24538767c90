"""The grading channel: the message format the grader and the sandboxed worker speak.

This file is also loaded inside the sandbox (by seqlib/grading/worker.py, as the module
``channel``), where seqlib is not installed: it imports nothing but the standard library and
NumPy. The trusted grader imports it as seqlib.grading.channel: the format lives in one place.

The channel carries plain data only, never pickle. A message is its length (8 bytes,
big-endian), the length of its JSON header (4 bytes), the UTF-8 JSON header, and the raw
bytes of the arrays it refers to, whose dtype (numbers and bools only) and shape the header
lists. In the JSON, lists, str, bool, int and finite floats are themselves; everything else
is a one-key object:

    {"$a": k}          array k of the message (numbers or bools; "torch": 1 for a tensor,
                       "s": 1 for a NumPy scalar such as np.float32(1.5), which stays one)
    {"$t": [...]}      a tuple                  {"$d": {...}}    a dict
    {"$f": "nan"}      nan, inf or -inf         {"$h": id}       an object kept by the worker
    {"$n": name}       the student's object called name (grader -> worker)
    {"$cb": id}        a grader-side function the worker may call back
    {"$dc": name, "fields": {...}}   a dataclass instance, by its fields (worker -> grader)
    {"$size": [...]}   a torch.Size            {"$dtype": "float64"}  a torch dtype

What a student's function returns comes back as values where it is arrays, numbers, strings,
None, a str-keyed dict or a dataclass of plain data, or a tuple/list of those at the top level; any
other object (a cache of the student's own design, a module) stays in the worker and comes
back as a handle, which the grader may pass back in, read attributes of, index, or call.

What the worker sends is untrusted: ``Caps`` bound every part of a message before anything is
allocated for it (its bytes, its header, the number, rank and size of its arrays), and
``decode`` bounds what is built from it (nodes, nesting, and each array referred to once), so a
small message cannot make the grader build a large value.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct

import numpy as np

ARRAY_KINDS = "biuf"  # bool, int, uint, float: no objects, strings or structured dtypes


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed message."""


@dataclasses.dataclass(frozen=True)
class Caps:
    """Bounds on one message, checked before anything is allocated for it.

    message_bytes, header_bytes: the whole message and its JSON header; arrays: how many
    arrays, each of at most ``dims`` axes; nodes: the JSON values decoded (lists, dicts,
    numbers and strings alike); depth: their nesting.
    """

    message_bytes: int = 256 << 20
    header_bytes: int = 16 << 20
    arrays: int = 100_000
    dims: int = 32
    nodes: int = 10_000_000
    depth: int = 64


TRUSTED = Caps()  # what the grader sends the worker (its own tests' arguments)
# What the worker sends the grader: the student's results. A test's arrays are small (the
# largest, a trained model's weights, is a few MB): 64 MB is generous and still a bound.
UNTRUSTED = Caps(message_bytes=64 << 20, header_bytes=4 << 20, arrays=10_000, nodes=1_000_000, depth=32)


def _is_leaf(v, torch) -> bool:
    return v is None or isinstance(v, (bool, str, int, float, np.generic, np.ndarray)) or \
        (torch is not None and isinstance(v, (torch.Tensor, torch.Size, torch.dtype)))


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

    def _array(self, a, kind: str = "") -> dict:
        if a.dtype.kind not in ARRAY_KINDS:
            raise TypeError(f"an array of dtype {a.dtype} cannot be sent (numbers and bools only)")
        self.arrays.append(a)
        node = {"$a": len(self.arrays) - 1}
        if kind:
            node[kind] = 1
        return node

    def _leaf(self, v):
        if isinstance(v, np.generic) and not isinstance(v, str):
            # A NumPy scalar stays one (np.float32 is not a float, np.bool_ not a bool, and
            # np.float64 is a float that is also more): a type check must pass or fail in the
            # grader as it does in the notebook.
            return self._array(np.asarray(v), "s")
        if v is None or isinstance(v, (bool, str)):
            return str(v) if isinstance(v, str) else v
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            f = float(v)
            return f if math.isfinite(f) else {"$f": repr(f)}
        if isinstance(v, np.ndarray):
            return self._array(v)
        torch = self.torch
        if isinstance(v, torch.Size):
            return {"$size": [int(d) for d in v]}
        if isinstance(v, torch.dtype):
            return {"$dtype": str(v).removeprefix("torch.")}
        return self._array(v.detach().cpu().numpy(), "torch")

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


def text(s: str) -> str:
    """s as text that any UTF-8 writer accepts: a lone surrogate (JSON's "\\ud800") becomes "?"."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "replace").decode("utf-8")


class Decoder:
    """Builds the value of a message's nodes, within caps: every node counted, the nesting
    bounded, and each array used once (so one array cannot be copied a million times)."""

    def __init__(self, arrays: list, resolve, torch, caps: Caps):
        self.arrays, self.resolve, self.torch, self.caps = arrays, resolve, torch, caps
        self.nodes = 0
        self.used: set[int] = set()

    def __call__(self, node, depth: int = 0):
        self.nodes += 1
        if self.nodes > self.caps.nodes:
            raise ProtocolError(f"more than {self.caps.nodes} values in one message")
        if depth > self.caps.depth:
            raise ProtocolError(f"values nested more than {self.caps.depth} deep")
        if node is None or isinstance(node, (bool, int, float)):
            return node
        if isinstance(node, str):
            return text(node)
        if isinstance(node, list):
            return [self(x, depth + 1) for x in node]
        if not isinstance(node, dict) or len(node) == 0:
            raise ProtocolError(f"unexpected node {str(node)[:80]}")
        if "$a" in node:
            return self._array(node)
        if "$t" in node:
            return tuple(self(x, depth + 1) for x in _list(node["$t"]))
        if "$d" in node:
            d = node["$d"]
            if not isinstance(d, dict):
                raise ProtocolError("a $d node holds no dict")
            return {text(str(k)): self(v, depth + 1) for k, v in d.items()}
        if "$f" in node:
            if node["$f"] not in ("nan", "inf", "-inf"):
                raise ProtocolError(f"unexpected float {node['$f']!r}")
            return float(node["$f"])
        if self.torch is not None and "$size" in node:
            dims = _list(node["$size"])
            if len(dims) > self.caps.dims or not all(isinstance(d, int) and 0 <= d < 1 << 62 for d in dims):
                raise ProtocolError("a bad torch.Size")
            return self.torch.Size(dims)
        if self.torch is not None and "$dtype" in node:
            dtype = getattr(self.torch, str(node["$dtype"]), None)
            if not isinstance(dtype, self.torch.dtype):
                raise ProtocolError(f"unknown torch dtype {str(node['$dtype'])[:40]!r}")
            return dtype
        if self.resolve is not None and any(k in node for k in ("$h", "$n", "$cb", "$dc")):
            return self.resolve(node, lambda n: self(n, depth + 1))
        raise ProtocolError(f"unexpected node {str(node)[:80]}")

    def _array(self, node):
        k = node["$a"]
        if not isinstance(k, int) or not 0 <= k < len(self.arrays):
            raise ProtocolError(f"array index {k!r} out of range")
        if k in self.used:
            raise ProtocolError(f"array {k} referred to twice")
        self.used.add(k)
        a = self.arrays[k]
        if node.get("s"):
            if a.ndim != 0:
                raise ProtocolError("a scalar with axes")
            return a[()]
        if node.get("torch"):
            if self.torch is None:
                raise ProtocolError("a tensor arrived where torch is not in use")
            return self.torch.from_numpy(a)  # the array is this message's own copy
        return a


def decode(node, arrays: list, resolve=None, torch=None, caps: Caps = TRUSTED):
    """The value of an encoded node; resolve(node, decode_child) handles "$h", "$n", "$cb" and
    "$dc" (None: refuse them). caps bounds what is built (see Caps)."""
    return Decoder(arrays, resolve, torch, caps)(node)


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


def read_message(read_exact, caps: Caps = TRUSTED) -> tuple[dict, list[np.ndarray]]:
    """Read one message with read_exact(n) -> n bytes; every part is checked against caps
    before anything is allocated for it."""
    (size,) = struct.unpack(">Q", read_exact(8))
    if not 4 <= size <= caps.message_bytes:
        raise ProtocolError(f"a message of {size} bytes (the limit is {caps.message_bytes})")
    data = read_exact(size)
    (n,) = struct.unpack(">I", data[:4])
    if n > min(caps.header_bytes, size - 4):
        raise ProtocolError("a header longer than its message, or than the limit")
    try:
        header = json.loads(data[4:4 + n].decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ProtocolError(f"unreadable header: {str(err)[:200]}") from None
    meta = header.get("arrays") if isinstance(header, dict) else None
    if not isinstance(meta, list) or len(meta) > caps.arrays:
        raise ProtocolError("header is not a message")
    arrays, offset = [], 4 + n
    for m in meta:
        if not (isinstance(m, list) and len(m) == 2 and isinstance(m[1], list) and len(m[1]) <= caps.dims
                and all(isinstance(d, int) and 0 <= d < 1 << 40 for d in m[1])):
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
