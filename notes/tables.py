#!/usr/bin/env python3
"""The markdown tables of notes/results.md, from the CSVs of scripts/bench-all.sh.

    python3 notes/tables.py notes/results              # the tables of notes/results.md
    python3 notes/tables.py notes/results --step 04_fused   # a step README's "Measured" table

Prints the fp32 table (01-04 and PyTorch's efficient backend), the bf16 table (05, 06 and its
ablations, flash and cuDNN), the fp16 table, the ablation table and the error table; or, with
--step, one step's rows (time, TFLOP/s, ratios to the step before it and to its peers) and its
errors. Ratios are computed here from the CSVs; nothing is typed in by hand.
"""
import csv
import os
import sys

import bench_csv

ABLATIONS = ["06_no_pingpong", "06_no_overlap", "06_no_warp_specialization", "06_no_persistent"]


def existing(res, *names):
    """The paths of the named CSVs in res that exist (D = 256 has files of its own:
    scripts/bench-all.sh's part d256)."""
    return [p for p in (os.path.join(res, n) for n in names) if os.path.exists(p)]


def load(paths, field="tflops"):
    """{(step, d, causal, n, dtype): value of `field`} of the rows that ran."""
    return {(r["step"], r["d"], r["causal"], r["n"], r["dtype"]): float(r[field])
            for r in bench_csv.load(paths) if r.get(field)}


def cell(x, digits):
    return "-" if x is None else f"{x:.{digits}f}"


def ratio(a, b):
    return None if a is None or b is None else a / b


def shapes(data, dtype):
    return sorted({(d, c, n) for (_, d, c, n, t) in data if t == dtype})


def fp32_table(data):
    steps = ["01_naive", "02_tiled", "03_online_softmax", "04_fused", "torch_efficient"]
    print("| D | causal | N | 01_naive | 02_tiled | 03_online_softmax | 04_fused | torch efficient | 04 / efficient |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for d, c, n in shapes(data, "fp32"):
        v = [data.get((s, d, c, n, "fp32")) for s in steps]
        print(f"| {d} | {'yes' if c else 'no'} | {n} | " + " | ".join(cell(x, 1) for x in v) +
              f" | **{cell(ratio(v[3], v[4]), 2)}** |")


def half_table(data, dtype, ablations):
    cols = ["05_tensor_cores", "06_warp_specialized"] + (ABLATIONS if ablations else []) + ["torch_flash", "torch_cudnn"]
    names = ["05", "06"] + ([a.replace("06_no_", "06 no ").replace("_", " ") for a in ABLATIONS] if ablations else [])
    names += ["torch flash", "torch cudnn", "05 / flash", "06 / cudnn", "06 / flash"]
    print("| D | causal | N | " + " | ".join(names) + " |")
    print("| --- | --- | --- | " + " | ".join("---:" for _ in names) + " |")
    for d, c, n in shapes(data, dtype):
        v = {s: data.get((s, d, c, n, dtype)) for s in cols}
        r = [ratio(v["05_tensor_cores"], v["torch_flash"]), ratio(v["06_warp_specialized"], v["torch_cudnn"]),
             ratio(v["06_warp_specialized"], v["torch_flash"])]
        print(f"| {d} | {'yes' if c else 'no'} | {n} | " + " | ".join(cell(v[s], 0) for s in cols) +
              f" | {cell(r[0], 2)} | **{cell(r[1], 2)}** | {cell(r[2], 2)} |")


def ablation_table(data):
    print("| D | causal | N | 06 TFLOP/s | " + " | ".join(f"x {a}" for a in ABLATIONS) + " |")
    print("| --- | --- | --- | ---: | " + " | ".join("---:" for _ in ABLATIONS) + " |")
    for d, c, n in shapes(data, "bf16"):
        full = data.get(("06_warp_specialized", d, c, n, "bf16"))
        print(f"| {d} | {'yes' if c else 'no'} | {n} | {cell(full, 0)} | " +
              " | ".join(cell(ratio(full, data.get((a, d, c, n, "bf16"))), 3) for a in ABLATIONS) + " |")


def error_table(paths, only=None):
    print(("" if only else "| step ") + "| problem | rel L2 of O | max abs | LSE err |")
    print(("" if only else "| --- ") + "| --- | ---: | ---: | ---: |")
    for path in paths:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                if r.get("rel_l2") and (only is None or r["step"] == only):
                    print(("" if only else f"| {r['step']} ") + f"| {r['problem']} | {float(r['rel_l2']):.2e} | "
                          f"{float(r['max_abs']):.1e} | {float(r['lse_err']):.1e} |")


# Per step: the CSVs it is in, the step it is compared with, and its peers.
STEP_COMPARE = {
    "01_naive": ("fp32", None, []),
    "02_tiled": ("fp32", "01_naive", []),
    "03_online_softmax": ("fp32", "02_tiled", []),
    "04_fused": ("fp32", "03_online_softmax", ["torch_efficient"]),
    "05_tensor_cores": ("half", None, ["torch_flash", "torch_cudnn"]),
    "06_warp_specialized": ("half", None, ABLATIONS + ["torch_cudnn", "torch_flash"]),
}


def step_table(res, step):
    tag, prev, peers = STEP_COMPARE[step]
    fa = existing(res, f"fa_{tag}.csv", f"fa_{tag}_d256.csv")
    tf = {**load(fa), **load(existing(res, f"sdpa_{tag}.csv", f"sdpa_{tag}_d256.csv"))}
    ms = load(fa, "ms")
    others = ([prev] if prev else []) + peers
    names = [o.replace("torch_", "") for o in others]
    print("| dtype | D | causal | N | ms | TFLOP/s | " + " | ".join(f"x {n}" for n in names) + " |")
    print("| --- | --- | --- | --- | ---: | ---: | " + " | ".join("---:" for _ in names) + " |")
    keys = sorted((t, d, c, n) for (s, d, c, n, t) in tf if s == step)
    for t, d, c, n in sorted(keys, key=lambda k: (k[0] != "bf16" and k[0] != "fp32", k[0], k[1], k[2], k[3])):
        v = tf[(step, d, c, n, t)]
        print(f"| {t} | {d} | {'yes' if c else 'no'} | {n} | {ms[(step, d, c, n, t)]:.3f} | {v:.1f} | " +
              " | ".join(cell(ratio(v, tf.get((o, d, c, n, t))), 2) for o in others) + " |")
    print("\nErrors against the float64 reference (1024 sampled rows):\n")
    error_table(existing(res, "errors.csv", "errors_d256.csv"), only=step)


def main():
    res = sys.argv[1] if len(sys.argv) > 1 else "notes/results"
    if len(sys.argv) > 3 and sys.argv[2] == "--step":
        step_table(res, sys.argv[3])
        return
    fp32 = load(existing(res, "fa_fp32.csv", "sdpa_fp32.csv"))
    half = load(existing(res, "fa_half.csv", "sdpa_half.csv", "fa_half_d256.csv", "sdpa_half_d256.csv"))
    print("### fp32 (TFLOP/s; ratio = 04_fused / torch_efficient)\n")
    fp32_table(fp32)
    print("\n### bf16 (TFLOP/s)\n")
    half_table(half, "bf16", ablations=True)
    print("\n### fp16 (TFLOP/s)\n")
    half_table(half, "fp16", ablations=False)
    print("\n### Step 06 against its ablations (bf16; full / variant, above 1 means the full kernel is faster)\n")
    ablation_table(half)
    print("\n### Errors against the float64 reference (1024 sampled rows; non-causal)\n")
    error_table(existing(res, "errors.csv", "errors_d256.csv"))


if __name__ == "__main__":
    main()
