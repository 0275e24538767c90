"""seqlib.grading.cells: a solution cell runs as Jupyter runs it (magics, display, its own source)."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import inspect
import io
import itertools
import os
import subprocess
import sys
import traceback

import pytest

from seqlib.grading import cells

needs_ipython = pytest.mark.skipif(importlib.util.find_spec("IPython") is None,
                                   reason="IPython (the course extras) turns magics into Python")
_names = itertools.count()


def _filename() -> str:
    return f"<cell t{next(_names)}>"  # one per cell: linecache keeps each cell's text


def run(source: str, ns: dict | None = None, filename: str | None = None, **kwargs) -> tuple[dict, str]:
    """Run a cell in ns (a fresh one by default); returns ns and what the cell printed."""
    ns = {"__name__": "__main__"} if ns is None else ns
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cells.run_cell(source, ns, filename or _filename(), **kwargs)
    return ns, out.getvalue()


def called(fn, *args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        value = fn(*args)
    return value, out.getvalue()


def test_plain_cells_are_returned_unchanged():
    for source in ["def f(x):\n    return x + 1\n", "x = 1", "", "  \n\nimport os\n", "print(x)  # %time\n"]:
        assert cells.transform(source) is source


def test_a_plain_cell_does_not_import_ipython():
    code = f"""if True:
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("cells", {cells.__file__!r})
        cells = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cells)
        ns = {{}}
        cells.run_cell("def f():\\n    return 1\\nx = f()\\n", ns, "<cell 1>")
        print("IPython" in sys.modules, ns["x"])
        cells.run_cell("%time y = 2\\n", ns, "<cell 2>")
        print("IPython" in sys.modules, ns["y"])
    """
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "False 1"
    if importlib.util.find_spec("IPython") is not None:
        assert lines[-1] == "True 2" and "Wall time" in done.stdout


@needs_ipython
def test_cell_time_keeps_the_definitions_and_prints_the_time():
    ns, out = run("%%time\ndef f(x):\n    return 2 * x\ny = f(4)\n")
    assert ns["f"](3) == 6 and ns["y"] == 8
    assert "CPU times: user" in out and "Wall time: " in out


@needs_ipython
def test_line_time_assigns_in_the_namespace_and_returns_the_value():
    ns, out = run("%time y = 2 + 3\nz = %time y * 2\n")
    assert ns["y"] == 5 and ns["z"] == 10
    assert out.count("Wall time") == 2
    ns, out = run("def f(a):\n    %time print(a * 7)\n")  # inside a function: its local variables
    assert called(ns["f"], 6)[1].startswith("42\n")
    run("get_ipython().magic('time w = 1')", ns)  # the spelling before IPython 7
    assert ns["w"] == 1


@needs_ipython
def test_timeit_runs_the_code_once():
    ns, out = run("calls = []\ndef f():\n    calls.append(1)\n%timeit -n 10 -r 3 f()\n")
    assert ns["calls"] == [1] and "once" in out
    ns, out = run("%%timeit -n 5 calls = ['setup']\ncalls.append('body')\n")
    assert ns["calls"] == ["setup", "body"]
    ns, _ = run("t = %timeit -o -n1 pass\n")
    assert ns["t"].best >= 0 and ns["t"].loops == 1


@pytest.fixture
def no_processes(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a cell started a process")

    for module, name in [(subprocess, "Popen"), (os, "system"), (os, "popen"), (os, "posix_spawn"), (os, "fork")]:
        monkeypatch.setattr(module, name, refuse)


@needs_ipython
@pytest.mark.parametrize("line", ["%matplotlib inline", "%load_ext autoreload", "%autoreload 2",
                                  "%config InlineBackend.figure_format = 'retina'", "!pip install foo",
                                  "x = !ls", "%pip install foo", "%unknownmagic 3", "f?", "%env"])
def test_magics_that_do_not_matter_leave_the_definitions(line, no_processes):
    ns, out = run(f"{line}\ndef f():\n    return 7\n")
    assert ns["f"]() == 7
    if line in ("!pip install foo", "%pip install foo", "%unknownmagic 3"):
        assert out.count("\n") == 1 and line[1:] in out and "skipped" in out
    if line.startswith(("%matplotlib", "%load_ext", "%autoreload", "%config", "f?", "%env")):
        assert out == ""
    if line == "x = !ls":
        assert ns["x"] == []


@needs_ipython
def test_shell_and_display_cell_magics_are_skipped(no_processes):
    ns, out = run("%%bash\necho hi\n")
    assert out.startswith("[grading] skipped: %%bash") and "hi" not in out.replace("echo hi", "")
    _, out = run("%%html\n<b>x</b>\n", ns)
    assert out.count("\n") == 1 and "%%html" in out


@needs_ipython
def test_capture_and_writefile(tmp_path, monkeypatch):
    ns, out = run("%%capture cap\nprint('hidden')\ndef f():\n    return 1\n")
    assert out == "" and ns["cap"].stdout == "hidden\n" and ns["f"]() == 1
    monkeypatch.chdir(tmp_path)
    run("%%writefile helper.py\nX = 1\n", ns)
    _, out = run("%%writefile -a helper.py\nY = 2\n", ns)
    assert out == "Appending to helper.py\n"
    assert (tmp_path / "helper.py").read_text() == "X = 1\nY = 2\n"


def test_display_prints_the_repr_and_a_students_own_display_wins():
    np = pytest.importorskip("numpy")
    ns, _ = run("import numpy as np\ndef f():\n    x = np.zeros((2, 3))\n    display(x.shape, 'a')\n    return x.sum()\n")
    assert called(ns["f"]) == (0.0, "(2, 3)\n'a'\n")
    assert np is not None
    ns, out = run("def display(x):\n    print('mine', x)\ndisplay(1)\n")
    assert out == "mine 1\n"


def test_getsource_and_tracebacks_find_the_cells_lines():
    name = _filename()
    ns, _ = run("x = 1\n\ndef f(a):\n    b = a + 1\n    raise RuntimeError(b)\n", filename=name)
    assert inspect.getsource(ns["f"]) == "def f(a):\n    b = a + 1\n    raise RuntimeError(b)\n"
    with pytest.raises(RuntimeError) as err:
        ns["f"](1)
    last = traceback.extract_tb(err.value.__traceback__)[-1]
    assert (last.filename, last.lineno, last.line) == (name, 5, "raise RuntimeError(b)")


@needs_ipython
def test_magic_cells_keep_the_cells_line_numbers():
    name = _filename()
    ns, _ = run("%%time\ndef g():\n    raise KeyError(1)\n", filename=name)
    assert inspect.getsource(ns["g"]) == "def g():\n    raise KeyError(1)\n"
    with pytest.raises(KeyError) as err:
        ns["g"]()
    last = traceback.extract_tb(err.value.__traceback__)[-1]
    assert (last.filename, last.lineno, last.line) == (name, 3, "raise KeyError(1)")
    ns, _ = run("\n\n%time z = 1\ndef h():\n    raise KeyError(2)\n", filename=name)  # leading blank lines
    with pytest.raises(KeyError) as err:
        ns["h"]()
    last = traceback.extract_tb(err.value.__traceback__)[-1]
    assert (last.filename, last.lineno, last.line) == (name, 5, "raise KeyError(2)")


@pytest.mark.filterwarnings("ignore:.*torch.jit.script.*:DeprecationWarning")
def test_torchscript_finds_the_source_of_a_cells_function():
    torch = pytest.importorskip("torch")
    ns, _ = run("import torch\n\n@torch.jit.script\ndef f(x):\n    return x * 2 + 1\n")
    assert isinstance(ns["f"], torch.jit.ScriptFunction)
    assert torch.equal(ns["f"](torch.ones(2)), torch.full((2,), 3.0))
    if importlib.util.find_spec("IPython") is not None:
        ns, _ = run("%%time\nimport torch\n@torch.jit.script\ndef g(x):\n    return x - 1\n")
        assert torch.equal(ns["g"](torch.ones(2)), torch.zeros(2))


def test_each_statement_runs_on_its_own():
    source = "def f():\n    return 1\nraise ValueError('x')\ndef g():\n    return 2\n"
    assert cells.count(source, "<cell split>") == 3
    ns, seen = {}, []
    with pytest.raises(ValueError, match="x"):
        cells.run_cell(source, ns, "<cell split>", progress=seen.append)
    assert ns["f"]() == 1 and "g" not in ns and seen == [0, 1]
    assert ns["__name__"] == "__main__"  # as in a notebook (TorchScript needs a __module__)
    cells.run_cell(source, ns, "<cell split>", first=2, progress=seen.append)
    assert ns["g"]() == 2 and seen == [0, 1, 2]
    ns = {}
    cells.run_cell(source, ns, "<cell split>", stop=1)
    assert "f" in ns and "g" not in ns
    assert len(cells.statements(source, "<cell split>")) == 3


@needs_ipython
def test_indented_and_prompt_cells_run_as_in_ipython():
    ns, _ = run("    x = 1\n    y = x + 1\n")
    assert ns["y"] == 2
    ns, _ = run(">>> x = 1\n>>> y = x + 3\n")
    assert ns["y"] == 4


def test_a_syntax_error_has_the_cells_line_number():
    name = _filename()
    with pytest.raises(SyntaxError) as err:
        run("x = 1\n\ny = 2 +\n", filename=name)
    assert (err.value.lineno, err.value.filename) == (3, name)
    if importlib.util.find_spec("IPython") is not None:
        with pytest.raises(SyntaxError) as err:
            run("\n%time x = 1\ny = 2 +\n")
        assert err.value.lineno == 3


def test_future_imports_stay_in_their_cell():
    ns, _ = run("import dataclasses\n@dataclasses.dataclass\nclass P:\n    x: int\n")
    assert dataclasses.fields(ns["P"])[0].type is int  # this test module's own future import stays here
    ns, _ = run("from __future__ import annotations\ndef f(x: int):\n    pass\n")
    assert ns["f"].__annotations__ == {"x": "int"}  # a cell's own future import holds for its later statements
