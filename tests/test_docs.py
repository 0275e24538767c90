"""The book and the library are one story: every seqlib module names the chapter that explains it."""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "lib" / "seqlib"


def _chapters() -> list[str]:
    """The lecture's chapters, as book/intro.md lists them: '1. **Title**: ...'."""
    intro = (REPO / "book" / "intro.md").read_text(encoding="utf-8")
    return re.findall(r"^\d+\.\s+\*\*(.+?)\*\*", intro, flags=re.M)


# Modules that run the course rather than teach it: the package docstring (shape letters),
# the dataset cache and archive readers, and the graders (seqlib/grading/).
TOOLING = {"__init__.py", "data/archives.py", "data/cache.py"}


def _modules():
    for path in sorted(LIB.rglob("*.py")):
        if path.name == "__main__.py" or path.name.startswith("_") and path.name != "__init__.py":
            continue
        yield path


def test_intro_lists_the_six_chapters_of_the_lecture_and_the_one_beyond_it():
    assert _chapters()[:1] == ["Sequences and the vanilla RNN"]
    assert len(_chapters()) == 7 and _chapters()[6] == "Attention"


def test_every_module_docstring_names_a_chapter_of_the_book():
    chapters = [c.split(",")[0] for c in _chapters()]
    missing = []
    for path in _modules():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if path.relative_to(LIB).as_posix() in TOOLING or path.parent.name == "grading":
            continue  # course machinery, not course content
        if not any(f'"{c}' in doc for c in chapters):
            missing.append(str(path.relative_to(REPO)))
    assert missing == [], f"module docstrings that name no chapter (one of {chapters}): {missing}"


def test_every_public_function_has_a_docstring():
    missing = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                if not ast.get_docstring(node):
                    missing.append(f"{path.relative_to(REPO)}:{node.name}")
    assert missing == [], missing
