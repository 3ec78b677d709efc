"""Supervised local learning through auxiliary networks: AugLocal and MAN on GNN backbones.

Every layer is trained by its own loss, through a small auxiliary network that ends in a linear
classifier; no gradient crosses a layer boundary (the engine detaches and L2-normalises each
layer's input). All layers update at every step (the engine's ``joint`` schedule). The last
layer's auxiliary network is the model's classifier, a linear layer, and the model predicts with
it; the other layers' heads are discarded after training.

- **AugLocal** (Ma et al., "Scaling Supervised Local Learning with Augmented Auxiliary
  Networks", ICLR 2024): layer ``l``'s auxiliary network is ``d_l`` freshly initialised copies of
  layers sampled evenly from those after ``l`` (the official code takes indices
  ``round(l + (L - l - 1) / d_l * i)``, ``i = 1..d_l``), then the classifier. ``d_l`` decreases
  linearly with ``l`` (the code's ``--pyramid``): ``d_l = max(1, round(d (1 - l c / (L - 2)) +
  l c / (L - 2)))`` with ``d = aux_depth`` and ``c = pyramid``, capped at the ``L - 1 - l``
  layers that exist after ``l``.
- **MAN** (Su et al., "Momentum Auxiliary Network for Supervised Local Learning", ECCV 2024):
  layer ``l``'s auxiliary network is the sum of an exponential moving average of layer ``l+1``
  (no gradient, ``θ ← m θ + (1 - m) θ_{l+1}`` after every step) and a trainable copy of the same
  layer (the official code's ``LB`` branch), then the classifier.

Both papers train CNNs on images; on graphs the copied layers are the backbone's own GNN layers,
run on the same graph.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphlib_pyg.data.tasks import NodeTask
from graphlib_pyg.train.base import RunResult
from graphlib_pyg.train.local import (
    LOCAL_DEFAULTS,
    LocalConv,
    LocalGraph,
    NodeObjective,
    Stream,
    engine_from_config,
    gat_defaults,
    l2_rows,
    trainer_config,
)
from graphlib_pyg.utils import seed_everything

#: Options of the auxiliary-network trainers (the layer-local engine's, joint schedule).
AUX_DEFAULTS: dict = LOCAL_DEFAULTS
AUGLOCAL_OPTIONS: dict = {"aux_depth": 2, "pyramid": 0.5}
MAN_OPTIONS: dict = {"momentum": 0.995}


def auglocal_depths(num_layers: int, depth: int, coeff: float) -> list[int]:
    """Auxiliary depth of layers ``0..L-2`` (AugLocal's pyramid schedule, capped by the layers
    that follow each one)."""
    out = []
    for layer in range(num_layers - 1):
        ratio = layer * coeff / (num_layers - 2) if num_layers > 2 else 0.0
        d = max(1, round(depth * (1 - ratio) + ratio))
        out.append(min(d, num_layers - 1 - layer))
    return out


def sampled_layers(layer: int, num_layers: int, depth: int) -> list[int]:
    """The later layers AugLocal copies for layer ``layer``: evenly spaced, ending at the last."""
    rest = num_layers - 1 - layer
    if depth >= rest:
        return list(range(layer + 1, num_layers))
    return [round(layer + rest / depth * i) for i in range(1, depth + 1)]


class AuxHead(nn.Module):
    """``classifier(branch(x))`` where ``branch`` is a chain of GNN layers (each on L2-normalised
    input) or, for MAN, the sum of a trainable layer and an EMA layer."""

    def __init__(
        self, convs: list[LocalConv], channels: int, num_classes: int, ema: LocalConv | None = None
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(convs)
        self.ema = ema
        if ema is not None:
            ema.requires_grad_(False)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, h: Tensor, graph: LocalGraph) -> Tensor:
        if self.ema is not None:  # MAN: trainable copy + momentum copy of the next layer
            x = l2_rows(h)
            h = self.convs[0](*self.convs[0].prepare(x, graph)) + self.ema(
                *self.ema.prepare(x, graph)
            )
        else:
            for conv in self.convs:
                h = conv(*conv.prepare(l2_rows(h), graph))
        return self.classifier(h)


class _AuxObjective(NodeObjective):
    """Cross-entropy of each layer's auxiliary network on the training nodes; the prediction is
    the last layer's classifier."""

    def __init__(self, task: NodeTask, split, kind: str, num_layers: int, heads: int = 1):
        super().__init__(task, split)
        data = task.data
        self.graph = LocalGraph(data.edge_index, self.n)
        self.streams = {"graph": Stream(self.graph, data.x.float())}
        self.train_streams = self.eval_streams = ("graph",)
        self.kind, self.num_layers, self.heads = kind, num_layers, heads
        self.y_train = data.y[split.train]

    def _conv(self, channels: int) -> LocalConv:
        return LocalConv(self.kind, channels, channels, self.heads)

    def loss(self, layer, head, out):
        logits = head(out["graph"], self.graph)[self.split.train]
        return F.cross_entropy(logits, self.y_train)

    def score(self, layer, head, out):
        return torch.softmax(head(out["graph"], self.graph), dim=-1)

    def combine(self, prev, score):
        return score  # the last layer's classifier alone


class AugLocalObjective(_AuxObjective):
    """AugLocal: fresh copies of sampled later layers, depth decreasing with the layer index."""

    def __init__(self, task, split, kind, num_layers, heads=1, aux_depth=2, pyramid=0.5):
        super().__init__(task, split, kind, num_layers, heads)
        if aux_depth < 1:
            raise ValueError(f"aux_depth must be >= 1, got {aux_depth}")
        self.depths = auglocal_depths(num_layers, aux_depth, pyramid)

    def head(self, layer, channels):
        d = self.depths[layer] if layer < self.num_layers - 1 else 0
        return AuxHead([self._conv(channels) for _ in range(d)], channels, self.k)


class MANObjective(_AuxObjective):
    """MAN: a trainable copy plus an EMA of the next layer, then the classifier."""

    def __init__(self, task, split, kind, num_layers, heads=1, momentum=0.995):
        super().__init__(task, split, kind, num_layers, heads)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.momentum = momentum

    def head(self, layer, channels):
        if layer == self.num_layers - 1:
            return AuxHead([], channels, self.k)
        return AuxHead([self._conv(channels)], channels, self.k, ema=self._conv(channels))

    @torch.no_grad()
    def after_step(self, convs, heads):
        m = self.momentum
        for layer, head in enumerate(heads[:-1]):
            for p_ema, p_next in zip(
                head.ema.parameters(), convs[layer + 1].parameters(), strict=True
            ):
                p_ema.mul_(m).add_(p_next.detach(), alpha=1 - m)


#: The auxiliary-network methods: objective class and its own options.
AUX_METHODS = {
    "auglocal": (AugLocalObjective, AUGLOCAL_OPTIONS),
    "man": (MANObjective, MAN_OPTIONS),
}


class AuxTrainer:
    """Local learning with auxiliary networks (AugLocal or MAN) of a GCN, SAGE or GAT.

    Args:
        task: a single-label :class:`NodeTask`.
        model: ``"gcn"``, ``"sage"`` or ``"gat"``.
        config: options (:data:`AUX_DEFAULTS`, the method's options; GAT: ``heads``).
        progress: optional ``progress(step, loss, val)`` callback.
    """

    own_defaults = True  # ForwardGNN's experiment-script defaults (LOCAL_DEFAULTS)

    method = "auglocal"

    @classmethod
    def option_defaults(cls, model: str, augment: str = "none") -> dict:
        return {**AUX_DEFAULTS, **AUX_METHODS[cls.method][1], **gat_defaults(model)}

    def __init__(
        self,
        task,
        model: str,
        config: dict | None = None,
        progress: Callable[[int, float, float], None] | None = None,
    ) -> None:
        self.objective_cls, options = AUX_METHODS[self.method]
        self.cfg, _ = trainer_config(self.method, task, model, {**AUX_DEFAULTS, **options}, config)
        self.options = {k: self.cfg[k] for k in options}
        self.task, self.kind, self.progress = task, model, progress

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        seed_everything(seed)
        split = self.task.split(seed if run is None else run)
        c = self.cfg
        obj = self.objective_cls(
            self.task, split, self.kind, c["num_layers"], c.get("heads", 1), **self.options
        )
        engine = engine_from_config(self.kind, c, schedule="joint", progress=self.progress)
        r = engine.fit(obj)
        return r.run_result()


class AugLocalTrainer(AuxTrainer):
    """AugLocal (Ma et al. 2024): each layer's auxiliary network samples later layers."""

    method = "auglocal"


class MANTrainer(AuxTrainer):
    """MAN: each layer's auxiliary network is a momentum copy of the next layer."""

    method = "man"


AUX_TRAINERS = {"auglocal": AugLocalTrainer, "man": MANTrainer}
