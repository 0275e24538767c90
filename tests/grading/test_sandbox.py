"""The sandboxed worker: what student code can and cannot do there, and what the grader sees.

Every test starts real workers under bubblewrap (skipped, saying what to install, where it
cannot run; CI installs it).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from seqlib.grading.remote import RemoteObject, Session, StudentError
from seqlib.grading.sandbox import Limits, WorkerLost, worker_command

REPO = Path(__file__).resolve().parents[2]
FAST = Limits(call_seconds=5, load_seconds=3, start_seconds=30)

pytestmark = pytest.mark.usefixtures("sandbox_ok")


def _session(*cells, **kw):
    return Session([("setup", "import numpy as np")] + [(f"c{i}", c) for i, c in enumerate(cells)],
                   limits=kw.pop("limits", FAST), **kw)


def _call(s, name, *args, **kwargs):
    return s.call(name, args, kwargs, what=name)


PROBES = '''
import os, socket, subprocess
def try_(f):
    try:
        return "ok: " + repr(f())[:80]
    except BaseException as e:
        return type(e).__name__

def probe():
    return {
        "course folder": try_(lambda: os.listdir("''' + str(REPO) + '''")),
        "solutions": try_(lambda: open("''' + str(REPO / "solutions/rnn_numpy/rnn_numpy.ipynb") + '''").read(10)),
        "relative": try_(lambda: open("../../../solutions/rnn_numpy/rnn_numpy.ipynb").read(10)),
        "seqlib": try_(lambda: __import__("seqlib.numpy")),
        "network": try_(lambda: socket.create_connection(("127.0.0.1", 22), timeout=1)),
        "process": try_(lambda: subprocess.run(["true"])),
        "write outside": try_(lambda: open("/usr/x", "w")),
        "ctypes": try_(lambda: __import__("ctypes").CDLL(None)),
        "scratch": try_(lambda: open("/tmp/notes.txt", "w").write("mine")),
        "uid": os.getuid(),
    }
'''


def test_student_code_reaches_nothing_of_the_course_or_the_network():
    s = _session(PROBES)
    try:
        got = _call(s, "probe")
    finally:
        s.close()
    assert got["scratch"] == "ok: 4", "the scratch folder is the one writable place"
    for what in ("solutions", "relative", "seqlib", "network", "process", "write outside", "ctypes"):
        assert not got[what].startswith("ok"), f"{what}: {got[what]}"
    # The course folder is at most the mount point of its Python environment: nothing else of it.
    assert got["course folder"] in ("FileNotFoundError", "ok: ['.venv']"), got["course folder"]
    assert got["seqlib"] == "ModuleNotFoundError"  # the reference answers are not there at all
    assert got["uid"] == 65534
    kinds = {e["kind"] for e in s.events}
    assert {"open", "network", "process", "ctypes", "import"} <= kinds, s.events


def test_the_worker_command_hides_the_course_folder():
    cmd = worker_command(False, True, FAST)
    assert {"--unshare-all", "--die-with-parent", "--new-session"} <= set(cmd)
    bound = [cmd[i + 1] for i, c in enumerate(cmd) if c in ("--bind", "--ro-bind")]
    own = {str(REPO / "lib/seqlib/grading" / f) for f in ("worker.py", "channel.py", "harness.py")}
    inside = [b for b in bound if b == str(REPO) or b.startswith(str(REPO) + "/")]
    # Of the course folder only the worker.s three files and (where it lives there) the Python environment.
    assert set(inside) <= own | {str(REPO / ".venv")}, inside


def test_arrays_caches_and_in_place_changes_cross_as_in_the_notebook():
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
''')
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
        total = _call(s, "scale_", grads, 0.5)
        assert total == pytest.approx(3 * 0.25 + 2 * 1.0)
        np.testing.assert_allclose(grads["b"], [1.0, 1.0])  # changed in place, as in the notebook
        assert grads["a"] is original
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
