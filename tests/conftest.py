"""The built book, shared by the tests that read it: tests/test_book.py (the HTML), tests/test_browser.py
(the pages in Chromium) and tests/test_launch.py (the launch buttons of an instructor's fork).

The book is built once per test session, from scratch, with warnings as errors: a clean build
executes every chapter (most of the time of `make test`). The launch-button build reuses that
build's execution cache, so no chapter runs twice.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    # `make test`'s workers share the machine's cores: each one, and every kernel and build it
    # starts, gets its share of threads instead of all of them (before anything imports torch).
    _threads = max(1, len(os.sched_getaffinity(0)) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, str(_threads))

REPO = Path(__file__).resolve().parents[1]
BUILD_LOG = "book-build-times.txt"


def jupyter_book(source: Path, out: Path, config: Path | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run `jupyter-book build` strictly (-W -n --keep-going) into out; returns (result, seconds)."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(source), "--path-output", str(out),
           "-W", "-n", "--keep-going"]
    if config is not None:
        cmd += ["--config", str(config)]
    start = time.perf_counter()
    # 25 minutes: the clean build takes under 10 on a quiet 2-core machine; a shared one is slower
    timeout = float(os.environ.get("SEQLIB_BOOK_TIMEOUT", 1500))
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return result, time.perf_counter() - start


def _record(tmp_path_factory, name: str, seconds: float) -> None:
    log = tmp_path_factory.getbasetemp() / BUILD_LOG
    with open(log, "a") as f:
        f.write(f"{name}: {seconds:.1f} s\n")
    print(f"\n{name}: {seconds:.1f} s (also in {log})")


@pytest.fixture(scope="session")
def book_build(tmp_path_factory) -> Path:
    """The output folder of a clean, strict build of the book: <out>/_build/html and its cache.

    SEQLIB_BOOK_BUILD=<folder>/_build reuses a book built before (to work on these tests
    without waiting for a build); make test and CI never set it.
    """
    if os.environ.get("SEQLIB_BOOK_BUILD"):
        return Path(os.environ["SEQLIB_BOOK_BUILD"])
    if not (REPO / "_mathjax" / "mathjax" / "tex-chtml.js").is_file():
        pytest.fail("MathJax is not in _mathjax/: run `make env` (make test does) first")
    out = tmp_path_factory.mktemp("book")
    # A fresh output folder: no cached execution, no earlier build to hide old warnings.
    result, seconds = jupyter_book(REPO, out)
    _record(tmp_path_factory, "clean book build", seconds)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
    return out / "_build"


@pytest.fixture(scope="session")
def html(book_build) -> Path:
    return book_build / "html"


FORK = {"url": "https://github.com/example-course/seq-models", "hub": "https://hub.example.edu"}


@pytest.fixture(scope="session")
def fork() -> dict:
    """The repository and JupyterHub of the instructor's fork that launch_html is built for."""
    return dict(FORK)


@pytest.fixture(scope="session")
def launch_html(book_build, tmp_path_factory) -> Path:
    """The book as an instructor's fork builds it: repository.url and a JupyterHub set.

    Execution reuses the clean build's jupyter-cache (execute_notebooks: cache, same cache
    folder): every chapter is found there, so nothing is executed again.
    """
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    config["repository"] = {"url": FORK["url"], "branch": "main", "path_to_book": ""}
    config["launch_buttons"]["jupyterhub_url"] = FORK["hub"]
    config["execute"]["execute_notebooks"] = "cache"
    config["execute"]["cache"] = str(book_build / ".jupyter_cache")
    config["sphinx"]["local_extensions"] = {name: str(REPO / path)
                                            for name, path in config["sphinx"]["local_extensions"].items()}
    folder = tmp_path_factory.mktemp("fork")
    path = folder / "_config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result, seconds = jupyter_book(REPO, folder / "out", config=path)
    _record(tmp_path_factory, "launch-button build (cached execution)", seconds)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
    assert "Executing notebook" not in result.stdout, "the launch build executed a chapter again"
    return folder / "out" / "_build" / "html"


# The files whose tests read the built book: under pytest-xdist they share one worker, so the
# book is built once.
BOOK_TEST_FILES = ("tests/test_book.py", "tests/test_browser.py", "tests/test_launch.py")


def _scope(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return "book" if path in BOOK_TEST_FILES else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`make test`'s two workers (pytest -n 2 --dist loadfile): xdist's loadfile, plus one rule.

    Each file's tests run in one worker, in order: nbval's cells of one notebook share a
    kernel, and a module's fixtures (a trained model, a graded class) are built once. The
    three files that read the built book form one unit, so the book is built once. (Not
    xdist_group marks: pytest-xdist 3.8 writes them into node ids in a way pytest 9 ignores.)
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndTheBook(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    return FilesAndTheBook(config, log)


def pytest_collection_modifyitems(config, items) -> None:
    """The book's tests go first (make test passes --no-loadscope-reorder): the clean build is
    the longest thing the suite does, and the other worker runs everything else meanwhile."""
    items.sort(key=lambda item: _scope(item.nodeid) != "book")    # stable: the rest keep their order


# --------------------------------------------------------------------------- the browser
# Headless Chromium for the tests that look at pages as a person would: the book
# (tests/test_browser.py) and nbgrader's formgrader (tests/grading/test_manual_grades.py).

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
HOW_TO_INSTALL = ("this test drives the system's Chromium with its WebDriver: `make browser` installs them "
                  "(Debian/Ubuntu: apt-get install chromium chromium-driver); pip install selenium==4.51.0")


def _first(paths):
    return next((p for p in paths if Path(p).is_file()), None) or shutil.which(Path(paths[0]).name)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium through Selenium, reading the console; skips (fails in CI) without it."""
    chromium, driver_path = _first(CHROMIUM), _first(DRIVER)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        chromium = None
    if chromium is None or driver_path is None:
        if os.environ.get("SEQLIB_REQUIRE_BROWSER"):
            pytest.fail(HOW_TO_INSTALL)
        pytest.skip(HOW_TO_INSTALL)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch a driver or a browser
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--no-first-run", "--disable-background-networking"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()



# --------------------------------------------------------------------------- a Jupyter server


@pytest.fixture(scope="module")
def jupyter_server():
    """start(app, cwd, token, *args, env=None) -> base URL: `jupyter <app>` (server or lab) on a free
    port of 127.0.0.1, answering; every server started is stopped after the module."""
    import socket
    import urllib.request

    started = []

    def start(app: str, cwd: Path, token: str, *args: str, env: dict | None = None, log=subprocess.DEVNULL) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [str(Path(sys.executable).parent / "jupyter"), app, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--allow-root", f"--IdentityProvider.token={token}", *args]
        env = dict(os.environ if env is None else env)
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        started.append(subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT))
        base = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                return base
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"jupyter {app} did not answer on {base}")

    yield start
    for server in started:
        server.terminate()
        server.wait(timeout=20)
