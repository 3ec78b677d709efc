"""Graph-Mamba: a GPS-style layer whose global mixer is a Mamba block over degree-ordered nodes.

"Graph-Mamba: Towards Long-Range Graph Sequence Modeling with Selective State Spaces" (Wang et
al., 2024, https://arxiv.org/abs/2402.00789). The layer has PyG ``GPSConv``'s anatomy (local MPNN
branch, global branch, sum, feed-forward, residuals and norms) with attention replaced by a
sequence mixer over each graph's nodes sorted by degree (lowest first, so the best-connected
nodes, which see the most context, come last). During training ties are broken by uniform
noise, ``key = degree + U(0, 1)``, a fresh random order among equal-degree nodes each step; in
evaluation the mixer output is averaged over ``eval_orderings`` such orders. With ``noise=False``
ties are broken by node index, so the layer is permutation-equivariant on graphs whose node
degrees are distinct. ``bucket_size`` splits each graph's nodes into random buckets of about that
size (sorted by degree inside), so a long sequence becomes several short ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.resolver import activation_resolver, normalization_resolver
from torch_geometric.utils import degree, to_dense_batch

from graphlib_pyg.nn.checks import check_channels, check_graph
from graphlib_pyg.nn.conv.resolver import ConvChoice, make_conv
from graphlib_pyg.nn.mamba.block import Mamba
from graphlib_pyg.nn.stack import LayerStack


def degree_order(
    edge_index: Tensor,
    num_nodes: int,
    batch: Tensor | None = None,
    noise: bool = True,
    bucket_size: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Node order for the sequence mixer: by graph, then (bucket), then degree (+ noise).

    Returns ``perm`` (nodes in sequence order) and ``seq`` (the sequence id of each position,
    ascending, for ``to_dense_batch``). The noise and buckets are drawn from ``generator``
    (default: the global one).
    """
    deg = degree(edge_index[1], num_nodes, dtype=torch.float64)  # (N,) in-degree
    batch = batch if batch is not None else deg.new_zeros(num_nodes, dtype=torch.long)
    if num_nodes == 0:
        return batch.new_zeros(0), batch.new_zeros(0)
    rand = {"dtype": torch.float64, "device": deg.device, "generator": generator}
    key = deg + torch.rand(num_nodes, **rand) if noise else deg.clone()
    group = batch.clone()
    if bucket_size is not None and bucket_size > 0:
        sizes = torch.bincount(batch, minlength=int(batch.max()) + 1)
        buckets = (sizes + bucket_size - 1) // bucket_size  # (G,) buckets per graph
        offset = torch.cumsum(buckets, 0) - buckets
        # a random rank of each node inside its graph, cut into ``buckets[g]`` even pieces
        rnd = torch.rand(num_nodes, **rand) + batch.to(deg)
        order = torch.argsort(rnd)
        rank = torch.empty_like(order)
        first = (torch.cumsum(sizes, 0) - sizes)[batch[order]]  # each graph's first position
        rank[order] = torch.arange(num_nodes, device=deg.device) - first
        piece = rank * buckets[batch] // sizes[batch].clamp(min=1)
        group = offset[batch] + piece
    # sort by (group, key): key lies in [0, max_deg + 1)
    span = float(key.max()) + 2.0
    perm = torch.argsort(group.to(torch.float64) * span + key, stable=True)
    return perm, group[perm]


class GraphMambaLayer(nn.Module):
    r"""GPS-style layer with a Mamba mixer over degree-ordered nodes (Graph-Mamba).

    .. math::
        h_{loc} = \mathrm{norm}(x + \mathrm{conv}(x)),\quad
        h_{glob} = \mathrm{norm}(x + P^\top \mathrm{Mixer}(P x)),\quad
        h = h_{loc} + h_{glob},\quad \text{out} = \mathrm{norm}(h + \mathrm{FFN}(h))

    with :math:`P` the degree (+ noise) order of each graph's nodes.

    Args:
        channels: Node channels.
        local_conv: Local message passing layer (``channels -> channels``) or None.
        mixer: Sequence mixer called as ``mixer(x, mask)`` on (B, L, channels); default
            :class:`Mamba` (channels).
        dropout: Dropout after each branch and in the FFN. (default: 0.0)
        act: FFN activation. (default: ``"relu"``)
        norm: PyG normalisation name. (default: ``"batch_norm"``)
        noise: Break degree ties with random noise. (default: True)
        eval_orderings: Random orders averaged in evaluation (when ``noise``). (default: 5)
        bucket_size: Random buckets of about this many nodes per sequence. (default: None)
        eval_seed: Seed of the orders and buckets drawn in evaluation, so that evaluation is
            deterministic (training draws from the global generator). (default: 0)

    A malformed ``edge_index`` or a feature width other than ``channels`` raises a
    ``ValueError`` that names it (:mod:`graphlib_pyg.nn.checks`); a graph with no nodes gives
    an empty (0, channels) output.

    Shapes:
        - **input:** x (N, channels), edge_index (2, E), batch (N,) or None
        - **output:** (N, channels)
    """

    def __init__(
        self,
        channels: int,
        local_conv: MessagePassing | None,
        mixer: nn.Module | None = None,
        dropout: float = 0.0,
        act: str = "relu",
        norm: str | None = "batch_norm",
        noise: bool = True,
        eval_orderings: int = 5,
        bucket_size: int | None = None,
        eval_seed: int = 0,
    ) -> None:
        super().__init__()
        self.channels, self.dropout = channels, dropout
        self.noise, self.eval_orderings, self.bucket_size = noise, eval_orderings, bucket_size
        self.eval_seed = eval_seed
        self.conv = local_conv
        self.mixer = mixer if mixer is not None else Mamba(channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, 2 * channels),
            activation_resolver(act),
            nn.Dropout(dropout),
            nn.Linear(2 * channels, channels),
            nn.Dropout(dropout),
        )
        self.norm1 = normalization_resolver(norm, channels)
        self.norm2 = normalization_resolver(norm, channels)
        self.norm3 = normalization_resolver(norm, channels)

    def reset_parameters(self) -> None:
        for mod in (self.conv, self.mixer, self.norm1, self.norm2, self.norm3):
            if mod is not None and hasattr(mod, "reset_parameters"):
                mod.reset_parameters()
        for mod in self.mlp:
            if isinstance(mod, nn.Linear):
                mod.reset_parameters()

    def _norm(self, norm, h: Tensor) -> Tensor:
        return h if norm is None else norm(h)

    def mix(self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None) -> Tensor:
        """The global branch before dropout/residual: the mixer over ordered nodes."""
        rounds = self.eval_orderings if (self.noise and not self.training) else 1
        gen = None
        if not self.training:  # the same orders (and buckets) on every evaluation call
            gen = torch.Generator(device=x.device).manual_seed(self.eval_seed)
        out = x.new_zeros(x.shape)
        if x.size(0) == 0:
            return out
        for _ in range(max(rounds, 1)):
            perm, seq = degree_order(
                edge_index, x.size(0), batch, self.noise, self.bucket_size, gen
            )
            dense, mask = to_dense_batch(x[perm], seq)  # (S, L, C), (S, L)
            h = self.mixer(dense, mask)[mask]  # (N, C) in sequence order
            out = out.index_add(0, perm, h.to(out.dtype))  # h is bf16 under autocast
        return out / max(rounds, 1)

    def forward(
        self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None, **kwargs
    ) -> Tensor:
        name = type(self).__name__
        check_channels(x, self.channels, name=name)
        check_graph(edge_index, x.size(0), name=name)
        if batch is not None and tuple(batch.shape) != (x.size(0),):
            raise ValueError(
                f"{name}: batch must be (num_nodes={x.size(0)},), got {tuple(batch.shape)}"
            )
        hs = []
        if self.conv is not None:
            h = F.dropout(self.conv(x, edge_index, **kwargs), self.dropout, self.training)
            hs.append(self._norm(self.norm1, h + x))
        h = F.dropout(self.mix(x, edge_index, batch), self.dropout, self.training)
        hs.append(self._norm(self.norm2, h + x))
        out = sum(hs)
        return self._norm(self.norm3, out + self.mlp(out))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, conv={self.conv}, mixer={self.mixer})"


class GraphMamba(LayerStack):
    """Graph-Mamba network for node tasks: encoder, ``num_layers`` :class:`GraphMambaLayer`, head.

    Args:
        in_channels: Input features.
        hidden_channels: Width.
        out_channels: Outputs per node.
        num_layers: Layers. (default: 2)
        dropout: Dropout in the layers. (default: 0.0)
        local_conv: a :mod:`~graphlib_pyg.nn.conv.resolver` name (``"gcn"``, ``"gin"``,
            ``"sage"``, ...), a factory ``make_conv(in, out)``, or ``None`` (mixer only).
        **layer_kwargs: Arguments of :class:`GraphMambaLayer` (noise, eval_orderings, ...) and
            ``d_state`` of the Mamba mixer; layer ``i`` evaluates with ``eval_seed + i``.

    Shapes:
        - **input:** x (N, in_channels), edge_index (2, E), batch (N,) or None
        - **output:** (N, out_channels)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.0,
        local_conv: ConvChoice = "gcn",
        d_state: int = 16,
        **layer_kwargs,
    ) -> None:
        eval_seed = layer_kwargs.pop("eval_seed", 0)
        layers = [
            GraphMambaLayer(
                hidden_channels,
                make_conv(local_conv, hidden_channels),
                Mamba(hidden_channels, d_state=d_state),
                dropout=dropout,
                eval_seed=eval_seed + i,
                **layer_kwargs,
            )
            for i in range(num_layers)
        ]
        super().__init__(in_channels, hidden_channels, out_channels, layers)


__all__ = ["GraphMamba", "GraphMambaLayer", "degree_order"]
