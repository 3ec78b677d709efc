"""Seconds per pre-training step, measured interleaved in one process on the same subgraphs and
augmentations (so load from other processes hits both sides alike):

- sum vs MGDA (the current code);
- with ``--before REV``: the current encoder and pretext tasks vs those of git revision ``REV``
  (``graphlib_pyg/nn/ssl/{encoder,pretext}.py`` read with ``git show``), same initial weights,
  MGDA; the losses of the two must agree (the same method, only computed differently).

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/results/ssl/step_time.py amazon-photo 20
    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/results/ssl/step_time.py amazon-photo 20 \\
        --before 83ef167
"""

import argparse
import statistics
import subprocess
import time
import types

import torch

from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.nn.ssl import COMBINERS, PRETEXTS, SSLEncoder
from graphlib_pyg.train.ssl import SSL_TRAINERS, pretext_options

parser = argparse.ArgumentParser()
parser.add_argument("dataset")
parser.add_argument("steps", type=int)
parser.add_argument("--before", default="", help="git revision to compare the current code with")
args = parser.parse_args()
task = load_task(args.dataset)
cfg = {"lr": 0.001, "batch_size": 16, "num_hops": 1, "decor_size": 512}  # the README budget
trainer = SSL_TRAINERS["paretognn"](task, "gcn", cfg)
x, ei = task.data.x.float(), task.data.edge_index
F, H = x.size(1), 256


def module_at(rev: str, path: str) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    module = types.ModuleType(f"{path}@{rev}")
    exec(compile(source, f"{path}@{rev}", "exec"), module.__dict__)
    return module


def build(encoder_cls, pretexts):
    torch.manual_seed(0)
    encoder = encoder_cls(F, [512, H])
    heads = {n: pretexts[n](F, H, **pretext_options(n, trainer.cfg)) for n in trainer.tasks}
    params = list(encoder.parameters()) + [p for h in heads.values() for p in h.parameters()]
    return encoder, heads, params


def step(encoder, heads, params, batch, combiner, seed):
    losses = {n: (lambda n=n: heads[n](encoder, *batch[n])) for n in heads}
    for p in params:
        p.grad = None
    torch.manual_seed(seed)  # the same augmentations for every side
    t0 = time.perf_counter()
    _, values = COMBINERS[combiner]().backward(losses, params, list(encoder.parameters()))
    return time.perf_counter() - t0, values


sides = {"sum": (build(SSLEncoder, PRETEXTS), "sum"), "mgda": (build(SSLEncoder, PRETEXTS), "mgda")}
if args.before:
    old_enc = module_at(args.before, "graphlib_pyg/nn/ssl/encoder.py")
    old_pre = module_at(args.before, "graphlib_pyg/nn/ssl/pretext.py")
    sides = {f"mgda@{args.before}": (build(old_enc.SSLEncoder, old_pre.PRETEXTS), "mgda"),
             "mgda (current)": sides["mgda"]}  # fmt: skip
    old, new = (s[0] for s in sides.values())
    new[0].load_state_dict(old[0].state_dict())
    for n in new[1]:
        new[1][n].load_state_dict(old[1][n].state_dict())
ref_heads = next(iter(sides.values()))[0][1]  # which subgraph each task draws
gen = torch.Generator().manual_seed(0)
times, gaps = {name: [] for name in sides}, []
for i in range(args.steps):
    batch = {n: trainer.sample(h.sample, x, ei, gen) for n, h in ref_heads.items()}
    order = list(sides) if i % 2 else list(sides)[::-1]
    values = {}
    for name in order:
        (encoder, heads, params), combiner = sides[name]
        seconds, values[name] = step(encoder, heads, params, batch, combiner, seed=i)
        times[name].append(seconds)
    if args.before:  # parameters are not stepped: every side sees the same weights each step
        a, b = values.values()
        gaps.append(max(abs(a[n] - b[n]) / max(abs(a[n]), 1e-8) for n in a))
med = {name: statistics.median(t) for name, t in times.items()}
first, second = med.values()
print(f"{args.dataset}: {args.steps} steps, median s/step "
      + ", ".join(f"{n} {s:.4f}" for n, s in med.items())
      + f", ratio {list(med)[0]}/{list(med)[1]} {first / second:.3f}")  # fmt: skip
if gaps:
    print(f"largest relative loss difference between the two sides: {max(gaps):.2e}")
else:  # raw shared-encoder gradient norm per task: MGDA's weights multiply the raw gradients
    encoder, heads, _ = sides["mgda"][0]
    norms = {n: [] for n in heads}
    for _ in range(5):
        batch = {n: trainer.sample(h.sample, x, ei, gen) for n, h in heads.items()}
        for n, h in heads.items():
            g = torch.autograd.grad(h(encoder, *batch[n]), list(encoder.parameters()))
            norms[n].append(float(torch.cat([t.reshape(-1) for t in g]).norm()))
    print("raw shared-gradient norm per task:",
          {n: round(statistics.mean(v), 4) for n, v in norms.items()})  # fmt: skip
