"""The sandboxed worker: what student code can and cannot do there, and what the grader sees.

Every test starts real workers under bubblewrap (skipped, saying what to install, where it
cannot run; CI installs it).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from seqlib.grading.remote import RemoteObject, Session, StudentError
from seqlib.grading.sandbox import GraderFailure, Limits, WorkerLost, worker_command

REPO = Path(__file__).resolve().parents[2]
FAST = Limits(call_seconds=5, load_seconds=3, start_seconds=30)

pytestmark = pytest.mark.usefixtures("sandbox_ok")


def _session(*cells, **kw):
    return Session([("setup", "import numpy as np")] + [(f"c{i}", c) for i, c in enumerate(cells)],
                   limits=kw.pop("limits", FAST), trusted=frozenset({"setup"}), **kw)


def _call(s, name, *args, **kwargs):
    return s.call(name, args, kwargs, what=name)


PROBES = '''
import ctypes, os, socket, subprocess
def try_(f):
    try:
        return "ok: " + repr(f())[:80]
    except BaseException as e:
        return type(e).__name__

def cfork():
    libc = ctypes.CDLL(None, use_errno=True)
    pid = libc.fork()  # past Python: only the kernel can refuse it
    if pid == 0:
        os._exit(0)
    if pid < 0:
        raise OSError(ctypes.get_errno(), "fork")
    return pid

def fill(path, mb):
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(b"x" * (1 << 20))
    return mb

def probe():
    return {
        "course folder": try_(lambda: os.listdir("''' + str(REPO) + '''")),
        "solutions": try_(lambda: open("''' + str(REPO / "solutions/rnn_numpy/rnn_numpy.ipynb") + '''").read(10)),
        "relative": try_(lambda: open("../../../solutions/rnn_numpy/rnn_numpy.ipynb").read(10)),
        "seqlib": try_(lambda: __import__("seqlib.numpy")),
        "network": try_(lambda: socket.create_connection(("127.0.0.1", 22), timeout=1)),
        "process": try_(lambda: subprocess.run(["true"])),
        "ctypes fork": try_(cfork),
        "memfd": try_(lambda: os.memfd_create("x")),
        "write outside": try_(lambda: open("/usr/x", "w")),
        "write root": try_(lambda: open("/x", "w")),
        "write /dev/shm": try_(lambda: open("/dev/shm/x", "w")),
        "symlink to /dev/shm": try_(lambda: (os.symlink("/dev/shm/big", "/tmp/link"), fill("/tmp/link", 1))),
        "scratch past its size": try_(lambda: fill("/tmp/big", 100)),
        "bwrap environ": try_(lambda: open("/proc/1/environ", "rb").read()),
        "own environ": sorted(os.environ),
        "scratch": try_(lambda: open("/tmp/notes.txt", "w").write("mine")),
        "uid": os.getuid(),
    }
'''


def test_student_code_reaches_nothing_of_the_course_the_grader_or_the_network(monkeypatch):
    monkeypatch.setenv("SEQLIB_GRADER_SECRET", "hunter2")  # the grader's environment holds a secret
    s = _session(PROBES)
    try:
        got = _call(s, "probe")
    finally:
        s.close()
    assert got["scratch"] == "ok: 4", "the scratch folder is the one writable place"
    for what in ("solutions", "relative", "seqlib", "network", "process", "ctypes fork", "memfd", "write outside",
                 "write root", "write /dev/shm", "symlink to /dev/shm", "scratch past its size"):
        assert not got[what].startswith("ok"), f"{what}: {got[what]}"
    # The course folder is at most the mount point of its Python environment: nothing else of it.
    assert got["course folder"] in ("FileNotFoundError", "ok: ['.venv']"), got["course folder"]
    assert got["seqlib"] == "ModuleNotFoundError"  # the reference answers are not there at all
    assert got["uid"] == 65534
    # bubblewrap's own process (PID 1 inside) and the worker start from an empty environment
    assert "hunter2" not in got["bwrap environ"] and "SEQLIB" not in got["bwrap environ"], got["bwrap environ"]
    assert not any(k.startswith("SEQLIB") for k in got["own environ"]), got["own environ"]
    # what the kernel refused, as the kernel reported it
    kinds = {e["kind"] for e in s.events}
    assert {"process", "socket", "memfd"} <= kinds, s.events


def test_the_refused_column_is_the_kernels_not_the_students():
    """A refusal swallowed by the student's code is still reported; a student who fills the
    audit state of the old design, or returns event-like data, adds nothing."""
    s = _session("import os, gc, sys\n"
                 "def sneaky():\n"
                 "    try:\n        os.fork()\n    except OSError:\n        pass\n"
                 "    for o in gc.get_objects():\n"
                 "        if isinstance(o, list) and o and isinstance(o[0], dict) and 'kind' in o[0]:\n"
                 "            o.clear()\n"
                 "    return [{'kind': 'nothing', 'detail': 'to see'}]\n"
                 "def clean():\n    return 1\n")
    try:
        assert _call(s, "sneaky") == [{"kind": "nothing", "detail": "to see"}]
        assert _call(s, "clean") == 1
    finally:
        s.close()
    assert {(e["kind"], e["detail"]) for e in s.events} == {("process", "clone")}, s.events


def test_the_worker_command_hides_the_course_folder():
    cmd = worker_command(False, True, FAST)
    assert {"--unshare-all", "--die-with-parent", "--new-session", "--clearenv"} <= set(cmd)
    assert ["--remount-ro", "/"] == cmd[cmd.index("--remount-ro", cmd.index("--remount-ro") + 1):][:2]
    bound = [cmd[i + 1] for i, c in enumerate(cmd) if c in ("--bind", "--ro-bind")]
    assert "--bind" not in cmd, "nothing of the machine is bound writable"
    own = {str(REPO / "lib/seqlib/grading" / f) for f in ("worker.py", "channel.py", "harness.py", "cells.py",
                                                           "kernel.py")}
    inside = [b for b in bound if b == str(REPO) or b.startswith(str(REPO) + "/")]
    # Of the course folder only the worker's files and (where it lives there) the Python environment.
    assert set(inside) <= own | {str(REPO / ".venv")}, inside


def test_arguments_cross_by_value_and_in_place_functions_change_them_back():
    s = _session('''
def step(x, w):
    h = np.tanh(x @ w)
    return h, (x, w, h)

def back(dh, cache):
    x, w, h = cache
    da = dh * (1 - h ** 2)
    return da @ w.T, x.T @ da

def scale_(grads, c):
    for k in grads:
        grads[k] *= c
    return sum(float((g ** 2).sum()) for g in grads.values())

def vandal(x, w):
    x[...] = 0
    w[...] = 0
    return np.zeros((x.shape[0], w.shape[1]))
''', in_place=frozenset({"scale_"}))
    try:
        rng = np.random.default_rng(0)
        x, w = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
        h, cache = _call(s, "step", x, w)
        assert isinstance(cache, RemoteObject) and len(cache) == 3
        np.testing.assert_allclose(h, np.tanh(x @ w))
        dx, dw = _call(s, "back", np.ones((2, 4)), cache)  # the cache goes back as a handle
        np.testing.assert_allclose(dw, x.T @ (1 - h ** 2))
        grads = {"a": np.ones(3), "b": np.full(2, 2.0)}
        original = grads["a"]
        total = _call(s, "scale_", grads, 0.5)  # declared in place: as in the notebook
        assert total == pytest.approx(3 * 0.25 + 2 * 1.0)
        np.testing.assert_allclose(grads["b"], [1.0, 1.0])
        assert grads["a"] is original
        x0, w0 = x.copy(), w.copy()
        _call(s, "vandal", x, w)  # not declared: the grader's arrays (the expected values' inputs) stay
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(w, w0)
    finally:
        s.close()


def test_numpy_and_torch_scalar_types_survive_the_channel():
    import torch

    s = Session([("setup", "import numpy as np\nimport torch")], torch=True,
                limits=Limits(call_seconds=20, load_seconds=20, start_seconds=60, memory_bytes=3 << 30))
    s.cells.append(("c0", "def f():\n    return np.float32(1.5), np.int64(3), np.bool_(True), 2.5, 3, True\n"
                          "def g():\n    return torch.Size([2, 3]), torch.float64, torch.tensor(2.0)\n"
                          "def h(a, b):\n    return type(a).__name__, type(b).__name__\n"))
    try:
        got = _call(s, "f")
        assert [type(v) for v in got] == [np.float32, np.int64, np.bool_, float, int, bool]
        size, dtype, t = _call(s, "g")
        assert isinstance(size, torch.Size) and size == (2, 3) and dtype is torch.float64
        assert isinstance(t, torch.Tensor) and t.shape == ()
        assert _call(s, "h", np.float32(1.0), np.int8(2)) == ("float32", "int8")  # and the other way
    finally:
        s.close()


def test_a_definition_before_an_endless_top_level_loop_is_kept():
    s = _session("def f():\n    display('debugging')\n    return 1\nwhile True:\n    pass\ndef g():\n    return 2",
                 "%%time\ndef h():\n    return 3", "!pip install numpy\n%matplotlib inline\ndef k():\n    return 4")
    try:
        assert _call(s, "f") == 1 and _call(s, "h") == 3 and _call(s, "k") == 4
        with pytest.raises(StudentError, match="not defined"):
            _call(s, "g")  # after the loop: in a notebook too, the interrupt stops the cell there
        assert s.load["c0"].status == "timeout" and s.load["c0"].statement == 1, s.load["c0"]
        assert s.load["c1"].status == "ok" and s.load["c2"].status == "ok"
    finally:
        s.close()


def test_a_worker_that_does_not_read_cannot_block_the_grader():
    """The student's code asks for a callback by hand and never reads the answer: the grader's
    write of a large answer waits at most the call's deadline."""
    s = _session("import os, time\nfrom channel import Encoder, pack\n"
                 "def stall(cb):\n"
                 "    os.write(4, pack({'op': 'callback', 'id': 0, 'args': [], 'kwargs': {'$d': {}}}, []))\n"
                 "    while True:\n        time.sleep(1)\n")
    try:
        t = time.perf_counter()
        with pytest.raises(WorkerLost) as lost:
            _call(s, "stall", lambda: np.zeros(4_000_000))
        assert lost.value.kind == "timeout" and time.perf_counter() - t < FAST.call_seconds + 5
    finally:
        s.close()


def test_a_reply_that_would_amplify_is_refused():
    """One 8 MB array referred to 200,000 times would be 1.6 TB of copies in the grader."""
    s = _session("import os\nfrom channel import pack\n"
                 "def amplify():\n"
                 "    os.write(4, pack({'ok': [{'$a': 0}] * 200_000, 'output': 0}, [np.zeros(1_000_000)]))\n"
                 "    return 1\n"
                 "def ok():\n    return 2\n")
    try:
        with pytest.raises(WorkerLost) as lost:
            _call(s, "amplify")
        assert lost.value.kind == "protocol" and "twice" in lost.value.detail
        assert _call(s, "ok") == 2
    finally:
        s.close()


def test_threads_are_bounded():
    s = _session("import threading, time\n"
                 "def bomb():\n    for _ in range(100_000):\n"
                 "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
                 "def ok():\n    return 1\n", limits=Limits(call_seconds=20, load_seconds=3, start_seconds=30))
    try:
        with pytest.raises((StudentError, WorkerLost)):
            _call(s, "bomb")
        assert _call(s, "ok") == 1
    finally:
        s.close()


def test_a_worker_that_cannot_start_is_the_graders_failure(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    s = _session("def f():\n    return 1")
    try:
        with pytest.raises(GraderFailure, match="did not"):
            _call(s, "f")
    finally:
        s.close()


def test_callbacks_run_the_graders_function_on_the_workers_arguments():
    s = _session("def twice(f, x):\n    return f(f(x))")
    try:
        assert _call(s, "twice", lambda v: v * 3, np.array([1.0, 2.0])).tolist() == [9.0, 18.0]
    finally:
        s.close()


def test_a_hung_cell_is_left_out_and_the_rest_still_loads():
    s = _session("def f():\n    return 1", "while True:\n    pass", "def g():\n    return 2")
    try:
        t = time.perf_counter()
        assert _call(s, "f") == 1 and _call(s, "g") == 2
        assert time.perf_counter() - t < FAST.load_seconds + 10
        assert s.load["c1"].status == "timeout" and s.load["c2"].status == "ok"
    finally:
        s.close()


def test_a_call_that_ignores_sigint_is_killed_and_the_next_call_gets_a_fresh_worker():
    s = _session("import signal\ndef hang():\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n"
                 "        pass\n\ndef ok():\n    return 7")
    try:
        with pytest.raises(WorkerLost) as lost:
            _call(s, "hang")
        assert lost.value.kind == "timeout"
        assert _call(s, "ok") == 7 and s.starts == 2
    finally:
        s.close()


def test_a_worker_that_kills_itself_costs_one_call():
    s = _session("import os\ndef die():\n    os.kill(os.getpid(), 9)\n\ndef ok():\n    return 1")
    try:
        with pytest.raises(WorkerLost) as lost:
            _call(s, "die")
        assert lost.value.kind == "crash" and "SIGKILL" in lost.value.detail
        assert _call(s, "ok") == 1
    finally:
        s.close()


def test_memory_is_capped():
    s = _session("def bomb():\n    blocks = []\n    while True:\n        blocks.append(bytearray(50_000_000))",
                 limits=Limits(call_seconds=20, load_seconds=3, memory_bytes=1 << 30))
    try:
        with pytest.raises(StudentError, match="MemoryError"):
            _call(s, "bomb")
    finally:
        s.close()


def test_printed_output_is_counted_and_kept_only_up_to_the_cap():
    s = _session("import sys\ndef chatty():\n    for _ in range(50):\n        print('x' * 1_000_000)\n"
                 "        print('y' * 1000, file=sys.stderr)\n    return 'done'")
    try:
        assert _call(s, "chatty") == "done"  # a correct but chatty function still works
        assert s.output_bytes > 50_000_000
    finally:
        s.close()


def test_a_forged_message_is_a_lost_worker_not_a_result():
    s = _session("import os\ndef forge():\n    os.write(4, b'\\x00' * 8 + b'garbage')\n    return 1\n\ndef ok():\n"
                 "    return 2")
    try:
        with pytest.raises(WorkerLost):
            _call(s, "forge")
        assert _call(s, "ok") == 2
    finally:
        s.close()


def test_restarts_are_bounded():
    s = _session("import os\ndef die():\n    os._exit(3)", limits=FAST)
    s.max_starts = 2
    try:
        for _ in range(2):
            with pytest.raises(WorkerLost):
                _call(s, "die")
        with pytest.raises(WorkerLost, match="used up"):
            _call(s, "die")
    finally:
        s.close()


def test_gradcheck_of_a_students_torch_function_runs_in_the_grader_over_its_calls():
    """grading.expect_gradcheck on a RemoteFunction: forward and autograd backward in the worker."""
    import torch

    from seqlib import grading
    from seqlib.grading.remote import RemoteFunction

    code = ("def good(x, w):\n    return torch.tanh(x @ w), (x * x).sum()\n"
            "def detached(x, w):\n    return torch.tanh(x @ w.detach())\n")
    s = Session([("setup", "import torch"), ("c0", code)], torch=True,
                limits=Limits(call_seconds=10, load_seconds=10, start_seconds=60, memory_bytes=3 << 30))
    try:
        gen = torch.Generator().manual_seed(0)
        x, w = (torch.randn(*shape, generator=gen, dtype=torch.float64) for shape in ((2, 3), (3, 2)))
        grading.expect_gradcheck("good", RemoteFunction(s, "good"), [x, w])
        with pytest.raises(AssertionError, match="Jacobian mismatch for output 0 with respect to input 1"):
            grading.expect_gradcheck("detached", RemoteFunction(s, "detached"), [x, w])
    finally:
        s.close()


def test_a_dataclass_defined_in_a_cell_comes_back_by_its_fields():
    code = ("from dataclasses import dataclass, field\n\n@dataclass\nclass Hypothesis:\n"
            "    tokens: list = field(default_factory=list)\n    score: float = 0.0\n\n"
            "def hyp():\n    return Hypothesis([3, 1], -1.5)\n\n"
            "def kind():\n    return type(Hypothesis.__annotations__['score']).__name__\n")
    s = _session(code)
    try:
        got = _call(s, "hyp")
        assert got.tokens == [3, 1] and got.score == -1.5 and repr(got) == "Hypothesis(tokens=[3, 1], score=-1.5)"
        assert _call(s, "kind") == "type"  # annotations are objects, as in a notebook, not strings
    finally:
        s.close()


def test_torchscript_and_inspect_find_a_cells_source_in_the_worker():
    import torch

    code = ("import inspect\n\n@torch.jit.script\ndef affine(x: torch.Tensor) -> torch.Tensor:\n"
            "    return 2 * x + 1\n\ndef source():\n    return inspect.getsource(source).splitlines()[0]\n")
    s = Session([("setup", "import torch"), ("c0", "%%time\n" + code)], torch=True,
                limits=Limits(call_seconds=30, load_seconds=30, start_seconds=60, memory_bytes=3 << 30),
                trusted=frozenset({"setup"}))
    try:
        assert _call(s, "affine", torch.ones(3, dtype=torch.float64)).tolist() == [3.0, 3.0, 3.0]
        assert _call(s, "source") == "def source():"
        assert s.load["c0"].status == "ok" and s.events == []
    finally:
        s.close()


def test_the_worker_runs_in_a_cgroup_of_its_own_where_the_machine_allows_it():
    from seqlib.grading.limits import Cgroup
    from seqlib.grading.sandbox import Worker

    if Cgroup.support().startswith("no writable"):
        pytest.skip(f"this machine gives the grader no cgroup: {Cgroup.support()}")
    worker = Worker(limits=FAST)
    try:
        assert worker.cgroup is not None
        members = {int(p) for procs in worker.cgroup.procs for p in procs.read_text().split()}
        assert worker.proc.pid in members  # bubblewrap, and with it everything it starts
        limit = [d for d in worker.cgroup.dirs if (d / "memory.limit_in_bytes").exists() or (d / "memory.max").exists()]
        assert limit, worker.cgroup.dirs
        dirs = list(worker.cgroup.dirs)
    finally:
        worker.kill()
    assert not any(d.exists() for d in dirs), "the worker's cgroup is removed with it"


def test_without_a_cgroup_a_worker_still_runs_and_the_limits_say_what_holds(monkeypatch):
    from seqlib.grading.limits import Cgroup

    monkeypatch.setattr(Cgroup, "_layout", classmethod(lambda cls: None))
    assert Cgroup.support().startswith("no writable cgroup") and "RLIMIT_AS" in Cgroup.support()
    s = _session("def f():\n    return 5")
    try:
        assert _call(s, "f") == 5 and s.worker.cgroup is None
    finally:
        s.close()
