"""Graphs generated in code: the embedded default tasks, and large graphs for speed work.

* :func:`csbm` -- contextual stochastic block model (node classification): class-dependent Gaussian
  features and edges that join same-class nodes with probability ``homophily``.
* :func:`sbm_link` -- stochastic block model for link prediction, with noisy block features.
* :func:`random_graph` -- a uniform random undirected graph of a given size (e.g. ogbn-arxiv's
  169,343 nodes / 1,166,243 edges / 128 features) for performance scripts.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor
from torch_geometric.data import Data


def check_int(where: str, name: str, value, lo: int, hi: int | None = None) -> int:
    """``value`` as an ``int`` in ``[lo, hi]``, or an error naming the argument and the value.

    Raises:
        TypeError: ``value`` is not an integer (``bool`` and integral floats such as ``100.0`` are
            refused too: the CLI already parses ``100`` as an int).
        ValueError: ``value`` is out of range.
    """
    rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{where}: {name} must be an integer {rng}, got {value!r} ({type(value).__name__})"
        )
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{where}: {name} must be an integer {rng}, got {value}")
    return int(value)


def check_real(where: str, name: str, value, lo: float, hi: float | None = None) -> float:
    """``value`` as a finite ``float`` in ``[lo, hi]``, or an error naming the argument."""
    rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{where}: {name} must be a number {rng}, got {value!r} ({type(value).__name__})"
        )
    if not math.isfinite(value) or value < lo or (hi is not None and value > hi):
        raise ValueError(f"{where}: {name} must be a finite number {rng}, got {value}")
    return float(value)


def _undirected(src: Tensor, dst: Tensor, num_nodes: int) -> Tensor:
    """Unique undirected edges, both directions, no self-loops. (2, 2M)"""
    lo, hi = torch.minimum(src, dst), torch.maximum(src, dst)
    keep = lo != hi
    key = torch.unique(lo[keep] * num_nodes + hi[keep])
    lo, hi = key // num_nodes, key % num_nodes
    return torch.stack([torch.cat([lo, hi]), torch.cat([hi, lo])])


def _block_edges(
    block: Tensor, num_blocks: int, num_edges: int, p_same: float, g: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Draw ``num_edges`` (src, dst) pairs; dst is in src's block with probability ``p_same``."""
    n = block.numel()
    order = torch.argsort(block)
    counts = torch.bincount(block, minlength=num_blocks)
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
    src = torch.randint(0, n, (num_edges,), generator=g)
    same = torch.rand(num_edges, generator=g) < p_same
    shift = torch.randint(1, max(num_blocks, 2), (num_edges,), generator=g)
    target_block = torch.where(same, block[src], (block[src] + shift) % num_blocks)
    size = counts[target_block]
    pos = (torch.rand(num_edges, generator=g) * size).long().clamp(max=size.clamp(min=1) - 1)
    dst = order[ptr[target_block] + pos]
    return src, dst


def csbm(
    num_nodes: int = 1000,
    num_classes: int = 4,
    num_features: int = 32,
    avg_degree: float = 8.0,
    homophily: float = 0.8,
    signal: float = 1.5,
    seed: int = 0,
) -> Data:
    """Contextual SBM: ``x = mu[y] + noise``, same-class edge fraction ``homophily``.

    Args:
        num_nodes: N.
        num_classes: C, balanced.
        num_features: F.
        avg_degree: expected degree of the undirected graph.
        homophily: fraction of edges joining nodes of the same class (edge homophily).
        signal: norm of each class mean; the noise is standard normal in every feature, so
            ``signal`` is the class separation in units of the noise std.
        seed: generator seed; the same arguments give the same graph.

    Returns:
        ``Data(x (N, F), y (N,), edge_index (2, E))``, undirected.
    """
    num_nodes = check_int("csbm", "num_nodes", num_nodes, 2)
    num_classes = check_int("csbm", "num_classes", num_classes, 2, num_nodes)
    num_features = check_int("csbm", "num_features", num_features, 1)
    avg_degree = check_real("csbm", "avg_degree", avg_degree, 0.0)
    homophily = check_real("csbm", "homophily", homophily, 0.0, 1.0)
    signal = check_real("csbm", "signal", signal, 0.0)
    seed = check_int("csbm", "seed", seed, 0)
    g = torch.Generator().manual_seed(seed)
    y = torch.randperm(num_nodes, generator=g) % num_classes
    # Same-class target with prob p gives edge homophily p (targets of other classes are uniform).
    m = int(num_nodes * avg_degree / 2 * 1.05)
    src, dst = _block_edges(y, num_classes, m, homophily, g)
    edge_index = _undirected(src, dst, num_nodes)
    mu = torch.randn(num_classes, num_features, generator=g)
    mu = signal * mu / mu.norm(dim=1, keepdim=True)
    x = mu[y] + torch.randn(num_nodes, num_features, generator=g)  # (N, F)
    return Data(x=x, y=y, edge_index=edge_index, num_nodes=num_nodes)


def sbm_link(
    num_nodes: int = 1000,
    num_blocks: int = 10,
    num_features: int = 32,
    avg_degree: float = 10.0,
    homophily: float = 0.9,
    signal: float = 2.0,
    seed: int = 0,
) -> Data:
    """Stochastic block model for link prediction; features are noisy block means."""
    num_nodes = check_int("sbm_link", "num_nodes", num_nodes, 2)
    num_blocks = check_int("sbm_link", "num_blocks", num_blocks, 2, num_nodes)
    data = csbm(num_nodes, num_blocks, num_features, avg_degree, homophily, signal, seed)
    return Data(x=data.x, edge_index=data.edge_index, num_nodes=num_nodes, block=data.y)


def random_graph(
    num_nodes: int,
    num_edges: int,
    num_features: int = 128,
    num_classes: int = 40,
    seed: int = 0,
    undirected: bool = True,
) -> Data:
    """Uniform random graph with ``num_edges`` sampled pairs (both directions if undirected)."""
    num_nodes = check_int("random_graph", "num_nodes", num_nodes, 1)
    num_edges = check_int("random_graph", "num_edges", num_edges, 0)
    num_features = check_int("random_graph", "num_features", num_features, 0)
    num_classes = check_int("random_graph", "num_classes", num_classes, 1)
    seed = check_int("random_graph", "seed", seed, 0)
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes, (num_edges,), generator=g)
    dst = torch.randint(0, num_nodes, (num_edges,), generator=g)
    edge_index = (
        torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
        if undirected
        else torch.stack([src, dst])
    )
    x = torch.randn(num_nodes, num_features, generator=g)
    y = torch.randint(0, num_classes, (num_nodes,), generator=g)
    return Data(x=x, y=y, edge_index=edge_index, num_nodes=num_nodes)


#: Named synthetic generators: kind and builder.
GENERATORS = {"csbm": ("node", csbm), "sbm-link": ("link", sbm_link)}
