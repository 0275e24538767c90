"""Character-RNN training against the machine's own matrix-product speed, in one run.

Target: the batched seqlib.numpy RNNLM (cell="rnn", H=100, an embedding of D=100, chunks
of T=25 characters, N=128 streams, float32, Adagrad with lr 0.1 and gradients clipped to
[-5, 5], trained by truncated BPTT as in bench/char_rnn_speed.py) trains at at least HALF
the float32 FLOP rate that NumPy's BLAS reaches on the very matrix products a training step
needs. The rest of a step (embedding, softmax, nonlinearities, clipping, Adagrad, Python)
may then cost at most as much as its matrix products.

Method. A training step needs these products (V, the number of distinct characters):

    forward    x Wx (NT x D x H), T times h_{t-1} Wh (N x H x H), h W_out (NT x H x V)
    backward   dscores W_out^T and h^T dscores (NT x V x H), T times da_t Wh^T (N x H x H),
               da Wx^T for the embedding's gradient, x^T da and h_prev^T da (NT x H x D, H)

2 M K N floating-point operations each, F in all. The script alternates R rounds of
(S training steps, each timed; then each of the products above once, timed alone, on random
float32 operands of those shapes and seqlib.numpy.rnn's time-major layout, writing into
preallocated outputs). t_step is the median step time, t_gemm the sum over the products of
each one's median time. Training runs at F / t_step, the BLAS at F / t_gemm on the same
products, and the printed ratio is their quotient t_gemm / t_step (higher is better; the
target is >= 0.5). Wall-clock times decide; the ratio of CPU times (process_time) is printed
beside them because it barely moves when other jobs share the machine, and so are the page
faults per step: memory that the C library handed back to the system after a step and that
the next step faults in again, one page at a time, costs real time (about 2 us a page on a
virtual machine), and how much of it happens depends on the allocator's state as much as on
the model.

The BLAS reads its thread count when NumPy is first imported, so OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and MKL_NUM_THREADS are set from --threads before the import (unless they are
set already).

    python bench/char_rnn_gemm_rate.py [--threads K] [--rounds R] [--steps S] [--streams N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sysconfig
import time
from pathlib import Path


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "1")))
    p.add_argument("--rounds", type=int, default=15, help="R, rounds of training steps and products")
    p.add_argument("--steps", type=int, default=4, help="S, training steps per round")
    p.add_argument("--streams", type=int, default=128, help="N, sequences read side by side")
    p.add_argument("--embed", type=int, default=100, help="D, the embedding size")
    p.add_argument("--hidden", type=int, default=100, help="H")
    p.add_argument("--seq", type=int, default=25, help="T, the truncation length")
    p.add_argument("--kbytes", type=int, default=200, help="size of the text")
    return p.parse_args()


args = _parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(args.threads))

import numpy as np  # noqa: E402  (after the thread variables, on purpose)

from seqlib.numpy.bptt import make_streams, truncated_bptt  # noqa: E402
from seqlib.numpy.clip import clip_grad_value  # noqa: E402
from seqlib.numpy.lm import RNNLM  # noqa: E402
from seqlib.numpy.optim import Adagrad  # noqa: E402


def load_text(kbytes: int) -> str:
    """The text of bench/char_rnn_speed.py: the standard library's source, files sorted by path."""
    parts, size = [], 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(text)
        size += len(text)
        if size >= kbytes * 1000:
            break
    return "".join(parts)[: kbytes * 1000]


def training_steps(text, N, D, H, T):
    """An endless iterator of training steps (each one call), and the vocabulary size V."""
    vocab = sorted(set(text))
    lookup = {c: i for i, c in enumerate(vocab)}
    data = np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))
    streams = make_streams(data, N)
    model = RNNLM(len(vocab), D, H, cell="rnn", seed=0, dtype=np.float32)
    opt = Adagrad(1e-1)

    def steps():
        while True:  # a new pass over the text when it runs out
            for _, grads, _ in truncated_bptt(model, streams, T):
                clip_grad_value(grads, 5.0)  # min-char-rnn's clipping and update
                opt.step(model.params, grads)
                yield

    it = steps()
    return (lambda: next(it)), len(vocab)


def products(N, T, D, H, V):
    """The matrix products of one training step on random float32 operands, time-major as
    seqlib.numpy.rnn lays them out: a list of (name, flops, function)."""
    rng = np.random.default_rng(0)
    f32 = lambda *shape: rng.standard_normal(shape, dtype=np.float32)  # noqa: E731
    NT = N * T
    x, h, da = f32(NT, D), f32(T, N, H), f32(T, N, H)  # inputs, states, pre-activation gradients
    Wx, Wh, W_out, dscores = f32(D, H), f32(H, H), f32(H, V), f32(NT, V)
    h_rows, da_rows = h.reshape(NT, H), da.reshape(NT, H)
    WhT = np.ascontiguousarray(Wh.T)
    # Outputs written in place: the products alone, without allocating their results (which
    # would also churn the heap that the training steps use).
    out = {shape: np.empty(shape, np.float32) for shape in ((NT, H), (N, H), (NT, V), (NT, D), (D, H), (H, V), (H, H))}

    def recurrence(a, W):
        for t in range(T):
            np.matmul(a[t], W, out=out[N, H])

    return [
        ("x Wx", 2 * NT * D * H, lambda: np.matmul(x, Wx, out=out[NT, H])),
        ("h_{t-1} Wh, T times", 2 * NT * H * H, lambda: recurrence(h, Wh)),
        ("h W_out", 2 * NT * H * V, lambda: np.matmul(h_rows, W_out, out=out[NT, V])),
        ("dscores W_out^T", 2 * NT * V * H, lambda: np.matmul(dscores, W_out.T, out=out[NT, H])),
        ("h^T dscores", 2 * NT * H * V, lambda: np.matmul(h_rows.T, dscores, out=out[H, V])),
        ("da_t Wh^T, T times", 2 * NT * H * H, lambda: recurrence(da, WhT)),
        ("da Wx^T", 2 * NT * H * D, lambda: np.matmul(da_rows, Wx.T, out=out[NT, D])),
        ("x^T da", 2 * NT * D * H, lambda: np.matmul(x.T, da_rows, out=out[D, H])),
        ("h_prev^T da", 2 * NT * H * H, lambda: np.matmul(h_rows.T, da_rows, out=out[H, H])),
    ]


def timed(fn):
    """(wall seconds, CPU seconds) of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def main():
    N, D, H, T = args.streams, args.embed, args.hidden, args.seq
    step, V = training_steps(load_text(args.kbytes), N, D, H, T)
    prods = products(N, T, D, H, V)
    flops = sum(f for _, f, _ in prods)
    for _ in range(3):  # warm-up: allocations, first calls
        step()
    for _, _, fn in prods:
        fn()
    steps_w, steps_c = [], []
    each_w, each_c = ({name: [] for name, _, _ in prods} for _ in range(2))
    faults = 0
    for _ in range(args.rounds):  # interleaved, so a busy spell slows both sides alike
        for _ in range(args.steps):
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            w, c = timed(step)
            faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
            steps_w.append(w)
            steps_c.append(c)
        for name, _, fn in prods:
            w, c = timed(fn)
            each_w[name].append(w)
            each_c[name].append(c)
    t_step, c_step = statistics.median(steps_w), statistics.median(steps_c)
    # each product's median, summed: the time of one pass over them without the noise of a
    # busy spell landing on one of them
    t_gemm = sum(statistics.median(ts) for ts in each_w.values())
    c_gemm = sum(statistics.median(ts) for ts in each_c.values())
    print(f"char-RNN training step: N={N} streams, T={T}, D={D}, H={H}, V={V}, float32, "
          f"{os.environ['OPENBLAS_NUM_THREADS']} BLAS thread(s); medians over {args.rounds} rounds "
          f"of {args.steps} steps and one pass over the products")
    for name, f, _ in prods:
        t = statistics.median(each_w[name])
        print(f"  {name:22s} {f / 1e6:7.1f} MFLOP  {t * 1e3:7.3f} ms  {f / t / 1e9:6.1f} GFLOP/s")
    for name, t in (("matrix products alone", t_gemm), ("training step", t_step)):
        print(f"{name:24s} {flops / 1e6:7.1f} MFLOP  {t * 1e3:7.3f} ms  {flops / t / 1e9:6.1f} GFLOP/s")
    print(f"training: {N * T / t_step:,.0f} characters/s, {faults / len(steps_w):.0f} page faults per step")
    print(f"ratio training / GEMM rate {t_gemm / t_step:5.2f}   (target >= 0.5; CPU-time ratio {c_gemm / c_step:.2f})")


if __name__ == "__main__":
    main()
