"""Residual GNNs around any PyG convolution: Platonov et al.'s pre-norm blocks (ICLR 2023)
and LRGB's skip-sum layers."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from graphlib_pyg.nn.conv.gatedgcn import ACTIVATIONS


class ResidualGNN(nn.Module):
    r"""The pre-norm residual GNN of Platonov et al. (ICLR 2023), a strong classic-GNN baseline.

    "A critical look at the evaluation of GNNs under heterophily" reports GCN, SAGE and GAT on
    roman-empire, minesweeper, tolokers, ... in this form (their published baselines):

    .. math::
        h^{(0)} = \mathrm{GELU}(\mathrm{Dropout}(W_{in} x)), \quad
        h^{(l)} = h^{(l-1)} + \mathrm{FFN}(\mathrm{conv}(\mathrm{LN}(h^{(l-1)}))), \quad
        y = W_{out} \mathrm{LN}(h^{(L)})

    with :math:`\mathrm{FFN} = \mathrm{Dropout} \circ W_2 \circ \mathrm{GELU} \circ
    \mathrm{Dropout} \circ W_1` (width ``ffn_mult * hidden``). The convolution is any PyG layer
    mapping ``hidden -> hidden`` (their GCN propagates without a weight; PyG's ``GCNConv`` adds one
    ``hidden x hidden`` map, SAGE and GAT match their modules up to how heads are laid out).

    Args:
        in_channels, hidden_channels, out_channels: widths.
        num_layers: residual blocks.
        make_conv: ``make_conv(hidden_channels)`` builds one block's convolution, called as
            ``conv(h, graph)`` with the graph input the model itself is called with.
        dropout: dropout after the input map and inside each FFN.
        ffn_mult: FFN width as a multiple of ``hidden_channels``.

    Shapes:
        - **input:** x (N, in_channels), graph (sparse adjacency or edge_index)
        - **output:** (N, out_channels)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int,
        make_conv: Callable[[int], nn.Module],
        dropout: float = 0.2,
        ffn_mult: float = 1.0,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        d, f = hidden_channels, int(hidden_channels * ffn_mult)
        self.input_linear = nn.Linear(in_channels, d)
        self.norms = nn.ModuleList([nn.LayerNorm(d) for _ in range(num_layers)])
        self.blocks = nn.ModuleList([make_conv(d) for _ in range(num_layers)])
        self.ffns = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Linear(d, f),
                    nn.Dropout(dropout),
                    nn.GELU(),
                    nn.Linear(f, d),
                    nn.Dropout(dropout),
                )
                for _ in range(num_layers)
            ]
        )
        self.dropout = nn.Dropout(dropout)
        self.output_norm = nn.LayerNorm(d)
        self.output_linear = nn.Linear(d, out_channels)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def branch_input(self, n_inputs: int, make_conv=None) -> None:
        """The input-branching hook (:mod:`graphlib_pyg.nn.branching`): the input map becomes
        one linear branch per input block, of the same total width."""
        from graphlib_pyg.nn.branching import branch_linear

        self.input_linear = branch_linear(self.input_linear, n_inputs)

    def forward(self, x: Tensor, graph, *args, **kwargs) -> Tensor:
        h = nn.functional.gelu(self.dropout(self.input_linear(x)))
        for norm, conv, ffn in zip(self.norms, self.blocks, self.ffns, strict=True):
            h = h + ffn(conv(norm(h), graph))
        return self.output_linear(self.output_norm(h))


class SkipSumGNN(nn.Module):
    r"""LRGB's residual GNN (``custom_gnn`` with ``gnn.residual: True``; the tuned GCN of
    Tönshoff et al. 2023, "Where Did the Gap Go?"): each layer adds its activated convolution to
    its input, no normalisation,

    .. math::
        h^{(l)} = h^{(l-1)} + \mathrm{Dropout}(\mathrm{act}(\mathrm{conv}(h^{(l-1)})))

    with a linear map in (out) only where ``in_channels`` (``out_channels``) differs from
    ``hidden_channels``: inside a graph-level model, the atom encoder and the head are around it.

    Args:
        in_channels, hidden_channels, out_channels: widths.
        num_layers: layers (LRGB's ``layers_mp``).
        make_conv: ``make_conv(hidden_channels)`` builds one layer's convolution, called as
            ``conv(h, graph)``.
        dropout: after each activation.
        act: ``relu`` or ``gelu`` (Tönshoff et al.'s tuned configs).

    Shapes:
        - **input:** x (N, in_channels), graph (sparse adjacency or edge_index)
        - **output:** (N, out_channels)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int,
        make_conv: Callable[[int], nn.Module],
        dropout: float = 0.0,
        act: str = "relu",
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
        d = hidden_channels
        self.in_channels, self.hidden_channels = in_channels, d
        self.encoder = nn.Identity() if in_channels == d else nn.Linear(in_channels, d)
        self.convs = nn.ModuleList([make_conv(d) for _ in range(num_layers)])
        self.act, self.dropout = ACTIVATIONS[act], nn.Dropout(dropout)
        self.head = nn.Identity() if out_channels == d else nn.Linear(d, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in (self.encoder, *self.convs, self.head):
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: Tensor, graph, *args, **kwargs) -> Tensor:
        h = self.encoder(x)
        for conv in self.convs:
            h = h + self.dropout(self.act(conv(h, graph)))
        return self.head(h)
