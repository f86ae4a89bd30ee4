"""Reading `fa bench --csv` and scripts/sdpa_bench.py output: one parser for notes/plot.py,
notes/tables.py and notes/rounds.py."""
import csv
import re

PROBLEM = re.compile(r"B(\d+) H(\d+) Sq(\d+) Sk(\d+) D(\d+) (\w+)( causal)?")


def load(paths):
    """The rows of the CSVs whose problem parses, each with n (= Sq), d, dtype and causal added."""
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                m = PROBLEM.match(r["problem"])
                if not m:
                    continue
                r["n"], r["d"], r["dtype"] = int(m.group(3)), int(m.group(5)), m.group(6)
                r["causal"] = bool(m.group(7))
                rows.append(r)
    return rows
