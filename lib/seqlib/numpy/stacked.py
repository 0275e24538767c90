"""Stacked (multi-layer) and bidirectional RNN, LSTM and GRU, forward and backward by hand.

Chapter: "Stacked and bidirectional RNNs".

Layer l reads the outputs of layer l - 1 (layer 0 reads x). A bidirectional layer runs two
independent cells over the same input, one forwards in time and one backwards, and
concatenates their outputs on the last axis, forward first, as torch.nn does:

    h^(l)[:, t] = concat(h_fwd^(l)[:, t], h_bwd^(l)[:, t])        (N, 2H)

The parameters are a list over layers of a list over directions (one dict, or two when
bidirectional: forward, then backward), each dict the arguments of the single-layer
functions:

    params[l][d] = {"Wx": (D_l, G*H), "Wh": (H, G*H), "b": (G*H,)}

with G = 1 (rnn), 4 (lstm, gates i, f, o, g) or 3 (gru, gates z, r, h~; b is (4H,) with
reset="after"), D_0 = D and D_l = K*H above, K = 2 if bidirectional else 1.
init_stacked_params builds them; seqlib.numpy.convert translates them to and from
torch.nn state_dicts.

Initial and final states follow torch.nn's layout, (L*K, N, H) with row l*K + d for layer l,
direction d, so h_n and c_n compare directly with torch's. A backward direction's final
state is the one after reading x[:, 0].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from seqlib.cells import check_cell, num_gates
from seqlib.numpy.cell_parts import check_nonlinearity
from seqlib.numpy.gru import RESETS, gru_backward, gru_forward
from seqlib.numpy.lstm import lstm_backward_with_cell, lstm_forward
from seqlib.numpy.rnn import rnn_backward, rnn_forward
from seqlib.shapes import Dims, check_grad


class StackedCache(NamedTuple):
    """What stacked_backward needs from stacked_forward."""

    cell: str  #: "rnn", "lstm" or "gru"
    K: int  #: directions: 1, or 2 when bidirectional
    H: int  #: hidden units of every layer
    x_shape: tuple  #: (N, T, D)
    h_n: np.ndarray  #: (L*K, N, H) the final hidden states
    layers: list  #: per layer, per direction, the cache of its rnn / lstm / gru forward


def init_stacked_params(D, H, L=1, cell="lstm", bidirectional=False, reset="before", rng=None,
                        dtype=np.float64):
    """Parameters for stacked_forward, uniform in [-1/sqrt(H), 1/sqrt(H)] like torch.nn.

    D: input features, H: hidden units, L: layers. reset: the GRU variant (b is (4H,) when
    "after"). rng: a numpy Generator (or a seed) for reproducible weights.
    Returns params: list over L layers of a list over directions of {"Wx", "Wh", "b"}.
    """
    _check_config(cell, bidirectional, reset)
    rng = np.random.default_rng(rng)
    G, K, k = num_gates(cell), 2 if bidirectional else 1, 1.0 / np.sqrt(H)
    nb = 4 * H if (cell == "gru" and reset == "after") else G * H
    params = []
    for layer in range(L):
        D_l = D if layer == 0 else K * H
        params.append([
            {"Wx": rng.uniform(-k, k, (D_l, G * H)).astype(dtype),
             "Wh": rng.uniform(-k, k, (H, G * H)).astype(dtype),
             "b": rng.uniform(-k, k, nb).astype(dtype)}
            for _ in range(K)
        ])
    return params


def _check_config(cell, bidirectional, reset):
    check_cell(cell)
    if not isinstance(bidirectional, (bool, np.bool_)):
        raise ValueError(f"bidirectional is {bidirectional!r}, expected True or False")
    if reset not in RESETS:
        raise ValueError(f"reset is {reset!r}, expected one of {RESETS}")


def check_lengths(lengths, N: int, T: int, name: str = "lengths", letter: str = "T") -> np.ndarray:
    """lengths: (N,) integers in [1, T], each row's real steps (padding comes after them);
    a list or tuple is accepted. Returns an int64 array. The mirror of
    seqlib.torch.stacked.check_lengths."""
    if isinstance(lengths, (list, tuple)):
        lengths = np.asarray(lengths, dtype=np.int64)
    if not isinstance(lengths, np.ndarray):
        raise TypeError(f"{name} must be an array or a list of ints, got {type(lengths).__name__}")
    Dims(N=N).check(name, lengths, "N", dtype="int")
    if N and (lengths.min() < 1 or lengths.max() > T):
        raise ValueError(f"{name} must lie in [1, {letter}] = [1, {T}], got values from {lengths.min()} to {lengths.max()}")
    return lengths.astype(np.int64)


def stacked_forward(x, h0, params, cell="lstm", bidirectional=False, c0=None,
                    nonlinearity="tanh", reset="before"):
    """A stack of L recurrent layers, each one- or two-directional, over a whole sequence.

    x: (N, T, D)
    h0: (L*K, N, H) initial hidden states (row l*K + d), or None for zeros; K = 2 if
        bidirectional else 1.
    params: see the module docstring. cell: "rnn", "lstm" or "gru".
    c0: (L*K, N, H) initial cell states (cell="lstm" only), or None for zeros.
    nonlinearity: the RNN's nonlinearity ("tanh", "relu" or "sigmoid"). reset: the GRU variant.
    Returns h (N, T, K*H), the top layer's outputs; the final states, h_n (L*K, N, H), or
    (h_n, c_n) for an LSTM, as torch.nn returns them; and the cache for stacked_backward.
    """
    _check_config(cell, bidirectional, reset)
    check_nonlinearity(nonlinearity)
    K, G = 2 if bidirectional else 1, num_gates(cell)
    if not isinstance(params, (list, tuple)) or len(params) == 0:
        raise ValueError("params must be a non-empty list over layers (see seqlib.numpy.stacked)")
    dims = Dims(L=len(params))
    k = "2" if bidirectional else ""
    dims.check("x", x, "N,T,D")
    for layer, directions in enumerate(params):
        if not isinstance(directions, (list, tuple)) or len(directions) != K:
            raise ValueError(f"params[{layer}] must be a list of {K} direction dict(s) "
                             f"(bidirectional={bidirectional})")
        for d, p in enumerate(directions):
            name = f"params[{layer}][{d}]"
            missing = {"Wx", "Wh", "b"} - set(p)
            if missing:
                raise ValueError(f"{name} lacks {sorted(missing)}")
            # Wh first: its square part fixes H, so a wrong cell's weights fail with H right.
            dims.check(f"{name}['Wh']", p["Wh"], f"H,{G}H")
            dims.check(f"{name}['Wx']", p["Wx"], f"{'D' if layer == 0 else k + 'H'},{G}H")
            nb = 4 if (cell == "gru" and reset == "after") else G
            dims.check(f"{name}['b']", p["b"], f"{nb}H")
    state_spec = f"{k}L,N,H"
    if h0 is not None:
        dims.check("h0", h0, state_spec)
    if c0 is not None:
        if cell != "lstm":
            raise ValueError(f"c0 is only for cell='lstm', got cell={cell!r}")
        dims.check("c0", c0, state_spec)
    return _stacked_forward(x, h0, c0, params, cell, K, nonlinearity, reset)


def _stacked_forward(x, h0, c0, params, cell, K, nonlinearity, reset):
    N, T, _ = x.shape
    H = params[0][0]["Wh"].shape[0]
    L = len(params)
    dtype = np.result_type(x, *(p[k] for layer in params for p in layer for k in ("Wx", "Wh", "b")))
    zeros = np.zeros((N, H), dtype=dtype)
    h_n = np.empty((L * K, N, H), dtype=dtype)
    c_n = np.empty((L * K, N, H), dtype=dtype) if cell == "lstm" else None
    caches = []
    inp = x
    for layer, directions in enumerate(params):
        out = np.empty((N, T, K * H), dtype=dtype)
        layer_caches = []
        for d, p in enumerate(directions):
            row = layer * K + d
            h_init = zeros if h0 is None else h0[row]
            # The backward direction is the same cell reading the sequence reversed in time.
            xin = inp if d == 0 else inp[:, ::-1]
            if cell == "rnn":
                h, cache = rnn_forward(xin, h_init, p["Wx"], p["Wh"], p["b"], nonlinearity)
            elif cell == "lstm":
                c_init = zeros if c0 is None else c0[row]
                h, cache = lstm_forward(xin, h_init, p["Wx"], p["Wh"], p["b"], c0=c_init)
                c_n[row] = cache.c[:, -1]
            else:
                h, cache = gru_forward(xin, h_init, p["Wx"], p["Wh"], p["b"], reset)
            h_n[row] = h[:, -1]
            out[:, :, d * H:(d + 1) * H] = h if d == 0 else h[:, ::-1]
            layer_caches.append(cache)
        caches.append(layer_caches)
        inp = out
    state = (h_n, c_n) if cell == "lstm" else h_n
    return inp, state, StackedCache(cell, K, H, x.shape, h_n, caches)


def stacked_backward(dh, cache, dstate=None):
    """Backward pass of stacked_forward.

    dh: (N, T, K*H), the loss gradient with respect to the top layer's outputs.
    dstate: the gradient with respect to the final states, shaped like what stacked_forward
        returned: dh_n (L*K, N, H), or (dh_n, dc_n) for an LSTM (either may be None); None
        when the loss does not use the final states.
    Returns dx (N, T, D); dstate0, the gradient with respect to the initial states:
    dh0 (L*K, N, H), or (dh0, dc0) for an LSTM; and dparams, shaped like params.
    """
    cell, K, H, x_shape, h_n, caches = cache
    N, T, _ = x_shape
    check_grad("dh", dh, (N, T, K * H), "(N, T, K*H)")
    dh_n = dc_n = None
    if dstate is not None:
        if cell == "lstm":
            if not isinstance(dstate, (tuple, list)) or len(dstate) != 2:
                raise ValueError("dstate must be a pair (dh_n, dc_n) for cell='lstm'")
            dh_n, dc_n = dstate
        else:
            dh_n = dstate
        for name, g in (("dh_n", dh_n), ("dc_n", dc_n)):
            if g is not None:
                check_grad(name, g, h_n.shape, "(L*K, N, H)")
    dh0 = np.zeros_like(h_n)
    dc0 = np.zeros_like(h_n) if cell == "lstm" else None
    dparams = [[None] * K for _ in caches]
    dout = dh
    for layer in reversed(range(len(caches))):
        din = None
        for d, cache_d in enumerate(caches[layer]):
            row = layer * K + d
            # In the direction's own time order (reversed for d = 1), plus the final state's
            # gradient at its last step.
            dh_d = dout[:, :, d * H:(d + 1) * H]
            dh_d = np.array(dh_d if d == 0 else dh_d[:, ::-1])
            if dh_n is not None:
                dh_d[:, -1] += dh_n[row]
            if cell == "rnn":
                dx_d, dh0[row], dWx, dWh, db = rnn_backward(dh_d, cache_d)
            elif cell == "lstm":
                dc_last = None if dc_n is None else dc_n[row]
                dx_d, dh0[row], dc0[row], dWx, dWh, db = lstm_backward_with_cell(dh_d, cache_d, dc_last)
            else:
                dx_d, dh0[row], dWx, dWh, db = gru_backward(dh_d, cache_d)
            dparams[layer][d] = {"Wx": dWx, "Wh": dWh, "b": db}
            if d == 1:
                dx_d = dx_d[:, ::-1]
            din = dx_d if din is None else din + dx_d
        dout = din
    dstate0 = (dh0, dc0) if cell == "lstm" else dh0
    return dout, dstate0, dparams
