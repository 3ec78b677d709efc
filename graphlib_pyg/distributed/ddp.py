"""Process groups, seed sharding, gathers and a launcher for data-parallel runs.

The engine is ``torch.distributed`` itself (``DistributedDataParallel`` for the gradients); this
module only adds what a graph benchmark needs around it: the same shard layout on every rank,
variable-length gathers for sharded evaluation, and a launcher that turns a dead rank into an
error instead of a hang.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor

#: Seconds a collective waits for a missing rank before raising (``GRAPHLIB_DIST_TIMEOUT``).
DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the process group."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def device(self) -> torch.device:
        if self.backend == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


def current() -> DistInfo | None:
    """The running process group, or ``None`` for a single process (or a group of one)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    return DistInfo(
        dist.get_rank(),
        dist.get_world_size(),
        int(os.environ.get("LOCAL_RANK", dist.get_rank())),
        dist.get_backend(),
    )


def is_main() -> bool:
    """True on rank 0 and in a single process: the one process that writes results."""
    info = current()
    return info is None or info.rank == 0


def _timeout() -> timedelta:
    return timedelta(seconds=float(os.environ.get("GRAPHLIB_DIST_TIMEOUT", DEFAULT_TIMEOUT_S)))


def init_from_env(backend: str | None = None) -> DistInfo | None:
    """Join the process group described by torchrun's variables (``RANK``, ``WORLD_SIZE``, ...).

    Returns ``None`` (and does nothing) when ``WORLD_SIZE`` is unset or 1. ``backend`` defaults to
    nccl when CUDA is available, else gloo. Collectives give up after ``GRAPHLIB_DIST_TIMEOUT``
    seconds (default 120) when a rank stops answering.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world < 2:
        return None
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise RuntimeError(
            f"WORLD_SIZE={world} but {', '.join(missing)} not set: launch with torchrun or "
            "graphlib bench --nproc"
        )
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, timeout=_timeout())
    return current()


def shard(index: Tensor, info: DistInfo | None, epoch: int, seed: int) -> Tensor:
    """This rank's part of ``index`` for ``epoch``: a shared shuffle, then every ``world``-th.

    All ranks draw the same permutation (from ``seed`` and ``epoch``), pad it by wrapping around
    to a multiple of the world size (so every rank gets the same number of seeds, hence of
    batches and of gradient all-reduces) and take positions ``rank, rank + world, ...``. Batch
    ``k`` of size ``b`` on every rank then covers global positions ``[k w b, (k + 1) w b)``: the
    same seeds as batch ``k`` of size ``w b`` in one process with the same permutation.
    With ``info=None`` the shuffled index itself is returned.

    Shapes:
        index: (S,).  Returns: (ceil(S / world),).
    """
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    order = index[torch.randperm(index.numel(), generator=g).to(index.device)]
    if info is None:
        return order
    world = info.world_size
    pad = (-order.numel()) % world
    if pad:
        order = torch.cat([order, order[:pad]])
    return order[info.rank :: world]


def all_gather_rows(t: Tensor) -> Tensor:
    """Concatenate every rank's ``t`` along dim 0, in rank order (sizes may differ by rank).

    Shapes:
        t: (R_r, ...).  Returns: (sum_r R_r, ...).
    """
    info = current()
    if info is None:
        return t
    size = torch.tensor([t.size(0)], device=t.device)
    sizes = [torch.zeros_like(size) for _ in range(info.world_size)]
    dist.all_gather(sizes, size)
    most = int(max(int(s) for s in sizes))
    padded = t.new_zeros((most, *t.shape[1:]))
    padded[: t.size(0)] = t
    parts = [torch.zeros_like(padded) for _ in range(info.world_size)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[: int(s)] for p, s in zip(parts, sizes, strict=True)])


def all_reduce_mean(value: float) -> float:
    """The mean of a Python number over ranks (the number itself in a single process)."""
    info = current()
    if info is None:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return float(t) / info.world_size


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(
    rank: int,
    fn: Callable,
    args: tuple,
    world: int,
    port: int,
    backend: str | None,
    fail_dir: str,
) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    try:
        init_from_env(backend)
        result = fn(*args)
        if isinstance(result, int) and result != 0:
            raise SystemExit(result)
        dist.barrier()  # a rank that finishes early must not tear down the group under others
    except BaseException as err:  # record when and why, for the launcher's root-cause report
        if isinstance(err, SystemExit):
            text = f"returned exit code {err.code}"
        else:
            text = traceback.format_exc()
        with open(os.path.join(fail_dir, f"rank{rank}.txt"), "w") as f:
            f.write(f"{time.time()!r}\n{text}")
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _root_cause(procs: list, fail_dir: str) -> str:
    """Which rank failed first: one that died without raising, else the earliest error."""
    records = {}
    for rank in range(len(procs)):
        path = os.path.join(fail_dir, f"rank{rank}.txt")
        if os.path.exists(path):
            stamp, _, text = open(path).read().partition("\n")
            records[rank] = (float(stamp), text)
    nproc = len(procs)
    for rank, p in enumerate(procs):  # killed or exited without a Python error: the culprit
        code = p.exitcode
        if code not in (None, 0) and rank not in records and code != -15:
            return f"rank {rank} of {nproc} exited with code {code}; the other ranks were stopped"
    if records:
        rank, (_, text) = min(records.items(), key=lambda kv: kv[1][0])
        others = sorted(set(records) - {rank})
        also = f" (then rank(s) {others} failed too)" if others else ""
        return f"rank {rank} of {nproc} failed{also}; the other ranks were stopped:\n{text}"
    codes = {r: p.exitcode for r, p in enumerate(procs)}
    return f"a rank of {nproc} failed; exit codes {codes}"


def launch(
    fn: Callable, nproc: int, args: tuple = (), backend: str | None = None, timeout_s: float = 0
) -> None:
    """Run ``fn(*args)`` in ``nproc`` fresh processes joined in one process group (loopback).

    ``fn`` must be importable (module level). When any rank fails (an exception, a non-zero
    return code, or the process dying), the remaining ranks are terminated and a
    ``RuntimeError`` names the rank that failed first (the others then fail on their
    collectives) and its error or exit code; ``timeout_s > 0`` also stops a run that takes
    longer. This is what ``graphlib bench --nproc N`` uses; ``torchrun`` does the same across
    machines.
    """
    import tempfile

    import torch.multiprocessing as mp

    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    with tempfile.TemporaryDirectory(prefix="graphlib-ddp-") as fail_dir:
        ctx = mp.start_processes(
            _entry,
            args=(fn, args, nproc, _free_port(), backend, fail_dir),
            nprocs=nproc,
            join=False,
            start_method="spawn",
        )
        start = time.monotonic()
        try:
            while not ctx.join(timeout=1.0):
                if timeout_s and time.monotonic() - start > timeout_s:
                    raise RuntimeError(f"distributed run exceeded {timeout_s:.0f} s; ranks stopped")
        except (mp.ProcessRaisedException, mp.ProcessExitedException):
            grace = time.monotonic() + 5.0  # let the other ranks hit the broken collective
            while any(p.is_alive() for p in ctx.processes) and time.monotonic() < grace:
                time.sleep(0.05)
            raise RuntimeError(_root_cause(ctx.processes, fail_dir)) from None
        finally:
            for p in ctx.processes:
                if p.is_alive():
                    p.terminate()
            for p in ctx.processes:
                p.join(5)
