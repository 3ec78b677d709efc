"""DAGNN: adaptive-depth propagation ("Towards Deeper Graph Neural Networks", Liu et al., KDD 2020).

Paper: https://arxiv.org/abs/2007.09296. PyG has no DAGNN (APPNP, SGC and TAGConv are the
closest); the reference implementation uses DGL.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import is_torch_sparse_tensor, spmm

from graphlib_pyg.nn.checks import check_channels, check_graph


class DAGNNConv(MessagePassing):
    r"""Parameter-free K-step propagation with learnable per-node, per-hop retention scores.

    .. math::
        \mathbf{H}_\ell = \hat{\mathbf{A}}^\ell \mathbf{Z},\quad
        s_{i\ell} = \sigma(\mathbf{h}_{i\ell}^\top \mathbf{w}),\quad
        \mathbf{x}'_i = \sum_{\ell=0}^{K} s_{i\ell}\, \mathbf{h}_{i\ell}

    with :math:`\hat{\mathbf{A}} = \mathbf{D}^{-1/2}(\mathbf{A}+\mathbf{I})\mathbf{D}^{-1/2}`.
    The only parameters are the retention projection :math:`\mathbf{w}` and its bias.

    Args:
        channels: size of each input and output sample (the MLP's output).
        K: number of propagation steps (default 10).
        normalize: when given ``edge_index``, apply GCN normalisation with self-loops
            (default ``True``). A sparse ``adj_t`` is used as given, so pass a normalised one
            (e.g. :meth:`graphlib_pyg.data.GraphIndex.adj_t` with ``"gcn"``).
        **kwargs: :class:`torch_geometric.nn.conv.MessagePassing` arguments.

    A malformed ``edge_index`` or a feature width other than ``channels`` raises a
    ``ValueError`` that names it (:mod:`graphlib_pyg.nn.checks`).

    Shapes:
        - **input:** node features (N, C), ``edge_index`` (2, E) or sparse ``adj_t`` (N, N),
          optional edge weights (E,)
        - **output:** (N, C)
    """

    def __init__(self, channels: int, K: int = 10, normalize: bool = True, **kwargs) -> None:
        kwargs.setdefault("aggr", "add")
        super().__init__(**kwargs)
        if K < 0:
            raise ValueError(f"K must be >= 0, got {K}")
        self.channels, self.K, self.normalize = channels, K, normalize
        self.proj = nn.Linear(channels, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.proj.reset_parameters()

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        h, score = self._hops_and_scores(x, edge_index, edge_weight)
        return (score.transpose(1, 2) @ h).squeeze(1)  # (N, C)

    def retention(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        """Retention scores (N, K + 1) the layer assigns to each hop (for inspection)."""
        return self._hops_and_scores(x, edge_index, edge_weight)[1].squeeze(-1)

    def _hops_and_scores(
        self, x: Tensor, edge_index: Adj, edge_weight: OptTensor
    ) -> tuple[Tensor, Tensor]:
        check_channels(x, self.channels, name=type(self).__name__)
        check_graph(edge_index, x.size(0), name=type(self).__name__)
        if self.normalize and not is_torch_sparse_tensor(edge_index):
            edge_index, edge_weight = gcn_norm(
                edge_index, edge_weight, x.size(0), add_self_loops=True, flow=self.flow
            )
        hops = [x]
        for _ in range(self.K):
            hops.append(self.propagate(edge_index, x=hops[-1], edge_weight=edge_weight))
        h = torch.stack(hops, dim=1)  # (N, K + 1, C)
        return h, torch.sigmoid(self.proj(h))  # (N, K + 1, C), (N, K + 1, 1)

    def message(self, x_j: Tensor, edge_weight: OptTensor) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        return spmm(adj_t, x, reduce=self.aggr)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, K={self.K})"


class DAGNN(nn.Module):
    """DAGNN model: a 2-layer MLP (feature transformation) followed by :class:`DAGNNConv`.

    Args:
        in_channels: input feature size.
        hidden_channels: MLP width (paper: 64).
        out_channels: number of classes.
        K: propagation steps (paper: 10 on Cora/CiteSeer).
        dropout: dropout on the input and after the hidden layer (paper: 0.8 Cora, 0.5 CiteSeer).

    Shapes:
        - **input:** x (N, F_in), ``edge_index`` (2, E) or normalised sparse ``adj_t``
        - **output:** (N, out_channels) logits
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        K: int = 10,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.lin1 = nn.Linear(in_channels, hidden_channels)
        self.lin2 = nn.Linear(hidden_channels, out_channels)
        self.conv = DAGNNConv(out_channels, K)
        self.dropout = dropout

    def reset_parameters(self) -> None:
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()
        self.conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        x = nn.functional.dropout(x, self.dropout, self.training)
        x = torch.relu(self.lin1(x))
        x = nn.functional.dropout(x, self.dropout, self.training)
        return self.conv(self.lin2(x), edge_index, edge_weight)
