"""Tables of the SSL results, one per dataset and budget (pre-training steps): mean ± std over
seeds of the four downstream scores (and link Hits@20), the average rank over the four tasks
(among the six methods; variants such as ``+sum`` are ranked against those six alone) and
the mean of the four scores (the official ``eval.py``'s HMEAN: node accuracy, NMI, link ROC-AUC,
partition accuracy), with the paper's values beside ours where a file of them is given.

    python benchmarks/results/ssl/summarize.py benchmarks/results/ssl/*-100*.jsonl
    python benchmarks/results/ssl/summarize.py --paper paper.json benchmarks/results/ssl/*.jsonl
    python benchmarks/results/ssl/summarize.py --seeds 1 benchmarks/results/ssl/*-100*.jsonl

``--paper`` reads ``{"source": "...", "<dataset>": {"<method>": {"<score>": [mean, std]}}}``
(scores in %, keys as in ``SCORES``); without it each table says that no paper values are given.
"""

import argparse
import json
import statistics
from collections import defaultdict

#: (row key, column title); the first four are the ranked tasks (link: ROC-AUC, as eval.py).
SCORES = (
    ("nc_acc", "node cls. acc"),
    ("nmi", "clustering NMI"),
    ("link_auc", "link ROC-AUC"),
    ("partition_acc", "partition acc"),
    ("link_hits20", "link Hits@20"),
)
RANKED = [key for key, _ in SCORES[:4]]
MAIN = ("paretognn", "grace", "dgi", "ccassg", "graphmae", "link-ssl")


def method_name(row: dict) -> str:
    """The trainer, plus the options that make a variant of it (combiner, decor_form)."""
    cfg = row["config"]
    name = row["trainer"] + ("+sum" if cfg.get("combiner") == "sum" else "")
    return name + (f" [decor_form={cfg['decor_form']}]" if "decor_form" in cfg else "")


def cell(values: list[float]) -> str:
    """Mean ± std over seeds; the mean alone for one seed (no std to show)."""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def table(dataset: str, steps: int, rows: list[dict], paper: dict) -> dict[str, float]:
    """Print one dataset's table; return each method's average rank."""
    by = defaultdict(list)
    for r in rows:
        by[method_name(r)].append(r)
    means = {m: {k: statistics.mean(r["extra"][k] for r in rs) for k in RANKED}
             for m, rs in by.items()}  # fmt: skip
    # Ranks among the plain methods; a variant (+sum, decor_form=...) gets the rank it would
    # have among those alone, so adding variants never moves the methods' ranks.
    plain = [m for m in means if m in MAIN]
    ranks = {m: [1 + sum(means[o][k] > means[m][k] for o in plain if o != m) for k in RANKED]
             for m in means}  # fmt: skip
    print(f"\n### {dataset}, {steps} pre-training steps\n")
    print("| method | seeds | " + " | ".join(t for _, t in SCORES) + " | avg rank | mean of 4 |")
    print("|---|---:|" + "---:|" * (len(SCORES) + 2))
    for m in sorted(by, key=lambda m: (statistics.mean(ranks[m]), m)):
        rs = by[m]
        cells = [cell([100 * r["extra"][k] for r in rs]) for k, _ in SCORES]
        hmean = statistics.mean(100 * means[m][k] for k in RANKED)
        print(f"| {m} | {len(rs)} | " + " | ".join(cells)
              + f" | {statistics.mean(ranks[m]):.2f} | {hmean:.2f} |")  # fmt: skip
    mine = paper.get(dataset, {})
    for m, scores in sorted(mine.items()):
        cells = [f"{scores[k][0]:.2f} ± {scores[k][1]:.2f}" if k in scores else ""
                 for k, _ in SCORES]  # fmt: skip
        print(f"| paper: {m} | | " + " | ".join(cells) + " | | |")
    if not mine:
        print("\n(paper values: none given for this dataset)")
    else:
        print(f"\n(paper values: {paper.get('source', 'source not given')})")
    return {m: statistics.mean(r) for m, r in ranks.items()}


def overview(steps: int, ranks: dict[str, dict[str, float]]) -> None:
    """Average rank of each method per dataset and over the datasets that have all six."""
    datasets = sorted(ranks)
    print(f"\n### Average rank over the four tasks, {steps} pre-training steps\n")
    print("| method | " + " | ".join(datasets) + " | mean over datasets |")
    print("|---|" + "---:|" * (len(datasets) + 1))
    full = [d for d in datasets if all(m in ranks[d] for m in MAIN)]
    for m in sorted(MAIN, key=lambda m: statistics.mean(ranks[d][m] for d in full) if full else 0):
        cells = [f"{ranks[d][m]:.2f}" if m in ranks[d] else "" for d in datasets]
        mean = f"{statistics.mean(ranks[d][m] for d in full):.2f}" if full else ""
        print(f"| {m} | " + " | ".join(cells) + f" | {mean} |")
    print(f"\n(mean over the {len(full)} datasets with all six methods)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--paper", default="", help="JSON of the paper's values (see the module)")
    parser.add_argument(
        "--seeds", type=int, default=0, help="only seeds 0..SEEDS-1; 0 (default): every row"
    )
    args = parser.parse_args()
    paper = json.load(open(args.paper)) if args.paper else {}
    groups = defaultdict(list)
    for path in args.files:
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    if args.seeds and r["seed"] >= args.seeds:
                        continue
                    if "extra" in r and "nc_acc" in r["extra"]:
                        groups[(r["dataset"], r["config"].get("epochs"))].append(r)
    ranks = defaultdict(dict)
    for (dataset, steps), rows in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        ranks[steps][dataset] = table(dataset, steps, rows, paper)
    for steps, by_dataset in sorted(ranks.items(), key=lambda kv: kv[0] or 0):
        overview(steps, by_dataset)


if __name__ == "__main__":
    main()
