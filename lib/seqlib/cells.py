"""The three recurrent cells of the course by name: the one list both engines and the CLI read.

Chapter: "LSTM and GRU" (the vanilla RNN of "Sequences and the vanilla RNN" beside the LSTM
and the GRU).

A cell is picked by name everywhere (``cell="lstm"`` in a model, ``--cell lstm`` on the
command line). Each cell computes G blocks of H pre-activations per step, one per gate, in
the lecture's order (seqlib.numpy; torch.nn orders them differently, see
seqlib.numpy.convert):

    rnn   h                  G = 1
    lstm  i, f, o, g         G = 4   input, forget and output gates, candidate values
    gru   z, r, n            G = 3   update and reset gates, candidate state (h~ in the lecture)
"""

from __future__ import annotations

#: Gate blocks of each cell, in the lecture's (and seqlib.numpy's) order.
GATES = {"rnn": ("h",), "lstm": ("i", "f", "o", "g"), "gru": ("z", "r", "n")}
#: The cell names, as models and the command line take them.
CELLS = tuple(GATES)


def check_cell(cell: str) -> str:
    """Return cell if it is one of CELLS; anything else is a ValueError naming the choices."""
    if cell not in GATES:
        raise ValueError(f"cell is {cell!r}, expected one of {CELLS}")
    return cell


def num_gates(cell: str) -> int:
    """G, the number of H-sized blocks of pre-activations a step of cell computes."""
    return len(GATES[check_cell(cell)])
