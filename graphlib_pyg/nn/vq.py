"""A vector-quantised codebook with EMA updates: the structure tokenizer of VQGraph."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Distances a codebook can use: cosine similarity, or the negative Euclidean distance.
DISTANCES = ("cosine", "l2")


def code_logits(x: Tensor, codebook: Tensor, distance: str = "cosine") -> Tensor:
    """Similarity of every row of ``x`` to every code: cosine similarity, or the negative
    Euclidean distance (``distance="l2"``); the nearest code has the largest value.

    Shapes:
        x (N, D), codebook (K, D) -> (N, K)
    """
    if distance == "cosine":
        return F.normalize(x, dim=-1) @ F.normalize(codebook, dim=-1).t()
    if distance == "l2":
        return -torch.cdist(x, codebook)
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


class VectorQuantizer(nn.Module):
    r"""A codebook of :math:`K` vectors updated by exponential moving averages, from
    `"Neural Discrete Representation Learning" <https://arxiv.org/abs/1711.00937>`_ (VQ-VAE,
    with the EMA update of its appendix), as used by `"VQGraph: Rethinking Graph
    Representation Space for Bridging GNNs and MLPs" <https://arxiv.org/abs/2308.02117>`_ to
    tokenize each node's local structure.

    Each input row is assigned its nearest code and replaced by it, with the straight-through
    gradient to the input:

    .. math::
        k_i = \arg\max_k \; s(\mathbf{x}_i, \mathbf{e}_k), \qquad
        \mathbf{q}_i = \mathbf{x}_i + \mathrm{sg}(\mathbf{e}_{k_i} - \mathbf{x}_i),

    where :math:`s` is the cosine similarity or :math:`-\lVert \mathbf{x} - \mathbf{e}
    \rVert_2`. The codes get no gradient; in training mode they move towards the rows assigned
    to them. With :math:`n_k` rows and sum :math:`\mathbf{s}_k` assigned to code :math:`k` in
    the batch and decay :math:`\gamma`:

    - ``l2``: :math:`N_k \leftarrow \gamma N_k + (1 - \gamma) n_k`,
      :math:`\mathbf{m}_k \leftarrow \gamma \mathbf{m}_k + (1 - \gamma) \mathbf{s}_k`,
      :math:`\mathbf{e}_k = \mathbf{m}_k / \tilde N_k` with the Laplace-smoothed counts
      :math:`\tilde N_k = \frac{N_k + \epsilon}{\sum_j N_j + K \epsilon} \sum_j N_j`;
    - ``cosine`` (rows and codes unit-normalised first): :math:`\mathbf{e}_k \leftarrow \gamma
      \mathbf{e}_k + (1 - \gamma)\, \mathbf{s}_k / \lVert \mathbf{s}_k \rVert` for codes with
      :math:`n_k > 0` (the others keep their value); :math:`N_k` is tracked as above.

    With ``data_init`` the codes are set, at the first training batch, to randomly drawn rows of
    that batch (drawn with replacement when :math:`K > N`), instead of a random init.
    A code whose count :math:`N_k` falls below ``dead_threshold`` is dead: it is replaced by a
    random row of the batch (its count set to the threshold). The commitment loss pulls the
    input towards its code, :math:`\beta \lVert \mathbf{x} - \mathrm{sg}(\mathbf{e}_k)
    \rVert^2` (mean over entries); its gradient reaches the input only.

    Args:
        channels (int): code width :math:`D`.
        num_codes (int): codebook size :math:`K`.
        distance (str, optional): ``"cosine"`` or ``"l2"``. (default: ``"cosine"``, VQGraph)
        decay (float, optional): EMA decay :math:`\gamma` in [0, 1). (default: ``0.8``, VQGraph)
        commitment_weight (float, optional): :math:`\beta`. (default: ``0.25``, VQGraph)
        dead_threshold (float, optional): EMA count below which a code is re-drawn from the
            batch; ``0`` never re-draws (VQGraph's setting). (default: ``0.0``)
        eps (float, optional): the Laplace smoothing :math:`\epsilon`. (default: ``1e-5``)
        data_init (bool, optional): set the codes from the first training batch.
            (default: ``False``, VQGraph)

    Shapes:
        - **input:** x (N, D)
        - **output:** quantized (N, D), code index (N,), commitment loss (), logits (N, K)
          (similarity of each row to each code, :func:`code_logits`)
    """

    codebook: Tensor
    cluster_size: Tensor
    embed_sum: Tensor
    initialised: Tensor

    def __init__(
        self,
        channels: int,
        num_codes: int,
        distance: str = "cosine",
        decay: float = 0.8,
        commitment_weight: float = 0.25,
        dead_threshold: float = 0.0,
        eps: float = 1e-5,
        data_init: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("num_codes", num_codes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"VectorQuantizer: {name} must be an integer >= 1, got {value!r}")
        if distance not in DISTANCES:
            raise ValueError(
                f"VectorQuantizer: distance must be one of {DISTANCES}, got {distance!r}"
            )
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"VectorQuantizer: decay must be in [0, 1), got {decay!r}")
        if commitment_weight < 0 or dead_threshold < 0 or eps <= 0:
            raise ValueError(
                "VectorQuantizer: commitment_weight and dead_threshold must be >= 0 and eps > 0, "
                f"got {commitment_weight!r}, {dead_threshold!r}, {eps!r}"
            )
        self.channels, self.num_codes, self.distance = channels, num_codes, distance
        self.decay, self.commitment_weight = float(decay), float(commitment_weight)
        self.dead_threshold, self.eps = float(dead_threshold), float(eps)
        self.data_init = bool(data_init)
        self.register_buffer("initialised", torch.tensor(False))
        self.register_buffer("codebook", torch.empty(num_codes, channels))
        self.register_buffer("cluster_size", torch.zeros(num_codes))
        self.register_buffer("embed_sum", torch.empty(num_codes, channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.codebook)
        if self.distance == "cosine":
            self.codebook.copy_(F.normalize(self.codebook, dim=-1))
        self.cluster_size.zero_()
        self.embed_sum.copy_(self.codebook)
        self.initialised.fill_(not self.data_init)

    def codes(self) -> Tensor:
        """The codes as they replace inputs (unit length for ``cosine``). (K, D)"""
        return F.normalize(self.codebook, dim=-1) if self.distance == "cosine" else self.codebook

    def logits(self, x: Tensor) -> Tensor:
        """Similarity of each row of ``x`` to each code (:func:`code_logits`). (N, K)"""
        return code_logits(x, self.codebook, self.distance)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if x.dim() != 2 or x.size(-1) != self.channels:
            raise ValueError(
                f"VectorQuantizer: x must be (N, {self.channels}), got {tuple(x.shape)}"
            )
        if self.training and not bool(self.initialised):
            self._init_from(x.detach())
        logits = self.logits(x.detach())  # (N, K)
        index = logits.argmax(dim=-1)  # (N,)
        code = self.codes()[index]  # (N, D), no gradient: the codebook is a buffer
        if self.training:
            self._update(x.detach(), index)
        commit = self.commitment_weight * F.mse_loss(x, code)
        quantized = x + (code - x).detach()  # straight-through
        return quantized, index, commit, logits

    @torch.no_grad()
    def _init_from(self, x: Tensor) -> None:
        """Codes := randomly drawn rows of ``x`` (unit length for ``cosine``)."""
        n = x.size(0)
        if n >= self.num_codes:
            pick = torch.randperm(n, device=x.device)[: self.num_codes]
        else:
            pick = torch.randint(0, n, (self.num_codes,), device=x.device)
        rows = F.normalize(x[pick], dim=-1) if self.distance == "cosine" else x[pick]
        self.codebook.copy_(rows)
        self.embed_sum.copy_(rows)
        self.initialised.fill_(True)

    @torch.no_grad()
    def _update(self, x: Tensor, index: Tensor) -> None:
        """One EMA step towards the rows assigned to each code, then dead codes re-drawn."""
        if self.distance == "cosine":
            x = F.normalize(x, dim=-1)
        count = torch.bincount(index, minlength=self.num_codes).to(x.dtype)  # (K,)
        total = x.new_zeros(self.num_codes, self.channels).index_add_(0, index, x)  # (K, D)
        keep = 1.0 - self.decay
        self.cluster_size.lerp_(count, keep)
        if self.distance == "l2":
            self.embed_sum.lerp_(total, keep)
            n = self.cluster_size.sum()
            smoothed = (self.cluster_size + self.eps) / (n + self.num_codes * self.eps) * n
            self.codebook.copy_(self.embed_sum / smoothed.unsqueeze(-1))
        else:
            used = count > 0
            mean = F.normalize(total[used], dim=-1)
            self.codebook[used] = self.codebook[used].lerp(mean, keep)
        dead = self.cluster_size < self.dead_threshold
        if dead.any():
            pick = torch.randint(0, x.size(0), (int(dead.sum()),), device=x.device)
            self.codebook[dead] = x[pick]
            self.cluster_size[dead] = self.dead_threshold
            self.embed_sum[dead] = x[pick] * self.dead_threshold

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, num_codes={self.num_codes}, "
            f"distance={self.distance})"
        )
