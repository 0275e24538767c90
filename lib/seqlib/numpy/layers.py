"""The layers around a recurrent core: word embedding, temporal affine, temporal softmax loss.

Chapter: "Language models"; the "hello" example of "Sequences and the vanilla RNN" trains with them.

A language model reads token ids x (N, T), looks them up in an embedding W (V, D), runs a
recurrent network to get h (N, T, H), scores every vocabulary word at every step with one
affine map shared over time (N, T, V), and pays the cross-entropy of the true next word at
every step that is not padding.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from seqlib.shapes import Dims, check_grad, check_ids


class EmbeddingCache(NamedTuple):
    """What word_embedding_backward needs: the ids, and the table's shape and dtype."""

    x: np.ndarray  #: (N, T) token ids
    W_shape: tuple  #: (V, D)
    W_dtype: np.dtype


class AffineCache(NamedTuple):
    """What temporal_affine_backward needs."""

    x: np.ndarray  #: (N, T, D)
    w: np.ndarray  #: (D, M)


def word_embedding_forward(x, W):
    """Look up a D-dimensional vector for every token id: out[n, t] = W[x[n, t]].

    x: (N, T) integer ids in [0, V)  W: (V, D)
    Returns out (N, T, D) and the cache for word_embedding_backward.
    """
    dims = Dims()
    dims.check("x", x, "N,T", dtype="int")
    dims.check("W", W, "V,D")
    check_ids("x", x, dims["V"])
    return W[x], EmbeddingCache(x, W.shape, W.dtype)


def word_embedding_backward(dout, cache):
    """Backward pass of word_embedding_forward.

    dout: (N, T, D)
    Returns dW (V, D): row v is the sum of dout over every position where token v occurs.
    """
    x, W_shape, W_dtype = cache
    check_grad("dout", dout, x.shape + W_shape[1:], "(N, T, D)")
    dW = np.zeros(W_shape, dtype=np.result_type(W_dtype, dout))
    # A token that occurs twice must receive both gradients: dW[x] += dout would keep only
    # one of them. np.add.at(dW, x, dout) accumulates every occurrence, but one row at a
    # time; sorting the positions by token puts each token's rows next to each other, and
    # np.add.reduceat sums every such run in one call.
    ids = x.reshape(-1)
    order = np.argsort(ids, kind="stable")  # the positions n * T + t, grouped by token
    counts = np.bincount(ids, minlength=W_shape[0])  # occurrences of each token
    present = np.flatnonzero(counts)
    starts = (np.cumsum(counts) - counts)[present]  # where each present token's run begins
    rows = dout[np.divmod(order, x.shape[1])]  # dout[n, t] in that order, (N*T, D)
    dW[present] = np.add.reduceat(rows, starts, axis=0)  # dW[v] = Σ over x[n, t] = v of dout[n, t]
    return dW


def temporal_affine_forward(x, w, b):
    """The same affine map applied at every time step: out[:, t] = x[:, t] @ w + b.

    x: (N, T, D)  w: (D, M)  b: (M,)   (M is usually V, the vocabulary size)
    Returns out (N, T, M) and the cache for temporal_affine_backward.
    """
    dims = Dims()
    dims.check("x", x, "N,T,D")
    dims.check("w", w, "D,M")
    dims.check("b", b, "M")
    N, T, D = x.shape
    # One (N*T, D) @ (D, M) product instead of T small ones: the weights are shared over time.
    out = x.reshape(N * T, D) @ w
    out += b  # in place: no second (N*T, M) array
    return out.reshape(N, T, -1), AffineCache(x, w)


def temporal_affine_backward(dout, cache):
    """Backward pass of temporal_affine_forward.

    dout: (N, T, M)
    Returns dx (N, T, D), dw (D, M), db (M,).
    """
    x, w = cache
    N, T, D = x.shape
    check_grad("dout", dout, (N, T, w.shape[1]), "(N, T, M)")
    dout2 = dout.reshape(N * T, -1)
    dx = (dout2 @ w.T).reshape(N, T, D)
    dw = x.reshape(N * T, D).T @ dout2
    return dx, dw, dout2.sum(axis=0)


def temporal_softmax_loss(x, y, mask):
    """Softmax cross-entropy at every time step, counting only the steps where mask is True.

    loss = -(1/N) * sum over n, t with mask[n, t] of log softmax(x[n, t])[y[n, t]]

    x: (N, T, V) scores (logits)  y: (N, T) integer targets in [0, V)  mask: (N, T) bool
    Returns loss (a float) and dx (N, T, V), the gradient of loss with respect to x.

    Dividing by N (not by the number of unmasked steps) makes the loss a sum over time,
    as in the lecture's BPTT, averaged over the batch. log-softmax is computed as
    x - max(x) - log(sum(exp(x - max(x)))): every exponent is <= 0, so huge scores neither
    overflow nor lose the answer.
    """
    dims = Dims()
    dims.check("x", x, "N,T,V")
    dims.check("y", y, "N,T", dtype="int")
    dims.check("mask", mask, "N,T", dtype="bool")
    N, T, V = x.shape
    check_ids("y", y, V)
    shifted = x - x.max(axis=2, keepdims=True)
    n_idx, t_idx = np.nonzero(mask)
    y_m = y[n_idx, t_idx]
    picked = shifted[n_idx, t_idx, y_m]  # the true tokens' shifted scores, read before exp replaces them
    e = np.exp(shifted, out=shifted)  # in place: one (N, T, V) array serves e, and then dx
    sum_e = e.sum(axis=2, keepdims=True)
    log_p = picked - np.log(sum_e[n_idx, t_idx, 0])
    loss = -log_p.sum() / N
    # d loss / d x = (softmax(x) - onehot(y)) / N on unmasked steps, 0 elsewhere.
    dx = e
    dx *= mask[:, :, None] / (N * sum_e)  # softmax(x) / N where mask is True, 0 elsewhere (in x's dtype)
    dx[n_idx, t_idx, y_m] -= 1.0 / N
    return float(loss), dx
