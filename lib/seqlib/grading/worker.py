"""The worker: runs one student's solution code inside the sandbox, and the message format
both sides of the grading channel speak.

This file runs where seqlib is not installed: inside the sandbox it is executed as a script,
so it imports nothing but the standard library and NumPy (and torch, when the assignment
needs it). The trusted grader (seqlib.grading.sandbox) imports the same codec, so the format
lives in one place.

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

Worker requests (grader -> worker): {"op": "load", "cell": id, "source": text} runs one cell;
{"op": "call", "target": name | {"$h": id}, "attr": [names], "args": [...], "kwargs": {...}};
{"op": "get", "target": ..., "attr": [...], "item": key}; {"op": "len", "target": ...};
{"op": "release"} forgets every handle. Replies: {"ok": value, ...} or {"error": type,
"message": text}; during a call the worker may send {"op": "callback", "id": k, "args": [...]}
and waits for {"ok": value} or {"error": ...}. Every reply also carries "output" (bytes the
student code printed so far) and "events" (what the sandbox refused since the last reply).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import struct
import sys

import numpy as np

MAX_MESSAGE = 256 << 20  # bytes: a message larger than this is a protocol error
MAX_HEADER = 16 << 20
MAX_ARRAYS = 100_000
ARRAY_KINDS = "biuf"  # bool, int, uint, float: no objects, strings or structured dtypes


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed message."""


# --------------------------------------------------------------------------- codec


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
    arrays = [np.ascontiguousarray(a) for a in arrays]
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


# --------------------------------------------------------------------------- the worker


OUTPUT_KEPT = 1 << 20


class _Printed:
    """Counts what the student's code prints; keeps the first OUTPUT_KEPT bytes in a file."""

    def __init__(self, fd: int):
        self.fd, self.total = fd, 0

    def write(self, text: str) -> int:
        data = text.encode("utf-8", "replace")
        room = OUTPUT_KEPT - self.total
        if room > 0:
            try:
                os.write(self.fd, data[:room])
            except OSError:
                pass
        self.total += len(data)
        return len(text)

    def stream(self):
        printed = self

        class Stream(io.TextIOBase):
            def write(self, text):
                return printed.write(str(text))

            def writable(self):
                return True

        return Stream()


class _Worker:
    def __init__(self, fd_in: int, fd_out: int, printed: _Printed, torch):
        self.fd_in, self.fd_out, self.printed = fd_in, fd_out, printed
        self.torch = torch
        self.ns: dict = {"__name__": "__main__", "__builtins__": __builtins__}
        self.handles: dict[int, object] = {}
        self.next_handle = 1
        self.events: list[dict] = []

    # ---- framing on raw file descriptors (sys.stdout belongs to the student now)
    def _read_exact(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            b = os.read(self.fd_in, min(left, 1 << 20))
            if not b:
                raise EOFError
            chunks.append(b)
            left -= len(b)
        return b"".join(chunks)

    def _write(self, header: dict, enc: Encoder) -> None:
        header = dict(header, output=self.printed.total, events=self.events[:50])
        self.events.clear()
        view = memoryview(pack(header, enc.arrays))
        while view:
            view = view[os.write(self.fd_out, view):]

    def reply(self, value=None, args_after=None) -> None:
        """Send a result (value rule, handles allowed) and, if given, the arguments after a call."""
        enc = Encoder(self._keep, self.torch)
        header = {"ok": enc.value(value)}
        if args_after is not None:
            try:
                header["args_after"] = enc.plain(args_after)
            except TypeError:
                pass  # arguments that are not plain data cannot have changed anything the grader sees
        self._write(header, enc)

    def _keep(self, obj) -> int:
        k = self.next_handle
        self.next_handle += 1
        self.handles[k] = obj
        return k

    def _resolve(self, node, dec):
        if "$h" in node:
            if node["$h"] not in self.handles:
                raise ProtocolError(f"no object with handle {node['$h']!r}")
            return self.handles[node["$h"]]
        if "$n" in node:
            name = node["$n"]
            if name not in self.ns:
                raise NameError(f"name {name!r} is not defined")
            return self.ns[name]
        if "$cb" in node:
            return self._callback(node["$cb"])
        raise ProtocolError("unexpected node")

    def _callback(self, k):
        def call_grader(*args, **kwargs):
            enc = Encoder(None, self.torch)
            self._write({"op": "callback", "id": k, "args": enc.plain(list(args)), "kwargs": enc.plain(kwargs)}, enc)
            reply, arrays = read_message(self._read_exact)
            if "error" in reply:
                raise RuntimeError(f"the grader's function failed: {reply.get('message', '')}")
            return decode(reply.get("ok"), arrays, None, self.torch)

        return call_grader

    def _target(self, header, arrays):
        obj = decode(header["target"] if isinstance(header["target"], dict) else {"$n": header["target"]},
                     arrays, self._resolve, self.torch)
        for name in header.get("attr", []):
            obj = getattr(obj, name)
        return obj

    # ---- requests
    def handle(self, header, arrays):
        op = header.get("op")
        if op == "load":
            code = compile(str(header["source"]), f"<cell {header['cell']}>", "exec")
            exec(code, self.ns)  # noqa: S102 - this is the student's code, in the sandbox
            return self.reply()
        if op == "call":
            fn = self._target(header, arrays)
            args = decode(header.get("args", []), arrays, self._resolve, self.torch)
            kwargs = decode(header.get("kwargs", {"$d": {}}), arrays, self._resolve, self.torch)
            before = [_snapshot(a) for a in args] if header.get("return_args") else None
            result = fn(*args, **kwargs)
            after = None
            if before is not None and any(_changed(a, b) for a, b in zip(args, before)):
                after = [a if _changed(a, b) else None for a, b in zip(args, before)]
            return self.reply(result, after)
        if op == "get":
            obj = self._target(header, arrays)
            if "item" in header:
                obj = obj[decode(header["item"], arrays, self._resolve, self.torch)]
            return self.reply(obj)
        if op == "len":
            return self.reply(len(self._target(header, arrays)))
        if op == "release":
            self.handles.clear()
            return self.reply()
        raise ProtocolError(f"unknown op {op!r}")

    def serve(self):
        while True:
            try:
                header, arrays = read_message(self._read_exact)
            except EOFError:
                return
            try:
                self.handle(header, arrays)
            except BaseException as err:  # noqa: BLE001 - every failure of student code is reported
                self._write({"error": type(err).__name__, "message": _message(err)}, Encoder())


def _snapshot(a):
    """What is needed to tell whether a call changed its argument a in place."""
    if isinstance(a, np.ndarray):
        return a.copy()
    if isinstance(a, dict):
        return {k: (v, v.copy() if isinstance(v, np.ndarray) else None) for k, v in a.items()}
    if isinstance(a, list):
        return list(a)
    return None


def _changed(a, snap) -> bool:
    if isinstance(a, np.ndarray):
        return not (a.shape == snap.shape and np.array_equal(a, snap, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict):
        if a.keys() != snap.keys():
            return True
        for k, v in a.items():
            old, copy = snap[k]
            if v is not old:
                return True
            if copy is not None and _changed(v, copy):
                return True
        return False
    if isinstance(a, list):
        return len(a) != len(snap) or any(x is not y for x, y in zip(a, snap))
    return False


def _message(err: BaseException) -> str:
    """The error and where in the student's cells it happened (file lines are not shown)."""
    text = f"{err}"[:2000]
    tb = err.__traceback__
    where = None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.startswith("<cell "):
            where = f"{name[1:-1]}, line {tb.tb_lineno}, in {tb.tb_frame.f_code.co_name}"
        tb = tb.tb_next
    if isinstance(err, SyntaxError) and err.lineno:
        where = f"line {err.lineno}"
    return f"{text} ({where})" if where else text


# --------------------------------------------------------------------------- sandbox rules


def _install_audit_hook(events: list, allowed_read: tuple[str, ...], scratch: str):
    """Refuse (and report) what a solution never needs: files outside the allowed folders,
    the network, new processes, and ctypes (which could get around this hook)."""
    network = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
               "socket.gethostbyname", "socket.gethostbyaddr"}
    processes = {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
                 "subprocess.Popen", "pty.spawn"}
    native = {"ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.call_function"}
    state = {"inside": False}

    def refuse(kind, detail):
        events.append({"kind": kind, "detail": str(detail)[:200]})
        raise PermissionError(f"the grading sandbox does not allow this ({kind}: {str(detail)[:200]})")

    def hook(event, args):
        if state["inside"]:
            return
        if event == "open":
            path = args[0]
            if isinstance(path, int):
                return
            try:
                path = os.path.abspath(os.fsdecode(path))
            except (TypeError, ValueError):
                return
            mode, flags = args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and bool(
                flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC)))
            ok = path.startswith(scratch + "/") or path == scratch or \
                (not writing and any(path == p or path.startswith(p.rstrip("/") + "/") for p in allowed_read))
            if not ok:
                state["inside"] = True
                try:
                    refuse("open", path)
                finally:
                    state["inside"] = False
        elif event in network:
            refuse("network", event)
        elif event in processes:
            refuse("process", event)
        elif event in native:
            refuse("ctypes", event)
        elif event == "import" and args[0] and str(args[0]).split(".")[0] == "seqlib" \
                and str(args[0]) not in ("seqlib", "seqlib.grading", "seqlib.grading.harness"):
            events.append({"kind": "import", "detail": str(args[0])})

    sys.addaudithook(hook)


def _load_harness(path: str, ns: dict) -> None:
    """seqlib.grading.harness, the one part of seqlib a worker has, under its own name: tests
    of torch assignments call it to run the student's modules backward where they live."""
    import importlib.util
    import types

    for name in ("seqlib", "seqlib.grading"):
        package = types.ModuleType(name)
        package.__path__ = []  # a package with nothing else in it: seqlib.numpy stays unknown
        sys.modules[name] = package
    spec = importlib.util.spec_from_file_location("seqlib.grading.harness", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["seqlib.grading.harness"] = module
    sys.modules["seqlib"].grading = sys.modules["seqlib.grading"]
    sys.modules["seqlib.grading"].harness = module
    ns["seqlib_grading_harness"] = module


def main(argv=None) -> None:
    """Worker entry point: ``python -I worker.py [--torch] [--scratch DIR] [--harness FILE]``,
    speaking the protocol on fds 0 and 1."""
    argv = sys.argv[1:] if argv is None else argv
    scratch = argv[argv.index("--scratch") + 1] if "--scratch" in argv else "/tmp"
    torch = None
    if "--torch" in argv:
        import torch  # noqa: F401 - imported before the audit hook: it reads many files
        torch.set_num_threads(1)
    # The protocol keeps private copies of fds 0 and 1; what the student's code prints goes
    # to a file in the scratch folder, kept up to OUTPUT_KEPT bytes and counted beyond, so a
    # chatty but correct function still passes; input() reads nothing.
    fd_in, fd_out = os.dup(0), os.dup(1)
    output_fd = os.open(os.path.join(scratch, "output.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    sys.stdin = open(0, closefd=False)
    counter = _Printed(output_fd)
    sys.stdout, sys.stderr = counter.stream(), counter.stream()
    worker = _Worker(fd_in, fd_out, counter, torch)
    if "--harness" in argv:
        _load_harness(argv[argv.index("--harness") + 1], worker.ns)
    allowed = tuple(sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr", "/lib", "/lib64",
                            "/etc", "/proc", "/dev/null", "/dev/urandom", "/sys/devices/system/cpu"}
                           | {p for p in sys.path if p}))
    _install_audit_hook(worker.events, allowed, os.path.abspath(scratch))
    worker.serve()


if __name__ == "__main__":
    main()
