"""One concept, one place: the library's modules form no import circle, none outgrows ~400
lines, and the command line is a thin layer that nothing else imports."""

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
    assert find_cycles(graph) == ["seqlib.torch.rnn -> seqlib.torch.stacked -> seqlib.torch.rnn"]


def test_no_module_passes_400_lines():
    long = {name: n for name, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines (two concepts?): {long}"


def test_nothing_imports_the_command_line():
    users = []
    for folder in ("book", "solutions", "bench", "lib", "tests"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix not in (".py", ".md", ".ipynb", ".sh") or ".ipynb_checkpoints" in path.parts:
                continue
            if path.name in ("cli.py", "__main__.py", "test_cli.py", "test_layout.py"):
                continue
            if "seqlib.cli" in path.read_text(encoding="utf-8") or "from seqlib import cli" in path.read_text(encoding="utf-8"):
                users.append(str(path.relative_to(REPO)))
    assert users == [], f"these import seqlib.cli; use the library it is a layer over: {users}"
