"""Laplacian positional encodings that keep their eigenvalues, and GraphGPS's LapPE encoder.

PyG's ``AddLaplacianEigenvectorPE`` gives the eigenvectors only and fixes their signs once. The
GraphGPS recipe needs more: the eigenvalues next to the eigenvectors, an encoder that reads the
(eigenvector entry, eigenvalue) pairs (a linear map or a DeepSet over the K pairs), and a fresh
random sign per eigenvector at every training step (an eigenvector's sign is arbitrary, so the
model must not learn it). The pairs are preprocessing,
:func:`graphlib_pyg.data.pe.laplacian_eigenpairs` (re-exported here); :class:`LapPEEncoder` is
the encoder.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphlib_pyg.data.pe import laplacian_eigenpairs


def random_sign_flip(vectors: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Multiply each eigenvector (column) by an independent random sign.

    Shapes:
        vectors: (N, k).  Returns: (N, k).
    """
    k = vectors.size(-1)
    sign = torch.randint(0, 2, (k,), generator=generator, device="cpu").to(vectors) * 2 - 1
    return vectors * sign


class LapPEEncoder(nn.Module):
    r"""Encode (eigenvector entry, eigenvalue) pairs into a ``dim``-wide positional embedding.

    ``kind="deepset"``: :math:`\rho(\sum_j \phi([v_{ij}, \lambda_j]))` with two-layer MLPs
    :math:`\phi`, :math:`\rho` (invariant to the order of the K pairs; GraphGPS's default);
    ``kind="linear"``: one linear map of the 2K numbers. In training mode every call flips the
    sign of each eigenvector at random (the same sign for all nodes), as GraphGPS does at every
    step; in eval mode the signs are left alone. Zero-padded pairs (graphs with fewer than K + 1
    nodes) are masked out of the DeepSet sum.

    Args:
        k: number of eigenpairs K.
        dim: output width.
        kind: ``"deepset"`` or ``"linear"``.
        hidden: width of the DeepSet's MLPs (default ``2 * dim``).

    Shapes:
        - **input:** vectors (N, K), values (N, K) or (K,)
        - **output:** (N, dim)
    """

    def __init__(self, k: int, dim: int, kind: str = "deepset", hidden: int | None = None):
        super().__init__()
        if kind not in ("deepset", "linear"):
            raise ValueError(f"kind must be 'deepset' or 'linear', got {kind!r}")
        if k < 1 or dim < 1:
            raise ValueError(f"k and dim must be >= 1, got {k}, {dim}")
        self.k, self.dim, self.kind = k, dim, kind
        hidden = hidden or 2 * dim
        if kind == "deepset":
            self.phi = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
            self.rho = nn.Sequential(nn.ReLU(), nn.Linear(hidden, dim))
        else:
            self.lin = nn.Linear(2 * k, dim)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def forward(self, vectors: Tensor, values: Tensor) -> Tensor:
        if vectors.dim() != 2 or vectors.size(1) != self.k:
            raise ValueError(f"vectors must have shape (N, {self.k}), got {tuple(vectors.shape)}")
        values = values.expand_as(vectors)
        if self.training:
            vectors = random_sign_flip(vectors)
        if self.kind == "linear":
            return self.lin(torch.cat([vectors, values], dim=1))
        pairs = torch.stack([vectors, values], dim=-1)  # (N, K, 2)
        h = self.phi(pairs)  # (N, K, hidden)
        real = (vectors != 0) | (values != 0)  # padded pairs are exact zeros in both
        h = (h * real.unsqueeze(-1)).sum(1)  # (N, hidden)
        return self.rho(h)


__all__ = ["LapPEEncoder", "laplacian_eigenpairs", "random_sign_flip"]
