"""GCNII (Chen et al., "Simple and Deep Graph Convolutional Networks", ICML 2020) on PyG's
``GCN2Conv``: initial residual and identity mapping make deep GCNs trainable.

The model is the paper's: dropout, a linear map to the hidden width (``lins[0]``, its output
``x_0`` feeds every layer's initial residual), ``num_layers`` ``GCN2Conv`` layers with
``beta_l = log(theta / l + 1)``, each after dropout and followed by ReLU, then dropout and a
linear classifier (``lins[1]``). The paper trains the convolutions with weight decay 0.01 and the
linear maps with 5e-4; here one ``weight_decay`` applies to all.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class GCNII(nn.Module):
    """Deep GCN with initial residual (``alpha``) and identity mapping (``theta``).

    Args:
        in_channels: input features.
        hidden_channels: width of every layer.
        out_channels: classes.
        num_layers: ``GCN2Conv`` layers (64 for Cora in the paper).
        alpha: initial-residual weight.
        theta: identity-mapping strength (``lambda`` in the paper).
        dropout: dropout before every linear map and convolution.

    Shapes:
        - **input:** x (N, in_channels), adj (N, N) GCN-normalised sparse ``adj_t``
        - **output:** (N, out_channels)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 64,
        alpha: float = 0.1,
        theta: float = 0.5,
        dropout: float = 0.6,
    ) -> None:
        super().__init__()
        from torch_geometric.nn import GCN2Conv

        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.dropout = dropout
        self.lins = nn.ModuleList(
            [nn.Linear(in_channels, hidden_channels), nn.Linear(hidden_channels, out_channels)]
        )
        self.convs = nn.ModuleList(
            GCN2Conv(hidden_channels, alpha, theta, layer + 1, normalize=False)
            for layer in range(num_layers)
        )

    def reset_parameters(self) -> None:
        for m in (*self.lins, *self.convs):
            m.reset_parameters()

    def branch_input(self, n_inputs: int, make_conv=None) -> None:
        """The input-branching hook (:mod:`graphlib_pyg.nn.branching`): ``lins[0]`` becomes
        one linear branch per input block; ``forward`` then takes the blocks as a tuple."""
        from graphlib_pyg.nn.branching import branch_linear

        self.lins[0] = branch_linear(self.lins[0], n_inputs)

    def forward(self, x: Tensor | tuple[Tensor, ...], adj) -> Tensor:
        """``x`` is a tuple of input blocks after :meth:`branch_input`."""
        if isinstance(x, Tensor):
            x = F.dropout(x, self.dropout, self.training)
        else:
            x = tuple(F.dropout(b, self.dropout, self.training) for b in x)
        x = x_0 = self.lins[0](x).relu()
        for conv in self.convs:
            x = F.dropout(x, self.dropout, self.training)
            x = conv(x, x_0, adj).relu()
        x = F.dropout(x, self.dropout, self.training)
        return self.lins[1](x)
