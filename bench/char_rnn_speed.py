"""Character-RNN training speed: min-char-rnn's loop against a batched seqlib.numpy RNNLM.
Issue 3's target: at least 30x more characters per second with batching.

Both train a tanh RNN with H=100 on chunks of 25 characters, Adagrad (lr 0.1,
min-char-rnn's) and gradients clipped to [-5, 5], on the same text: the Python standard
library's source, files sorted by path, the first ~200 KB. min-char-rnn (bench/min_char_rnn.py,
Andrej Karpathy's program) reads one sequence at a time with one-hot inputs, in float64;
the RNNLM reads N streams side by side (seqlib.numpy.bptt), with an embedding of
D=100 (--embed) in place of the one-hot product, in float64 and then in float32.

What bounds the ratio: batching removes min-char-rnn's Python and matrix-vector overheads,
not its arithmetic. Both do ~160-180 kFLOP per character (forward and backward through
Wx, Wh and the output layer), so the batched model can go at most (BLAS GEMM speed) /
(min-char-rnn's ~3 GFLOP/s) faster: about 8x for float64 on one core of a ~27 GFLOP/s
machine, twice that in float32, and more with threads. How close a seqlib training step
comes to the BLAS's own speed on its matrix products is bench/char_rnn_gemm_rate.py's question.

Both run in this one process with the same BLAS thread count: OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and MKL_NUM_THREADS are set before NumPy is imported (unless already set).

    python bench/char_rnn_speed.py [--threads K] [--streams N] [--iters I] [--steps S]

Prints characters per second of each, the ratio seqlib / min-char-rnn (higher is better),
and each one's average loss per character over its last iterations, to show both learn.
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import time
from pathlib import Path


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "1")))
    p.add_argument("--streams", type=int, default=128, help="N, sequences read side by side")
    p.add_argument("--iters", type=int, default=600, help="min-char-rnn iterations (25 chars each)")
    p.add_argument("--steps", type=int, default=60, help="RNNLM steps (N * 25 chars each)")
    p.add_argument("--kbytes", type=int, default=200, help="size of the text")
    p.add_argument("--embed", type=int, default=100, help="D, the RNNLM's embedding size")
    return p.parse_args()


args = _parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(args.threads))

import numpy as np  # noqa: E402  (after the thread variables, on purpose)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import min_char_rnn  # noqa: E402

from seqlib.numpy.bptt import make_streams, truncated_bptt  # noqa: E402
from seqlib.numpy.clip import clip_grad_value  # noqa: E402
from seqlib.numpy.lm import RNNLM  # noqa: E402
from seqlib.numpy.optim import Adagrad  # noqa: E402

H, SEQ = 100, 25


def load_text(kbytes: int) -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts, size = [], 0
    for path in sorted(stdlib.rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(text)
        size += len(text)
        if size >= kbytes * 1000:
            break
    return "".join(parts)[: kbytes * 1000]


def bench_min_char_rnn(text: str, iters: int) -> tuple[float, float]:
    """(characters per second, last smoothed loss per character)."""
    min_char_rnn.main(text, num_iters=5, sample_every=None, print_every=None, seed=0)  # warm-up
    t = time.perf_counter()
    n, smooth_loss = min_char_rnn.main(text, num_iters=iters, sample_every=None, print_every=None, seed=0)
    elapsed = time.perf_counter() - t
    return n * SEQ / elapsed, smooth_loss / SEQ


def bench_seqlib(text: str, N: int, steps: int, dtype, embed: int) -> tuple[float, float]:
    """(characters per second, mean loss per character over the last 10 steps)."""
    vocab = sorted(set(text))
    lookup = {c: i for i, c in enumerate(vocab)}
    data = np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))
    streams = make_streams(data, N)
    model = RNNLM(len(vocab), embed, H, cell="rnn", seed=0, dtype=dtype)
    opt = Adagrad(1e-1)

    def run(num_steps):
        losses, chars = [], 0
        state = None
        while len(losses) < num_steps:  # a new pass over the text when it runs out
            for loss, grads, state in truncated_bptt(model, streams, SEQ, state):
                clip_grad_value(grads, 5.0)  # min-char-rnn's clipping and update
                opt.step(model.params, grads)
                losses.append(loss / SEQ)
                chars += N * SEQ
                if len(losses) == num_steps:
                    break
            state = None
        return losses, chars

    run(2)  # warm-up
    t = time.perf_counter()
    losses, chars = run(steps)
    elapsed = time.perf_counter() - t
    return chars / elapsed, float(np.mean(losses[-10:]))


def main():
    text = load_text(args.kbytes)
    print(f"text: {len(text)} characters of Python stdlib source, {len(set(text))} distinct; "
          f"H={H}, seq_length={SEQ}, BLAS threads={os.environ['OPENBLAS_NUM_THREADS']}")
    cps_ref, loss_ref = bench_min_char_rnn(text, args.iters)
    print(f"min-char-rnn (float64):          {cps_ref:10,.0f} chars/s  ({args.iters} iterations, "
          f"smooth_loss/char {loss_ref:.3f}, a slow average that starts at ln V)")
    for dtype in (np.float64, np.float32):
        cps, loss = bench_seqlib(text, args.streams, args.steps, dtype, args.embed)
        print(f"seqlib RNNLM ({np.dtype(dtype).name}): {cps:10,.0f} chars/s  ({args.steps} steps of "
              f"N={args.streams} streams, D={args.embed}, loss/char {loss:.3f})  "
              f"ratio {cps / cps_ref:.1f}x  (target >= 30x)")


if __name__ == "__main__":
    main()
