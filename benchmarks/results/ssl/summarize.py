"""Table of the SSL results: mean ± std over seeds of the four downstream scores per method,
the average rank over the five scores, and the per-step time of sum vs MGDA.

    python benchmarks/results/ssl/summarize.py benchmarks/results/ssl/amazon-photo.jsonl
"""

import json
import statistics
import sys
from collections import defaultdict

KEYS = ("nc_acc", "nmi", "link_auc", "link_hits20", "partition_acc")


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main(paths):
    for path in paths:
        rows = [r for r in load(path) if "extra" in r]
        by = defaultdict(list)
        for r in rows:
            name = r["trainer"] + ("+sum" if r["config"].get("combiner") == "sum" else "")
            by[name].append(r)
        means = {m: {k: statistics.mean(r["extra"][k] for r in rs) for k in KEYS}
                 for m, rs in by.items()}  # fmt: skip
        ranks = defaultdict(list)
        for k in KEYS:
            order = sorted(means, key=lambda m: -means[m][k])
            for i, m in enumerate(order):
                ranks[m].append(i + 1)
        print(f"\n{path}")
        print("| method | seeds | " + " | ".join(KEYS) + " | avg rank | s/step |")
        print("|---" * (len(KEYS) + 4) + "|")
        for m, rs in sorted(by.items(), key=lambda kv: statistics.mean(ranks[kv[0]])):
            cells = []
            for k in KEYS:
                v = [100 * r["extra"][k] for r in rs]
                sd = statistics.stdev(v) if len(v) > 1 else 0.0
                cells.append(f"{statistics.mean(v):.2f} ± {sd:.2f}")
            step = statistics.mean(r["step_time_s"] for r in rs)
            print(f"| {m} | {len(rs)} | " + " | ".join(cells)
                  + f" | {statistics.mean(ranks[m]):.1f} | {step:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
