"""Run a notebook cell's source as Jupyter (IPython) would, for the grading worker.

The cell becomes the Python IPython would run (magics, ``!cmd``, ``obj?``), its text goes into
linecache (inspect.getsource and TorchScript need it), and its top-level statements run one at a
time, so a later statement that hangs or fails leaves the earlier definitions in place. ``Shell``
stands in for IPython's InteractiveShell: code magics run their code once, the rest is skipped
with one printed line. Standard library only; IPython is imported only for a cell that needs it.
"""

from __future__ import annotations

import __future__
import ast
import contextlib
import io
import linecache
import os
import sys
import time
import types
import warnings

# Compiler flags of __future__ imports: a statement's future import applies to the next ones.
_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag

# Line magics that change nothing a graded function returns: they run silently.
_QUIET = {"matplotlib", "load_ext", "unload_ext", "reload_ext", "autoreload", "aimport", "config",
          "precision", "pdb", "xmode", "pylab", "autosave", "colors",
          "pinfo", "pinfo2", "pdoc", "pdef", "psource", "pfile", "psearch"}  # obj? and obj??
# Magics that run Python code (once: grading needs no statistics), with their options that take
# a value (``-n 10``), so that the statement after the options is found.
_CODE = {"time": "", "timeit": "nrp", "prun": "DTls", "debug": ""}

_manager = None  # IPython's TransformerManager once loaded; False where IPython cannot be loaded


def transform(source: str) -> str:
    """The Python that IPython runs for the cell ``source``: plain Python is returned as is."""
    try:
        with warnings.catch_warnings():  # a SyntaxWarning shows once, when the cell is compiled
            warnings.simplefilter("ignore")
            compile(source, "<cell>", "exec", dont_inherit=True)
        return source
    except SyntaxError:
        pass
    global _manager
    if _manager is None:
        try:  # imported here: it costs the worker's start-up time, and most cells are plain
            from IPython.core.inputtransformer2 import TransformerManager
            _manager = TransformerManager()
        except Exception:  # noqa: BLE001 - not installed, or refused by the sandbox
            _manager = False
    if not _manager:
        return source  # the SyntaxError shows when the cell is compiled
    try:
        text = _manager.transform_cell(source)
    except Exception:  # noqa: BLE001 - the student then sees the real SyntaxError instead
        return source
    # IPython drops the cell's leading blank lines; put them back, so that line numbers in
    # tracebacks and syntax errors are those of the cell as the student sees it.
    return "\n" * source[:len(source) - len(source.lstrip())].count("\n") + text


def statements(source: str, filename: str) -> list[types.CodeType]:
    """The cell's top-level statements, each compiled on its own (a SyntaxError propagates)."""
    return _compile(source, filename, 0)


def count(source: str, filename: str) -> int:
    """How many top-level statements the cell has (statement k is what progress(k) announces)."""
    return len(statements(source, filename))


def run_cell(source: str, ns: dict, filename: str, *, first: int = 0, stop: int | None = None,
             progress=None) -> None:
    """Run statements[first:stop] of the cell in ns, calling progress(k) before statement k."""
    _run(source, ns, filename, 0, first, stop, progress)


def _compile(source: str, filename: str, offset: int) -> list[types.CodeType]:
    """Compile the cell as if it began on line offset + 1 of ``filename``."""
    text = "\n" * offset + transform(source)
    lines = text.splitlines(True)
    if offset:
        # The body of a cell magic, run under the enclosing cell's name: its first lines (the
        # magic's call) stay, so that the enclosing cell's own frames still show their line.
        outer = linecache.cache.get(filename, (0, None, [], filename))[2]
        lines[:offset] = (list(outer) + ["\n"] * offset)[:offset]
    # mtime None: linecache.checkcache keeps the entry (there is no file), as IPython does;
    # inspect.getsource, tracebacks and TorchScript then find the cell's functions.
    linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
    tree = ast.parse(text, filename)
    codes, flags = [], 0
    for node in tree.body:
        # dont_inherit: this module's own __future__ imports must not apply to the cell
        code = compile(ast.Module([node], type_ignores=[]), filename, "exec", flags=flags, dont_inherit=True)
        flags |= code.co_flags & _FUTURE_FLAGS
        codes.append(code)
    return codes


def _run(source, ns, filename, offset, first=0, stop=None, progress=None) -> None:
    shell = shell_for(ns)
    ns.setdefault("get_ipython", shell.get_ipython)
    ns.setdefault("display", display)  # setdefault: a student's own display wins
    ns.setdefault("__name__", "__main__")  # as in a notebook; TorchScript needs a __module__
    codes = _compile(source, filename, offset)
    shell._cells.append((filename, source, offset))
    try:
        for k, code in list(enumerate(codes))[first:stop]:
            if progress is not None:
                progress(k)
            exec(code, ns)  # noqa: S102 - the student's code, in the sandbox
    finally:
        shell._cells.pop()


def shell_for(ns: dict) -> Shell:
    """The Shell of namespace ns (the one its get_ipython returns), made if there is none."""
    shell = getattr(ns.get("get_ipython"), "__self__", None)
    return shell if isinstance(shell, Shell) and shell.user_ns is ns else Shell(ns)


def display(*objs, **kwargs):
    """IPython.display.display in text form: each object's repr on a line of its own."""
    for obj in objs:
        print(repr(obj))


class Shell:
    """The part of IPython's InteractiveShell that transformed cells call, via get_ipython()."""

    def __init__(self, ns: dict):
        self.user_ns = ns
        self._cells: list[tuple[str, str, int]] = []  # (filename, source, offset) running now

    def get_ipython(self) -> Shell:
        return self

    def system(self, cmd: str) -> None:  # !cmd: the sandbox runs no processes
        _skipped("!" + cmd)

    def getoutput(self, cmd: str) -> list:  # x = !cmd
        _skipped("!" + cmd)
        return []

    def magic(self, line: str):
        """The spelling before IPython 7: get_ipython().magic("time x = f()")."""
        name, _, rest = line.lstrip().lstrip("%").partition(" ")
        return self.run_line_magic(name, rest, _stack_depth=2)

    def run_line_magic(self, magic_name: str, line: str, _stack_depth: int = 1):
        name = magic_name
        if name in _QUIET:
            return None
        if name == "env":
            return _env(line)
        if name in _CODE:
            flags, stmt = _options(line, _CODE[name])
            if name == "debug" and not stmt:
                return None  # %debug alone opens the post-mortem debugger: nothing to grade
            # Run the statement where the magic was written, as IPython does: `%time f(x)`
            # inside a function sees that function's local variables.
            frame = sys._getframe(_stack_depth)
            glob, loc = frame.f_globals, frame.f_locals
            where = (frame.f_code.co_filename, frame.f_lineno)
            del frame  # no reference cycle through this frame
            loc = None if loc is glob else loc
            return self._measure(name, flags, lambda: _exec_line(stmt, glob, loc, *where))
        _skipped(f"%{name} {line}".rstrip())
        return [] if name in ("sx", "system") else None

    def run_cell_magic(self, magic_name: str, line: str, cell: str):
        name = magic_name
        if name in _CODE or name == "capture":
            filename, offset = self._where(name, cell)
        if name in _CODE:
            flags, setup = _options(line, _CODE[name])

            def run():
                if name != "time":  # %%timeit's setup line, %%prun's first statement
                    _exec_line(setup, self.user_ns, None, filename, max(offset, 1))
                _run(cell, self.user_ns, filename, offset)  # the body's defs land in user_ns

            return self._measure(name, flags, run)
        if name == "capture":
            var = next((w for w in line.split() if not w.startswith("-")), None)  # options ignored
            out, err = io.StringIO(), io.StringIO()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    _run(cell, self.user_ns, filename, offset)
            finally:
                if var:  # the .stdout and .stderr of IPython's CapturedIO
                    self.user_ns[var] = types.SimpleNamespace(stdout=out.getvalue(), stderr=err.getvalue(), outputs=[])
            return None
        if name in ("writefile", "file"):
            return _writefile(line, cell)
        # %%bash, %%script, %%html, %%javascript, ... and magics the grader does not know: the
        # body is not Python, and an honest cell must not fail over it.
        _skipped(f"%%{name} {line}".rstrip())
        return None

    def _where(self, name: str, cell: str) -> tuple[str, int]:
        """The file name and line offset for a cell magic's body: those of the enclosing cell
        where the body is its tail, so that the body's lines are where the student wrote them."""
        if self._cells:
            filename, source, offset = self._cells[-1]
            source = source if source.endswith("\n") else source + "\n"  # as IPython's transform
            if source.endswith(cell):
                return filename, offset + source[:len(source) - len(cell)].count("\n")
            return f"<{filename.strip('<>')} %%{name}>", 0
        return f"<%%{name}>", 0

    def _measure(self, name: str, flags: set, run):
        """Run run() once, printing its time as %time would or saying %timeit ran it once."""
        wall, cpu = time.perf_counter(), os.times()
        try:
            value = run()
        finally:
            wall, end = time.perf_counter() - wall, os.times()
            user, system = end.user - cpu.user, end.system - cpu.system
            if name == "time":
                print(f"CPU times: user {_fmt(user)}, sys: {_fmt(system)}, total: {_fmt(user + system)}")
                print(f"Wall time: {_fmt(wall)}")
            elif name == "timeit":
                print(f"{_fmt(wall)} (%timeit ran the code once when grading, without statistics)")
        if name == "timeit":  # `-o`: IPython's TimeitResult, reduced to the one run
            return types.SimpleNamespace(best=wall, worst=wall, average=wall, stdev=0.0, loops=1, repeat=1,
                                         all_runs=[wall], timings=[wall]) if "-o" in flags else None
        return value


def _exec_line(stmt: str, glob: dict, loc, filename: str, lineno: int):
    """Run one line of code as %time does, numbered as line lineno; an expression's value is
    returned (``x = %time f()`` assigns f's result)."""
    if not stmt.strip():
        return None
    tree = ast.parse("\n" * (lineno - 1) + stmt, filename)
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        code = compile(ast.Expression(tree.body[0].value), filename, "eval", dont_inherit=True)
        return eval(code, glob, loc)  # noqa: S307 - the student's code, in the sandbox
    exec(compile(tree, filename, "exec", dont_inherit=True), glob, loc)  # noqa: S102
    return None


def _options(line: str, valued: str) -> tuple[set, str]:
    """Split a magic's leading options from its code: ('-n 10 -r3 f(x)', 'nr') -> ({'-n', '-r'}, 'f(x)')."""
    flags, rest = set(), line.strip()
    while rest.startswith("-"):
        word, rest = (rest.split(None, 1) + [""])[:2]
        if len(word) == 2 and word[1] in valued:  # "-n 10": the value is the next word
            rest = (rest.split(None, 1) + ["", ""])[1]
        flags.add(word if word.startswith("--") else word[:2])
    return flags, rest


def _writefile(line: str, cell: str) -> None:
    import shlex  # only this magic needs it

    words = shlex.split(line)
    names = [w for w in words if not w.startswith("-")]
    if not names:
        raise ValueError("%%writefile needs a file name")
    path, append = os.path.expanduser(names[0]), "-a" in words or "--append" in words
    existed = os.path.exists(path)
    with open(path, "a" if append else "w", encoding="utf-8") as f:  # an OSError propagates
        f.write(cell)
    print(("Appending to " if append else "Overwriting ") + path if existed else "Writing " + path)


def _env(line: str):
    """%env: `%env` returns the environment, `%env NAME` a variable, `%env NAME=value` sets one."""
    name, sep, value = line.strip().partition("=" if "=" in line else " ")
    name, value = name.strip(), value.strip()
    if not sep:
        return os.environ.get(name) if name else dict(os.environ)
    os.environ[name] = value
    print(f"env: {name}={value}")


def _skipped(what: str) -> None:
    print(f"[grading] skipped: {what}")


def _fmt(seconds: float) -> str:
    """A time as IPython prints it: 3 significant digits in s, ms, us or ns."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"
