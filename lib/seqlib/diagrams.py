"""Diagrams of the recurrent cells, drawn with matplotlib at build time.

Chapters: "Sequences and the vanilla RNN" (the Elman cell, draw_rnn_cell) and "LSTM and GRU"
(draw_lstm_cell, draw_gru_cell). The multi-step figures (truncated BPTT, stacks, encoder and
decoder) are in seqlib.diagrams_graphs, the beam-search tree in seqlib.diagrams_beam.

This module also holds the drawing vocabulary that every diagram of the book shares, the
unrolled graphs of seqlib.plots included: one colour per kind of node (COLORS), ``box`` for
a node, ``arrow`` for an edge between two nodes, ``wire`` for a routed line, ``dot`` for a
junction, ``op`` for a pointwise operation (a circle with + or ×), ``bridge`` where one wire
passes over another, ``canvas`` for the axes. Every figure takes an optional ``ax`` and
returns it, so a chapter can compose several into one figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib import patheffects
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

# Colours of the kinds of node, the same in every figure of the book: inputs x, hidden states
# h, outputs y, the context vector, the LSTM's cell state c, and the learned layers (gates).
COLORS = {"x": "#f4a582", "h": "#92c5de", "y": "#b8e186", "ctx": "#c2a5cf", "c": "#d1e5f0",
          "gate": "#fee08b", "op": "white"}
BELT = "#2166ac"  # the LSTM's cell-state path, drawn heavier than every other line
GRADIENT = "crimson"  # backward arrows and what stops them


def box(ax, x, y, kind, label, w=0.7, h=0.5, fontsize=10, fc=None, ec="black", lw=1.0, ls="-",
        color="black", zorder=1):
    """A rounded node centred at (x, y), filled with COLORS[kind] (or fc); returns its Text (None: no label)."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05",
                                fc=fc or COLORS[kind], ec=ec, lw=lw, ls=ls, zorder=zorder))
    if label is None:
        return None
    return ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, color=color, zorder=zorder + 2)


def arrow(ax, start, end, label=None, offset=(0.0, 0.0), color="black", lw=1.2, ls="-", shrink=14,
          rad=0.0, fontsize=8, style="-|>"):
    """An edge from start to end, stopping ``shrink`` points short of both (the boxes' edges).

    label: text at the middle, moved by offset; rad bends the edge (arc3 connection).
    """
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, lw=lw, color=color, ls=ls,
                                 shrinkA=shrink, shrinkB=shrink, connectionstyle=f"arc3,rad={rad}"))
    if label:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, label, fontsize=fontsize, color=color, ha="center", va="center",
                bbox=dict(fc="white", ec="none", pad=0.5))


def wire(ax, points, color="black", lw=1.2, head=True, ls="-", zorder=1):
    """A line through ``points``, exactly from the first to the last, with an arrowhead at the end."""
    path = Path(points, [Path.MOVETO] + [Path.LINETO] * (len(points) - 1))
    ax.add_patch(FancyArrowPatch(path=path, arrowstyle="-|>" if head else "-", mutation_scale=12, lw=lw,
                                 color=color, ls=ls, shrinkA=0, shrinkB=0, joinstyle="miter", zorder=zorder))


def bridge(ax, x, y, vertical=True, color="black", lw=1.2, length=0.4):
    """Where two wires cross, the one along ``vertical`` passes over the other (a white gap in it)."""
    dx, dy = (0, length / 2) if vertical else (length / 2, 0)
    ax.plot([x - dx, x + dx], [y - dy, y + dy], color=color, lw=lw, solid_capstyle="butt", zorder=2,
            path_effects=[patheffects.withStroke(linewidth=lw + 5, foreground="white")])


def dot(ax, x, y, color="black"):
    """A junction: the wire splits (or two wires join) here."""
    ax.add_patch(Circle((x, y), 0.06, fc=color, ec=color, zorder=3))


def op(ax, x, y, symbol, r=0.22, fontsize=10):
    """A pointwise operation: a white circle with symbol ("+", "×", "1−") at (x, y); returns its Text."""
    ax.add_patch(Circle((x, y), r, fc=COLORS["op"], ec="black", lw=1, zorder=2))
    return ax.text(x, y, symbol, ha="center", va="center", fontsize=fontsize, zorder=3)


def canvas(ax, xlim, ylim, width: float, title: str | None = None):
    """ax (or a new figure ``width`` inches wide, its height from the limits) set up for a diagram."""
    if ax is None:
        height = width * (ylim[1] - ylim[0]) / (xlim[1] - xlim[0]) + (0.3 if title else 0)
        _, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)
    return ax


def _cell_frame(ax, x0, y0, x1, y1):
    ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0.1", fc="#f4f4f4",
                                ec="#999999", lw=1, zorder=0))


# --------------------------------------------------------------------------- the vanilla RNN
# Chapter "Sequences and the vanilla RNN": one step of the Elman recurrence, inside the box
# that the unrolled graph of plots.draw_task repeats.


def draw_rnn_cell(ax=None):
    """The vanilla (Elman) RNN cell: h_t = tanh(W_hh h_{t-1} + W_xh x_t + b).

    x_t (below) and h_{t-1} (left) are multiplied by their weights, summed with the bias, and
    squashed by tanh; h_t leaves upwards (the output, or the layer above) and to the right (the
    next step's h_{t-1}). The equation is written under the cell. Returns the axes.
    """
    ax = canvas(ax, (-1.5, 7.3), (-1.9, 4.7), width=6.5, title="the vanilla RNN cell")
    _cell_frame(ax, 0, 0.4, 5, 3.2)
    box(ax, -0.9, 1.8, "h", "$h_{t-1}$")
    box(ax, 1.8, -0.9, "x", "$x_t$")
    op(ax, 1.8, 1.8, "+")
    wire(ax, [(-0.5, 1.8), (1.58, 1.8)])
    ax.text(0.6, 2.02, "$W_{hh}$", ha="center", va="bottom", fontsize=9)
    wire(ax, [(1.8, -0.65), (1.8, 1.58)])
    ax.text(1.95, 0.95, "$W_{xh}$", ha="left", va="center", fontsize=9)
    ax.text(1.8, 2.9, "$b$", ha="center", va="center", fontsize=9)
    wire(ax, [(1.8, 2.75), (1.8, 2.02)])
    box(ax, 3.3, 1.8, "op", "tanh", w=0.7, h=0.46)  # pointwise: the weights are on the arrows
    wire(ax, [(2.02, 1.8), (2.95, 1.8)])
    wire(ax, [(3.65, 1.8), (4.4, 1.8)], head=False)
    dot(ax, 4.4, 1.8)
    box(ax, 4.4, 4.1, "h", "$h_t$")
    wire(ax, [(4.4, 1.8), (4.4, 3.85)])
    wire(ax, [(4.4, 1.8), (6.1, 1.8)])
    ax.text(6.2, 1.8, "$h_t$ to\nstep $t+1$", ha="left", va="center", fontsize=9)
    ax.text(2.5, -1.6, r"$h_t = \tanh(W_{hh}\, h_{t-1} + W_{xh}\, x_t + b)$", ha="center", va="center",
            fontsize=11)
    return ax


# --------------------------------------------------------------------------- the LSTM
# Chapter "LSTM and GRU": the four blocks i, f, g, o from [x_t, h_{t-1}], and the cell state
# running along the top, touched only by a product and a sum (the constant error carousel).


def draw_lstm_cell(ax=None):
    """The LSTM cell, with the cell state c as a heavy line along the top (the conveyor belt).

    Below, x_t and h_{t-1} are joined into [x_t, h_{t-1}], which feeds the four blocks: the
    forget gate f_t (σ), the input gate i_t (σ), the candidate g_t (tanh) and the output gate
    o_t (σ). Along the top, c_{t-1} is multiplied by f_t and i_t ⊙ g_t is added: c_t. Then
    tanh(c_t) ⊙ o_t is h_t. The two equations are written under the cell. Returns the axes.
    """
    ax = canvas(ax, (-1.5, 9.6), (-2.2, 5.6), width=8, title="the LSTM cell")
    _cell_frame(ax, 0, 0.2, 8, 5.1)
    belt_y, gate_y, bus_y, h_y = 4.5, 2.4, 1.4, 0.75
    # the cell state: c_{t-1} -> (× f) -> (+ i ⊙ g) -> c_t
    box(ax, -0.9, belt_y, "c", "$c_{t-1}$", w=0.8)
    box(ax, 8.9, belt_y, "c", "$c_t$", w=0.8)
    op(ax, 1.6, belt_y, "×")
    op(ax, 3.4, belt_y, "+")
    for a, b, head in ((-0.45, 1.38, True), (1.82, 3.18, True), (3.62, 8.45, True)):
        wire(ax, [(a, belt_y), (b, belt_y)], color=BELT, lw=3.2, head=head)
    ax.text(5.1, belt_y + 0.25, "cell state: the conveyor belt", ha="center", va="bottom", fontsize=9,
            color=BELT, style="italic")
    # the inputs, joined into [x_t, h_{t-1}] and fed to the four blocks
    box(ax, -0.9, h_y, "h", "$h_{t-1}$", w=0.8)
    box(ax, 0.8, -0.9, "x", "$x_t$")
    wire(ax, [(-0.45, h_y), (0.8, h_y)], head=False)
    wire(ax, [(0.8, -0.65), (0.8, bus_y), (5.4, bus_y)], head=False)
    dot(ax, 0.8, h_y)
    ax.text(3.1, bus_y - 0.12, "$[x_t, h_{t-1}]$", ha="center", va="top", fontsize=9)
    gates = ((1.6, "$f_t$", r"$\sigma$"), (2.8, "$i_t$", r"$\sigma$"), (4.0, "$g_t$", "tanh"),
             (5.4, "$o_t$", r"$\sigma$"))
    for gx, _, fn in gates:
        if gx != 5.4:
            dot(ax, gx, bus_y)
        wire(ax, [(gx, bus_y), (gx, gate_y - 0.25)])
        box(ax, gx, gate_y, "gate", fn, w=0.62, h=0.46)
    # f_t multiplies the old cell; i_t ⊙ g_t is written into it
    wire(ax, [(1.6, gate_y + 0.25), (1.6, belt_y - 0.22)])
    ax.text(1.72, 3.45, "$f_t$", ha="left", va="center", fontsize=10)
    op(ax, 3.4, 3.45, "×")
    wire(ax, [(2.8, gate_y + 0.25), (2.8, 3.45), (3.18, 3.45)])
    wire(ax, [(4.0, gate_y + 0.25), (4.0, 3.45), (3.62, 3.45)])
    wire(ax, [(3.4, 3.67), (3.4, belt_y - 0.22)])
    ax.text(2.68, 3.0, "$i_t$", ha="right", va="center", fontsize=10)
    ax.text(4.12, 3.0, "$g_t$", ha="left", va="center", fontsize=10)
    # h_t = o_t ⊙ tanh(c_t)
    dot(ax, 6.6, belt_y, color=BELT)
    wire(ax, [(6.6, belt_y), (6.6, 3.68)])
    box(ax, 6.6, 3.45, "op", "tanh", w=0.62, h=0.42)
    op(ax, 6.6, gate_y, "×")
    wire(ax, [(6.6, 3.22), (6.6, gate_y + 0.22)])
    wire(ax, [(5.71, gate_y), (6.38, gate_y)])
    ax.text(6.0, gate_y + 0.12, "$o_t$", ha="center", va="bottom", fontsize=10)
    wire(ax, [(6.6, gate_y - 0.22), (6.6, h_y), (8.45, h_y)])
    box(ax, 8.9, h_y, "h", "$h_t$", w=0.8)
    ax.text(4.05, -1.75, r"$c_t = f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t)$",
            ha="center", va="center", fontsize=11)
    return ax


# --------------------------------------------------------------------------- the GRU
# Chapter "LSTM and GRU": the two conventions the chapter states (seqlib.numpy.gru's docstring
# has the same equations): the lecture's (reset before the product, z weighs the candidate) and
# torch.nn.GRU's (reset after the product, z weighs the old state).

GRU_CONVENTIONS = ("torch", "lecture")


def draw_gru_cell(ax=None, convention: str = "torch"):
    """The GRU cell: reset gate r_t, update gate z_t, candidate state, one state h along the top.

    convention: "torch" draws torch.nn.GRU's equations, the reset gate after the hidden product
    and z_t weighing the old state:
        n_t = tanh(x_t W_xh + b_in + r_t ⊙ (h_{t-1} W_hh + b_hn)),  h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1};
    "lecture" the lecture's (seqlib's reset="before"), the reset gate before the product and
    z_t weighing the candidate:
        h̃_t = tanh(x_t W_xh + (r_t ⊙ h_{t-1}) W_hh + b_h),  h_t = (1 − z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t.
    Both gates read [x_t, h_{t-1}]; the candidate reads x_t and the reset state. The equations
    are written under the cell. Returns the axes.
    """
    if convention not in GRU_CONVENTIONS:
        raise ValueError(f"convention is {convention!r}, expected one of {GRU_CONVENTIONS}")
    torch_form = convention == "torch"
    name = "$n_t$" if torch_form else r"$\tilde{h}_t$"
    ax = canvas(ax, (-1.5, 10.1), (-2.6, 6.0), width=8,
                title="the GRU cell, " + ("torch.nn.GRU's convention" if torch_form else "the lecture's convention"))
    _cell_frame(ax, 0, 0.1, 8.6, 5.6)
    top, gate_y, bus_y, x_y, cand_y = 5.0, 2.3, 1.3, 0.5, 3.6
    # the state along the top: h_{t-1} -> (× keep) -> (+ new) -> h_t
    box(ax, -0.9, top, "h", "$h_{t-1}$", w=0.8)
    box(ax, 9.5, top, "h", "$h_t$", w=0.8)
    op(ax, 6.0, top, "×")
    op(ax, 7.4, top, "+")
    wire(ax, [(-0.45, top), (5.78, top)])
    wire(ax, [(6.22, top), (7.18, top)])
    wire(ax, [(7.62, top), (9.05, top)])
    # the gates read [x_t, h_{t-1}]
    box(ax, 0.9, -0.9, "x", "$x_t$")
    dot(ax, 0.3, top)
    wire(ax, [(0.3, top), (0.3, bus_y), (2.6, bus_y)], head=False)
    wire(ax, [(0.9, -0.65), (0.9, bus_y)], head=False)
    dot(ax, 0.9, bus_y)
    ax.text(1.95, bus_y - 0.1, "$[x_t, h_{t-1}]$", ha="center", va="top", fontsize=9)
    for gx in (1.4, 2.6):
        if gx != 2.6:
            dot(ax, gx, bus_y)
        wire(ax, [(gx, bus_y), (gx, gate_y - 0.23)])
        box(ax, gx, gate_y, "gate", r"$\sigma$", w=0.62, h=0.46)
    # reset: r_t ⊙ h_{t-1} (lecture) or r_t ⊙ (h_{t-1} W_hh + b_hn) (torch), into the candidate
    op(ax, 1.4, cand_y, "×")
    wire(ax, [(1.4, gate_y + 0.23), (1.4, cand_y - 0.22)])
    ax.text(1.28, 2.95, "$r_t$", ha="right", va="center", fontsize=10)
    dot(ax, 1.4, top)
    if torch_form:
        wire(ax, [(1.4, top), (1.4, 4.5)], head=False)
        box(ax, 1.4, 4.3, "op", r"$W_{hh}, b_{hn}$", w=1.15, h=0.36, fontsize=8)
        wire(ax, [(1.4, 4.1), (1.4, cand_y + 0.22)])
    else:
        wire(ax, [(1.4, top), (1.4, cand_y + 0.22)])
    box(ax, 4.2, cand_y, "gate", "tanh", w=0.7, h=0.46)
    wire(ax, [(1.62, cand_y), (3.85, cand_y)])
    dot(ax, 0.9, x_y)
    wire(ax, [(0.9, x_y), (4.2, x_y), (4.2, cand_y - 0.23)])
    bridge(ax, 4.2, gate_y)  # x_t passes over the update gate's wire
    ax.text(3.0, x_y - 0.08, "$x_t$", ha="center", va="top", fontsize=9)
    # update: z_t weighs one side, 1 − z_t the other
    op(ax, 7.4, cand_y, "×")
    wire(ax, [(4.55, cand_y), (7.18, cand_y)])
    ax.text(5.2, cand_y + 0.1, name, ha="center", va="bottom", fontsize=10)
    wire(ax, [(7.4, cand_y + 0.22), (7.4, top - 0.22)])
    wire(ax, [(2.91, gate_y), (7.4, gate_y)], head=False)
    ax.text(3.3, gate_y + 0.1, "$z_t$", ha="center", va="bottom", fontsize=10)
    dot(ax, 6.0, gate_y)
    one_minus_keep = not torch_form  # lecture: (1 − z_t) ⊙ h_{t-1}; torch: (1 − z_t) ⊙ n_t
    if one_minus_keep:
        wire(ax, [(6.0, gate_y), (6.0, 4.08)])
        op(ax, 6.0, 4.3, "1−", fontsize=8)
        wire(ax, [(6.0, 4.52), (6.0, top - 0.22)])
        wire(ax, [(7.4, gate_y), (7.4, cand_y - 0.22)])
    else:
        wire(ax, [(6.0, gate_y), (6.0, top - 0.22)])
        wire(ax, [(7.4, gate_y), (7.4, 2.73)], head=False)
        op(ax, 7.4, 2.95, "1−", fontsize=8)
        wire(ax, [(7.4, 3.17), (7.4, cand_y - 0.22)])
    bridge(ax, 6.0, cand_y)  # z_t passes over the candidate's wire
    if torch_form:
        candidate = r"$n_t = \tanh(x_t W_{xh} + b_{in} + r_t \odot (h_{t-1} W_{hh} + b_{hn}))$"
        update = r"$h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$"
    else:
        candidate = r"$\tilde{h}_t = \tanh(x_t W_{xh} + (r_t \odot h_{t-1}) W_{hh} + b_h)$"
        update = r"$h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde{h}_t$"
    ax.text(4.3, -1.65, candidate, ha="center", va="center", fontsize=10)
    ax.text(4.3, -2.25, update, ha="center", va="center", fontsize=10)
    return ax
