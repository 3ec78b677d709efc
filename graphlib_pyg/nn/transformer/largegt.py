"""LargeGT (Dwivedi et al., "Graph Transformers for Large Graphs", 2023): local + global attention
over sampled neighbourhoods, trained on mini-batches of seed nodes.

* **Sampling.** Each seed gets ``num_samples - 1`` nodes drawn from its 1-hop and 2-hop
  neighbourhood: every draw is a uniform random walk of one or two steps (the hop picked at
  random), so nodes are drawn with replacement, a node without neighbours repeats itself, and no
  2-hop adjacency is ever built (:func:`sample_neighborhood`, on the data layer's CSR index).
* **Hop tokens.** Every node contributes three tokens ``[x, Âx, Â²x]``, precomputed once with the
  cached normalised sparse adjacency (:func:`hop_features`); attention over the ``3K`` tokens of
  a seed's sample then sees up to 4 hops while only 2-hop operations were run.
* **Local module.** A transformer encoder over the seed's tokens (token projection plus a learnt
  hop embedding) and an attention-weighted readout into one vector.
* **Global module.** Attention from each seed to a codebook of centroids of the projected node
  features, kept by exponential-moving-average k-means (:class:`VQCodebook`), with a log-count
  bias so that centroids standing for many nodes weigh more.
* **Prediction.** The local and global vectors, concatenated, through an MLP head.

Memory depends on the batch of seeds, not on the graph: the only per-graph state is the hop
features (3 x the feature matrix) and the CSR index; with ``hop_cache=False`` each batch computes
its own hop rows from its sample's 2-hop edges and no per-graph array beyond the graph and its
adjacency is kept.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import Tensor, nn

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.data.sampling import _ragged, random_walk
from graphlib_pyg.nn.checks import check_channels, tensor_key


def sample_neighborhood(
    index: GraphIndex, seeds: Tensor, num_samples: int, generator: torch.Generator | None = None
) -> Tensor:
    """The seed followed by ``num_samples - 1`` nodes from its 1- and 2-hop neighbourhood.

    Each draw is a random walk of 1 or 2 uniform steps (hop chosen with probability 1/2), so the
    draws are with replacement; a seed without neighbours repeats itself (padding).

    Shapes:
        seeds: (B,).  Returns: (B, num_samples), column 0 the seeds.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    seeds = seeds.long().view(-1)
    draws = num_samples - 1
    if draws == 0:
        return seeds.unsqueeze(1)
    walks = random_walk(index, seeds.repeat_interleave(draws), 2, generator)  # (B * d, 3)
    two = torch.rand(walks.size(0), generator=generator) < 0.5
    picked = torch.where(two, walks[:, 2], walks[:, 1]).view(-1, draws)  # (B, d)
    return torch.cat([seeds.unsqueeze(1), picked], dim=1)


def hop_features(x: Tensor, adj: Tensor, hops: int = 2, dtype: torch.dtype | None = None) -> Tensor:
    """``[x, Âx, ..., Â^hops x]``, hop-major, with ``adj`` the sparse ``Â``.

    Each product is written straight into its slice of the output (``torch.mm(..., out=)``),
    so no full-size temporary exists in full precision; with a lower ``dtype`` (default
    ``x.dtype``) one full-precision hop at a time is kept and copied in.

    Shapes:
        x: (N, F).  adj: (N, N) sparse.  Returns: (hops + 1, N, F).
    """
    dtype = dtype or x.dtype
    out = torch.empty(hops + 1, x.size(0), x.size(1), dtype=dtype, device=x.device)
    out[0] = x
    adj = getattr(adj, "plain", adj)  # SparseAdj: its plain CSR tensor
    if dtype == x.dtype and not x.is_cuda:  # CUDA's sparse mm takes no out= slice
        for k in range(1, hops + 1):
            torch.mm(adj, out[k - 1], out=out[k])
        return out
    h = x
    for k in range(1, hops + 1):
        h = torch.mm(adj, h)
        out[k] = h
    return out


def _csr_select(adj: Tensor, rows: Tensor, cols: Tensor | None = None) -> Tensor:
    """Rows ``rows`` of the sparse CSR matrix ``adj`` as a new CSR matrix.

    With ``cols`` (sorted unique column ids that include every column those rows use) the
    columns are renumbered to positions in ``cols``; otherwise they keep ``adj``'s numbering.

    Shapes:
        adj: (N, M) sparse CSR.  rows: (R,).  Returns: (R, M) or (R, len(cols)).
    """
    crow, col, val = adj.crow_indices(), adj.col_indices(), adj.values()
    start, count = crow[rows], crow[rows + 1] - crow[rows]  # (R,) each
    owner, offset = _ragged(count)  # (nnz_R,)
    pos = start[owner] + offset  # CSR positions of the selected rows' entries
    c = col[pos]
    width = adj.size(1)
    if cols is not None:
        c, width = torch.searchsorted(cols, c), cols.numel()
    new_crow = torch.zeros(rows.numel() + 1, dtype=crow.dtype, device=crow.device)
    torch.cumsum(count, 0, out=new_crow[1:])
    return torch.sparse_csr_tensor(new_crow, c, val[pos], (rows.numel(), width))


def hop_rows(x: Tensor, adj: Tensor, nodes: Tensor) -> Tensor:
    """Rows ``nodes`` of ``[x, Âx, Â²x]`` without the full-graph products.

    ``Âx`` is computed for the distinct sampled nodes and their neighbours only, and ``Â²x``
    from those: the work is the 2-hop edges of the sample, the memory a few times the sample's
    rows, whatever the size of the graph. The same values as :func:`hop_features` (up to float
    summation order).

    Shapes:
        x: (N, F).  adj: (N, N) sparse CSR.  nodes: (M,).  Returns: (M, 3, F).
    """
    adj = getattr(adj, "plain", adj)
    u, inv = torch.unique(nodes, return_inverse=True)  # (U,), (M,)
    a_u = _csr_select(adj, u)  # (U, N)
    v = torch.unique(a_u.col_indices())  # (V,) the sample's neighbours, sorted
    ax_v = torch.mm(_csr_select(adj, v), x)  # (V, F): Âx on the neighbours
    a_uv = _csr_select(adj, u, v)  # (U, V)
    ax_u = torch.mm(a_u, x)  # (U, F)
    a2x_u = torch.mm(a_uv, ax_v)  # (U, F)
    return torch.stack([x[u], ax_u, a2x_u], dim=1)[inv]  # (M, 3, F)


class VQCodebook(nn.Module):
    """Centroids of node embeddings kept by EMA k-means, read by attention with a log-count bias.

    In training, :meth:`update` assigns each embedding to its nearest centroid and moves every
    centroid towards the mean of its members with decay ``decay`` (counts decay the same way);
    centroids are buffers, not parameters. In a data-parallel run the batch statistics are
    all-reduced first, so every replica makes the same update. :meth:`forward` is attention
    from queries to the centroids: ``softmax(q k_c / sqrt(d) + log(count_c)) v_c``.

    Args:
        num_centroids: codebook size.
        dim: embedding width.
        decay: EMA decay of the centroid sums and counts.

    Shapes:
        - **update input:** z (B, dim)
        - **forward input:** q (B, dim), keys/values projections applied inside
        - **output:** (B, dim)
    """

    def __init__(self, num_centroids: int, dim: int, decay: float = 0.99) -> None:
        super().__init__()
        if num_centroids < 1 or not 0.0 < decay < 1.0:
            raise ValueError(f"need num_centroids >= 1 and 0 < decay < 1, got {num_centroids}")
        self.num_centroids, self.dim, self.decay = num_centroids, dim, decay
        self.register_buffer("centroids", torch.randn(num_centroids, dim))
        self.register_buffer("sums", self.centroids.clone())
        self.register_buffer("counts", torch.ones(num_centroids))
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)

    def reset_parameters(self) -> None:
        self.centroids.normal_()
        self.sums.copy_(self.centroids)
        self.counts.fill_(1.0)
        self.key.reset_parameters()
        self.value.reset_parameters()

    def assign(self, z: Tensor) -> Tensor:
        """Index of the nearest centroid of each row of ``z``."""
        d = torch.cdist(z.detach(), self.centroids)  # (B, C)
        return d.argmin(dim=1)

    @torch.no_grad()
    def update(self, z: Tensor) -> None:
        """One EMA k-means step on the batch ``z`` (B, dim)."""
        z = z.detach()
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if z.size(0) == 0 and not distributed:  # an empty batch moves nothing (not even counts)
            return
        a = self.assign(z)
        count = torch.bincount(a, minlength=self.num_centroids).to(z.dtype)
        total = torch.zeros_like(self.sums).index_add_(0, a, z)
        if distributed:
            dist.all_reduce(count)  # data-parallel: one EMA step on the global batch, so the
            dist.all_reduce(total)  # replicas' codebooks stay identical
        self.counts.mul_(self.decay).add_(count, alpha=1 - self.decay)
        self.sums.mul_(self.decay).add_(total, alpha=1 - self.decay)
        self.centroids.copy_(self.sums / self.counts.clamp(min=1e-6).unsqueeze(1))

    def forward(self, q: Tensor) -> Tensor:
        # A copy while autograd records: update() moves the centroids in place, and a later
        # chunk's update must not change what this chunk's backward reads.
        c = self.centroids.clone() if torch.is_grad_enabled() else self.centroids
        k, v = self.key(c), self.value(c)  # (C, dim)
        logits = q @ k.t() / math.sqrt(self.dim) + self.counts.clamp(min=1e-6).log()
        return torch.softmax(logits, dim=-1) @ v  # (B, dim)


class LargeGT(nn.Module):
    """LargeGT for node classification on large graphs (see the module docstring).

    Use it in two steps: :meth:`prepare` once per graph (hop features and CSR index), then
    :meth:`forward_seeds` on mini-batches of seed nodes. ``forward(x, adj)`` does both for every
    node in chunks of ``seed_batch``, so the model also fits the ``model(x, adj)`` convention.

    Args:
        in_channels: node feature width F.
        hidden_channels: token width d.
        out_channels: number of classes.
        num_layers: transformer encoder layers of the local module.
        num_samples: K, nodes per seed's sample (seed included); 3K tokens.
        heads: attention heads.
        num_centroids: codebook size of the global module (0: local module only).
        decay: EMA decay of the codebook.
        dropout: dropout in the encoder (after attention, inside and after the feed-forward
            block) and in the head.
        attn_dropout: dropout on the attention weights. The reference implementation's
            default is 0; any other value also takes the encoder's attention off the fused
            kernel (the weights must be materialised to drop them), which on CPU costs about
            1.5-2x per training step.
        seed_batch: seeds per chunk in :meth:`forward`.
        hop_dtype: storage type of the precomputed hop features, ``"float32"`` or
            ``"float16"`` (half the memory of the largest per-graph array; tokens are computed
            in float32 after the gather).
        hop_cache: precompute ``[x, Âx, Â²x]`` for the whole graph in :meth:`prepare` (3x the
            feature matrix, fastest) or, with ``False``, compute each batch's rows from its
            sample's 2-hop edges (:func:`hop_rows`): no per-graph array beyond the graph and
            its adjacency, at the cost of the sparse products in every batch.

    Shapes:
        - **forward_seeds input:** seeds (B,)
        - **output:** (B, out_channels)
    """

    HOPS = 2

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        num_samples: int = 20,
        heads: int = 4,
        num_centroids: int = 256,
        decay: float = 0.99,
        dropout: float = 0.1,
        attn_dropout: float = 0.0,
        seed_batch: int = 1024,
        hop_dtype: str = "float32",
        hop_cache: bool = True,
    ) -> None:
        super().__init__()
        self.hop_cache = hop_cache
        if hop_dtype not in ("float32", "float16"):
            raise ValueError(f"hop_dtype must be 'float32' or 'float16', got {hop_dtype!r}")
        self.hop_dtype = getattr(torch, hop_dtype)
        if hidden_channels % heads:
            raise ValueError(f"hidden_channels={hidden_channels} must divide by heads={heads}")
        self.num_samples, self.seed_batch = num_samples, seed_batch
        self.token = nn.Linear(in_channels, hidden_channels)
        self.hop_emb = nn.Parameter(torch.zeros(self.HOPS + 1, hidden_channels))
        layer = nn.TransformerEncoderLayer(
            hidden_channels,
            heads,
            2 * hidden_channels,
            dropout,
            batch_first=True,
            norm_first=True,
        )
        if not 0.0 <= attn_dropout < 1.0:
            raise ValueError(f"attn_dropout must lie in [0, 1), got {attn_dropout}")
        layer.self_attn.dropout = attn_dropout  # copied into every layer below
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.readout = nn.Linear(hidden_channels, 1)
        self.codebook = VQCodebook(num_centroids, hidden_channels, decay) if num_centroids else None
        self.query = nn.Linear(hidden_channels, hidden_channels)
        width = 2 * hidden_channels if num_centroids else hidden_channels
        self.head = nn.Sequential(
            nn.Linear(width, hidden_channels),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_channels, out_channels),
        )
        self._ctx: tuple | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm)):
                m.reset_parameters()
            elif isinstance(m, nn.MultiheadAttention):
                m._reset_parameters()
        nn.init.normal_(self.hop_emb, std=0.02)
        if self.codebook is not None:
            self.codebook.reset_parameters()

    def prepare(self, x: Tensor, adj: Tensor, index: GraphIndex | None = None) -> None:
        """Precompute the hop features ``[x, Âx, Â²x]`` (or, without ``hop_cache``, keep ``x`` and
        ``adj`` to compute them per batch) and the CSR index of one graph."""
        check_channels(x, self.token.in_features, name="LargeGT")
        n = x.size(0)
        if adj.size(0) != n or adj.size(1) != n:
            raise ValueError(
                f"LargeGT: adj must be the ({n}, {n}) adjacency of x's {n} nodes, "
                f"got {tuple(adj.size())}"
            )
        if index is None:
            crow, col = adj.crow_indices(), adj.col_indices()
            rows = torch.repeat_interleave(torch.arange(crow.numel() - 1), crow.diff())
            keep = rows != col  # the sampler walks the graph without its self-loops
            index = GraphIndex(torch.stack([col[keep], rows[keep]]), x.size(0))
        if not self.hop_cache:
            self._ctx = ((x.float(), getattr(adj, "plain", adj)), index)
            return
        with torch.no_grad():
            feats = hop_features(x.float(), adj, self.HOPS, self.hop_dtype)  # (3, N, F)
        self._ctx = (feats, index)

    def forward_seeds(self, seeds: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self._ctx is None:
            raise RuntimeError("call prepare(x, adj) before forward_seeds(seeds)")
        feats, index = self._ctx
        if seeds.numel() and (int(seeds.min()) < 0 or int(seeds.max()) >= index.num_nodes):
            raise ValueError(f"seed ids must lie in [0, {index.num_nodes}) for this graph")
        sample = sample_neighborhood(index, seeds, self.num_samples, generator)  # (B, K)
        b, k = sample.shape
        flat = sample.view(-1).to(feats[0].device)  # sampled on the CPU; rows where stored
        if self.hop_cache:
            rows = feats[:, flat].transpose(0, 1)  # (B K, 3, F)
        else:
            with torch.no_grad():
                rows = hop_rows(*feats, flat)  # (B K, 3, F)
        rows = rows.to(self.hop_emb.device, torch.float32)
        tokens = self.token(rows)  # (B K, 3, d)
        tokens = (tokens + self.hop_emb).view(b, k * (self.HOPS + 1), tokens.size(-1))  # (B, 3K, d)
        h = self.encoder(tokens)  # (B, 3K, d)
        weights = torch.softmax(self.readout(h).squeeze(-1), dim=1)  # (B, 3K)
        local = (weights.unsqueeze(-1) * h).sum(1)  # (B, d)
        if self.codebook is None:
            return self.head(local)
        z = tokens[:, 0]  # the seed's own projected features (hop 0)
        if self.training:
            self.codebook.update(z)
        glob = self.codebook(self.query(z))
        return self.head(torch.cat([local, glob], dim=1))

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        """Outputs for every node, computed in chunks of ``seed_batch`` seeds."""
        tkey = tensor_key(x)  # None for an inference tensor: prepared on every call
        key = None if tkey is None else (*tkey, x.data_ptr(), tuple(x.shape), id(adj))
        if key is None or getattr(self, "_key", None) != key:
            self.prepare(x, adj)
            self._key = key
        seeds = torch.arange(x.size(0))
        return torch.cat([self.forward_seeds(s) for s in seeds.split(self.seed_batch)])
