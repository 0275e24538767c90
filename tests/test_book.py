"""The book builds from scratch with warnings as errors, and reads offline."""

from __future__ import annotations

import os
import re
from html import unescape
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    if not (REPO / "_mathjax" / "mathjax" / "tex-chtml.js").is_file():
        pytest.fail("MathJax is not in _mathjax/: run `make env` (make test does) first")
    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    # A fresh output folder: no cached execution, no earlier build to hide old warnings.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(REPO), "--path-output", str(out),
         "-W", "-n", "--keep-going"],
        env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
    return out / "_build" / "html"


def _pages(html):
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts)


def test_every_chapter_in_the_toc_is_built(html):
    toc = (REPO / "_toc.yml").read_text()
    for name in re.findall(r"file:\s*(\S+)", toc):
        assert (html / f"{name}.html").is_file(), name


def test_nothing_is_loaded_from_another_host(html):
    external = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=[\"'](?:https?:)?//", re.I)
    for page in _pages(html):
        hits = external.findall(page.read_text(encoding="utf-8"))
        assert not hits, f"{page.relative_to(html)} loads from another host: {hits[:3]}"
    for css in html.rglob("*.css"):
        imports = re.findall(r"@import\s+url\([\"']?https?://[^)]*\)|url\([\"']?https?://[^)]*\)", css.read_text())
        assert not imports, f"{css.relative_to(html)} loads {imports[:2]}"


def test_math_is_typeset_by_the_local_mathjax(html):
    chapter = (html / "book" / "01_vanilla_rnn.html").read_text(encoding="utf-8")
    assert re.search(r'<script[^>]+src="[^"]*_static/mathjax/tex-chtml\.js', chapter)
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    assert r"W_{hh} h_{t-1}" in chapter  # the recurrence, as TeX for MathJax to typeset


def test_chapter_figures_are_drawn_at_build_time(html):
    chapter = (html / "book" / "01_vanilla_rnn.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', chapter)
    assert len(images) >= 5, images  # tasks, unrolled graph, three graphs, hello before/after
    for src in images:
        assert (html / "book" / src).resolve().is_file(), src


def test_bptt_chapter_checks_gradients_and_clips_by_norm(html):
    chapter = unescape((html / "book" / "02_bptt.html").read_text(encoding="utf-8"))
    errors = [float(e) for e in re.findall(r"relative error (\d\.\de[-+]\d+)", chapter)]
    assert len(errors) == 5 and max(errors) < 1e-7, errors
    assert "clipped by norm:  norm   5.00, cosine with the gradient 1.000" in chapter
    losses = [float(v) for v in re.findall(r"pass \d: last chunk (\d\.\d+) nats/char", chapter)]
    assert len(losses) == 3 and losses[2] < losses[0], losses


def test_chapter_code_ran_and_learned_hello(html):
    chapter = unescape((html / "book" / "01_vanilla_rnn.html").read_text(encoding="utf-8"))
    assert "reads 'hell', predicts 'ello'" in chapter
    assert "prev_h has shape (2, 5), expected (N, H) = (2, 4)" in chapter


def _text(html, name):
    return unescape(re.sub(r"<[^>]+>", "", (html / "book" / f"{name}.html").read_text(encoding="utf-8")))


def test_language_model_chapter_beats_its_baselines_and_finds_units(html):
    chapter = _text(html, "03_language_models")
    table = {name.strip(): float(nats) for name, nats in
             re.findall(r"^(uniform|unigram|2-layer LSTM, 500 steps) +(\d\.\d{3}) +\d", chapter, re.M)}
    assert set(table) == {"uniform", "unigram", "2-layer LSTM, 500 steps"}, table
    assert table["2-layer LSTM, 500 steps"] < 0.7 * table["unigram"] < table["uniform"], table
    word = dict(re.findall(r"^(unigram|word LSTM) +perplexity +([\d.]+) per word", chapter, re.M))
    assert float(word["word LSTM"]) < 0.7 * float(word["unigram"]), word
    untied, tied = (int(n.replace(",", "")) for n in re.findall(r"-> ([\d,]+) parameters", chapter))
    assert untied - tied == 5000 * 256, (untied, tied)  # tying drops one V x H matrix
    r = float(re.search(r"^bracket depth +unit \d+ \(r = ([+-]\d\.\d\d)\)", chapter, re.M).group(1))
    assert abs(r) >= 0.5, f"the best bracket-depth unit correlates only {r}"
    for tau in ("0.2", "0.8", "1.5"):
        assert f"--- temperature {tau}" in chapter
    page = (html / "book" / "03_language_models.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<img[^>]+src="[^"]+\.png"', page)) == 4  # history, samples, temperature, units


def test_lstm_chapter_agrees_with_torch_and_counts_parameters(html):
    chapter = _text(html, "04_lstm_gru")
    assert "the same cell by hand: True and hidden state: True" in chapter
    assert "the GRU step by hand: True" in chapter
    diffs = [float(d) for d in re.findall(r"(?:h|dx|weight_hh_l0) (\d\.\de-\d\d)", chapter)]
    assert len(diffs) == 9 and max(diffs) < 1e-12, diffs  # three modules x (h, dx, weight_hh_l0)
    for name, formula, ours, theirs in re.findall(r"^(RNN|GRU|LSTM) +([\d,]+) +([\d,]+) +([\d,]+)$", chapter, re.M):
        assert formula == ours == theirs, (name, formula, ours, theirs)
    loss = {c: float(v) for c, v in re.findall(r"^(rnn|gru|lstm) +[\d,]+ parameters, validation loss after "
                                                r"600 steps (\d\.\d+)", chapter, re.M)}
    assert set(loss) == {"rnn", "gru", "lstm"} and max(loss["gru"], loss["lstm"]) < loss["rnn"], loss


def test_stacked_chapter_pads_safely_and_beats_the_majority(html):
    chapter = _text(html, "05_stacked_bidirectional")
    assert "the top layer's last output is its final state: True" in chapter
    for impl in ("loop ", "fused"):
        assert (f"impl={impl}: outputs equal True, final states equal True, padded outputs are zero True"
                in chapter), impl
    majority = float(re.search(r"majority class scores (0\.\d+)", chapter).group(1))
    kept = float(re.search(r"kept the weights of epoch \d: validation accuracy (0\.\d+)", chapter).group(1))
    assert kept > majority + 0.15, (kept, majority)
    page = (html / "book" / "05_stacked_bidirectional.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<img[^>]+src="[^"]+\.png"', page)) == 1  # which outputs see the last input


def test_seq2seq_chapter_translates_and_beam_search_helps(html):
    chapter = _text(html, "06_seq2seq")
    exact = float(re.search(r"exact match, greedy decoding, 1,000 validation numbers: (\d\.\d+)", chapter).group(1))
    assert exact >= 0.95, exact
    beams = {int(k): (float(acc), float(lp)) for k, acc, lp in
             re.findall(r"beam size (\d): exact match (\d\.\d+), mean log p of the output (-?\d\.\d+)", chapter)}
    assert set(beams) == {1, 5} and beams[5][1] >= beams[1][1], beams  # the wider beam finds more probable outputs
    sizes = {int(h): float(acc) for h, acc in re.findall(r"H = +(\d+): exact match (\d\.\d+)", chapter)}
    assert sizes[16] < sizes[32] < sizes[128], sizes
    page = (html / "book" / "06_seq2seq.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<img[^>]+src="[^"]+\.png"', page)) == 1
