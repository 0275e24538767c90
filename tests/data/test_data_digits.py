"""The digits of chapter 1: the loader on synthetic wheels, the real file if cached or reachable,
and the two small RNNs trained on them."""

from __future__ import annotations

import gzip
import hashlib
import os

import numpy as np
import pytest

from seqlib.data import ChecksumError, DatasetUnavailable, cache_dir, digits, load_digits
from seqlib.gradcheck import check_gradients


def csv_gz(rows: list[list[int]]) -> bytes:
    return gzip.compress("".join(",".join(map(str, r)) + "\n" for r in rows).encode("ascii"))


ROWS = [[(7 * i + j) % 17 for j in range(64)] + [i % 10] for i in range(12)]
RAW = csv_gz(ROWS)
SHA = hashlib.sha256(RAW).hexdigest()


def fake_wheel(tmp_path, archives, raw=RAW, member=digits.DIGITS_MEMBER):
    return archives.make_wheel(tmp_path / "scikit_learn-fake.whl", {member: raw, "sklearn/__init__.py": b""})


# --------------------------------------------------------------------------- the loader


def test_digits_are_read_from_the_wheel_as_8x8_images_and_labels(tmp_path, archives):
    images, labels = digits.digits_from_wheel(fake_wheel(tmp_path, archives), sha256=SHA)
    assert images.shape == (12, 8, 8) and images.dtype == np.float64
    assert labels.shape == (12,) and labels.dtype == np.int64
    assert images[1, 0, :3].tolist() == [7.0, 8.0, 9.0]  # row by row: pixel (0, j) is column j
    assert images[0, 2, 0] == 16 and labels.tolist() == [i % 10 for i in range(12)]
    assert images.min() >= 0 and images.max() <= 16


def test_a_changed_digits_file_is_a_checksum_error_that_says_what_to_do(tmp_path, archives):
    wheel = fake_wheel(tmp_path, archives)
    with pytest.raises(ChecksumError, match=rf"(?s)digits\.csv\.gz in .* has SHA-256 {SHA}, expected 0+ .*"
                                            r"delete the wheel and fetch again"):
        digits.digits_from_wheel(wheel, sha256="0" * 64)
    with pytest.raises(ChecksumError, match=f"expected {digits.DIGITS_CSV_SHA256}"):
        digits.digits_from_wheel(wheel)  # the pinned checksum is not the synthetic file's


def test_a_wheel_without_the_digits_is_refused(tmp_path, archives):
    wheel = fake_wheel(tmp_path, archives, member="sklearn/datasets/data/iris.csv")
    with pytest.raises(ValueError, match="holds no sklearn/datasets/data/digits.csv.gz: not a scikit-learn wheel"):
        digits.digits_from_wheel(wheel, sha256=SHA)


@pytest.mark.parametrize("row, message", [
    ([1] * 64, "line 2 has 64 values, expected 65"),
    ([17] + [0] * 63 + [3], "line 2 has a pixel outside 0..16"),
    ([0] * 64 + [10], "line 2 has a label outside 0..9"),
])
def test_a_malformed_csv_names_the_line(row, message):
    with pytest.raises(ValueError, match=message):
        digits.parse_digits_csv(csv_gz([ROWS[0], row]))


def test_a_cached_wheel_that_is_not_the_pinned_file_is_refused(cache):
    path = digits.SKLEARN_WHEEL.path(digits.CACHE_FOLDER)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the wheel")
    with pytest.raises(ChecksumError, match=r"(?s)has SHA-256 .*expected 25fc636b.*scikit-learn 1.6.1.*delete it"):
        load_digits(download=False)


def test_missing_digits_without_download_say_how_to_fetch_them(cache):
    with pytest.raises(DatasetUnavailable) as e:
        load_digits(download=False)
    message = str(e.value)
    assert "scikit-learn==1.6.1 (not installed)" in message
    assert "from seqlib.data import load_digits; load_digits()" in message
    assert ("python -m pip download --no-deps --disable-pip-version-check --only-binary :all: "
            "--platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311") in message
    assert str(cache / "digits") in message


def check_real(images, labels):
    assert images.shape == (1797, 8, 8) and images.dtype == np.float64
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0 and images.max() == 16
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_the_real_digits_when_cached():
    if not digits.SKLEARN_WHEEL.path(digits.CACHE_FOLDER).exists():
        pytest.skip("digits not fetched (python -c 'from seqlib.data import load_digits; load_digits()')")
    images, labels = load_digits(download=False)
    check_real(images, labels)
    images[:] = -1  # a copy: the next load is untouched
    assert load_digits(download=False)[0].min() == 0


@pytest.mark.network
def test_real_fetch_of_the_scikit_learn_wheel(cache):
    if os.environ.get("SEQLIB_OFFLINE"):
        pytest.skip("SEQLIB_OFFLINE is set")
    try:
        images, labels = load_digits()
    except DatasetUnavailable as e:  # no network: a checksum mismatch would still fail
        pytest.skip(f"PyPI not reachable: {str(e).splitlines()[0]}")
    assert digits.SKLEARN_WHEEL.path(digits.CACHE_FOLDER).parent == cache / "digits"
    check_real(images, labels)


def test_split_is_seeded_disjoint_and_checks_its_arguments():
    images, labels = np.arange(50 * 64.0).reshape(50, 8, 8), np.arange(50) % 10
    (tr_x, tr_y), (te_x, te_y) = digits.split_digits(images, labels, test_size=10, seed=1)
    assert len(tr_y) == 40 and len(te_y) == 10
    assert sorted(np.r_[tr_x[:, 0, 0], te_x[:, 0, 0]].tolist()) == images[:, 0, 0].tolist()
    assert np.array_equal(te_x, digits.split_digits(images, labels, test_size=10, seed=1)[1][0])
    with pytest.raises(ValueError, match="test_size is 50"):
        digits.split_digits(images, labels, test_size=50)
    with pytest.raises(ValueError, match=r"images has shape \(50, 64\), expected 3 dimensions \(N, 8, 8\)"):
        digits.split_digits(images.reshape(50, 64), labels)


# --------------------------------------------------------------------------- the two models


def test_name_sequences_read_start_then_the_name_and_target_the_name_then_eos():
    x, y, mask = digits.name_sequences(np.array([7, 1]))
    vocab = digits.NAME_VOCAB
    assert "".join(vocab[i] for i in y[0]) == "seven<eos>" and mask[0].all()
    assert [vocab[i] for i in x[0]] == ["<start>", "s", "e", "v", "e", "n"]
    assert mask[1].tolist() == [True] * 4 + [False] * 2 and "".join(vocab[i] for i in y[1, :4]) == "one<eos>"


@pytest.mark.parametrize("model", ["namer", "frames"])
def test_the_models_backward_passes_match_finite_differences(model):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 17, size=(3, 8, 8)).astype(float), np.array([7, 1, 3])
    init, loss = ((digits.init_namer, digits.namer_loss) if model == "namer"
                  else (digits.init_frame_classifier, digits.frame_classifier_loss))
    params = init(hidden_size=5, seed=1)
    _, grads = loss(params, images, labels)
    for name in params:
        def f(p, name=name):
            return np.array(loss({**params, name: p}, images, labels)[0])
        error = check_gradients(f, [params[name].copy()], {0: grads[name]})[0]
        assert error < 1e-5, f"{model}: d loss / d {name} has relative error {error:.1e}"


def test_the_namer_learns_to_name_and_the_frame_classifier_to_classify():
    images, labels = load_digits_or_synthetic()
    (tr_x, tr_y), (te_x, te_y) = digits.split_digits(images, labels, test_size=len(labels) // 5)
    namer = digits.init_namer(hidden_size=32)
    history = digits.train(digits.namer_loss, namer, tr_x, tr_y, epochs=8)
    assert history[-1] < history[0] / 5
    names = digits.generate_names(namer, te_x)
    assert np.mean([n == digits.NAMES[y] for n, y in zip(names, te_y)]) > 0.5
    clf = digits.init_frame_classifier(hidden_size=32)
    digits.train(digits.frame_classifier_loss, clf, tr_x, tr_y, epochs=8)
    probs = digits.frame_probs(clf, te_x)
    assert probs.shape == (len(te_y), 8, 10) and np.allclose(probs.sum(axis=2), 1)
    assert (probs[:, -1].argmax(axis=1) == te_y).mean() > 0.5
    probe = digits.probe_accuracy(digits.frame_states(clf, tr_x), tr_y, digits.frame_states(clf, te_x), te_y)
    assert probe.shape == (8,) and probe[-1] > 0.5


def load_digits_or_synthetic():
    """The real digits when cached; otherwise ten noisy prototypes, one per class."""
    if digits.SKLEARN_WHEEL.path(digits.CACHE_FOLDER).exists():
        return load_digits(download=False)
    rng = np.random.default_rng(0)
    protos = rng.integers(0, 17, size=(10, 8, 8))
    labels = np.arange(600) % 10
    return np.clip(protos[labels] + rng.integers(-3, 4, size=(600, 8, 8)), 0, 16).astype(float), labels


def test_generation_feeds_back_its_own_characters():
    """A namer whose output layer always writes 'e' after <start>, then <eos>: generation stops."""
    params = digits.init_namer(hidden_size=4)
    vocab = digits.NAME_VOCAB
    params["Wx"][:] = 0
    params["Wx"][vocab.index("<start>"), 0] = 5.0  # reading <start> sets unit 0
    params["Wx"][vocab.index("e"), 1] = 5.0  # reading 'e' sets unit 1
    params["Wh"][:] = 0
    params["W_img"][:] = 0
    params["Why"][:] = 0
    params["Why"][0, vocab.index("e")] = 10.0
    params["Why"][1, vocab.index("<eos>")] = 10.0
    params["by"][:] = 0
    assert digits.generate_names(params, np.zeros((2, 8, 8))) == ["e", "e"]
    assert digits.generate_names(params, np.zeros((1, 8, 8)), max_steps=0) == [""]


def test_the_cache_folder_is_under_seqlib_cache(cache):
    assert digits.SKLEARN_WHEEL.path(digits.CACHE_FOLDER) == cache_dir() / "digits" / digits.SKLEARN_WHEEL.filename
