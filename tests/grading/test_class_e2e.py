"""A whole class of rnn_numpy submissions, honest and hostile, graded as an instructor would.

`make autograde` on a fresh course folder (the gradebook has never heard of the assignment),
then `nbgrader export` and the feedback. Each submission gets exactly the score its code
earns by itself: an attack on the grader earns nothing, and honest work is not zeroed by a
debug print, a warning, deleted tests or reordered cells. The run completes, the table
names every cause, and grading again writes the same bytes.

Points of rnn_numpy: the visible test of each function 1; hidden: step forward 2, step
backward 2, forward 2, backward 3. Total 13.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
A = "rnn_numpy"
NAMES = ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward"]

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("sandbox_ok")]

# An honest solution, written independently of the reference (dict caches, stacking).
HONEST = {
    "rnn_step_forward": '''def rnn_step_forward(x, prev_h, Wx, Wh, b):
    pre = np.dot(x, Wx) + np.dot(prev_h, Wh)
    pre += b
    nh = np.tanh(pre)
    return nh, {"x": x, "h_prev": prev_h, "Wx": Wx, "Wh": Wh, "h": nh}''',
    "rnn_step_backward": '''def rnn_step_backward(dnext_h, cache):
    g = dnext_h * (1.0 - np.square(cache["h"]))
    return (g.dot(cache["Wx"].T), g.dot(cache["Wh"].T), cache["x"].T.dot(g),
            cache["h_prev"].T.dot(g), np.sum(g, axis=0))''',
    "rnn_forward": '''def rnn_forward(x, h0, Wx, Wh, b):
    outs, steps = [], []
    state = h0
    for t in range(x.shape[1]):
        state, c = rnn_step_forward(x[:, t, :], state, Wx, Wh, b)
        outs.append(state)
        steps.append(c)
    return np.stack(outs, axis=1), steps''',
    "rnn_backward": '''def rnn_backward(dh, cache):
    N, T, H = dh.shape
    dx_steps = [None] * T
    dWx = dWh = db = 0
    carry = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dx_t, carry, a, c, d = rnn_step_backward(dh[:, t] + carry, cache[t])
        dx_steps[t] = dx_t
        dWx, dWh, db = dWx + a, dWh + c, db + d
    return np.stack(dx_steps, axis=1), carry, dWx, dWh, db''',
}

ZEROS = {  # right shapes, no work: the visible backward checks (against its own forward) accept them
    "rnn_step_forward": ("def rnn_step_forward(x, prev_h, Wx, Wh, b):\n"
                         "    return np.zeros((x.shape[0], Wh.shape[0])), (x.shape, Wx.shape)"),
    "rnn_step_backward": ("def rnn_step_backward(dnext_h, cache):\n    (N, D), (_, H) = cache\n"
                          "    return np.zeros((N, D)), np.zeros((N, H)), np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)"),
    "rnn_forward": "def rnn_forward(x, h0, Wx, Wh, b):\n    return np.zeros(x.shape[:2] + (h0.shape[1],)), x.shape",
    "rnn_backward": ("def rnn_backward(dh, cache):\n    N, T, D = cache\n    H = dh.shape[2]\n"
                     "    return np.zeros((N, T, D)), np.zeros((N, H)), np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)"),
}


def _with(base, **changes):
    return dict(base, **changes)


def _wrap_backward(body: str) -> dict:
    """HONEST, with rnn_backward doing body first."""
    return _with(HONEST, rnn_backward=HONEST["rnn_backward"].replace(
        "    N, T, H = dh.shape", body + "\n    N, T, H = dh.shape"))


STEAL = '''def rnn_step_forward(x, prev_h, Wx, Wh, b):
    try:
        import types
        import seqlib.numpy.rnn as r
        return types.FunctionType(r.rnn_step_forward.__code__, r.__dict__)(x, prev_h, Wx, Wh, b)
    except ImportError:
        raise NotImplementedError("no reference to steal")'''

READ_SOLUTION = '''try:
    src = open("../../../solutions/rnn_numpy/rnn_numpy.ipynb").read()
except OSError:
    src = ""
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    raise NotImplementedError("the solution could not be read")'''

SNOOP = '''import glob, os
for path in ["/work", "../../../gradebook.db", "../../bob/rnn_numpy/rnn_numpy.ipynb", os.path.expanduser("~")]:
    try:
        open(path).read(1)
    except OSError:
        pass
try:
    open("../../../autograded/blank/rnn_numpy/rnn_numpy.ipynb", "w").write("{}")
except OSError:
    pass
'''

SUBMISSIONS = {
    # name: (solution cells by grade_id, expected score)
    "honest": (HONEST, 13),
    "blank": ({}, 0),
    "wrong_bias": (_with(HONEST, rnn_forward=HONEST["rnn_forward"].replace(  # forgets the bias
        "rnn_step_forward(x[:, t, :], state, Wx, Wh, b)", "rnn_step_forward(x[:, t, :], state, Wx, Wh, 0 * b)")), 7),
    "raises": (_with(HONEST, rnn_step_backward=HONEST["rnn_step_backward"].replace(
        '    g = dnext_h', '    dnext_h = dnext_h[:, :, None][5]\n    g = dnext_h')), 6),
    "syntax": (_with(HONEST, rnn_backward="def rnn_backward(dh, cache)\n    return 0"), 9),
    "toplevel_loop": (_with(HONEST, rnn_backward="while True:\n    pass\n" + HONEST["rnn_backward"]), 9),
    "sigint_loop": (_wrap_backward("    import signal\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                   "    while True:\n        pass"), 9),
    "suicide": (_wrap_backward("    import os\n    os.kill(os.getpid(), 9)"), 9),
    "memory_bomb": (_wrap_backward("    blocks = []\n    while True:\n        blocks.append(bytearray(50_000_000))"), 9),
    "cpu_hog": (_with(HONEST, rnn_forward=HONEST["rnn_forward"].replace(
        "    outs, steps = [], []", "    while True:\n        sum(range(10**6))\n    outs, steps = [], []")), 6),
    "chatty": (_with(HONEST, rnn_step_forward="print('x' * 50_000_000)\n" + HONEST["rnn_step_forward"]), 13),
    "stderr_warn": (_with(HONEST, rnn_forward=HONEST["rnn_forward"].replace(
        "    outs, steps = [], []", "    import sys, warnings\n    print('debug', file=sys.stderr)\n"
        "    warnings.warn('looks fine')\n    outs, steps = [], []")), 13),
    "patch_grading": (_with(ZEROS, rnn_step_forward="try:\n    import seqlib.grading as g\n"
                            "    g.expect_close = g.expect_array = g.expect_gradient = lambda *a, **k: None\n"
                            "except ImportError:\n    pass\nnp.allclose = lambda *a, **k: True\nnp.abs = lambda x: 0 * x\n"
                            + ZEROS["rnn_step_forward"]), 2),
    "ipython_hook": ({"rnn_step_forward": "try:\n    get_ipython().input_transformers_post.append(\n"
                      "        lambda lines: ['try:\\n'] + ['    ' + l for l in lines] + ['except BaseException:\\n    pass\\n'])\n"
                      "except NameError:\n    pass"}, 0),
    "steal_code": ({"rnn_step_forward": STEAL}, 0),
    "read_solution": ({"rnn_step_forward": READ_SOLUTION}, 0),
    "snoop": (_with(HONEST, rnn_step_forward=SNOOP + HONEST["rnn_step_forward"]), 13),
    "network": (_with(HONEST, rnn_forward="import socket\ntry:\n    socket.create_connection(('pypi.org', 443), 2)\n"
                      "except OSError:\n    pass\n" + HONEST["rnn_forward"]), 13),
    "deleted_solution": (_with(HONEST, rnn_backward=None), 9),
    "edited_tests": (HONEST, 13),
    "reordered_extra": (HONEST, 13),
    "forge": (_with(HONEST, rnn_step_forward=HONEST["rnn_step_forward"].replace(
        "    pre = np.dot", "    import os\n    os.write(4, b'\\x00' * 8 + b'{}')\n    pre = np.dot")), 0),
    "exit_after_def": (_with(HONEST, rnn_step_forward=HONEST["rnn_step_forward"] + "\nraise SystemExit(0)"), 13),
    "copycat": ({k: re.sub(r"\bstate\b", "cur", re.sub(r"\bouts\b", "hs", v)) for k, v in HONEST.items()}, 13),
    "reference_copy": (None, 13),  # the instructor's own solution cells, filled in below
    # Honest habits: each costs nothing, as in Jupyter.
    "display_debug": (_with(HONEST, rnn_step_forward=HONEST["rnn_step_forward"].replace(
        "    pre = np.dot", "    display(x.shape)\n    pre = np.dot")), 13),
    "time_magic": (_with(HONEST, rnn_forward="%%time\n" + HONEST["rnn_forward"]), 13),
    "magics_and_shell": (_with(HONEST, rnn_step_forward="%matplotlib inline\n%load_ext autoreload\n%autoreload 2\n"
                               "!pip install numpy\nfiles = !ls\n" + HONEST["rnn_step_forward"]), 13),
    "inspect_source": (_with(HONEST, rnn_backward=HONEST["rnn_backward"] + "\nimport inspect\n"
                             "print(inspect.getsource(rnn_backward).splitlines()[0])"), 13),
    "def_then_loop": (_with(HONEST, rnn_step_forward=HONEST["rnn_step_forward"] + "\nwhile True:\n    pass"), 13),
    "surrogate": (_with(HONEST, rnn_step_backward=HONEST["rnn_step_backward"].replace(
        '    g = dnext_h', '    raise ValueError("caf\ud800 " + "\udcff" * 3)\n    g = dnext_h')), 6),
    "html_message": (_with(HONEST, rnn_step_backward=HONEST["rnn_step_backward"].replace(
        '    g = dnext_h', '    raise ValueError("<img src=x onerror=alert(1)> =HYPERLINK(1)")\n    g = dnext_h')), 6),
    # Hostile: each gets exactly its honest control's score (named in CONTROLS), and the kernel says what it refused.
    "environ_leak": (_with(HONEST, rnn_step_backward=HONEST["rnn_step_backward"].replace(
        '    g = dnext_h', '    raise ValueError(open("/proc/1/environ", "rb").read().decode(errors="replace")'
        ' + repr(dict(__import__("os").environ)))\n    g = dnext_h')), 6),
    "fork_bomb": (_with(HONEST, rnn_forward="import os, ctypes\nfor _ in range(1000):\n    try:\n        os.fork()\n"
                        "    except OSError:\n        break\nctypes.CDLL(None).fork()\n" + HONEST["rnn_forward"]), 13),
    "memfd_hog": (_with(HONEST, rnn_forward="import os\ntry:\n    fd = os.memfd_create('hog')\n"
                        "    os.ftruncate(fd, 8 << 30)\nexcept OSError:\n    pass\n" + HONEST["rnn_forward"]), 13),
    "shm_symlink": (_with(HONEST, rnn_forward="import os\ntry:\n    os.symlink('/dev/shm/hog', '/tmp/hog')\n"
                          "    with open('/tmp/hog', 'wb') as f:\n        for _ in range(200):\n"
                          "            f.write(b'x' * (1 << 20))\nexcept OSError:\n    pass\n" + HONEST["rnn_forward"]), 13),
    "hook_off": (_with(HONEST, rnn_forward="import gc, subprocess, sys\nfor o in gc.get_objects():\n"
                       "    if isinstance(o, dict) and 'inside' in o:\n        o['inside'] = True\n"
                       "try:\n    subprocess.run(['sh', '-c', 'cat /proc/1/environ'])\nexcept OSError:\n    pass\n"
                       + HONEST["rnn_forward"]), 13),
    "in_place_vandal": (_with(HONEST, rnn_forward=HONEST["rnn_forward"].replace(
        "    outs, steps = [], []", "    for a in (x, h0, Wx, Wh, b):\n        a[...] = 0\n    outs, steps = [], []")), 7),
    "in_place_control": (_with(HONEST, rnn_forward=HONEST["rnn_forward"].replace(
        "    outs, steps = [], []", "    x, h0, Wx, Wh, b = (np.zeros_like(a) for a in (x, h0, Wx, Wh, b))\n"
        "    outs, steps = [], []")), 7),
    "nan_forward": (_with(ZEROS, rnn_step_forward="def rnn_step_forward(x, prev_h, Wx, Wh, b):\n"
                          "    return np.full((x.shape[0], Wh.shape[0]), np.nan), (x.shape, Wx.shape)"), 1),
    "forward_raises": (_with(ZEROS, rnn_step_forward="def rnn_step_forward(x, prev_h, Wx, Wh, b):\n"
                             "    raise NotImplementedError"), 1),  # NaN expected values made no test pass
    "zeros": (ZEROS, 2),
    "amplify": (_wrap_backward("    import os\n    from channel import pack\n"
                               "    os.write(4, pack({'ok': [{'$a': 0}] * 200_000, 'output': 0}, [np.zeros(10**6)]))"), 9),
}
# A hostile submission and the honest one it must score exactly as.
CONTROLS = {"environ_leak": "raises", "html_message": "raises", "fork_bomb": "honest", "memfd_hog": "honest", "shm_symlink": "honest",
            "hook_off": "honest", "in_place_vandal": "in_place_control", "amplify": "suicide",
            "patch_grading": "zeros", "nan_forward": "forward_raises", "forge": "blank", "snoop": "honest", "network": "honest"}
UNREADABLE = ("unreadable", "link_file", "link_folder", "fifo")
SECRET = "grader-secret-7f3a"  # in the grader's environment: no result, table or feedback may show it


def _source_solutions(course: Path) -> dict[str, str]:
    nb = json.loads((course / "solutions" / A / f"{A}.ipynb").read_text())
    out = {}
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in NAMES:
            out[gid] = "\n".join(line for line in "".join(cell["source"]).splitlines() if "### " not in line)
    return out


def _submit(course: Path, student: str, release: dict, code: dict) -> None:
    nb = json.loads(json.dumps(release))
    cells = []
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid in code:
            if code[gid] is None:
                continue  # the student deleted this cell
            cell["source"] = code[gid]
        if student == "edited_tests" and meta.get("grade"):
            if gid == "test_rnn_forward_shapes":
                continue
            cell["source"] = "pass  # my tests now"
        cells.append(cell)
    if student == "reordered_extra":
        cells = cells[::-1] + [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                "source": "def rnn_forward(*args):\n    return None, None"}]
    nb["cells"] = cells
    folder = course / "submitted" / student / A
    folder.mkdir(parents=True)
    (folder / f"{A}.ipynb").write_text(json.dumps(nb), encoding="utf-8")


def _run(args, course, **kw):
    env = dict(os.environ, SEQLIB_CALL_TIMEOUT="3", SEQLIB_LOAD_TIMEOUT="2", SEQLIB_TEST_TIMEOUT="20",
               SEQLIB_WORKER_MEMORY_MB="512", SEQLIB_E2E_SECRET=SECRET)
    env.update(kw.pop("env", {}))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run(args, cwd=course, env=env, capture_output=True, text=True, timeout=900, **kw)


def _make_course(tmp: Path) -> Path:
    course = tmp / "course"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "solutions" / A, course / "solutions" / A)
    shutil.copytree(REPO / "assignments" / A, course / "assignments" / A)
    return course


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = _make_course(tmp_path_factory.mktemp("class"))
    release = json.loads((course / "assignments" / A / f"{A}.ipynb").read_text())
    SUBMISSIONS["reference_copy"] = (_source_solutions(course), 13)
    for student, (code, _) in SUBMISSIONS.items():
        _submit(course, student, release, code)
    broken = course / "submitted" / "unreadable" / A
    broken.mkdir(parents=True)
    (broken / f"{A}.ipynb").write_text('{"cells": [', encoding="utf-8")
    # A notebook that is a link to the instructor's solutions, a folder that is one, and a FIFO:
    # none is a student's notebook, none may be read as one or block the run.
    for name in ("link_file", "link_folder", "fifo"):
        (course / "submitted" / name).mkdir()
    (course / "submitted" / "link_file" / A).mkdir()
    (course / "submitted" / "link_file" / A / f"{A}.ipynb").symlink_to(course / "solutions" / A / f"{A}.ipynb")
    (course / "submitted" / "link_folder" / A).symlink_to(course / "solutions" / A)
    (course / "submitted" / "fifo" / A).mkdir()
    os.mkfifo(course / "submitted" / "fifo" / A / f"{A}.ipynb")
    # nbgrader's timestamps: one as `nbgrader collect` writes it, one that a stray editor mangled
    (course / "submitted" / "honest" / A / "timestamp.txt").write_text("2026-12-01 09:30:00.000000 UTC")
    (course / "submitted" / "display_debug" / A / "timestamp.txt").write_bytes(b"\xff\x00 not a time \x1b[2J")

    first = _run([sys.executable, "-m", "seqlib.grading", "autograde", A, "--jobs", "2"], course)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "seccomp with kernel-reported refusals" in first.stdout, first.stdout  # what held, said
    results = {p.stem: p.read_bytes() for p in (course / "grades" / A).glob("*.json")}
    exported = _run([sys.executable, "-m", "nbgrader", "export", "--to", "grades/grades.csv"], course)
    assert exported.returncode == 0, exported.stderr
    feedback = _run([sys.executable, "-m", "seqlib.grading", "feedback", A], course)
    assert feedback.returncode == 0, feedback.stdout + feedback.stderr
    return {"course": course, "first": first, "results": results}


def _summary(course: Path) -> dict:
    with open(course / "grades" / f"{A}-summary.csv", newline="") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


EXPECTED = {s: score for s, (_, score) in SUBMISSIONS.items()}


def test_every_submission_gets_the_score_its_own_code_earns(graded):
    rows = _summary(graded["course"])
    got = {s: float(r["score"]) for s, r in rows.items() if s not in UNREADABLE}
    assert got == {s: float(v) for s, v in EXPECTED.items()}
    for s in UNREADABLE:
        assert (rows[s]["score"], rows[s]["status"]) == ("0", "NOT GRADED"), rows[s]
    assert "symbolic link" in rows["link_file"]["problem"] and "regular file" in rows["fifo"]["problem"]
    assert "folder is a symbolic link" in rows["link_folder"]["problem"]
    assert all(r["max_score"] == "13" for r in rows.values())
    for hostile, control in CONTROLS.items():
        assert got[hostile] == got[control], (hostile, control)


def test_no_text_of_the_graders_environment_reaches_a_result_or_the_feedback(graded):
    course = graded["course"]
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in course.rglob("*")
             if p.is_file() and p.suffix in (".json", ".csv", ".html", ".ipynb") and "submitted" not in p.parts]
    texts += [graded["first"].stdout, graded["first"].stderr]
    assert len(texts) > 3 * len(EXPECTED)
    assert not [t[:80] for t in texts if SECRET in t]
    leak = json.loads((course / "grades" / A / "environ_leak.json").read_text())
    message = next(t["message"] for t in leak["tests"] if t["status"] == "error")
    assert "PATH=/usr/bin:/bin" in message  # the student did read bubblewrap's environment: an empty one


def test_submission_times_drive_the_gradebook_and_a_bad_one_costs_nothing(graded):
    import sqlite3

    with sqlite3.connect(graded["course"] / "gradebook.db") as db:
        stamps = dict(db.execute("SELECT student.id, submitted_assignment.timestamp FROM submitted_assignment "
                                 "JOIN student ON student.id = submitted_assignment.student_id"))
    assert str(stamps["honest"]).startswith("2026-12-01 09:30:00")
    rows = _summary(graded["course"])
    assert rows["display_debug"]["score"] == "13" and "unreadable timestamp.txt" in rows["display_debug"]["notes"]


def test_the_gradebook_export_shows_the_same_scores(graded):
    with open(graded["course"] / "grades" / "grades.csv", newline="") as f:
        rows = {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(f)}
    assert rows == {**{s: float(v) for s, v in EXPECTED.items()}, **{s: 0.0 for s in UNREADABLE}}


def test_the_table_names_each_cause(graded):
    rows = _summary(graded["course"])
    assert rows["unreadable"]["status"] == "NOT GRADED" and "NotJSONError" in rows["unreadable"]["problem"]
    assert rows["honest"]["status"] == "ok" and rows["honest"]["errors"] == ""
    # Many students here share the honest code: each of its functions is flagged, never as the reference.
    assert rows["copycat"]["copy"].count("(1.00)") == 4 and rows["honest"]["copy"].count("(1.00)") == 4
    assert "reference" not in rows["honest"]["copy"] + rows["copycat"]["copy"]
    assert rows["blank"]["errors"].split() == ["test_rnn_step_forward_shapes", "test_rnn_step_forward_reference",
                                               "test_rnn_step_backward_shapes", "test_rnn_step_backward_gradcheck",
                                               "test_rnn_forward_shapes", "test_rnn_forward_reference",
                                               "test_rnn_backward_shapes", "test_rnn_backward_gradcheck"]
    assert rows["wrong_bias"]["failed"].split() == ["test_rnn_forward_shapes", "test_rnn_forward_reference",
                                                    "test_rnn_backward_gradcheck"]
    assert "rnn_backward: error: SyntaxError" in rows["syntax"]["notes"]
    backward = ["test_rnn_backward_shapes", "test_rnn_backward_gradcheck"]
    assert rows["toplevel_loop"]["status"] == "timed out" and rows["toplevel_loop"]["timeouts"].split() == backward
    assert rows["sigint_loop"]["timeouts"].split() == backward
    assert rows["cpu_hog"]["timeouts"].split() == ["test_rnn_forward_shapes", "test_rnn_forward_reference"] + backward
    assert rows["suicide"]["status"] == "crashed" and rows["suicide"]["crashes"].split() == backward
    assert rows["memory_bomb"]["errors"].split() == backward
    assert "printed 50 MB" in rows["chatty"]["notes"] and rows["chatty"]["status"] == "ok"
    assert rows["stderr_warn"]["status"] == "ok"
    assert "rnn_backward: missing" in rows["deleted_solution"]["notes"]
    assert rows["reference_copy"]["copy"].count("~ reference solution") == 4
    assert rows["forge"]["status"] == "crashed"
    # a definition before an endless loop is kept; the note says where the cell stopped
    assert "rnn_step_forward: timeout" in rows["def_then_loop"]["notes"]
    assert "at its top-level statement 2" in rows["def_then_loop"]["notes"]
    for honest in ("display_debug", "time_magic", "magics_and_shell", "inspect_source"):
        notes = [n for n in rows[honest]["notes"].split("; ") if n and not n.startswith("unreadable timestamp.txt")
                 and not re.fullmatch(r"written_\w+: unanswered \(as released\)", n)]  # for a person to grade
        assert rows[honest]["status"] == "ok" and notes == [], rows[honest]
    assert rows["surrogate"]["errors"] == rows["raises"]["errors"]
    assert rows["amplify"]["status"] == "crashed" and rows["nan_forward"]["errors"]


def test_what_the_kernel_refused_is_reported(graded):
    rows = _summary(graded["course"])
    assert "process clone" in rows["fork_bomb"]["refused"]
    assert "memfd memfd_create" in rows["memfd_hog"]["refused"]
    assert "process" in rows["hook_off"]["refused"]
    assert "socket socket" in rows["network"]["refused"]
    # what was not there to take is no refusal, but the grader's own reading of the code says it
    assert "imports seqlib.grading" in rows["patch_grading"]["notes"]
    assert "imports seqlib.numpy.rnn" in rows["steal_code"]["notes"]
    for student in ("honest", "blank", "read_solution", "snoop", "shm_symlink", "time_magic", "magics_and_shell"):
        assert rows[student]["refused"] == "", (student, rows[student]["refused"])


def test_the_hostile_code_changed_nothing_outside_its_worker(graded):
    course = graded["course"]
    blank = json.loads((course / "autograded" / "blank" / A / f"{A}.ipynb").read_text())
    assert blank["cells"], "another student's graded notebook was overwritten"


def test_grading_again_writes_the_same_bytes(graded):
    course = graded["course"]
    again = _run([sys.executable, "-m", "seqlib.grading", "autograde", A, "--jobs", "2"], course)
    assert again.returncode == 0 and "graded " not in again.stderr, "stored results are reused"
    forced = _run([sys.executable, "-m", "seqlib.grading", "autograde", A, "--force", "--student", "honest",
                   "--student", "wrong_bias", "--student", "blank", "--student", "syntax", "--student", "suicide"],
                  course)
    assert forced.returncode == 0, forced.stderr
    assert forced.stderr.count("graded ") == 5
    for student in ("honest", "wrong_bias", "blank", "syntax", "suicide"):
        assert (course / "grades" / A / f"{student}.json").read_bytes() == graded["results"][student], student
    rows = _summary(course)
    assert set(rows) == set(EXPECTED) | set(UNREADABLE), "--student keeps the whole class in the summary"


def test_feedback_keeps_messages_and_hides_the_hidden_tests(graded):
    course = graded["course"]
    for student in EXPECTED:
        html = (course / "feedback" / student / A / f"{A}.html").read_text(encoding="utf-8")
        assert "BEGIN HIDDEN TESTS" not in html and "ref.rnn_backward(" not in html
        assert not re.search(r"""<(script|link)[^>]+(src|href)=["']?(https?:)?//""", html), student
    html = (course / "feedback" / "html_message" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "onerror=alert(1)&gt;" in html and "<img src=x" not in html  # the student's text shows as text
    wrong = (course / "feedback" / "wrong_bias" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "rnn_forward h (N=1, T=1, D=1, H=1) differs from the expected values" in wrong


def test_an_interrupted_class_is_finished_by_running_again(tmp_path):
    course = _make_course(tmp_path)
    release = json.loads((course / "assignments" / A / f"{A}.ipynb").read_text())
    for student in ("honest", "wrong_bias", "blank", "amplify"):
        _submit(course, student, release, SUBMISSIONS[student][0])
    part = _run([sys.executable, "-m", "seqlib.grading", "autograde", A, "--student", "honest"], course)
    assert part.returncode == 0 and "records it" in part.stderr  # a fresh gradebook learns the assignment
    # On a Dask cluster too, a reply built to make the grader's process huge costs one call of its sender.
    rest = _run([sys.executable, "-m", "seqlib.grading", "autograde", A, "--dask", "local:2"], course)
    assert rest.returncode == 0, rest.stdout + rest.stderr
    assert "graded honest" not in rest.stderr and "graded wrong_bias" in rest.stderr and "graded blank" in rest.stderr
    assert {s: float(r["score"]) for s, r in _summary(course).items()} == {"honest": 13.0, "wrong_bias": 7.0,
                                                                           "blank": 0.0, "amplify": 9.0}


def test_a_grader_failure_is_never_a_score(tmp_path):
    """Workers that cannot start (here: a memory limit too small for Python itself) are nobody's
    fault: nothing is recorded, the command says so and fails, and the next run grades them."""
    course = _make_course(tmp_path)
    release = json.loads((course / "assignments" / A / f"{A}.ipynb").read_text())
    for student in ("honest", "wrong_bias"):
        _submit(course, student, release, SUBMISSIONS[student][0])
    broken = _run([sys.executable, "-m", "seqlib.grading", "autograde", A], course,
                  env={"SEQLIB_WORKER_MEMORY_MB": "4"})
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "NOT GRADED (the grader failed): honest, wrong_bias" in broken.stderr
    rows = _summary(course)
    assert {s: (r["score"], r["status"]) for s, r in rows.items()} == {"honest": ("", "NOT GRADED"),
                                                                        "wrong_bias": ("", "NOT GRADED")}
    assert "the grader failed: the grading worker did not" in rows["honest"]["problem"]
    exported = _run([sys.executable, "-m", "nbgrader", "export", "--to", "grades/grades.csv"], course)
    with open(course / "grades" / "grades.csv", newline="") as f:
        assert [r for r in csv.DictReader(f) if r["student_id"] in ("honest", "wrong_bias")] == [], exported.stdout
    again = _run([sys.executable, "-m", "seqlib.grading", "autograde", A], course)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {s: float(r["score"]) for s, r in _summary(course).items()} == {"honest": 13.0, "wrong_bias": 7.0}


def test_bad_input_gets_one_line_and_a_non_zero_exit(tmp_path):
    course = _make_course(tmp_path)
    for args in (["autograde", "nonexistent"], ["autograde", A, "--student", "nobody"], ["summary", "nonexistent"]):
        proc = _run([sys.executable, "-m", "seqlib.grading", *args], course)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)


def test_without_bubblewrap_grading_refuses_to_start(tmp_path):
    course = _make_course(tmp_path)
    env_path = str(tmp_path / "empty-bin")
    os.mkdir(env_path)
    proc = subprocess.run([sys.executable, "-m", "seqlib.grading", "autograde", A], cwd=course, capture_output=True,
                          text=True, env=dict(os.environ, PATH=env_path), timeout=120)
    assert proc.returncode == 2
    assert "apt-get install bubblewrap" in proc.stderr and "--unsafe-no-sandbox" in proc.stderr
