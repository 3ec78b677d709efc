#!/bin/bash
# The GNN-to-MLP distillation experiments of benchmarks/README.md, in priority order.
# Run from the repository root; rerunning resumes (finished runs are skipped).
set -u
export OMP_NUM_THREADS=1 GRAPHLIB_DATA=${GRAPHLIB_DATA:-../shared/data}
R=benchmarks/results/distill
B="graphlib bench --no-progress --runs 10"
# VQGraph's codes are as wide as the features by default (the official layout); 128 here keeps
# a CPU teacher to about a minute per seed (with 1433-wide codes one Cora teacher had not
# finished after 2.5 CPU-minutes).
VQ="vq_dim=128"
declare -A MLP=(
  [cora]="lr=0.01 weight_decay=0.005 dropout=0.6"
  [citeseer]="lr=0.01 weight_decay=0.001 dropout=0.1"
  [amazon-photo]="lr=0.005 weight_decay=0.002 dropout=0.3"
  [amazon-computers]="lr=0.001 weight_decay=0.002 dropout=0.3"
)
GAT_OPTIONS='teacher_options={hidden: 8, heads: 8, out_heads: 1, dropout: 0.6, input_dropout: 0.6, lr: 0.005, weight_decay: 5e-4, epochs: 300, patience: 100}'
mlp() { $B --model mlp --dataset $1 --out $R/$1.jsonl split=cpf hidden=128 input_dropout=0.0 ${MLP[$1]} --epochs 200 patience=50; }
for ds in cora citeseer; do
  $B --trainer glnn --model mlp --dataset $ds --out $R/$ds.jsonl split=cpf
  mlp $ds
done
$B --trainer vqgraph --model mlp --dataset cora --out $R/cora.jsonl split=cpf $VQ
$B --trainer glnn --model mlp --dataset cora --out $R/cora-inductive.jsonl split=cpf setting=inductive
$B --trainer glnn --model mlp --dataset cora --out $R/cora-gat.jsonl split=cpf teacher=gat "$GAT_OPTIONS"
$B --trainer vqgraph --model mlp --dataset citeseer --out $R/citeseer.jsonl split=cpf $VQ
$B --trainer vqgraph --model mlp --dataset cora --out $R/cora-inductive.jsonl split=cpf $VQ setting=inductive
for ds in amazon-photo amazon-computers; do
  $B --trainer glnn --model mlp --dataset $ds --out $R/$ds.jsonl split=cpf
  mlp $ds
done
$B --trainer glnn --model mlp --dataset amazon-photo --out $R/amazon-photo-inductive.jsonl split=cpf setting=inductive
for ds in amazon-photo amazon-computers; do
  $B --trainer vqgraph --model mlp --dataset $ds --out $R/$ds.jsonl split=cpf $VQ
done
$B --trainer vqgraph --model mlp --dataset amazon-photo --out $R/amazon-photo-inductive.jsonl split=cpf $VQ setting=inductive
