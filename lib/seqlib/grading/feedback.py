"""An nbgrader feedback preprocessor that keeps hidden tests hidden.

nbgrader's ClearHiddenTests removes the hidden code from a test cell, but a failing
test's traceback still quotes that code line by line (nbgrader issue 917). Here the
traceback of a cell that held hidden tests is cut to its last line, the error and its
message: the checks in ``seqlib.grading`` put what was expected and what came back into
that message, which is what a student needs, without revealing the tests themselves.
"""

from __future__ import annotations

from nbgrader.preprocessors import ClearHiddenTests


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
