"""The built book as a learner's browser shows it: headless Chromium, driven by chromium-driver.

Every page is served over HTTP from the clean build of tests/conftest.py (no second build)
and opened in the distribution's Chromium (`make browser` installs it; nothing is downloaded
here). Each page must load with no error in the console, have its math typeset by the local
MathJax and every image decoded; search must find the seq2seq chapter for "beam search"; the
download menu's links must resolve, the .ipynb being a notebook of the chapter; long lines of
code must scroll or wrap, never be cut off, on screen or in print.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def site(html):
    """(base URL, html folder): the built book served on 127.0.0.1 by a quiet HTTP server."""
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", html
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _pages(html: Path) -> list[str]:
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html") if "_static" not in p.parts)


def _open(browser, url: str) -> list[dict]:
    """Load url, wait until MathJax (where the page has it) has finished; returns the console entries."""
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(url)
    browser.set_script_timeout(60)
    browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const settle = () => setTimeout(done, 200);
        const ready = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
            ? MathJax.startup.promise.then(settle, settle) : settle();
        if (document.readyState === "complete") ready(); else window.addEventListener("load", ready);
    """)
    return browser.get_log("browser")


def _problems(entries) -> list[str]:
    return [e["message"] for e in entries if e["level"] in ("SEVERE", "ERROR")]


def test_every_page_loads_with_no_console_error_and_every_image_decoded(browser, site):
    base, html = site
    pages = _pages(html)
    assert len(pages) >= 10, pages
    failures = {}
    for page in pages:
        problems = _problems(_open(browser, f"{base}/{page}"))
        broken = browser.execute_script("""
            return Array.from(document.images)
                .filter(img => !(img.complete && img.naturalWidth > 0 && img.naturalHeight > 0))
                .map(img => img.getAttribute('src'));""")
        if problems or broken:
            failures[page] = {"console": problems, "images not loaded": broken}
    assert failures == {}, json.dumps(failures, indent=1)[:4000]


@pytest.mark.parametrize("chapter", ["01_vanilla_rnn", "02_bptt", "04_lstm_gru", "07_attention"])
def test_math_is_typeset_by_the_local_mathjax(browser, site, chapter):
    base, html = site
    _open(browser, f"{base}/book/{chapter}.html")
    state = browser.execute_script("""
        const script = document.querySelector('script[src*="mathjax"]');
        return {src: script && script.src, version: window.MathJax && MathJax.version,
                typeset: document.querySelectorAll('mjx-container').length,
                errors: document.querySelectorAll('mjx-merror').length,
                raw: document.querySelectorAll('.math:not(:has(mjx-container))').length};""")
    assert state["src"] and state["src"].startswith(base + "/"), state  # served with the book
    assert state["version"] and state["version"].startswith("3."), state
    source = (html / "book" / f"{chapter}.html").read_text(encoding="utf-8")
    formulas = len(re.findall(r'class="math notranslate nohighlight"', source))
    assert formulas >= 5 and state["typeset"] >= formulas, (formulas, state)
    assert state["errors"] == 0 and state["raw"] == 0, state


def test_search_finds_the_seq2seq_chapter_for_beam_search(browser, site):
    base, _ = site
    _open(browser, f"{base}/search.html?q=beam+search")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('#search-results li').length > 0"))
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('#search-results li a')).map(a => a.href);")
    assert any("book/06_seq2seq.html" in link for link in links), links


def test_download_menu_offers_the_chapter_as_a_notebook_and_every_link_resolves(browser, site):
    import nbformat

    base, html = site
    for chapter in sorted(p.stem for p in (html / "book").glob("0*.html")):
        _open(browser, f"{base}/book/{chapter}.html")
        links = browser.execute_script("""
            return Array.from(document.querySelectorAll('.dropdown-download-buttons a'))
                .map(a => ({text: a.textContent.trim(), href: a.href}));""")
        kinds = {link["text"]: link["href"] for link in links if link["href"].startswith("http")}
        assert set(kinds) == {".ipynb", ".md"}, (chapter, links)
        for text, href in kinds.items():
            with urllib.request.urlopen(href) as response:  # the local server: a dead link raises
                body = response.read().decode("utf-8")
            if text == ".ipynb":
                nb = nbformat.reads(body, as_version=4)
                nbformat.validate(nb)
                assert nb.metadata["kernelspec"]["name"] == "python3"
                assert sum(c.cell_type == "code" for c in nb.cells) >= 3, chapter
            else:
                assert body.startswith("---\njupytext:"), (chapter, body[:80])
        launch = browser.execute_script("return document.querySelectorAll('.dropdown-launch-buttons a').length;")
        assert launch == 0, f"{chapter}: launch buttons without a repository URL"


def test_long_code_lines_scroll_or_wrap_instead_of_being_cut(browser, site):
    base, html = site
    cut = {}
    for chapter in sorted(p.stem for p in (html / "book").glob("*.html")):
        _open(browser, f"{base}/book/{chapter}.html")
        hidden = browser.execute_script("""
            const out = [];
            for (const pre of document.querySelectorAll('article pre')) {
                if (pre.scrollWidth <= pre.clientWidth + 1) continue;          // fits
                const style = getComputedStyle(pre);
                if (['auto', 'scroll'].includes(style.overflowX)) continue;     // scrolls
                out.push(pre.textContent.split('\\n').reduce((a, b) => a.length > b.length ? a : b).slice(0, 80));
            }
            return out;""")
        wrapped = browser.execute_script("""
            return Array.from(document.querySelectorAll('div.cell_output pre'))
                .filter(pre => getComputedStyle(pre).whiteSpace !== 'pre-wrap').length;""")
        # Printed (the download menu's .pdf), nothing can scroll: every line must wrap.
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        printed = browser.execute_script("""
            return Array.from(document.querySelectorAll('article pre'))
                .filter(pre => pre.scrollWidth > pre.clientWidth + 1).length;""")
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        if hidden or wrapped or printed:
            cut[chapter] = {"cut off": hidden, "outputs that do not wrap": wrapped, "cut off in print": printed}
    assert cut == {}, cut


def test_an_instructors_fork_shows_working_launch_buttons(browser, launch_html):
    """The book built with a repository URL (tests/test_launch.py checks where each link leads)."""
    handler = functools.partial(_QuietHandler, directory=str(launch_html))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        problems = _problems(_open(browser, f"http://127.0.0.1:{server.server_port}/book/02_bptt.html"))
        buttons = browser.execute_script("""
            return Array.from(document.querySelectorAll('.dropdown-launch-buttons a')).map(a => ({
                text: a.textContent.trim(), href: a.href,
                icon: Array.from(a.querySelectorAll('img')).every(img => img.complete && img.naturalWidth > 0)}));""")
    finally:
        server.shutdown()
        server.server_close()
    assert problems == [], problems
    assert sorted(b["text"] for b in buttons) == ["Binder", "Colab", "JupyterHub"], buttons
    assert all(b["icon"] and b["href"].startswith("https://") and ".ipynb" in b["href"] for b in buttons), buttons
