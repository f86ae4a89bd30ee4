#!/usr/bin/env python3
"""Side-by-side ratios: our steps against PyTorch's SDPA backends, measured in the same run.

Reads any number of CSV files from `fa bench --csv` and scripts/sdpa_bench.py (same "step",
"problem", "status", "tflops" columns) and prints a Markdown table per step: for every problem,
our TFLOP/s, each peer's TFLOP/s, and our ratio to each peer.

    python3 scripts/ratios.py fa.csv sdpa.csv --steps 04_fused --peers torch_efficient
"""
import argparse
import csv
from collections import defaultdict


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--steps", help="comma-separated steps (default: every non-torch step)")
    ap.add_argument("--peers", help="comma-separated peers (default: every torch_* row)")
    a = ap.parse_args()

    table = defaultdict(dict)  # problem -> step -> (tflops or None, status, rel_l2)
    order = []
    for path in a.files:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                problem = row["problem"]
                if problem not in table:
                    order.append(problem)
                ok = row["status"] == "ok" and row.get("tflops")
                table[problem][row["step"]] = (float(row["tflops"]) if ok else None, row["status"], row.get("rel_l2", ""))

    names = {s for p in table.values() for s in p}
    steps = a.steps.split(",") if a.steps else sorted(s for s in names if not s.startswith("torch_"))
    peers = a.peers.split(",") if a.peers else sorted(s for s in names if s.startswith("torch_"))
    for step in steps:
        print(f"\n### {step}\n")
        head = ["problem", f"{step} TFLOP/s", "rel L2"] + [f"{p} TFLOP/s" for p in peers] + [f"x {p}" for p in peers]
        print("| " + " | ".join(head) + " |")
        print("|" + " --- |" * len(head))
        for problem in order:
            ours = table[problem].get(step)
            if ours is None:
                continue
            cells = [problem, f"{ours[0]:.1f}" if ours[0] else ours[1], ours[2] or ""]
            ratios = []
            for p in peers:
                theirs = table[problem].get(p)
                cells.append(f"{theirs[0]:.1f}" if theirs and theirs[0] else (theirs[1] if theirs else "-"))
                ratios.append(f"{ours[0] / theirs[0]:.2f}" if ours[0] and theirs and theirs[0] else "-")
            print("| " + " | ".join(cells + ratios) + " |")


if __name__ == "__main__":
    main()
