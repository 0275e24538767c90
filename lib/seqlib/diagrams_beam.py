"""The beam-search tree: which hypotheses a beam kept and pruned, step by step, as a figure.

Chapter: "Sequence to sequence" (decoding: greedy, sampling, beam search). seqlib.decode's
beam_search returns only the final hypotheses; ``beam_tree`` runs that same function and
records the tree it explored, and ``draw_beam_tree`` draws it in the visual language of
seqlib.diagrams.

The tree is a list ``steps``, one entry per time step, each a list of :class:`BeamNode`::

    steps = [
        [BeamNode(("je",), -0.4), BeamNode(("nous",), -1.5), BeamNode(("tu",), -2.8, pruned=True)],
        [BeamNode(("je", "suis"), -0.9, parent=0), BeamNode(("nous", "sommes"), -1.7, parent=1),
         BeamNode(("je", "<eos>"), -3.1, parent=0, pruned=True)],
    ]

A plain tuple (tokens, score, parent[, pruned[, finished]]) or a dict with those keys is
accepted for a node too, so a chapter can write the tree by hand.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from seqlib.decode import Hypothesis, beam_search
from seqlib.diagrams import box, canvas, wire

BEST = "#d95f02"  # the best hypothesis and the path to it


class BeamNode(NamedTuple):
    """One hypothesis at one step of a beam search.

    tokens: the tokens so far (without bos), ids or strings; the figure shows the last one.
    score: its cumulative log-probability (the sum over its tokens).
    parent: its index in the previous step's list (None at the first step: the parent is bos).
    pruned: True for a candidate the beam did not keep (drawn grey, it has no children).
    finished: True when it left the beam complete (it ended with eos, or reached max_len).
    """

    tokens: tuple
    score: float
    parent: int | None = None
    pruned: bool = False
    finished: bool = False


def _node(item, t: int, i: int) -> BeamNode:
    where = f"steps[{t}][{i}]"
    try:
        node = BeamNode(**item) if isinstance(item, dict) else BeamNode(*item)
    except TypeError as e:
        raise TypeError(f"{where} must be a BeamNode, a tuple (tokens, score, parent, ...) or a dict: {e}") from None
    tokens = () if isinstance(node.tokens, (str, bytes)) else tuple(np.asarray(node.tokens, dtype=object).ravel())
    if not tokens:
        raise ValueError(f"{where} has tokens {node.tokens!r}, expected a non-empty tuple of tokens")
    if isinstance(node.score, bool) or not isinstance(node.score, Real) or math.isnan(node.score):
        raise ValueError(f"{where} has score {node.score!r}, expected a number (a log-probability)")
    return node._replace(tokens=tokens, score=float(node.score))


def check_beam_steps(steps) -> list[list[BeamNode]]:
    """``steps`` as lists of BeamNode, after checking that they form a tree (see the module docstring)."""
    if not steps:
        raise ValueError("steps is empty: expected one list of hypotheses per time step")
    tree: list[list[BeamNode]] = []
    for t, step in enumerate(steps):
        if not step:
            raise ValueError(f"steps[{t}] is empty: expected the hypotheses of time step {t + 1}")
        nodes = [_node(item, t, i) for i, item in enumerate(step)]
        for i, node in enumerate(nodes):
            if t == 0:
                if node.parent is not None:
                    raise ValueError(f"steps[0][{i}] has parent {node.parent!r}, expected None (the first step "
                                     "extends bos)")
                continue
            n = len(tree[-1])
            if isinstance(node.parent, bool) or not isinstance(node.parent, Integral) or not 0 <= node.parent < n:
                raise ValueError(f"steps[{t}][{i}] has parent {node.parent!r}, expected an index into "
                                 f"steps[{t - 1}], 0 to {n - 1}")
            parent = tree[-1][node.parent]
            if parent.pruned or parent.finished:
                state = "pruned" if parent.pruned else "finished"
                raise ValueError(f"steps[{t}][{i}] has parent {node.parent}, but steps[{t - 1}][{node.parent}] "
                                 f"is {state}: it has no children")
            nodes[i] = node._replace(parent=int(node.parent))
        tree.append(nodes)
    return tree


def _label(token, vocab) -> str:
    if vocab is not None and not isinstance(token, str):
        itos = getattr(vocab, "itos", vocab)  # a seqlib Vocab, a list of strings or a dict id -> string
        token = itos(token) if callable(itos) else itos[int(token)]
    return str(token).replace("$", r"\$")


# Chapter "Sequence to sequence": what beam search keeps that greedy decoding throws away.


def draw_beam_tree(steps, ax=None, best: Sequence | None = None, vocab=None):
    """A beam-search tree from data: one column per time step, one box per hypothesis.

    steps: one list of BeamNode per time step (module docstring), e.g. from ``beam_tree``.
    Each kept hypothesis is a box with its last token and its cumulative log-probability
    (the box's text has gid "beam-kept"); pruned candidates are grey with dashed edges (gid
    "beam-pruned"); finished ones have a heavy border. The best hypothesis and the path to it
    are highlighted (its text also has gid "beam-best"): by default the finished hypothesis
    with the highest score (or, if none is marked finished, the best kept one at the last
    step); ``best`` names another by its tokens, e.g. beam_search(...)[0].tokens when a length
    penalty ranks them. vocab: turns token ids into text (a seqlib Vocab, a list, a dict or a
    function). Returns the axes.
    """
    tree = check_beam_steps(steps)
    kept = [(t, i) for t, nodes in enumerate(tree) for i, n in enumerate(nodes) if not n.pruned]
    if best is None:
        finals = [k for k in kept if tree[k[0]][k[1]].finished] or [k for k in kept if k[0] == len(tree) - 1]
        best_at = max(finals, key=lambda k: tree[k[0]][k[1]].score) if finals else None
    else:
        matches = [k for k in kept if tree[k[0]][k[1]].tokens == tuple(best)]
        if not matches:
            raise ValueError(f"best is {tuple(best)!r}, which is no kept hypothesis of steps")
        best_at = matches[0]
    path = set()
    while best_at is not None:  # the best hypothesis and its ancestors
        path.add(best_at)
        t, i = best_at
        best_at = None if t == 0 else (t - 1, tree[t][i].parent)

    # Each column: the hypotheses grouped under their parents (in the parents' order), kept
    # before pruned, best score first; each group centred on its parent, then pushed apart.
    # boxes as wide as the longest token needs (a word of a real vocabulary can be long)
    longest = max((len(_label(n.tokens[-1], vocab)) for nodes in tree for n in nodes), default=1)
    w = max(1.15, 0.115 * longest)
    dx, dy, h = max(1.9, w + 0.7), 0.78, 0.58
    xy: dict[tuple[int, int], tuple[float, float]] = {}
    for t, nodes in enumerate(tree):
        parent_y = [0.0 if t == 0 else xy[(t - 1, n.parent)][1] for n in nodes]
        order = sorted(range(len(nodes)), key=lambda i: (-parent_y[i], nodes[i].pruned, -nodes[i].score))
        desired = []
        for i in order:
            group = [j for j in order if parent_y[j] == parent_y[i]]
            desired.append(parent_y[i] + ((len(group) - 1) / 2 - group.index(i)) * dy)
        ys = list(desired)
        for r in range(1, len(ys)):
            ys[r] = min(ys[r], ys[r - 1] - dy)
        shift = float(np.mean(np.subtract(desired, ys)))
        xy.update({(t, i): ((t + 1) * dx, y + shift) for i, y in zip(order, ys)})
    top = max(y for _, y in xy.values())
    bottom = min(y for _, y in xy.values())
    ax = canvas(ax, (-0.75, len(tree) * dx + 0.75), (bottom - 1.1, top + 0.85),
                width=min(9.0, 1.1 * (len(tree) + 1) + 0.6), title="beam search: kept, pruned and best")
    ax.text(len(tree) * dx / 2, bottom - 0.55, "each box: the last token and log p of the hypothesis; grey: pruned;\n"
            "heavy border: finished (eos or max_len); orange: the best and its path", ha="center", va="top", fontsize=8)
    box(ax, 0, 0, "x", "<bos>", w=0.9, fontsize=9)
    for t, nodes in enumerate(tree):
        ax.text((t + 1) * dx, top + 0.55, f"t = {t + 1}", ha="center", va="center", fontsize=9)
        for i, node in enumerate(nodes):
            x, y = xy[(t, i)]
            px, py = (0.0, 0.0) if t == 0 else xy[(t - 1, node.parent)]
            on_path = (t, i) in path
            pw = 0.9 if t == 0 else w
            wire(ax, [(px + pw / 2 + 0.06, py), (x - w / 2 - 0.06, y)], head=True, lw=2.2 if on_path else 1.0,
                 color=BEST if on_path else ("#aaaaaa" if node.pruned else "black"), ls="--" if node.pruned else "-")
            label = f"{_label(node.tokens[-1], vocab)}\n{node.score:.2f}".replace("-", "\u2212")
            if node.pruned:
                text = box(ax, x, y, "y", label, w=w, h=h, fontsize=8, fc="#eeeeee", ec="#aaaaaa", ls="--",
                           color="#888888")
                text.set_gid("beam-pruned")
                continue
            text = box(ax, x, y, "y", label, w=w, h=h, fontsize=8, ec=BEST if on_path else "black",
                       lw=2.2 if on_path or node.finished else 1.0)
            text.set_gid("beam-kept")
            if on_path and (t, i) == max(path):
                text.set_gid("beam-best")  # the best is also kept: tests look for both gids
                ax.text(x + w / 2 + 0.1, y, "best", ha="left", va="center", fontsize=8, color=BEST, fontweight="bold")
    return ax


# --------------------------------------------------------------------------- from a model


def _numpy(log_probs) -> np.ndarray:
    if hasattr(log_probs, "detach"):  # a torch tensor (bfloat16 included)
        log_probs = log_probs.detach().cpu().double()
    return np.asarray(log_probs, dtype=np.float64)


def beam_tree(step: Callable, state: Any, bos: int, eos: int, beam_size: int, max_len: int,
              length_penalty: float = 0.0, pruned: int = 2) -> tuple[list[list[BeamNode]], list[Hypothesis]]:
    """Run seqlib.decode.beam_search and record the tree it explores, for draw_beam_tree.

    Arguments as beam_search's (step, state, bos, eos, beam_size, max_len, length_penalty);
    pruned: how many of the best candidates the beam dropped to record at each step.
    Returns (steps, hypotheses): the tree, one list of BeamNode per step (token ids; kept
    hypotheses first, best first, then the pruned), and beam_search's own result, best first:
    draw_beam_tree(steps, best=hypotheses[0].tokens, vocab=...) highlights the winner.

    The search is beam_search itself: the step function is wrapped to record its log-
    probabilities, and each row's index travels in the state, which beam_search reorders with
    the hypotheses, so that each row of the next call names its parent. Which candidates were
    kept is recomputed from the recorded log-probabilities with beam_search's rule (the
    beam_size best by score, ties in (parent, token) order).
    """
    if isinstance(pruned, bool) or not isinstance(pruned, Integral) or pruned < 0:
        raise ValueError(f"pruned is {pruned!r}, expected an integer >= 0")
    calls = []  # per call of step: (parent row in the previous call, token, log_probs), each per row

    def recording(tokens, wrapped):
        inner, parent_rows = wrapped
        log_probs, new_inner = step(tokens, inner)
        calls.append((np.asarray(parent_rows).copy(), np.asarray(tokens).copy(), log_probs))
        return log_probs, (new_inner, np.arange(len(tokens)))

    hypotheses = beam_search(recording, (state, np.zeros(1, dtype=np.int64)), bos, eos, beam_size, max_len,
                             length_penalty)
    steps: list[list[BeamNode]] = []
    rows = [(None, (), 0.0)]  # per row of the current call: (node index in the previous step, tokens, score)
    for t, (_, _, raw) in enumerate(calls):
        log_probs = _numpy(raw)
        scores = np.array([score for _, _, score in rows])
        cand = (scores[:, None] + log_probs).ravel()
        order = np.argsort(-cand, kind="stable")  # beam_search's order
        k = min(beam_size, cand.size)
        chosen = [j for j in order[:k] if np.isfinite(cand[j])]
        dropped = [j for j in order[k:] if np.isfinite(cand[j])][:pruned]
        V = log_probs.shape[1]
        nodes, index = [], {}
        for j in chosen + dropped:
            p, word = divmod(int(j), V)
            is_pruned = j in dropped
            ends = word == eos or t == max_len - 1
            if not is_pruned:
                index[(p, word)] = len(nodes)
            nodes.append(BeamNode(rows[p][1] + (word,), float(cand[j]), rows[p][0], is_pruned,
                                  ends and not is_pruned))
        steps.append(nodes)
        if t + 1 < len(calls):  # the next call's rows: the live hypotheses, in beam_search's order
            parent_rows, tokens, _ = calls[t + 1]
            try:
                rows = [(index[(int(p), int(w))], nodes[index[(int(p), int(w))]].tokens,
                         nodes[index[(int(p), int(w))]].score) for p, w in zip(parent_rows, tokens)]
            except KeyError:
                raise RuntimeError("beam_tree could not follow beam_search: its selection rule has changed") from None
    return steps, hypotheses
