#!/usr/bin/env python3
"""Plots from `fa bench --csv` (and scripts/sdpa_bench.py) output.

    python3 notes/plot.py notes/results/fa_fp32.csv notes/results/sdpa_fp32.csv --out notes/results --tag fp32

Writes, per head dim and mask found in the data:
  <tag>_tflops_d<D>[_causal].png   TFLOP/s against N (log2 N), every step and peer
  <tag>_bytes_d<D>[_causal].png    io-model bytes against N (log-log): requested per step,
                                   with the compulsory line; N^2 and N d^2/M slopes apart
  <tag>_memory_d<D>[_causal].png   extra device memory (workspace) against N (log-log)
"""
import argparse
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench_csv import load  # noqa: E402

def number(r, key):
    try:
        return float(r[key])
    except (KeyError, TypeError, ValueError):
        return None


def plot(rows, key, ylabel, title, path, logy, scale=1.0, extra=None):
    series = defaultdict(list)
    for r in rows:
        v = number(r, key)
        if r["status"] == "ok" and v is not None:
            series[f'{r["step"]} ({r["dtype"]})'].append((r["n"], v * scale))
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.cm.tab20.colors  # enough distinct colours for every step, dtype and peer
    for i, name in enumerate(sorted(series)):
        pts = sorted(series[name])
        style = "--" if name.startswith("torch_") else "-"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o", color=colors[i % len(colors)], label=name)
    if extra:
        extra(ax)
    ax.set_xscale("log", base=2)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("sequence length N (batch x N = 16384 tokens)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--out", default="notes/results")
    ap.add_argument("--tag", default="bench")
    a = ap.parse_args()
    rows = load(a.files)
    for d in sorted({r["d"] for r in rows}):
        for causal in (False, True):
            sel = [r for r in rows if r["d"] == d and r["causal"] == causal]
            if not sel:
                continue
            suffix = f"d{d}{'_causal' if causal else ''}"
            label = f"D = {d}{', causal' if causal else ''}"
            plot(sel, "tflops", "TFLOP/s", f"Attention forward, {label}", f"{a.out}/{a.tag}_tflops_{suffix}.png", False)

            def compulsory(ax, sel=sel):
                pts = sorted({(r["n"], number(r, "io_compulsory_mb")) for r in sel if number(r, "io_compulsory_mb")})
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] / 1e3 for p in pts], "k:", label="compulsory (Q, K, V, O, LSE once)")
                    ax.legend(fontsize=7)

            ours = [r for r in sel if not r["step"].startswith("torch_")]
            plot(ours, "io_requested_mb", "GB requested (io model)", f"Predicted HBM/L2 requests, {label}",
                 f"{a.out}/{a.tag}_bytes_{suffix}.png", True, 1e-3, compulsory)
            plot([r for r in ours if number(r, "workspace_mb")], "workspace_mb", "extra device memory, GB",
                 f"Workspace beyond Q, K, V, O, LSE, {label}", f"{a.out}/{a.tag}_memory_{suffix}.png", True, 1e-3)


if __name__ == "__main__":
    main()
