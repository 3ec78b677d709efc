"""Laplacian positional encodings that keep their eigenvalues, and GraphGPS's LapPE encoder.

PyG's ``AddLaplacianEigenvectorPE`` gives the eigenvectors only and fixes their signs once. The
GraphGPS recipe needs more: the eigenvalues next to the eigenvectors, an encoder that reads the
(eigenvector entry, eigenvalue) pairs (a linear map or a DeepSet over the K pairs), and a fresh
random sign per eigenvector at every training step (an eigenvector's sign is arbitrary, so the
model must not learn it). :func:`laplacian_eigenpairs` computes the pairs with a sparse
eigensolver (no dense N x N matrix); :class:`LapPEEncoder` is the encoder.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn


def laplacian_eigenpairs(
    edge_index: Tensor, num_nodes: int, k: int, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """The ``k`` smallest non-trivial eigenpairs of the symmetric normalised Laplacian.

    ``L = I - D^-1/2 A D^-1/2`` of the undirected graph (edges symmetrised, self-loops dropped),
    from ``scipy.sparse.linalg.eigsh`` on a sparse matrix: memory O(E + N k), never N x N. The
    first eigenpair (eigenvalue 0, the trivial one) is skipped; graphs with fewer than ``k + 1``
    nodes are padded with zero columns (eigenvalue 0).

    Returns:
        ``(vectors, values)``: (N, k) unit eigenvectors and their (k,) eigenvalues, ascending.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigsh

    from graphlib_pyg.data.graph import validate_graph

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    validate_graph(edge_index, num_nodes)  # shape, dtype and index range, named in the error
    n = int(num_nodes)
    vecs, vals = np.zeros((n, k), dtype=np.float64), np.zeros(k, dtype=np.float64)
    if n >= 2:
        src, dst = edge_index.cpu().numpy()
        keep = src != dst
        a = sp.coo_matrix((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(n, n))
        a = ((a + a.T) > 0).astype(np.float64).tocsr()
        deg = np.asarray(a.sum(1)).ravel()
        dinv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-12)), 0.0)
        lap = sp.eye(n) - sp.diags(dinv) @ a @ sp.diags(dinv)
        m = min(k + 1, n)
        if n <= 2 * m + 1:  # tiny graph: eigsh needs k < n; dense is small here
            w, v = np.linalg.eigh(lap.toarray())
        else:
            v0 = np.random.default_rng(seed).standard_normal(n)  # reproducible start vector
            w, v = eigsh(lap, k=m, which="SA", tol=1e-6, v0=v0)  # SA: ~4x SM
        order = np.argsort(w)[:m]
        w, v = w[order][1:], v[:, order][:, 1:]
        vals[: w.size], vecs[:, : w.size] = np.clip(w, 0.0, 2.0), v
    return torch.from_numpy(vecs).float(), torch.from_numpy(vals).float()


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
