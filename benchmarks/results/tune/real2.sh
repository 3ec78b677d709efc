#!/bin/bash
cd /work/main
export PYTHONPATH=/work/main GRAPHLIB_DATA=../shared/data OMP_NUM_THREADS=1
OUT=benchmarks/results/tune/sage_computers.jsonl
while kill -0 13156 2>/dev/null; do sleep 5; done
echo "== default finished: $(date +%T)"
echo "== tune: $(date +%T)"
/usr/bin/time -f "wall %e s" python -m graphlib_pyg.cli tune --model sage --dataset amazon-computers --trials 40 --timeout 25m --runs-per-trial 1 --runs 10 --seed 0 \
  'lr=log(1e-3..3e-2)' 'weight_decay=log(1e-6..1e-3)' 'hidden=[64,128,256]' dropout=0.1..0.7 input_dropout=0.0..0.5 'num_layers=[2,3]' 'residual=[false,true]' \
  --no-progress --out $OUT
echo "== done: $(date +%T)"
