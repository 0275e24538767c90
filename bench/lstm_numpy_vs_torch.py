"""LSTM forward + backward: seqlib.numpy against torch.nn.LSTM on the CPU, in one run.

Target: N=64, T=50, D=H=256 (the defaults), float32, one thread: seqlib.numpy's
lstm_forward + lstm_backward within 1.1x of the time of torch.nn.LSTM's forward + backward.

Method. Both engines run the same layer (torch's weights, converted by seqlib.numpy.convert)
on the same x and the same upstream gradient dh, alternately, R times (--repeats) after a
warm-up call each; interleaving makes a busy spell on a shared machine slow both alike. The
printed ratio is median(numpy) / median(torch) of the wall-clock times (lower is better).
Beside it: the same ratio of CPU times (process_time), which barely moves when other jobs
share the machine, and each engine's page faults per call: memory that the C library
returned to the system and must fault in again costs both engines real time.

Both engines get the same number of threads. NumPy's BLAS (OpenBLAS) reads its thread count
when NumPy is first imported, so this script sets OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and
MKL_NUM_THREADS before importing NumPy (unless they are set already) and calls
torch.set_num_threads with the same number. When threadpoolctl is installed it is used as
well, and the BLAS threads it reports are printed.

    python bench/lstm_numpy_vs_torch.py [--threads K] [--dtype float32|float64] [--repeats R]

On a CPU with AVX-512, both libraries use it; to see what an AVX2-only CPU gets, run with
OPENBLAS_CORETYPE=Haswell ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
ATEN_CPU_CAPABILITY=avx2 in the environment.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "1")))
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--N", type=int, default=64)
    p.add_argument("--T", type=int, default=50)
    p.add_argument("--D", type=int, default=256)
    p.add_argument("--H", type=int, default=256)
    return p.parse_args()


args = _parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(args.threads))

import numpy as np  # noqa: E402  (after the thread variables, on purpose)
import torch  # noqa: E402

from seqlib.numpy import convert, lstm_backward, lstm_forward  # noqa: E402

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:  # the environment variables above already fixed NumPy's threads
    threadpool_info = threadpool_limits = None


def median_times(fns, repeats):
    """Median wall and CPU time and the mean page faults of each function, the runs interleaved
    so that a busy machine slows every engine alike instead of whichever happened to run during
    the busy spell."""
    for fn in fns:
        fn()  # warm-up: allocations, BLAS thread start-up, torch's first-call dispatch
    wall, cpu, faults = ([[] for _ in fns] for _ in range(3))
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall[k].append(time.perf_counter() - w)
            cpu[k].append(time.process_time() - c)
            faults[k].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    return ([statistics.median(ts) for ts in wall], [statistics.median(ts) for ts in cpu],
            [statistics.mean(fs) for fs in faults])


def main():
    torch.set_num_threads(args.threads)
    limits = threadpool_limits(args.threads) if threadpool_limits else None
    N, T, D, H = args.N, args.T, args.D, args.H
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    lstm = torch.nn.LSTM(D, H, batch_first=True).to(getattr(torch, args.dtype))
    params = convert.from_torch_state_dict(
        {k: v.detach().numpy() for k, v in lstm.state_dict().items()}, "lstm"
    )
    Wx, Wh, b = (params[0][0][k].astype(dtype) for k in ("Wx", "Wh", "b"))
    x = rng.standard_normal((N, T, D)).astype(dtype)
    h0 = np.zeros((N, H), dtype=dtype)
    dh = rng.standard_normal((N, T, H)).astype(dtype)

    def numpy_step():
        h, cache = lstm_forward(x, h0, Wx, Wh, b)
        lstm_backward(dh, cache)

    xt = torch.from_numpy(x).requires_grad_()
    dht = torch.from_numpy(dh)

    def torch_step():
        lstm.zero_grad(set_to_none=True)
        xt.grad = None
        out, _ = lstm(xt)
        out.backward(dht)

    wall, cpu, faults = median_times([numpy_step, torch_step], args.repeats)
    blas = ""
    if threadpool_info:
        blas = ", BLAS " + ", ".join(f"{i['internal_api']}:{i['num_threads']}" for i in threadpool_info())
    print(f"LSTM forward+backward N={N} T={T} D={D} H={H} {args.dtype}, "
          f"{args.threads} thread(s) (torch {torch.get_num_threads()}{blas}), "
          f"median of {args.repeats}")
    for k, name in enumerate(("seqlib.numpy", "torch.nn.LSTM")):
        print(f"{name:16s} {wall[k] * 1e3:9.2f} ms  (CPU {cpu[k] * 1e3:8.2f} ms, {faults[k]:6.0f} page faults per call)")
    print(f"ratio numpy/torch {wall[0] / wall[1]:8.2f}x   (target <= 1.1x; CPU-time ratio {cpu[0] / cpu[1]:.2f}x)")
    del limits


if __name__ == "__main__":
    main()
