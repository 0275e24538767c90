"""Feedback for students: scores and failure messages, never the hidden tests, nothing remote.

nbgrader's ClearHiddenTests removes the hidden code from a test cell, but a failing
test's traceback still quotes that code line by line (nbgrader issue 917). Here the
traceback of a cell that held hidden tests is cut to its last line, the error and its
message: the checks in ``seqlib.grading`` put what was expected and what came back into
that message, which is what a student needs, without revealing the tests themselves.

nbgrader's feedback page loads MathJax from a CDN; ``make_offline`` removes every script or
stylesheet the page would fetch from another host (formulas then show as their TeX source),
so a feedback file opens the same without a network and tells no server who read it.
``python -m seqlib.grading feedback NAME`` runs nbgrader's generate_feedback, then this.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbgrader.preprocessors import ClearHiddenTests

from seqlib.grading.course import GradingError

_REMOTE = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//[^>]*>\s*</script>|"""
                     r"""<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?//[^>]*>""", re.IGNORECASE)


class HideHiddenTests(ClearHiddenTests):
    """ClearHiddenTests, plus tracebacks of hidden-test cells cut to their error message."""

    def preprocess_cell(self, cell, resources, cell_index):
        had_hidden = self.begin_test_delimeter in cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if had_hidden:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources


def make_offline(html: str) -> str:
    """html without the scripts and stylesheets it would load from another host."""
    return _REMOTE.sub("", html)


def generate(api, assignment: str) -> list[Path]:
    """nbgrader's feedback for every graded student of assignment, made offline; the files."""
    out = api.generate_feedback(assignment, force=True)
    if not out.get("success"):
        said = " ".join((out.get("error") or out.get("log") or "").split())[-300:]
        raise GradingError(f"nbgrader generate_feedback {assignment} failed: {said}")
    root = Path(api.coursedir.root) / api.coursedir.feedback_directory
    files = sorted(root.glob(f"*/{assignment}/*.html"))
    for f in files:
        f.write_text(make_offline(f.read_text(encoding="utf-8")), encoding="utf-8")
    return files
