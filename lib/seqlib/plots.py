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

# The boxes, arrows and colours of every diagram of the book live in seqlib.diagrams.
from seqlib.metrics import perplexity
from seqlib.diagrams import COLORS, arrow as _arrow, box as _box  # noqa: F401 (COLORS: for the chapters)

TASKS = ("one-to-one", "one-to-many", "many-to-one", "many-to-many", "many-to-many (aligned)")


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


# --------------------------------------------------------------------------- training figures
# Chapters: "Language models" (loss and perplexity curves, samples during training, the
# interpretable-cells view), "Backpropagation through time" (gradient norm against time
# step), "Sequence to sequence" (accuracy against source length: the bottleneck).


def plot_history(history, axes=None, x: str = "step"):
    """Loss (nats per token) and perplexity against training progress, train and validation.

    history: a list of dicts as seqlib.train.Trainer.history (keys x, train_loss, valid_loss,
    train_ppl, valid_ppl; missing keys are skipped). Returns the two axes (loss, perplexity).
    """
    if not history:
        raise ValueError("history is empty: nothing to plot")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    ax_loss, ax_ppl = axes
    for key, style, label in (("train", "-", "train"), ("valid", "o-", "validation")):
        rows = [r for r in history if f"{key}_loss" in r]
        if not rows:
            continue
        xs = [r[x] for r in rows]
        ax_loss.plot(xs, [r[f"{key}_loss"] for r in rows], style, ms=3, label=label)
        ax_ppl.plot(xs, [r.get(f"{key}_ppl", perplexity(r[f"{key}_loss"])) for r in rows],
                    style, ms=3, label=label)
    ax_loss.set(xlabel=x, ylabel="loss (nats per token)", title="cross-entropy")
    ax_ppl.set(xlabel=x, ylabel="perplexity", title="perplexity = exp(loss)", yscale="log")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    return axes


def plot_samples(samples, ax=None, width: int = 70, max_lines: int = 4):
    """A table of generated text at several stages of training, earliest first.

    samples: a list of (label, text) pairs, or a Trainer history whose records carry a
    "sample" (labelled "step k"). Each text is shown in a monospace font, wrapped at
    ``width`` characters, at most ``max_lines`` lines. Returns the axes.
    """
    import textwrap

    if samples and isinstance(samples[0], dict):
        samples = [(f"step {r['step']}", r["sample"]) for r in samples if "sample" in r]
    if not samples:
        raise ValueError("samples is empty: give (label, text) pairs or a history with 'sample' entries")
    rows = []
    for label, text in samples:
        lines = []
        for line in str(text).split("\n"):
            lines += textwrap.wrap(line, width, replace_whitespace=False, drop_whitespace=False) or [""]
        rows.append((str(label), "\n".join(lines[:max_lines])))
    height = sum(r[1].count("\n") + 1.6 for r in rows)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.11 * width + 1.5, 0.22 * height + 0.4))
    ax.axis("off")
    y = 1.0
    for k, (label, text) in enumerate(rows):
        ax.text(0.0, y, label, ha="left", va="top", fontsize=9, fontweight="bold", transform=ax.transAxes)
        ax.text(0.16, y, text, ha="left", va="top", fontsize=9, family="monospace", transform=ax.transAxes,
                bbox=dict(fc="#f7f7f7" if k % 2 else "white", ec="none"))
        y -= (text.count("\n") + 1.6) / height
    return ax


def plot_unit_activation(text: str, values, ax=None, width: int = 80, cmap: str = "RdBu_r",
                         limit: float | None = None, title: str | None = None):
    """One hidden unit's activation coloured over the text it reads (the interpretable-cells view).

    values: (T,) one activation per character of text (e.g. seqlib.train.lm_states(...)[:, unit]).
    Red is positive, blue negative, white zero; limit fixes the colour scale (default max |v|).
    Lines wrap at newlines and every ``width`` characters; a newline is drawn as ↵ and a tab
    (C source is indented with tabs) as →, each in the one cell of its own activation.
    Returns the axes; each character is one Text artist whose background carries its colour.
    """
    values = np.asarray(values, dtype=float)
    if values.shape != (len(text),):
        raise ValueError(f"values has shape {values.shape}, expected (T,) = ({len(text)},), one per character")
    limit = limit or max(float(np.abs(values).max()), 1e-12)
    colours = plt.get_cmap(cmap)
    row = col = 0
    cells = []
    for ch, v in zip(text, values):
        if ch == "\n":
            cells.append((row, col, "↵", v))  # the newline's own activation is shown too
            row, col = row + 1, 0
            continue
        if col >= width:
            row, col = row + 1, 0
        cells.append((row, col, "→" if ch == "\t" else ch, v))
        col += 1
    rows = row + 1
    cols = max(c for _, c, _, _ in cells) + 1 if cells else 1
    if ax is None:
        _, ax = plt.subplots(figsize=(0.12 * cols + 0.4, 0.24 * rows + 0.6))
    for r, c, ch, v in cells:
        ax.text(c, -r, ch if ch != " " else "\u00a0", family="monospace", fontsize=9, ha="center", va="center",
                bbox=dict(boxstyle="square,pad=0.15", fc=colours(0.5 + 0.5 * np.clip(v / limit, -1, 1)), ec="none"))
    ax.set_xlim(-1, cols)
    ax.set_ylim(-rows, 1)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_gradient_norms(norms, ax=None, labels: Sequence[str] | None = None):
    """Gradient norm ||dL/dh_t|| against the time step t, on a log scale (vanishing/exploding).

    norms: (T,), or (N, T) averaged over the N samples (seqlib.numpy.gradflow.
    hidden_gradient_norms), or a dict label -> either, one line per entry (e.g. one per cell
    type). Returns the axes.
    """
    ax = ax or plt.gca()
    if isinstance(norms, dict):
        items = list(norms.items())
    else:
        norms = np.asarray(norms)
        items = [(labels[0] if labels else None, norms)]
    for label, n in items:
        n = np.asarray(n, dtype=float)
        if n.ndim == 2:
            n = n.mean(axis=0)
        if n.ndim != 1:
            raise ValueError(f"norms for {label!r} has shape {n.shape}, expected (T,) or (N, T)")
        ax.semilogy(np.arange(1, len(n) + 1), n, "o-", ms=3, label=label)
    ax.set(xlabel="time step t (the loss is at the last step)", ylabel=r"$\|\partial L / \partial h_t\|$",
           title="gradient norm through time")
    if any(label is not None for label, _ in items):
        ax.legend()
    ax.grid(alpha=0.3, which="both")
    return ax


def plot_accuracy_by_length(lengths, correct=None, ax=None, label: str | None = None, min_count: int = 1):
    """Accuracy of a translator against source length: a fixed-size state forgets long inputs.

    lengths: (n,) source lengths and correct: (n,) bools, or lengths a dict length -> accuracy
    (correct None). Lengths seen fewer than min_count times are left out. Returns the axes.
    """
    ax = ax or plt.gca()
    if isinstance(lengths, dict):
        xs = sorted(int(k) for k in lengths)
        accs = [float(lengths[k] if k in lengths else lengths[str(k)]) for k in xs]
    else:
        if correct is None or np.shape(lengths) != np.shape(correct):
            raise ValueError(f"lengths has shape {np.shape(lengths)} and correct {np.shape(correct)}, "
                             "expected both (n,)")
        lengths, correct = np.asarray(lengths), np.asarray(correct, dtype=float)
        xs = [int(n) for n in np.unique(lengths) if (lengths == n).sum() >= min_count]
        accs = [float(correct[lengths == n].mean()) for n in xs]
    ax.plot(xs, accs, "o-", label=label)
    ax.set(xlabel="source length (tokens)", ylabel="accuracy", ylim=(0, 1.02), title="accuracy against source length")
    if label is not None:
        ax.legend()
    ax.grid(alpha=0.3)
    return ax


# --------------------------------------------------------------------------- attention
# Chapter: "Attention" (where the decoder looked: one heat map per translated sentence).


def plot_alignment(weights, src_tokens: Sequence[str], tgt_tokens: Sequence[str], ax=None, title: str | None = None):
    """Heat map of attention weights: row t is where the decoder looked to write tgt_tokens[t].

    weights: (T, S), e.g. one sentence of seqlib.torch.Seq2Seq.alignments(...) (N, T, S), each
    row a distribution over the S source positions (values in [0, 1]). src_tokens: the S source
    tokens, along the x axis in the order the columns have; tgt_tokens: the T target tokens,
    down the y axis. The colour scale is fixed to [0, 1], so two maps can be compared.
    Returns the axes; its one image holds the weights.
    """
    ax = ax or plt.gca()
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (len(tgt_tokens), len(src_tokens)):
        raise ValueError(f"weights has shape {weights.shape}, expected (T, S) = ({len(tgt_tokens)}, "
                         f"{len(src_tokens)}): one row per target token, one column per source token")
    if weights.size and (weights.min() < 0 or weights.max() > 1 or not np.isfinite(weights).all()):
        raise ValueError("weights must lie in [0, 1]: attention weights, each row a softmax")
    ax.imshow(weights, cmap="Greys", vmin=0, vmax=1, aspect="equal", interpolation="nearest")
    ax.set_xticks(range(len(src_tokens)), [str(t) for t in src_tokens], rotation=90, fontsize=8)
    ax.set_yticks(range(len(tgt_tokens)), [str(t) for t in tgt_tokens], fontsize=8)
    ax.tick_params(length=0)
    ax.set(xlabel="source", ylabel="target")
    if title:
        ax.set_title(title, fontsize=10)
    return ax
