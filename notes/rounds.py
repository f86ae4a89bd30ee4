#!/usr/bin/env python3
"""Repeated rounds of one step beside its peers, from the CSVs: for each problem, the step's
TFLOP/s over the rounds, its ratio to a peer in each round (the peer measured in the same round),
their median, and the lowest ratio to a second peer. The table "Rounds of the current code" in
notes/results.md.

    python3 notes/rounds.py --problems "B8 H32 Sq2048 Sk2048 D64 bf16 causal" \\
        notes/results/fa_half.csv+notes/results/sdpa_half.csv \\
        notes/results/tail_item_by_item.csv@0aa9b20+notes/results/tail_item_by_item_sdpa.csv

Each source is FA_CSV[@BUILD]+PEERS_CSV: rows of `fa bench --csv` and of scripts/sdpa_bench.py,
with `build,round` columns in front (several rounds, several builds) or without (one round). With
@BUILD only that build's rows count; without, the file must hold one build. A step row and a peer
row pair up when their round and problem are the same; a round without peer rows is left out (with
a note on stderr). Rounds are taken in the order of the
sources, and inside a source in the order they first appear. A ratio is peer ms / step ms: the
step's speed-up.
"""
import argparse
import statistics
import sys

import bench_csv


def read(path):
    try:
        return [r for r in bench_csv.load([path]) if r.get("status") == "ok"]
    except OSError as e:
        sys.exit(f"rounds.py: error: {path}: {e.strerror}")


def rounds_of(path, build, step):
    """{round: {problem: (ms, tflops)}} of `step` in the FA csv, rounds in file order."""
    rows = [r for r in read(path) if r["step"] == step]
    builds = sorted({r.get("build", "") for r in rows})
    if build is not None:
        rows = [r for r in rows if r.get("build", "") == build]
        if not rows:
            known = ", ".join(b for b in builds if b) or "none named"
            sys.exit(f"rounds.py: error: {path}: no {step} rows of build {build} (builds: {known})")
    elif len(builds) > 1:
        sys.exit(f"rounds.py: error: {path} holds builds {', '.join(builds)}: name one as {path}@BUILD")
    out = {}
    for r in rows:
        out.setdefault(r.get("round", "1"), {})[r["problem"]] = (float(r["ms"]), float(r["tflops"]))
    return out


def peers_of(path):
    """{round: {(peer, problem): ms}}."""
    out = {}
    for r in read(path):
        out.setdefault(r.get("round", "1"), {})[(r["step"], r["problem"])] = float(r["ms"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="+", metavar="FA_CSV[@BUILD]+PEERS_CSV")
    ap.add_argument("--problems", required=True, help="comma-separated problems, as the CSVs name them")
    ap.add_argument("--step", default="06_warp_specialized")
    ap.add_argument("--peer", default="torch_flash", help="the peer of the per-round ratios (default: torch_flash)")
    ap.add_argument("--low-peer", default="torch_cudnn", help="the peer of the lowest ratio (default: torch_cudnn)")
    a = ap.parse_args()

    problems = [p.strip() for p in a.problems.split(",") if p.strip()]
    rounds = []  # per round: ({problem: (ms, tflops)}, {(peer, problem): ms})
    for src in a.sources:
        if "+" not in src:
            sys.exit(f"rounds.py: error: source {src}: expected FA_CSV[@BUILD]+PEERS_CSV")
        fa_part, peer_path = src.split("+", 1)
        fa_path, _, build = fa_part.partition("@")
        ours, peers = rounds_of(fa_path, build or None, a.step), peers_of(peer_path)
        for rnd, mine in ours.items():
            if rnd not in peers:  # e.g. a round of the step alone, or of its ablations
                print(f"rounds.py: note: round {rnd} of {fa_path} has no peers in {peer_path}: left out",
                      file=sys.stderr)
                continue
            rounds.append((mine, peers[rnd]))

    print(f"| problem | rounds | {a.step} TFLOP/s | / {a.peer} per round | median | lowest / {a.low_peer} |")
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    for prob in problems:
        tf, ratio, low = [], [], []
        for mine, peers in rounds:
            if prob not in mine:
                continue
            ms, tflops = mine[prob]
            if (a.peer, prob) not in peers or (a.low_peer, prob) not in peers:
                sys.exit(f"rounds.py: error: a round of {prob} lacks {a.peer} or {a.low_peer}")
            tf.append(tflops)
            ratio.append(peers[(a.peer, prob)] / ms)
            low.append(peers[(a.low_peer, prob)] / ms)
        if not tf:
            sys.exit(f"rounds.py: error: no round has {a.step} at {prob}")
        print(f"| {prob} | {len(tf)} | {min(tf):.0f}-{max(tf):.0f} | {' '.join(f'{r:.2f}' for r in ratio)} "
              f"| {statistics.median(ratio):.2f} | {min(low):.2f} |")


if __name__ == "__main__":
    main()
