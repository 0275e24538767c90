"""Feedback for students: scores and failure messages by test name, never the hidden tests,
typeset maths, links to the book, and nothing that runs or loads from elsewhere.

Course tooling, taught in no chapter (README.md, "For instructors").
``python -m seqlib.grading feedback NAME`` (``make feedback A=NAME``) runs nbgrader's
generate_feedback, then makes each page what a student can open anywhere, as one file:

- **Hidden tests stay hidden.** nbgrader's ClearHiddenTests removes the hidden code from a
  test cell, but a failing test's traceback still quotes that code line by line (nbgrader
  issue 917). HideHiddenTests cuts such a traceback to its last line, the error and its
  message: the checks in ``seqlib.grading`` put what was expected and what came back into
  that message, without revealing the tests themselves.
- **Each test by its name.** nbgrader's summary lists "Test cell (Score: 0.0 / 2.0)" and heads an
  answer "Student's answer": ``name_cells`` adds the cell's grade_id (``test_rnn_step_forward_shapes``,
  ``rnn_step_forward``) to both, so a student can tell which test failed.
- **Maths typeset here, no script.** nbgrader's page asks a CDN for MathJax. ``typeset`` runs the
  course's own MathJax 3 (npm, ``make env``) in node over each page and writes every formula
  into it as SVG, with the delimiters nbgrader's page configures (``$...$`` and ``\\(...\\)``
  inline, ``$$...$$``, ``\\[...\\]`` and ``\\begin{env}`` displayed); then every script goes.
  Where node or MathJax is missing the formulas stay TeX and one line at the top says why;
  the feedback is made all the same.
- **Chapter links open the book** (seqlib.grading.links): the published book's page when
  _config.yml sets ``html.baseurl``, else ``_build/html`` from where the page lies.

A student's notebook is untrusted: their text reaches the page escaped (as nbgrader writes it),
MathJax typesets it with its ``safe`` filter (no ``javascript:`` link, class, id or style from
the TeX) and without ``\\require``, and the page forbids itself every script and every load
from another place (a Content-Security-Policy), so a student's ``![](https://...)`` in a
written answer fetches nothing.
"""

from __future__ import annotations

import html as _html
import json
import re
import shutil
import subprocess
from pathlib import Path

from nbgrader.preprocessors import ClearHiddenTests

from seqlib.grading import links
from seqlib.grading.course import GradingError

_REMOTE = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//[^>]*>\s*</script>|"""
                     r"""<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?//[^>]*>""", re.IGNORECASE)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.IGNORECASE | re.DOTALL)
# What the page may use: its own inline styles (MathJax's SVG included) and data: images. No script,
# nothing fetched: not the student's images, not a font, not a frame.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
# nbgrader 0.9.6's feedback template (server_extensions/formgrader/templates/feedback): the summary's
# entries, and the heading of an answer cell (preceded by its anchors, comment-<grade_id> first).
_SUMMARY = re.compile(r'(<li><a href="#([^"<>]*)">(?:Test cell|Coding free-response|Written response|Task))(</a>)')
_ANSWER = re.compile(r'(<a name="comment-([^"<>]*)"></a>(?:<a name="[^"<>]*"></a>)?\s*<div class="panel-heading">'
                     r"\s*<span class=\"nbgrader-label\">Student's (?:answer|task))(</span>)")
# A link a student's markdown made ([x](javascript:...)); the policy stops it too.
_LINK = re.compile(r"""(\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
BATCH = 20  # pages typeset by one node process (about 0.4 s each here): memory and time stay bounded
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)

# Node: read a JSON list of pages on stdin, write the list typeset (null for a page that failed).
_TYPESET_JS = r"""
const fs = require('fs');
const pages = JSON.parse(fs.readFileSync(0, 'utf8'));
require(process.argv[1]).init({
  loader: {load: ['input/tex-full', 'output/svg', 'ui/safe']},
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true, processEnvironments: true, tags: 'ams',
        packages: {'[-]': ['require', 'autoload']}},
  svg: {fontCache: 'global'},
  options: {safeOptions: {safeProtocols: {http: true, https: true, file: false, javascript: false, data: false}}},
  startup: {typeset: false, ready() {
    // ui/safe hooks itself in only where there is a window; here it is added by hand.
    MathJax.startup.extendHandler((handler) => MathJax._.ui.safe.SafeHandler.SafeHandler(handler));
    MathJax.startup.defaultReady();
  }},
}).then((MathJax) => {
  const adaptor = MathJax.startup.adaptor;
  const out = pages.map((page) => {
    try {
      const doc = MathJax.startup.getDocument(page);
      if (!doc.safe) return null;
      doc.render();
      return adaptor.doctype(doc.document) + adaptor.outerHTML(adaptor.root(doc.document));
    } catch (err) {
      return null;
    }
  });
  process.stdout.write(JSON.stringify(out));
}).catch((err) => { process.stderr.write(String(err && err.message || err)); process.exit(1); });
"""


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


def without_scripts(html: str) -> str:
    """html with no script element at all (nbgrader's MathJax configuration included), no
    ``javascript:`` link, and a Content-Security-Policy (POLICY) that lets it run none and load
    nothing from elsewhere."""
    html = _SCRIPT.sub("", make_offline(html))
    html = _LINK.sub(_inert, html)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
    m = _HEAD.search(html)
    return html[:m.end()] + meta + html[m.end():] if m else meta + html


def _inert(m) -> str:
    value = _html.unescape(m[2] if m[2] is not None else m[3])
    scheme = re.sub(r"[\x00-\x20]", "", value).lower()
    return f'{m[1]}"#"' if scheme.startswith(("javascript:", "vbscript:")) else m[0]


def _code(name: str) -> str:
    return f"<code>{_html.escape(_html.unescape(name))}</code>"


def name_cells(html: str) -> str:
    """nbgrader's feedback page with each graded cell's grade_id in the summary ("Test cell
    <code>test_x</code> (Score: ...)") and in each answer's heading ("Student's answer: <code>f</code>")."""
    html = _SUMMARY.sub(lambda m: f"{m[1]} {_code(m[2])}{m[3]}", html)
    return _ANSWER.sub(lambda m: f"{m[1]}: {_code(m[2])}{m[3]}", html)


def find_mathjax(*folders) -> Path | None:
    """MathJax 3's node entry point (node_modules/mathjax/es5/node-main.js) in the first of folders
    that has it; by default the course folder's, then this checkout's; None without one."""
    for folder in folders:
        main = Path(folder) / "node_modules" / "mathjax" / "es5" / "node-main.js"
        if main.is_file():
            return main
    return None


def _node_flags(node: str, es5: Path) -> list[str]:
    """Node's permission model (node 20+; environment.yml pins 20): MathJax may read its own
    files and nothing else, and start no process."""
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
        major = int(version.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return []
    if major < 20:
        return []
    # One --allow-fs-read with the folder's wildcard: node 20 aborts when also given the bare folder.
    return ["--permission" if major >= 23 else "--experimental-permission", f"--allow-fs-read={es5}/*",
            "--no-warnings"]


def typeset(pages: list[str], mathjax: Path | None, timeout: float | None = None) -> tuple[list[str | None], str]:
    """Every page's TeX typeset as SVG by MathJax in node: (the pages, None for each one that
    could not be; why not, "" when all were). mathjax: node-main.js (find_mathjax); never raises."""
    if not pages:
        return [], ""
    node = shutil.which("node")
    if node is None:
        return [None] * len(pages), "node was not found"
    if mathjax is None or not Path(mathjax).is_file():
        return [None] * len(pages), "MathJax was not found (node_modules/mathjax: run `make env`)"
    mathjax = Path(mathjax).resolve()
    try:
        proc = subprocess.run([node, *_node_flags(node, mathjax.parent), "-e", _TYPESET_JS, str(mathjax)],
                              input=json.dumps(pages), capture_output=True, text=True, encoding="utf-8",
                              timeout=timeout or 60 + 10 * len(pages))
    except (OSError, subprocess.SubprocessError) as err:
        return [None] * len(pages), f"MathJax did not finish ({type(err).__name__})"
    try:
        out = json.loads(proc.stdout) if proc.returncode == 0 else None
    except ValueError:
        out = None
    if not (isinstance(out, list) and len(out) == len(pages) and all(p is None or isinstance(p, str) for p in out)):
        said = " ".join(proc.stderr.split())[-200:]
        return [None] * len(pages), f"MathJax in node failed (exit {proc.returncode}: {said})"
    return out, "" if all(p is not None for p in out) else "MathJax could not typeset this page"


def note_tex(html: str, why: str) -> str:
    """html with one line at the top of its body saying that its formulas are shown as TeX, and why."""
    line = (f'<p class="seqlib-note" style="margin:0.5em 1em;color:#8a6d3b">The formulas on this page are '
            f'shown as their TeX source: {_html.escape(why)} when this feedback was made.</p>')
    m = _BODY.search(html)
    return html[:m.end()] + line + html[m.end():] if m else line + html


def finish(pages: dict[Path, str], root: Path, written_in: str, baseurl: str = "",
           mathjax: Path | None = None) -> dict[Path, str]:
    """nbgrader's feedback pages (by file, under course folder root) made as a student gets them:
    cells named, chapter links to the book (as written in folder written_in, the release's),
    maths typeset (or a line saying why not), no script."""
    ready = {}
    for path, page in pages.items():
        here = path.parent.resolve().relative_to(root.resolve()).as_posix()
        ready[path] = _SCRIPT.sub("", make_offline(links.rewrite_html(name_cells(page), written_in, here, baseurl)))
    paths = list(ready)
    for start in range(0, len(paths), BATCH):
        batch = paths[start:start + BATCH]
        done, why = typeset([ready[p] for p in batch], mathjax)
        for path, typeset_page in zip(batch, done):
            page = ready[path]
            # MathJax adds no script; removing them after it keeps a page script-free whatever it did.
            ready[path] = without_scripts(typeset_page if typeset_page is not None else note_tex(page, why))
    return ready


def generate(api, assignment: str) -> list[Path]:
    """nbgrader's feedback for every graded student of assignment, finished (see ``finish``); the files."""
    root = Path(api.coursedir.root)
    try:
        baseurl = links.book_url(root)
    except ValueError as err:
        raise GradingError(str(err)) from None
    out = api.generate_feedback(assignment, force=True)
    if not out.get("success"):
        said = " ".join((out.get("error") or out.get("log") or "").split())[-300:]
        raise GradingError(f"nbgrader generate_feedback {assignment} failed: {said}")
    files = sorted((root / api.coursedir.feedback_directory).glob(f"*/{assignment}/*.html"))
    pages = {f: f.read_text(encoding="utf-8") for f in files}
    written_in = f"{api.coursedir.release_directory}/{assignment}"
    mathjax = find_mathjax(root, Path(__file__).resolve().parents[3])
    for f, page in finish(pages, root, written_in, baseurl, mathjax).items():
        f.write_text(page, encoding="utf-8")
    return files
