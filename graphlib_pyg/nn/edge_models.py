"""Models that read edge features: GINE and GatedGCN stacks, and the local-branch wrapper.

They follow LRGB's ``custom_gnn`` (vijaydwivedi75/lrgb ``graphgps/network/custom_gnn.py``):
``num_layers`` convolutions of width ``hidden`` on node states and (already encoded) edge
states, no pre-MP layers. Graph-level tasks embed the bond features (OGB ``BondEncoder``) in
:class:`~graphlib_pyg.nn.heads.GraphLevel` and pass them as ``edge_attr``; a model whose
:class:`~graphlib_pyg.nn.registry.ModelSpec` says it reads edge features (``edge_attr``) is
called as ``model(x, edge_index, batch=batch, edge_attr=e)``. Without edge features
(``edge_attr=None``, e.g. node tasks or graphs without them) every edge starts from zeros.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from graphlib_pyg.nn.conv.gatedgcn import ACTIVATIONS, GatedGCNConv


class GINELayer(nn.Module):
    r"""LRGB's ``GINEConvLayer``: PyG's ``GINEConv`` with a two-layer MLP, then
    :math:`x' = x + \mathrm{drop}(\mathrm{act}(\mathrm{GINE}(x, e)))` (``residual=True``).

    Shapes:
        - **input:** x (N, channels), edge_index (2, E), edge_attr (E, channels)
        - **output:** (x (N, channels), edge_attr unchanged)
    """

    def __init__(self, channels: int, dropout: float, residual: bool, act: str) -> None:
        super().__init__()
        from torch_geometric.nn import GINEConv

        mlp = nn.Sequential(nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, channels))
        self.conv = GINEConv(mlp)
        self.dropout, self.residual, self.act = dropout, residual, ACTIVATIONS[act]

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> tuple[Tensor, Tensor]:
        h = F.dropout(self.act(self.conv(x, edge_index, edge_attr)), self.dropout, self.training)
        return (x + h if self.residual else h), edge_attr


def _gine_layer(d: int, dropout: float, residual: bool, act: str) -> nn.Module:
    return GINELayer(d, dropout, residual, act)


def _gatedgcn_layer(d: int, dropout: float, residual: bool, act: str) -> nn.Module:
    return GatedGCNConv(d, dropout=dropout, residual=residual, act=act)


#: Edge-aware layers by name: ``make(channels, dropout, residual, act)``.
EDGE_LAYERS = {"gine": _gine_layer, "gatedgcn": _gatedgcn_layer}


class EdgeGNN(nn.Module):
    """A stack of edge-aware layers (LRGB's ``custom_gnn``): GINE or GatedGCN.

    Args:
        in_channels, hidden_channels, out_channels: widths; a linear map in (out) is added
            only where ``in_channels`` (``out_channels``) differs from ``hidden_channels``
            (graph-level models have an encoder and a head around the stack).
        num_layers: layers (LRGB's ``layers_mp``).
        layer: ``gine`` or ``gatedgcn`` (:data:`EDGE_LAYERS`).
        dropout: dropout after each layer's activation.
        residual: skip connections around each layer (LRGB: ``True``).
        act: ``relu`` (LRGB) or ``gelu`` (Tönshoff et al.).

    Shapes:
        - **input:** x (N, in_channels), edge_index (2, E), edge_attr (E, hidden_channels) or
          ``None``
        - **output:** (N, out_channels)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int,
        layer: str,
        dropout: float = 0.0,
        residual: bool = True,
        act: str = "relu",
    ) -> None:
        super().__init__()
        if layer not in EDGE_LAYERS:
            raise ValueError(f"layer must be one of {sorted(EDGE_LAYERS)}, got {layer!r}")
        if act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
        d = hidden_channels
        self.hidden_channels = d
        self.encoder = nn.Identity() if in_channels == d else nn.Linear(in_channels, d)
        make = EDGE_LAYERS[layer]
        self.layers = nn.ModuleList([make(d, dropout, residual, act) for _ in range(num_layers)])
        self.head = nn.Identity() if out_channels == d else nn.Linear(d, out_channels)

    def reset_parameters(self) -> None:
        for m in (self.encoder, *self.layers, self.head):
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None = None,
        edge_attr: Tensor | None = None,
    ) -> Tensor:
        h = self.encoder(x)  # (N, d)
        e = (
            h.new_zeros(edge_index.size(1), self.hidden_channels)
            if edge_attr is None
            else edge_attr
        )
        for layer in self.layers:
            h, e = layer(h, edge_index, e)
        return self.head(h)


class NodeOutput(nn.Module):
    """An edge-aware layer as a local convolution of PyG's ``GPSConv``: node output only.

    ``GPSConv`` adds its own residual and norm around the local branch, so the wrapped layer is
    built without them; the edge state it computes is dropped (every GPS layer reads the
    encoded edge features, GraphGPS carries the updated ones to the next layer).
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def reset_parameters(self) -> None:
        self.layer.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        if edge_attr is None:
            edge_attr = x.new_zeros(edge_index.size(1), x.size(1))
        return self.layer(x, edge_index, edge_attr)[0]
