"""Graph partitions as node labels: METIS through ``pymetis`` (ParetoGNN's partition task).

ParetoGNN's downstream "partition prediction" classifies each node's METIS part (10 parts,
``dgl.metis_partition_assignment(g, 10)`` in the official ``link_gen.py``). ``pymetis`` wraps the
same METIS library and installs from PyPI as a wheel, so the labels come from the same
algorithm (the exact parts depend on METIS's seed, not fixed across libraries).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def metis_parts(edge_index: Tensor, num_nodes: int, parts: int = 10, seed: int = 0) -> Tensor:
    """METIS part of every node of the undirected graph ``edge_index``.

    Args:
        edge_index: (2, E) edges (made symmetric; self-loops and duplicates dropped).
        num_nodes: number of nodes.
        parts: number of parts (ParetoGNN: 10).
        seed: METIS's random seed.

    Returns:
        (num_nodes,) long tensor of part ids in ``[0, parts)``.

    Raises:
        ImportError: ``pymetis`` is not installed (says how to install it).
    """
    try:
        import pymetis
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("partition labels need pymetis: pip install pymetis") from err
    if parts < 2 or parts > num_nodes:
        raise ValueError(f"parts must be in [2, num_nodes={num_nodes}], got {parts}")
    row, col = edge_index.cpu()
    keep = row != col
    row, col = torch.cat([row[keep], col[keep]]), torch.cat([col[keep], row[keep]])
    key = torch.unique(row * num_nodes + col)  # sorted by row, then col
    row, col = key // num_nodes, key % num_nodes
    xadj = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(row.numpy(), minlength=num_nodes), out=xadj[1:])
    opts = pymetis.Options(seed=seed)
    adj = pymetis.CSRAdjacency(xadj, col.numpy().astype(np.int64))
    _, membership = pymetis.part_graph(parts, adjacency=adj, options=opts)
    return torch.as_tensor(np.asarray(membership), dtype=torch.long)
