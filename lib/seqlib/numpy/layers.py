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

from seqlib.shapes import Dims, check_grad


class EmbeddingCache(NamedTuple):
    """What word_embedding_backward needs: the ids, and the table's shape and dtype."""

    x: np.ndarray  #: (N, T) token ids
    W_shape: tuple  #: (V, D)
    W_dtype: np.dtype


class AffineCache(NamedTuple):
    """What temporal_affine_backward needs."""

    x: np.ndarray  #: (N, T, D)
    w: np.ndarray  #: (D, M)


def check_ids(name, ids, V, letter="V"):
    """Token ids index a table: anything outside [0, V) would wrap around (negatives) or crash.

    A ValueError names the argument and the first id out of range.
    """
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        bad = ids[(ids < 0) | (ids >= V)].flat[0]
        raise ValueError(f"{name} has a value {bad} outside [0, {letter}) = [0, {V})")


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
    # one of them, np.add.at accumulates every occurrence.
    np.add.at(dW, x, dout)
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
    out = (x.reshape(N * T, D) @ w + b).reshape(N, T, -1)
    return out, AffineCache(x, w)


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
    e = np.exp(shifted)
    sum_e = e.sum(axis=2, keepdims=True)
    n_idx, t_idx = np.nonzero(mask)
    y_m = y[n_idx, t_idx]
    log_p = shifted[n_idx, t_idx, y_m] - np.log(sum_e[n_idx, t_idx, 0])
    loss = -log_p.sum() / N
    # d loss / d x = (softmax(x) - onehot(y)) / N on unmasked steps, 0 elsewhere.
    dx = e
    dx /= sum_e
    dx *= (mask / N)[:, :, None]
    dx[n_idx, t_idx, y_m] -= 1.0 / N
    return float(loss), dx
