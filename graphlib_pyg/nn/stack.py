"""The shared frame of the GPS-style node models: encoder, hidden layers, head."""

from __future__ import annotations

from torch import Tensor, nn


class LayerStack(nn.Module):
    """Linear encoder, layers called as ``layer(h, edge_index, batch)``, linear head.

    The shared frame of the GPS-style node models (:class:`GPS`, ``GraphMamba``).

    Args:
        in_channels, hidden_channels, out_channels: widths.
        layers: the hidden -> hidden layers.

    Shapes:
        - **input:** x (N, in_channels), edge_index (2, E), batch (N,) or None
        - **output:** (N, out_channels)
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, layers) -> None:
        super().__init__()
        self.encoder = nn.Linear(in_channels, hidden_channels)
        self.layers = nn.ModuleList(layers)
        self.head = nn.Linear(hidden_channels, out_channels)

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()
        self.head.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None) -> Tensor:
        h = self.encoder(x)
        for layer in self.layers:
            h = layer(h, edge_index, batch)
        return self.head(h)
