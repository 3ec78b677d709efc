"""Neighbour sampling, multi-hop subgraphs, random walks and k-hop sets on a :class:`GraphIndex`.

Pure, vectorised torch: no compiled dependency and no Python loop over nodes (loops run over hops,
walk steps or fan-out slots only). Everything works in the in-neighbour direction of the index
(row = target, columns = its sources), which for undirected graphs is the usual neighbourhood.

Sampling without replacement has two implementations that draw the same distribution (a uniform
``fanout``-subset of each row's edges):

* ``"floyd"`` (fast path): Floyd's algorithm run on all rows at once, one vectorised step per
  fan-out slot; cost O(rows * fanout^2), independent of the degrees.
* ``"sort"`` (reference): one random key per candidate edge, sort by (row, key), keep the first
  ``fanout`` of each row; cost O(sum of degrees * log).

``"auto"`` picks Floyd for fan-outs up to 32 and sorting above. When ``pyg-lib`` or
``torch-sparse`` is installed (``WITH_PYG_LIB`` / ``WITH_TORCH_SPARSE``), PyG's own
``NeighborLoader`` is an alternative; nothing here depends on it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from graphlib_pyg.data.graph import GraphIndex

SAMPLE_METHODS: tuple[str, ...] = ("auto", "floyd", "sort")
_FLOYD_MAX_FANOUT = 32


def _rand(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device
) -> Tensor:
    """Float64 uniforms in [0, 1): 53 bits, so ``floor(u * deg)`` is uniform for any degree."""
    return torch.rand(shape, generator=generator, dtype=torch.float64, device=device)


def _uniform_below(high: Tensor, generator: torch.Generator | None) -> Tensor:
    """One uniform integer in ``[0, high)`` per entry of ``high`` (entries must be >= 1)."""
    u = _rand(tuple(high.shape), generator, high.device)
    return (u * high).long().clamp_(max=high - 1)


def _ragged(counts: Tensor) -> tuple[Tensor, Tensor]:
    """Owner row and offset inside the row of each of ``counts.sum()`` ragged slots.

    Shapes:
        counts: (R,).  Returns: owner (T,), offset (T,) with T = counts.sum().
    """
    total = int(counts.sum())
    owner = torch.repeat_interleave(
        torch.arange(counts.numel(), device=counts.device), counts, output_size=total
    )  # (T,)
    first = torch.cumsum(counts, 0) - counts  # (R,) first slot of each row
    return owner, torch.arange(total, device=counts.device) - first[owner]


def _floyd(deg: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    """A uniform random ``k``-subset of ``[0, deg_r)`` for every row (Floyd's algorithm).

    Slot ``i`` draws ``t`` uniformly from ``[0, j_i]`` with ``j_i = deg - k + i`` and takes ``j_i``
    instead when ``t`` is already taken; all draws are made up front, the loop runs over slots.

    Shapes:
        deg: (R,) with every entry > k.  Returns: (R, k) distinct offsets per row (unordered).
    """
    j = deg.unsqueeze(1) - k + torch.arange(k, device=deg.device)  # (R, k)
    sel = _uniform_below(j + 1, generator)  # (R, k)
    for i in range(1, k):
        dup = (sel[:, :i] == sel[:, i : i + 1]).any(1)  # (R,)
        sel[:, i] = torch.where(dup, j[:, i], sel[:, i])
    return sel


def _sort_topk(deg: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    """Reference for :func:`_floyd`: random key per edge, keep the ``k`` smallest keys per row.

    Shapes:
        deg: (R,) with every entry > k.  Returns: (R, k) distinct offsets per row.
    """
    row, offset = _ragged(deg)  # (C,), (C,)
    key = torch.randint(0, 2**31, (row.numel(),), generator=generator, device=deg.device)
    order = torch.argsort(row * 2**31 + key)  # rows stay grouped, random order inside a row
    # Sorted slot p still belongs to row[p], so its rank inside the row is offset[p].
    return offset[order][offset < k].view(deg.numel(), k)  # (R, k)


def _sample_rows(
    index: GraphIndex,
    seeds: Tensor,
    fanout: int,
    replace: bool,
    generator: torch.Generator | None,
    method: str,
) -> tuple[Tensor, Tensor]:
    """CSR positions of the sampled edges and the seed position of each (non-decreasing).

    Shapes:
        seeds: (S,).  Returns: pos (E_s,), row (E_s,).
    """
    if method not in SAMPLE_METHODS:
        raise ValueError(f"unknown sampling method {method!r}; valid: {', '.join(SAMPLE_METHODS)}")
    if fanout < -1:
        raise ValueError(f"fanout must be >= 0, or -1 for all neighbours; got {fanout}")
    device = index.indices.device
    seeds = seeds.to(device=device, dtype=torch.long).view(-1)
    deg = index.in_degree[seeds]  # (S,)
    start = index.indptr[seeds]  # (S,)
    if fanout != -1 and replace:
        rows = (deg > 0).nonzero().view(-1)  # (R,)
        local = _uniform_below(deg[rows].unsqueeze(1).expand(-1, fanout), generator)  # (R, k)
        pos = start[rows].unsqueeze(1) + local  # (R, k)
        return pos.view(-1), rows.repeat_interleave(fanout)  # (R * k,)
    count = deg if fanout == -1 else deg.clamp(max=fanout)
    row, local = _ragged(count)  # (E_s,): every edge of each row, up to its count
    pos = start[row] + local
    big = (deg > count).nonzero().view(-1)  # rows that need a proper random subset
    if big.numel():
        use_floyd = method == "floyd" or (method == "auto" and fanout <= _FLOYD_MAX_FANOUT)
        pick = (_floyd if use_floyd else _sort_topk)(deg[big], fanout, generator)  # (R, k)
        first = torch.cumsum(count, 0)[big] - fanout  # (R,) first output slot of each big row
        slot = first.unsqueeze(1) + torch.arange(fanout, device=device)  # (R, k)
        pos[slot.view(-1)] = (start[big].unsqueeze(1) + pick).view(-1)  # (R * k,)
    return pos, row


def sample_neighbors(
    index: GraphIndex,
    seeds: Tensor,
    fanout: int,
    replace: bool = False,
    generator: torch.Generator | None = None,
    *,
    method: str = "auto",
) -> tuple[Tensor, Tensor]:
    """Sample up to ``fanout`` in-neighbours of every seed, uniformly.

    Without replacement each seed gets ``min(fanout, degree)`` distinct in-edges (all of them when
    ``fanout == -1``); with replacement exactly ``fanout`` independent draws (none for isolated
    nodes). Sampling is over edges: with parallel edges a neighbour can come back once per edge.

    Args:
        index: the graph.
        seeds: (S,) node ids to sample around.
        fanout: number of neighbours per seed; -1 for all.
        replace: draw with replacement.
        generator: random source (default: torch's global generator).
        method: ``"auto"``, ``"floyd"`` (fast path) or ``"sort"`` (reference); see module doc.

    Returns:
        ``(nbr, row)``: the sampled in-neighbour ids and, for each, the position of its seed in
        ``seeds`` (non-decreasing). The edges are ``nbr[i] -> seeds[row[i]]``.

    Shapes:
        seeds: (S,).  nbr, row: (E_s,) with E_s <= S * fanout.
    """
    pos, row = _sample_rows(index, seeds, fanout, replace, generator, method)
    return index.indices[pos], row


def _relabel_unique(n_id: Tensor, nodes: Tensor) -> tuple[Tensor, Tensor]:
    """Reference relabelling: append unseen ``nodes`` to ``n_id`` (in order of first appearance).

    Shapes:
        n_id: (M,) distinct.  nodes: (K,).  Returns: n_id (M',), local ids of ``nodes`` (K,).
    """
    n_old = n_id.numel()
    cat = torch.cat([n_id, nodes])  # (M + K,)
    uniq, inv = torch.unique(cat, return_inverse=True)  # (U,), (M + K,)
    first = torch.full((uniq.numel(),), cat.numel(), dtype=torch.long, device=cat.device)
    first.scatter_reduce_(0, inv, torch.arange(cat.numel(), device=cat.device), reduce="amin")
    fresh = (first >= n_old).nonzero().view(-1)  # (F,) unique ids not yet in n_id
    fresh = fresh[torch.argsort(first[fresh])]  # in order of first appearance
    local = first  # an old node's first position is its local id
    local[fresh] = torch.arange(n_old, n_old + fresh.numel(), device=cat.device)
    return torch.cat([n_id, uniq[fresh]]), local[inv[n_old:]]


def _relabel_table(n_id: Tensor, nodes: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
    """Fast path of :func:`_relabel_unique` with an (N,) lookup table (-1 = not in ``n_id``).

    Costs O(K), no sort; ``table`` is updated in place for the appended nodes.

    Shapes:
        n_id: (M,).  nodes: (K,).  table: (N,).  Returns: n_id (M',), local ids (K,).
    """
    local = table[nodes]  # (K,)
    new = (local < 0).nonzero().view(-1)
    if new.numel():
        cand = nodes[new]  # (C,) unseen, with repeats
        pos = torch.arange(cand.numel(), device=cand.device)
        table.scatter_reduce_(0, cand, pos, reduce="amin", include_self=False)
        fresh = cand[table[cand] == pos]  # first appearance of each unseen node, in order
        n_old = n_id.numel()
        table[fresh] = torch.arange(n_old, n_old + fresh.numel(), device=cand.device)
        local[new] = table[cand]
        n_id = torch.cat([n_id, fresh])
    return n_id, local


def _sample_subgraph(
    index: GraphIndex,
    seeds: Tensor,
    fanouts: list[int],
    replace: bool,
    generator: torch.Generator | None,
    method: str,
    table: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`sample_subgraph` plus the CSR position of every sampled edge, (E_s,).

    With ``table`` ((N,) long, all -1) relabelling uses the O(sample) lookup-table fast path and
    restores the table afterwards; without, the sort-based reference. Both give the same output.
    """
    device = index.indices.device
    n_id = seeds.to(device=device, dtype=torch.long).view(-1)
    if table is not None:
        table[n_id] = torch.arange(n_id.numel(), device=device)
    lo, hi = 0, n_id.numel()  # local ids [lo, hi) are the frontier still to expand
    srcs, dsts, poss = [], [], []
    for fanout in fanouts:
        if lo == hi:
            break
        pos, row = _sample_rows(index, n_id[lo:hi], fanout, replace, generator, method)
        nbr = index.indices[pos]
        n_id, src = (
            _relabel_unique(n_id, nbr) if table is None else _relabel_table(n_id, nbr, table)
        )
        srcs.append(src)
        dsts.append(row + lo)
        poss.append(pos)
        lo, hi = hi, n_id.numel()
    if table is not None:
        table[n_id] = -1
    empty = torch.empty(0, dtype=torch.long, device=device)
    edge_index = torch.stack([torch.cat(srcs or [empty]), torch.cat(dsts or [empty])])  # (2, E_s)
    return n_id, edge_index, torch.cat(poss or [empty])


def _use_table(num_nodes: int, batch_size: int, fanouts: list[int]) -> bool:
    """Whether an (N,) lookup table is cheap next to the expected sample size."""
    size = reach = batch_size
    for f in fanouts:
        reach *= 16 if f == -1 else f
        size += reach
    return num_nodes <= 32 * size


def sample_subgraph(
    index: GraphIndex,
    seeds: Tensor,
    fanouts: list[int],
    generator: torch.Generator | None = None,
    *,
    replace: bool = False,
    method: str = "auto",
) -> tuple[Tensor, Tensor, int]:
    """GraphSAGE-style multi-hop sampling around ``seeds``.

    Hop 1 samples ``fanouts[0]`` in-neighbours of every seed, hop 2 ``fanouts[1]`` in-neighbours
    of every node first reached at hop 1, and so on; nodes are expanded once, at the hop that
    reaches them. Relabelling uses an (N,) lookup table when that is small next to the sample,
    else ``torch.unique``; both give the same output.

    Args:
        index: the graph.
        seeds: (B,) distinct node ids; they come first in ``n_id``, in order.
        fanouts: neighbours per node at each hop; -1 for all.
        generator: random source (default: torch's global generator).
        replace: draw with replacement (see :func:`sample_neighbors`).
        method: without-replacement algorithm, see :func:`sample_neighbors`.

    Returns:
        ``(n_id, edge_index, batch_size)``: global ids of the subgraph's nodes (seeds first, then
        each hop's new nodes in order of discovery), the sampled edges ``source -> target`` in
        local ids, and ``batch_size = len(seeds)``.

    Shapes:
        seeds: (B,).  n_id: (M,) with M >= B.  edge_index: (2, E_s).
    """
    table = None
    if _use_table(index.num_nodes, seeds.numel(), fanouts):
        table = torch.full((index.num_nodes,), -1, dtype=torch.long, device=index.indices.device)
    n_id, edge_index, _ = _sample_subgraph(index, seeds, fanouts, replace, generator, method, table)
    return n_id, edge_index, int(seeds.numel())


def random_walk(
    index: GraphIndex, start: Tensor, walk_length: int, generator: torch.Generator | None = None
) -> Tensor:
    """Uniform random walks that step from a node to a uniformly chosen in-neighbour.

    A node without in-neighbours stays in place for the rest of its walk.

    Args:
        index: the graph.
        start: (S,) start nodes.
        walk_length: number of steps.
        generator: random source (default: torch's global generator).

    Returns:
        The visited nodes, column 0 being ``start``.

    Shapes:
        start: (S,).  Returns: (S, walk_length + 1).
    """
    if walk_length < 0:
        raise ValueError(f"walk_length must be >= 0, got {walk_length}")
    device = index.indices.device
    cur = start.to(device=device, dtype=torch.long).view(-1)
    walk = [cur]
    for _ in range(walk_length):
        deg = index.in_degree[cur]  # (S,)
        has = deg > 0
        nxt = cur.clone()
        if bool(has.any()):
            step = _uniform_below(deg[has], generator)
            nxt[has] = index.indices[index.indptr[cur[has]] + step]
        walk.append(nxt)
        cur = nxt
    return torch.stack(walk, dim=1)  # (S, walk_length + 1)


def k_hop_nodes(index: GraphIndex, seeds: Tensor, k: int) -> Tensor:
    """Sorted unique ids of the nodes within ``k`` hops of ``seeds`` (seeds included).

    Hops follow in-edges (from a node to its in-neighbours). Each hop touches only the edges of
    the newly reached nodes.

    Args:
        index: the graph.
        seeds: (S,) node ids.
        k: number of hops (0 returns the unique seeds).

    Returns:
        Sorted node ids.

    Shapes:
        seeds: (S,).  Returns: (M,).
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    device = index.indices.device
    visited = torch.unique(seeds.to(device=device, dtype=torch.long).view(-1))  # sorted
    frontier = visited
    for _ in range(k):
        if frontier.numel() == 0:
            break
        pos, _ = _sample_rows(index, frontier, -1, False, None, "auto")
        nbr = torch.unique(index.indices[pos])
        frontier = nbr[~torch.isin(nbr, visited)]
        visited = torch.sort(torch.cat([visited, frontier])).values
    return visited
