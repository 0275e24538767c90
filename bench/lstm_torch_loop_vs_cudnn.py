"""Forward + backward of a 2-layer LSTM: seqlib's loop and fused paths against torch.nn.LSTM.

Same weights everywhere (loaded with strict=True). Runs are interleaved round-robin, so a
burst of load on a shared machine hits all contenders alike; the median is the figure to
quote, the minimum (least disturbed run) is printed beside it as a check on the noise.

    python bench/lstm_torch_loop_vs_cudnn.py            # CPU, and CUDA when present
    python bench/lstm_torch_loop_vs_cudnn.py --repeats 50 --no-cuda
    SEQLIB_CUDA_GRAPHS=0 python bench/lstm_torch_loop_vs_cudnn.py --no-cpu   # the loop without CUDA graphs

CPU: N=32, T=50, D=H=128, 2 threads (targets: loop <= 1.5x torch.nn, fused <= 1.05x).
CUDA: N=64, T=100, D=H=512 (target: loop <= 2x cuDNN).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import seqlib.torch as st
from seqlib.torch.lstm import lstm_layer_autograd


class AutogradLoopLSTM(torch.nn.Module):
    """The naive baseline: lstm_layer_autograd per layer (input projection hoisted)."""

    def __init__(self, ref: torch.nn.LSTM):
        super().__init__()
        self.ref = ref

    def forward(self, x):
        for k in range(self.ref.num_layers):
            w = [getattr(self.ref, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h0 = x.new_zeros(x.shape[0], self.ref.hidden_size)
            x, _ = lstm_layer_autograd(x, h0, h0, *w)
        return x, None


def time_all(contenders: dict, x, repeats: int, sync) -> dict:
    def step(module):
        out, _ = module(x)
        out.sum().backward()

    for module in contenders.values():  # warm-up: allocator, kernels, cuDNN plans
        for _ in range(3):
            step(module)
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, module in contenders.items():
            module.zero_grad(set_to_none=True)
            sync()
            t0 = time.perf_counter()
            step(module)
            sync()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(ts), min(ts)) for name, ts in times.items()}


def run(device: str, N: int, T: int, H: int, repeats: int, naive: bool) -> None:
    torch.manual_seed(0)
    ref = torch.nn.LSTM(H, H, num_layers=2, batch_first=True, device=device)
    loop = st.LSTM(H, H, num_layers=2, impl="loop", device=device)
    fused = st.LSTM(H, H, num_layers=2, impl="fused", device=device)
    loop.load_state_dict(ref.state_dict(), strict=True)
    fused.load_state_dict(ref.state_dict(), strict=True)
    contenders = {"torch.nn.LSTM": ref, "seqlib loop": loop, "seqlib fused": fused}
    if naive:
        contenders["autograd loop (naive)"] = AutogradLoopLSTM(ref)
    x = torch.randn(N, T, H, device=device, requires_grad=True)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    med = time_all(contenders, x, repeats, sync)
    base, base_min = med["torch.nn.LSTM"]
    if device == "cuda":
        graphs = "on" if os.environ.get("SEQLIB_CUDA_GRAPHS", "1") != "0" else "off"
        name = f"{torch.cuda.get_device_name()} (seqlib loop: CUDA graphs {graphs})"
    else:
        name = f"CPU, {torch.get_num_threads()} threads"
    print(f"\n{name}: 2-layer LSTM, N={N}, T={T}, D=H={H}, forward + backward, {repeats} runs")
    print(f"  {'':<24} {'median':>11}   {'ratio':>5}      {'min':>9}   {'ratio':>5}")
    for label, (t, t_min) in med.items():
        print(f"  {label:<24} {t * 1e3:8.2f} ms   {t / base:5.2f}x   {t_min * 1e3:8.2f} ms   {t_min / base_min:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-cuda", action="store_true")
    parser.add_argument("--no-cpu", action="store_true")
    parser.add_argument("--no-naive", action="store_true", help="skip the autograd-loop baseline")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.no_cpu:
        run("cpu", N=32, T=50, H=128, repeats=args.repeats, naive=not args.no_naive)
    if torch.cuda.is_available() and not args.no_cuda:
        run("cuda", N=64, T=100, H=512, repeats=args.repeats, naive=not args.no_naive)
    elif not args.no_cuda:
        print("\nCUDA: no GPU here, skipped")


if __name__ == "__main__":
    main()
