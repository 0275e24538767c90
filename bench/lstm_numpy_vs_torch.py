"""LSTM forward + backward: seqlib.numpy against torch.nn.LSTM on the CPU, in one run.

Target: N=64, T=50, D=H=256 (the defaults), seqlib.numpy within 1.1x of torch's time.

Both engines get the same number of threads. NumPy's BLAS (OpenBLAS) reads its thread count
when NumPy is first imported, so this script sets OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and
MKL_NUM_THREADS before importing NumPy (unless they are set already) and calls
torch.set_num_threads with the same number. When threadpoolctl is installed it is used as
well, and the BLAS threads it reports are printed.

    python bench/lstm_numpy_vs_torch.py [--threads K] [--dtype float32|float64] [--repeats R]

Prints the median time of each engine and the ratio seqlib / torch (lower is better).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "1")))
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--repeats", type=int, default=15)
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
    """Median wall time of each function, the runs interleaved so that a busy machine slows
    every engine alike instead of whichever happened to run during the busy spell."""
    for fn in fns:
        fn()  # warm-up: allocations, BLAS thread start-up, torch's first-call dispatch
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [statistics.median(ts) for ts in times]


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

    t_np, t_torch = median_times([numpy_step, torch_step], args.repeats)
    blas = ""
    if threadpool_info:
        blas = ", BLAS " + ", ".join(f"{i['internal_api']}:{i['num_threads']}" for i in threadpool_info())
    print(f"LSTM forward+backward N={N} T={T} D={D} H={H} {args.dtype}, "
          f"{args.threads} thread(s) (torch {torch.get_num_threads()}{blas}), "
          f"median of {args.repeats}")
    print(f"seqlib.numpy     {t_np * 1e3:9.2f} ms")
    print(f"torch.nn.LSTM    {t_torch * 1e3:9.2f} ms")
    print(f"ratio numpy/torch {t_np / t_torch:8.2f}x   (target <= 1.1x)")
    del limits


if __name__ == "__main__":
    main()
