"""Pre-training the neighbour generator on (centre, neighbour) pairs sampled from the CSR graph.

The reference implementation stacks the features of every (centre, neighbour) pair into two
dense matrices before training (``2 * E * F`` floats: about 2.4 GB for ogbn-arxiv). Here each
mini-batch draws ``batch_size`` uniform edge positions from the graph's CSR index and gathers only
those rows, so memory is ``O(batch_size * F)`` on top of the graph itself, whatever the number of
edges. An epoch is ``ceil(E / batch_size)`` batches (each edge once in expectation).

Optional checkpoint selection follows the paper: a small GCN is trained on the original features;
after every generator step a fresh generated matrix is scored by the GCN's Monte-Carlo dropout
predictions on the training nodes, and the generator with the best score is kept.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from graphlib_pyg.augment.generator import NeighborGenerator, feature_kind, is_row_normalized
from graphlib_pyg.data.graph import GraphIndex


def sample_pairs(
    index: GraphIndex,
    batch_size: int,
    generator: torch.Generator | None = None,
    self_loops: bool = False,
) -> tuple[Tensor, Tensor]:
    """Draw ``batch_size`` (centre, neighbour) pairs uniformly among the graph's edges.

    Only ``batch_size`` edge positions are drawn; the centre of each is found by a binary search
    in ``index.indptr`` (nothing of size E is allocated).

    Args:
        index: the graph's :class:`GraphIndex` (in-neighbour CSR).
        batch_size: number of pairs.
        generator: random generator for reproducible draws.
        self_loops: also draw (v, v) pairs, as if every node had a self-loop (the reference
            code adds them), with probability ``N / (E + N)`` per pair.

    Returns:
        ``(center, neighbor)``, two (batch_size,) long tensors.
    """
    n, e = index.num_nodes, index.num_edges
    total = e + (n if self_loops else 0)
    if total == 0:
        raise ValueError("the graph has no edges to pre-train the neighbour generator on")
    pos = torch.randint(total, (batch_size,), generator=generator)  # (B,)
    is_edge = pos < e
    epos = pos.clamp(max=max(e - 1, 0))
    center = torch.searchsorted(index.indptr, epos, right=True) - 1  # CSR row = target node
    nbr = index.indices[epos] if e > 0 else torch.zeros_like(pos)
    if self_loops:
        loop = pos - e
        center = torch.where(is_edge, center, loop)
        nbr = torch.where(is_edge, nbr, loop)
    return center, nbr


@dataclass
class PretrainResult:
    """What :func:`pretrain_generator` produced."""

    generator: NeighborGenerator
    losses: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    best_step: int | None = None
    steps: int = 0


class _UncertaintySelector:
    """The paper's checkpoint score: disagreement of an MC-dropout GCN on generated features.

    A 2-layer GCN is trained on the original features (``epochs`` steps, Adam 0.01, weight decay
    5e-4). :meth:`score` runs ``passes`` forward passes with dropout active on a generated matrix
    and returns ``NLL(mean_k p_k) - mean_k NLL(p_k)`` on the training nodes: minus the Jensen gap
    of the passes, at most 0, higher when the passes agree. :meth:`adapt` trains the GCN for a few
    epochs on the generated features of a newly selected generator, as the reference code does.
    """

    def __init__(self, x, index, y, train, hidden, dropout, epochs, seed) -> None:
        from torch_geometric.nn.models import GCN

        self.adj, self.y, self.train = index.adj_t("gcn"), y, train
        state = torch.get_rng_state()
        torch.random.default_generator.manual_seed(seed)  # the CPU stream only, as pre-training
        self.model = GCN(x.size(1), hidden, 2, int(y.max()) + 1, dropout=dropout, normalize=False)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=0.01, weight_decay=5e-4)
        self.fit(x, epochs)
        torch.set_rng_state(state)

    def fit(self, x: Tensor, epochs: int) -> None:
        self.model.train()
        for _ in range(epochs):
            self.opt.zero_grad()
            out = self.model(x, self.adj)[self.train]
            F.cross_entropy(out, self.y[self.train]).backward()
            self.opt.step()

    def adapt(self, x_bar: Tensor, epochs: int) -> None:
        state = torch.get_rng_state()
        self.fit(x_bar, epochs)
        torch.set_rng_state(state)

    @torch.no_grad()
    def score(self, x_bar: Tensor, passes: int) -> float:
        self.model.train()  # Monte-Carlo dropout
        y = self.y[self.train]
        logp = torch.stack(
            [torch.log_softmax(self.model(x_bar, self.adj)[self.train], -1) for _ in range(passes)]
        )  # (passes, T, C)
        nll_each = -logp.gather(-1, y.view(1, -1, 1).expand(passes, -1, 1)).mean()
        mean_p = logp.exp().mean(0)  # (T, C)
        nll_mean = F.nll_loss(mean_p.clamp_min(1e-12).log(), y)
        return float(nll_mean - nll_each)


def pretrain_generator(
    x: Tensor,
    index: GraphIndex,
    *,
    hidden_channels: int = 256,
    latent_channels: int = 10,
    recon: str | None = None,
    normalize: bool | None = None,
    epochs: float = 10,
    batch_size: int = 64,
    lr: float = 0.01,
    self_loops: bool = False,
    binarize: bool | None = None,
    seed: int = 0,
    select: str | None = None,
    y: Tensor | None = None,
    train: Tensor | None = None,
    mc_passes: int = 100,
    select_every: int = 1,
    warmup: int = 200,
    select_hidden: int = 32,
    select_dropout: float = 0.5,
    select_epochs: int = 100,
    adapt_epochs: int = 20,
    progress: Callable[[int, float], None] | None = None,
) -> PretrainResult:
    """Train a :class:`NeighborGenerator` on pairs sampled per mini-batch (never materialised).

    Args:
        x: (N, F) node features (the generator learns :math:`p(x_u \\mid x_v)` for edges).
        index: the graph's :class:`GraphIndex`.
        hidden_channels, latent_channels: generator sizes.
        recon: ``"bce"``/``"mse"`` (default: :func:`feature_kind` of ``x``).
        normalize: row-normalise generated rows (default: whether ``x`` is row-normalised).
        epochs: passes over the edges (fractional allowed); ``ceil(epochs * E / batch_size)`` steps.
        batch_size: pairs per step.
        lr: Adam learning rate.
        self_loops: include (v, v) pairs (the reference code does not).
        binarize: train on presence indicators ``x > 0`` (default: when ``x`` is row-normalised,
            i.e. bag-of-words that were normalised; see :class:`NeighborGenerator`).
        seed: seed of the generator's initialisation and of the pair draws. The caller's
            global random state is the same after the call as before it.
        select: ``None`` (keep the last generator) or ``"uncertainty"`` (needs ``y``,
            ``train``): keep the generator whose generated features get the best score from
            an MC-dropout GCN trained on the original features (see
            :class:`_UncertaintySelector`). As in the reference code the best score is tracked
            from the first step but a checkpoint is only kept after ``warmup`` steps; if no
            score after warmup beats the best, the last generator is returned.
        mc_passes: dropout passes per score (reference: 100).
        select_every: score every this many steps (reference: 1).
        warmup: steps before a checkpoint may be kept (reference: 200).
        select_hidden, select_dropout, select_epochs: the scoring GCN (reference: 32, 0.5, 100).
        adapt_epochs: epochs the scoring GCN trains on a newly selected generator's features.
        progress: optional ``progress(step, loss)`` callback.

    Returns:
        :class:`PretrainResult` with the (selected) generator in eval mode.
    """
    if x.dim() != 2 or x.size(0) != index.num_nodes:
        raise ValueError(
            f"x must have shape ({index.num_nodes}, F) for this graph, got {tuple(x.shape)}"
        )
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    if batch_size < 1 or epochs <= 0:
        raise ValueError(f"batch_size and epochs must be positive, got {batch_size}, {epochs}")
    if select not in (None, "uncertainty"):
        raise ValueError(f"select must be None or 'uncertainty', got {select!r}")
    if select == "uncertainty" and (y is None or train is None):
        raise ValueError("select='uncertainty' needs labels y and training nodes train")
    x = x.float()
    recon = recon or feature_kind(x)
    row_norm = is_row_normalized(x)
    normalize = row_norm if normalize is None else normalize
    binarize = row_norm if binarize is None else binarize
    if binarize:
        recon = "bce"
    # Everything random in here (initialisation, the CVAE's noise, the scoring GCN's dropout)
    # draws from the global generator seeded with ``seed`` under a forked state: the caller's
    # random stream is the same after pre-training as before it, so a run that pre-trains and
    # a run that loads the same generator from a file go on identically.
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        gen_model = NeighborGenerator(
            x.size(1), hidden_channels, latent_channels, recon, normalize, binarize
        )
        opt = torch.optim.Adam(gen_model.parameters(), lr=lr)
        pairs = torch.Generator().manual_seed(seed)
        total = index.num_edges + (index.num_nodes if self_loops else 0)
        steps = max(1, math.ceil(epochs * total / batch_size))
        selector = None
        if select == "uncertainty":
            selector = _UncertaintySelector(
                x, index, y, train, select_hidden, select_dropout, select_epochs, seed
            )
        result = PretrainResult(gen_model, steps=steps)
        best, best_state = -math.inf, None
        for step in range(1, steps + 1):
            gen_model.train()
            center, nbr = sample_pairs(index, batch_size, pairs, self_loops)
            loss = gen_model.loss(x[nbr], x[center])
            opt.zero_grad()
            loss.backward()
            opt.step()
            result.losses.append(float(loss.detach()))
            if progress is not None:
                progress(step, result.losses[-1])
            if selector is not None and step % select_every == 0:
                gen_model.eval()
                x_bar = gen_model.sample(x)
                s = selector.score(x_bar, mc_passes)
                result.scores.append(s)
                if s > best:
                    best = s
                    if step > warmup:
                        result.best_step = step
                        best_state = copy.deepcopy(gen_model.state_dict())
                        if adapt_epochs:
                            selector.adapt(x_bar, adapt_epochs)
        if best_state is not None:
            gen_model.load_state_dict(best_state)
        gen_model.zero_grad(set_to_none=True)  # as a loaded generator: no stale gradients
        gen_model.eval()
        return result
