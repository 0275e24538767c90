"""The library page of the course book: signatures and docstrings for all, source only for some.

A Sphinx extension (``sphinx: local_extensions`` in _config.yml) next to ``sphinx.ext.autodoc``
and ``sphinx.ext.viewcode``:

- ``course_source_modules`` (a list in _config.yml) names the modules that get viewcode's
  highlighted source and **[source]** links. Every other module, the ones whose functions the
  assignments grade among them, is documented by its signatures and docstrings only: viewcode
  treats it as a module without source, so no page of the site prints its bodies.
- seqlib's docstrings are plain text laid out by hand (shapes lined up in columns), not
  reStructuredText: each is shown as it is written, as a literal block.
"""

from __future__ import annotations


def _hide_source(app, doctree) -> None:
    """Before viewcode reads a page (priority 500): modules not on the list have no source."""
    env = app.builder.env
    if not hasattr(env, "_viewcode_modules"):
        env._viewcode_modules = {}
    allowed = set(app.config.course_source_modules)
    for modname in _documented_modules(doctree):
        if modname not in allowed:
            env._viewcode_modules[modname] = False


def _documented_modules(doctree) -> set[str]:
    from sphinx import addnodes

    found = set()
    for sig in doctree.findall(addnodes.desc_signature):
        if sig.get("module"):
            found.add(sig["module"])
    return found


def _check_follow(app, modname, fullname):
    """Where viewcode looks for an object's source: the module that defines it (for the list check)."""
    import importlib

    try:
        obj = importlib.import_module(modname)
        for part in fullname.split("."):
            obj = getattr(obj, part)
        defined_in = getattr(obj, "__module__", None)
    except Exception:
        return None
    if defined_in and defined_in not in set(app.config.course_source_modules):
        app.builder.env._viewcode_modules[defined_in] = False
    return defined_in


def _literal_docstring(app, what, name, obj, options, lines) -> None:
    """Show a docstring exactly as written: one literal block."""
    if not any(line.strip() for line in lines):
        return
    body = ["   " + line if line.strip() else "" for line in lines]
    lines[:] = ["::", ""] + body + [""]


def setup(app):
    app.add_config_value("course_source_modules", [], "env")
    app.connect("doctree-read", _hide_source, priority=400)
    app.connect("viewcode-follow-imported", _check_follow, priority=400)
    app.connect("autodoc-process-docstring", _literal_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
