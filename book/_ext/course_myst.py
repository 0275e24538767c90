"""The chapters' MyST markdown rewritten as the markdown that JupyterLab renders.

Used by course_notebooks.py: jupytext makes a chapter's code cells, but leaves its markdown cells
as MyST wrote them, and Jupyter's markdown knows none of MyST's syntax. ``to_jupyter_markdown``
rewrites one markdown cell:

- roles: ``{ref}``/``{numref}``/``{doc}`` become links (an anchor in the same chapter, the other
  chapter's notebook, which sits next to this one, or the built book's page for the pages that
  are not notebooks); ``{math}`` becomes ``$...$``, ``{eq}`` the equation's number; any other
  role becomes its text;
- ``literalinclude``, ``code-block`` and ``code`` become fenced code (the included lines read by
  Sphinx's own reader, so the notebook shows what the book shows);
- admonitions become HTML that JupyterLab renders: a dropdown a ``<details>``, any other a
  blockquote with a bold title; fences nest (``::::`` around ``:::`` or code fences);
- ``(label)=`` targets and ``%`` comments go; ``{figure}`` and ``{image}`` become images.
The targets of references come from ``BookIndex``, a scan of every page in the chapter's folder.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml  # jupytext's dependency

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})[ \t]*(?P<info>.*?)\s*$")
DIRECTIVE = re.compile(r"^\{(?P<name>[\w:.+-]+)\}[ \t]*(?P<arg>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):(?:[ \t]+(?P<value>.*?))?\s*$")
LABEL = re.compile(r"^\s*\((?P<label>[^()\s]+)\)=\s*$")
COMMENT = re.compile(r"^\s*%")
HEADING = re.compile(r"^\s{0,3}(?P<level>#{1,6})[ \t]+(?P<text>.*?)[ \t#]*$")
MATH_LABEL = re.compile(r"\$\$[ \t]*\((?P<label>[^()\s]+)\)\s*$")
AMS = re.compile(r"^\s*\\begin\{(?P<env>[a-zA-Z]+\*?)\}")
# A role, or an inline code span (skipped: `{ref}` inside code is an example, not a role); neither
# crosses a blank line (the end of a paragraph).
_SPAN = r"(?:(?!\n[ \t]*\n).)"
INLINE = re.compile(rf"\{{(?P<role>[A-Za-z][\w:.+-]*)\}}(?P<tick>`+)(?P<body>{_SPAN}+?)(?<!`)(?P=tick)(?!`)"
                    rf"|(?<!`)(?P<code>`+)(?!`){_SPAN}*?(?<!`)(?P=code)(?!`)", re.S)
FRONT_MATTER = re.compile(r"\A---\n.*?\n---[ \t]*(\n|\Z)", re.S)
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)

ADMONITIONS = {"note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important",
               "warning": "Warning", "caution": "Caution", "attention": "Attention",
               "danger": "Danger", "error": "Error", "seealso": "See also", "todo": "To do"}
TITLED = {"admonition", "dropdown", "topic", "sidebar", "margin", "card", "tab-item"}
QUOTES = {"epigraph", "pull-quote", "highlights", "blockquote"}
CODE = {"code-block", "code", "sourcecode", "code-cell"}
DROPPED = {"toctree", "tableofcontents", "contents", "glue:figure", "glue:math"}
LANGUAGES = {".py": "python", ".sh": "bash", ".yml": "yaml", ".yaml": "yaml", ".json": "json",
             ".toml": "toml", ".c": "c", ".cfg": "ini", ".txt": "text", ".md": "markdown", ".tex": "latex"}
CODE_ROLES = {"code", "literal", "samp", "file", "command", "program", "envvar", "option", "mod",
              "func", "class", "meth", "attr", "obj", "data", "exc", "const", "any"}


@dataclass
class Page:
    """One page of the book: its title, whether it is a chapter notebook, its labels' equations."""

    title: str
    notebook: bool
    equations: dict[str, int] = field(default_factory=dict)  # label -> number on the page


@dataclass
class BookIndex:
    """Every page of one folder of the book (stem -> Page), and every ``(label)=`` target in it
    (label -> (stem, the heading it names, or None when the target is not a heading))."""

    pages: dict[str, Page]
    labels: dict[str, tuple[str, str | None]]

    @classmethod
    def scan(cls, folder) -> "BookIndex":
        """Read every .md page of folder (the chapters, the intro, the library page)."""
        pages, labels = {}, {}
        for path in sorted(Path(folder).glob("*.md")):
            text = path.read_text(encoding="utf-8")
            title, page_labels, equations = _scan_page(text)
            front = FRONT_MATTER.match(text)
            notebook = bool(front) and "kernelspec:" in front.group() and "```{code-cell}" in text
            pages[path.stem] = Page(title or path.stem, notebook, equations)
            labels.update({label: (path.stem, heading) for label, heading in page_labels.items()})
        return cls(pages, labels)


def _code_fence(info: str, fence: str) -> bool:
    """A fence whose body is not markdown: code, math, or a directive that reads its body as text."""
    m = DIRECTIVE.match(info)
    return fence[0] == "`" and (m is None or m["name"] in CODE | {"literalinclude", "math", "eval-rst", "raw"})


def _close(lines: list[str], start: int, fence: str) -> int:
    """The line that closes the fence opened at start: MyST's rule, the first line of the same
    character at least as long, nothing else on it (nested fences must be longer, as in MyST)."""
    for i in range(start + 1, len(lines)):
        s = lines[i].strip()
        if len(s) >= len(fence) and s == fence[0] * len(s):
            return i
    return len(lines)


def _scan_page(text: str) -> tuple[str | None, dict[str, str | None], dict[str, int]]:
    """(title, {label: heading text or None}, {equation label: number}) of one page."""
    lines = FRONT_MATTER.sub("", text).split("\n")
    title, labels, equations, pending, i = None, {}, {}, None, 0
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if m and _code_fence(m["info"], m["fence"]):
            end = _close(lines, i, m["fence"])
            d = DIRECTIVE.match(m["info"])
            if d and d["name"] == "math":
                options = [OPTION.match(line.strip()) for line in lines[i + 1:end]]
                label = next((o["value"] for o in options if o and o["key"] == "label"), None)
                if label:
                    equations[label] = len(equations) + 1
            if pending:  # a label on a code block or a figure: no heading to name it
                labels[pending] = None
            i, pending = end + 1, None
            continue
        lab = MATH_LABEL.search(line)
        if lab:
            equations[lab["label"]] = len(equations) + 1
        if LABEL.match(line):
            if pending:
                labels[pending] = None
            pending = LABEL.match(line)["label"]
        elif line.strip():
            h = HEADING.match(line)
            if h and title is None and h["level"] == "#":
                title = h["text"]
            if pending:
                labels[pending] = h["text"] if h else None
                pending = None
        i += 1
    if pending:
        labels[pending] = None
    return title, labels, equations


def jupyter_anchor(heading: str) -> str:
    """The id JupyterLab 4 gives a heading: its rendered text, spaces replaced by '-'."""
    text = re.sub(r"`+([^`]*)`+", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"\*+|(?<!\w)_+|_+(?!\w)", "", text)
    return text.replace(" ", "-")


def _html_inline(text: str) -> str:
    """A title's markdown as HTML (a <summary> does not render markdown): code and emphasis."""
    parts = re.split(r"(`+)(.+?)\1", text)
    out = []
    for i in range(0, len(parts), 3):
        plain = html.escape(parts[i], quote=False)
        plain = re.sub(r"\[([^\]]*)\]\(([^)\s]*)\)", r'<a href="\2">\1</a>', plain)
        plain = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", plain)
        out.append(re.sub(r"\*(.+?)\*", r"<em>\1</em>", plain))
        if i + 2 < len(parts):
            out.append(f"<code>{html.escape(parts[i + 2].strip(), quote=False)}</code>")
    return "".join(out)


def _fenced(code_lines: list[str], language: str = "") -> list[str]:
    """A fenced code block, its fence longer than any run of backticks that starts a line of code."""
    longest = max([len(m.group()) for line in code_lines for m in [re.match(r"\s*(`+)", line)] if m] + [2])
    fence = "`" * max(3, longest + 1)
    return [fence + language, *code_lines, fence]


class _Converter:
    """The state of one page's conversion: where it is, what it can link to."""

    def __init__(self, md_path, index: BookIndex | None, pages_url: str | None):
        self.path = Path(md_path)
        self.index = index if index is not None else BookIndex.scan(self.path.parent)
        self.page = self.path.stem
        self.pages_url = pages_url

    def lines(self, lines: list[str]) -> list[str]:
        out, text, i = [], [], 0

        def flush():
            if text:
                out.extend(self.inline("\n".join(text)).split("\n"))
                text.clear()

        while i < len(lines):
            line = lines[i]
            m = FENCE.match(line)
            if m and not (m["fence"][0] == "`" and "`" in m["info"]):
                end = _close(lines, i, m["fence"])
                indent = m["indent"]
                body = [l[len(indent):] if l.startswith(indent) else l.lstrip() for l in lines[i + 1:end]]
                flush()
                d = DIRECTIVE.match(m["info"])
                if d is None and m["fence"][0] == "`":  # plain fenced code: as it is
                    out.extend(lines[i:end + 1])
                else:
                    block = self.directive(d["name"], d["arg"], body) if d else self.lines(body)
                    if out and out[-1].strip():
                        out.append("")
                    out.extend(indent + l if l else "" for l in block)
                    if end + 1 < len(lines) and lines[end + 1].strip():
                        out.append("")  # an HTML block or a quote would swallow the next line
                i = end + 1
                continue
            stripped = line.strip()
            if stripped.startswith("$$") or AMS.match(line):  # display math: as it is, numbered
                end = i
                if AMS.match(line):
                    closing = "\\end{" + AMS.match(line)["env"] + "}"
                    while end < len(lines) and closing not in lines[end]:
                        end += 1
                elif not (len(stripped) > 2 and _ends_math(stripped)):
                    end += 1
                    while end < len(lines) and not _ends_math(lines[end]):
                        end += 1
                flush()
                out.extend(self.number_equation(lines[i:end + 1]))
                i = end + 1
                continue
            if not (LABEL.match(line) or COMMENT.match(line) or stripped == "+++"):  # targets, comments: gone
                text.append(line)
            i += 1
        flush()
        return out

    def number_equation(self, block: list[str]) -> list[str]:
        """``$$ ... $$ (label)``: the label becomes the equation's number, as the book shows it."""
        m = MATH_LABEL.search(block[-1]) if block else None
        if not m:
            return block
        n = self.equation_number(m["label"])
        head = block[-1][:m.start()].rstrip()
        return block[:-1] + [head + (" " if head.strip() else "") + (f"\\tag{{{n}}} " if n else "") + "$$"]

    def equation_number(self, label: str) -> int | None:
        page = self.index.pages.get(self.page)
        return page.equations.get(label) if page else None

    def directive(self, name: str, arg: str, body: list[str]) -> list[str]:
        options, body = _options(body)
        caption = [f"*{options['caption']}*", ""] if options.get("caption") else []
        if name == "literalinclude":
            language = options.get("language") or LANGUAGES.get(Path(arg).suffix, "")
            return caption + _fenced(self.include(arg, options), language)
        if name in CODE:
            language = (arg.split() or [options.get("language", "python" if name == "code-cell" else "")])[0]
            return caption + _fenced(_trim(body), language)
        if name == "math":
            n = self.equation_number(options.get("label", ""))
            return ["$$", *_trim(body), *([f"\\tag{{{n}}}"] if n else []), "$$"]
        if name in ("figure", "image"):
            alt = options.get("alt") or self.inline(" ".join(_trim(body)).strip()) or Path(arg).stem
            image = [f"![{alt}]({arg.strip()})"]
            return image + ([""] + self.lines(_trim(body)) if name == "figure" and _trim(body) else [])
        if name == "raw":
            return body if arg.strip() == "html" else []
        if name == "eval-rst":  # reStructuredText for Sphinx (autodoc...): shown, not interpreted
            return _fenced(_trim(body), "rst")
        if name in DROPPED:
            return []
        classes = options.get("class", "").split()
        if name in ADMONITIONS:  # {note} takes no title: text on its first line is its content
            title, body = ADMONITIONS[name], ([arg] if arg else []) + body
        else:
            title = arg
        content = self.lines(_trim(body))
        if name == "dropdown" or "dropdown" in classes or "toggle" in classes:
            opened = " open" if "open" in options else ""
            summary = f"<summary>{_html_inline(self.inline(title or 'Details'))}</summary>"
            return [f"<details{opened}>", summary, "", *content, "", "</details>"]
        if name in ADMONITIONS or name in TITLED or name in QUOTES:
            head = [f"**{self.inline(title)}**", ""] if title and name not in QUOTES else []
            return [f"> {l}" if l else ">" for l in head + content]
        return ([f"**{self.inline(arg)}**", ""] if arg else []) + content  # a container: its content

    def include(self, arg: str, options: dict) -> list[str]:
        """The lines a literalinclude shows, read as Sphinx reads them (same options, same errors)."""
        from types import SimpleNamespace

        from sphinx.directives.code import LiteralIncludeReader

        arg = arg.strip()
        # a path starting with / starts at the book's root, the folder of _config.yml
        root = next((f for f in self.path.resolve().parents if (f / "_config.yml").exists()), self.path.parent)
        path = root / arg.lstrip("/") if arg.startswith("/") else self.path.parent / arg
        opts = {k: (int(v) if k in ("dedent", "tab-width", "lineno-start") and v else v) for k, v in options.items()}
        try:
            text, _ = LiteralIncludeReader(str(path), opts, SimpleNamespace(source_encoding="utf-8-sig")).read()
        except (OSError, ValueError) as error:
            raise ValueError(f"{self.path}: literalinclude {arg!r}: {error}") from error
        return text.rstrip("\n").split("\n")

    def inline(self, text: str) -> str:
        return INLINE.sub(lambda m: m.group() if m["code"] else self.role(m["role"], m["body"]), text)

    def role(self, name: str, body: str) -> str:
        m = EXPLICIT.match(body)
        text, target = (m["text"], m["target"].strip()) if m and m["text"] else (None, body.strip())
        name = name.split(":")[-1] if name.startswith(("py:", "std:")) else name
        if name in ("ref", "numref"):
            return self.link_label(target, text, numbered=name == "numref")
        if name == "doc":
            return self.link_doc(target, text)
        if name == "eq":
            return self.equation(target)
        if name == "math":
            return f"${body}$"
        if name in ("sub", "sup", "kbd", "abbr"):
            return f"<{name}>{html.escape(body, quote=False)}</{name}>"
        if name in CODE_ROLES:
            shown = text or (target[1:].split(".")[-1] if target.startswith("~") else target)
            tick = "``" if "`" in shown else "`"
            return f"{tick}{shown}{tick}"
        return text or target  # an unknown role: its text, never its braces

    def link_label(self, label: str, text: str | None, numbered: bool = False) -> str:
        page, heading = self.index.labels.get(label, (None, None))
        if numbered and text:  # {numref}`Figure %s <label>`: the notebook has no numbers
            text = re.sub(r"\s*(%s|\{number\})", "", text).replace("{name}", heading or label).strip() or None
        if page is None:
            return text or label
        shown = text or heading or label
        return self.link(page, shown, heading, label)

    def link_doc(self, target: str, text: str | None) -> str:
        stem = Path(target.strip()).name.removesuffix(".md")
        if stem not in self.index.pages:
            return text or target
        return self.link(stem, text or self.index.pages[stem].title, None, None)

    def link(self, page: str, text: str, heading: str | None, label: str | None) -> str:
        """A link from this notebook to a page. A chapter's notebook sits next to this one (in
        notebooks/ for `make lab`, in _sources/book/ of the built site): the link opens it in
        JupyterLab, at the heading's anchor. The other pages (the intro, the library) are not
        notebooks and exist only in the built book, whose place only the Sphinx build knows: it
        passes pages_url (see course_notebooks.site_pages_url), and the link goes to the page at
        the label (Sphinx's section ids are the labels). No single relative link serves both
        places, and notebooks/ may exist before any book is built, so there (pages_url None) the
        text names the page and the section instead of a link that may lead nowhere."""
        target = self.index.pages[page]
        if target.notebook:
            anchor = f"#{jupyter_anchor(heading)}" if heading else ""
            href = anchor if page == self.page else f"{page}.ipynb{anchor}"
            return f"[{text}]({href})" if href else text
        if self.pages_url is not None:
            return f"[{text}]({self.pages_url}{page}.html{'#' + label if label else ''})"
        where = f"the book's page “{target.title}”"
        where += f", section “{heading}”" if heading and heading != text else ""
        return f"“{text}” ({where})" if text in (heading, target.title) else f"{text}: {where}"

    def equation(self, label: str) -> str:
        for stem, page in self.index.pages.items():
            if label in page.equations:
                n = f"({page.equations[label]})"
                return n if stem == self.page else f"{n} of {self.link(stem, page.title, None, None)}"
        return f"({label})"


def _options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    """A directive's options (``:key: value`` lines or a ``---`` YAML block) and the rest of its body."""
    if body and body[0].strip() == "---":
        end = next((i for i in range(1, len(body)) if body[i].strip() == "---"), None)
        if end is not None:
            found = yaml.safe_load("\n".join(body[1:end])) or {}
            return {str(k): "" if v is None else str(v) for k, v in found.items()}, body[end + 1:]
    options, i = {}, 0
    while i < len(body) and OPTION.match(body[i]):
        m = OPTION.match(body[i])
        value = m["value"] or ""
        if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":  # MyST reads options as YAML
            value = str(yaml.safe_load(value))
        options[m["key"]] = value
        i += 1
    return options, body[i:]


def _ends_math(line: str) -> bool:
    return line.rstrip().endswith("$$") or bool(MATH_LABEL.search(line))


def _trim(lines: list[str]) -> list[str]:
    """lines without the blank lines around them."""
    kept = [i for i, line in enumerate(lines) if line.strip()]
    return lines[kept[0]:kept[-1] + 1] if kept else []


def to_jupyter_markdown(source: str, md_path, index: BookIndex | None = None, pages_url: str | None = None) -> str:
    """One markdown cell of the chapter md_path, in MyST, as markdown that JupyterLab renders.

    md_path: the chapter's .md (its folder is where includes and the other pages are found).
    index: BookIndex.scan(md_path's folder), made here when not given.  pages_url: the URL of
    the built book's pages relative to the notebook (see _Converter.link), or None.
    """
    return "\n".join(_Converter(md_path, index, pages_url).lines(source.split("\n"))).strip("\n")
