"""Which device to train on: CUDA when there is one, the CPU otherwise.

Chapter: "Language models" (the first chapter that trains on a GPU when one is present).

    device()            -> cuda if torch.cuda.is_available(), else cpu
    SEQLIB_DEVICE=cpu   -> the environment variable overrides the automatic choice
    device("cuda:1")    -> an explicit argument overrides both

Asking for CUDA on a machine without it is an error, not a silent fallback: a course
notebook that expects a GPU should say so rather than run 50x slower.
"""

from __future__ import annotations

import os

import torch

ENV_VAR = "SEQLIB_DEVICE"


def device(name: str | torch.device | None = None) -> torch.device:
    """The torch.device to use: name, else $SEQLIB_DEVICE, else cuda when available, else cpu."""
    source = "argument"
    if name is None:
        name, source = os.environ.get(ENV_VAR) or None, f"${ENV_VAR}"
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{source} is {name!r}, not a device name (expected 'cpu', 'cuda' or 'cuda:K')") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{source} asks for {str(dev)!r} but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{source} asks for {str(dev)!r} but only {torch.cuda.device_count()} CUDA devices exist")
    return dev
