"""A student's functions as the grader sees them: stand-ins that run the real ones in the worker.

The grader's tests call ``rnn_forward(x, h0, Wx, Wh, b)`` as in the notebook, but the name
is bound to a ``RemoteFunction``: the arrays travel to the sandboxed worker, the student's
function runs there, and what comes back is arrays and numbers (or ``RemoteObject`` handles
for whatever else it returned, such as a cache, which the test can pass back in). Nothing of
the student's code ever runs in the grader's process: a monkeypatched ``numpy`` or
``seqlib.grading`` in the worker changes nothing here.

A ``Session`` is one student's worker: it loads the instructor's ``worker`` cells and the
student's solution cells one at a time, and restarts the worker when it is lost (timeout,
crash). A cell runs as a notebook runs it, one top-level statement after another, and the
worker reports each statement as it starts: when one hangs or crashes the worker, every later
start runs that cell only up to it, so a ``def`` followed by an accidental endless loop keeps
its function, as it would after an interrupt in Jupyter.

Arguments cross by value: a student's function that changes its input arrays in place changes
its own copies, never the grader's (which stay what the expected values are computed from),
except for the functions an assignment declares in place (``"in_place"`` in the source
notebook's ``seqlib`` metadata, e.g. ``clip_grad_norm``), whose changes are copied back.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from seqlib.grading.channel import UNTRUSTED, Decoder, Encoder, ProtocolError
from seqlib.grading.sandbox import GraderFailure, Limits, Worker, WorkerLost

__all__ = ["Session", "RemoteFunction", "RemoteObject", "StudentError", "Record"]


class StudentError(Exception):
    """The student's code raised (or is missing); the message says what and where."""

    def __init__(self, name: str, ename: str, message: str, cause: str | None = None):
        super().__init__(f"{name} raised {ename}: {message}" if ename != "Missing" else message)
        self.name, self.ename = name, ename
        self.cause = cause  # "timeout" or "crash" when the function is missing because its cell hung or crashed


class Record(SimpleNamespace):
    """A dataclass instance returned by the student's code, by its fields (read-only use)."""

    def __init__(self, type_name: str, **fields):
        super().__init__(**fields)
        object.__setattr__(self, "_type_name", type_name)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "_type_name")
        return f"{self._type_name}({fields})"


class RemoteObject:
    """An object that stays in the worker; attribute access, indexing, len and calls go there."""

    def __init__(self, session: "Session", handle: int, generation: int, type_name: str):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_seqlib_remote_session", session)  # seqlib.grading.harness routes by it
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_generation", generation)
        object.__setattr__(self, "_type_name", type_name)

    def _target(self):
        if self._generation != self._session.generation:
            raise StudentError(self._type_name, "Missing", f"a {self._type_name} from a worker that was restarted "
                               "(after a timeout or a crash) is gone")
        return {"$h": self._handle}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._session.request({"op": "get", "target": self._target(), "attr": [name]}, what=self._type_name)

    def __getitem__(self, key):
        return self._session.request({"op": "get", "target": self._target()}, {"item": key}, what=self._type_name)

    def __len__(self):
        return self._session.request({"op": "len", "target": self._target()}, what=self._type_name)

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def __call__(self, *args, **kwargs):
        return self._session.call(self._target(), args, kwargs, what=self._type_name)

    def __repr__(self):
        return f"<{self._type_name} in the student's worker>"


class RemoteFunction:
    """The student's top-level name ``name`` (a function or a class), called in the worker."""

    def __init__(self, session: "Session", name: str):
        self._session, self.__name__ = session, name
        self._seqlib_remote_session = session  # seqlib.grading.harness routes by it

    def __call__(self, *args, **kwargs):
        return self._session.call(self.__name__, args, kwargs, what=self.__name__)

    def __repr__(self):
        return f"<student's {self.__name__}>"


class _ArgEncoder(Encoder):
    """Arguments to the worker: plain data, plus the student's own objects and grader callbacks."""

    def __init__(self, session, torch):
        super().__init__(None, torch)
        self.session, self.callbacks = session, {}

    def plain(self, v, depth: int = 12):
        if isinstance(v, RemoteObject):
            return v._target()
        if isinstance(v, RemoteFunction):
            return {"$n": v.__name__}
        if callable(v) and not isinstance(v, type) and not isinstance(v, np.ndarray) and \
                not (self.torch is not None and isinstance(v, self.torch.Tensor)):
            k = len(self.callbacks)
            self.callbacks[k] = v
            return {"$cb": k}
        return super().plain(v, depth)


def _write_back(original, after) -> None:
    """What a call did to its arguments in the worker, done to the grader's own objects."""
    if isinstance(original, np.ndarray) and isinstance(after, np.ndarray):
        if after.shape == original.shape and original.flags.writeable:
            np.copyto(original, after, casting="unsafe")
    elif isinstance(original, dict) and isinstance(after, dict):
        for k, v in after.items():
            if k in original and isinstance(original[k], np.ndarray) and isinstance(v, np.ndarray) \
                    and original[k].shape == v.shape and original[k].flags.writeable:
                np.copyto(original[k], v, casting="unsafe")
            else:
                original[k] = v
        for k in [k for k in original if k not in after]:
            del original[k]
    elif isinstance(original, list) and isinstance(after, list):
        original[:] = after


@dataclass
class CellStatus:
    """How one cell of the worker's code fared when it was loaded."""

    status: str = "ok"  # ok, error, timeout, crash, refused (uses a name the assignment forbids)
    message: str = ""
    statement: int | None = None  # the top-level statement that hung or crashed (0-based), where known


@dataclass
class Session:
    """One student's code in a worker: cells [(cell id, source)], loaded in order.

    deadline: a time.perf_counter() value after which no request starts (the test cell's
    budget); max_starts: how many workers one student may use up; trusted: the ids of the
    instructor's cells loaded before the student's (a failure there is the grader's);
    in_place: the names whose in-place changes to their arguments are copied back.
    """

    cells: list
    torch: bool = False
    trusted: frozenset = frozenset()
    in_place: frozenset = frozenset()
    sandbox: bool = True
    limits: Limits = Limits()
    max_starts: int = 8
    worker: Worker | None = None
    generation: int = 0
    starts: int = 0
    load: dict = field(default_factory=dict)  # cell id -> CellStatus
    events: list = field(default_factory=list)
    output_bytes: int = 0
    deadline: float | None = None
    start_seconds: float = 0.0  # starting workers and loading the cells
    remote_seconds: float = 0.0  # waiting for the worker: the student's code and the channel

    def _start(self) -> Worker:
        """A fresh worker with every cell loaded, each up to the statement that hung or crashed it."""
        t0 = time.perf_counter()
        try:
            while True:
                if self.starts >= self.max_starts:
                    raise WorkerLost("crash", f"{self.max_starts} workers used up by timeouts and crashes; "
                                              "no more are started for this student")
                self.starts += 1
                self.generation += 1
                # A test's alarm (seqlib.grading.job) waits until the worker is whole: one cut
                # short between its start and its first answer would leave a process behind.
                blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
                try:
                    worker = Worker(torch=self.torch, sandbox=self.sandbox, limits=self.limits)  # or GraderFailure
                    try:
                        worker.request({"op": "release"}, seconds=self.limits.start_seconds)  # answering
                    except WorkerLost as lost:
                        self._retire(worker)
                        raise GraderFailure(f"the grading worker did not start ({lost.detail})") from None
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                if self._load_cells(worker):
                    self.worker = worker
                    return worker
                self._retire(worker)  # and again, without what lost it
        finally:
            self.start_seconds += time.perf_counter() - t0

    def _load_cells(self, worker: Worker) -> bool:
        """Load every cell into worker; False when one hung or crashed it (noted in self.load)."""
        for cell_id, source in self.cells:
            status = self.load.get(cell_id, CellStatus())
            stop = None
            if status.status in ("timeout", "crash"):
                if status.statement is None:
                    continue  # lost before its first statement: left out
                stop = status.statement
            enc = Encoder()
            header = {"op": "load", "cell": cell_id, "source": enc.plain(source), "stop": stop}
            try:
                reply, _ = worker.request(header, enc, seconds=self.limits.load_seconds)
            except WorkerLost as lost:
                if cell_id in self.trusted:
                    raise GraderFailure(f"the instructor's cell {cell_id!r} does not load in the worker "
                                        f"({lost.kind}: {lost.detail})") from None
                at = worker.progress.get(cell_id)
                where = f" at its top-level statement {at + 1}; the statements before it ran" if at is not None else ""
                self.load[cell_id] = CellStatus("timeout" if lost.kind == "timeout" else "crash",
                                                f"{lost.detail}{where}", at)
                return False
            self._note(reply)
            if "error" in reply:
                message = f"{reply['error']}: {reply.get('message', '')}"
                if cell_id in self.trusted:
                    raise GraderFailure(f"the instructor's cell {cell_id!r} fails in the worker: {message[:300]}")
                if status.status not in ("timeout", "crash"):
                    self.load[cell_id] = CellStatus("error", message)
            else:
                self.load.setdefault(cell_id, CellStatus())
        return True

    def _retire(self, worker: Worker) -> None:
        """Kill worker, keeping what the kernel refused it."""
        worker.kill()
        self.events.extend(worker.refusals()[:50 - len(self.events)] if len(self.events) < 50 else [])

    def _note(self, reply: dict) -> None:
        out = reply.get("output")
        if isinstance(out, int):
            self.output_bytes = max(self.output_bytes, out)

    def _alive(self) -> Worker:
        if self.worker is None or self.worker.lost is not None:
            if self.worker is not None:
                self._retire(self.worker)
                self.worker = None
            self._start()
        return self.worker

    def request(self, header: dict, values: dict | None = None, what: str = "", return_args=None):
        """One request; values are encoded into the header (callables become callbacks).

        Returns the decoded value of the reply; when return_args holds the call's arguments
        (a function declared in place), what the call did to them in the worker is done to
        them here.
        """
        worker = self._alive()
        seconds = self.limits.call_seconds
        if self.deadline is not None:
            seconds = min(seconds, self.deadline - time.perf_counter())
            if seconds <= 0:
                raise WorkerLost("timeout", "the test's time budget is spent")
        enc = _ArgEncoder(self, worker.torch_module)
        header = dict(header, **{k: enc.plain(v) for k, v in (values or {}).items()})
        t = time.perf_counter()
        try:
            reply, arrays = worker.request(header, enc, enc.callbacks, seconds)
        finally:
            self.remote_seconds += time.perf_counter() - t
        self._note(reply)
        if "error" in reply:
            ename, message = str(reply["error"]), str(reply.get("message", ""))
            target = header.get("target")
            if ename == "NameError" and isinstance(target, dict) and f"'{target.get('$n')}'" in message:
                status = self.load.get(target["$n"])
                cause = status.status if status is not None and status.status in ("timeout", "crash") else None
                raise StudentError(what, "Missing", self._missing(target["$n"]), cause)
            raise StudentError(what or "the student's code", ename, message)
        try:
            dec = Decoder(arrays, self._resolve, worker.torch_module, UNTRUSTED)
            value = dec(reply.get("ok"))
            if return_args is not None and isinstance(reply.get("args_after"), list):
                dec.resolve = None
                after = dec(reply["args_after"])
                for original, new in zip(return_args, after):
                    if new is not None:
                        _write_back(original, new)
        except ProtocolError as err:
            worker.lost = WorkerLost("protocol", str(err))
            worker.kill()
            raise worker.lost from None
        return value

    def call(self, target, args, kwargs, what: str, attr=None):
        """Call the student's target (a name or a handle; attr: attributes to follow) with args."""
        in_place = isinstance(target, str) and target in self.in_place and not attr
        if isinstance(target, str):
            target = {"$n": target}
        return self.request({"op": "call", "target": target, "attr": list(attr or []), "return_args": in_place},
                            {"args": list(args), "kwargs": dict(kwargs)}, what=what,
                            return_args=args if in_place else None)

    def _missing(self, name: str) -> str:
        status = self.load.get(name)
        if status is None:
            return f"{name} is not defined: its solution cell is missing from the submission"
        if status.status == "ok":
            return f"{name} is not defined: its solution cell does not define it"
        if status.status == "refused":
            return f"{name} is not defined: its solution cell was {status.message}"
        return f"{name} is not defined: its solution cell failed to load ({status.status}: {status.message})"

    def _resolve(self, node, dec):
        if "$h" in node:
            return RemoteObject(self, int(node["$h"]), self.generation, str(node.get("type", "object")))
        if "$dc" in node:
            fields = node.get("fields")
            if not isinstance(fields, dict):
                raise ProtocolError("a dataclass without fields")
            return Record(str(node["$dc"]), **{str(k): dec(v) for k, v in fields.items() if str(k).isidentifier()})
        raise ProtocolError("unexpected reference from the worker")

    def release(self) -> None:
        """Forget every object the worker keeps for the grader (between tests)."""
        if self.worker is not None and self.worker.lost is None:
            try:
                self.request({"op": "release"})
            except (WorkerLost, StudentError):
                pass

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self._retire(self.worker)
            self.worker = None
