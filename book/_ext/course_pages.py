"""The pages of the course book: its stylesheet, and no script declared twice.

A Sphinx extension (``sphinx: local_extensions`` in _config.yml):

- ``static/course.css``: long lines are never cut off (code scrolls sideways, printed
  output wraps, and in print, where nothing can scroll, everything wraps), and the look of
  the "A note on the slides" boxes;
- sphinx-thebe adds its configuration script (``const THEBE_JS_URL = ...``) once per reading
  of the environment, and Jupyter Book reads it twice, so every page declared the constant
  twice and the second declaration was a console error. A page keeps the first copy of each
  inline script.
"""

from __future__ import annotations

from pathlib import Path


def _add_static(app) -> None:
    app.config.html_static_path.append(str(Path(__file__).parent / "static"))
    app.add_css_file("course.css")


def _script_key(script) -> tuple:
    filename = getattr(script, "filename", script)
    attributes = getattr(script, "attributes", {})
    # an inline script comes with filename None or "" depending on who added it
    return str(filename or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def _one_of_each_script(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if scripts is None:
        return
    seen, kept = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    # In place: the list is the builder's own, to which later handlers (MathJax on pages with
    # math) still add their scripts.
    scripts[:] = kept


def setup(app):
    app.connect("builder-inited", _add_static)
    # Early: html-page-context stops at the first handler that returns a template, so a late
    # handler may never run. The duplicates are there from the start of writing.
    app.connect("html-page-context", _one_of_each_script, priority=1)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
