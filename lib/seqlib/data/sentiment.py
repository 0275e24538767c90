"""Movie-review sentences with human sentiment ratings, for sentence classification.

Chapter: "Stacked and bidirectional RNNs / sentence classification". The sentences are
the movieReviewSnippets ground truth that VADER (Hutto & Gilbert 2014) shipped in its
sdist: each sentence rated by 20 people on [-4, 4]; the file holds the mean.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

VADER_INNER = "additional_resources/hutto_ICWSM_2014.tar.gz"
VADER_FILE = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
POSITIVE = 0.5  # mean rating above this: label 1
NEGATIVE = -0.5  # below this: label 0; in between (neutral or mixed): dropped


def parse_ground_truth(raw: str) -> list[tuple[str, float]]:
    """(sentence, mean rating) from ``id<TAB>rating<TAB>sentence`` lines."""
    rows = []
    for lineno, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t", 2)
        if len(fields) != 3:
            raise ValueError(f"line {lineno}: expected id<TAB>rating<TAB>sentence, got {line[:80]!r}")
        rows.append((fields[2].strip(), float(fields[1])))
    return rows


def binary_labels(rows: list[tuple[str, float]]) -> list[tuple[str, int]]:
    """(sentence, 1) for ratings > 0.5, (sentence, 0) for ratings < -0.5; others dropped."""
    return [(s, 1 if r > POSITIVE else 0) for s, r in rows if r > POSITIVE or r < NEGATIVE]


def vader_movie_reviews(sdist: Path) -> list[tuple[str, int]]:
    """The labelled movie-review sentences, read from the vaderSentiment sdist (a tar.gz in a tar.gz)."""
    with tarfile.open(sdist, "r:gz") as outer:
        inner_name = next((m.name for m in outer.getmembers() if m.name.endswith(VADER_INNER)), None)
        if inner_name is None:
            raise ValueError(f"{sdist} has no {VADER_INNER}: not the vaderSentiment 3.3.2 sdist")
        inner_bytes = outer.extractfile(inner_name).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        raw = inner.extractfile(VADER_FILE).read().decode("utf-8")
    return binary_labels(parse_ground_truth(raw))
