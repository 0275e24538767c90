"""Weights of seqlib.numpy's recurrent layers <-> torch.nn.RNN / LSTM / GRU state_dicts.

Chapter: "LSTM and GRU", section "The same LSTM, three times".

This is the one place where the two layouts meet. seqlib.numpy keeps each direction of each
layer as a dict {"Wx": (D, G*H), "Wh": (H, G*H), "b": (G*H,)} (see seqlib.numpy.stacked for
the list-of-layers structure); torch keeps, per layer k and suffix "" or "_reverse":

    weight_ih_l{k}: (G*H, D)   weight_hh_l{k}: (G*H, H)   bias_ih_l{k}, bias_hh_l{k}: (G*H,)

The differences, all handled here:

- transposes: seqlib multiplies row vectors on the right (x @ Wx), torch stores W_ih with
  x @ W_ih^T;
- gate order: LSTM i, f, o, g (lecture, CS231n) vs torch's i, f, g, o; GRU z, r, n vs
  torch's r, z, n;
- two biases: torch adds b_ih + b_hh before every nonlinearity except the GRU candidate's,
  where b_hn sits inside r ⊙ (h W_hn^T + b_hn). seqlib keeps one bias b = b_ih + b_hh
  where the sum is all that matters, and for a GRU with reset="after" a b of (4H,) =
  [b_z, b_r, b_in, b_hn] that keeps b_hn apart;
- the GRU update gate: seqlib's z weighs the *new* candidate, h' = (1 - z) ⊙ h + z ⊙ n,
  torch's z weighs the *old* state, h' = (1 - z_torch) ⊙ n + z_torch ⊙ h. Since
  1 - σ(a) = σ(-a), z_torch = 1 - z exactly when the z rows of every weight and bias change
  sign, which is what the conversion does.

Only torch.nn.GRU's reset placement exists in torch, so a GRU converts to torch only from
reset="after" parameters, and from_torch_state_dict returns them. The values are NumPy
arrays both ways (from_torch_state_dict also accepts tensors); turn them into tensors with
{k: torch.from_numpy(v) for k, v in sd.items()}.
"""

from __future__ import annotations

import re

import numpy as np

from seqlib.cells import GATES, check_cell

#: Gate order of each cell in torch.nn (seqlib.cells.GATES holds seqlib.numpy's).
TORCH_GATES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
#: Gates whose pre-activation changes sign between the two layouts (see the module docstring).
NEGATED = {"rnn": (), "lstm": (), "gru": ("z",)}

_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")


def reorder_gates(a, cell, to_torch, axis=0):
    """Gate blocks of a along axis, from seqlib's order to torch's (or back), signs included.

    a: an array whose size along axis is G*H, G the number of gates of cell.
    Returns a new array; the blocks of NEGATED gates are multiplied by -1 (an involution,
    so the same call with to_torch flipped undoes it).
    """
    check_cell(cell)
    src, dst = (GATES[cell], TORCH_GATES[cell]) if to_torch else (TORCH_GATES[cell], GATES[cell])
    blocks = dict(zip(src, np.split(np.asarray(a), len(src), axis=axis)))
    return np.concatenate([-blocks[g] if g in NEGATED[cell] else blocks[g] for g in dst], axis=axis)


def to_torch_state_dict(params, cell, *, gradients=False):
    """seqlib.numpy parameters (or their gradients) -> a torch.nn.RNN/LSTM/GRU state_dict.

    params: list over layers of a list over directions (1, or 2 when bidirectional) of
            {"Wx": (D_l, G*H), "Wh": (H, G*H), "b": (G*H,)}; for cell="gru", b must be the
            reset="after" bias (4H,) = [b_z, b_r, b_in, b_hn].
    cell: "rnn" (tanh), "lstm" or "gru".
    gradients: False for weights: a merged bias goes to bias_ih and bias_hh gets zeros, so
            that b_ih + b_hh = b. True for gradients of a loss: both torch biases then
            receive the gradient of b, as autograd reports for b_ih and b_hh.
    Returns {name: NumPy array} with torch's names and shapes.
    """
    check_cell(cell)
    G = len(GATES[cell])
    sd = {}
    for k, layer in enumerate(params):
        if len(layer) not in (1, 2):
            raise ValueError(f"params[{k}] has {len(layer)} directions, expected 1 or 2")
        for d, p in enumerate(layer):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            Wx, Wh, b = (np.asarray(p[name]) for name in ("Wx", "Wh", "b"))
            H = Wh.shape[0]
            want_b = 4 * H if cell == "gru" else G * H
            if b.shape != (want_b,):
                hint = " (torch.nn.GRU places the reset gate as reset='after')" if cell == "gru" else ""
                raise ValueError(f"params[{k}][{d}]['b'] has shape {b.shape}, expected ({want_b},){hint}")
            sd["weight_ih" + sfx] = reorder_gates(Wx, cell, True, axis=1).T.copy()
            sd["weight_hh" + sfx] = reorder_gates(Wh, cell, True, axis=1).T.copy()
            if cell == "gru":
                b_in_part = reorder_gates(b[: 3 * H], cell, True)
                # Only z and r carry a merged bias; b_in and b_hn are the candidate's own.
                b_hh_part = np.concatenate([b[: 2 * H], b[3 * H :]])
                b_hh_part[: 2 * H] *= gradients  # weights: zeros; gradients: same as b_ih
                sd["bias_ih" + sfx] = b_in_part
                sd["bias_hh" + sfx] = reorder_gates(b_hh_part, cell, True)
            else:
                sd["bias_ih" + sfx] = reorder_gates(b, cell, True)
                sd["bias_hh" + sfx] = sd["bias_ih" + sfx] * gradients
    return sd


def from_torch_state_dict(state_dict, cell):
    """A torch.nn.RNN/LSTM/GRU state_dict -> seqlib.numpy parameters (see to_torch_state_dict).

    state_dict: torch's names to tensors or arrays (bias=False modules are not supported).
    Returns params, a list over layers of a list over directions of {"Wx", "Wh", "b"}; for
    cell="gru" they are reset="after" parameters with b (4H,) = [b_z, b_r, b_in, b_hn].
    """
    check_cell(cell)
    arrays = {}
    for key, value in state_dict.items():
        m = _KEY.match(key)
        if m is None:
            raise ValueError(f"state_dict has an unexpected key {key!r} (projections and "
                             "bias=False are not supported)")
        if hasattr(value, "detach"):  # a torch.Tensor; NumPy needs it on the CPU
            value = value.detach().cpu().numpy()
        arrays[(int(m.group(2)), 1 if m.group(3) else 0, m.group(1))] = np.asarray(value)
    layers = 1 + max((k for k, _, _ in arrays), default=-1)
    dirs = 1 + max((d for _, d, _ in arrays), default=0)
    params = []
    for k in range(layers):
        layer = []
        for d in range(dirs):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            missing = [n for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if (k, d, n) not in arrays]
            if missing:
                raise ValueError(f"state_dict lacks {', '.join(n + sfx for n in missing)}")
            w_ih, w_hh, b_ih, b_hh = (arrays[k, d, n] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            H = w_hh.shape[1]
            Wx = reorder_gates(w_ih.T, cell, False, axis=1)
            Wh = reorder_gates(w_hh.T, cell, False, axis=1)
            if cell == "gru":
                b_ih_, b_hh_ = reorder_gates(b_ih, cell, False), reorder_gates(b_hh, cell, False)
                b = np.concatenate([b_ih_[: 2 * H] + b_hh_[: 2 * H], b_ih_[2 * H :], b_hh_[2 * H :]])
            else:
                b = reorder_gates(b_ih + b_hh, cell, False)
            layer.append({"Wx": Wx, "Wh": Wh, "b": b})
        params.append(layer)
    return params
