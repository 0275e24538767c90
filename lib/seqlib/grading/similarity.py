"""Copy signals: solution code that matches the reference or another student's, after renaming.

Two pieces of code are compared by their token sequences once comments and docstrings are
gone and every local name (arguments, assigned variables, loop variables) is renamed in the
order it first appears, so renaming variables or reformatting changes nothing; the similarity
is difflib's ratio of the two sequences (1.0 for identical code). Functions shorter than
``MIN_TOKENS`` are not compared: a one-line ``np.tanh(x @ Wx + prev_h @ Wh + b)`` is what
everyone writes. A flag is a reason to read two submissions side by side, not a verdict.

The cost is bounded whatever the students send: a function is read up to ``MAX_TOKENS``
tokens (a comparison costs at most their square), source that does not parse or nests too
deeply is skipped, and the whole check stops at ``BUDGET_SECONDS``, naming who was not compared.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import io
import time
import tokenize

MIN_TOKENS = 40
MAX_TOKENS = 3000  # a solution is a few hundred tokens; past this only the first ones are compared
MAX_SOURCE = 200_000  # characters of one function's source read at all
THRESHOLD = 0.92
BUDGET_SECONDS = 120.0


class _Renamer(ast.NodeTransformer):
    def __init__(self):
        self.names: dict[str, str] = {}
        self.local: set[str] = set()

    def visit_FunctionDef(self, node):
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
            self.local.add(a.arg)
            a.arg = self._name(a.arg)
        for a in (node.args.vararg, node.args.kwarg):
            if a is not None:
                self.local.add(a.arg)
                a.arg = self._name(a.arg)
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Name(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.local.add(node.id)
        if node.id in self.local:
            node.id = self._name(node.id)
        return node

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")


def _locals(tree) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
    return found


def tokens(source: str) -> list[str] | None:
    """The normalised token sequence of source (at most MAX_TOKENS), or None when it does not
    parse, nests too deeply or is too long to read."""
    if len(source) > MAX_SOURCE:
        return None
    try:
        tree = ast.parse(source)
        renamer = _Renamer()
        renamer.local = _locals(tree)
        text = ast.unparse(renamer.visit(tree))
        out = []
        for t in tokenize.generate_tokens(io.StringIO(text).readline):
            if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER,
                              tokenize.COMMENT):
                out.append(t.string)
                if len(out) >= MAX_TOKENS:
                    break
        return out
    except (SyntaxError, ValueError, RecursionError, MemoryError, tokenize.TokenError):
        return None


def similarity(a: list[str], b: list[str]) -> float:
    """difflib's ratio of two token sequences, in [0, 1]."""
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < THRESHOLD or matcher.quick_ratio() < THRESHOLD:
        return matcher.quick_ratio()
    return matcher.ratio()


def library_source(name: str) -> str | None:
    """The source of seqlib's own function or class called name (numpy, torch or decode), if any."""
    import importlib

    for module in ("seqlib.numpy", "seqlib.decode", "seqlib.torch"):
        try:
            obj = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if obj is not None and (inspect.isfunction(obj) or inspect.isclass(obj)):
            try:
                return inspect.getsource(obj)
            except (OSError, TypeError):
                return None
    return None


def copy_flags(sources: dict[str, dict[str, str]], references: dict[str, list[tuple[str, str]]],
               budget: float = BUDGET_SECONDS) -> tuple[dict[str, list[str]], list[str]]:
    """Per student, the functions that match a reference or another student.

    sources: student -> {grade_id: source}.  references: grade_id -> [(label, source)], e.g.
    ("reference", the instructor's solution). Returns (student -> ["rnn_backward ~ reference
    (1.00)", "rnn_forward ~ bob (0.95)", ...], best match first per function; the students not
    compared because the time budget ran out).
    """
    stop = time.perf_counter() + budget
    toks = {s: {g: tokens(src) for g, src in cells.items() if isinstance(src, str)} for s, cells in sources.items()}
    ref_toks = {g: [(label, tokens(src)) for label, src in refs] for g, refs in references.items()}
    flags: dict[str, list[str]] = {s: [] for s in sources}
    students = sorted(sources)
    for i, s in enumerate(students):
        if time.perf_counter() > stop:
            return flags, students[i:]
        for g, t in sorted(toks[s].items()):
            if not t or len(t) < MIN_TOKENS:
                continue
            best = None
            for label, r in ref_toks.get(g, []):
                if r and len(r) >= MIN_TOKENS:
                    score = similarity(t, r)
                    if score >= THRESHOLD and (best is None or score > best[1]):
                        best = (label, score)
            for other in students:
                o = toks[other].get(g)
                if other == s or not o or len(o) < MIN_TOKENS:
                    continue
                score = similarity(t, o)
                if score >= THRESHOLD and (best is None or score > best[1]):
                    best = (other, score)
            if best is not None:
                flags[s].append(f"{g} ~ {best[0]} ({best[1]:.2f})")
    return flags, []
