"""Stacked and bidirectional recurrent layers: the driver shared by RNN, LSTM and GRU.

Chapter: "Stacked and bidirectional RNNs" (variable-length batches: "Language models").

A stack of L layers runs layer by layer: layer l reads the outputs of layer l - 1 (both
directions concatenated, so 2H features when bidirectional), with dropout between layers
as in torch.nn. The backward direction is the forward recurrence run on the time-reversed
sequence, and its outputs are reversed back so that output[:, t] lines up with input[:, t].

Two implementations share the same parameters (torch.nn's names and layout):

- ``impl="loop"``: our step-by-step code (seqlib.torch.rnn / lstm / gru), one layer and one
  direction at a time;
- ``impl="fused"``: torch.nn's own forward (torch._VF, cuDNN on a GPU), with packed
  sequences for variable lengths.

Variable lengths in the loop: sequences are left-aligned, so the steps past a sequence's
end come after all of its real steps. Running the recurrence through them changes nothing
that the real steps see; their outputs are set to zero and the final state is read at step
lengths - 1. This is the same as freezing the state at padded steps (what packing does),
without a branch inside the time loop. For the backward direction each sequence is
reversed within its own length, so its padding also stays at the end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlib.shapes import Dims, values_on_host
from seqlib.torch.precision import fused_runs_in_float32, match_parameters

IMPLS = ("loop", "fused")


def check_impl(impl: str) -> str:
    """Return impl if it is "loop" or "fused"; anything else is a ValueError."""
    if impl not in IMPLS:
        raise ValueError(f"impl is {impl!r}, expected one of {IMPLS}")
    return impl


def check_tensor(name, value, spec, dims, like):
    """Dims.check for a tensor that must also match the module's dtype and device.

    NaN/inf are not rejected here (unlike seqlib.numpy): the check would cost a device
    synchronisation on every call, and torch.nn does not make it either.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    dims.check(name, value, spec, finite=False)
    value = match_parameters(name, value, like)
    if value.device != like.device:
        raise ValueError(f"{name} is on {value.device}, expected {like.device} (the parameters' device)")
    return value


def check_lengths(lengths, N: int, T: int, name: str = "lengths", letter: str = "T") -> torch.Tensor:
    """lengths: (N,) integers in [1, T]; a list or tuple is accepted. Returns an int64 tensor.

    The range is read only in CPU memory (seqlib.shapes.values_on_host): no device
    synchronisation in a forward pass.
    """
    if isinstance(lengths, (list, tuple)):
        lengths = torch.tensor(lengths, dtype=torch.int64)
    if not isinstance(lengths, torch.Tensor):
        raise TypeError(f"{name} must be a tensor or a list of ints, got {type(lengths).__name__}")
    Dims(N=N).check(name, lengths, "N", dtype="int")
    if not values_on_host(lengths) or N == 0:
        return lengths.to(torch.int64)
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > T:
        raise ValueError(f"{name} must lie in [1, {letter}] = [1, {T}], got values from {lo} to {hi}")
    return lengths.to(torch.int64)


def reverse_index(lengths: torch.Tensor | None, N: int, T: int, device) -> torch.Tensor | None:
    """(N, T) index that reverses each sequence within its length and leaves padding in place.

    idx[n, t] = lengths[n] - 1 - t for t < lengths[n], else t. It is its own inverse.
    """
    if lengths is None:
        return None
    t = torch.arange(T, device=device).expand(N, T)
    L = lengths.to(device)[:, None]
    return torch.where(t < L, L - 1 - t, t)


def reverse_time(x: torch.Tensor, idx: torch.Tensor | None) -> torch.Tensor:
    """x: (N, T, F) reversed along time, within each sequence's length when idx is given."""
    if idx is None:
        return x.flip(1)
    return x.gather(1, idx[:, :, None].expand_as(x))


def last_step(h: torch.Tensor, last: torch.Tensor | None) -> torch.Tensor:
    """h: (N, T, H) -> (N, H), the state after step last[n] (the final step when last is None)."""
    if last is None:
        return h[:, -1]
    return h[torch.arange(h.shape[0], device=h.device), last]


class StackedMixin:
    """Forward pass shared by seqlib.torch.RNN, LSTM and GRU (mixed into torch.nn.RNNBase).

    A subclass sets ``_has_cell = True`` for LSTM and implements
    ``_layer(x, state, weights, last) -> (out, final_state)`` for one layer in one direction.
    """

    _has_cell = False

    def _init_impl(self, impl: str) -> None:
        self.impl = check_impl(impl)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", impl={self.impl!r}"

    def _weights(self, layer: int, direction: int):
        """(w_ih (GH, D or 2H), w_hh (GH, H), b_ih (GH,) or None, b_hh (GH,) or None)."""
        sfx = f"l{layer}" + ("_reverse" if direction == 1 else "")
        if self.bias:
            return (getattr(self, "weight_ih_" + sfx), getattr(self, "weight_hh_" + sfx),
                    getattr(self, "bias_ih_" + sfx), getattr(self, "bias_hh_" + sfx))
        return getattr(self, "weight_ih_" + sfx), getattr(self, "weight_hh_" + sfx), None, None

    def forward(self, input, hx=None, lengths=None):
        """Run the stack over a batch of sequences.

        input: (N, T, D), or (T, N, D) when batch_first=False.
        hx: initial state (L * num_directions, N, H), zeros when None; for LSTM a pair (h0, c0).
        lengths: (N,) valid steps of each sequence, in [1, T]; None when all have T steps.
        Returns output (N, T, num_directions * H) (time-first if batch_first=False), zero
        past each sequence's length, and h_n (L * num_directions, N, H) (LSTM: (h_n, c_n)),
        the state after each sequence's last valid step.
        """
        x = self._check_input(input)
        N, T = (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])
        hx = self._check_hx(hx, N, x)
        if lengths is not None:
            lengths = check_lengths(lengths, N, T)
        if self.impl == "fused":
            return self._fused(x, hx, lengths, T)
        return self._loop(x, hx, lengths)

    def _check_input(self, input):
        ref = self.weight_ih_l0
        spec = "N,T,D" if self.batch_first else "T,N,D"
        if isinstance(input, torch.Tensor) and input.dim() == 2:
            raise ValueError(f"input has shape {tuple(input.shape)}, expected 3 dimensions ({spec.replace(',', ', ')}); "
                             "unbatched sequences are not supported, add a batch dimension of 1")
        return check_tensor("input", input, spec, Dims(D=self.input_size), ref)

    def _check_hx(self, hx, N, x):
        if hx is None:
            return None
        dims = Dims(N=N, H=self.hidden_size, L=self.num_layers)
        spec = "2L,N,H" if self.bidirectional else "L,N,H"
        if self._has_cell:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError("hx must be a pair (h0, c0) for an LSTM")
            return (check_tensor("h0", hx[0], spec, dims, x), check_tensor("c0", hx[1], spec, dims, x))
        return check_tensor("hx", hx, spec, dims, x)

    def _fused(self, x, hx, lengths, T):
        if fused_runs_in_float32(self.mode, x.device):
            # No kernel for the autocast dtype on this CPU: this layer leaves autocast
            # (seqlib.torch.precision); x and hx are already float32, like the parameters.
            with torch.autocast(x.device.type, enabled=False):
                return self._fused_kernel(x, hx, lengths, T)
        return self._fused_kernel(x, hx, lengths, T)

    def _fused_kernel(self, x, hx, lengths, T):
        base = super()  # torch.nn.RNN / LSTM / GRU: the same Parameters, no copies
        if lengths is None:
            return base.forward(x, hx)
        # pack_padded_sequence wants the lengths on the CPU.
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False)
        out, h_n = base.forward(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=self.batch_first, total_length=T)
        return out, h_n

    def _loop(self, x, hx, lengths):
        if not self.batch_first:
            x = x.transpose(0, 1)
        N, T, _ = x.shape
        dirs = 2 if self.bidirectional else 1
        if hx is None:
            zeros = x.new_zeros(self.num_layers * dirs, N, self.hidden_size)
            hx = (zeros, zeros) if self._has_cell else zeros
        last = None if lengths is None else (lengths - 1).to(x.device)
        rev = reverse_index(lengths, N, T, x.device)
        mask = None if lengths is None else (torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None])

        layer_input, finals = x, []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                state = (hx[0][k], hx[1][k]) if self._has_cell else hx[k]
                xin = layer_input if d == 0 else reverse_time(layer_input, rev)
                out, final = self._layer(xin, state, self._weights(layer, d), last)
                outs.append(out if d == 0 else reverse_time(out, rev))
                finals.append(final)
            layer_input = outs[0] if dirs == 1 else torch.cat(outs, dim=2)
            if mask is not None:
                layer_input = layer_input * mask[:, :, None].to(x.dtype)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)

        output = layer_input if self.batch_first else layer_input.transpose(0, 1)
        if self._has_cell:
            return output, (torch.stack([f[0] for f in finals]), torch.stack([f[1] for f in finals]))
        return output, torch.stack(finals)


class CellMixin:
    """Argument checking and impl dispatch shared by RNNCell, LSTMCell and GRUCell."""

    _has_cell = False

    def extra_repr(self) -> str:
        return super().extra_repr() + f", impl={self.impl!r}"

    def forward(self, input, hx=None):
        """input: (N, D); hx: (N, H) or, for LSTMCell, a pair (h, c); zeros when None."""
        ref = self.weight_ih
        if isinstance(input, torch.Tensor) and input.dim() == 1:
            raise ValueError(f"input has shape {tuple(input.shape)}, expected 2 dimensions (N, D); "
                             "add a batch dimension of 1")
        dims = Dims(D=self.input_size, H=self.hidden_size)
        input = check_tensor("input", input, "N,D", dims, ref)
        if hx is None:
            z = input.new_zeros(input.shape[0], self.hidden_size)
            hx = (z, z) if self._has_cell else z
        elif self._has_cell:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError("hx must be a pair (h, c) for an LSTMCell")
            hx = (check_tensor("h", hx[0], "N,H", dims, input), check_tensor("c", hx[1], "N,H", dims, input))
        else:
            hx = check_tensor("hx", hx, "N,H", dims, input)
        if self.impl == "fused":
            return super().forward(input, hx)
        return self._step(input, hx)
