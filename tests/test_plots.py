"""The training figures of seqlib.plots: each returns matplotlib objects holding the data it was given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from seqlib import plots  # noqa: E402

HISTORY = [{"step": s, "train_loss": l + 0.1, "valid_loss": l, "valid_ppl": float(np.exp(l)),
            "train_ppl": float(np.exp(l + 0.1)), "sample": f"text at {s}"}
           for s, l in ((100, 3.0), (200, 2.0), (300, 1.5))]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_history_has_loss_and_perplexity_lines():
    ax_loss, ax_ppl = plots.plot_history(HISTORY)
    assert [l.get_label() for l in ax_loss.get_lines()] == ["train", "validation"]
    np.testing.assert_allclose(ax_loss.get_lines()[1].get_ydata(), [3.0, 2.0, 1.5])
    np.testing.assert_allclose(ax_ppl.get_lines()[1].get_ydata(), np.exp([3.0, 2.0, 1.5]))
    np.testing.assert_allclose(ax_ppl.get_lines()[0].get_xdata(), [100, 200, 300])
    assert ax_ppl.get_yscale() == "log"
    with pytest.raises(ValueError, match="empty"):
        plots.plot_history([])


def test_samples_table_shows_every_stage():
    ax = plots.plot_samples(HISTORY)
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["step 100", "text at 100", "step 200", "text at 200", "step 300", "text at 300"]
    ax = plots.plot_samples([("early", "a" * 30 + "\nline two\nthree\nfour\nfive")], width=10, max_lines=3)
    assert ax.texts[1].get_text() == "aaaaaaaaaa\naaaaaaaaaa\naaaaaaaaaa"


def test_unit_activation_colours_each_character():
    text = "ab\ncd"
    values = np.array([1.0, -1.0, 0.0, 0.5, 0.0])
    ax = plots.plot_unit_activation(text, values)
    assert [t.get_text() for t in ax.texts] == ["a", "b", "↵", "c", "d"]
    red = ax.texts[0].get_bbox_patch().get_facecolor()
    blue = ax.texts[1].get_bbox_patch().get_facecolor()
    assert red[0] > red[2] and blue[2] > blue[0], (red, blue)
    assert ax.texts[3].get_position() == (0, -1), "a newline starts a new row"
    with pytest.raises(ValueError, match="one per character"):
        plots.plot_unit_activation(text, values[:3])


def test_gradient_norms_average_samples_and_label_lines():
    norms = np.array([[1.0, 10.0, 100.0], [3.0, 30.0, 300.0]])
    ax = plots.plot_gradient_norms({"rnn": norms, "lstm": np.ones(3)})
    (rnn, lstm) = ax.get_lines()
    np.testing.assert_allclose(rnn.get_ydata(), [2.0, 20.0, 200.0])
    np.testing.assert_allclose(rnn.get_xdata(), [1, 2, 3])
    assert rnn.get_label() == "rnn" and lstm.get_label() == "lstm" and ax.get_yscale() == "log"


def test_accuracy_by_length_from_examples_and_from_a_dict():
    ax = plots.plot_accuracy_by_length([2, 2, 3, 3, 3, 5], [1, 0, 1, 1, 1, 0])
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [2, 3, 5])
    np.testing.assert_allclose(line.get_ydata(), [0.5, 1.0, 0.0])
    _, ax2 = plt.subplots()
    plots.plot_accuracy_by_length({"4": 0.9, "1": 1.0}, ax=ax2)
    np.testing.assert_allclose(ax2.get_lines()[0].get_ydata(), [1.0, 0.9])


def test_gradient_norms_from_seqlib_numpy_gradflow():
    from seqlib.numpy.gradflow import hidden_gradient_norms

    rng = np.random.default_rng(0)
    N, T, D, H = 2, 6, 3, 4
    norms = hidden_gradient_norms(rng.normal(size=(N, T, D)), np.zeros((N, H)), rng.normal(size=(D, H)),
                                  0.5 * rng.normal(size=(H, H)), np.zeros(H), cell="rnn")
    ax = plots.plot_gradient_norms(norms, labels=["tanh RNN"])
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), norms.mean(axis=0))
    assert ax.get_lines()[0].get_label() == "tanh RNN"


def test_unit_activation_draws_tabs_and_newlines_in_one_cell_each():
    import matplotlib.pyplot as plt
    import numpy as np

    from seqlib.plots import plot_unit_activation

    fig, ax = plt.subplots()
    text = "\tif (x)\n\t\treturn;"
    plot_unit_activation(text, np.linspace(-1, 1, len(text)), ax=ax)
    shown = [t.get_text() for t in ax.texts]
    assert shown[:3] == ["→", "i", "f"] and shown[7] == "↵" and shown[8:10] == ["→", "→"]
    assert len(shown) == len(text)  # one artist per character: the activations stay aligned
    plt.close(fig)


def test_alignment_shows_the_weights_with_tokens_on_the_axes():
    weights = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]])
    ax = plots.plot_alignment(weights, ["▁the", "▁cat", "."], ["▁кот", "."], title="one sentence")
    (image,) = ax.get_images()
    np.testing.assert_allclose(image.get_array(), weights)  # rows: target, columns: source
    assert image.get_clim() == (0, 1), "a fixed scale, so that two sentences compare"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["▁the", "▁cat", "."]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["▁кот", "."]
    assert ax.get_title() == "one sentence"
    with pytest.raises(ValueError, match=r"expected \(T, S\) = \(2, 3\)"):
        plots.plot_alignment(weights.T, ["▁the", "▁cat", "."], ["▁кот", "."])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plots.plot_alignment(-weights, ["▁the", "▁cat", "."], ["▁кот", "."])
