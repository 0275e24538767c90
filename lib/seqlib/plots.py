"""Figures of the course, drawn with matplotlib at build time.

Chapter: "Sequences and the vanilla RNN" draws the sequence tasks and the unrolled graph
with these functions, and plots the hidden states and output distributions of the
"hello" example. Every function takes an optional ``ax`` and returns it, so a chapter can
compose several into one figure.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# Colours of the three kinds of node, the same in every figure of the book.
COLORS = {"x": "#f4a582", "h": "#92c5de", "y": "#b8e186", "ctx": "#c2a5cf"}
TASKS = ("one-to-one", "one-to-many", "many-to-one", "many-to-many", "many-to-many (aligned)")


def _box(ax, x, y, kind, label, w=0.7, h=0.5):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05",
                                fc=COLORS[kind], ec="black", lw=1))
    ax.text(x, y, label, ha="center", va="center", fontsize=10)


def _arrow(ax, start, end, label=None, offset=(0.0, 0.0), color="black"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, lw=1.2, color=color,
                                 shrinkA=14, shrinkB=14))
    if label:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, label, fontsize=8, color=color, ha="center", va="center",
                bbox=dict(fc="white", ec="none", pad=0.5))


def _layout(task: str, steps: int):
    """Which time steps receive an input and which emit an output, for each task type."""
    if task == "one-to-one":
        return [0], [0], 1
    if task == "one-to-many":
        return [0], list(range(steps)), steps
    if task == "many-to-one":
        return list(range(steps)), [steps - 1], steps
    if task == "many-to-many":  # read everything, then write (translation)
        n_in = (steps + 1) // 2
        return list(range(n_in)), list(range(n_in, steps + 1)), steps + 1
    if task == "many-to-many (aligned)":  # one output per input (tagging, frame labels)
        return list(range(steps)), list(range(steps)), steps
    raise ValueError(f"task is {task!r}, expected one of {TASKS}")


def draw_task(task: str, steps: int = 4, ax=None, weight_labels: bool = False, title: str | None = None):
    """Draw the recurrent graph of one sequence task, unrolled over ``steps`` steps.

    Boxes: inputs x_t (bottom), hidden states h_t (middle), outputs y_t (top). With
    ``weight_labels`` each arrow carries its shared weight matrix (W_xh, W_hh, W_hy).
    """
    ax = ax or plt.gca()
    inputs, outputs, T = _layout(task, steps)
    dx = 1.6 if weight_labels else 1.0  # room for the labels between the boxes
    for t in range(T):
        _box(ax, t * dx, 1, "h", f"$h_{{{t + 1}}}$")
        if t in inputs:
            _box(ax, t * dx, 0, "x", f"$x_{{{t + 1}}}$")
            _arrow(ax, (t * dx, 0), (t * dx, 1), "$W_{xh}$" if weight_labels else None, offset=(0.38, 0))
        if t in outputs:
            _box(ax, t * dx, 2, "y", f"$y_{{{t + 1}}}$")
            _arrow(ax, (t * dx, 1), (t * dx, 2), "$W_{hy}$" if weight_labels else None, offset=(0.38, 0))
        if t > 0:
            _arrow(ax, ((t - 1) * dx, 1), (t * dx, 1), "$W_{hh}$" if weight_labels else None, offset=(0, 0.3))
    if T > 1 or weight_labels:
        _box(ax, -1.1 * dx, 1, "h", "$h_0$")
        _arrow(ax, (-1.1 * dx, 1), (0, 1), "$W_{hh}$" if weight_labels else None, offset=(0, 0.3))
    ax.set_xlim(-1.1 * dx - 0.6, (max(T, 2) - 1) * dx + 0.7)
    ax.set_ylim(-0.5, 2.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title if title is not None else task, fontsize=11)
    return ax


def draw_sequence_tasks(steps: int = 3):
    """The five task types (the lecture's one-to-one ... many-to-many figure), in two rows."""
    rows = [TASKS[:3], TASKS[3:]]
    fig = plt.figure(figsize=(11, 5.2))
    for r, tasks in enumerate(rows):
        widths = [_layout(t, steps)[2] + 1.4 for t in tasks]
        grid = fig.add_gridspec(2, len(tasks), width_ratios=widths, hspace=0.25)
        for c, task in enumerate(tasks):
            draw_task(task, steps, ax=fig.add_subplot(grid[r, c]))
    return fig


def plot_hidden_states(h: np.ndarray, inputs: Sequence[str], ax=None):
    """Heat map of one sequence's hidden states: h is (T, H), one row per input symbol."""
    ax = ax or plt.gca()
    h = np.asarray(h)
    if h.ndim != 2 or h.shape[0] != len(inputs):
        raise ValueError(f"h has shape {h.shape}, expected (T, H) with T = len(inputs) = {len(inputs)}")
    limit = max(1e-12, float(np.abs(h).max()))
    image = ax.imshow(h.T, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(inputs)), [f"t={t + 1}\n'{c}'" for t, c in enumerate(inputs)])
    ax.set_yticks(range(h.shape[1]), [f"unit {i}" for i in range(h.shape[1])])
    ax.set_title("hidden state $h_t$")
    plt.colorbar(image, ax=ax, fraction=0.046)
    return ax


def plot_output_distribution(probs: np.ndarray, vocab: Sequence[str], inputs: Sequence[str],
                             targets: Sequence[str] | None = None, ax=None):
    """The predicted distribution over the vocabulary after each input symbol.

    probs: (T, V), rows summing to one. A box marks each step's target, when given.
    """
    ax = ax or plt.gca()
    probs = np.asarray(probs)
    if probs.shape != (len(inputs), len(vocab)):
        raise ValueError(f"probs has shape {probs.shape}, expected (T, V) = ({len(inputs)}, {len(vocab)})")
    ax.imshow(probs.T, cmap="Greens", vmin=0, vmax=1, aspect="auto")
    for t in range(probs.shape[0]):
        for v in range(probs.shape[1]):
            ax.text(t, v, f"{probs[t, v]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if probs[t, v] > 0.6 else "black")
    if targets is not None:
        for t, target in enumerate(targets):
            v = list(vocab).index(target)
            ax.add_patch(plt.Rectangle((t - 0.5, v - 0.5), 1, 1, fill=False, ec="crimson", lw=2))
    ax.set_xticks(range(len(inputs)), [f"after '{c}'" for c in inputs])
    ax.set_yticks(range(len(vocab)), [f"'{c}'" for c in vocab])
    ax.set_title("$p(x_{t+1} \\mid x_{\\leq t})$" + (" (target boxed)" if targets is not None else ""))
    return ax
