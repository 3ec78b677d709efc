"""PyG's ``SGFormer`` and ``Polynormer`` behind the harness's ``model(x, edge_index)`` call.

Both are PyG's own models, unchanged; the wrappers only supply the ``batch`` vector of a single
graph when none is given, and for Polynormer switch its global attention on after
``local_epochs`` training steps (the paper's local-then-global schedule; PyG leaves the switch,
``model._global``, to the training script).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _single_graph(x: Tensor, batch: Tensor | None) -> Tensor:
    return x.new_zeros(x.size(0), dtype=torch.long) if batch is None else batch


class SGFormerNode(nn.Module):
    """``torch_geometric.nn.models.SGFormer`` for node tasks (one graph or a batch of graphs).

    Shapes:
        - **input:** x (N, in_channels), edge_index (2, E), batch (N,) or None
        - **output:** (N, out_channels)
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int, **kwargs) -> None:
        super().__init__()
        from torch_geometric.nn.models import SGFormer

        self.model = SGFormer(in_channels, hidden, out_channels, **kwargs)

    def reset_parameters(self) -> None:
        self.model.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None) -> Tensor:
        return self.model(x, edge_index, _single_graph(x, batch))


class PolynormerNode(nn.Module):
    """``torch_geometric.nn.models.Polynormer`` with its local-then-global schedule.

    The first ``local_epochs`` training calls use the local (equivariant attention) module
    only; from then on the global attention module is on, as in the paper's training script.
    ``local_epochs=0`` starts global.

    Shapes:
        - **input:** x (N, in_channels), edge_index (2, E), batch (N,) or None
        - **output:** (N, out_channels)
    """

    def __init__(
        self, in_channels: int, hidden: int, out_channels: int, local_epochs: int = 100, **kwargs
    ) -> None:
        super().__init__()
        from torch_geometric.nn.models import Polynormer

        if local_epochs < 0:
            raise ValueError(f"local_epochs must be >= 0, got {local_epochs}")
        self.model = Polynormer(in_channels, hidden, out_channels, **kwargs)
        self.local_epochs, self.steps = local_epochs, 0
        self.model._global = local_epochs == 0

    def reset_parameters(self) -> None:
        self.model.reset_parameters()
        self.steps = 0
        self.model._global = self.local_epochs == 0

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None) -> Tensor:
        if self.training:
            self.steps += 1
            if self.steps > self.local_epochs:
                self.model._global = True
        return self.model(x, edge_index, _single_graph(x, batch))
