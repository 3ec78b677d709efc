"""GatedGCN with edge-feature updates (Bresson & Laurent 2017), as LRGB and GraphGPS run it.

PyG's :class:`~torch_geometric.nn.conv.ResGatedGraphConv` gates messages (and can read edge
features through ``edge_dim``) but keeps no edge state: it returns node features only, with no
edge update, edge batch norm or edge residual. The LRGB baselines (``gatedgcnconv`` in
`vijaydwivedi75/lrgb graphgps/layer/gatedgcn_layer.py`) update both, so this layer follows that
file: five ``d x d`` maps ``A..E`` with biases, batch norm on nodes and edges, activation,
dropout and residuals on both. The aggregation is two scatters (no ``propagate``: the
edge output is as much a result as the node output).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

#: Activations by name (GraphGym's ``gnn.act``: LRGB uses relu, Tönshoff et al. gelu).
ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class GatedGCNConv(nn.Module):
    r"""Residual gated graph convolution with edge features and edge updates.

    From `"Residual Gated Graph ConvNets" <https://arxiv.org/abs/1711.07553>`_, in the form of
    the LRGB / GraphGPS code:

    .. math::
        \hat e_{ij} = D x_i + E x_j + C e_{ij}, \quad \sigma_{ij} = \mathrm{sigmoid}(\hat e_{ij}),
        \quad x_i' = A x_i + \frac{\sum_{j \to i} \sigma_{ij} \odot B x_j}
        {\sum_{j \to i} \sigma_{ij} + 10^{-6}}

    then :math:`x' \leftarrow x + \mathrm{drop}(\mathrm{act}(\mathrm{BN}(x')))` and the same for
    :math:`\hat e` (residuals only with ``residual=True``).

    Args:
        channels: node and edge width (both ``channels``).
        dropout: dropout on the node and edge outputs (default 0).
        residual: add the inputs to the outputs (default ``True``).
        act: ``relu`` or ``gelu`` (default ``relu``).
        batch_norm: batch norm on node and edge outputs (default ``True``).

    Shapes:
        - **input:** x (N, channels), edge_index (2, E), edge_attr (E, channels) or ``None``
          (zeros: every edge starts from the same state)
        - **output:** (x (N, channels), edge_attr (E, channels))
    """

    def __init__(
        self,
        channels: int,
        dropout: float = 0.0,
        residual: bool = True,
        act: str = "relu",
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
        self.channels, self.dropout, self.residual, self.act = channels, dropout, residual, act
        self.A, self.B, self.C, self.D, self.E = (nn.Linear(channels, channels) for _ in range(5))
        norm = nn.BatchNorm1d if batch_norm else nn.Identity
        self.bn_node, self.bn_edge = norm(channels), norm(channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in (self.A, self.B, self.C, self.D, self.E, self.bn_node, self.bn_edge):
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if edge_attr is None:
            edge_attr = x.new_zeros(edge_index.size(1), self.channels)
        src, dst = edge_index
        bx = self.B(x)  # (N, d)
        e_hat = self.D(x)[dst] + self.E(x)[src] + self.C(edge_attr)  # (E, d)
        sigma = torch.sigmoid(e_hat)
        num = scatter(sigma * bx[src], dst, 0, dim_size=x.size(0), reduce="sum")  # (N, d)
        den = scatter(sigma, dst, 0, dim_size=x.size(0), reduce="sum")
        h = self.A(x) + num / (den + 1e-6)
        act = ACTIVATIONS[self.act]
        h = F.dropout(act(self.bn_node(h)), self.dropout, self.training)
        e = F.dropout(act(self.bn_edge(e_hat)), self.dropout, self.training)
        if self.residual:
            h, e = x + h, edge_attr + e
        return h, e

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, act={self.act})"
