"""Mixed precision: what the recurrent layers do under torch.autocast, on every CPU and GPU.

Chapter: "Language models" (training faster with ``--autocast bf16``); the loop and fused
paths are those of "LSTM and GRU".

One rule for RNN, LSTM and GRU, for the modules, the Trainer and the command line:

- **The loop path computes in float32.** Autocast would run some of a hand-written loop's
  products in bfloat16 and leave others, and the buffers made with ``empty_like``, in
  float32: the loop would mix dtypes. The Functions of seqlib.torch.rnn / lstm / gru are
  therefore decorated with ``float32_forward`` / ``float32_backward``: their inputs are cast to
  float32 and autocast is off inside them, as torch.amp advises for custom Functions.
- **The fused path runs torch's kernel in the autocast dtype where this device has one, and in
  float32 where it has none.** On a CUDA GPU cuDNN has them. On a CPU it depends on the
  processor: torch's CPU LSTM under bfloat16 autocast is a oneDNN primitive that exists only
  where the CPU has native bfloat16 (AVX-512 BF16 or AMX); on an AVX2-only CPU torch raises
  ``could not create a primitive descriptor for the LSTM forward propagation primitive``.
  Whether the kernel runs is probed once per process (``fused_kernel_runs``), with a tiny
  torch.nn module, never guessed from CPU flags. Where it does not, the fused layer runs in
  float32 with autocast off, one warning says so, and the rest of the model (embedding,
  output layer) stays under autocast. Training then works on every CPU; it is just not
  faster there.

torch itself already runs some fused layers in float32 under CPU autocast without a word
(the GRU, and the LSTM on packed sequences, have no bfloat16 CPU kernel): that is a speed
matter, not an error, and is left as torch does it.
"""

from __future__ import annotations

import functools
import warnings

import torch

AUTOCAST_DEVICES = ("cuda", "cpu")


def float32_forward(forward):
    """Decorate a Function's forward: under autocast, inputs cast to float32, autocast off."""
    for device_type in AUTOCAST_DEVICES:
        forward = torch.amp.custom_fwd(forward, device_type=device_type, cast_inputs=torch.float32)
    return forward


def float32_backward(backward):
    """Decorate the matching backward: it runs with autocast off, as its forward did."""
    for device_type in AUTOCAST_DEVICES:
        backward = torch.amp.custom_bwd(backward, device_type=device_type)
    return backward


def autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype autocast runs in on this device type now, or None when autocast is off."""
    if device_type not in AUTOCAST_DEVICES or not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)


# torch.nn.RNNBase.mode -> the torch.nn class that runs it
_TORCH_CLASSES = {"LSTM": (torch.nn.LSTM, {}), "GRU": (torch.nn.GRU, {}),
                  "RNN_TANH": (torch.nn.RNN, {"nonlinearity": "tanh"}),
                  "RNN_RELU": (torch.nn.RNN, {"nonlinearity": "relu"})}


@functools.cache
def fused_kernel_runs(mode: str, dtype: torch.dtype) -> bool:
    """Whether torch.nn's CPU kernel for mode ("LSTM", "GRU", "RNN_TANH", "RNN_RELU") runs
    under CPU autocast to dtype on this machine. Probed once per process on a 1x2x2 batch."""
    if mode not in _TORCH_CLASSES:
        raise ValueError(f"mode is {mode!r}, expected one of {tuple(_TORCH_CLASSES)}")
    cls, extra = _TORCH_CLASSES[mode]
    probe = cls(2, 2, batch_first=True, dtype=torch.float32, **extra)
    x = torch.zeros(1, 2, 2, dtype=torch.float32)
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=dtype):
            probe(x)
    except RuntimeError:
        return False
    return True


_warned: set[tuple[str, torch.dtype]] = set()


def fused_runs_in_float32(mode: str, device: torch.device) -> bool:
    """True when a fused layer of this mode must leave autocast and run in float32 here.

    That is the case under CPU autocast when this CPU has no kernel for the autocast dtype
    (see the module docstring); the first time, per mode and dtype, a warning says so.
    """
    dtype = autocast_dtype(device.type)
    if dtype is None or device.type != "cpu" or fused_kernel_runs(mode, dtype):
        return False
    if (mode, dtype) not in _warned:
        _warned.add((mode, dtype))
        name = str(dtype).removeprefix("torch.")
        warnings.warn(f"this CPU has no {name} kernel for torch's {mode} (oneDNN needs AVX-512 BF16 or AMX "
                      f"for it): the fused {mode} layers run in float32 under autocast, the rest of the model "
                      f"in {name}", RuntimeWarning, stacklevel=3)
    return True


def match_parameters(name: str, value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """value in the parameters' dtype, where it differs only because autocast produced it.

    Under autocast a module's own outputs come back in the autocast dtype (the state carried
    from the previous chunk, say); fed back in, they are cast back, so every path sees what it
    sees without autocast. Outside autocast a dtype that differs is an error naming value.
    """
    if value.dtype == like.dtype:
        return value
    if value.dtype != autocast_dtype(like.device.type):
        raise ValueError(f"{name} has dtype {value.dtype}, expected {like.dtype} (the parameters' dtype)")
    return value.to(like.dtype)
