"""CUDA graphs for the time loops of the loop implementation (the LSTM's, for now).

Chapter: "LSTM and GRU" (section on speed: why a step-by-step loop is slow on a GPU).

On a GPU every small tensor operation is a kernel launch of a few microseconds, and one LSTM
step is about seven of them, forward and backward: at N=64, H=512 the launches, not the
arithmetic, set the pace. A CUDA graph records the whole loop over T steps once and replays
it as one launch. The recorded loop reads and writes fixed ("static") buffers, so each call
copies its inputs in and clones the outputs out: a few large copies instead of 7T launches.

``run(key, fn, *inputs)`` calls ``fn(*inputs)``, graphed when the inputs are on a CUDA
device and $SEQLIB_CUDA_GRAPHS is not "0". ``fn`` must be a pure tensor computation: no
host synchronisation (.item(), printing), no Python branches on tensor values, and outputs
that depend only on the inputs, since the replay runs exactly the recorded kernels. One
graph is kept per key (shapes, dtypes, device); the oldest is dropped past MAX_GRAPHS.

seqlib.torch.lstm records its forward and backward loops (_steps, _steps_backward). The
RNN's and GRU's loops are not recorded yet: they run eagerly on a GPU, correct but
launch-bound. tests/torch/test_graphs.py checks this module's bookkeeping on the CPU with a
stand-in for the graph; tests/torch/test_cuda.py records real graphs on a GPU.
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict

import torch

MAX_GRAPHS = 16
_graphs: OrderedDict = OrderedDict()


def enabled(example: torch.Tensor) -> bool:
    """Whether to capture CUDA graphs for tensors like example.

    Only on CUDA, not inside another capture, and unless SEQLIB_CUDA_GRAPHS is "0".
    """
    return (example.is_cuda and os.environ.get("SEQLIB_CUDA_GRAPHS", "1") != "0"
            and not torch.cuda.is_current_stream_capturing())


def run(key: str, fn, *inputs):
    """fn(*inputs) -> tuple of tensors; inputs may contain None (part of the cache key)."""
    tensors = [t for t in inputs if t is not None]
    if not enabled(tensors[0]):
        return fn(*inputs)
    full_key = (key, tensors[0].device, tuple((None if t is None else (tuple(t.shape), t.dtype)) for t in inputs))
    # Streams, captures and replays belong to the current device: make it the inputs' one.
    with torch.cuda.device(tensors[0].device) if tensors[0].is_cuda else contextlib.nullcontext():
        entry = _graphs.get(full_key)
        if entry is None:
            entry = _capture(fn, inputs)
            _graphs[full_key] = entry
            if len(_graphs) > MAX_GRAPHS:
                _graphs.popitem(last=False)
        else:
            _graphs.move_to_end(full_key)
        graph, static_in, static_out = entry
        for buf, t in zip(static_in, inputs):
            if buf is not None:
                buf.copy_(t)
        graph.replay()
        # The next replay overwrites static_out, and several layers share one recording.
        return tuple(o.clone() for o in static_out)


def _capture(fn, inputs):
    static_in = [None if t is None else t.detach().clone() for t in inputs]
    # Warm up on a side stream first, as torch.cuda.graph requires: lazy initialisation
    # (cuBLAS handles, workspaces) must not happen during the capture.
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), torch.no_grad():
        fn(*static_in)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad():
        static_out = fn(*static_in)
    return graph, static_in, tuple(static_out)


def clear() -> None:
    """Forget every recorded graph (frees their memory pools)."""
    _graphs.clear()
