"""Recurrent Relational Network (Palm et al., NeurIPS 2018): message passing run for many steps
with an LSTM state per node and a prediction at every step."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from graphlib_pyg.nn.init import glorot_linears_


def _mlp(dims: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last), as the paper's MLPs."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


class IntegerEncoder(nn.Module):
    r"""Integer node attributes (one column per attribute) to vectors: one embedding table per
    column, concatenated, then an MLP (the input encoder of Palm et al. 2018).

    Args:
        vocab_sizes (list[int]): number of values of each column (Sudoku: ``[10, 9, 9]``).
        embed_channels (int): width of each embedding.
        out_channels (int): width of the output (and of the MLP's hidden layers).
        mlp_layers (int): linear layers of the MLP.

    Shapes:
        - **input:** :math:`(N, K)` long
        - **output:** :math:`(N, \text{out\_channels})`
    """

    def __init__(
        self, vocab_sizes: list[int], embed_channels: int, out_channels: int, mlp_layers: int
    ) -> None:
        super().__init__()
        if mlp_layers < 1:
            raise ValueError(f"mlp_layers must be >= 1, got {mlp_layers}")
        self.vocab_sizes = list(vocab_sizes)
        self.embeddings = nn.ModuleList(nn.Embedding(n, embed_channels) for n in vocab_sizes)
        self.mlp = _mlp([embed_channels * len(vocab_sizes)] + [out_channels] * mlp_layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in self.embeddings:
            emb.reset_parameters()
        glorot_linears_(self.mlp)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.size(1) != len(self.embeddings):
            raise ValueError(
                f"x must be (N, {len(self.embeddings)}) integer attributes, got {tuple(x.shape)}"
            )
        return self.mlp(torch.cat([e(x[:, k]) for k, e in enumerate(self.embeddings)], -1))


class RRN(MessagePassing):
    r"""The Recurrent Relational Network from `"Recurrent Relational Networks"
    <https://arxiv.org/abs/1711.08028>`_ (Palm et al., NeurIPS 2018).

    Node inputs are integer attributes (for Sudoku: the given digit, 0 for a blank, its row and
    its column), each embedded and encoded by an MLP into :math:`\mathbf{x}_i`. Starting from
    :math:`\mathbf{h}_i^{(0)} = \mathbf{x}_i` and a zero LSTM state (as the reference code: the
    first messages read the encoded inputs, the LSTM's own hidden and cell states start at
    zero), every step computes

    .. math::
        \mathbf{m}_i^{(t)} &= \sum_{j \in \mathcal{N}(i)}
            f\big([\mathbf{h}_i^{(t-1)}, \mathbf{h}_j^{(t-1)}]\big)

        \mathbf{h}_i^{(t)}, \mathbf{s}_i^{(t)} &= \mathrm{LSTM}\big(
            g([\mathbf{m}_i^{(t)}, \mathbf{x}_i]), (\mathbf{h}_i^{(t-1)}, \mathbf{s}_i^{(t-1)})\big)

        \mathbf{o}_i^{(t)} &= r(\mathbf{h}_i^{(t)})

    with MLPs :math:`f` (message), :math:`g` (node input) and a linear output head :math:`r`.
    The weights are shared across steps, so the number of steps is a forward argument and may
    exceed the one used in training.

    Args:
        vocab_sizes (list[int]): number of values of each integer input column (Sudoku:
            ``[10, 9, 9]``: digit 0..9, row, column).
        out_channels (int): classes predicted per node (Sudoku: 9 digits).
        hidden_channels (int, optional): width of the node state and every MLP.
            (default: :obj:`96`, the paper's)
        embed_channels (int, optional): width of each input embedding. (default: :obj:`16`)
        mlp_layers (int, optional): linear layers of each MLP, with ReLU between them.
            (default: :obj:`4`: the reference's three ReLU layers and a linear output layer)

    Weights are initialised as in the reference (TensorFlow): Glorot-uniform, zero biases, the
    LSTM's forget-gate bias 1. PyTorch's default (uniform in :math:`\pm 1/\sqrt{fan_{in}}`)
    shrinks activations about 2.4x per ReLU layer, and through the 4-layer MLPs the RRN then sat
    at the uniform loss :math:`\ln 9` for hundreds of steps.

    Shapes:
        - **input:** node attributes :math:`(|\mathcal{V}|, K)` (long), edge indices
          :math:`(2, |\mathcal{E}|)`
        - **output:** logits at every step :math:`(T, |\mathcal{V}|, C)`
    """

    def __init__(
        self,
        vocab_sizes: list[int],
        out_channels: int,
        hidden_channels: int = 96,
        embed_channels: int = 16,
        mlp_layers: int = 4,
    ) -> None:
        super().__init__(aggr="add")
        self.max_steps = None  # recurrent: any number of steps
        if mlp_layers < 1:
            raise ValueError(f"mlp_layers must be >= 1, got {mlp_layers}")
        self.vocab_sizes = list(vocab_sizes)
        self.out_channels, self.hidden_channels = out_channels, hidden_channels
        h = hidden_channels
        self.encoder = IntegerEncoder(vocab_sizes, embed_channels, h, mlp_layers)
        self.message_mlp = _mlp([2 * h] + [h] * mlp_layers)
        self.input_mlp = _mlp([2 * h] + [h] * mlp_layers)
        self.cell = nn.LSTMCell(h, h)
        self.head = nn.Linear(h, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        for module in (self.message_mlp, self.input_mlp, self.head):
            glorot_linears_(module)
        h = self.hidden_channels  # the LSTM as TensorFlow's LSTMCell starts: Glorot, forget bias 1
        for weight in (self.cell.weight_ih, self.cell.weight_hh):
            nn.init.xavier_uniform_(weight)
        nn.init.zeros_(self.cell.bias_ih)
        nn.init.zeros_(self.cell.bias_hh)
        with torch.no_grad():
            self.cell.bias_ih[h : 2 * h] = 1.0  # PyTorch's gate order: input, forget, cell, output

    def forward(self, x: Tensor, edge_index: Tensor, steps: int) -> Tensor:
        """Logits after each of ``steps`` steps, (steps, N, C)."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        x0 = self.encoder(x)  # (N, H)
        h, state = x0, (torch.zeros_like(x0), torch.zeros_like(x0))
        outs = []
        first = self.message_mlp[0]  # Linear(2H, H) on [h_i, h_j], split into its two halves:
        w_i, w_j = first.weight[:, : self.hidden_channels], first.weight[:, self.hidden_channels :]
        for _ in range(steps):
            # the first layer per node, not per edge (the same sum, about half the work)
            a, b = h @ w_i.t() + first.bias, h @ w_j.t()  # (N, H) each
            m = self.propagate(edge_index, a=a, b=b)  # (N, H)
            state = self.cell(self.input_mlp(torch.cat([m, x0], -1)), state)
            h = state[0]
            outs.append(self.head(h))  # (N, C)
        return torch.stack(outs)  # (T, N, C)

    def message(self, a_i: Tensor, b_j: Tensor) -> Tensor:
        # = message_mlp([h_i, h_j]): a_i + b_j is its first layer, then the rest of it
        return self.message_mlp[1:](a_i + b_j)  # (E, H)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(vocab={self.vocab_sizes}, {self.out_channels}, "
            f"hidden={self.hidden_channels})"
        )
