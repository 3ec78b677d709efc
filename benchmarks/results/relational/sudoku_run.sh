#!/bin/sh
# Sudoku experiments of benchmarks/README.md (issue 27): RRN vs its non-recurrent baseline
# (GatedStack, --model ggnn) at two difficulty levels, CPU budget (bf16, 16 training steps).
# Run from the repository root; rerunning skips finished runs and resumes an unfinished one from
# its mid-run checkpoint (results/relational/sudoku.jsonl.ckpt/, saved every epoch).
set -e
export GRAPHLIB_DATA=${GRAPHLIB_DATA:-../shared/data} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
R=benchmarks/results/relational
B="--runs 1 --no-progress epochs=8 eval_every=2 steps=16 precision=bf16 lr=0.001"
D="data.num_train=4000 data.num_val=200 data.num_test=500"
graphlib bench --model rrn --dataset sudoku $D data.givens=36 $B eval_steps=64 --out $R/sudoku.jsonl
graphlib bench --model ggnn --dataset sudoku $D data.givens=36 $B --out $R/sudoku.jsonl
graphlib bench --model ggnn --dataset sudoku $D data.givens=17 $B --out $R/sudoku.jsonl
graphlib bench --model rrn --dataset sudoku $D data.givens=17 $B eval_steps=64 --out $R/sudoku.jsonl
