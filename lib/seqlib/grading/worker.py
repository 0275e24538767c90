"""The worker: runs one student's solution code inside the sandbox, one request at a time.

Started by seqlib.grading.sandbox as a script (``python -I worker.py``), where seqlib is not
installed: it imports the standard library, NumPy, torch when the assignment needs it, and
its siblings: kernel.py (the seccomp filter, installed before anything else runs), channel.py
(the message format, seqlib.grading.channel in the grader), cells.py (a cell run as Jupyter
runs it: magics, ``display``, source for ``inspect``) and harness.py.

Requests (grader -> worker): {"op": "load", "cell": id, "source": text, "stop": k} runs one
cell (its first k top-level statements when k is given), sending {"op": "progress", "cell":
id, "statement": i} as statement i starts; {"op": "call", "target": name | {"$h": id},
"attr": [names], "args": [...], "kwargs": {...}}; {"op": "get", "target": ..., "attr": [...],
"item": key}; {"op": "len", "target": ...}; {"op": "release"} forgets every handle. Replies:
{"ok": value, ...} or {"error": type, "message": text}; during a call the worker may send
{"op": "callback", "id": k, "args": [...]} and waits for {"ok": value} or {"error": ...}.
Every reply also carries "output" (bytes the student code printed so far). After a call with
"return_args", the arguments it changed in place come back as "args_after".

Nothing the worker says is trusted: what the kernel refused it is reported to the grader by
the kernel (seqlib.grading.kernel), and every reply is decoded within caps.
"""

from __future__ import annotations

import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script's folder out

if __name__ == "__main__":
    # The seccomp filter first: before NumPy's import can start a thread (the filter is
    # installed without TSYNC) and before any code that is not ours runs.
    for _arg in sys.argv[1:]:
        if _arg.startswith("--kernel-fd="):
            import kernel

            # In bubblewrap's namespaces an AF_UNIX socket reaches nothing (and glibc's user
            # lookups try one first); without them, every socket is refused.
            kernel.send_listener(int(_arg.split("=", 1)[1]),
                                 kernel.install(notify=True, unix_sockets="--unsafe" not in sys.argv))

import numpy as np  # noqa: E402

import cells  # noqa: E402
from channel import Encoder, ProtocolError, decode, pack, read_message  # noqa: E402

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
        header = dict(header, output=self.printed.total)
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
            cell = str(header["cell"])
            stop = header.get("stop")

            def progress(k):
                self._write({"op": "progress", "cell": cell, "statement": k}, Encoder())

            # As a notebook runs it (cells.py: IPython's syntax, statement by statement, without
            # this file's __future__ imports); the student's code, in the sandbox.
            cells.run_cell(str(header["source"]), self.ns, f"<cell {cell}>",
                           stop=stop if isinstance(stop, int) else None, progress=progress)
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


def _guard_files(allowed_read: tuple[str, ...], scratch: str) -> None:
    """Without bubblewrap (--unsafe-no-sandbox, one trusted machine) the worker sees the whole
    file system: this audit hook keeps honest code to its scratch folder and the Python
    installation. It is no security boundary (student code can reach its state): the sandbox
    is, and with it this hook is not installed."""
    def hook(event, args):
        if event != "open" or isinstance(args[0], int):
            return
        try:
            path = os.path.abspath(os.fsdecode(args[0]))
        except (TypeError, ValueError):
            return
        mode, flags = args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and bool(
            flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC)))
        if not (path == scratch or path.startswith(scratch + "/") or (not writing and any(
                path == p or path.startswith(p.rstrip("/") + "/") for p in allowed_read))):
            raise PermissionError(f"the grading worker may not open {path[:200]}")

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
    """Worker entry point: ``python -I worker.py [--torch] [--scratch DIR] [--unsafe]
    [--kernel-fd=N]``, speaking the protocol on fds 0 and 1."""
    argv = sys.argv[1:] if argv is None else argv
    scratch = argv[argv.index("--scratch") + 1] if "--scratch" in argv else "/tmp"
    torch = None
    if "--torch" in argv:
        import torch  # noqa: F401 - before the student's code, which cannot then change how it loads
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
    _load_harness(os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py"), worker.ns)
    if "--unsafe" in argv:
        allowed = tuple(sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr", "/lib", "/lib64",
                                "/etc", "/proc", "/dev/null", "/dev/urandom", "/sys/devices/system/cpu"}
                               | {p for p in sys.path if p}))
        _guard_files(allowed, os.path.abspath(scratch))
    worker.serve()


if __name__ == "__main__":
    main()
