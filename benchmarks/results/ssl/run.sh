#!/bin/sh
# Issue 26 sweep on a 2-core shared CPU, reduced budget (see benchmarks/README.md, "Self-supervised
# pre-training"). Run it alone, in the background:
#   nohup nice -n 19 env OMP_NUM_THREADS=1 sh benchmarks/results/ssl/run.sh > /work/logs/ssl.log 2>&1 &
# Rows go to benchmarks/results/ssl/<dataset>-100.jsonl (100 pre-training steps). Seeds are added one
# at a time over every dataset and method (seed 1 everywhere, then seed 2, ...), so an interrupted
# sweep is balanced; reruns skip finished runs and resume.
# Older rows, kept: <dataset>.jsonl and <dataset>-sum.jsonl (40 steps; their paretognn rows predate
# decor_form and used the squared CCA-SSG loss, now decor_form=ccassg) and amazon-photo-decor.jsonl
# (40 steps, decor_form=paretognn, the default now).
set -e
export GRAPHLIB_DATA=${GRAPHLIB_DATA:-../shared/data} OMP_NUM_THREADS=1
B="epochs=100 lr=0.001 batch_size=16 num_hops=1 decor_size=512 link_epochs=30"
DATASETS="amazon-photo coauthor-cs chameleon squirrel actor amazon-computers coauthor-physics"
bench() { nice -n 10 python -m graphlib_pyg.cli bench --model gcn --no-progress "$@"; }
for r in 1 2 3 4 5; do
  for ds in $DATASETS; do
    for t in paretognn grace dgi ccassg graphmae link-ssl; do
      bench --trainer $t --dataset $ds --runs $r --out benchmarks/results/ssl/$ds-100.jsonl $B
    done
  done
done
for ds in $DATASETS; do  # ParetoGNN with the plain sum of the task losses instead of MGDA
  bench --trainer paretognn --dataset $ds --runs 3 --out benchmarks/results/ssl/$ds-100-sum.jsonl $B combiner=sum
done
