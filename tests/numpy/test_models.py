"""Models: gradients against finite differences, overfitting tiny data, padding, stepping, bad input."""

import numpy as np
import pytest

from seqlib import decode
from seqlib.gradcheck import check_gradients
from seqlib.numpy.models import LanguageModel, Seq2Seq, SentenceClassifier, shift_right
from seqlib.numpy.optim import Adam

CELLS = ["rnn", "lstm", "gru"]


def assert_gradients(model, *args):
    """model.loss(*args)'s grads against centred differences, every parameter, float64.

    h = 1e-4: the differences of an O(1) loss carry ~1e-12 of rounding noise, which at the
    default 1e-5 already exceeds 1e-6 of an entry ~1e-5; the O(h^2) truncation stays ~1e-9.
    """
    loss, grads = model.loss(*args)
    names = list(model.params)
    assert list(grads) == names, "grads must have the keys of params, in order"

    def f(*arrays):
        saved = dict(model.params)
        model.params.update(zip(names, arrays))
        try:
            return model.loss(*args)[0]
        finally:
            model.params.update(saved)

    errors = check_gradients(f, [model.params[k] for k in names], {i: grads[k] for i, k in enumerate(names)},
                             h=1e-4)
    worst = {names[i]: e for i, e in errors.items() if e > 1e-6}
    assert not worst, f"relative errors above 1e-6: {worst}"


def _state(model, N, rng):
    z = model.initial_state(N)
    return tuple(rng.standard_normal(a.shape) for a in z) if isinstance(z, tuple) else rng.standard_normal(z.shape)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_language_model_gradients(cell, num_layers):
    rng = np.random.default_rng(1)
    model = LanguageModel(4, 3, 2, cell=cell, num_layers=num_layers, seed=1)
    x, y = rng.integers(0, 4, (2, 3)), rng.integers(0, 4, (2, 3))
    mask = np.array([[True, True, True], [True, True, False]])
    assert_gradients(model, x, y, mask, _state(model, 2, rng))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_classifier_gradients(cell, num_layers, bidirectional):
    rng = np.random.default_rng(1)
    model = SentenceClassifier(4, 3, 3, 2, cell=cell, num_layers=num_layers, bidirectional=bidirectional, seed=1)
    x = rng.integers(0, 4, (3, 3))
    mask = np.arange(3) < np.array([3, 1, 2])[:, None]
    assert_gradients(model, x, np.array([0, 2, 1]), mask)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_seq2seq_gradients(cell, num_layers):
    rng = np.random.default_rng(1)
    model = Seq2Seq(4, 4, 3, 2, cell=cell, num_layers=num_layers, seed=1)
    src = rng.integers(0, 4, (2, 3))
    tgt = rng.integers(0, 4, (2, 3))
    lengths = np.arange(3) < np.array([[3], [2]])
    assert_gradients(model, src, lengths, shift_right(tgt, 1), tgt, lengths)
