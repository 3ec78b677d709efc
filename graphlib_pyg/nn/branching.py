"""The input-branching hook: split a model's first layer into one branch per input block.

Local augmentation (LA-GNN) feeds a model ``n`` input blocks (the features and ``n - 1``
generated matrices). The paper's first layer has one branch per block, concatenated, of the same
total width; nothing after the first layer changes. A model offers this through one method,

    ``model.branch_input(n_inputs, make_conv)``

after which its forward takes the ``n_inputs`` blocks as a tuple (or their concatenation).
``make_conv(in_channels, out_channels)`` builds one branch where the first layer is a
convolution (PyG's ``BasicGNN`` models: :class:`BranchableGCN`, ``LinearFirstGraphSAGE``,
``CSRGAT``); models whose first layer is a linear map (GCNII, :class:`ResidualGNN`) ignore it.
:class:`BranchableInput` is the protocol; :func:`branch_first_layer` does it for any PyG
``BasicGNN``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from torch_geometric.nn import models as pyg_models


@runtime_checkable
class BranchableInput(Protocol):
    """A model whose first layer can be split into one branch per input block."""

    def branch_input(
        self, n_inputs: int, make_conv: Callable[[int, int], nn.Module] | None = None
    ) -> None: ...


class BranchedInput(nn.Module):
    """Apply one module per input block and concatenate: the LA-GNN concat-style first layer.

    The input ``x`` is ``[X_0 || X_1 || ... || X_{n-1}]`` with blocks of ``in_channels``
    columns, or the sequence of blocks itself (no concatenation needed); branch ``k`` sees
    block ``k`` (and the same graph arguments) and the outputs are concatenated along the
    feature dimension.

    Args:
        branches: one module per input block, each called as ``branch(x_k, *args, **kwargs)``.
        in_channels: width F of each block.

    Shapes:
        - **input:** x (N, n * F), or n tensors (N, F)
        - **output:** (N, sum of branch widths)
    """

    def __init__(self, branches: list[nn.Module], in_channels: int) -> None:
        super().__init__()
        if len(branches) < 1:
            raise ValueError("BranchedInput needs at least one branch")
        self.branches = nn.ModuleList(branches)
        self.in_channels = in_channels

    def reset_parameters(self) -> None:
        for b in self.branches:
            b.reset_parameters()

    def forward(self, x: Tensor | Sequence[Tensor], *args, **kwargs) -> Tensor:
        n, f = len(self.branches), self.in_channels
        if isinstance(x, Tensor):
            if x.size(-1) != n * f:
                raise ValueError(
                    f"BranchedInput with {n} branches of {f} features expects {n * f} input "
                    f"columns, got {x.size(-1)}"
                )
            blocks = x.split(f, dim=-1)
        else:
            blocks = tuple(x)
            widths = [b.size(-1) for b in blocks]
            if widths != [f] * n:
                raise ValueError(
                    f"BranchedInput with {n} branches of {f} features expects {n} blocks of "
                    f"{f} columns, got widths {widths}"
                )
        outs = [b(xk, *args, **kwargs) for b, xk in zip(self.branches, blocks, strict=True)]
        return torch.cat(outs, dim=-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({len(self.branches)} x {self.branches[0]})"


def branch_first_layer(
    model: nn.Module,
    n_inputs: int,
    make_conv: Callable[[int, int], nn.Module],
    in_channels: int | None = None,
) -> nn.Module:
    """Replace ``model.convs[0]`` (a PyG ``BasicGNN``) by ``n_inputs`` branches, in place.

    The first layer's output width ``W`` is split evenly: each branch maps ``F -> W / n_inputs``
    and the concatenation has width ``W`` again, so the rest of the model is untouched and, for
    convolutions whose weight is linear in the width (GCN, SAGE, GAT), the parameter count stays
    that of the original model. For the paper's wider variant (``W`` per branch) build the
    backbone with ``n_inputs`` times the hidden width first.

    Args:
        model: a ``torch_geometric.nn.models`` GNN (``convs`` list; no norms or jumping
            knowledge on the first layer's output).
        n_inputs: number of input blocks (1 original + generated matrices).
        make_conv: ``make_conv(in_channels, out_channels)`` building one branch, e.g.
            ``lambda i, o: GCNConv(i, o)``; for GAT, ``out_channels`` is the concatenated width.
        in_channels: block width F (default: ``model.in_channels``).

    Returns:
        ``model``, whose forward now expects ``n_inputs * F`` input columns.
    """
    convs = getattr(model, "convs", None)
    if not isinstance(convs, nn.ModuleList) or len(convs) < 2:
        raise TypeError(
            "branch_first_layer needs a PyG BasicGNN-style model with at least two layers "
            "in `model.convs`"
        )
    if getattr(model, "jk_mode", None) is not None:
        raise ValueError("branch_first_layer does not support jumping knowledge (jk)")
    width = getattr(model, "hidden_channels", None)
    if width is None or width % n_inputs:
        raise ValueError(
            f"first-layer width {width} is not divisible by n_inputs={n_inputs}; build the "
            "backbone with a hidden width that is a multiple of the number of inputs"
        )
    f = in_channels if in_channels is not None else model.in_channels
    model.convs[0] = BranchedInput([make_conv(f, width // n_inputs) for _ in range(n_inputs)], f)
    model.in_channels = n_inputs * f
    return model


def branch_linear(linear: nn.Linear, n_inputs: int) -> BranchedInput:
    """``n_inputs`` linear branches ``F -> W / n_inputs`` in place of ``linear`` (``F -> W``):
    the same width and parameter count."""
    width, f = linear.out_features, linear.in_features
    if width % n_inputs:
        raise ValueError(
            f"the first linear map's width {width} is not divisible by {n_inputs} inputs; "
            "use a hidden width that is a multiple of the number of inputs"
        )
    return BranchedInput([nn.Linear(f, width // n_inputs) for _ in range(n_inputs)], f)


class BasicGNNBranching:
    """:meth:`branch_input` for PyG ``BasicGNN`` models (their first convolution is split)."""

    def branch_input(
        self, n_inputs: int, make_conv: Callable[[int, int], nn.Module] | None = None
    ) -> None:
        if make_conv is None:
            raise ValueError(f"{type(self).__name__}.branch_input needs make_conv(in, out)")
        branch_first_layer(self, n_inputs, make_conv)


class BranchableGCN(BasicGNNBranching, pyg_models.GCN):
    """PyG's :class:`~torch_geometric.nn.models.GCN` with the :meth:`branch_input` hook (the
    same model otherwise: parameters, state dict, outputs)."""
