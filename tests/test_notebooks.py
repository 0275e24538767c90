"""The chapters as notebooks: book/_ext/course_notebooks.py converts them, `make lab` opens them.

Fast checks, no book build: every chapter converts into a valid notebook holding exactly the
chapter's code cells (plus one setup cell); the launch links are built as the services read
them; `make lab` serves the chapters and the assignments from the course environment.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jupytext
import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "book").glob("0*.md"))


def _converter():
    spec = importlib.util.spec_from_file_location("course_notebooks", REPO / "book" / "_ext" / "course_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_converts_to_a_notebook_with_its_own_code(chapter, tmp_path):
    out = _converter().write_notebook(chapter, tmp_path / f"{chapter.stem}.ipynb")
    nb = nbformat.read(str(out), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3" and "jupytext" not in nb.metadata
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")  # the title
    setup, *rest = [c for c in nb.cells if c.cell_type == "code"]
    assert "course-setup" in setup.metadata["tags"] and "import seqlib" in setup.source
    assert "raise ImportError" in setup.source  # no repository URL: say how to get the environment
    want = [c.source for c in jupytext.read(str(chapter)).cells if c.cell_type == "code"]
    assert [c.source for c in rest] == want
    tags = {t for c in rest for t in c.metadata.get("tags", [])}
    assert tags <= {"remove-cell", "hide-input", "remove-input", "hide-output"}, tags  # kept for Lab


def test_with_a_repository_the_setup_cell_installs_the_forks_library(tmp_path):
    nb = _converter().chapter_notebook(CHAPTERS[0], "https://github.com/o/r", "main")
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert '%pip install --quiet "seqlib @ git+https://github.com/o/r@main"' in setup.source
    exec_env = {}
    code = setup.source.replace("%pip", "raise AssertionError  #")  # IPython magic, not Python
    exec(compile(code, "setup", "exec"), exec_env)  # seqlib is importable here: nothing installed


def test_a_page_without_code_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no code cells"):
        _converter().chapter_notebook(REPO / "book" / "intro.md")


def test_launch_links_name_the_notebook_on_the_pages_branch():
    links = {l["text"]: l["url"] for l in _converter().launch_links(
        "book/02_bptt", "https://github.com/o/r", "main", "gh-pages",
        {"binderhub_url": "https://mybinder.org/", "colab_url": "https://colab.research.google.com",
         "jupyterhub_url": "https://hub.example.org", "notebook_interface": "jupyterlab"})}
    assert links["Colab"] == "https://colab.research.google.com/github/o/r/blob/gh-pages/_sources/book/02_bptt.ipynb"
    hub = parse_qs(urlsplit(links["JupyterHub"]).query)
    assert hub == {"repo": ["https://github.com/o/r"], "branch": ["gh-pages"],
                   "urlpath": ["lab/tree/r/_sources/book/02_bptt.ipynb"]}
    binder = urlsplit(links["Binder"])
    assert binder.path == "/v2/gh/o/r/main"
    assert parse_qs(parse_qs(binder.query)["urlpath"][0].split("?", 1)[1]) == hub


def test_a_repository_that_is_not_on_github_is_refused():
    with pytest.raises(ValueError, match="expected https://github.com/ORG/REPO"):
        _converter().launch_links("book/02_bptt", "https://gitlab.com/o/r", "main", "gh-pages", {"colab_url": "x"})


def test_make_lab_opens_jupyterlab_from_the_course_environment():
    out = subprocess.run(["make", "-n", "lab", "LAB_ARGS=--no-browser"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert ".venv/bin/jupyter lab --notebook-dir=" in out.stdout and "--no-browser" in out.stdout, out.stdout
    assert "book/_ext/course_notebooks.py notebooks" in out.stdout or (REPO / "notebooks").is_dir(), out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_jupyterlab_serves_the_chapters_and_the_assignments_as_notebooks(tmp_path):
    """What `make lab` runs, on a copy: notebooks/ made from book/, assignments/ as they are."""
    root = tmp_path / "course"
    shutil.copytree(REPO / "assignments", root / "assignments")
    conv = _converter()
    for chapter in CHAPTERS:
        conv.write_notebook(chapter, root / "notebooks" / f"{chapter.stem}.ipynb")
    port, token = _free_port(), "course-test"
    jupyter = Path(sys.executable).parent / "jupyter"
    server = subprocess.Popen([str(jupyter), "lab", "--no-browser", f"--notebook-dir={root}", f"--ServerApp.port={port}",
                               f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False"]
                              + (["--allow-root"] if os.geteuid() == 0 else []),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "rt")))
    try:
        def get(path):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=10) as r:
                return json.loads(r.read())

        for _ in range(120):
            try:
                get("/api/status")
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start: " + server.stderr.read1().decode()[-2000:])
        for path in [f"notebooks/{c.stem}.ipynb" for c in CHAPTERS] + ["assignments/rnn_numpy/rnn_numpy.ipynb"]:
            model = get(f"/api/contents/{path}?content=1")
            assert model["type"] == "notebook" and model["content"]["cells"], path
        assert "python3" in get("/api/kernelspecs")["kernelspecs"]
    finally:
        server.terminate()
        server.wait(timeout=30)
