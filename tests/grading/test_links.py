"""An assignment's links to its chapter open the built book: in the release and in the feedback
(seqlib.grading.links, used by `make release` and `make feedback`)."""

from __future__ import annotations

import json
import posixpath
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import compute_checksum

from seqlib.grading import links

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = {p.stem for p in (REPO / "book").glob("*.md")}
MD_LINK = re.compile(r"\]\(([^)\s]+)")


def test_a_chapter_link_becomes_the_built_page_seen_from_where_the_file_lies():
    md = "../../book/01_vanilla_rnn.md"
    assert links.relink(md, "assignments/rnn_numpy", "assignments/rnn_numpy") == \
        "../../_build/html/book/01_vanilla_rnn.html"
    assert links.relink(md + "#the-recurrence", "assignments/rnn_numpy", "feedback/ada/rnn_numpy") == \
        "../../../_build/html/book/01_vanilla_rnn.html#the-recurrence"
    # a link rewritten once is recognised again, from the release's folder, and moved to the feedback's
    built = "../../_build/html/book/02_bptt.html#clipping"
    assert links.relink(built, "assignments/bptt_numpy", "feedback/ada/bptt_numpy") == \
        "../../../_build/html/book/02_bptt.html#clipping"
    assert links.relink(md, "solutions/rnn_numpy", "x", "https://org.github.io/course") == \
        "https://org.github.io/course/book/01_vanilla_rnn.html"


@pytest.mark.parametrize("href", ["https://docs.python.org/3/", "#top", "mailto:a@b.c", "book/01_vanilla_rnn.md",
                                  "../../book/01_vanilla_rnn.ipynb", "../../lib/seqlib/README.md",
                                  "../../book/_ext/notes.md/x", "/book/01_vanilla_rnn.md", "../../book/x.md?y=1",
                                  "javascript:alert(1)", "//evil.example/book/01_vanilla_rnn.md"])
def test_every_other_link_is_left_as_it_is(href):
    assert links.relink(href, "assignments/rnn_numpy", "feedback/ada/rnn_numpy") == href


def test_markdown_links_of_every_form_and_nothing_else_change():
    text = ("Chapter: [RNN](../../book/01_vanilla_rnn.md). See [x](<../../book/02_bptt.md#clip> \"title\"),\n"
            "[ref]: ../../book/03_language_models.md\n"
            '<a href="../../book/04_lstm_gru.md">LSTM</a> and [docs](https://numpy.org) and `book/05.md`\n')
    out = links.rewrite_markdown(text, "solutions/a", "assignments/a")
    assert out == ("Chapter: [RNN](../../_build/html/book/01_vanilla_rnn.html). See "
                   "[x](<../../_build/html/book/02_bptt.html#clip> \"title\"),\n"
                   "[ref]: ../../_build/html/book/03_language_models.html\n"
                   '<a href="../../_build/html/book/04_lstm_gru.html">LSTM</a> and [docs](https://numpy.org) and '
                   "`book/05.md`\n")


def _locked_markdown(source: str) -> dict:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["nbgrader"] = {"schema_version": 3, "grade_id": "intro", "solution": False, "grade": False,
                                 "locked": True}
    cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
    return cell


def test_a_notebook_rewrites_its_markdown_only_and_keeps_locked_cells_valid():
    nb = nbformat.v4.new_notebook(cells=[
        _locked_markdown("Chapter: [RNN](../../book/01_vanilla_rnn.md)."),
        nbformat.v4.new_code_cell('open("../../book/01_vanilla_rnn.md")  # [x](../../book/01_vanilla_rnn.md)'),
        nbformat.v4.new_markdown_cell("No link here."),
    ])
    code = nb.cells[1].source
    assert links.rewrite_notebook(nb, "assignments/a", base="solutions/a") == [0]
    assert nb.cells[0].source == "Chapter: [RNN](../../_build/html/book/01_vanilla_rnn.html)."
    assert nb.cells[1].source == code
    # what `nbgrader validate` checks: the stored checksum is the cell's own
    assert nb.cells[0].metadata.nbgrader["checksum"] == compute_checksum(nb.cells[0])
    assert links.rewrite_notebook(nb, "assignments/a", base="assignments/a") == []  # done once, stays done


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir()))
def test_every_assignment_links_only_to_built_pages_of_chapters_that_exist(name):
    nb = nbformat.read(REPO / "solutions" / name / f"{name}.ipynb", as_version=4)
    here = f"assignments/{name}"
    changed = links.rewrite_notebook(nb, here, base=f"solutions/{name}")
    assert changed, f"{name} links to no chapter"
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for href in MD_LINK.findall(cell.source):
            path = href.split("#")[0]
            assert not (path.endswith(".md") and "book/" in path), f"{name}: {href} still opens the MyST source"
            if "_build" in path:
                target = posixpath.normpath(posixpath.join(here, path))
                assert target.startswith("_build/html/book/") and target.endswith(".html"), href
                assert posixpath.basename(target)[:-5] in CHAPTERS, f"{name}: {href} names no chapter"


def test_the_published_address_comes_from_the_books_config(tmp_path):
    assert links.book_url(tmp_path) == ""  # no _config.yml
    (tmp_path / "_config.yml").write_text("title: x\nhtml:\n  baseurl: \"\"\n")
    assert links.book_url(tmp_path) == ""
    (tmp_path / "_config.yml").write_text("html:\n  baseurl: https://org.github.io/course/\n")
    assert links.book_url(tmp_path) == "https://org.github.io/course"
    (tmp_path / "_config.yml").write_text("html:\n  baseurl: org.github.io/course\n")
    with pytest.raises(ValueError, match=r"html\.baseurl .* expected the published book's address"):
        links.book_url(tmp_path)


# --------------------------------------------------------------------------- a release, by nbgrader

SOURCE = {
    "cells": [
        {"cell_type": "markdown", "id": "intro", "source": "# Tiny\n\nChapter: [RNN](../../book/01_vanilla_rnn.md), "
         "*The recurrence* in [RNN](../../book/01_vanilla_rnn.md#the-recurrence); [NumPy](https://numpy.org).",
         "metadata": {"nbgrader": {"schema_version": 3, "grade_id": "intro", "solution": False, "grade": False,
                                   "locked": True}}},
        {"cell_type": "code", "id": "double", "execution_count": None, "outputs": [],
         "source": "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
         "metadata": {"nbgrader": {"schema_version": 3, "grade_id": "double", "solution": True, "grade": False,
                                   "locked": False}}},
        {"cell_type": "markdown", "id": "more", "metadata": {}, "source": "See [BPTT](../../book/02_bptt.md)."},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


@pytest.mark.slow
def test_a_release_opens_the_built_chapters_and_the_published_ones(tmp_path):
    from nbgrader.api import Gradebook
    from nbgrader.validator import Validator

    from seqlib.grading.course import load_api
    from seqlib.grading.release import release

    course = tmp_path / "course"
    (course / "solutions" / "tiny").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    (course / "solutions" / "tiny" / "tiny.ipynb").write_text(json.dumps(SOURCE), encoding="utf-8")
    released = course / "assignments" / "tiny" / "tiny.ipynb"

    said = release(load_api(course), "tiny")
    assert "chapter links in 2 cell(s) open _build/html" in said, said
    nb = nbformat.read(released, as_version=4)
    hrefs = [h for c in nb.cells if c.cell_type == "markdown" for h in MD_LINK.findall(c.source)]
    assert hrefs == ["../../_build/html/book/01_vanilla_rnn.html",
                     "../../_build/html/book/01_vanilla_rnn.html#the-recurrence", "https://numpy.org",
                     "../../_build/html/book/02_bptt.html"]
    for href in hrefs[:2]:  # where `make book` writes the chapter's page
        page = (released.parent / href.split("#")[0]).resolve()
        assert page == (course / "_build" / "html" / "book" / "01_vanilla_rnn.html").resolve()
    assert "BEGIN SOLUTION" not in released.read_text()
    # the student's check sees the locked cell as released; nbgrader's gradebook holds the same cell
    assert "changed" not in Validator().validate(str(released))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        stored = gb.find_source_cell("intro", "tiny", "tiny")
        assert stored.source == nb.cells[0].source and stored.checksum == nb.cells[0].metadata.nbgrader["checksum"]

    (course / "_config.yml").write_text("html:\n  baseurl: https://org.github.io/course/\n")
    said = release(load_api(course), "tiny")
    assert "open https://org.github.io/course" in said, said
    text = "".join(c.source for c in nbformat.read(released, as_version=4).cells)
    assert MD_LINK.findall(text) == ["https://org.github.io/course/book/01_vanilla_rnn.html",
                                     "https://org.github.io/course/book/01_vanilla_rnn.html#the-recurrence",
                                     "https://numpy.org", "https://org.github.io/course/book/02_bptt.html"]
    assert ".md" not in text
