"""The execution runtime a trainer is given once: device, process group, sharding and gathers.

In one process :class:`Runtime` is the identity everywhere (no sharding, no wrapper, gathers
return their input); under ``torch.distributed`` the same calls shard the seeds, wrap the model
in ``DistributedDataParallel`` and gather rows from every rank. Trainers call the runtime and
never ask whether they run distributed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from graphlib_pyg.distributed.ddp import DistInfo, all_gather_rows, all_reduce_mean, current, shard


@dataclass(frozen=True)
class Runtime:
    """Where a run executes.

    Attributes:
        device: the device this rank trains on.
        info: the process group's rank and world size, ``None`` in one process.
    """

    device: torch.device
    info: DistInfo | None = None

    @classmethod
    def current(cls, device: torch.device) -> Runtime:
        """The runtime of this process: the joined process group's, or ``device`` alone."""
        info = current()
        return cls(info.device if info is not None else device, info)

    @property
    def distributed(self) -> bool:
        return self.info is not None

    @property
    def rank(self) -> int:
        return 0 if self.info is None else self.info.rank

    @property
    def world(self) -> int:
        return 1 if self.info is None else self.info.world_size

    def shard(self, index: Tensor, epoch: int, seed: int) -> Tensor:
        """This rank's part of a shared per-epoch shuffle of ``index``
        (:func:`~graphlib_pyg.distributed.ddp.shard`)."""
        return shard(index, self.info, epoch, seed)

    def mean(self, value: float) -> float:
        """Mean of ``value`` over ranks (``value`` itself in one process)."""
        return all_reduce_mean(value)

    def wrap(self, module: nn.Module, **kwargs) -> nn.Module:
        """``module`` in ``DistributedDataParallel`` when distributed, else itself."""
        if self.info is None:
            return module
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(module, **kwargs)

    def own_streams(self) -> None:
        """Give each rank its own random stream (dropout masks differ by rank); a no-op in one
        process."""
        if self.info is not None:
            torch.manual_seed(int(torch.initial_seed()) + 7919 * self.rank)

    def gather_chunks(
        self, ids: list[Tensor], compute: Callable[[int], Tensor], empty: Tensor, size: int
    ) -> Tensor:
        """Rows ``compute(k)`` for id chunks ``ids[k]``, chunk ``k`` on rank ``k % world``.

        Every rank gets all rows, placed at their ids in an output of ``size`` rows (rows no
        chunk covers stay zero). The chunks do not depend on the number of ranks, so a
        distributed run computes exactly what one process does. ``empty`` is a zero-row tensor
        of the rows' shape, dtype and device (what a rank without chunks contributes).
        """
        mine = range(self.rank, len(ids), self.world)
        device = empty.device
        none = torch.zeros(0, dtype=torch.long)
        where = all_gather_rows(torch.cat([none, *(ids[k] for k in mine)]).to(device)).cpu()
        rows = all_gather_rows(torch.cat([empty, *(compute(k) for k in mine)])).cpu()
        out = torch.zeros(size, *rows.shape[1:], dtype=rows.dtype)
        out[where] = rows
        return out

    def chunked_scores(
        self, score: Callable[[Tensor], Tensor], pairs: Tensor, chunk: int
    ) -> Tensor:
        """``score`` of (2, P) ``pairs`` in chunks of ``chunk`` (:meth:`gather_chunks`), in
        pair order on every rank: a distributed evaluation gives the scores of one process."""
        chunks = pairs.split(chunk, dim=1)
        positions = torch.arange(pairs.size(1)).split(chunk)
        return self.gather_chunks(
            list(positions),
            lambda k: score(chunks[k].to(self.device)).view(-1),
            torch.zeros(0, device=self.device),
            pairs.size(1),
        )
