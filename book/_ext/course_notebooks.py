"""Every chapter of the book as a Jupyter notebook, and launch buttons that open that notebook.

A Sphinx extension of the course book (``sphinx: local_extensions`` in _config.yml), and a
script (``python book/_ext/course_notebooks.py OUT_DIR book/*.md``, what ``make lab`` runs).

The chapters are MyST markdown notebooks. Jupyter Book 1 offers their ``.md`` in the download
menu, and its Binder and Colab buttons open that ``.md``, which Colab cannot read and
JupyterLab opens as text (jupyter-book issue 752). Here:

- every chapter is converted with jupytext into ``_sources/<page>.ipynb`` next to the page's
  ``.md`` source in the built site, and the download menu offers it;
- when ``repository.url`` is set in _config.yml (an instructor's fork), the launch buttons
  open that notebook where the published site keeps it, on the branch the built book is
  published to (``course_notebooks_branch``, default ``gh-pages``, what ``ghp-import`` writes):
  Colab reads it from GitHub, JupyterHub pulls it with nbgitpuller, and Binder builds the
  course environment from ``repository.branch`` and pulls the notebook into it with nbgitpuller;
- without a repository URL there are no launch buttons at all (no link that cannot work).

The notebook starts with a cell that, where ``seqlib`` cannot be imported (Colab), installs
it from the repository, or says how to get the course environment. Its markdown cells are
rewritten from MyST into the markdown JupyterLab renders (course_myst.py: roles, includes,
admonitions, targets), so that a reader of the notebook sees what a reader of the book sees.
"""

from __future__ import annotations

import copy
import posixpath
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

if str(Path(__file__).resolve().parent) not in sys.path:  # run as a script, an extension, a test import
    sys.path.append(str(Path(__file__).resolve().parent))
from course_myst import BookIndex, to_jupyter_markdown  # noqa: E402

SETUP_MARK = "course-setup"
UI_PREFIX = {"classic": "tree", "jupyterlab": "lab/tree"}


def setup_source(repo_url: str = "", branch: str = "main") -> str:
    """The first code cell of every generated notebook: installs seqlib only where it is missing."""
    if repo_url:
        fix = f'    %pip install --quiet "seqlib @ git+{repo_url}@{branch}"'
    else:
        fix = ('    raise ImportError("this chapter needs the course library seqlib: in a clone of the course '
               'repository run `make lab`, or `pip install -e .` in its root")')
    return ("# Outside the course environment (on Colab, say), install the course library first.\n"
            "try:\n    import seqlib\nexcept ImportError:\n" + fix)


def chapter_notebook(md_path, repo_url: str = "", branch: str = "main", pages_url: str | None = None):
    """The nbformat notebook of one MyST chapter (jupytext), with the setup cell after the title cell.

    Its markdown cells are rewritten for Jupyter (course_myst.to_jupyter_markdown); pages_url is
    where the built book's pages are, relative to the notebook (None: unknown, the pages that are
    not notebooks are named, not linked).
    """
    import jupytext
    import nbformat

    nb = jupytext.read(str(md_path))
    if not any(c.cell_type == "code" for c in nb.cells):
        raise ValueError(f"{md_path} has no code cells: not a notebook chapter")
    index = BookIndex.scan(Path(md_path).parent)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = to_jupyter_markdown(cell.source, md_path, index, pages_url)
    cell = nbformat.v4.new_code_cell(setup_source(repo_url, branch), metadata={"tags": [SETUP_MARK]})
    at = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells.insert(at, cell)
    nb.metadata.pop("jupytext", None)  # a plain notebook, not paired with the .md
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.validate(nb)
    return nb


def write_notebook(md_path, out_path, repo_url: str = "", branch: str = "main", pages_url: str | None = None) -> Path:
    """Convert md_path and write it as out_path (.ipynb); returns out_path."""
    import nbformat

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(chapter_notebook(md_path, repo_url, branch, pages_url), str(out_path))
    return out_path


# --------------------------------------------------------------------------- launch links


def _repo_parts(repo_url: str) -> tuple[str, str]:
    parts = repo_url.rstrip("/").split("/")
    if len(parts) < 5 or parts[2] != "github.com":
        raise ValueError(f"repository.url is {repo_url!r}, expected https://github.com/ORG/REPO "
                         "(Colab and Binder's gh links read GitHub repositories)")
    return parts[3], parts[4]


def launch_links(pagename: str, repo_url: str, branch: str, pages_branch: str, launch: dict) -> list[dict]:
    """The launch buttons of one page: [{"text", "url", "tooltip", "icon"}] for each configured service.

    pagename: e.g. "book/01_vanilla_rnn".  repo_url, branch: the repository and the branch of its
    source (Binder's environment).  pages_branch: where the built book, _sources/*.ipynb included,
    is published.  launch: _config.yml's launch_buttons.
    """
    org, repo = _repo_parts(repo_url)
    notebook = f"_sources/{pagename}.ipynb"
    ui = UI_PREFIX.get(launch.get("notebook_interface", "jupyterlab"))
    if ui is None:
        raise ValueError(f"launch_buttons.notebook_interface is {launch.get('notebook_interface')!r}, "
                         f"expected one of {sorted(UI_PREFIX)}")
    pull = urlencode({"repo": repo_url, "branch": pages_branch, "urlpath": f"{ui}/{repo}/{notebook}"}, safe="/")
    links = []
    if launch.get("binderhub_url"):
        url = f"{launch['binderhub_url'].rstrip('/')}/v2/gh/{org}/{repo}/{branch}?urlpath={quote('git-pull?' + pull, safe='')}"
        links.append({"text": "Binder", "url": url, "icon": "_static/images/logo_binder.svg"})
    if launch.get("jupyterhub_url"):
        url = f"{launch['jupyterhub_url'].rstrip('/')}/hub/user-redirect/git-pull?{pull}"
        links.append({"text": "JupyterHub", "url": url, "icon": "_static/images/logo_jupyterhub.svg"})
    if launch.get("colab_url"):
        url = f"{launch['colab_url'].rstrip('/')}/github/{org}/{repo}/blob/{pages_branch}/{notebook}"
        links.append({"text": "Colab", "url": url, "icon": "_static/images/logo_colab.png"})
    for link in links:
        link.update(type="link", tooltip=f"Open the notebook on {link['text']}")
    return links


# --------------------------------------------------------------------------- Sphinx


def site_pages_url(pagename: str, baseurl: str = "") -> str:
    """Where the notebook _sources/<pagename>.ipynb finds the built pages of its folder.

    With the published site's address (html_baseurl, `html: baseurl:` in _config.yml) an absolute
    URL, which works wherever the notebook goes (Colab, a download); without it the relative one,
    "../../book/" for "book/02_bptt", which works inside a copy of the site (nbgitpuller's clone
    on a hub or on Binder): the html builder writes <pagename>.html, one level above the notebook.
    """
    folder = posixpath.dirname(pagename)
    if baseurl:
        return posixpath.join(baseurl.rstrip("/"), folder, "")
    return posixpath.relpath(folder or ".", posixpath.join("_sources", folder)) + "/"


def _options(app) -> dict:
    return app.config.html_theme_options


def _no_launch_without_a_repository(app, config) -> None:
    """No repository URL: no launch buttons (the theme would otherwise fail or link nowhere)."""
    options = config.html_theme_options
    if not options.get("repository_url"):
        options["launch_buttons"] = {}
    else:
        _repo_parts(options["repository_url"])  # a bad URL fails the build, not the reader


def _is_chapter(app, pagename: str) -> bool:
    return "kernelspec" in app.env.metadata.get(pagename, {}) and app.env.doc2path(pagename).endswith(".md")


def _offer_notebook(app, pagename, templatename, context, doctree) -> None:
    """Before the theme builds its buttons: the download menu gets the page's .ipynb."""
    if _is_chapter(app, pagename):
        context["ipynb_source"] = pagename + ".ipynb"


def _write_and_launch(app, pagename, templatename, context, doctree) -> None:
    """After the theme's buttons: write the notebook, and point the launch buttons at it."""
    if not _is_chapter(app, pagename):
        return
    options = _options(app)
    repo_url, branch = options.get("repository_url", ""), options.get("repository_branch") or "main"
    write_notebook(app.env.doc2path(pagename), Path(app.outdir) / "_sources" / f"{pagename}.ipynb",
                   repo_url, branch, site_pages_url(pagename, app.config.html_baseurl))
    launch = options.get("launch_buttons") or {}
    groups = [b for b in context.get("header_buttons", []) if b.get("label") == "launch-buttons"]
    if not groups:
        return
    links = launch_links(pagename, repo_url, branch, app.config.course_notebooks_branch, launch)
    keep = [b for b in groups[0]["buttons"] if b.get("type") != "link"]  # e.g. Thebe
    groups[0]["buttons"] = copy.deepcopy(links) + keep


def setup(app):
    app.add_config_value("course_notebooks_branch", "gh-pages", "html")
    app.connect("config-inited", _no_launch_without_a_repository)
    app.connect("html-page-context", _offer_notebook, priority=500)
    app.connect("html-page-context", _write_and_launch, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": False}


def main(argv: list[str]) -> int:
    """python course_notebooks.py OUT_DIR CHAPTER.md...: write OUT_DIR/CHAPTER.ipynb for each."""
    if len(argv) < 2:
        print(main.__doc__, file=sys.stderr)
        return 2
    out_dir = Path(argv[0])
    for md in argv[1:]:
        print(write_notebook(md, out_dir / (Path(md).stem + ".ipynb")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
