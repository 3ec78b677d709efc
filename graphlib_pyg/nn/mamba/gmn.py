"""GMN: Graph Mamba Networks with random-walk neighbourhood tokens and bidirectional scans.

"Graph Mamba: Towards Learning on Graphs with State Space Models" (Behrouz & Hashemi, KDD 2024,
https://arxiv.org/abs/2402.08678). Its five steps, as built here:

1. **Tokenization** (:class:`WalkTokenizer`): for node ``v``, walk length ``k`` in ``1..m`` and
   sample ``j`` in ``1..s``, the union of ``M`` random walks of length ``k`` from ``v`` is one
   token (a small subgraph around ``v``). ``m = 0`` leaves only the node itself.
2. **Ordering**: the ``m * s + 1`` tokens of a node are ordered from the largest walk length
   to the smallest, and the node itself last, so the state that reaches the node has seen the
   widest context first. (The ``s`` samples of one length are i.i.d., so their order is
   already random.)
3. **Token encoding**: each token is encoded by a GIN-style MPNN over its induced subgraph and a
   mean readout (``token_encoder="mpnn"``, the union graph is built in one batch), or by the
   mean of its nodes' features (``"mean"``, cheaper).
4. **Bidirectional selective SSM** over each node's token sequence (:class:`BiMamba`,
   ``num_layers`` residual blocks); the output at the node's own position is its state.
5. **Node sequence and local encoding**: ``node_layers`` :class:`GraphMambaLayer` s, each a
   BiMamba mixer over degree-ordered nodes plus an optional MPNN branch (``global_mixer``,
   ``local_conv``); stacking them widens the message-passing reach beyond the walk tokens.

Positional/structural encodings are added to ``x`` beforehand with PyG transforms
(``AddRandomWalkPE``, ``AddLaplacianEigenvectorPE``). Tokens are sampled afresh at every
training step and from a fixed seed in evaluation. Only the ``seeds`` are encoded, so a model
can run on mini-batches of seed nodes (their tokens read features from the whole graph).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GINConv

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.data.sampling import random_walk
from graphlib_pyg.nn.checks import check_channels, check_graph, tensor_key
from graphlib_pyg.nn.conv.resolver import ConvChoice, make_conv
from graphlib_pyg.nn.mamba.block import BiMamba
from graphlib_pyg.nn.mamba.graph_mamba import GraphMambaLayer


class WalkTokenizer:
    """Random-walk neighbourhood tokens of seed nodes (GMN's tokenization and ordering).

    Args:
        num_walks: Walks per token, M. (default: 4)
        walk_length: Largest walk length, m (0: the node itself only). (default: 3)
        num_samples: Tokens per walk length, s. (default: 2)

    Returns ``(token, node)``: the members of every token as sorted unique pairs, where token
    ``i * T + p`` is position ``p`` of seed ``i``'s sequence and ``T = m * s + 1``.
    """

    def __init__(self, num_walks: int = 4, walk_length: int = 3, num_samples: int = 2) -> None:
        if num_walks < 1 or walk_length < 0 or num_samples < 1:
            raise ValueError(
                f"need num_walks >= 1, walk_length >= 0, num_samples >= 1; got "
                f"{num_walks}, {walk_length}, {num_samples}"
            )
        self.num_walks, self.walk_length, self.num_samples = num_walks, walk_length, num_samples

    @property
    def sequence_length(self) -> int:
        return self.walk_length * self.num_samples + 1

    def __call__(
        self, index: GraphIndex, seeds: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        n, T = index.num_nodes, self.sequence_length
        num_seeds = seeds.numel()
        pos = torch.arange(num_seeds) * T
        tokens, nodes = [pos + T - 1], [seeds]  # the node itself, last
        per = self.num_samples * self.num_walks
        for k in range(1, self.walk_length + 1):
            walks = random_walk(index, seeds.repeat_interleave(per), k, generator)  # (S*s*M, k+1)
            sample = torch.arange(per).repeat(num_seeds) // self.num_walks  # (S*s*M,)
            # position of (walk length k, sample j): longest walks first
            p = pos.repeat_interleave(per) + (self.walk_length - k) * self.num_samples + sample
            tokens.append(p.repeat_interleave(k + 1))
            nodes.append(walks.reshape(-1))
        keys = torch.unique(torch.cat(tokens) * n + torch.cat(nodes))  # sorted, deduplicated
        return keys // n, keys % n


def _induced_edges(index: GraphIndex, token: Tensor, node: Tensor) -> Tensor:
    """Edges of each token's induced subgraph, as (2, E') positions into ``(token, node)``."""
    n = index.num_nodes
    keys = token * n + node  # sorted
    deg = index.in_degree[node]
    member = torch.repeat_interleave(torch.arange(node.numel()), deg)  # (C,) target member
    start = index.indptr[node].repeat_interleave(deg)
    offset = torch.arange(member.numel()) - (torch.cumsum(deg, 0) - deg).repeat_interleave(deg)
    src_node = index.indices[start + offset]  # in-neighbour of the member
    cand = token[member] * n + src_node
    loc = torch.searchsorted(keys, cand).clamp_(max=max(keys.numel() - 1, 0))
    hit = keys[loc] == cand if keys.numel() else torch.zeros_like(cand, dtype=torch.bool)
    return torch.stack([loc[hit], member[hit]])


class GMN(nn.Module):
    """Graph Mamba Network (GMN) for node tasks; see the module docstring for the steps.

    Args:
        in_channels: Input features (with any PE/SE already concatenated).
        hidden_channels: Width.
        out_channels: Outputs per node.
        num_layers: BiMamba blocks over the token sequences. (default: 2)
        dropout: Dropout. (default: 0.0)
        num_walks, walk_length, num_samples: M, m, s of :class:`WalkTokenizer`.
        token_encoder: ``"mpnn"`` (GIN on each token's induced subgraph) or ``"mean"``.
        global_mixer: Add the degree-ordered node-sequence BiMamba layers. (default: True)
        local_conv: MPNN branch of those layers (a resolver name such as ``"gcn"``, ``"gin"``,
            ``"sage"``, a factory ``make_conv(in, out)``, or None).
        node_layers: How many node-sequence layers to stack (with ``global_mixer``). (default: 1)
        d_state: SSM state size. (default: 16)
        expand: Mamba inner expansion. (default: 1)
        noise: Random tie-breaking in the degree order (see :class:`GraphMambaLayer`).
        eval_seed: Random seed of the tokens and node orders in evaluation, so that evaluation is
            deterministic; training draws afresh every step. (default: 0)

    A malformed ``edge_index`` or a feature width other than ``in_channels`` raises a
    ``ValueError`` that names it; a graph without nodes (or no seeds) gives a (0, out_channels)
    output.

    Shapes:
        - **input:** x (N, in_channels), edge_index (2, E), seeds (S,) or None (all nodes),
          batch (N,) graph of each node or None
        - **output:** (S, out_channels)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.0,
        num_walks: int = 4,
        walk_length: int = 3,
        num_samples: int = 2,
        token_encoder: str = "mpnn",
        global_mixer: bool = True,
        local_conv: ConvChoice = "gcn",
        node_layers: int = 1,
        d_state: int = 16,
        expand: int = 1,
        noise: bool = True,
        eval_seed: int = 0,
    ) -> None:
        super().__init__()
        if token_encoder not in ("mpnn", "mean"):
            raise ValueError(f"unknown token_encoder {token_encoder!r}; valid: mpnn, mean")
        self.tokenizer = WalkTokenizer(num_walks, walk_length, num_samples)
        self.token_encoder, self.dropout, self.eval_seed = token_encoder, dropout, eval_seed
        self.encoder = nn.Linear(in_channels, hidden_channels)
        self.token_conv = (
            GINConv(
                nn.Sequential(
                    nn.Linear(hidden_channels, hidden_channels),
                    nn.ReLU(),
                    nn.Linear(hidden_channels, hidden_channels),
                ),
                train_eps=True,
            )
            if token_encoder == "mpnn"
            else None
        )
        mamba = {"d_state": d_state, "expand": expand}
        self.blocks = nn.ModuleList(BiMamba(hidden_channels, **mamba) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_channels) for _ in range(num_layers))
        if node_layers < 1:
            raise ValueError(f"node_layers must be at least 1, got {node_layers}")
        self.node_layers = nn.ModuleList(
            GraphMambaLayer(
                hidden_channels,
                make_conv(local_conv, hidden_channels),
                BiMamba(hidden_channels, **mamba),
                dropout=dropout,
                noise=noise,
                eval_seed=eval_seed + 1 + i,
            )
            for i in range(node_layers if global_mixer else 0)
        )
        self.head = nn.Linear(hidden_channels, out_channels)
        self._index_key: tuple | None = None
        self._index: GraphIndex | None = None

    def reset_parameters(self) -> None:
        for mod in self.modules():
            if mod is not self and hasattr(mod, "reset_parameters"):
                mod.reset_parameters()

    def _graph_index(self, edge_index: Tensor, num_nodes: int) -> GraphIndex:
        tkey = tensor_key(edge_index)  # None for an inference tensor: not cached
        key = None if tkey is None else (*tkey, edge_index.data_ptr(), num_nodes)
        if key is None or key != self._index_key:  # walks are sampled on the CPU
            self._index, self._index_key = GraphIndex(edge_index.cpu(), num_nodes), key
        return self._index

    def tokens(self, x: Tensor, index: GraphIndex, seeds: Tensor) -> Tensor:
        """Encoded token sequences of ``seeds``: (S, T, hidden)."""
        gen = None
        if not self.training:
            gen = torch.Generator().manual_seed(self.eval_seed)
        token, node = self.tokenizer(index, seeds.cpu(), gen)  # on the CPU, with the index
        h = self.encoder(x)[node.to(x.device)]  # (C, hidden): one row per (token, member)
        if self.token_conv is not None:
            edges = _induced_edges(index, token, node).to(x.device)
            h = F.relu(self.token_conv(h, edges))
        num_tokens = seeds.numel() * self.tokenizer.sequence_length
        count = torch.bincount(token, minlength=num_tokens).clamp_(min=1).to(h)
        token = token.to(x.device)
        pooled = h.new_zeros(num_tokens, h.size(1)).index_add_(0, token, h) / count[:, None]
        return pooled.view(seeds.numel(), self.tokenizer.sequence_length, h.size(1))

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        seeds: Tensor | None = None,
        batch: Tensor | None = None,
    ) -> Tensor:
        check_channels(x, self.encoder.in_features, name="GMN")
        check_graph(edge_index, x.size(0), name="GMN")
        index = self._graph_index(edge_index, x.size(0))
        all_nodes = seeds is None
        seeds = torch.arange(x.size(0)) if seeds is None else seeds.reshape(-1)
        if seeds.numel() and (int(seeds.min()) < 0 or int(seeds.max()) >= x.size(0)):
            raise ValueError(
                f"GMN: seeds must lie in [0, {x.size(0)}), got min {int(seeds.min())} "
                f"max {int(seeds.max())}"
            )
        h = self.tokens(x, index, seeds)  # (S, T, C)
        for block, norm in zip(self.blocks, self.norms, strict=True):
            h = norm(h + F.dropout(block(h), self.dropout, self.training))
        h = h[:, -1]  # the node's own position
        if len(self.node_layers):
            if all_nodes:
                sub = edge_index
            else:  # edges among the seeds, relabelled
                local = torch.full((x.size(0),), -1, dtype=torch.long, device=edge_index.device)
                local[seeds.to(local.device)] = torch.arange(seeds.numel(), device=local.device)
                sub = local[edge_index]
                sub = sub[:, (sub >= 0).all(0)]
            for layer in self.node_layers:
                h = layer(h, sub, None if batch is None else batch[seeds])
        return self.head(h)


__all__ = ["GMN", "WalkTokenizer"]
