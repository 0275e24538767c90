"""What the three NumPy cells share: the nonlinearities with their derivatives, the states
before every step, and the weight gradients summed over time.

Chapters: "Sequences and the vanilla RNN" and "Backpropagation through time" (seqlib.numpy.rnn),
"LSTM and GRU" (seqlib.numpy.lstm, .gru). seqlib.torch.cell_parts is its PyTorch mirror.

One time layout for the three cells at their public boundary: batch-first, a sequence is
(N, T, ·) and step t is its slice [:, t]. Every cell computes pre-activations
a_t = x_t Wx + h_{t-1} Wh + b (row vectors, weights on the right) split into G blocks of H,
one per gate (seqlib.cells.GATES).

Inside their loops the RNN and the LSTM keep every sequence buffer time-major, (T, N, ·), so
that step t is the contiguous block [t]: the step's matrix product writes into it directly,
and NumPy runs each elementwise equation over it in one pass (on a strided (N, ·) slice of a
batch-first buffer it pays a call per row). What they return is the same memory seen
batch-first, ``buf.transpose(1, 0, 2)``: shape (N, T, ·), no copy. time_major() goes back.
"""

from __future__ import annotations

import numpy as np

# torch.nn.RNN's two (its argument has the same name), and the lecture's sigmoid.
NONLINEARITIES = ("tanh", "relu", "sigmoid")


def check_nonlinearity(nonlinearity: str) -> str:
    """Return nonlinearity if it is "tanh", "relu" or "sigmoid"; anything else is a ValueError."""
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity is {nonlinearity!r}, expected one of {NONLINEARITIES}")
    return nonlinearity


def sigmoid(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """σ(a) = 1 / (1 + exp(-a)), computed as (1 + tanh(a/2)) / 2: no exp that can overflow.

    out: an array to write into (out=a computes it in place).
    """
    out = np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def activate(a: np.ndarray, nonlinearity: str, out: np.ndarray | None = None) -> np.ndarray:
    """The RNN's nonlinearity: h = tanh(a), relu(a) = max(a, 0) or σ(a)."""
    if nonlinearity == "tanh":
        return np.tanh(a, out=out)
    if nonlinearity == "relu":
        return np.maximum(a, 0, out=out)
    return sigmoid(a, out=out)


def nonlinearity_grad(h: np.ndarray, nonlinearity: str) -> np.ndarray:
    """dh/da written with the output h, all a cache keeps: tanh' = 1 - h², relu' = [h > 0],
    σ' = h (1 - h)."""
    if nonlinearity == "tanh":
        return 1.0 - h * h
    if nonlinearity == "relu":
        return (h > 0).astype(h.dtype)
    return h * (1.0 - h)


def gate_blocks(a: np.ndarray, G: int) -> tuple[np.ndarray, ...]:
    """The G blocks of H columns of a (..., G*H), as views: i, f, o, g = gate_blocks(a, 4).

    np.split does the same at ten times the cost, which a step loop pays T times.
    """
    H = a.shape[-1] // G
    return tuple(a[..., k * H:(k + 1) * H] for k in range(G))


def states_before(h0: np.ndarray, h: np.ndarray) -> np.ndarray:
    """h_{t-1} for every step t: h0 (N, H) then h[:, :-1], as one (N, T, H) array."""
    return np.concatenate([h0[:, None], h[:, :-1]], axis=1)


def weight_grads(x: np.ndarray, h_prev: np.ndarray, da: np.ndarray, Wx: np.ndarray):
    """dx, dWx, dWh, db of a layer with a_t = x_t Wx + h_{t-1} Wh + b, from every da_t.

    x: (N, T, D)  h_prev: (N, T, H), states_before(h0, h)  da: (N, T, G*H)  Wx: (D, G*H)
    The weights are shared over time, so dWx = Σ_t x_t^T da_t, dWh = Σ_t h_{t-1}^T da_t and
    db = Σ_t Σ_n da_t: each a single product over all N*T rows instead of T small ones.
    Returns dx (N, T, D), dWx (D, G*H), dWh (H, G*H), db (G*H,).
    """
    N, T, GH = da.shape
    da_rows = da.reshape(N * T, GH)
    dx = (da_rows @ Wx.T).reshape(N, T, -1)
    dWx = x.reshape(N * T, -1).T @ da_rows
    dWh = h_prev.reshape(N * T, -1).T @ da_rows
    return dx, dWx, dWh, da_rows.sum(axis=0)


def time_major(a: np.ndarray) -> np.ndarray:
    """a (N, T, ·) as a contiguous (T, N, ·) array: free (a view) when a is the batch-first view
    of a time-major buffer, as the RNN's and LSTM's caches hold; a copy otherwise."""
    return np.ascontiguousarray(a.transpose(1, 0, 2))


def weight_grads_time_major(x, h0, h, da, Wx, dx=None):
    """weight_grads with every sequence time-major (T, N, ·), and the states as h0 and h.

    x: (T, N, D)  h0: (N, H)  h: (T, N, H) h_t after every step  da: (T, N, G*H)  Wx: (D, G*H)
    dx: a contiguous (T, N, D) array to write dx into, or None for a new one; it may be x
    itself (a copy the caller owns), which is read before dx is written.
    Rows are (t, n) pairs in the same order in x, h and da, so each sum over time is again
    one product over all N*T rows; h_{t-1} is h0 for t = 0 and h[t-1] after, without
    concatenating the two (states_before's copy).
    Returns dx (T, N, D), dWx (D, G*H), dWh (H, G*H), db (G*H,).
    """
    T, N, GH = da.shape
    D, H = x.shape[2], h0.shape[1]
    da_rows = da.reshape(T * N, GH)
    dWx = x.reshape(T * N, D).T @ da_rows  # dWx = Σ_t x_t^T da_t
    if dx is None:
        dx = np.empty((T, N, D), dtype=np.result_type(da, Wx))
    np.matmul(da_rows, Wx.T, out=dx.reshape(T * N, D))  # dx_t = da_t Wx^T
    dWh = h0.T @ da[0]  # dWh = Σ_t h_{t-1}^T da_t: the term of t = 0,
    dWh += h[:-1].reshape((T - 1) * N, H).T @ da[1:].reshape((T - 1) * N, GH)  # and those of t >= 1
    return dx, dWx, dWh, da_rows.sum(axis=0)  # db = Σ_t Σ_n da_t
