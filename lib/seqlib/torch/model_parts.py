"""What the PyTorch models share: building from a config, the recurrent layer picked by name,
the impl switch, the batch-first states of decoding, and the checks on token ids.

Chapters: "Language models", "Stacked and bidirectional RNNs", "Sequence to sequence" (the
models of seqlib.torch.lm, .classifier and .seq2seq); seqlib.numpy.model_parts is its mirror.
"""

from __future__ import annotations

import dataclasses
import numbers

import torch

from seqlib.cells import check_cell
from seqlib.shapes import Dims, check_ids
from seqlib.torch.gru import GRU
from seqlib.torch.lstm import LSTM
from seqlib.torch.rnn import RNN
from seqlib.torch.stacked import StackedMixin, check_impl

LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}  # the layer of each name of seqlib.cells.CELLS


def make_rnn(cell: str, input_size: int, hidden_size: int, **kwargs):
    """RNN, LSTM or GRU by name ("rnn", "lstm", "gru"); kwargs go to its constructor."""
    check_cell(cell)
    if kwargs.get("num_layers", 1) == 1:
        kwargs["dropout"] = 0.0  # dropout acts between layers: one layer has none (torch warns)
    return LAYERS[cell](input_size, hidden_size, **kwargs)


def check_config(config) -> None:
    """The checks every model config shares: positive integer sizes (every field named
    *_size, and num_layers, num_classes), a known cell and impl, dropout in [0, 1)."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name.endswith("_size") or f.name in ("num_layers", "num_classes"):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{f.name} is {value!r}, expected a positive integer")
    check_cell(config.cell)
    check_impl(config.impl)
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout is {config.dropout!r}, expected a probability in [0, 1)")


class ConfiguredModel:
    """A model built from a config dataclass (``config_class``), like nanoGPT's GPT(GPTConfig).

    ``Model(...)`` takes the config's fields as arguments and keeps ``self.config``;
    ``Model.from_config(config)`` is the same model from a config object. A checkpoint
    stores ``dataclasses.asdict(model.config)`` (seqlib.torch.checkpoint).

    ``impl`` is that of the recurrent layers inside: setting it switches them all, and the
    config says so too.
    """

    config_class: type

    @classmethod
    def from_config(cls, config):
        """The model that config describes (a config_class instance)."""
        if not isinstance(config, cls.config_class):
            raise TypeError(f"{cls.__name__}.from_config takes a config of type {cls.config_class.__name__}, "
                            f"got {type(config).__name__}")
        return cls(**dataclasses.asdict(config))

    @property
    def impl(self) -> str:
        return next(m.impl for m in self.modules() if isinstance(m, StackedMixin))

    @impl.setter
    def impl(self, value: str) -> None:
        check_impl(value)
        for m in self.modules():
            if isinstance(m, StackedMixin):
                m.impl = value
        self.config = dataclasses.replace(self.config, impl=value)


def transpose_state(state):
    """Swap the first two dimensions of a recurrent state: (L*K, N, H) <-> (N, L*K, H).

    torch.nn keeps states layer-first; the step functions of seqlib.decode (and the
    NumPy models) keep them batch-first, so beams can be reordered by their first index.
    An LSTM's state is the pair (h, c); both are swapped.
    """
    if isinstance(state, tuple):
        return tuple(transpose_state(s) for s in state)
    return state.transpose(0, 1).contiguous()


def check_token_tensor(name: str, tokens, spec: str, V: int, dims: Dims | None = None) -> torch.Tensor:
    """tokens: a torch.Tensor of integer ids of shape spec; the ids' range is checked by
    seqlib.shapes.check_ids, the one check of both engines (in CPU memory only: no device
    synchronisation in a forward pass)."""
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(tokens).__name__}")
    (dims or Dims()).check(name, tokens, spec, dtype="int")
    check_ids(name, tokens, V)
    return tokens
