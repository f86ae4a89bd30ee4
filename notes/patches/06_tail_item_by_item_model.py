#!/usr/bin/env python3
"""The persistent causal schedule of step 06, before and with `06_tail_item_by_item.diff`.

    python3 notes/patches/06_tail_item_by_item_model.py

1. Checks that the patch's schedule (the same arithmetic as its `for_each_item` and `launch`)
   hands out every work item exactly once, over 3000 random (heads, query tiles, blocks).
2. Predicts the busiest block against the current schedule (mirror pairs in rotated rounds) at
   the benchmark shapes, from a cost model: an item costs its warpgroups' mean key tiles (each
   warpgroup its own key range, a half tile counting half; D = 64), or its key tiles (D = 128),
   in periods of one 128-key tile, plus 1.3 periods per item (the item boundary measured in
   notes/worklog.md). A model, not a measurement.
"""

import math
import random

SMS = 132
BOUNDARY = 1.3  # tile periods per item
TAIL_ROUNDS = (1, 2, 3, 4)  # 2 and 4 predicted before the runs, 1 and 3 after (worklog)


def item_costs(n, d):
    """Cost of query tile k = 0 .. M - 1 (k = 0: the last rows, the most keys)."""
    block_m, block_n = (192, 128) if d == 64 else (128, 128)
    m = math.ceil(n / block_m)
    costs = []
    for k in range(m):
        q0 = n - (k + 1) * block_m
        if d == 64:  # three 64-row warpgroups, each up to the key tile its last row sees
            tiles = [math.ceil(2 * min(n, q0 + 64 * (w + 1)) / block_n) / 2
                     for w in range(3) if q0 + 64 * (w + 1) > 0]
            cost = sum(tiles) / 3 * block_m / block_n
        else:
            cost = math.ceil(min(n, q0 + block_m) / block_n)
        costs.append(cost + BOUNDARY)
    return costs


def plan(bh, m, sms, tail_rounds):
    """The patch's host side: mirror pairs of whole heads, then the tail item by item."""
    items = bh * m
    blocks = min(items, sms)
    pair_rounds = ((items + 1) // 2 + blocks - 1) // blocks
    tail_head = min(max(pair_rounds - tail_rounds, 0) * blocks // m, bh // 2)
    tail_heads = bh - 2 * tail_head
    pairs = tail_head * m
    return dict(items=items, blocks=blocks, slots=pairs + tail_heads * m, pairs=pairs,
                tail_head=tail_head, tail_heads=tail_heads, tail_round=pairs // blocks, m=m)


def walk(p, b):
    """The patch's for_each_item for block b: the items it takes, in order."""
    g, out, mirror, rnd = p["blocks"], [], False, 0
    while True:
        if rnd < p["tail_round"]:
            position = (b + rnd) % g
        else:
            position = g - 1 - b if (rnd - p["tail_round"]) % 2 else b
        slot = rnd * g + position
        if slot >= p["slots"]:
            return out
        i = slot - p["pairs"]
        single = i >= 0
        if single:
            item = (p["tail_head"] + i % p["tail_heads"]) * p["m"] + i // p["tail_heads"]
        else:
            item = p["items"] - 1 - slot if mirror else slot
        rnd += 1 if single or mirror else 0
        mirror = not single and not mirror
        out.append(item)


def walk_current(items, sms, b):
    """The current for_each_item (9ef99c6): mirror pairs in rounds rotated by the round."""
    g, slots, out = min((items + 1) // 2, sms), (items + 1) // 2, []
    rnd = 0
    while True:
        slot = rnd * g + (b + rnd) % g
        if slot >= slots:
            return out
        out.append(slot)
        if items - 1 - slot != slot:
            out.append(items - 1 - slot)
        rnd += 1


def check_coverage():
    random.seed(1)
    cases = [(256, 11, 132), (128, 22, 132), (1024, 3, 132), (192, 6, 132), (192, 8, 114), (1, 1, 132)]
    cases += [(random.randint(1, 600), random.randint(1, 40), random.choice([1, 2, 7, 16, 78, 114, 132]))
              for _ in range(3000)]
    for tail_rounds in TAIL_ROUNDS:
        for bh, m, sms in cases:
            p = plan(bh, m, sms, tail_rounds)
            seen = sorted(x for b in range(p["blocks"]) for x in walk(p, b))
            assert seen == list(range(p["items"])), (bh, m, sms, tail_rounds)
    print(f"coverage: every item exactly once in {len(cases)} shapes x {len(TAIL_ROUNDS)} tail sizes")


def busiest(loads):
    return max(loads), sum(loads) / len(loads)


def predict():
    print("predicted speed-up = busiest block before / busiest block with the patch (ideal: mean)")
    print("| D | N | ideal | " + " | ".join(f"kTailRounds {t}" for t in TAIL_ROUNDS) + " |")
    print("| --- | --- | --- |" + " --- |" * len(TAIL_ROUNDS))
    for d in (64, 128):
        for n in (512, 1024, 2048, 4096):
            costs = item_costs(n, d)
            m, bh = len(costs), (16384 // n) * (2048 // d)
            cost = lambda item: costs[item % m]
            items = bh * m
            before, mean = busiest([sum(map(cost, walk_current(items, SMS, b)))
                                    for b in range(min((items + 1) // 2, SMS))])
            row = [f"{before / mean:.3f}"]
            for tail_rounds in TAIL_ROUNDS:
                p = plan(bh, m, SMS, tail_rounds)
                after, _ = busiest([sum(map(cost, walk(p, b))) for b in range(p["blocks"])])
                row.append(f"{before / after:.3f}")
            print(f"| {d} | {n} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    check_coverage()
    predict()
