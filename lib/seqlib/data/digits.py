"""Handwritten digits as 8x8 images, and the two small RNNs that chapter 1 trains on them.

Chapter: "Sequences and the vanilla RNN" (book/01_vanilla_rnn.md), where the task shapes of its
"Sequence tasks" section run on real inputs:

- one-to-many, conditioned on an image: the image sets the initial state,
  h0 = tanh(x_img W_img + b_img), and the RNN writes the digit's English name one character at a
  time ("seven<eos>"), fed its own previous character (``init_namer``, ``namer_loss``,
  ``generate_names``), as an image-captioning network does;
- many-to-one over frames: the image read as T = 8 frames of D = 8 pixels (its rows), one frame a
  step, the last state classified into 10 classes (``init_frame_classifier``,
  ``frame_classifier_loss``, ``frame_probs``), as a video classifier reads frames; a linear
  read-out of each h_t (``frame_states``, ``probe_accuracy``) shows what the state knows as
  the frames arrive.

The data is scikit-learn's copy of the UCI "Optical Recognition of Handwritten Digits" test set
(E. Alpaydin and C. Kaynak, 1998): 1,797 images of 8 x 8 pixels, each the count (0..16) of ink
pixels in a 4 x 4 block of a 32 x 32 bitmap, written by 13 people. ``load_digits`` reads
``sklearn/datasets/data/digits.csv.gz`` out of the scikit-learn 1.6.1 wheel without installing
scikit-learn. The wheel is asked for with fixed platform and Python tags (manylinux2014 x86-64,
CPython 3.11), so pip downloads the same file, pinned by SHA-256, whatever machine or Python
version runs it; the CSV's own bytes are checked too. (The sdist would be platform-independent
too, but ``pip download`` of it prepares scikit-learn's metadata, which first builds its build
dependencies from source.) The
file is cached under ``$SEQLIB_CACHE/digits`` like the corpora of ``seqlib.data``. Citation:
E. Alpaydin and C. Kaynak, Optical Recognition of Handwritten Digits, UCI Machine Learning
Repository (1998); scikit-learn (BSD-3-Clause) ships the copy read here.

The models are NumPy, built from ``seqlib.numpy``'s ``rnn_forward``, ``rnn_backward``,
``temporal_affine_forward``, ``temporal_affine_backward`` and ``temporal_softmax_loss``;
``train`` runs Adam on minibatches. Shape letters: see ``seqlib``.
"""

from __future__ import annotations

import gzip
import hashlib
import shlex
import sys
import zipfile
from pathlib import Path

import numpy as np

from seqlib.data.cache import Archive, ChecksumError, human_size
from seqlib.numpy import (
    rnn_backward,
    rnn_forward,
    rnn_step_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
)
from seqlib.numpy.optim import Adam
from seqlib.shapes import Dims

DIGITS_MEMBER = "sklearn/datasets/data/digits.csv.gz"
DIGITS_CSV_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"  # the .csv.gz bytes
CACHE_FOLDER = "digits"
PIXEL_MAX = 16
NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
EOS, START = "<eos>", "<start>"
# The namer's vocabulary: <eos> (0), <start> (1), then the 15 letters of the ten names.
NAME_VOCAB = (EOS, START) + tuple(sorted(set("".join(NAMES))))
NAME_STEPS = max(map(len, NAMES)) + 1  # T = 6: "three", "seven", "eight" and their <eos>


class _DigitsArchive(Archive):
    """The scikit-learn wheel; its instructions say how to fetch it without the registry's CLI."""

    def how_to_fetch(self, dataset: str, folder: Path) -> str:
        """Instructions for a person, for error messages."""
        cmd = " ".join(shlex.quote(c) for c in self.fetch_command(folder))
        return (f"the digits are read from {self.filename} ({human_size(self.size)}), the PyPI package "
                f"{self.package}=={self.version} (not installed).\nFetch it with:\n"
                f"    python -c 'from seqlib.data import load_digits; load_digits()'\n"
                f"or by hand:\n    {cmd.replace(shlex.quote(sys.executable), 'python')}\n"
                f"(cache folder: {folder}; set SEQLIB_CACHE to move it)")


SKLEARN_WHEEL = _DigitsArchive(
    "pypi", "scikit-learn", "1.6.1", "scikit_learn-1.6.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "25fc636bdaf1cc2f4a124a116312d837148b5e10872147bdaf4887926b8c03d8", 13_497_069,
    ("--only-binary", ":all:", "--platform", "manylinux2014_x86_64", "--python-version", "3.11",
     "--implementation", "cp", "--abi", "cp311"))


def parse_digits_csv(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """images (N, 8, 8) float64 in [0, 16] and labels (N,) int64 in [0, 9] from gzipped CSV bytes.

    Each line holds 65 integers: the 64 pixels row by row, then the label.
    """
    text = gzip.decompress(raw).decode("ascii")
    rows = [line.split(",") for line in text.splitlines() if line.strip()]
    for i, row in enumerate(rows, 1):
        if len(row) != 65:
            raise ValueError(f"digits CSV line {i} has {len(row)} values, expected 65 (64 pixels and a label)")
    table = np.array(rows, dtype=np.int64).reshape(len(rows), 65)
    pixels, labels = table[:, :64], table[:, 64]
    for name, values, hi in (("pixel", pixels, PIXEL_MAX), ("label", labels, 9)):
        bad = np.flatnonzero(((values < 0) | (values > hi)).reshape(len(rows), -1).any(axis=1))
        if bad.size:
            raise ValueError(f"digits CSV line {bad[0] + 1} has a {name} outside 0..{hi}")
    return pixels.reshape(-1, 8, 8).astype(np.float64), labels


def digits_from_wheel(wheel: Path, sha256: str = DIGITS_CSV_SHA256) -> tuple[np.ndarray, np.ndarray]:
    """The digits of a scikit-learn wheel, after checking the SHA-256 of digits.csv.gz's bytes."""
    with zipfile.ZipFile(wheel) as z:
        if DIGITS_MEMBER not in z.namelist():
            raise ValueError(f"{wheel} holds no {DIGITS_MEMBER}: not a scikit-learn wheel")
        raw = z.read(DIGITS_MEMBER)
    got = hashlib.sha256(raw).hexdigest()
    if got != sha256:
        raise ChecksumError(f"{DIGITS_MEMBER} in {wheel} has SHA-256 {got}, expected {sha256} "
                            f"(scikit-learn {SKLEARN_WHEEL.version}); delete the wheel and fetch again")
    return parse_digits_csv(raw)


_loaded: dict[tuple[str, int, int], tuple[np.ndarray, np.ndarray]] = {}


def load_digits(download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits: images (1797, 8, 8) float64 with pixels 0..16, labels (1797,) int64 0..9.

    Chapter "Sequences and the vanilla RNN" names them and reads them frame by frame. The
    scikit-learn wheel is downloaded into the cache on first use (unless download=False, which
    raises DatasetUnavailable saying what to run) and verified by SHA-256 at every load.
    Each call returns fresh copies, so changing them changes no later load.
    """
    path = SKLEARN_WHEEL.ensure(CACHE_FOLDER, download=download)
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _loaded:
        _loaded[key] = digits_from_wheel(path)
    images, labels = _loaded[key]
    return images.copy(), labels.copy()


def split_digits(images, labels, test_size: int = 360, seed: int = 0):
    """A seeded random split: ((train_images, train_labels), (test_images, test_labels)).

    images: (N, 8, 8)  labels: (N,). The same writers occur on both sides (the data does not
    say who wrote which digit): the test images are new images, not new handwriting.
    """
    dims = Dims()
    dims.check("images", images, "N,8,8")
    dims.check("labels", labels, "N", dtype="int")
    if not 0 < test_size < len(labels):
        raise ValueError(f"test_size is {test_size}, expected 0 < test_size < N = {len(labels)}")
    order = np.random.default_rng(seed).permutation(len(labels))
    test, train = order[:test_size], order[test_size:]
    return (images[train], labels[train]), (images[test], labels[test])


# --------------------------------------------------------------------------- shared pieces

def _init(rng, shape):
    return rng.normal(scale=1 / np.sqrt(shape[0]), size=shape)


def _features(images, name="images"):
    """(N, 8, 8) pixels 0..16 -> (N, 64) in [0, 1]."""
    Dims().check(name, images, "N,8,8")
    return np.asarray(images, dtype=np.float64).reshape(len(images), 64) / PIXEL_MAX


def train(loss_fn, params, images, labels, *, epochs: int, batch_size: int = 64, lr: float = 1e-2,
          seed: int = 0) -> list[float]:
    """Adam on shuffled minibatches; updates params in place and returns each epoch's mean loss.

    loss_fn(params, images, labels) -> (loss, grads): namer_loss or frame_classifier_loss.
    """
    Dims().check("labels", labels, f"{len(images)}", dtype="int")
    rng, opt, history = np.random.default_rng(seed), Adam(lr=lr), []
    for _ in range(epochs):
        order, total = rng.permutation(len(labels)), 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            loss, grads = loss_fn(params, images[batch], labels[batch])
            opt.step(params, grads)
            total += loss * len(batch)
        history.append(total / len(labels))
    return history


# --------------------------------------------------------------------------- one-to-many: the namer

def name_sequences(labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Teacher-forcing inputs, targets and mask for the names of labels, each (N, T) with T = 6.

    Input ids read <start> then the name, target ids the name then <eos> ("seven<eos>"); the
    mask is False on the padding after <eos>.
    """
    labels = np.asarray(labels)
    Dims().check("labels", labels, "N", dtype="int")
    ix = {c: i for i, c in enumerate(NAME_VOCAB)}
    x = np.zeros((len(labels), NAME_STEPS), dtype=np.int64)
    y = np.zeros_like(x)
    mask = np.zeros(x.shape, dtype=bool)
    for n, label in enumerate(labels):
        ids = [ix[c] for c in NAMES[label]]
        x[n, :len(ids) + 1] = [ix[START]] + ids
        y[n, :len(ids) + 1] = ids + [ix[EOS]]
        mask[n, :len(ids) + 1] = True
    return x, y, mask


def init_namer(hidden_size: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Parameters of the namer: W_img (64, H), b_img (H,); Wx (V, H), Wh (H, H), b (H,) of the
    RNN reading one-hot characters (D = V = 17); Why (H, V), by (V,) of the output layer."""
    rng, H, V = np.random.default_rng(seed), hidden_size, len(NAME_VOCAB)
    return {"W_img": _init(rng, (64, H)), "b_img": np.zeros(H), "Wx": _init(rng, (V, H)),
            "Wh": _init(rng, (H, H)), "b": np.zeros(H), "Why": _init(rng, (H, V)), "by": np.zeros(V)}


def namer_loss(params, images, labels) -> tuple[float, dict[str, np.ndarray]]:
    """Cross-entropy of the name's characters and <eos>, summed over steps, averaged over N.

    images: (N, 8, 8)  labels: (N,). h0 = tanh(x_img W_img + b_img), then the RNN reads
    <start> and the true name (teacher forcing). Returns (loss, grads keyed like params).
    """
    feats, (x, y, mask) = _features(images), name_sequences(labels)
    h0 = np.tanh(feats @ params["W_img"] + params["b_img"])  # the image is the initial state
    onehot = np.eye(len(NAME_VOCAB))[x]  # (N, T, V)
    h, rnn_cache = rnn_forward(onehot, h0, params["Wx"], params["Wh"], params["b"])
    scores, affine_cache = temporal_affine_forward(h, params["Why"], params["by"])
    loss, dscores = temporal_softmax_loss(scores, y, mask)
    dh, dWhy, dby = temporal_affine_backward(dscores, affine_cache)
    _, dh0, dWx, dWh, db = rnn_backward(dh, rnn_cache)
    da0 = dh0 * (1 - h0 * h0)  # through h0 = tanh(a0)
    return loss, {"W_img": feats.T @ da0, "b_img": da0.sum(axis=0), "Wx": dWx, "Wh": dWh, "b": db,
                  "Why": dWhy, "by": dby}


def generate_names(params, images, max_steps: int = NAME_STEPS) -> list[str]:
    """The name the namer writes for each image, greedily, feeding back its own characters.

    images: (N, 8, 8). Each step takes the most likely character; a name ends at <eos> (not
    included) or after max_steps characters.
    """
    h = np.tanh(_features(images) @ params["W_img"] + params["b_img"])  # h0 from the image
    eye, ids = np.eye(len(NAME_VOCAB)), np.full(len(images), NAME_VOCAB.index(START))
    written = []
    for _ in range(max_steps):
        h, _ = rnn_step_forward(eye[ids], h, params["Wx"], params["Wh"], params["b"])
        ids = (h @ params["Why"] + params["by"]).argmax(axis=1)  # this step's character...
        written.append(ids)  # ...is the next step's input
    names = []
    for row in np.stack(written, axis=1) if written else np.zeros((len(images), 0), dtype=int):
        chars = [NAME_VOCAB[i] for i in row]
        names.append("".join(chars[:chars.index(EOS)] if EOS in chars else chars))
    return names


# --------------------------------------------------------------------------- many-to-one: frames

def frames(images) -> np.ndarray:
    """The image as a sequence: (N, T, D) = (N, 8, 8), frame t being pixel row t scaled to [0, 1]."""
    return _features(images).reshape(len(images), 8, 8)


def init_frame_classifier(hidden_size: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Parameters: Wx (8, H), Wh (H, H), b (H,) of the RNN; W_out (H, 10), b_out (10,) of the classifier."""
    rng, H = np.random.default_rng(seed), hidden_size
    return {"Wx": _init(rng, (8, H)), "Wh": _init(rng, (H, H)), "b": np.zeros(H),
            "W_out": _init(rng, (H, 10)), "b_out": np.zeros(10)}


def frame_classifier_loss(params, images, labels) -> tuple[float, dict[str, np.ndarray]]:
    """Cross-entropy of the class read off the last state h_T, averaged over N: many-to-one.

    images: (N, 8, 8)  labels: (N,). Returns (loss, grads keyed like params).
    """
    x = frames(images)
    N, T, _ = x.shape
    Dims().check("labels", labels, f"{N}", dtype="int")
    h, rnn_cache = rnn_forward(x, np.zeros((N, params["Wh"].shape[0])), params["Wx"], params["Wh"], params["b"])
    last = h[:, -1:]  # (N, 1, H): only h_T is classified
    scores, affine_cache = temporal_affine_forward(last, params["W_out"], params["b_out"])
    loss, dscores = temporal_softmax_loss(scores, np.asarray(labels)[:, None], np.ones((N, 1), dtype=bool))
    dlast, dW_out, db_out = temporal_affine_backward(dscores, affine_cache)
    dh = np.zeros_like(h)
    dh[:, -1:] = dlast  # no loss at the earlier steps
    _, _, dWx, dWh, db = rnn_backward(dh, rnn_cache)
    return loss, {"Wx": dWx, "Wh": dWh, "b": db, "W_out": dW_out, "b_out": db_out}


def frame_states(params, images) -> np.ndarray:
    """The state after each frame, h (N, T, H): h_t has read pixel rows 1..t."""
    x = frames(images)
    h, _ = rnn_forward(x, np.zeros((len(x), params["Wh"].shape[0])), params["Wx"], params["Wh"], params["b"])
    return h


def frame_probs(params, images) -> np.ndarray:
    """Class probabilities (N, T, 10) of the trained classifier applied to the state after each
    frame t = 1..8; it was trained on h_T only, so [:, -1] is the model's answer."""
    scores, _ = temporal_affine_forward(frame_states(params, images), params["W_out"], params["b_out"])
    e = np.exp(scores - scores.max(axis=2, keepdims=True))
    return e / e.sum(axis=2, keepdims=True)


def probe_accuracy(h_train, labels_train, h_test, labels_test) -> np.ndarray:
    """What the state knows after each frame: for each t, a linear read-out of h_t fitted by
    least squares to one-hot labels on the training states, scored on the test states.

    h_train: (N, T, H)  labels_train: (N,)  h_test: (M, T, H)  labels_test: (M,)
    Returns the test accuracy after each step, (T,).
    """
    dims = Dims()
    dims.check("h_train", h_train, "N,T,H")
    dims.check("labels_train", labels_train, "N", dtype="int")
    dims.check("h_test", h_test, "M,T,H")
    dims.check("labels_test", labels_test, "M", dtype="int")
    targets, acc = np.eye(10)[labels_train], np.zeros(h_train.shape[1])
    for t in range(h_train.shape[1]):
        fit = np.c_[h_train[:, t], np.ones(len(h_train))]  # features and a constant
        W = np.linalg.lstsq(fit, targets, rcond=None)[0]
        acc[t] = ((np.c_[h_test[:, t], np.ones(len(h_test))] @ W).argmax(axis=1) == labels_test).mean()
    return acc


__all__ = ["load_digits", "split_digits", "digits_from_wheel", "parse_digits_csv", "NAMES", "NAME_VOCAB",
           "name_sequences", "init_namer", "namer_loss", "generate_names", "frames", "init_frame_classifier",
           "frame_classifier_loss", "frame_states", "frame_probs",
           "probe_accuracy", "train", "SKLEARN_WHEEL"]
