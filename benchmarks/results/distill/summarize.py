"""Mean +- std (over seeds) of the distillation results in this folder, one line per file and
trainer: the student's test accuracy and, for glnn/vqgraph rows, the teacher's. ``best test``
is the mean over runs of the highest test accuracy on the run's curve: what selecting on *test*
accuracy (as the official VQGraph student script does) would report for the same runs, up to
the epoch where validation-based early stopping ended the run.

Usage: python benchmarks/results/distill/summarize.py [FILE.jsonl ...]
"""

import json
import statistics
import sys
from pathlib import Path


def pm(values: list[float]) -> str:
    values = [100 * v for v in values]
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {std:.2f}"


files = [Path(f) for f in sys.argv[1:]] or sorted(Path(__file__).parent.glob("*.jsonl"))
print(
    "| file | trainer | teacher | setting | runs | student test | teacher test | "
    "student test_tran | best test | s / student epoch |"
)
print("|---|---|---|---|---:|---:|---:|---:|---:|---:|")
for path in files:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["trainer"], r.get("teacher", r["model"]), r.get("setting", "transductive"))
        groups.setdefault(key, []).append(r)
    for (trainer, teacher, setting), rs in sorted(groups.items()):
        t_test = pm([r["teacher_test"] for r in rs]) if "teacher_test" in rs[0] else "-"
        tran = pm([r["test_tran"] for r in rs]) if "test_tran" in rs[0] else "-"
        step = statistics.median(r["step_time_s"] for r in rs)
        best = pm([max(r["curve"]["test"]) for r in rs])
        print(
            f"| {path.stem} | {trainer} | {teacher} | {setting} | {len(rs)} | "
            f"{pm([r['test'] for r in rs])} | {t_test} | {tran} | {best} | {step:.3f} |"
        )
