#!/usr/bin/env python3
"""Summary of the per-warpgroup timelines written by notes/patches/06_timeline_stamps.diff.

With the patch applied, `FA_STAMPS=FILE fa run 06_warp_specialized ...` appends, for every
launch, one line per (block, consumer warpgroup, work item) of the first 264 blocks: block, SM,
consumer, item index in the block, key tiles, then 24 clock64 stamps: 0 item start, 1 Q landed,
2 + t the turn of key tile t (t < 18), 20 the last P V done, 21 the epilogue's stores issued.
This prints, for the last launch in FILE, the medians in SM clocks of each phase and the
per-item overhead in units of the median tile period (turn to turn inside an item).
  notes/patches/06_timeline_stamps_summary.py FILE
"""
import collections
import statistics
import sys


def last_launch(path):
    launches = []
    for line in open(path):
        if line.startswith("launch"):
            launches.append((line.strip(), []))
        elif launches:
            launches[-1][1].append([int(x) for x in line.split()])
    return launches[-1]


def main():
    header, rows = last_launch(sys.argv[1])
    phases = collections.defaultdict(list)
    blocks = collections.defaultdict(list)
    for r in rows:
        block, _, consumer, item, n = r[:5]
        e = r[5:]
        blocks[block].append((item, consumer, n, e))
        if n == 0 or e[2] == 0 or e[20] == 0:  # no keys, or a warpgroup without rows: no GEMM stamps
            continue
        phases["Q wait"].append(e[1] - e[0])
        phases["Q landed -> turn 0"].append(e[2] - e[1])
        turns = [e[2 + t] for t in range(min(n, 18))]
        if n >= 4:
            phases["turn 0 -> turn 1"].append(turns[1] - turns[0])
            phases["tile period"].append((turns[-1] - turns[1]) / (len(turns) - 2))
        if n <= 18:
            phases["last turn -> last P V done"].append(e[20] - turns[-1])
        phases["epilogue"].append(e[21] - e[20])
    for block_items in blocks.values():  # from one item's last P V to the next item's first turn
        by_consumer = collections.defaultdict(list)
        for item, consumer, n, e in block_items:
            by_consumer[consumer].append((item, n, e))
        for items in by_consumer.values():
            items.sort()
            for (_, n, e), (_, n2, e2) in zip(items, items[1:]):
                if e[20] and e2[2]:
                    phases["last P V done -> next item's turn 0"].append(e2[2] - e[20])
    print(header)
    for name, values in phases.items():
        print(f"{name:40s} median {statistics.median(values):8.0f}  (n = {len(values)})")
    period = statistics.median(phases["tile period"])
    overheads = []
    for block_items in blocks.values():
        t0 = min(e[0] for _, _, _, e in block_items if e[0])
        t1 = max(e[21] for _, _, _, e in block_items)
        tiles = sum(n for _, c, n, _ in block_items if c == 0)
        items = sum(1 for _, c, _, _ in block_items if c == 0)
        overheads.append(((t1 - t0) - tiles * period) / items / period)
    print(f"{'overhead per item, in tile periods':40s} median {statistics.median(overheads):8.2f}")


if __name__ == "__main__":
    main()
