#!/bin/bash
# A real run killed with SIGKILL mid-run and resumed with the same command, against the same run
# uninterrupted: ogbl-ddi GCN (OGB's settings), 6 epochs, a checkpoint every epoch.
set -u
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 GRAPHLIB_DATA=../shared/data
R=benchmarks/results/ogb
C="nice -n 5 graphlib bench --model gcn --dataset ogbl-ddi --runs 1 --no-progress epochs=6 eval_every=1 checkpoint_every=1"
$C --out $R/ddi_resume_ref.jsonl
$C --out $R/ddi_resume_cut.jsonl &
pid=$!
until python - <<'PY' 2>/dev/null
import glob, sys, torch
files = glob.glob("benchmarks/results/ogb/ddi_resume_cut.jsonl.ckpt/*.pt")
sys.exit(0 if files and torch.load(files[0], weights_only=True)["loop"]["epoch"] >= 3 else 1)
PY
do sleep 5; done
pkill -9 -f ddi_resume_cut.jsonl; wait $pid
echo "killed with SIGKILL after the epoch-3 checkpoint"
rm -f $R/ddi_resume_cut.jsonl.lock
$C --out $R/ddi_resume_cut.jsonl
python - <<'PY'
import json
a = json.loads(open("benchmarks/results/ogb/ddi_resume_ref.jsonl").readline())
b = json.loads(open("benchmarks/results/ogb/ddi_resume_cut.jsonl").readline())
for k in ("val", "test", "best_step", "curve"):
    print(k, "identical" if a[k] == b[k] else f"DIFFERENT: {a[k]} vs {b[k]}")
print("ref val/test", a["val"], a["test"], "resumed", b["val"], b["test"])
PY
