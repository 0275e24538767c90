"""The feedback a student gets (seqlib.grading.feedback): each test named beside its score, maths
typeset by the course's own MathJax into a page with no script, links that open the book; a
student's text stays inert. Checked on real nbgrader feedback, made once for a tiny class."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqlib.grading import feedback

REPO = Path(__file__).resolve().parents[2]
A = "tiny"
MATHJAX = feedback.find_mathjax(REPO)
needs_mathjax = pytest.mark.skipif(MATHJAX is None or shutil.which("node") is None,
                                   reason="node and node_modules/mathjax (`make env`) are needed to typeset")
SCRIPT = re.compile(r"<script", re.IGNORECASE)


def _typeset_one(page: str) -> str:
    (out,), why = feedback.typeset([page], MATHJAX)
    assert out is not None, why
    return out


@needs_mathjax
def test_tex_is_typeset_with_nbgraders_delimiters_and_code_is_left_alone():
    page = ("<html><head><title>t</title></head><body><p>$a &lt; b$ and \\(c_t\\), at \\$5</p><p>$$x^2$$</p>"
            "<p>\\[ y \\]</p><p>\\begin{align}y &amp;= 1\\end{align}</p><pre>$x = 1$</pre><code>$nor$</code>"
            "</body></html>")
    out = _typeset_one(page)
    inline = re.findall(r'<mjx-container class="MathJax" jax="SVG">', out)
    display = re.findall(r'<mjx-container class="MathJax" jax="SVG" display="true"', out)
    assert (len(inline), len(display)) == (2, 3), out[-3000:]
    assert "at <span>$</span>5" in out and "<pre>$x = 1$</pre>" in out and "<code>$nor$</code>" in out
    assert "$$" not in out and "\\begin" not in out and "MJX-SVG-global-cache" in out  # glyphs in the page


@needs_mathjax
def test_a_students_tex_cannot_link_to_script_style_the_page_or_load_an_extension():
    page = ("<html><body><p>$\\href{javascript:alert(1)}{x} \\href{https://example.org/}{y} \\class{navbar}{z}"
            " \\style{position:fixed;top:0}{w} \\cssId{top}{v} \\require{bbox}$</p></body></html>")
    out = _typeset_one(page)
    out = out[out.index("<body>"):]  # MathJax's own stylesheet in the head has a position: fixed
    assert 'href="https://example.org/"' in out  # a plain link stays a link
    for bad in ('href="javascript', "navbar", "position: fixed", 'id="top"', "<script"):
        assert bad not in out, bad
    assert out.count('fill="red"') == 1  # \require is no command: shown as unknown, loads nothing


def test_without_node_or_mathjax_the_tex_stays_and_one_line_says_why(monkeypatch):
    page = "<html><head></head><body><p>$x$</p><script>var a = 1;</script></body></html>"
    assert feedback.typeset([page], None) == ([None], "MathJax was not found (node_modules/mathjax: run `make env`)")
    monkeypatch.setattr(feedback.shutil, "which", lambda name: None)
    assert feedback.typeset([page, page], MATHJAX) == ([None, None], "node was not found")
    (out,) = feedback.finish({Path("/c/feedback/s/a/a.html"): page}, Path("/c"), "assignments/a").values()
    assert "<p>$x$</p>" in out and not SCRIPT.search(out)
    assert len(re.findall(r"shown as their TeX source: node was not found when this feedback was made", out)) == 1


def test_a_broken_node_run_is_a_note_not_a_failure(tmp_path, monkeypatch):
    fake = tmp_path / "node"
    fake.write_text("#!/bin/sh\necho 'not json'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(feedback.shutil, "which", lambda name: str(fake))
    done, why = feedback.typeset(["<p>$x$</p>"], MATHJAX or Path(__file__))
    assert done == [None] and why.startswith("MathJax in node failed")


# --------------------------------------------------------------------------- real nbgrader feedback

MATH = ("# Tiny\n\nChapter: [RNN](../../book/01_vanilla_rnn.md), *The recurrence* in "
        "[RNN](../../book/01_vanilla_rnn.md#the-recurrence); [NumPy](https://numpy.org).\n\n"
        "Inline $h_t = \\tanh(W_x x_t + W_h h_{t-1} + b)$, a price of \\$5, and displayed\n\n"
        "$$\\frac{\\partial L}{\\partial W} = \\sum_t \\delta_t x_t^\\top$$\n\n"
        "\\begin{align}\ny &= 2x \\label{eq:double}\n\\end{align}\n")


def _cell(cell_type, grade_id, source, *, solution=False, grade=False, points=None, tags=None):
    meta = {"schema_version": 3, "grade_id": grade_id, "solution": solution, "grade": grade, "locked": not solution}
    if points is not None:
        meta["points"] = points
    cell = {"cell_type": cell_type, "id": grade_id.replace("_", "-"),
            "metadata": {"nbgrader": meta, **({"tags": tags} if tags else {})}, "source": source}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


SOURCE = {
    "cells": [
        _cell("markdown", "intro", MATH),
        _cell("code", "setup", "import numpy as np", tags=["worker"]),
        _cell("code", "double", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
              solution=True),
        _cell("code", "test_double_shapes", "assert double(np.ones(2)).shape == (2,), 'expected shape (2,)'",
              grade=True, points=1),
        _cell("code", "test_double_values",
              "assert double(np.ones(2)).tolist() == [2.0, 2.0], 'expected [2, 2] for $x = 1$'\n"
              "### BEGIN HIDDEN TESTS\nassert double(3) == 6, 'double(3): expected 6'\n### END HIDDEN TESTS",
              grade=True, points=2),
        _cell("markdown", "written_why", "Twice the input.\n\n**Rubric (2 points):** 2 for saying it doubles.",
              solution=True, grade=True, points=2),
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}
ANSWER = ("It doubles: $y = 2x$, and $\\href{javascript:alert(1)}{x}$ <script>alert('x')</script> "
          "[click](javascript:alert(2)) [or](&#106;avascript:alert(3)) "
          "![seen](https://example.invalid/track.png)")
TESTS = {"test_double_shapes": 1.0, "test_double_values": 2.0}
BOB = {"test_double_shapes": 1.0, "test_double_values": 0.0}  # his double(x) returns x: the right shape


@pytest.fixture(scope="module")
def fb(tmp_path_factory):
    """A tiny class released, graded and given feedback: nbgrader's own pages, and ours."""
    from seqlib.grading.course import load_api
    from seqlib.grading.release import release

    course = tmp_path_factory.mktemp("feedback") / "course"
    (course / "solutions" / A).mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    (course / "solutions" / A / f"{A}.ipynb").write_text(json.dumps(SOURCE), encoding="utf-8")
    api = load_api(course)
    release(api, A)
    nb = json.loads((course / "assignments" / A / f"{A}.ipynb").read_text())
    for student, code, answer in (("ada", "def double(x):\n    return x + x", ANSWER),
                                  ("bob", "def double(x):\n    return x", None)):
        mine = json.loads(json.dumps(nb))
        for cell in mine["cells"]:
            gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
            cell["source"] = {"double": code, "written_why": answer or cell["source"]}.get(gid, cell["source"])
        (course / "submitted" / student / A).mkdir(parents=True)
        (course / "submitted" / student / A / f"{A}.ipynb").write_text(json.dumps(mine), encoding="utf-8")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    # the test's own code: graded without the sandbox, which tests/grading/test_sandbox.py checks
    graded = subprocess.run([sys.executable, "-m", "seqlib.grading", "autograde", A, "--unsafe-no-sandbox"],
                            cwd=course, env=env, capture_output=True, text=True, timeout=600)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert api.generate_feedback(A, force=True)["success"]
    page = {s: course / "feedback" / s / A / f"{A}.html" for s in ("ada", "bob")}
    raw = {s: p.read_text(encoding="utf-8") for s, p in page.items()}
    files = feedback.generate(api, A)
    assert sorted(files) == sorted(page.values())
    return {"course": course, "api": api, "raw": raw, "page": page,
            "done": {s: p.read_text(encoding="utf-8") for s, p in page.items()}}


@pytest.mark.slow
def test_every_test_and_answer_is_named_beside_its_score(fb):
    assert ">Test cell</a> (Score:" in fb["raw"]["bob"]  # nbgrader's summary names no test
    bob = fb["done"]["bob"]
    for gid, points in TESTS.items():
        score = re.escape(f"Score: {BOB[gid]} / {points}")
        assert re.search(rf'<li><a href="#{gid}">Test cell <code>{gid}</code></a> \({score}\)', bob), gid
        assert re.search(rf'Grade cell: <code>{gid}</code></span>\s*<span class="pull-right">\s*{score}', bob), gid
    assert bob.count("Test cell <code>") == len(TESTS)  # every test cell, each once
    assert "Written response <code>written_why</code></a> (Score: 0.0 / 2.0)" in bob
    assert "Student's answer: <code>double</code></span>" in bob
    assert re.search(r'Student\'s answer: <code>written_why</code></span><span class="pull-right">\s*Score: 0\.0 / 2\.0',
                     bob)
    ada = fb["done"]["ada"]
    assert all(re.search(rf"Test cell <code>{g}</code></a> \(Score: {p} / {p}\)", ada) for g, p in TESTS.items())
    assert "double(3): expected 6" not in bob and "BEGIN HIDDEN TESTS" not in bob  # hidden tests stay hidden


@pytest.mark.slow
@needs_mathjax
def test_maths_is_typeset_in_the_page_which_has_no_script(fb):
    raw, page = fb["raw"]["ada"], fb["done"]["ada"]
    assert "MathJax.Hub.Config" in raw and "$$\\frac{\\partial L}" in raw  # what nbgrader wrote
    assert not SCRIPT.search(page) and "MathJax.Hub" not in page
    head = page[page.index("<head>"):page.index("</head>")]
    assert head.startswith(f'<head><meta http-equiv="Content-Security-Policy" content="{feedback.POLICY}">')
    assert "seqlib-note" not in page
    text = re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)
    assert "\\frac" not in text and "\\tanh" not in text and "\\begin{align}" not in text and "$y = 2x$" not in text
    assert page.count('jax="SVG" display="true"') == 2 and page.count('<mjx-container class="MathJax" jax="SVG">') == 3
    assert "a price of $5" in page  # an escaped dollar is a dollar
    assert "'expected [2, 2] for $x = 1$'" in page  # code is not maths
    # the student's text is shown, never run: their script as text, their TeX link without javascript
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in page and 'href="javascript' not in page
    assert '<a href="#">click</a>' in page and "alert(2)" not in page


@pytest.mark.slow
def test_chapter_links_open_the_built_book_or_the_published_one(fb):
    course, page = fb["course"], fb["page"]["ada"]
    hrefs = re.findall(r'<a href="([^"#][^"]*)"', fb["done"]["ada"])
    assert hrefs == ["../../../_build/html/book/01_vanilla_rnn.html",
                     "../../../_build/html/book/01_vanilla_rnn.html#the-recurrence", "https://numpy.org"], hrefs
    assert (page.parent / hrefs[0]).resolve() == (course / "_build" / "html" / "book" / "01_vanilla_rnn.html").resolve()
    # whatever form the links reach the page in: as released now, or as an older release wrote them
    older = fb["raw"]["ada"].replace("../../_build/html/book/01_vanilla_rnn.html", "../../book/01_vanilla_rnn.md")
    assert "book/01_vanilla_rnn.md" in older
    for raw in (fb["raw"]["ada"], older):
        (out,) = feedback.finish({page: raw}, course, f"assignments/{A}", "https://org.github.io/course",
                                 MATHJAX).values()
        assert re.findall(r'<a href="([^"#][^"]*)"', out) == [
            "https://org.github.io/course/book/01_vanilla_rnn.html",
            "https://org.github.io/course/book/01_vanilla_rnn.html#the-recurrence", "https://numpy.org"]


@pytest.mark.slow
@needs_mathjax
def test_the_page_opens_offline_as_one_file_and_fetches_nothing(fb, browser, tmp_path):
    alone = tmp_path / "ada.html"  # one file, away from the course
    alone.write_text(fb["done"]["ada"], encoding="utf-8")
    browser.get_log("browser")
    browser.get(alone.as_uri())
    assert browser.execute_script("return document.scripts.length + (typeof MathJax === 'undefined' ? 0 : 1)") == 0
    sizes = browser.execute_script("return [...document.querySelectorAll('mjx-container svg')]"
                                   ".filter(s => s.parentElement.tagName === 'MJX-CONTAINER')"
                                   ".map(s => s.getBoundingClientRect().width)")
    assert len(sizes) == 5 and min(sizes) > 0, sizes
    asked = browser.execute_script("return performance.getEntriesByType('resource').map(r => [r.name, r.transferSize])")
    problems = [e["message"] for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    # What the page asks for, and is refused by its own policy: the image in the student's answer, and
    # the icon font of nbgrader's inlined Bootstrap (which names files the page never had).
    assert {name for name, size in asked if size == 0} == {name for name, _ in asked}, asked
    assert sorted(n.rsplit("/", 1)[1] for n, _ in asked) == [
        "glyphicons-halflings-regular.ttf", "glyphicons-halflings-regular.woff",
        "glyphicons-halflings-regular.woff2", "track.png"], asked
    assert len(problems) == 4 and all("violates the following Content Security Policy" in p for p in problems), \
        problems


@pytest.mark.slow
def test_a_feedback_run_without_mathjax_still_writes_every_page(fb, monkeypatch):
    monkeypatch.setattr(feedback, "find_mathjax", lambda *folders: None)
    files = feedback.generate(fb["api"], A)
    assert len(files) == 2
    for f in files:
        page = f.read_text(encoding="utf-8")
        assert "$$\\frac{\\partial L}{\\partial W}" in page and not SCRIPT.search(page)
        assert page.count("shown as their TeX source: MathJax was not found") == 1
        assert "Test cell <code>test_double_values</code>" in page
