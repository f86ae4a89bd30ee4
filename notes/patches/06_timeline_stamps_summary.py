#!/usr/bin/env python3
"""Summary of the per-warpgroup timelines written by notes/patches/06_timeline_stamps.diff (onto
9a015ae) or 06_timeline_stamps_epilogue.diff (onto d35e361).

With a patch applied, `FA_STAMPS=FILE fa run 06_warp_specialized ...` appends, for every launch,
one line per (block, consumer warpgroup, work item) of the first 264 blocks: block, SM, consumer,
item index in the block, key tiles, then the clock64 stamps: 0 item start, 1 Q landed, 2 + t the
turn of key tile t (t < 18; a warpgroup that computes fewer tiles leaves the later ones 0), 20 the
last P V done, 21 the epilogue's stores issued; the second patch adds 22 the passed tiles done
(the early epilogue) and 23-27 inside the epilogue: the row sums, 1 / l and LSE done, the first
barrier passed, the sO stores issued, the fence, the second barrier.
This prints, for the last launch in FILE, the medians in SM clocks of each phase, by consumer
("skips": it computes fewer key tiles than the item has), and the per-item overhead in units of
the median tile period (turn to turn inside an item).
  notes/patches/06_timeline_stamps_summary.py FILE
"""
import collections
import statistics
import sys

EPILOGUE_PARTS = [  # (name, from stamp, to stamp), the second patch only
    ("  row sums, 1 / l, LSE", 20, 23),
    ("  first barrier", 23, 24),
    ("  sO stores", 24, 25),
    ("  fence.proxy.async", 25, 26),
    ("  second barrier", 26, 27),
    ("  TMA store, LSE stores", 27, 21),
]


def last_launch(path):
    launches = []
    for line in open(path):
        if line.startswith("launch"):
            launches.append((line.strip(), []))
        elif launches:
            launches[-1][1].append([int(x) for x in line.split()])
    return launches[-1]


def turns_of(e):
    return [e[2 + t] for t in range(18) if e[2 + t]]


def tag_of(consumer, n, e):
    return f"c{consumer}" + (" skips" if len(turns_of(e)) < min(n, 18) else "")


def main():
    header, rows = last_launch(sys.argv[1])
    phases = collections.defaultdict(list)
    blocks = collections.defaultdict(list)
    for r in rows:
        block, _, consumer, item, n = r[:5]
        e = r[5:]
        blocks[block].append((item, consumer, n, e))
        turns = turns_of(e)
        if n == 0 or not turns or e[20] == 0:  # no keys, or a warpgroup without rows
            continue
        tag = tag_of(consumer, n, e)
        phases[("Q wait", tag)].append(e[1] - e[0])
        if len(turns) >= 4:
            phases[("tile period", "")].append((turns[-1] - turns[1]) / (len(turns) - 2))
            phases[("turn 0 -> turn 1", tag)].append(turns[1] - turns[0])
        if n <= 18:
            phases[("last turn -> last P V done", tag)].append(e[20] - turns[-1])
        phases[("epilogue", tag)].append(e[21] - e[20])
        if len(e) > 27 and e[23]:
            for name, a, b in EPILOGUE_PARTS:
                phases[(name, tag)].append(e[b] - e[a])
        if len(e) > 22 and e[22]:
            phases[("passed tiles after the epilogue", tag)].append(e[22] - e[21])
    for block_items in blocks.values():  # from one item's end to the next item's first turn
        by_consumer = collections.defaultdict(list)
        for item, consumer, n, e in block_items:
            by_consumer[consumer].append((item, n, e))
        for consumer, items in by_consumer.items():
            items.sort()
            for (_, n, e), (_, _, e2) in zip(items, items[1:]):
                if e[20] and e2[2]:
                    end = e[22] if len(e) > 22 and e[22] else e[21]
                    phases[("item's end -> next item's turn 0", tag_of(consumer, n, e))].append(e2[2] - end)
    print(header)
    for (name, tag), values in phases.items():
        print(f"{name:36s} {tag:9s} median {statistics.median(values):8.0f}  (n = {len(values)})")
    period = statistics.median(phases[("tile period", "")])
    overheads = []
    for block_items in blocks.values():
        t0 = min(e[0] for _, _, _, e in block_items if e[0])
        t1 = max(max(e[21], e[22] if len(e) > 22 else 0) for _, _, _, e in block_items)
        tiles = sum(n for _, c, n, _ in block_items if c == 0)
        items = sum(1 for _, c, _, _ in block_items if c == 0)
        overheads.append(((t1 - t0) - tiles * period) / items / period)
    print(f"{'overhead per item, in tile periods':46s} median {statistics.median(overheads):8.2f}")


if __name__ == "__main__":
    main()
