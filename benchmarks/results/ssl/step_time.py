"""Seconds per pre-training step, sum vs MGDA, measured interleaved in one process on the same
subgraphs (so load from other processes hits both alike).

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/results/ssl/step_time.py amazon-photo 20
"""

import statistics
import sys
import time

import torch

from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.nn.ssl import COMBINERS, PRETEXTS, SSLEncoder
from graphlib_pyg.train.ssl import SSL_TRAINERS, pretext_options

name, steps = sys.argv[1], int(sys.argv[2])
task = load_task(name)
cfg = {"lr": 0.001, "batch_size": 16, "num_hops": 1, "decor_size": 512}  # the README budget
trainer = SSL_TRAINERS["paretognn"](task, "gcn", cfg)
x, ei = task.data.x.float(), task.data.edge_index
torch.manual_seed(0)
encoder = SSLEncoder(x.size(1), [512, 256])
heads = {n: PRETEXTS[n](x.size(1), 256, **pretext_options(n, trainer.cfg)) for n in trainer.tasks}
shared = list(encoder.parameters())
params = shared + [p for h in heads.values() for p in h.parameters()]
gen = torch.Generator().manual_seed(0)
times = {"sum": [], "mgda": []}
for step in range(steps):
    batch = {n: trainer.sample(h.sample, x, ei, gen) for n, h in heads.items()}
    for combiner in ("sum", "mgda") if step % 2 else ("mgda", "sum"):
        losses = {n: (lambda n=n, b=batch: heads[n](encoder, *b[n])) for n in heads}
        for p in params:
            p.grad = None
        torch.manual_seed(step)  # the same augmentations for both
        t0 = time.perf_counter()
        COMBINERS[combiner]().backward(losses, params, shared)
        times[combiner].append(time.perf_counter() - t0)
s, m = statistics.median(times["sum"]), statistics.median(times["mgda"])
print(f"{name}: {steps} steps, median s/step sum {s:.4f}, mgda {m:.4f}, ratio mgda/sum {m / s:.3f}")

# Raw (unnormalised) shared-encoder gradient norm per task: MGDA's weights come from the
# normalised gradients but multiply the raw ones (as in the official code).
norms = {n: [] for n in heads}
for _ in range(5):
    batch = {n: trainer.sample(h.sample, x, ei, gen) for n, h in heads.items()}
    for n, h in heads.items():
        g = torch.autograd.grad(h(encoder, *batch[n]), shared)
        norms[n].append(float(torch.cat([t.reshape(-1) for t in g]).norm()))
print("raw shared-gradient norm per task:",
      {n: round(statistics.mean(v), 4) for n, v in norms.items()})  # fmt: skip
