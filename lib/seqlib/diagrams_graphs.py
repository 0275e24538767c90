"""Diagrams of recurrent networks over many steps, drawn with matplotlib at build time.

Chapters: "Backpropagation through time" (draw_truncated_bptt), "Stacked and bidirectional
RNNs" (draw_stacked_bidirectional) and "Sequence to sequence" (draw_encoder_decoder). They
extend the unrolled graph of seqlib.plots.draw_task, in the same visual language: the colours,
boxes and arrows of seqlib.diagrams. Every function takes an optional ``ax`` and returns it.

The texts that a reader (or a test) looks for carry a gid: ``ax.texts`` with
``get_gid() == "gradient-cut"`` are the marks where truncated BPTT stops the gradient, "loss"
the chunks' losses, "decoder-input" the tokens the decoder reads, in order.
"""

from __future__ import annotations

from numbers import Integral
from typing import Sequence

from matplotlib.lines import Line2D

from seqlib.diagrams import GRADIENT, box, canvas, wire

CUT = "\u2702"  # ✂: the gradient is cut here


def _check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} is {value}, expected an integer >= {minimum}")
    return int(value)


def _plain(token) -> str:
    """A token shown as it is: a "$" in it must not start mathtext."""
    return str(token).replace("$", r"\$")


# --------------------------------------------------------------------------- truncated BPTT
# Chapter "Backpropagation through time": the state crosses the chunk boundary, the gradient
# does not (seqlib.numpy.bptt.train_truncated_bptt detaches the carried state).


def draw_truncated_bptt(chunks: int = 3, steps: int = 4, ax=None):
    """A long sequence cut into ``chunks`` chunks of ``steps`` steps, as truncated BPTT trains on it.

    Forward arrows (black) run through every step, from h_0 to the end: the hidden state is
    carried across the chunk boundaries (dashed lines). Backward arrows (red) run within each
    chunk only, and a cut mark (✂, gid "gradient-cut") sits where each boundary stops the
    gradient: chunks - 1 of them. Each chunk has one loss L^(k), the sum of its steps' losses
    (gid "loss"), fed by every state of the chunk. Returns the axes.
    """
    chunks = _check_count("chunks", chunks)
    steps = _check_count("steps", steps)
    T, dx, w = chunks * steps, 1.6, 0.58
    h_y, loss_y, half = 1.5, 3.2, w / 2 + 0.06
    ax = canvas(ax, (-0.7, T * dx + 0.6), (-1.5, 3.75), width=min(9.0, 1.2 + 0.7 * T),
                title=f"truncated BPTT: {chunks} chunk{'s' * (chunks > 1)} of {steps} step{'s' * (steps > 1)}")
    box(ax, 0, h_y, "h", "$h_0$", w=w)
    for t in range(1, T + 1):
        x = t * dx
        box(ax, x, 0, "x", f"$x_{{{t}}}$", w=w)
        box(ax, x, h_y, "h", f"$h_{{{t}}}$", w=w)
        wire(ax, [(x, 0.3), (x, h_y - 0.3)])
        wire(ax, [(x - dx + half, h_y - 0.12), (x - half, h_y - 0.12)])  # forward: always
        if (t - 1) % steps:  # backward: only from the second step of a chunk on
            wire(ax, [(x - half, h_y + 0.12), (x - dx + half, h_y + 0.12)], color=GRADIENT)
    for k in range(chunks):
        first, last = k * steps + 1, (k + 1) * steps
        centre = (first + last) / 2 * dx
        ax.text(centre, -0.62, f"chunk {k + 1}", ha="center", va="center", fontsize=9)
        box(ax, centre, loss_y, "y", f"$L^{{({k + 1})}}$", w=0.8).set_gid("loss")
        for t in range(first, last + 1):
            top = (centre + (t * dx - centre) * 0.25, loss_y - 0.32)
            wire(ax, [(t * dx, h_y + 0.3), top], lw=0.9)
        if k:  # the boundary between chunk k and chunk k + 1
            xb = (first - 0.5) * dx
            for y0, y1 in ((-0.4, h_y + 0.05), (h_y + 0.55, 3.6)):  # the boundary, open around the cut
                ax.plot([xb, xb], [y0, y1], color="grey", lw=1, ls="--", zorder=0)
            wire(ax, [(first * dx - half, h_y + 0.12), (xb, h_y + 0.12)], color=GRADIENT, head=False)
            ax.text(xb, h_y + 0.32, CUT, ha="center", va="center", fontsize=15, color=GRADIENT, gid="gradient-cut")
    handles = [Line2D([], [], color="black", marker=">", markersize=5, label="forward: the state is carried on"),
               Line2D([], [], color=GRADIENT, marker="<", markersize=5, label="backward: the gradient, within a chunk"),
               Line2D([], [], color=GRADIENT, ls="none", marker=f"${CUT}$", markersize=10,
                      label="the gradient stops at the boundary")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.1), ncol=3, frameon=False, fontsize=8,
              handlelength=1.8, columnspacing=1.2)
    return ax


# --------------------------------------------------------------------------- stacks
# Chapter "Stacked and bidirectional RNNs": layer l reads layer l - 1's outputs at the same
# step; a bidirectional layer runs a second RNN from the end and concatenates the two states.


def draw_stacked_bidirectional(layers: int = 2, steps: int = 4, bidirectional: bool = True, ax=None):
    """A stack of ``layers`` recurrent layers unrolled over ``steps`` steps, inputs x_t at the bottom.

    Layer l reads the outputs of layer l - 1 at the same step (h^(0)_t = x_t) and its own state
    from the step before. With ``bidirectional``, each layer is two rows in a dashed box: the
    forward direction (arrows to the right) and the backward one (arrows to the left, from the
    end of the sequence); the dashed box is their concatenation [→h; ←h], the one output that
    the layer above reads. The top layer's outputs leave at the top. Returns the axes.
    """
    layers = _check_count("layers", layers)
    steps = _check_count("steps", steps)
    dx, w = 1.35, 0.62
    group_h = 1.3 if bidirectional else 0.5  # height of one layer
    gap = 0.75  # between the layers, for the arrows
    edge = group_h / 2 + (0.0 if bidirectional else 0.05)  # from a layer's centre to its drawn edge
    centres = [0.9 + group_h / 2 + l * (group_h + gap) for l in range(layers)]
    top = centres[-1] + edge
    xlim = (-1.0, (steps - 1) * dx + 0.7)
    ax = canvas(ax, xlim, (-1.25 if bidirectional else -0.5, top + 1.0), width=min(8.5, 0.85 * (xlim[1] - xlim[0])),
                title=("bidirectional" if bidirectional else "stacked") + f" RNN, {layers} layer{'s' * (layers > 1)}")
    for t in range(steps):
        box(ax, t * dx, 0, "x", f"$x_{{{t + 1}}}$", w=w)
    back = "#5e3c99"  # the backward direction's arrows
    for l, cy in enumerate(centres, start=1):
        ax.text(-0.6, cy, f"layer {l}", ha="right", va="center", fontsize=9, rotation=90)
        ys = [cy + 0.3, cy - 0.3] if bidirectional else [cy]
        below = 0.3 if l == 1 else centres[l - 2] + edge
        for t in range(steps):
            x = t * dx
            if bidirectional:
                box(ax, x, cy, "op", None, w=w + 0.26, h=group_h - 0.1, fc="none", ec="grey", ls="--", zorder=1)
                # the layer is named on the left: the arrow alone tells the direction, as in the chapter
                box(ax, x, ys[0], "h", rf"$\overrightarrow{{h}}_{{{t + 1}}}$", w=w, h=0.42)
                box(ax, x, ys[1], "h", rf"$\overleftarrow{{h}}_{{{t + 1}}}$", w=w, h=0.42)
            else:
                box(ax, x, cy, "h", f"$h^{{({l})}}_{{{t + 1}}}$", w=w)
            wire(ax, [(x, below), (x, cy - edge)])
            if t:
                xa, xb = x - dx + w / 2 + 0.06, x - w / 2 - 0.06
                wire(ax, [(xa, ys[0]), (xb, ys[0])])
                if bidirectional:
                    wire(ax, [(xb, ys[1]), (xa, ys[1])], color=back)
    for t in range(steps):
        wire(ax, [(t * dx, top), (t * dx, top + 0.45)])
        ax.text(t * dx, top + 0.55, f"$h^{{({layers})}}_{{{t + 1}}}$", ha="center", va="bottom", fontsize=9)
    if bidirectional:
        ax.text((steps - 1) * dx / 2, -0.55, "dashed box: the layer's output "
                r"$h_t = [\overrightarrow{h}_t ; \overleftarrow{h}_t]$" "\n"
                r"$\overrightarrow{h}$ reads from the start, $\overleftarrow{h}$ from the end",
                ha="center", va="top", fontsize=8.5)
    return ax


# --------------------------------------------------------------------------- encoder-decoder
# Chapter "Sequence to sequence": the context vector c = h^enc_S is the decoder's h^dec_0;
# teacher forcing feeds the reference shifted right, free running the decoder's own output.


def draw_encoder_decoder(source: Sequence[str] = ("I", "am", "here"), target: Sequence[str] = ("je", "suis", "là"),
                         teacher_forcing: bool = True, ax=None, bos: str = "<bos>"):
    """The encoder-decoder: an encoder RNN over ``source``, its final state c passed to a decoder.

    The decoder starts from c (h^dec_0 = c) and writes ``target``, one token per step (end it
    with "<eos>" to show the end token). Its inputs (gid "decoder-input") are ``bos`` followed
    by target[:-1]: with ``teacher_forcing``, the reference shifted right; without, its own
    previous outputs, fed back by the dashed arrows (free running, as at test time).
    Returns the axes.
    """
    source, target = list(source), list(target)
    if not source:
        raise ValueError("source is empty: expected at least one token")
    if not target:
        raise ValueError("target is empty: expected at least one token")
    S, T, w = len(source), len(target), 0.9
    dx_enc, dx_dec = 1.4, 1.8
    c_x = (S - 1) * dx_enc + 1.45
    x0 = c_x + 1.45  # the decoder's first column
    right = x0 + (T - 1) * dx_dec
    title = ("teacher forcing: the decoder reads the reference, shifted right" if teacher_forcing
             else "free running: the decoder reads its own previous output")
    ax = canvas(ax, (-0.7, right + 0.7), (-0.95, 3.35), width=min(9.0, 1.0 + 0.75 * (right + 1.4)), title=title)
    for s, token in enumerate(source):
        x = s * dx_enc
        box(ax, x, 0, "x", _plain(token), w=w, fontsize=9)
        box(ax, x, 1.3, "h", rf"$h^{{\mathrm{{enc}}}}_{{{s + 1}}}$", w=w)
        wire(ax, [(x, 0.3), (x, 1.0)])
        if s:
            wire(ax, [(x - dx_enc + w / 2 + 0.06, 1.3), (x - w / 2 - 0.06, 1.3)])
    box(ax, c_x, 1.3, "ctx", "$c$", w=0.55)
    ax.text(c_x, 0.88, "context\nvector", ha="center", va="top", fontsize=8)
    wire(ax, [((S - 1) * dx_enc + w / 2 + 0.06, 1.3), (c_x - 0.34, 1.3)])
    wire(ax, [(c_x + 0.34, 1.3), (x0 - w / 2 - 0.06, 1.3)])
    inputs = [bos] + target[:-1]
    for t in range(T):
        x = x0 + t * dx_dec
        fed_back = not teacher_forcing and t > 0
        box(ax, x, 0, "x", _plain(inputs[t]), w=w, fontsize=9, ls="--" if fed_back else "-").set_gid("decoder-input")
        box(ax, x, 1.3, "h", rf"$h^{{\mathrm{{dec}}}}_{{{t + 1}}}$", w=w)
        box(ax, x, 2.6, "y", _plain(target[t]), w=w, fontsize=9).set_gid("decoder-output")
        wire(ax, [(x, 0.3), (x, 1.0)])
        wire(ax, [(x, 1.6), (x, 2.3)])
        if t:
            wire(ax, [(x - dx_dec + w / 2 + 0.06, 1.3), (x - w / 2 - 0.06, 1.3)])
        if fed_back:
            # down the gap between two columns, across the recurrent arrow
            xm = x - dx_dec / 2
            wire(ax, [(x - dx_dec + w / 2 + 0.06, 2.6), (xm, 2.6), (xm, 0), (x - w / 2 - 0.06, 0)], ls="--",
                 color="#555555")
    ax.text((S - 1) * dx_enc / 2, -0.75, "encoder", ha="center", va="center", fontsize=9, style="italic")
    ax.text((x0 + right) / 2, -0.75, "decoder", ha="center", va="center", fontsize=9, style="italic")
    return ax
