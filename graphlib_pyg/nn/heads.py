"""Task heads around a node model: OGB's pair predictor and graph-level pooling."""

from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.nn import models as pyg_models


class LinkPredictor(nn.Module):
    r"""OGB's link predictor: an MLP on the Hadamard product :math:`h_i \odot h_j`.

    Args:
        in_channels: node embedding size.
        hidden_channels: MLP width.
        num_layers: MLP depth (default 3).
        dropout: dropout between MLP layers.

    Shapes:
        - **input:** h_i (P, F), h_j (P, F)
        - **output:** (P,) logits
    """

    def __init__(
        self, in_channels: int, hidden_channels: int, num_layers: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.mlp = pyg_models.MLP(
            in_channels=in_channels,
            hidden_channels=hidden_channels,
            out_channels=1,
            num_layers=num_layers,
            dropout=float(dropout),  # PyG reads a non-float as a per-layer list (CLI gives 0)
            norm=None,
        )

    def reset_parameters(self) -> None:
        self.mlp.reset_parameters()

    def forward(self, h_i: Tensor, h_j: Tensor) -> Tensor:
        return self.mlp(h_i * h_j).view(-1)


class GraphLevel(nn.Module):
    """A node model made graph-level: input encoder, node model, mean pooling, MLP head.

    Args:
        body: node model called as ``body(h, graph, batch=batch)`` (hidden -> hidden).
        in_channels: input features (atom feature columns when ``categorical``).
        hidden_channels: width of the encoder output and of the head.
        out_channels: targets (or classes) per graph.
        categorical: integer atom features, embedded with OGB's ``AtomEncoder`` (and integer
            bond features with its ``BondEncoder``).
        edge_channels: ``None`` for a body that reads no edge features (called as
            ``body(h, graph, batch=batch)``); otherwise the body reads them and is called with
            ``edge_attr=``: the edge features encoded to ``hidden_channels`` (``BondEncoder``
            when ``categorical``, else a linear map of ``edge_channels`` columns), or ``None``
            when the graphs have none (``edge_channels=0``).
        head_layers: linear layers of the MLP head after pooling (LRGB's ``layers_post_mp``;
            the tuned configs of Tönshoff et al. use 3).
        head_dropout: dropout after each hidden layer of the head (GraphGym's ``mlp_graph``
            also drops the pooled input; this head does not).

    Shapes:
        - **input:** x (N, in_channels), graph, batch (N,), edge_attr (E, edge_channels) or
          ``None``
        - **output:** (G, out_channels)
    """

    def __init__(
        self,
        body: nn.Module,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        categorical: bool = False,
        edge_channels: int | None = None,
        head_layers: int = 2,
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if head_layers < 1:
            raise ValueError(f"head_layers must be >= 1, got {head_layers}")
        self.reads_edges = edge_channels is not None
        self.edge_encoder: nn.Module | None = None
        if edge_channels and categorical:
            from ogb.graphproppred.mol_encoder import BondEncoder

            self.edge_encoder = BondEncoder(hidden_channels)
        elif edge_channels:
            self.edge_encoder = nn.Linear(edge_channels, hidden_channels)
        if categorical:
            from ogb.graphproppred.mol_encoder import AtomEncoder

            self.encoder: nn.Module = AtomEncoder(hidden_channels)
        else:
            self.encoder = nn.Linear(in_channels, hidden_channels)
        self.body = body
        widths = [hidden_channels] * head_layers + [out_channels]
        self.head = pyg_models.MLP(widths, norm=None, dropout=float(head_dropout))

    def reset_parameters(self) -> None:
        for mod in (self.encoder, self.edge_encoder, self.body, self.head):
            if hasattr(mod, "reset_parameters"):
                mod.reset_parameters()

    def forward(self, x: Tensor, graph, batch: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        from torch_geometric.nn import global_mean_pool

        if self.reads_edges:
            e = None
            if edge_attr is not None and self.edge_encoder is not None:
                e = self.edge_encoder(edge_attr)  # (E, hidden)
            h = self.body(self.encoder(x), graph, batch=batch, edge_attr=e)  # (N, hidden)
        else:
            h = self.body(self.encoder(x), graph, batch=batch)  # (N, hidden)
        return self.head(global_mean_pool(h, batch))
