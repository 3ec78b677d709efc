"""A non-recurrent message-passing baseline for the relational tasks: a stack of PyG
``GatedGraphConv`` layers, each with weights of its own."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GatedGraphConv

from graphlib_pyg.nn.rrn import IntegerEncoder


class GatedStack(nn.Module):
    r"""``num_layers`` gated graph layers (Li et al., `"Gated Graph Sequence Neural Networks"
    <https://arxiv.org/abs/1511.05493>`_, PyG's :class:`~torch_geometric.nn.conv.GatedGraphConv`),
    each with its own message weight and GRU, read out after every layer by one shared head.

    It is the baseline of :class:`~graphlib_pyg.nn.rrn.RRN` with the same width and depth but no
    weight sharing over depth (so it cannot run more steps than it has layers):

    .. math::
        \mathbf{h}_i^{(0)} = \mathrm{enc}(\mathbf{x}_i), \quad
        \mathbf{h}_i^{(l)} = \mathrm{GRU}_l\Big(\sum_{j \in \mathcal{N}(i)}
            \mathbf{W}_l \mathbf{h}_j^{(l-1)}, \mathbf{h}_i^{(l-1)}\Big), \quad
        \mathbf{o}_i^{(l)} = r(\mathbf{h}_i^{(l)})

    Args:
        vocab_sizes (list[int]): number of values of each integer input column.
        out_channels (int): classes predicted per node.
        num_layers (int): gated layers (the most steps a forward pass can run).
        hidden_channels (int, optional): width of the node state. (default: :obj:`96`)
        embed_channels (int, optional): width of each input embedding. (default: :obj:`16`)
        mlp_layers (int, optional): linear layers of the input MLP. (default: :obj:`3`)

    Shapes:
        - **input:** node attributes :math:`(|\mathcal{V}|, K)` (long), edge indices
          :math:`(2, |\mathcal{E}|)`
        - **output:** logits after each of the first ``steps`` layers :math:`(T, |\mathcal{V}|, C)`
    """

    def __init__(
        self,
        vocab_sizes: list[int],
        out_channels: int,
        num_layers: int,
        hidden_channels: int = 96,
        embed_channels: int = 16,
        mlp_layers: int = 3,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.num_layers, self.out_channels = num_layers, out_channels
        self.max_steps = num_layers  # not recurrent: one layer per step
        self.encoder = IntegerEncoder(vocab_sizes, embed_channels, hidden_channels, mlp_layers)
        self.layers = nn.ModuleList(
            GatedGraphConv(hidden_channels, num_layers=1) for _ in range(num_layers)
        )
        self.head = nn.Linear(hidden_channels, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()
        self.head.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, steps: int) -> Tensor:
        """Logits after each of the first ``steps`` layers, (steps, N, C)."""
        if not 1 <= steps <= self.num_layers:
            raise ValueError(
                f"steps must be in 1..{self.num_layers} (the layers of this non-recurrent "
                f"model), got {steps}"
            )
        h, outs = self.encoder(x), []
        for layer in self.layers[:steps]:
            h = layer(h, edge_index)
            outs.append(self.head(h))
        return torch.stack(outs)  # (T, N, C)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.out_channels}, num_layers={self.num_layers})"
