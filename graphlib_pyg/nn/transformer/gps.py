"""GPS for node tasks: PyG's ``GPSConv`` layers in a :class:`~graphlib_pyg.nn.stack.LayerStack`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphlib_pyg.nn.conv.resolver import ConvChoice, make_conv
from graphlib_pyg.nn.stack import LayerStack
from graphlib_pyg.nn.transformer.pe import LapPEEncoder


class GPS(LayerStack):
    """PyG's ``GPSConv`` stacked for node tasks: linear encoder, ``num_layers`` GPS layers, head.

    Each layer is ``GPSConv(hidden, local_conv, heads, attn_type)`` (PyG's own layer): a local
    MPNN branch plus global attention over each graph's nodes (``attn_type="multihead"`` or
    ``"performer"``; ``attn_dropout`` is the attention's own dropout, GraphGPS's
    ``attn_dropout``). With ``lap_pe=K`` the last ``2K`` input columns are Laplacian eigenvector
    entries and eigenvalues (``pe=lapeig:K`` in ``load_task``): they go through a
    :class:`~graphlib_pyg.nn.transformer.LapPEEncoder` (``pe_encoder`` deepset or linear, signs
    flipped at random at every training step) into ``pe_dim`` of the ``hidden`` channels, the
    other features into the rest (GraphGPS's layout).

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
        heads: int = 4,
        attn_type: str = "multihead",
        lap_pe: int = 0,
        pe_dim: int = 16,
        pe_encoder: str = "deepset",
        attn_dropout: float = 0.0,
    ) -> None:
        from torch_geometric.nn import GPSConv

        layers = [
            GPSConv(
                hidden_channels,
                make_conv(local_conv, hidden_channels),
                heads=heads,
                dropout=dropout,
                attn_type=attn_type,
                attn_kwargs={"dropout": attn_dropout},
            )
            for _ in range(num_layers)
        ]
        super().__init__(in_channels, hidden_channels, out_channels, layers)
        self.lap_pe = int(lap_pe)
        if self.lap_pe:
            if in_channels <= 2 * self.lap_pe or not 0 < pe_dim < hidden_channels:
                raise ValueError(
                    f"lap_pe={lap_pe} needs more than {2 * self.lap_pe} input columns (got "
                    f"{in_channels}; load the task with pe=lapeig:{lap_pe}) and "
                    f"0 < pe_dim < hidden (got pe_dim={pe_dim}, hidden={hidden_channels})"
                )
            self.encoder = nn.Linear(in_channels - 2 * self.lap_pe, hidden_channels - pe_dim)
            self.pe = LapPEEncoder(self.lap_pe, pe_dim, pe_encoder)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.lap_pe:
            self.pe.reset_parameters()

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None = None,
        edge_attr: Tensor | None = None,
    ) -> Tensor:
        """``edge_attr`` (E, hidden), when given, goes to every layer's local convolution (an
        edge-aware one: :data:`~graphlib_pyg.nn.conv.resolver.EDGE_CONVS`)."""
        extra = {} if edge_attr is None else {"edge_attr": edge_attr}
        if self.lap_pe:
            k = self.lap_pe
            feats, vecs, vals = x[:, : -2 * k], x[:, -2 * k : -k], x[:, -k:]
            h = torch.cat([self.encoder(feats), self.pe(vecs, vals)], dim=1)  # (N, hidden)
        else:
            h = self.encoder(x)  # (N, hidden)
        for layer in self.layers:
            h = layer(h, edge_index, batch, **extra)
        return self.head(h)
