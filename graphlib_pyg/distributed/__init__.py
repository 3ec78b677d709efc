"""Data-parallel training on ``torch.distributed``: DDP with gloo (CPU) or nccl (CUDA).

Every rank loads the graph, takes a disjoint shard of the training seeds each epoch, samples its
own mini-batches and trains a replica wrapped in ``DistributedDataParallel``; evaluation is
sharded over the evaluated nodes with exact neighbourhoods and gathered, so every rank computes
the same metrics as a single process would. Launch with ``torchrun --nproc_per_node N -m
graphlib_pyg.cli bench ...`` or ``graphlib bench --nproc N ...``.
"""

from graphlib_pyg.distributed.ddp import (
    DistInfo,
    all_gather_rows,
    all_reduce_mean,
    current,
    init_from_env,
    is_main,
    launch,
    shard,
)
from graphlib_pyg.distributed.runtime import Runtime

__all__ = [
    "DistInfo",
    "all_gather_rows",
    "all_reduce_mean",
    "current",
    "init_from_env",
    "is_main",
    "launch",
    "Runtime",
    "shard",
]
