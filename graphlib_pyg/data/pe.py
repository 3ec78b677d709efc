"""Laplacian eigenpairs as preprocessing: the positional encodings GPS's LapPE encoder reads.

PyG's ``AddLaplacianEigenvectorPE`` gives the eigenvectors only and fixes their signs once; the
GraphGPS recipe also needs the eigenvalues. :func:`laplacian_eigenpairs` computes both with a sparse
eigensolver (no dense N x N matrix). The encoder that reads them is a layer:
:class:`graphlib_pyg.nn.transformer.LapPEEncoder`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from graphlib_pyg.data.graph import validate_graph


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
