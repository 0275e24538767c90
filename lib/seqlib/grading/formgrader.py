"""nbgrader's formgrader, working with the course's grader and offline (``make formgrader``).

A Jupyter server extension loaded after nbgrader's own (extensions load in alphabetical
order: ``nbgrader.server_extensions.formgrader`` before ``seqlib.grading.formgrader``). It
changes two things and nothing else of formgrader:

- **Autograde.** formgrader's Autograde button would run nbgrader's own autograder: the
  student's notebook in a plain kernel, with the grader's rights, overwriting the course
  grader's graded notebook. Here the button's API route grades that one student with the
  course's sandboxed grader (``python -m seqlib.grading autograde A --student S --force``)
  and shows its log.
- **MathJax.** formgrader's pages load MathJax 2 from a CDN (and, offline, its keyboard
  navigation stops on "MathJax is not defined"). Here they load the course's own copy
  (npm ``mathjax2``, i.e. mathjax@2.7.9, in ``node_modules/mathjax2``: formgrade.js calls
  MathJax 2's API), served by this extension.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

MATHJAX_ROUTE = "seqlib/mathjax2"
# nbconvert's templates import their `mathjax` macro from this file name: the same macro,
# pointing at the local copy (the course's own text, not nbconvert's).
MATHJAX_MACRO = """{%- macro mathjax(url=None) -%}
<script src="{{ seqlib_mathjax_url }}"></script>
<script type="text/x-mathjax-config">
  MathJax.Hub.Config({tex2jax: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], processEscapes: true},
                      messageStyle: "none"});
</script>
{%- endmacro %}
"""


def _jupyter_server_extension_points():
    return [{"module": "seqlib.grading.formgrader"}]


def _course_root(serverapp) -> Path:
    return Path(serverapp.root_dir).resolve()


def _autograde_handler(root: Path):
    from jupyter_server.base.handlers import APIHandler
    from tornado import web

    class CourseAutograde(APIHandler):
        """POST: grade one student's submission with the course's sandboxed grader."""

        @web.authenticated
        async def post(self, assignment_id: str, student_id: str):
            cmd = [sys.executable, "-m", "seqlib.grading", "autograde", assignment_id, "--student", student_id,
                   "--force", "--course", str(root)]
            proc = await asyncio.to_thread(subprocess.run, cmd, cwd=root, capture_output=True, text=True,
                                           timeout=3600)
            log = (proc.stdout + proc.stderr).strip()
            answer = {"success": proc.returncode == 0, "log": log}
            if proc.returncode != 0:
                answer["error"] = log.splitlines()[-1] if log else f"exit status {proc.returncode}"
            self.finish(json.dumps(answer))

    return CourseAutograde


def _replace_route(webapp, suffix: str, handler) -> int:
    """Point every route whose pattern ends with suffix at handler; how many there were."""
    replaced = 0
    for host_rule in webapp.default_router.rules:
        for rule in getattr(host_rule.target, "rules", []):
            pattern = getattr(rule.matcher, "regex", None)
            if pattern is not None and pattern.pattern.rstrip("$").endswith(suffix):
                rule.target = handler
                replaced += 1
    return replaced


def _load_jupyter_server_extension(serverapp):
    from jinja2 import ChoiceLoader, DictLoader
    from jupyter_server.utils import url_path_join
    from tornado import web

    webapp = serverapp.web_app
    root = _course_root(serverapp)
    log = serverapp.log
    if webapp.settings.get("nbgrader_exporter") is None:
        log.error("seqlib.grading.formgrader: nbgrader's formgrader is not loaded; nothing to change")
        return
    n = _replace_route(webapp, "/autograde", _autograde_handler(root))
    if n == 0:
        log.error("seqlib.grading.formgrader: formgrader's autograde route was not found; its button is left as is")
    # the course's copy (make env), or that of the repository seqlib is installed from
    candidates = [root / "node_modules" / "mathjax2", Path(__file__).resolve().parents[3] / "node_modules" / "mathjax2"]
    mathjax = next((p for p in candidates if (p / "MathJax.js").exists()), candidates[0])
    if not (mathjax / "MathJax.js").exists():
        log.error("seqlib.grading.formgrader: %s is missing (run `make env`): formgrader's math will not render", mathjax)
    base = webapp.settings.get("base_url", "/")
    webapp.add_handlers(".*$", [(url_path_join(base, MATHJAX_ROUTE, "(.*)"), web.StaticFileHandler,
                                 {"path": str(mathjax)})])
    url = url_path_join(base, MATHJAX_ROUTE, "MathJax.js") + "?config=TeX-AMS_HTML-full,Safe"
    for exporter in (webapp.settings["nbgrader_exporter"],):
        env = exporter.environment
        env.loader = ChoiceLoader([DictLoader({"mathjax.html.j2": MATHJAX_MACRO}), env.loader])
        env.globals["seqlib_mathjax_url"] = url
    log.info("seqlib.grading.formgrader: Autograde grades in the course's sandbox; MathJax from %s", mathjax)


load_jupyter_server_extension = _load_jupyter_server_extension
