"""Mini-batch loaders: sampled node batches and link batches with random negatives.

:class:`NodeLoader` is a dependency-free counterpart of PyG's ``NeighborLoader``: it samples with
:func:`graphlib_pyg.data.sampling.sample_subgraph` on a cached :class:`GraphIndex` and yields PyG
``Data`` mini-batches in the same layout (seed nodes first, ``batch_size`` of them). When
``pyg-lib`` or ``torch-sparse`` is installed (``WITH_PYG_LIB`` / ``WITH_TORCH_SPARSE`` in
``graphlib_pyg.typing``), ``torch_geometric.loader.NeighborLoader`` works too; nothing here needs
it.

:class:`LinkLoader` batches supervision edges and pairs them with uniformly random node pairs as
negatives, as OGB's ogbl-ddi example does.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphlib_pyg.data.graph import GraphIndex, SparseAdj
from graphlib_pyg.data.sampling import _ragged, _sample_subgraph


def _order(n: int, shuffle: bool, generator: torch.Generator) -> Tensor:
    return torch.randperm(n, generator=generator) if shuffle else torch.arange(n)


class NodeLoader:
    """Sampled mini-batches of seed nodes with their multi-hop neighbourhoods.

    Every epoch (one pass of ``iter``) visits each seed exactly once. The loader owns a generator
    seeded with ``seed``, so the sequence of epochs is reproducible and successive epochs differ.

    Args:
        task_or_data: a ``NodeTask`` (its ``data`` is used) or a PyG ``Data`` graph.
        index: the graph's :class:`GraphIndex`; ``None`` builds it (or takes the task's cached one).
        seeds: (S,) node ids, or an (N,) boolean mask, of the nodes to batch over.
        fanouts: neighbours per node at each hop; -1 for the full neighbourhood.
        batch_size: seeds per mini-batch (the last batch may be smaller).
        shuffle: shuffle the seeds every epoch.
        seed: seed of the loader's generator (shuffling and sampling).
        replace: sample neighbours with replacement.

    Yields:
        ``Data`` with ``x`` and ``y`` rows of ``n_id`` (when the graph has them), local
        ``edge_index``, ``n_id`` (global ids, seeds first), ``e_id`` (positions of the sampled
        edges in the graph's ``edge_index``; ``edge_weight``/``edge_attr`` follow them),
        ``input_id`` (positions of this batch's seeds in ``seeds``), ``batch_size`` and
        ``num_nodes``. Predictions for the seeds are ``out[:batch.batch_size]``.

    Shapes:
        x: (M, F).  y: (M,) or (M, C).  edge_index: (2, E_s).  n_id: (M,).  input_id: (B,).
    """

    def __init__(
        self,
        task_or_data,
        index: GraphIndex | None,
        seeds: Tensor,
        fanouts: list[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        replace: bool = False,
    ) -> None:
        if isinstance(task_or_data, Data):
            data = task_or_data
            index = index if index is not None else GraphIndex.from_data(data)
        else:  # a Task
            data = task_or_data.data
            index = index if index is not None else task_or_data.index()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if index.num_nodes != data.num_nodes:
            raise ValueError(f"index has {index.num_nodes} nodes, the graph {data.num_nodes}")
        seeds = seeds.nonzero().view(-1) if seeds.dtype == torch.bool else seeds.long().view(-1)
        self.data, self.index, self.seeds = data, index, seeds
        self.fanouts, self.batch_size = list(fanouts), int(batch_size)
        self.shuffle, self.replace = shuffle, replace
        self.generator = torch.Generator().manual_seed(seed)
        # Relabelling lookup table, all -1 between batches: O(sample) relabelling per batch.
        self._table = torch.full(
            (index.num_nodes,), -1, dtype=torch.long, device=index.indices.device
        )

    def __len__(self) -> int:
        return (self.seeds.numel() + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[Data]:
        order = _order(self.seeds.numel(), self.shuffle, self.generator)
        for chunk in order.split(self.batch_size):
            yield self.sample(chunk)

    def sample(self, input_id: Tensor) -> Data:
        """The mini-batch around ``self.seeds[input_id]``."""
        seeds = self.seeds[input_id]
        n_id, edge_index, pos = _sample_subgraph(
            self.index, seeds, self.fanouts, self.replace, self.generator, "auto", self._table
        )
        e_id = self.index.perm[pos]  # CSR position -> column of the input edge_index
        batch = Data(
            edge_index=edge_index,
            n_id=n_id,
            e_id=e_id,
            input_id=input_id,
            batch_size=seeds.numel(),
            num_nodes=n_id.numel(),
        )
        data = self.data
        for key in ("x", "y"):
            value = getattr(data, key, None)
            if isinstance(value, Tensor) and value.size(0) == data.num_nodes:
                batch[key] = value[n_id]
        for key in ("edge_weight", "edge_attr"):
            value = getattr(data, key, None)
            if isinstance(value, Tensor) and value.size(0) == self.index.num_edges:
                batch[key] = value[e_id]
        return batch

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(seeds={self.seeds.numel()}, fanouts={self.fanouts}, "
            f"batch_size={self.batch_size})"
        )


def exact_batch(
    index: GraphIndex,
    seeds: Tensor,
    num_hops: int,
    adj: str | None,
    table: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """The ``num_hops``-hop neighbourhood of ``seeds`` with the full graph's normalised weights.

    Unlike a sampled mini-batch, whose adjacency is re-normalised on the subgraph, the batch keeps
    the rows of the full graph's cached adjacency (``index.adj_t(adj)``) for every node within
    ``num_hops - 1`` hops, so a ``num_hops``-layer model gives the seeds exactly the outputs of a
    full-graph forward pass (up to float rounding), whatever else is in the batch. This is what
    makes sharded evaluation, and data-parallel training with full neighbourhoods, independent
    of how the seeds are split over batches and ranks.

    Args:
        index: the graph.
        seeds: (B,) distinct node ids; they come first in ``n_id``.
        num_hops: the model's number of message-passing layers.
        adj: the model's graph input: ``"gcn"``, ``"mean"``, ``"sum"`` (sparse ``adj_t``),
            ``"edge_index"`` (attention layers) or ``None`` (no graph: ``n_id`` is the seeds).
        table: optional (N,) long buffer, all -1, reused across calls (restored on return).

    Returns:
        ``(n_id, graph)``: global ids (M,) of the batch's nodes, and the local graph input
        ((M, M) ``torch.sparse_csr`` adjacency, (2, E_b) ``edge_index``, or ``None``).
    """
    device = index.indices.device
    seeds = seeds.to(device=device, dtype=torch.long).view(-1)
    if num_hops < 0:
        raise ValueError(f"num_hops must be >= 0, got {num_hops}")
    if adj is None:
        return seeds, None
    if seeds.numel() and (int(seeds.min()) < 0 or int(seeds.max()) >= index.num_nodes):
        raise ValueError(
            f"seed ids must lie in [0, {index.num_nodes}), got [{int(seeds.min())}, "
            f"{int(seeds.max())}]"
        )
    if torch.unique(seeds).numel() != seeds.numel():
        raise ValueError("exact_batch needs distinct seed nodes")
    if table is None:
        table = torch.full((index.num_nodes,), -1, dtype=torch.long, device=device)
    table[seeds] = torch.arange(seeds.numel(), device=device)
    n_id, lo, hi, inner = seeds, 0, seeds.numel(), 0
    for _ in range(num_hops):  # breadth-first, every in-neighbour
        inner = hi  # nodes [0, inner) have their full rows in the batch
        start, deg = index.indptr[n_id[lo:hi]], index.in_degree[n_id[lo:hi]]
        row, off = _ragged(deg)
        nbr = torch.unique(index.indices[start[row] + off])
        fresh = nbr[table[nbr] < 0]
        table[fresh] = torch.arange(hi, hi + fresh.numel(), device=device)
        n_id = torch.cat([n_id, fresh])
        lo, hi = hi, n_id.numel()
    m = n_id.numel()
    if adj == "edge_index":
        start, deg = index.indptr[n_id[:inner]], index.in_degree[n_id[:inner]]
        row, off = _ragged(deg)
        src = table[index.indices[start[row] + off]]
        graph = torch.stack([src, row])  # (2, E_b): source -> target, local ids
    else:
        full = index.adj_t(adj).plain
        crow, col, val = full.crow_indices(), full.col_indices(), full.values()
        rows = n_id[:inner]
        start, deg = crow[rows], crow[rows + 1] - crow[rows]
        row, off = _ragged(deg)
        pos = start[row] + off
        indptr = torch.zeros(m + 1, dtype=torch.long, device=device)
        torch.cumsum(deg, 0, out=indptr[1 : inner + 1])
        indptr[inner + 1 :] = indptr[inner]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            csr = torch.sparse_csr_tensor(indptr, table[col[pos]], val[pos], (m, m))
            graph = SparseAdj(csr, adj)  # rows of adj_t(adj): the same pairing checks
    table[n_id] = -1
    return n_id, graph


class SizeBucketSampler(torch.utils.data.Sampler):
    """Batches of graphs of similar size, for models that pad each batch to its longest graph.

    Sequence models over a graph's nodes (Graph-Mamba, GMN's node mixer, dense attention) pad
    every graph of a batch to the batch's largest; with random batches on Peptides-func that is
    2.6x the real nodes. Every epoch this sampler shuffles the graphs, cuts them into pools of
    ``pool`` batches, sorts each pool by size, cuts it into batches and shuffles the batches, so
    batches stay random in composition and order while their graphs have similar sizes (the
    "bucket iterator" of sequence models). Each graph appears exactly once per epoch.

    Use it as ``batch_sampler=`` of a (PyG) ``DataLoader``.

    Args:
        sizes: (G,) number of nodes of each graph.
        batch_size: graphs per batch (the last batch of a pool may be smaller).
        pool: batches per sorted pool (larger: less padding, less randomness).
        generator: the random source (seed it for reproducible epochs).
    """

    def __init__(
        self,
        sizes: Tensor,
        batch_size: int,
        pool: int = 50,
        generator: torch.Generator | None = None,
    ) -> None:
        if batch_size < 1 or pool < 1:
            raise ValueError(f"batch_size and pool must be >= 1, got {batch_size} and {pool}")
        self.sizes = torch.as_tensor(sizes).view(-1)
        self.batch_size, self.pool, self.generator = batch_size, pool, generator

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.sizes.numel(), generator=self.generator)
        batches = []
        for chunk in order.split(self.pool * self.batch_size):
            chunk = chunk[torch.argsort(self.sizes[chunk], stable=True)]
            batches.extend(chunk.split(self.batch_size))
        for k in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[k].tolist()

    def __len__(self) -> int:
        n, per = self.sizes.numel(), self.pool * self.batch_size
        full, rest = divmod(n, per)
        return full * self.pool + -(-rest // self.batch_size)


class LinkLoader:
    """Batches of positive edges, each with ``num_neg`` uniformly random pairs per positive.

    Negatives are random ``(src, dst)`` pairs over all nodes (they may rarely hit a true edge or a
    self-pair, as in OGB's ogbl-ddi example). Every epoch visits each positive exactly once.

    Args:
        train_pos: (2, E) positive edges.
        num_nodes: number of nodes N to draw negatives from.
        batch_size: positives per batch (the last batch may be smaller).
        num_neg: negatives per positive.
        shuffle: shuffle the positives every epoch.
        seed: seed of the loader's generator.

    Yields:
        ``(pos, neg)``.

    Shapes:
        pos: (2, b).  neg: (2, b * num_neg).
    """

    def __init__(
        self,
        train_pos: Tensor,
        num_nodes: int,
        batch_size: int,
        num_neg: int = 1,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        if train_pos.dim() != 2 or train_pos.size(0) != 2:
            raise ValueError(f"train_pos must have shape (2, E), got {tuple(train_pos.shape)}")
        if batch_size < 1 or num_neg < 0 or num_nodes < 1:
            raise ValueError(
                f"need batch_size >= 1, num_neg >= 0, num_nodes >= 1; got "
                f"{batch_size}, {num_neg}, {num_nodes}"
            )
        self.train_pos, self.num_nodes = train_pos.long(), int(num_nodes)
        self.batch_size, self.num_neg, self.shuffle = int(batch_size), int(num_neg), shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return (self.train_pos.size(1) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = _order(self.train_pos.size(1), self.shuffle, self.generator)
        for chunk in order.split(self.batch_size):
            pos = self.train_pos[:, chunk]  # (2, b)
            neg = torch.randint(
                0, self.num_nodes, (2, chunk.numel() * self.num_neg), generator=self.generator
            )  # (2, b * num_neg)
            yield pos, neg.to(pos.device)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(positives={self.train_pos.size(1)}, "
            f"batch_size={self.batch_size}, num_neg={self.num_neg})"
        )
