"""Every assignment through the trusted grader: the reference solution earns every point and
sets off no alarm; the untouched release earns nothing, and every test says why. And every test
cell of every source notebook, read as code: it leaves no name behind that a student's function
could read by mistake, and reads nothing that another test or a demo left."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from assignment_helpers import solution_sources

REPO = Path(__file__).resolve().parents[2]
NAMES = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_solution_earns_every_point(grade, name):
    result = grade(name, {gid: "solution" for gid in solution_sources(name)})
    assert result.score == result.max_score > 0, [t for t in result.tests if t.status != "passed"]
    assert result.refused == [] and result.problem == ""


@pytest.mark.parametrize("name", NAMES)
def test_the_release_earns_nothing(grade, name):
    result = grade(name, {})
    assert result.score == 0 and all(t.status == "error" for t in result.tests)
    assert all("NotImplementedError" in t.message for t in result.tests)


# --------------------------------------------------------------------------- what a test cell leaves behind
# A test cell runs in the student's notebook, and its variables used to stay there: a student's
# function that read a global `Wx` or `N` by mistake, instead of its argument, passed in the
# notebook and failed when graded (the worker has no such global). So each test cell is one
# function named after its grade_id, called at the end of the cell: it leaves that name alone.

# The modules the course's solutions use by these names: a grader-only cell that binds one hands
# it to the student's code in the notebook only.
STUDENT_MODULES = {"np", "torch", "F", "nn", "math"}


def _code_cells(name: str):
    """(kind, grade_id, syntax tree) of every code cell: kind is "solution", "test", or a tag
    ("worker", "harness", "demo"), or "grader" for the instructor's untagged cells."""
    import json

    nb = json.loads((REPO / "solutions" / name / f"{name}.ipynb").read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        meta = cell["metadata"].get("nbgrader", {})
        tags = [t for t in cell["metadata"].get("tags", []) if t in ("worker", "harness", "demo")]
        kind = "solution" if meta.get("solution") else "test" if meta.get("grade") else (tags or ["grader"])[0]
        source = "".join(cell["source"])
        source = "\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!")))
        yield kind, meta.get("grade_id", f"cell {i}"), ast.parse(source)


def _every_name(tree) -> set[str]:
    """Every name a piece of code reads or binds, at any depth (arguments and locals included)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return out


def _top_level(tree) -> set[str]:
    """The names a cell binds in the notebook's namespace (not those inside its functions)."""
    out, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue  # a scope of its own
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _globals_read(function: ast.FunctionDef) -> set[str]:
    """The global names a test function reads (symtable: free names of the function and its inner scopes)."""
    import symtable

    table = symtable.symtable(ast.unparse(function), "<test>", "exec").get_children()[0]
    out, todo = set(), [table]
    while todo:
        t = todo.pop()
        out |= {s.get_name() for s in t.get_symbols() if s.is_global() and s.is_referenced()}
        todo.extend(t.get_children())
    return out


@pytest.mark.parametrize("name", NAMES)
def test_a_test_cell_leaves_no_name_a_students_code_could_read(name):
    cells = list(_code_cells(name))
    student = STUDENT_MODULES.union(*(_every_name(t) for kind, _, t in cells if kind == "solution"))
    worker = set().union(*(_top_level(t) for kind, _, t in cells if kind in ("worker", "harness")))
    for kind, gid, tree in cells:
        if kind == "test":
            first, *rest = tree.body
            assert isinstance(first, ast.FunctionDef) and first.name == gid and not first.args.args, (
                f"{name}: the test cell {gid} is not one function `def {gid}():`")
            assert len(rest) == 1 and isinstance(rest[0], (ast.Expr, ast.Assign)) \
                and isinstance(rest[0].value, ast.Call) and ast.unparse(rest[0].value) == f"{gid}()", (
                f"{name}: the test cell {gid} must end by calling {gid}() and do nothing else")
            leaked = _top_level(tree) - {gid}
            assert not leaked & student, f"{name}: {gid} leaves {sorted(leaked & student)}, names a solution uses"
        elif kind == "grader":  # the instructor's cells that run in the notebook and the grader only
            leaked = (_top_level(tree) & student) - worker
            assert not leaked, f"{name}: the cell {gid} binds {sorted(leaked)}, which the student's code has " \
                               f"in the notebook only (a `worker` cell should bind it)"


@pytest.mark.parametrize("name", NAMES)
def test_a_test_reads_nothing_another_test_or_a_demo_left(name):
    """What a test function reads must exist where it runs in the grader: the builtins, the cells
    the grader runs (worker and untagged), and the student's names (solutions, harness)."""
    import builtins

    cells = list(_code_cells(name))
    there = set(dir(builtins)).union(*(_top_level(t) for kind, _, t in cells if kind != "demo" and kind != "test"))
    for kind, gid, tree in cells:
        if kind == "test":
            assert isinstance(tree.body[0], ast.FunctionDef), f"{name}: the test cell {gid} is not a function"
            missing = _globals_read(tree.body[0]) - there
            assert not missing, f"{name}: {gid} reads {sorted(missing)}, which no cell the grader runs defines"
