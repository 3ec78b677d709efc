"""The encoder every pretext task shares: ParetoGNN's GCN stack.

Ju et al., "Multi-task Self-supervised Graph Neural Networks Enable Stronger Task
Generalization", ICLR 2023 (https://openreview.net/forum?id=1tHAZRqftM); official code
``jumxglhf/ParetoGNN``, ``src/model.py:GCN`` with the scripts' ``--hid_dim 512 256 --use_prelu
--norm batch --dropout 0``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.utils import is_torch_sparse_tensor

from graphlib_pyg.data.graph import adjacency


class SSLEncoder(nn.Module):
    r"""GCN layers, each followed by batch norm and PReLU:

    .. math::
        H^{(l+1)} = \mathrm{PReLU}\big(\mathrm{BN}(\hat{D}^{-1/2} \hat{A} \hat{D}^{-1/2}
        H^{(l)} W^{(l)})\big), \quad \hat{A} = A + I,

    with dropout before every layer but the first (ParetoGNN's ``GCN``; its scripts use 0). The
    normalised adjacency is built once per forward (the library's one sparse adjacency,
    :func:`graphlib_pyg.data.graph.adjacency` of kind ``"gcn"``) and shared by the layers; a
    caller that runs several modules on one graph can pass it instead of ``edge_index``.

    Args:
        in_channels: input feature size.
        hidden_channels: output size of each layer (ParetoGNN: ``[512, 256]``); the last one is
            the embedding size.
        dropout: dropout before layers 2.. (default 0, the paper's scripts).
        norm: ``"batch"`` (default, the paper's) or ``"layer"``.
        act: ``"prelu"`` (default, ``--use_prelu`` in the scripts) or ``"relu"``.

    Shapes:
        - input: node features :math:`(N, F_{in})`, edge indices :math:`(2, E)` or the sparse
          :math:`(N, N)` matrix of :func:`graphlib_pyg.data.graph.adjacency` (``"gcn"``)
        - output: node embeddings :math:`(N, F_{out})`, ``F_out = hidden_channels[-1]``
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: list[int] | tuple[int, ...] = (512, 256),
        dropout: float = 0.0,
        norm: str = "batch",
        act: str = "prelu",
    ) -> None:
        super().__init__()
        if not hidden_channels:
            raise ValueError("hidden_channels needs at least one layer size")
        if norm not in ("batch", "layer"):
            raise ValueError(f"norm must be 'batch' or 'layer', got {norm!r}")
        if act not in ("prelu", "relu"):
            raise ValueError(f"act must be 'prelu' or 'relu', got {act!r}")
        self.in_channels, self.dropout = in_channels, dropout
        self.hidden_channels = list(hidden_channels)
        sizes = [in_channels, *self.hidden_channels]
        pairs = zip(sizes[:-1], sizes[1:], strict=True)
        self.convs = nn.ModuleList(GCNConv(a, b, normalize=False) for a, b in pairs)
        make_norm = nn.BatchNorm1d if norm == "batch" else nn.LayerNorm
        self.norms = nn.ModuleList(make_norm(b) for b in sizes[1:])
        self.acts = nn.ModuleList(nn.PReLU() if act == "prelu" else nn.ReLU() for _ in sizes[1:])
        self.reset_parameters()

    @property
    def out_channels(self) -> int:
        return self.hidden_channels[-1]

    def reset_parameters(self) -> None:
        for conv, norm, act in zip(self.convs, self.norms, self.acts, strict=False):
            conv.reset_parameters()
            norm.reset_parameters()
            if isinstance(act, nn.PReLU):
                nn.init.constant_(act.weight, 0.25)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        if not is_torch_sparse_tensor(edge_index):
            edge_index = adjacency(edge_index, x.size(0), "gcn")
        for i, (conv, norm, act) in enumerate(zip(self.convs, self.norms, self.acts, strict=False)):
            if i > 0:
                x = nn.functional.dropout(x, self.dropout, self.training)
            x = act(norm(conv(x, edge_index)))  # (N, hidden_channels[i])
        return x

    @torch.no_grad()
    def embed(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Frozen embeddings (eval mode: batch norm uses its running statistics)."""
        was = self.training
        self.eval()
        z = self(x, edge_index)
        self.train(was)
        return z

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, "
            f"dropout={self.dropout})"
        )
