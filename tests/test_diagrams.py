"""The diagrams of seqlib.diagrams*: each renders, returns its Axes and shows what a reader needs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from seqlib import decode, plots  # noqa: E402
from seqlib.diagrams import GRADIENT, draw_gru_cell, draw_lstm_cell, draw_rnn_cell  # noqa: E402
from seqlib.diagrams_beam import BeamNode, beam_tree, check_beam_steps, draw_beam_tree  # noqa: E402
from seqlib.diagrams_graphs import (  # noqa: E402
    CUT, draw_encoder_decoder, draw_stacked_bidirectional, draw_truncated_bptt)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def texts(ax, gid=None) -> list[str]:
    return [t.get_text() for t in ax.texts if gid is None or t.get_gid() == gid]


def rendered(ax) -> Axes:
    """Draw the figure (mathtext is parsed only then), and return the axes."""
    assert isinstance(ax, Axes), type(ax)
    ax.figure.canvas.draw()
    return ax


def arrows(ax, color=None, dashed=None, head=True) -> list[FancyArrowPatch]:
    out = []
    for p in ax.patches:
        if not isinstance(p, FancyArrowPatch):
            continue
        if color is not None and not np.allclose(p.get_edgecolor()[:3], matplotlib.colors.to_rgb(color)):
            continue
        if dashed is not None and (p.get_linestyle() in ("--", "dashed")) != dashed:
            continue
        if head is not None and (type(p.get_arrowstyle()).__name__ != "Curve") != head:
            continue
        out.append(p)
    return out


# --------------------------------------------------------------------------- cells


def test_rnn_cell_shows_the_elman_recurrence():
    ax = rendered(draw_rnn_cell())
    for label in ("$x_t$", "$h_{t-1}$", "$h_t$", "$W_{xh}$", "$W_{hh}$", "$b$", "tanh"):
        assert label in texts(ax), (label, texts(ax))
    _, given = plt.subplots()
    assert draw_rnn_cell(ax=given) is given


def test_lstm_cell_has_four_blocks_and_the_cell_state():
    ax = rendered(draw_lstm_cell())
    shown = texts(ax)
    for label in ("$f_t$", "$i_t$", "$g_t$", "$o_t$", "$c_{t-1}$", "$c_t$", "$h_{t-1}$", "$h_t$", "$x_t$"):
        assert label in shown, (label, shown)
    assert shown.count(r"$\sigma$") == 3, "i, f and o are sigmoids"
    assert shown.count("tanh") == 2, "g_t, and tanh(c_t) on the way to h_t"
    assert any(r"f_t \odot c_{t-1} + i_t \odot g_t" in t for t in shown)


def test_gru_cell_follows_each_convention_of_the_chapter():
    torch_ax = rendered(draw_gru_cell())
    lecture_ax = rendered(draw_gru_cell(convention="lecture"))
    update = {name: [t for t in texts(ax) if t.startswith("$h_t =")]
              for name, ax in (("torch", torch_ax), ("lecture", lecture_ax))}
    assert update["torch"] == [r"$h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$"]
    assert update["lecture"] == [r"$h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde{h}_t$"]
    # torch resets after the hidden product, with its own bias; the lecture before it
    assert r"$W_{hh}, b_{hn}$" in texts(torch_ax) and "$n_t$" in texts(torch_ax)
    assert r"$W_{hh}, b_{hn}$" not in texts(lecture_ax) and r"$\tilde{h}_t$" in texts(lecture_ax)
    for ax in (torch_ax, lecture_ax):
        assert {"$r_t$", "$z_t$", "1−", "$h_{t-1}$", "$h_t$", "$x_t$"} <= set(texts(ax))
    with pytest.raises(ValueError, match="convention is 'pytorch'"):
        draw_gru_cell(convention="pytorch")


# --------------------------------------------------------------------------- multi-step graphs


@pytest.mark.parametrize("chunks, steps", [(3, 4), (1, 3), (2, 1)])
def test_truncated_bptt_cuts_the_gradient_at_each_boundary(chunks, steps):
    ax = rendered(draw_truncated_bptt(chunks, steps))
    assert texts(ax, "gradient-cut") == [CUT] * (chunks - 1)
    assert texts(ax, "loss") == [f"$L^{{({k + 1})}}$" for k in range(chunks)]
    # the backward arrows stay within a chunk: steps - 1 per chunk, none across a boundary
    assert len(arrows(ax, color=GRADIENT)) == chunks * (steps - 1)
    assert f"$h_{{{chunks * steps}}}$" in texts(ax)


def test_truncated_bptt_rejects_empty_chunks():
    with pytest.raises(ValueError, match="chunks is 0"):
        draw_truncated_bptt(chunks=0)
    with pytest.raises(ValueError, match="steps is 0"):
        draw_truncated_bptt(steps=0)
    with pytest.raises(TypeError, match="chunks must be an integer"):
        draw_truncated_bptt(chunks=2.5)


def test_stacked_bidirectional_has_two_directions_per_layer():
    ax = rendered(draw_stacked_bidirectional(layers=3, steps=2))
    shown = texts(ax)
    assert sum(t.startswith(r"$\overrightarrow{h}_") for t in shown) == 3 * 2  # one box per layer and step
    assert sum(t.startswith(r"$\overleftarrow{h}_") for t in shown) == 3 * 2
    assert [t for t in shown if t.startswith("layer")] == ["layer 1", "layer 2", "layer 3"]
    assert arrows(ax, color="#5e3c99"), "the backward direction's arrows"
    ax = rendered(draw_stacked_bidirectional(layers=2, steps=4, bidirectional=False))
    shown = texts(ax)
    assert not any("overleftarrow" in t for t in shown)
    assert {f"$h^{{({l})}}_{{{t}}}$" for l in (1, 2) for t in range(1, 5)} <= set(shown)
    with pytest.raises(ValueError, match="layers is 0"):
        draw_stacked_bidirectional(layers=0)
    with pytest.raises(ValueError, match="steps is 0"):
        draw_stacked_bidirectional(steps=0)


def test_encoder_decoder_feeds_the_reference_or_its_own_output():
    source, target = ("I", "am", "here"), ("je", "suis", "là", "<eos>")
    forced = rendered(draw_encoder_decoder(source, target))
    assert texts(forced, "decoder-input") == ["<bos>", "je", "suis", "là"]
    assert texts(forced, "decoder-output") == list(target)
    assert {"I", "am", "here", "$c$"} <= set(texts(forced))
    assert arrows(forced, dashed=True) == []
    free = rendered(draw_encoder_decoder(source, target, teacher_forcing=False))
    assert texts(free, "decoder-input") == ["<bos>", "je", "suis", "là"]
    assert len(arrows(free, dashed=True)) == len(target) - 1, "one feedback arrow per fed-back output"
    ax = rendered(draw_encoder_decoder(("$5",), ("5", "$"), bos="<s>"))  # "$" is shown, not mathtext
    assert texts(ax, "decoder-input") == ["<s>", "5"]
    with pytest.raises(ValueError, match="source is empty"):
        draw_encoder_decoder(source=())
    with pytest.raises(ValueError, match="target is empty"):
        draw_encoder_decoder(target=[])


# --------------------------------------------------------------------------- beam search

HAND = [
    [BeamNode(("je",), -0.4), ("nous",), ("tu",)],
    [BeamNode(("je", "suis"), -0.9, parent=0), BeamNode(("nous", "sommes"), -0.7, parent=1, finished=True),
     BeamNode(("je", "<eos>"), -3.1, parent=0, pruned=True)],
    [{"tokens": ("je", "suis", "là"), "score": -1.2, "parent": 0, "finished": True}],
]
HAND[0][1:] = [BeamNode(("nous",), -1.5), BeamNode(("tu",), -2.8, pruned=True)]


def test_beam_tree_boxes_every_hypothesis_and_highlights_the_best():
    ax = rendered(draw_beam_tree(HAND))
    kept = texts(ax, "beam-kept") + texts(ax, "beam-best")
    assert len(kept) == 5 and len(texts(ax, "beam-pruned")) == 2
    assert texts(ax, "beam-best") == ["sommes\n−0.70"], "the finished hypothesis with the highest score"
    ax = rendered(draw_beam_tree(HAND, best=("je", "suis", "là")))
    assert texts(ax, "beam-best") == ["là\n−1.20"]
    ids = [[BeamNode((4,), -0.1), BeamNode((5,), -2.0)], [BeamNode((4, 3), -0.3, parent=0)]]
    ax = rendered(draw_beam_tree(ids, vocab=["<pad>", "<unk>", "<bos>", "<eos>", "a", "b"]))
    assert texts(ax, "beam-best") == ["<eos>\n−0.30"], "no node finished: the best of the last step"
    assert "b\n−2.00" in texts(ax, "beam-kept")


@pytest.mark.parametrize("steps, match", [
    ([], "steps is empty"),
    ([[BeamNode(("a",), -1.0)], []], r"steps\[1\] is empty"),
    ([[BeamNode(("a",), -1.0)], [BeamNode(("a", "b"), -2.0, parent=1)]], r"steps\[1\]\[0\] has parent 1, .* 0 to 0"),
    ([[BeamNode(("a",), -1.0)], [BeamNode(("a", "b"), -2.0, parent=None)]], r"steps\[1\]\[0\] has parent None"),
    ([[BeamNode(("a",), -1.0, parent=0)]], r"steps\[0\]\[0\] has parent 0, expected None"),
    ([[BeamNode(("a",), -1.0, pruned=True)], [BeamNode(("a", "b"), -2.0, parent=0)]], "is pruned"),
    ([[BeamNode((), -1.0)]], r"steps\[0\]\[0\] has tokens"),
    ([[BeamNode(("a",), "high")]], r"steps\[0\]\[0\] has score 'high'"),
])
def test_beam_tree_rejects_what_is_not_a_tree(steps, match):
    with pytest.raises(ValueError, match=match):
        draw_beam_tree(steps)


def test_beam_tree_rejects_an_unknown_best():
    with pytest.raises(ValueError, match="best is"):
        draw_beam_tree(HAND, best=("tu",))  # pruned: not a hypothesis the beam kept


def _bigram_model(seed, V=7, bos=2, eos=3):
    rng = np.random.default_rng(seed)
    table = rng.normal(scale=2.0, size=(V, V))
    table[:, bos] = -np.inf  # never generate bos
    table -= np.log(np.exp(table).sum(axis=1, keepdims=True))

    def step(tokens, state):
        # the state counts the steps: the user's state reaches the model, one row per hypothesis
        assert state.shape == (len(tokens), 1) and len(set(state[:, 0].tolist())) == 1, state
        return table[tokens], np.repeat(state[:1] + 1, len(tokens), axis=0)

    return table, step


@pytest.mark.parametrize("seed, beam_size, max_len, length_penalty", [(0, 2, 4, 0.0), (1, 3, 6, 0.0), (2, 3, 5, 0.8),
                                                                      (3, 1, 3, 0.0)])
def test_beam_tree_records_the_search_of_decode_beam_search(seed, beam_size, max_len, length_penalty):
    table, step = _bigram_model(seed)
    start = np.array([[2]])
    steps, hyps = beam_tree(step, start, 2, 3, beam_size, max_len, length_penalty=length_penalty, pruned=2)
    assert hyps == decode.beam_search(step, start, 2, 3, beam_size, max_len, length_penalty=length_penalty)
    tree = check_beam_steps(steps)
    for t, nodes in enumerate(tree):
        kept = [n for n in nodes if not n.pruned]
        assert 1 <= len(kept) <= beam_size and len(nodes) - len(kept) <= 2
        assert all(p.score <= min(k.score for k in kept) for p in nodes if p.pruned)
        for n in nodes:
            assert len(n.tokens) == t + 1
            if t:
                assert tree[t - 1][n.parent].tokens == n.tokens[:-1]
            prev = (2,) + n.tokens[:-1]
            assert n.score == pytest.approx(sum(table[a, b] for a, b in zip(prev, n.tokens)), abs=1e-9)
    finished = {(n.tokens, round(n.score, 9)) for nodes in tree for n in nodes if n.finished}
    assert {(tuple(h.tokens), round(h.score, 9)) for h in hyps} <= finished
    ax = rendered(draw_beam_tree(steps, best=hyps[0].tokens))
    label = f"{hyps[0].tokens[-1]}\n{hyps[0].score:.2f}".replace("-", "\u2212")
    assert texts(ax, "beam-best") == [label]
    if length_penalty == 0:  # ranked by the plain score: the default best is beam_search's
        assert texts(rendered(draw_beam_tree(steps)), "beam-best") == [label]


def test_beam_tree_rejects_a_negative_pruned():
    _, step = _bigram_model(0)
    with pytest.raises(ValueError, match="pruned is -1"):
        beam_tree(step, np.array([[2]]), 2, 3, 2, 3, pruned=-1)


# --------------------------------------------------------------------------- the shared vocabulary


def test_the_unrolled_graph_of_plots_still_draws_with_the_shared_boxes():
    ax = rendered(plots.draw_task("many-to-many (aligned)", steps=3, ax=plt.subplots()[1], weight_labels=True))
    assert {"$x_{1}$", "$h_{3}$", "$y_{2}$", "$h_0$", "$W_{hh}$"} <= set(texts(ax))
    assert plots.COLORS["h"] == "#92c5de"
