"""Links from an assignment, and from its feedback, to the chapter it practises: the built page.

Course tooling, taught in no chapter (README.md, "For instructors"). A source notebook
(solutions/NAME/NAME.ipynb) links to its chapter's MyST source, as the book's own pages do::

    Chapter: [Sequences and the vanilla RNN](../../book/01_vanilla_rnn.md).

JupyterLab opens that as markdown text. The release (``make release``) and the feedback
(``make feedback``) point every link to a ``book/*.md`` chapter at its page in the built book,
keeping the anchor (``#the-recurrence``); every other link stays as it is:

- where the course's book is published (``html.baseurl`` in _config.yml, Jupyter Book's
  address of the book, e.g. ``https://org.github.io/course``), at
  ``<baseurl>/book/01_vanilla_rnn.html``, which opens wherever the file is read;
- otherwise at the page ``make book`` builds, relative to the file that holds the link:
  ``../../_build/html/book/01_vanilla_rnn.html`` from assignments/NAME/NAME.ipynb,
  ``../../../_build/html/book/01_vanilla_rnn.html`` from feedback/STUDENT/NAME/NAME.html.

Folders are written relative to the course folder, with ``/`` (``assignments/rnn_numpy``).
"""

from __future__ import annotations

import html as _html
import posixpath
import re
from pathlib import Path

BUILD = "_build/html"  # where `make book` (jupyter-book build .) writes the site

# A chapter as a link names it, once resolved against the folder the link was written in:
# its MyST source, or its built page (a link this module already rewrote).
_CHAPTER = re.compile(r"^(?:book/(?P<md>[^/]+)\.md|" + re.escape(BUILD) + r"/book/(?P<html>[^/]+)\.html)$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")
# Where a URL stands in markdown: [text](URL "title"), [id]: URL, and HTML's href="URL".
_MD_INLINE = re.compile(r"(\]\(\s*<?)([^\s()<>]+)")
_MD_REFERENCE = re.compile(r"^( {0,3}\[[^\]\n]+\]:[ \t]*<?)(\S+?)(?=>?(?:\s|$))", re.MULTILINE)
_HREF = re.compile(r"""(\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


def book_url(course_dir) -> str:
    """The published book's address from course_dir/_config.yml (``html.baseurl``), without a
    trailing slash; "" when it is unset or there is no _config.yml.

    Raises ValueError when the setting is not an http(s) address.
    """
    path = Path(course_dir) / "_config.yml"
    if not path.is_file():
        return ""
    import yaml

    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = config.get("html") if isinstance(config, dict) else None
    url = section.get("baseurl") if isinstance(section, dict) else None
    if url in (None, ""):
        return ""
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", url):
        raise ValueError(f"html.baseurl in {path} is {url!r}: expected the published book's address, "
                         "such as https://org.github.io/course, or \"\" for none")
    return url.rstrip("/")


def chapter(href: str, base: str) -> tuple[str, str] | None:
    """(page, anchor) of the chapter href links to, written in folder base; None for any other link.

    page is the chapter's name (``01_vanilla_rnn``), anchor "" or ``#...``:
    ``chapter("../../book/01_vanilla_rnn.md#x", "assignments/rnn_numpy") == ("01_vanilla_rnn", "#x")``.
    """
    if not isinstance(href, str) or not href or _SCHEME.match(href) or href.startswith(("/", "#")):
        return None
    path, hash_, anchor = href.partition("#")
    if "?" in path:
        return None
    resolved = posixpath.normpath(posixpath.join(base, path))
    m = _CHAPTER.match(resolved)
    if not m:
        return None
    return m["md"] or m["html"], hash_ + anchor


def chapter_link(page: str, anchor: str, here: str, baseurl: str = "") -> str:
    """The address of chapter page's built page, from a file in folder here (or under baseurl)."""
    if baseurl:
        return f"{baseurl.rstrip('/')}/book/{page}.html{anchor}"
    target = f"{BUILD}/book/{page}.html"
    return posixpath.relpath(target, posixpath.normpath(here) or ".") + anchor


def relink(href: str, base: str, here: str, baseurl: str = "") -> str:
    """href, written in folder base, as it must read in folder here: a chapter's link points at
    its built page; any other link comes back unchanged."""
    found = chapter(href, base)
    return href if found is None else chapter_link(*found, here, baseurl)


def rewrite_markdown(text: str, base: str, here: str, baseurl: str = "") -> str:
    """Markdown text written in folder base, with its chapter links made right for folder here:
    inline links, reference definitions and HTML href attributes."""
    def swap(m):
        return m[1] + relink(m[2], base, here, baseurl)

    text = _MD_INLINE.sub(swap, text)
    text = _MD_REFERENCE.sub(swap, text)
    return _HREF.sub(lambda m: _href(m, lambda h: relink(h, base, here, baseurl), quote=False), text)


def _href(m, change, quote: bool) -> str:
    double = m[2] is not None
    value = m[2] if double else m[3]
    raw = _html.unescape(value) if quote else value
    new = change(raw)
    if new == raw:
        return m[0]
    if quote:
        new = _html.escape(new, quote=True)
    return f'{m[1]}"{new}"' if double else f"{m[1]}'{new}'"


def rewrite_notebook(nb: dict, here: str, baseurl: str = "", base: str | None = None) -> list[int]:
    """Point the chapter links of nb's markdown cells at the built pages, in place; the indices
    of the cells changed.

    here: the notebook's folder; base: the folder its links were written for (default here:
    a release has the depth of its source, solutions/NAME). A changed cell's nbgrader checksum
    is computed anew, so ``nbgrader validate`` still finds locked cells untouched.
    """
    changed = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else source
        new = rewrite_markdown(text, base or here, here, baseurl)
        if new != text:
            cell["source"] = new
            changed.append(i)
            meta = cell.get("metadata", {}).get("nbgrader")
            if isinstance(meta, dict) and "checksum" in meta:
                from nbformat import from_dict
                from nbgrader.utils import compute_checksum

                meta["checksum"] = compute_checksum(from_dict(cell))
    return changed


def rewrite_html(page: str, base: str, here: str, baseurl: str = "") -> str:
    """An HTML page's href attributes whose links (written in folder base) name a chapter,
    pointed at its built page as seen from folder here."""
    return _HREF.sub(lambda m: _href(m, lambda h: relink(h, base, here, baseurl), quote=True), page)
