"""Node splits and link splits.

Link splits keep the message-passing graph and the supervision edges apart: validation and test
edges never appear in the graph the model propagates over, and evaluation negatives are drawn once
(seeded) from pairs that are not edges of the full graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphlib_pyg.data.safe_io import torch_load


@dataclass
class NodeSplit:
    """Index tensors of the train/val/test nodes of one run."""

    train: Tensor
    val: Tensor
    test: Tensor

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            t = getattr(self, name)
            if t.dtype in (torch.bool, torch.uint8):  # a mask (PyG stores some as uint8)
                setattr(self, name, t.nonzero().view(-1))
            elif t.dtype != torch.long:
                setattr(self, name, t.long())


def random_node_split(
    num_nodes: int, train: float = 0.6, val: float = 0.2, seed: int = 0
) -> NodeSplit:
    """Uniformly random train/val/test node split (default 60/20/20), seeded."""
    if not (0 < train < 1 and 0 <= val < 1 and train + val < 1):
        raise ValueError(f"need 0 < train, 0 <= val and train + val < 1, got {train}, {val}")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(num_nodes, generator=g)
    n_tr, n_va = int(round(train * num_nodes)), int(round(val * num_nodes))
    return NodeSplit(
        perm[:n_tr].sort().values,
        perm[n_tr : n_tr + n_va].sort().values,
        perm[n_tr + n_va :].sort().values,
    )


def per_class_split(
    y: Tensor, num_per_class: int = 20, num_val: int = 500, num_test: int = 1000, seed: int = 0
) -> NodeSplit:
    """``num_per_class`` training nodes per class, then ``num_val``/``num_test`` random others."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(y.numel(), generator=g)
    ys = y[perm]
    train = torch.cat([perm[ys == c][:num_per_class] for c in torch.unique(y)])
    rest = perm[~torch.isin(perm, train)]
    return NodeSplit(
        train.sort().values,
        rest[:num_val].sort().values,
        rest[num_val : num_val + num_test].sort().values,
    )


def cpf_split(y: Tensor, num_train: int = 20, num_val: int = 30, seed: int = 0) -> NodeSplit:
    """The CPF protocol's split (Yang et al. 2021, used by GLNN and VQGraph): ``num_train``
    training and ``num_val`` validation nodes drawn at random from every class, the rest test.

    Raises:
        ValueError: a class has fewer than ``num_train + num_val + 1`` nodes (named).
    """
    g = torch.Generator().manual_seed(seed)
    train, val = [], []
    for c in torch.unique(y).tolist():
        members = (y == c).nonzero().view(-1)
        if members.numel() <= num_train + num_val:
            raise ValueError(
                f"split=cpf needs more than {num_train + num_val} nodes in every class; class "
                f"{c} has {members.numel()}"
            )
        members = members[torch.randperm(members.numel(), generator=g)]
        train.append(members[:num_train])
        val.append(members[num_train : num_train + num_val])
    train, val = torch.cat(train), torch.cat(val)
    rest = torch.ones(y.numel(), dtype=torch.bool)
    rest[train], rest[val] = False, False
    return NodeSplit(train.sort().values, val.sort().values, rest.nonzero().view(-1))


def largest_component(data: Data) -> Data:
    """The subgraph induced by the largest connected component of ``data`` (treated as
    undirected), nodes renumbered in their original order (PyG's ``LargestConnectedComponents``
    keeps every node attribute)."""
    from torch_geometric.transforms import LargestConnectedComponents

    return LargestConnectedComponents(num_components=1, connection="weak")(data)


def splits_from_masks(train_mask: Tensor, val_mask: Tensor, test_mask: Tensor) -> list[NodeSplit]:
    """Masks of shape (N,) or (N, K) -> K splits."""
    if train_mask.dim() == 1:
        return [NodeSplit(train_mask, val_mask, test_mask)]
    return [
        NodeSplit(train_mask[:, k], val_mask[:, k], test_mask[:, k])
        for k in range(train_mask.size(1))
    ]


def forwardgnn_splits(folder: Path, num_nodes: int) -> list[NodeSplit]:
    """ForwardGNN's published node splits (``<folder>/{train,val,test}-node-index-split{k}.pt``)."""
    out = []
    for k in range(5):
        parts = []
        for part in ("train", "val", "test"):
            p = Path(folder) / f"{part}-node-index-split{k}.pt"
            if not p.is_file():
                raise FileNotFoundError(f"ForwardGNN split file missing: {p}")
            t = torch_load(p)  # weights_only=True; errors name the file
            if not isinstance(t, Tensor) or t.dim() != 1 or t.is_floating_point():
                raise ValueError(f"ForwardGNN split file {p} must hold a 1-D integer tensor")
            parts.append(t.long())
        cat = torch.cat(parts)
        if cat.numel() != num_nodes or int(cat.max()) >= num_nodes:
            raise ValueError(
                f"ForwardGNN split {k} in {folder} does not partition {num_nodes} nodes"
            )
        out.append(NodeSplit(*parts))
    return out


@dataclass
class LinkSplit:
    """Supervision edges of one link-prediction run and the graph the model may propagate over.

    Attributes:
        graph: message-passing graph for training and validation (train edges, both directions).
        train_pos: (2, E_train) training positives, one direction per undirected edge.
        val_pos, val_neg, test_pos, test_neg: (2, *) evaluation pairs.
        test_graph: graph used when scoring the test set; differs from ``graph`` only when
            validation edges are model input at test time (``val_as_input``).
        neg_per_pos: when set, ``*_neg`` holds ``neg_per_pos`` negatives per positive in order
            (MRR protocol, e.g. ogbl-citation2); otherwise negatives are shared (Hits@K).
    """

    graph: Data
    train_pos: Tensor
    val_pos: Tensor
    val_neg: Tensor
    test_pos: Tensor
    test_neg: Tensor
    test_graph: Data | None = None
    val_as_input: bool = False
    neg_per_pos: int | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.test_graph is None:
            self.test_graph = self.graph


def _undirected_pairs(edge_index: Tensor) -> Tensor:
    """(2, E) -> (2, M) unique undirected pairs with row < col, self-loops dropped."""
    lo = torch.minimum(edge_index[0], edge_index[1])
    hi = torch.maximum(edge_index[0], edge_index[1])
    keep = lo != hi
    pairs = torch.stack([lo[keep], hi[keep]])
    return torch.unique(pairs, dim=1)


def sample_non_edges(
    num_nodes: int, num: int, forbidden: Tensor, generator: torch.Generator
) -> Tensor:
    """``num`` distinct undirected pairs (row < col) that are not in ``forbidden`` (2, E)."""
    if num_nodes < 2:
        raise ValueError("cannot sample negative pairs from a graph with fewer than 2 nodes")
    n = num_nodes
    bad = torch.unique(
        torch.minimum(forbidden[0], forbidden[1]) * n + torch.maximum(forbidden[0], forbidden[1])
    )
    capacity = n * (n - 1) // 2 - bad.numel()
    if num > capacity:
        raise ValueError(f"asked for {num} negative pairs but only {capacity} non-edges exist")
    found = torch.empty(0, dtype=torch.long)
    while found.numel() < num:
        m = int((num - found.numel()) * 1.3) + 16
        a = torch.randint(0, n, (m,), generator=generator)
        b = torch.randint(0, n, (m,), generator=generator)
        key = torch.minimum(a, b) * n + torch.maximum(a, b)
        key = key[(a != b) & ~torch.isin(key, bad)]
        cat = torch.cat([found, key])
        found = cat[_first_occurrence(cat)]  # distinct, earlier draws first
    found = found[:num]
    return torch.stack([found // n, found % n])


def _first_occurrence(keys: Tensor) -> Tensor:
    """Positions of the first occurrence of each distinct key, in order of appearance."""
    _, inv = torch.unique(keys, return_inverse=True)
    first = torch.full((int(inv.max()) + 1 if inv.numel() else 0,), keys.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inv, torch.arange(keys.numel()), reduce="amin")
    return first.sort().values


def random_link_split(
    data: Data,
    val: float = 0.05,
    test: float = 0.1,
    seed: int = 0,
    neg_ratio: float = 1.0,
    disjoint_train: float = 0.0,
    val_as_input: bool = False,
) -> LinkSplit:
    """Seeded random split of an undirected graph's edges for link prediction.

    The message-passing graph holds only training edges (both directions). With
    ``disjoint_train > 0`` that fraction of the training edges is held out of the message-passing
    graph and used only as supervision. Validation/test negatives are fixed non-edges of the full
    graph, ``neg_ratio`` per positive. With ``val_as_input`` the test set is scored on the
    message-passing graph plus the validation edges.
    """
    pairs = _undirected_pairs(data.edge_index)
    m = pairs.size(1)
    if m == 0:
        raise ValueError(
            "link prediction needs a graph with at least one edge; this graph has none"
        )
    n_val, n_test = int(round(val * m)), int(round(test * m))
    if n_val + n_test >= m:
        raise ValueError(f"val={val} and test={test} leave no training edges out of {m}")
    g = torch.Generator().manual_seed(seed)
    pairs = pairs[:, torch.randperm(m, generator=g)]
    val_pos, test_pos = pairs[:, :n_val], pairs[:, n_val : n_val + n_test]
    train_pos = pairs[:, n_val + n_test :]
    n_sup = int(round(disjoint_train * train_pos.size(1)))
    mp = train_pos[:, n_sup:] if n_sup else train_pos
    sup = train_pos[:, :n_sup] if n_sup else train_pos
    negs = sample_non_edges(
        data.num_nodes, int(round(neg_ratio * n_val)) + int(round(neg_ratio * n_test)), pairs, g
    )
    n_vn = int(round(neg_ratio * n_val))
    graph = Data(edge_index=torch.cat([mp, mp.flip(0)], 1), num_nodes=data.num_nodes)
    if getattr(data, "x", None) is not None:
        graph.x = data.x
    test_graph = None
    if val_as_input:
        test_graph = Data(
            edge_index=torch.cat([graph.edge_index, val_pos, val_pos.flip(0)], 1),
            num_nodes=data.num_nodes,
        )
        if getattr(data, "x", None) is not None:
            test_graph.x = data.x
    return LinkSplit(
        graph,
        sup,
        val_pos,
        negs[:, :n_vn],
        test_pos,
        negs[:, n_vn:],
        test_graph,
        val_as_input=val_as_input,
    )
