#!/usr/bin/env python3
"""PyTorch's SDPA backends on the same shapes as `fa bench`, timed the same way.

Writes CSV rows with the columns `fa bench --csv` uses for what they share (step, problem,
status, rel_l2, ms, tflops), the "step" being torch_<backend>, so one file holds both and
scripts/ratios.py can put them side by side. Timing: CUDA events around each call, an L2 flush
(a write of twice the L2 size) before each, median of --repeat after --warmup calls. Error:
relative L2 of O against float64 attention on the same rounded inputs, on a sample of rows.

    python3 scripts/sdpa_bench.py --dtypes bf16 -d 64,128 --causal both > sdpa.csv
"""
import argparse
import math
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "math": SDPBackend.MATH,
}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def reference_rel_l2(q, k, v, o, causal, rows=256):
    """Relative L2 of o against float64 attention, on `rows` sampled query rows of each head."""
    n = q.shape[2]
    idx = torch.linspace(0, n - 1, min(rows, n), device=q.device).long()
    qd, kd, vd = q[:, :, idx].double(), k.double(), v.double()
    s = qd @ kd.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:  # Sq == Sk here, so top-left and bottom-right alignment agree
        keys = torch.arange(n, device=q.device)
        s = s.masked_fill(keys[None, :] > idx[:, None], float("-inf"))
    ref = torch.softmax(s, dim=-1) @ vd
    got = o[:, :, idx].double()
    return ((got - ref).norm() / ref.norm()).item()


def time_ms(fn, warmup, repeat, flush):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        flush.zero_()
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--seq", default="512,1024,2048,4096,8192,16384")
    ap.add_argument("-d", "--head-dim", default="64,128")
    ap.add_argument("--dtypes", default="bf16")
    ap.add_argument("--causal", default="off", choices=["off", "on", "both"])
    ap.add_argument("--backends", default="flash,cudnn,efficient,math")
    ap.add_argument("--tokens", type=int, default=16384)
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--math-max-bytes", type=float, default=32e9, help="skip math when S exceeds this")
    a = ap.parse_args()

    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    flush = torch.empty(2 * l2, dtype=torch.uint8, device="cuda")
    masks = {"off": [False], "on": [True], "both": [False, True]}[a.causal]
    print("step,problem,status,rel_l2,ms,tflops,reason")
    for dname in a.dtypes.split(","):
        dtype = DTYPES[dname]
        for d in map(int, a.head_dim.split(",")):
            for causal in masks:
                for n in map(int, a.seq.split(",")):
                    b, h = max(1, a.tokens // n), max(1, a.hidden // d)
                    gen = torch.Generator(device="cuda").manual_seed(n * 1000 + d)
                    q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=dtype, generator=gen) for _ in range(3))
                    flops = 4.0 * b * h * d * (n * (n + 1) / 2 if causal else n * n)
                    problem = f"B{b} H{h} Sq{n} Sk{n} D{d} {dname}{' causal' if causal else ''}"
                    for name in a.backends.split(","):
                        step = f"torch_{name}"
                        if name == "math" and b * h * n * n * 4 > a.math_max_bytes:
                            print(f"{step},{problem},SKIP,,,,S would need {b*h*n*n*4/1e9:.0f} GB")
                            continue
                        try:
                            with sdpa_kernel([BACKENDS[name]]):
                                fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                                o = fn()
                                torch.cuda.synchronize()
                                err = reference_rel_l2(q, k, v, o, causal)
                                ms = time_ms(fn, a.warmup, a.repeat, flush)
                            print(f"{step},{problem},ok,{err:.4g},{ms:.4f},{flops / ms / 1e9:.2f},")
                        except RuntimeError as e:
                            reason = str(e).splitlines()[0].replace(",", ";")[:120]
                            print(f"{step},{problem},SKIP,,,,{reason}")
                        sys.stdout.flush()
                    del q, k, v
                    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
