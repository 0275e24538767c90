"""One concept, one place: the library's modules form no import circle, none outgrows ~400
lines, none reaches into a sibling's private names, and the command line is a thin layer
that nothing else imports."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "lib"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted((LIB / "seqlib").rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """Every seqlib module this file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("seqlib")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seqlib"):
            for a in node.names:  # `from seqlib.torch import graphs` imports a module
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in MODULES else node.module)
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        # A module always runs its own packages' __init__ first: those edges are not choices.
        graph[name] = {m for m in _imports(path) if m != name and not name.startswith(m + ".")}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every circle met by a depth-first walk of graph, as "a -> b -> a"."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def test_no_import_circles():
    cycles = find_cycles(_graph())
    assert cycles == [], "import circles:\n" + "\n".join(cycles)


def test_the_check_finds_a_circle_made_by_a_lazy_import(tmp_path):
    """What seqlib.torch.stacked once did: import RNN inside a function, while rnn.py imports it."""
    lazy = tmp_path / "stacked.py"
    lazy.write_text("def make_rnn():\n    from seqlib.torch.rnn import RNN\n    return RNN\n")
    graph = _graph()
    graph["seqlib.torch.stacked"] = _imports(lazy)
    cycles = find_cycles(graph)
    assert len(cycles) == 1 and set(cycles[0].split(" -> ")) == {"seqlib.torch.rnn", "seqlib.torch.stacked"}, cycles


def test_no_module_passes_400_lines():
    long = {name: n for name, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines (two concepts?): {long}"


def test_nothing_imports_the_command_line():
    users = []
    for folder in ("book", "solutions", "bench", "lib", "tests"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix not in (".py", ".md", ".ipynb", ".sh") or ".ipynb_checkpoints" in path.parts:
                continue
            if path.name in ("cli.py", "commands.py", "__main__.py", "test_cli.py", "test_layout.py"):
                continue
            if "seqlib.cli" in path.read_text(encoding="utf-8") or "from seqlib import cli" in path.read_text(encoding="utf-8"):
                users.append(str(path.relative_to(REPO)))
    assert users == [], f"these import seqlib.cli; use the library it is a layer over: {users}"


def private_uses(path: Path) -> list[str]:
    """Every `_name` this file takes from another seqlib module: imported by name
    (`from seqlib.numpy.rnn import _check`) or read off an imported module (`rnn._check`).
    Dunder names (__version__) are public by convention and not counted."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    private = lambda name: name.startswith("_") and not name.startswith("__")  # noqa: E731
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seqlib"):
            for a in node.names:
                if private(a.name):
                    found.append(f"line {node.lineno}: from {node.module} import {a.name}")
                elif f"{node.module}.{a.name}" in MODULES:  # `from seqlib.numpy import lstm as _lstm`
                    modules.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            modules |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("seqlib")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in modules:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_uses_a_private_name_of_another_module():
    """What is shared between modules has a public name in one shared module
    (seqlib.numpy.cell_parts, seqlib.torch.cell_parts, seqlib.cells, the model_parts)."""
    uses = {name: u for name, path in MODULES.items() if (u := private_uses(path))}
    assert uses == {}, f"private names used across modules: {uses}"


def test_the_private_name_check_sees_imports_and_attributes(tmp_path):
    """The forms seqlib.numpy.stacked once used: `from seqlib.numpy.rnn import _check_nonlinearity`
    and `from seqlib.numpy import lstm as _lstm` followed by `_lstm._forward(...)`."""
    bad = tmp_path / "stacked.py"
    bad.write_text("from seqlib.numpy import lstm as _lstm\nfrom seqlib.numpy.rnn import _check_nonlinearity, rnn_forward\n"
                   "import seqlib.torch.graphs\n\ndef f(x):\n    seqlib.torch.graphs._capture(x)\n"
                   "    return _lstm._forward(x), rnn_forward(x)\n")
    assert private_uses(bad) == ["line 2: from seqlib.numpy.rnn import _check_nonlinearity",
                                 "line 6: seqlib.torch.graphs._capture", "line 7: _lstm._forward"]
    good = tmp_path / "good.py"
    good.write_text("from seqlib.numpy.cell_parts import check_nonlinearity\nfrom seqlib import __version__\n"
                    "def _mine(x):\n    return x._private\n")
    assert private_uses(good) == []
