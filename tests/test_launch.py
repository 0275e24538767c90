"""An instructor's fork: with repository.url set, every chapter's launch buttons open its notebook.

tests/conftest.py builds the book a second time with a repository URL and a JupyterHub set,
reusing the clean build's execution cache. Each Binder, Colab and JupyterHub link is taken
apart and checked against what the published site will hold: the .ipynb it names must be the
chapter's notebook, never the .md (jupyter-book issue 752). Nothing here goes online; what
GitHub, Colab, Binder and a hub do with a well-formed link is theirs.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import jupytext
import nbformat
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PAGES = "gh-pages"  # course_notebooks_branch in _config.yml
CHAPTERS = sorted(p.stem for p in (REPO / "book").glob("0*.md"))


def _launch_links(page: Path) -> dict[str, str]:
    """The launch group's links of a page, by service name."""
    text = page.read_text(encoding="utf-8")
    group = re.search(r'<ul class="dropdown-menu">(.*?)</ul>', text[text.find("dropdown-launch-buttons"):], re.S)
    if "dropdown-launch-buttons" not in text or group is None:
        return {}
    links = {}
    for href, label in re.findall(r'<a href="([^"]+)"[^>]*>.*?<span class="btn__text-container">([^<]+)</span>',
                                  group.group(1), re.S):
        links[label.strip()] = unescape(href)
    return links


def _pulled(query: str, name: str) -> tuple[str, str, str]:
    """nbgitpuller's git-pull query -> (repo, branch, path of the notebook inside the clone)."""
    q = parse_qs(query)
    repo, branch, urlpath = q["repo"][0], q["branch"][0], q["urlpath"][0]
    assert urlpath.startswith(f"lab/tree/{name}/"), urlpath  # JupyterLab, inside the pulled clone
    return repo, branch, urlpath[len(f"lab/tree/{name}/"):]


def _notebook_on_the_pages_branch(launch_html: Path, path: str, chapter: str, fork_url: str) -> None:
    """path (relative to the published site) is the chapter's notebook, as the build wrote it."""
    assert path == f"_sources/book/{chapter}.ipynb", path
    nb = nbformat.read(str(launch_html / path), as_version=4)
    nbformat.validate(nb)
    setup = nb.cells[1]
    assert "course-setup" in setup.metadata.get("tags", []), setup
    assert f'"seqlib @ git+{fork_url}@main"' in setup.source  # on Colab, the fork's library is installed
    md_code = [c.source.strip() for c in jupytext.read(str(REPO / "book" / f"{chapter}.md")).cells
               if c.cell_type == "code"]
    nb_code = [c.source.strip() for c in nb.cells if c.cell_type == "code" and c is not setup]
    assert nb_code == md_code, f"{path} does not hold the code of book/{chapter}.md"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_launch_link_opens_the_chapters_notebook(launch_html, fork, chapter):
    FORK, HUB = fork["url"], fork["hub"]
    ORG, NAME = FORK.rstrip("/").split("/")[-2:]
    links = _launch_links(launch_html / "book" / f"{chapter}.html")
    assert set(links) == {"Binder", "JupyterHub", "Colab"}, links
    for service, url in links.items():
        assert ".md" not in unquote(unquote(url)), f"{service} opens the markdown source: {url}"

    colab = urlsplit(links["Colab"])
    assert (colab.scheme, colab.netloc) == ("https", "colab.research.google.com")
    prefix = f"/github/{ORG}/{NAME}/blob/{PAGES}/"
    assert colab.path.startswith(prefix), colab.path
    _notebook_on_the_pages_branch(launch_html, colab.path[len(prefix):], chapter, FORK)

    hub = urlsplit(links["JupyterHub"])
    assert f"{hub.scheme}://{hub.netloc}" == HUB and hub.path == "/hub/user-redirect/git-pull", hub
    repo, branch, path = _pulled(hub.query, NAME)
    assert (repo, branch) == (FORK, PAGES)
    _notebook_on_the_pages_branch(launch_html, path, chapter, FORK)

    binder = urlsplit(links["Binder"])
    assert (binder.netloc, binder.path) == ("mybinder.org", f"/v2/gh/{ORG}/{NAME}/main"), binder
    urlpath = parse_qs(binder.query)["urlpath"][0]  # the environment from main, then git-pull
    assert urlpath.startswith("git-pull?"), urlpath
    repo, branch, path = _pulled(urlpath[len("git-pull?"):], NAME)
    assert (repo, branch) == (FORK, PAGES)
    _notebook_on_the_pages_branch(launch_html, path, chapter, FORK)


def test_pages_without_code_get_no_launch_buttons(launch_html):
    for page in ("intro", "library"):
        assert _launch_links(launch_html / "book" / f"{page}.html") == {}, page


def test_without_a_repository_url_there_is_no_launch_button(html):
    for chapter in CHAPTERS:
        text = (html / "book" / f"{chapter}.html").read_text(encoding="utf-8")
        assert "dropdown-launch-buttons" not in text and "mybinder" not in text and "colab" not in text.lower(), chapter
        assert f"_sources/book/{chapter}.ipynb" in text  # the download menu still offers the notebook


def test_binder_environment_can_pull_the_notebook():
    """Binder builds environment.yml of the fork's main branch: nbgitpuller must be in it."""
    import yaml

    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert any(r.startswith("nbgitpuller==") for r in pip) and any(r.startswith("jupytext==") for r in pip)
