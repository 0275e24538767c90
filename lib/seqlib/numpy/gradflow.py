"""How gradients travel back through time: the measurements of vanishing and exploding gradients.

Chapter: "Backpropagation through time", sections on vanishing and exploding gradients.

A loss L at the last step T reaches the state h_t of an earlier step only through the chain
of step Jacobians (column-vector form, as in the lecture):

    dh_T/dh_t = prod_{k=t+1..T} dh_k/dh_{k-1},    dh_k/dh_{k-1} = diag(tanh'(a_k)) W_hh

so its norm behaves like a product of T - t factors, bounded by sigma_max(W_hh)^(T - t) for
tanh: it vanishes when the largest singular value of W_hh is below 1 and may explode above.
The LSTM adds the cell-state path dc_k/dc_{k-1} = diag(f_k), which can stay close to the
identity.

For the LSTM the state between steps t and t + 1 is the pair (h_t, c_t), two independent
inputs of step t + 1 exactly as lstm_step_forward receives them: ``state="h"`` measures
derivatives with respect to h_t (c_t held fixed), ``state="c"`` with respect to c_t.

Everything here runs the step functions of seqlib.numpy.rnn, .lstm and .gru, so the
numbers are those of the layers the course builds, not of a second implementation.
Shapes: x (N, T, D), h0 (N, H); index t of a (N, T, ...) result is the state after step t + 1,
aligned with the h returned by rnn_forward.
"""

from __future__ import annotations

import numpy as np

from seqlib.numpy.gru import gru_step_backward, gru_step_forward
from seqlib.numpy.lstm import lstm_step_backward, lstm_step_forward
from seqlib.cells import check_cell, num_gates
from seqlib.numpy.cell_parts import check_nonlinearity
from seqlib.numpy.rnn import rnn_step_backward, rnn_step_forward
from seqlib.shapes import Dims


def _check_cell_state(cell, state):
    check_cell(cell)
    if state not in ("h", "c") or (state == "c" and cell != "lstm"):
        allowed = ("h", "c") if cell == "lstm" else ("h",)
        raise ValueError(f"state is {state!r}, expected one of {allowed} for cell={cell!r}")


def _check_inputs(cell, x, h0, Wx, Wh, b, c0, **grads):
    k = num_gates(cell)
    g = "" if k == 1 else str(k)
    dims = Dims()
    dims.check("x", x, "N,T,D")
    dims.check("Wx", Wx, f"D,{g}H")
    dims.check("h0", h0, "N,H")
    dims.check("Wh", Wh, f"H,{g}H")
    dims.check("b", b, f"{g}H")
    if c0 is not None:
        if cell != "lstm":
            raise ValueError(f"c0 is given, but cell={cell!r} has no cell state")
        dims.check("c0", c0, "N,H")
    for name, arr in grads.items():
        if arr is not None:
            dims.check(name, arr, "N,H")


def _state_gradients(cell, x, h0, c0, Wx, Wh, b, dh_T, dc_T, nonlinearity):
    """Gradients of L = sum(dh_T * h_T) + sum(dc_T * c_T) with respect to every state.

    Returns dh (N, T, H) and, for the LSTM, dc (N, T, H) (None for the RNN); index T - 1
    holds the seeds dh_T and dc_T themselves.
    """
    N, T, _ = x.shape
    H = h0.shape[1]
    dtype = np.result_type(x, h0, Wx, Wh, b)
    caches = []
    prev_h = h0
    prev_c = np.zeros((N, H), dtype=dtype) if c0 is None else c0
    for t in range(T):
        if cell == "rnn":
            prev_h, cache = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b, nonlinearity)
        elif cell == "gru":
            prev_h, cache = gru_step_forward(x[:, t], prev_h, Wx, Wh, b)
        else:
            prev_h, prev_c, cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        caches.append(cache)
    dh = np.empty((N, T, H), dtype=dtype)
    dc = np.empty((N, T, H), dtype=dtype) if cell == "lstm" else None
    dh[:, -1] = dh_T
    if dc is not None:
        dc[:, -1] = dc_T
    # Only states are differentiated: no loss term sits on h_t for t < T, so the gradient
    # reaching h_{t-1} is exactly what step t sends back.
    for t in range(T - 1, 0, -1):
        if cell == "rnn":
            _, dh[:, t - 1], *_ = rnn_step_backward(dh[:, t], caches[t])
        elif cell == "gru":
            _, dh[:, t - 1], *_ = gru_step_backward(dh[:, t], caches[t])
        else:
            _, dh[:, t - 1], dc[:, t - 1], *_ = lstm_step_backward(dh[:, t], dc[:, t], caches[t])
    return dh, dc


def hidden_gradient_norms(x, h0, Wx, Wh, b, cell="rnn", dh_T=None, dc_T=None, c0=None,
                          state="h", nonlinearity="tanh"):
    """Norm of the gradient of a loss at the last step with respect to every earlier state.

    The loss is L = sum(dh_T * h_T) (+ sum(dc_T * c_T) for the LSTM): dh_T is the gradient a
    real loss would send into h_T. Returns norms (N, T) with norms[n, t] = ||dL/dh_{t+1}||
    for sample n (or ||dL/dc_{t+1}|| when state="c"); norms[:, T-1] = ||dh_T|| (or ||dc_T||).

    x: (N, T, D)  h0: (N, H)
    cell="rnn": Wx (D, H), Wh (H, H), b (H,); nonlinearity "tanh", "relu" or "sigmoid".
    cell="lstm": Wx (D, 4H), Wh (H, 4H), b (4H,), gates i, f, o, g; c0 (N, H) or None for 0.
    cell="gru": Wx (D, 3H), Wh (H, 3H), b (3H,), the lecture's GRU (gates z, r, h~).
    dh_T: (N, H), default all ones.  dc_T: (N, H), LSTM only, default zeros.
    """
    _check_cell_state(cell, state)
    check_nonlinearity(nonlinearity)
    _check_inputs(cell, x, h0, Wx, Wh, b, c0, dh_T=dh_T, dc_T=dc_T)
    if dc_T is not None and cell != "lstm":
        raise ValueError(f"dc_T is given, but cell={cell!r} has no cell state")
    N, _, _ = x.shape
    H = h0.shape[1]
    dh_T = np.ones((N, H), dtype=h0.dtype) if dh_T is None else dh_T
    dc_T = np.zeros((N, H), dtype=h0.dtype) if dc_T is None else dc_T
    dh, dc = _state_gradients(cell, x, h0, c0, Wx, Wh, b, dh_T, dc_T, nonlinearity)
    return np.linalg.norm(dh if state == "h" else dc, axis=2)


def hidden_jacobians(x, h0, Wx, Wh, b, cell="rnn", c0=None, state="h", nonlinearity="tanh"):
    """The Jacobians dh_T/dh_t of the last state with respect to every state, per sample.

    Returns J (N, T, H, H) with J[n, t, i, j] = d h_T[n, i] / d h_{t+1}[n, j] (the lecture's
    column-vector Jacobian; J[:, T-1] is the identity). With state="c" (LSTM only), the same
    for the cell state: d c_T / d c_{t+1}, with h held fixed.
    Arguments as in hidden_gradient_norms.

    Row i of every Jacobian is one backward pass seeded with the unit vector e_i at step T;
    all H rows of all N samples run as one batch of N * H sequences.
    """
    _check_cell_state(cell, state)
    check_nonlinearity(nonlinearity)
    _check_inputs(cell, x, h0, Wx, Wh, b, c0)
    N, T, D = x.shape
    H = h0.shape[1]
    xr = np.repeat(x, H, axis=0)  # copy i of sample n is row n * H + i
    h0r = np.repeat(h0, H, axis=0)
    c0r = None if c0 is None else np.repeat(c0, H, axis=0)
    eye = np.tile(np.eye(H, dtype=h0.dtype), (N, 1))
    zero = np.zeros_like(eye)
    seeds = (eye, zero) if state == "h" else (zero, eye)
    dh, dc = _state_gradients(cell, xr, h0r, c0r, Wx, Wh, b, *seeds, nonlinearity)
    rows = dh if state == "h" else dc  # (N * H, T, H): row i of each Jacobian
    return rows.reshape(N, H, T, H).transpose(0, 2, 1, 3)


def hidden_jacobian_norms(x, h0, Wx, Wh, b, cell="rnn", c0=None, state="h", nonlinearity="tanh", ord=2):
    """Norms of the Jacobians dh_T/dh_t: (N, T), one per sample and step.

    ord: 2 (the spectral norm, largest singular value: the most any direction can grow)
    or "fro". Arguments as in hidden_jacobians.
    """
    if ord not in (2, "fro"):
        raise ValueError(f"ord is {ord!r}, expected 2 or 'fro'")
    J = hidden_jacobians(x, h0, Wx, Wh, b, cell=cell, c0=c0, state=state, nonlinearity=nonlinearity)
    return np.linalg.norm(J, ord=ord, axis=(2, 3))


def recurrent_singular_values(Wh, cell="rnn"):
    """Singular values of the recurrent weights, largest first.

    cell="rnn": Wh (H, H); returns (H,).
    cell="lstm": Wh (H, 4H); returns (4, H), one row per gate block in the order i, f, o, g.
    cell="gru": Wh (H, 3H); returns (3, H), one row per block in the order z, r, h~.

    For the tanh RNN, sigma_max(W_hh) < 1 guarantees that ||dh_T/dh_t|| <= sigma_max^(T - t)
    vanishes; sigma_max > 1 is necessary (not sufficient) for it to explode.
    """
    k = num_gates(cell)
    Dims().check("Wh", Wh, "H,H" if k == 1 else f"H,{k}H")
    H = Wh.shape[0]
    blocks = Wh.reshape(H, k, H).transpose(1, 0, 2)  # (k, H, H): gate blocks side by side
    s = np.linalg.svd(blocks, compute_uv=False)
    return s[0] if k == 1 else s
