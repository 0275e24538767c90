"""What a student sees in a chapter's notebook: MyST rewritten as the markdown JupyterLab renders.

book/_ext/course_myst.py rewrites the markdown cells of every chapter's notebook (course_notebooks.py).
Fast checks, no book build: no MyST syntax is left in any chapter's markdown; chapter 3 shows the
min-char-rnn code its literalinclude names; hints are <details>; references link to the section
they name; the converter on small inputs (roles, includes, nested fences); the markdown renders
(markdown-it, CommonMark, as a stand-in for JupyterLab's parser).
"""

from __future__ import annotations

import importlib.util
import posixpath
import re
from pathlib import Path

import nbformat
import pytest
from markdown_it import MarkdownIt

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
CHAPTERS = sorted(BOOK.glob("0*.md"))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BOOK / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


notebooks, myst = _load("course_notebooks"), _load("course_myst")
NOTEBOOKS = {}


def _notebook(chapter: Path, pages_url=None):
    if (chapter, pages_url) not in NOTEBOOKS:
        NOTEBOOKS[chapter, pages_url] = notebooks.chapter_notebook(chapter, pages_url=pages_url)
    return NOTEBOOKS[chapter, pages_url]


def _markdown(nb) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _without_code(text: str) -> str:
    """text without its fenced code blocks (code may hold anything)."""
    return re.sub(r"^(\s*)(`{3,}).*?^\s*\2`*\s*$", "", text, flags=re.S | re.M)


def _roles(text: str) -> list[str]:
    """The MyST roles in text, read left to right as MyST does: a code span hides what is inside it."""
    found = re.finditer(r"\{[A-Za-z][\w:.+-]*\}`|(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)", _without_code(text), re.S)
    return [m.group() for m in found if m.group().startswith("{")]


def convert(text: str, tmp_path: Path, pages: dict[str, str] | None = None, pages_url=None) -> str:
    """to_jupyter_markdown of text as page 'here' of a small book in tmp_path (pages: stem -> .md text)."""
    notebook = "---\nkernelspec:\n  name: python3\n---\n# {}\n\n```{{code-cell}} ipython3\nx = 1\n```\n"
    for stem, page in {"here": notebook.format("Here"), **(pages or {})}.items():
        (tmp_path / f"{stem}.md").write_text(page)
    return myst.to_jupyter_markdown(text, tmp_path / "here.md", pages_url=pages_url)


# --------------------------------------------------------------------------- the chapters


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_no_myst_syntax_is_left_in_a_chapters_notebook(chapter, tmp_path):
    out = notebooks.write_notebook(chapter, tmp_path / f"{chapter.stem}.ipynb")
    nb = nbformat.read(str(out), as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text, prose = cell.source, _without_code(cell.source)
        assert not _roles(text), f"a MyST role is left in:\n{text}"
        assert not re.search(r"^\s*:{3,}", text, re.M), f"a colon fence is left in:\n{text}"
        assert not re.search(r"^\s*`{3,}\s*\{", text, re.M), f"a directive fence is left in:\n{text}"
        assert not re.search(r"^\s*\([^()\s]+\)=\s*$", text, re.M), f"a (label)= target is left in:\n{text}"
        assert not re.search(r"^\s*:[\w-]+:", prose, re.M), f"a directive option is left in:\n{text}"
        assert not re.search(r"^\s*%", prose, re.M), f"a MyST comment is left in:\n{text}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_code_cells_keep_their_tags_as_metadata(chapter):
    nb, source = _notebook(chapter), chapter.read_text()
    code = [c for c in nb.cells if c.cell_type == "code"][1:]  # after the setup cell
    assert not any(c.source.lstrip().startswith((":tags:", "---")) for c in code)
    for tag in ("hide-input", "remove-cell", "hide-output", "remove-input"):
        want = len(re.findall(rf"^:tags: \[.*\b{tag}\b.*\]", source, re.M))
        assert sum(tag in c.metadata.get("tags", []) for c in code) == want, tag


def test_chapter_3_shows_the_min_char_rnn_code_its_literalinclude_names():
    chapter = BOOK / "03_language_models.md"
    directive = re.search(r"```\{literalinclude\} (\S+)\n(.*?)```", chapter.read_text(), re.S)
    options = dict(re.findall(r'^:([\w-]+): "?(.*?)"?$', directive[2], re.M))
    program = (BOOK / directive[1]).read_text().split("\n")
    first = next(i for i, l in enumerate(program) if options["start-at"] in l)
    last = next(i for i, l in enumerate(program) if i > first and options["end-at"] in l)
    want = "\n".join(program[first:last + 1])
    assert "dhraw = (1 - hs[t] * hs[t]) * dh" in want and last - first > 20  # the forward and backward passes
    cells = [c.source for c in _notebook(chapter).cells if c.cell_type == "markdown" and want in c.source]
    assert len(cells) == 1, "the min-char-rnn code is not in chapter 3's notebook"
    assert f"```python\n{want}\n```" in cells[0]


def test_every_hint_and_solution_is_a_details_element_that_renders():
    for chapter in CHAPTERS:
        text = _markdown(_notebook(chapter))
        dropdowns = re.findall(r"^\s*:{3,}\{admonition\} (.+)\n\s*:class: dropdown", chapter.read_text(), re.M)
        assert re.findall(r"<summary>(.+)</summary>", text) == dropdowns, chapter.stem
        assert text.count("<details>") == text.count("</details>") == len(dropdowns)
        exercises = text.split("## Exercises")[-1]
        rendered = MarkdownIt("commonmark").render(exercises)
        assert not re.search(r"^\d+\. ", rendered, re.M), f"{chapter.stem}: an exercise is swallowed as raw text"
        for m in re.finditer("<details>", rendered):  # each hint inside its exercise's list item
            before = rendered[:m.start()]
            assert before.count("<li>") > before.count("</li>"), chapter.stem
    exercises = _markdown(_notebook(BOOK / "07_attention.md")).split("## Exercises")[1]
    solution = MarkdownIt("commonmark").render(exercises).split("<summary>Solution</summary>")[1].split("</details>")[0]
    assert '<code class="language-python">' in solution and "<p>" in solution  # code and prose, rendered


def test_a_reference_to_another_chapter_links_its_notebook_at_the_section():
    text = _markdown(_notebook(BOOK / "07_attention.md"))
    heading = re.search(r"^\(seq2seq-bottleneck\)=\n## (.+)$", (BOOK / "06_seq2seq.md").read_text(), re.M)[1]
    assert f"[{heading}](06_seq2seq.ipynb#{heading.replace(' ', '-')})" in text
    title = re.search(r"^# (.+)$", (BOOK / "06_seq2seq.md").read_text(), re.M)[1]
    assert f"[{title}](06_seq2seq.ipynb)" in text  # {doc}`06_seq2seq`


def test_references_to_the_library_page_name_it_or_link_the_built_page():
    chapter = BOOK / "01_vanilla_rnn.md"
    assert "(source: the book's page “The library, `seqlib`”, section “`seqlib.numpy.rnn`: the vanilla RNN”)" \
        in _markdown(_notebook(chapter))
    url = notebooks.site_pages_url("book/01_vanilla_rnn")
    link = re.search(r"\[source\]\(([^)]+)\)", _markdown(_notebook(chapter, url)))[1]
    assert posixpath.normpath(posixpath.join("_sources/book", link)) == "book/library.html#lib-numpy-rnn"
    assert notebooks.site_pages_url("book/01_vanilla_rnn", "https://o.github.io/r/") == "https://o.github.io/r/book/"


# --------------------------------------------------------------------------- the converter


def test_roles(tmp_path):
    pages = {"other": "---\nkernelspec:\n  name: python3\n---\n# Other chapter\n\n(sec)=\n## A `code` section\n"
                      "\n```{code-cell} ipython3\n```\n",
             "library": "# The library\n\n(lib-x)=\n## Module x\n"}
    here = "(mine)=\n## My section\n\n$$\na = b\n$$ (eq-one)\n"
    notebook = "---\nkernelspec:\n  name: python3\n---\n# Here\n\n```{code-cell} ipython3\n```\n"
    convert("", tmp_path, {**pages, "here": notebook + here})
    out = myst.to_jupyter_markdown(
        "{ref}`mine` and {ref}`see <sec>` and {doc}`other`, {ref}`lib-x`, {eq}`eq-one`, {math}`x^2`,\n"
        "{func}`~seqlib.numpy.rnn_forward`, {sup}`2`, {numref}`Fig. %s <sec>`, {cite}`bahdanau`,\n"
        "{ref}`missing-label` and `{ref}`in code``", tmp_path / "here.md")
    assert out == ("[My section](#My-section) and [see](other.ipynb#A-code-section) and [Other chapter](other.ipynb), "
                   "“Module x” (the book's page “The library”), (1), $x^2$,\n"
                   "`rnn_forward`, <sup>2</sup>, [Fig.](other.ipynb#A-code-section), bahdanau,\n"
                   "missing-label and `{ref}`in code``")
    assert "[Module x](../../book/library.html#lib-x)" in myst.to_jupyter_markdown("{ref}`lib-x`", tmp_path / "here.md",
                                                                                 pages_url="../../book/")
    assert myst.to_jupyter_markdown(here, tmp_path / "here.md") == "## My section\n\n$$\na = b\n\\tag{1} $$"


def test_admonitions_nest_and_render(tmp_path):
    text = ("::::{admonition} A note on the slides\n:class: note lecture-note\nOuter **text**.\n\n"
            ":::{admonition} Hint\n:class: dropdown\nInner, with code:\n\n```python\nx = [1, 2]\n```\n:::\n"
            "::::\nAfter.")
    out = convert(text, tmp_path)
    assert out == ("> **A note on the slides**\n>\n> Outer **text**.\n>\n> <details>\n> <summary>Hint</summary>\n>\n"
                   "> Inner, with code:\n>\n> ```python\n> x = [1, 2]\n> ```\n>\n> </details>\n\nAfter.")
    html = MarkdownIt("commonmark").render(out)
    assert html.startswith("<blockquote>\n<p><strong>A note on the slides</strong></p>")
    assert ("<details>\n<summary>Hint</summary>\n<p>Inner, with code:</p>\n"
            '<pre><code class="language-python">x = [1, 2]') in html
    assert html.endswith("</details>\n</blockquote>\n<p>After.</p>\n")


def test_a_dropdown_inside_a_list_item_keeps_the_list(tmp_path):
    text = ("1. First.\n\n   :::{admonition} Solution\n   :class: dropdown\n   ```python\n   y = 2\n   ```\n"
            "   Because.\n   :::\n2. Second.")
    out = convert(text, tmp_path)
    assert ("   <details>\n   <summary>Solution</summary>\n\n   ```python\n   y = 2\n   ```\n   Because.\n\n"
            "   </details>\n\n2.") in out
    html = MarkdownIt("commonmark").render(out)
    assert html.count("<ol>") == 1 and html.count("<li>") == 2 and "<p>Because.</p>\n</details>\n</li>" in html


def test_backtick_directives_named_admonitions_and_the_rest(tmp_path):
    text = ("% a comment\n(target)=\n````{note} Mind the shapes.\n```{code-block} python\n:caption: one step\n"
            ":linenos:\nh = x @ W\n```\n````\n\n:::{dropdown} `seqlib` details\n:open:\nHidden.\n:::\n\n"
            "```{figure} img/cell.png\n:alt: a cell\nThe {math}`h_t` cell.\n```\n\n```{math}\n:label: m\nx\n```\n\n"
            "```{mystery} Title\nBody.\n```\n\n```{toctree}\nx\n```")
    out = convert(text, tmp_path)
    assert out == ("> **Note**\n>\n> Mind the shapes.\n>\n> *one step*\n>\n> ```python\n> h = x @ W\n> ```\n\n"
                   "<details open>\n<summary><code>seqlib</code> details</summary>\n\nHidden.\n\n</details>\n\n"
                   "![a cell](img/cell.png)\n\nThe $h_t$ cell.\n\n$$\nx\n$$\n\n**Title**\n\nBody.")


def test_literalinclude_reads_the_lines_sphinx_would(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "prog.py").write_text(
        "import numpy as np\n\n\ndef step(x):\n    # one step\n    return np.tanh(x)\n\n\nclass A:\n    pass\n")
    include = "```{{literalinclude}} code/prog.py\n{}\n```"
    cases = {":pyobject: step": "def step(x):\n    # one step\n    return np.tanh(x)",
             ":lines: 1,4-5": "import numpy as np\ndef step(x):\n    # one step",
             ':start-after: "# one step"\n:end-before: class A': "    return np.tanh(x)",
             ":start-at: # one step\n:end-at: return\n:dedent: 4": "# one step\nreturn np.tanh(x)",
             ":language: text\n:lines: 9-": "class A:\n    pass"}
    for options, want in cases.items():
        language = "text" if "language" in options else "python"
        assert convert(include.format(options), tmp_path) == f"```{language}\n{want}\n```", options
    with pytest.raises(ValueError, match=r"here\.md: literalinclude 'code/missing.py'"):
        convert("```{literalinclude} code/missing.py\n```", tmp_path)
    (tmp_path / "code" / "fence.md").write_text("```\nx\n```\n")
    assert convert("```{literalinclude} code/fence.md\n```", tmp_path) == "````markdown\n```\nx\n```\n````"


def test_a_role_inside_code_and_math_is_left_alone(tmp_path):
    text = "```python\n% not a comment\n(x)=\n{ref}`y`\n```\n\n$$\n% a LaTeX comment\n$$"
    assert convert(text, tmp_path) == text
