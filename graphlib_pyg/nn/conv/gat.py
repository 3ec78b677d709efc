"""Graph attention computed as one sparse matrix product over a cached CSR structure."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GATConv
from torch_geometric.nn.models import GAT
from torch_geometric.utils import softmax

from graphlib_pyg.nn.branching import BasicGNNBranching
from graphlib_pyg.nn.checks import check_channels, check_graph, remember, tensor_key


class HeadCSR:
    """The attention pattern of a graph for ``heads`` heads, as one block-diagonal CSR matrix.

    Row ``n * H + h`` holds the in-edges of node ``n`` for head ``h`` (self-loops replaced by one
    per node when ``add_self_loops``), column ``s * H + h`` their sources, so node features laid
    out as ``(N * H, C)`` (a plain ``view`` of PyG's ``(N, H, C)``) are aggregated for all heads
    by a single ``torch.sparse.mm``. The transpose, used by the backward pass, is built once.

    Attributes:
        row, col: (nnz * H,) block row and column of each entry, sorted by row then column.
        indptr: (N * H + 1,) row pointers.
        t_indptr, t_col, t_perm: CSR of the transpose; entry ``k`` of the transpose is entry
            ``t_perm[k]`` of this matrix.
    """

    def __init__(
        self, edge_index: Tensor, num_nodes: int, heads: int, add_self_loops: bool = True
    ) -> None:
        src, dst = edge_index[0].long(), edge_index[1].long()
        n, H = int(num_nodes), int(heads)
        if add_self_loops:  # PyG's GATConv: remove_self_loops, then add_self_loops
            keep = src != dst
            loop = torch.arange(n, device=src.device)
            src, dst = torch.cat([src[keep], loop]), torch.cat([dst[keep], loop])
        order = torch.argsort(dst * max(n, 1) + src, stable=True)
        src, dst = src[order], dst[order]
        deg = torch.bincount(dst, minlength=n)
        ptr = torch.zeros(n + 1, dtype=torch.long, device=src.device)
        torch.cumsum(deg, 0, out=ptr[1:])
        nnz = src.numel()
        # Entry k of block row (n, h): the k-th in-edge of n. Blocks of one node are consecutive.
        seg = torch.repeat_interleave(deg, H)  # (N * H,) entries per block row
        self.indptr = torch.zeros(n * H + 1, dtype=torch.long, device=src.device)
        torch.cumsum(seg, 0, out=self.indptr[1:])
        block_row = torch.repeat_interleave(torch.arange(n * H, device=src.device), seg)
        offset = torch.arange(nnz * H, device=src.device) - self.indptr[block_row]
        edge = ptr[block_row.div(H, rounding_mode="floor")] + offset  # (nnz * H,) edge position
        self.row = block_row
        self.col = src[edge] * H + block_row.remainder(H)
        self.num_rows = n * H
        self.t_perm = torch.argsort(self.col * (n * H) + self.row, stable=True)
        self.t_col = self.row[self.t_perm]
        t_deg = torch.bincount(self.col, minlength=n * H)
        self.t_indptr = torch.zeros(n * H + 1, dtype=torch.long, device=src.device)
        torch.cumsum(t_deg, 0, out=self.t_indptr[1:])

    def matrix(self, values: Tensor) -> Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            return torch.sparse_csr_tensor(
                self.indptr, self.col, values, (self.num_rows, self.num_rows)
            )

    def transposed(self, values: Tensor) -> Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(
                self.t_indptr, self.t_col, values[self.t_perm], (self.num_rows, self.num_rows)
            )


_PATTERNS: dict[tuple, HeadCSR] = {}


def head_csr(
    edge_index: Tensor, num_nodes: int, heads: int, add_self_loops: bool = True
) -> HeadCSR:
    """The :class:`HeadCSR` of ``edge_index``, built once per tensor and shared by every layer.

    Patterns are cached while ``edge_index`` is alive and unmodified, keyed by the tensor itself
    (not its values; :func:`~graphlib_pyg.nn.checks.tensor_key`): a model's layers with the same
    heads share one pattern, and a full-batch trainer that passes the same ``edge_index`` every
    epoch builds it once. The entry is dropped when the tensor is freed. An inference tensor
    (made under ``torch.inference_mode()``) has no version counter, so its pattern is built
    afresh on every call.
    """
    check_graph(edge_index, num_nodes, name="GAT edge_index")
    tkey = tensor_key(edge_index)
    if tkey is None:
        return HeadCSR(edge_index, num_nodes, heads, add_self_loops)
    key = (*tkey, int(num_nodes), int(heads), bool(add_self_loops))
    pattern = _PATTERNS.get(key)
    if pattern is None:
        pattern = HeadCSR(edge_index, num_nodes, heads, add_self_loops)
        remember(_PATTERNS, key, pattern, edge_index)
    return pattern


_SPARSE_DTYPES: dict[tuple, bool] = {}


def sparse_supports(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether the CSR kernels :class:`_AttentionSpMM` needs (``sparse.mm``, ``sampled_addmm``)
    exist for ``dtype`` on ``device`` (e.g. not for float16/bfloat16 on CPU); tried once."""
    key = (dtype, device.type)
    if key not in _SPARSE_DTYPES:
        try:
            with (
                torch.no_grad(),
                torch.autocast(device.type, enabled=False),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore", UserWarning)
                ptr = torch.tensor([0, 1], device=device)
                one = torch.ones(1, dtype=dtype, device=device)
                a = torch.sparse_csr_tensor(ptr, ptr[:1], one, (1, 1))
                torch.sparse.mm(a, one.view(1, 1))
                torch.sparse.sampled_addmm(a, one.view(1, 1), one.view(1, 1), beta=0.0)
            _SPARSE_DTYPES[key] = True
        except (RuntimeError, NotImplementedError):
            _SPARSE_DTYPES[key] = False
    return _SPARSE_DTYPES[key]


def attention_spmm_reference(values: Tensor, x: Tensor, pattern: HeadCSR) -> Tensor:
    """``A(values) @ x`` as a gather and a scatter over the entries: the readable definition,
    differentiable any number of times (it builds the (entries, C) tensor the fast path avoids).

    Shapes:
        - **values:** (nnz * H,); **x:** (N * H, C); **output:** (N * H, C)
    """
    msg = values.unsqueeze(-1) * x.index_select(0, pattern.col)  # (nnz * H, C)
    return x.new_zeros(pattern.num_rows, x.size(1)).index_add(0, pattern.row, msg)


class _AttentionSpMM(torch.autograd.Function):
    """``out = A(values) @ x`` for a :class:`HeadCSR` ``A``; gradients for values and x.

    The value gradient is the sampled product ``(grad @ x^T)`` at A's pattern
    (``torch.sparse.sampled_addmm``), so no (entries, C) tensor is ever built. When the backward
    pass is itself recorded (``create_graph=True``, for a double backward), the gradients come
    from :func:`attention_spmm_reference` instead: autograd cannot differentiate the sparse
    products through a pattern with repeated entries (duplicate edges).
    """

    @staticmethod
    def forward(ctx, values: Tensor, x: Tensor, pattern: HeadCSR) -> Tensor:
        ctx.pattern = pattern
        ctx.save_for_backward(values, x)
        return torch.sparse.mm(pattern.matrix(values), x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        values, x = ctx.saved_tensors
        pattern: HeadCSR = ctx.pattern
        grad = grad.contiguous()
        grad_values = grad_x = None
        if torch.is_grad_enabled():  # create_graph: the reference's gradients, differentiable
            g_rows = grad.index_select(0, pattern.row)  # (nnz * H, C)
            if ctx.needs_input_grad[0]:
                grad_values = (g_rows * x.index_select(0, pattern.col)).sum(-1)
            if ctx.needs_input_grad[1]:
                msg = values.unsqueeze(-1) * g_rows  # (nnz * H, C)
                grad_x = torch.zeros_like(x).index_add(0, pattern.col, msg)
            return grad_values, grad_x, None
        if ctx.needs_input_grad[0]:
            # beta=0: only A's pattern is read, (grad @ x^T) is sampled there
            at = pattern.matrix(values)
            grad_values = torch.sparse.sampled_addmm(at, grad, x.t(), beta=0.0).values()
        if ctx.needs_input_grad[1]:
            grad_x = torch.sparse.mm(pattern.transposed(values), grad)
        return grad_values, grad_x, None


class CSRGATConv(GATConv):
    r"""PyG's :class:`~torch_geometric.nn.GATConv` with the attention aggregation done as one
    sparse matrix product.

    PyG builds ``alpha * x_j`` for every edge and head, an (E, H, C) tensor, then scatters it.
    This layer puts the attention coefficients on a cached CSR pattern of all heads at once
    (:class:`HeadCSR`) and multiplies: the same parameters, state dict and outputs (up to float
    rounding, and the order in which attention dropout draws its random numbers), with no
    per-edge feature tensor in the forward or backward pass. The pattern is built on the first
    call with a given ``edge_index`` and shared by all layers while the same tensor is passed
    (:func:`head_csr`).

    Calls this path does not cover fall back to PyG's forward: bipartite ``(x_src, x_dst)``
    inputs, ``size``, edge features, sparse adjacency inputs, ``return_attention_weights``, and
    dtypes the sparse kernels lack on the device (float16 and bfloat16 on CPU,
    :func:`sparse_supports`). A double backward goes through the gradients of
    :func:`attention_spmm_reference` (the sparse products cannot be differentiated twice where
    the graph has duplicate edges).
    A malformed ``edge_index`` or a feature width other than ``in_channels`` raises a
    ``ValueError`` that names it.

    Shapes:
        - **input:** x (N, in_channels), edge_index (2, E)
        - **output:** (N, heads * out_channels) or (N, out_channels) with ``concat=False``
    """

    def pattern(self, edge_index: Tensor, num_nodes: int) -> HeadCSR:
        """The :class:`HeadCSR` of ``edge_index`` for this layer's heads (see :func:`head_csr`)."""
        return head_csr(edge_index, num_nodes, self.heads, self.add_self_loops)

    def forward(
        self,
        x,
        edge_index,
        edge_attr=None,
        size=None,
        return_attention_weights=None,
    ):
        if (
            not isinstance(x, Tensor)
            or not isinstance(edge_index, Tensor)
            or edge_index.layout != torch.strided
            or edge_attr is not None
            or size is not None
            or return_attention_weights is not None
            or self.lin is None
        ):
            return super().forward(x, edge_index, edge_attr, size, return_attention_weights)
        if x.dim() != 2:
            raise ValueError(f"{type(self).__name__}: x must be (N, F), got {tuple(x.shape)}")
        check_channels(x, self.lin.in_channels, name=type(self).__name__)
        H, C, n = self.heads, self.out_channels, x.size(0)
        check_graph(edge_index, n, name="GAT edge_index")
        h = self.lin(x)  # (N, H * C), in the dtype autocast chooses
        if not sparse_supports(h.dtype, h.device):  # e.g. bfloat16 on CPU: PyG's scatter path
            return super().forward(x, edge_index, edge_attr, size, return_attention_weights)
        pattern = self.pattern(edge_index, n)
        h = h.view(n, H, C)
        a_src = (h * self.att_src).sum(-1).reshape(-1)  # (N * H,), index s * H + h
        a_dst = (h * self.att_dst).sum(-1).reshape(-1)
        logits = F.leaky_relu(a_src[pattern.col] + a_dst[pattern.row], self.negative_slope)
        alpha = softmax(logits, pattern.row, num_nodes=pattern.num_rows)
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        out = _AttentionSpMM.apply(alpha, h.reshape(n * H, C), pattern).view(n, H, C)
        out = out.reshape(n, H * C) if self.concat else out.mean(dim=1)
        if self.res is not None:
            out = out + self.res(x)
        if self.bias is not None:
            out = out + self.bias
        return out


class CSRGAT(BasicGNNBranching, GAT):
    """PyG's :class:`~torch_geometric.nn.models.GAT` built from :class:`CSRGATConv` (``v2=False``).

    Same arguments, parameters, state dict and outputs (up to float rounding) as PyG's model.
    """

    def init_conv(self, in_channels, out_channels, **kwargs):
        conv = super().init_conv(in_channels, out_channels, **kwargs)
        if type(conv) is GATConv:  # GATv2 keeps PyG's layer
            # CSRGATConv only adds methods: the layer PyG built (its arguments, its weights from
            # the same random draws) becomes one by changing its class.
            conv.__class__ = CSRGATConv
        return conv
