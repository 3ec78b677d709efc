"""Mamba block and its bidirectional form, with padding masks.

The block follows "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (Gu & Dao,
2023, https://arxiv.org/abs/2312.00752) and mamba-ssm's ``Mamba`` module: input projection to
``x`` and gate ``z``, causal depthwise convolution, input-dependent ``delta``, ``B``, ``C``,
selective scan (:func:`~graphlib_pyg.nn.mamba.scan.selective_scan`), output projection, and
mamba's initialisation (S4D-real ``A``, ``delta`` bias from a log-uniform range, ``D = 1``).

Padding: a batch of sequences is right-padded and described by a boolean ``mask`` (True for the
first ``lengths[b]`` steps, as PyG's ``to_dense_batch`` returns). Convolution and scan are causal,
so padded steps never reach valid ones; the scan zeroes its outputs there and the block returns
zeros there. :class:`BiMamba` runs a second block on each sequence reversed *within its length*,
so a sequence gives the same output alone or padded in a batch, in both directions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphlib_pyg.nn.mamba.scan import BACKENDS, flip_within, selective_scan


def mask_lengths(mask: Tensor | None, batch: int, length: int) -> Tensor | None:
    """Per-sequence lengths of a right-padding mask (B, L); checks that it is one."""
    if mask is None:
        return None
    if tuple(mask.shape) != (batch, length) or mask.dtype != torch.bool:
        raise ValueError(
            f"mask must be a bool tensor of shape (batch, length)=({batch}, {length}), "
            f"got {mask.dtype} {tuple(mask.shape)}"
        )
    lengths = mask.sum(1)
    prefix = torch.arange(length, device=mask.device)[None] < lengths[:, None]
    if not torch.equal(prefix, mask):
        raise ValueError(
            "mask must be a right-padding mask: True for the first lengths[b] steps of each "
            "sequence, then False (as torch_geometric.utils.to_dense_batch returns)"
        )
    return lengths


class Mamba(nn.Module):
    r"""Mamba block (selective state-space sequence mixer), causal, with a padding mask.

    Args:
        d_model: Input and output channels.
        d_state: State size N per channel. (default: 16)
        d_conv: Causal depthwise convolution width. (default: 4)
        expand: Inner channels ``expand * d_model``. (default: 2)
        dt_rank: Rank of the ``delta`` projection; ``"auto"`` = ``ceil(d_model / 16)``.
        dt_min, dt_max: Range of the initial step size ``softplus(dt_bias)`` (log-uniform).
        dt_init_floor: Lower clamp of the initial step size. (default: 1e-4)
        bias: Bias in the input and output projections. (default: False)
        conv_bias: Bias in the convolution. (default: True)
        backend: Selective-scan backend (``"auto"``, ``"ref"``, ``"parallel"``, ``"cuda"``).

    Shapes:
        - **input:** x (B, L, d_model), mask (B, L) bool or None; B or L may be 0
        - **output:** (B, L, d_model), zero at padded steps
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        bias: bool = False,
        conv_bias: bool = True,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"unknown scan backend {backend!r}; valid: {', '.join(BACKENDS)}")
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.dt_min, self.dt_max, self.dt_init_floor = dt_min, dt_max, dt_init_floor
        self.backend = backend
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias)
        self.conv1d = nn.Conv1d(
            self.d_inner,
            self.d_inner,
            d_conv,
            groups=self.d_inner,
            padding=d_conv - 1,
            bias=conv_bias,
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.empty(self.d_inner, d_state))
        self.D = nn.Parameter(torch.empty(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.in_proj, self.conv1d, self.x_proj, self.out_proj):
            lin.reset_parameters()
        std = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        # softplus(bias) is log-uniform in [dt_min, dt_max]: bias = inverse softplus of dt
        log_dt = torch.rand(self.d_inner) * math.log(self.dt_max / self.dt_min)
        dt = torch.exp(log_dt + math.log(self.dt_min)).clamp(min=self.dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            # S4D-real: A = -(1, 2, ..., N) for every channel
            self.A_log.copy_(torch.log(torch.arange(1, self.d_state + 1.0)).repeat(self.d_inner, 1))
            self.D.fill_(1.0)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        batch, length, _ = x.shape
        lengths = mask_lengths(mask, batch, length)
        if length == 0:  # nothing to scan (a graph without nodes): an empty (B, 0, d_model)
            return self.out_proj(self.in_proj(x)[..., : self.d_inner])
        xz = self.in_proj(x).transpose(1, 2)  # (B, 2E, L)
        u, z = xz.chunk(2, dim=1)  # (B, E, L) each
        u = F.silu(self.conv1d(u)[..., :length])  # causal: output t sees inputs <= t
        dbc = self.x_proj(u.transpose(1, 2))  # (B, L, R + 2N)
        dt, B, C = dbc.split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = (dt @ self.dt_proj.weight.t()).transpose(1, 2)  # (B, E, L), bias in the scan
        y = selective_scan(
            u,
            delta,
            -torch.exp(self.A_log.float()),
            B.transpose(1, 2),  # (B, N, L)
            C.transpose(1, 2),  # (B, N, L)
            self.D.float(),
            z=z,
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            backend=self.backend,
            lengths=lengths,
        )  # (B, E, L)
        out = self.out_proj(y.transpose(1, 2))  # (B, L, d_model)
        return out if mask is None else out * mask[..., None]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.d_model}, d_state={self.d_state})"


class BiMamba(nn.Module):
    """Bidirectional Mamba: a forward block plus a block on the reversed sequences, summed.

    The two directions have separate weights. With a mask, each sequence is reversed within
    its own length, so padding never enters either direction.

    Args:
        d_model: Input and output channels.
        **kwargs: Arguments of :class:`Mamba`.

    Shapes:
        - **input:** x (B, L, d_model), mask (B, L) bool or None
        - **output:** (B, L, d_model)
    """

    def __init__(self, d_model: int, **kwargs) -> None:
        super().__init__()
        self.forward_block = Mamba(d_model, **kwargs)
        self.backward_block = Mamba(d_model, **kwargs)

    def reset_parameters(self) -> None:
        self.forward_block.reset_parameters()
        self.backward_block.reset_parameters()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        lengths = mask_lengths(mask, x.size(0), x.size(1))
        back = self.backward_block(flip_within(x, lengths, dim=1), mask)
        return self.forward_block(x, mask) + flip_within(back, lengths, dim=1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.forward_block.d_model})"


__all__ = ["BiMamba", "Mamba", "mask_lengths"]
