"""Typed options of a backprop run, split once: training, model and augmentation options.

A run's ``key=value`` options arrive as one flat mapping (the CLI, a YAML grid, a Python call).
:meth:`RunOptions.parse` is the one place that splits it: the training options become a
:class:`TrainOptions` (typed fields, each default written once, here), the model's own options
are completed with the registry defaults of its :class:`~graphlib_pyg.nn.registry.ModelSpec`,
and with ``augment="la"`` the ``la_*`` options with :data:`~graphlib_pyg.augment.la.LA_OPTIONS`.
Types and ranges are checked by :func:`graphlib_pyg.bench.options.check_options` at the command
line edge before a run starts; here an unknown key is an error that lists the valid ones.
Nothing downstream splits or merges them again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from types import MappingProxyType

from graphlib_pyg.nn.registry import MODELS
from graphlib_pyg.train.precision import check_precision
from graphlib_pyg.utils import did_you_mean, resolve


@dataclass(frozen=True)
class TrainOptions:
    """What the backprop trainers read (defaults: the Planetoid GCN setting of the harness;
    per-model and per-dataset published settings live in :mod:`graphlib_pyg.bench.defaults`)."""

    epochs: int = 200
    lr: float = 0.01
    weight_decay: float = 5e-4
    hidden: int = 64
    num_layers: int = 2
    dropout: float = 0.5
    input_dropout: float = 0.0
    eval_every: int = 1
    patience: int | None = None  # evaluations without a better validation score; None: never
    batch_size: int | None = None  # None: full batch (node), all edges (link), 128 (graph)
    fanouts: list | None = None  # sampled neighbours per hop (default 10 per layer)
    num_neg: int = 1  # link tasks: negatives per positive
    pred_layers: int = 3  # link tasks: OGB predictor depth
    eval_batch: int = 65536
    emb_dim: int | None = None  # featureless link graphs: embedding width (default hidden)
    init: str | None = None  # re-initialisation (graphlib_pyg.nn.init.INITS)
    select: str = "metric"  # metric (best validation score) | loss (lowest validation loss)
    sampler: str = "neighbor"  # mini-batches: neighbor (sampled, fanouts) | exact (full k-hop)
    batch_order: str = "random"  # graph-level batches: random | size (similar sizes)
    head_layers: int = 2  # graph tasks: linear layers of the MLP head after pooling
    head_dropout: float = 0.0  # graph tasks: dropout after each hidden layer of that head
    device: str = "cpu"  # where the model trains in one process: cpu | cuda | cuda:K | auto
    checkpoint_every: int = 10  # epochs between checkpoints (with a checkpoint path); 0: none
    keep_checkpoints: bool = False  # keep a run's checkpoint once it finished
    precision: str = "fp32"  # fp32 | bf16 (autocast forward, float32 weights: train/precision.py)
    optimizer: str = "adam"  # adam | adamw (decoupled weight decay)
    scheduler: str | None = None  # None: constant lr | cosine (per epoch, after warm-up) | plateau
    warmup_epochs: int = 0  # scheduler=cosine: epochs of linear warm-up first
    plateau_factor: float = 0.1  # scheduler=plateau: lr *= this after ``plateau_patience``
    plateau_patience: int = 10  # evaluations without a lower validation loss (GraphGym's)
    min_lr: float = 0.0  # scheduler=plateau: the lr never goes below this
    clip_grad_norm: float | None = None  # clip the gradients' total L2 norm to this per step

    def __post_init__(self) -> None:
        check_precision(self.precision)  # an unknown value fails before anything trains

    def as_dict(self) -> dict:
        return asdict(self)


#: The training options with their defaults, as a mapping (the schema of the edge's checks).
TRAIN_DEFAULTS: dict = TrainOptions().as_dict()


@dataclass(frozen=True)
class RunOptions:
    """One backprop run's options, split by what reads them.

    Attributes:
        train: the training loop's options.
        model: every option of the model's builder, registry defaults filled in.
        augment: the ``la_*`` options (all of them) with ``augment="la"``, else ``None``.
    """

    train: TrainOptions
    model: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    augment: MappingProxyType | None = None

    def as_dict(self) -> dict:
        """The options as one flat mapping again (training, model, then LA options)."""
        return {**self.train.as_dict(), **self.model, **(self.augment or {})}

    @classmethod
    def parse(cls, model: str, config: dict | None = None, augment: str = "none") -> RunOptions:
        """Split ``config`` (flat ``key -> value``) for ``model`` and ``augment``."""
        spec = resolve(model, MODELS, "model")
        config = dict(config or {})
        la = None
        if augment == "la":
            from graphlib_pyg.augment.la import LA_OPTIONS

            la = {**LA_OPTIONS, **{k: config.pop(k) for k in list(config) if k in LA_OPTIONS}}
        elif augment != "none":
            raise KeyError(f"unknown augmentation {augment!r}. Valid: la, none")
        options = {**spec.options, **{k: config.pop(k) for k in list(config) if k in spec.options}}
        names = {f.name for f in fields(TrainOptions)}
        unknown = sorted(set(config) - names)
        if unknown:
            valid = sorted(names | set(spec.options) | set(la or ()))
            raise TypeError(
                f"unknown option(s) {unknown} for model {model!r}."
                f"{did_you_mean(unknown[0], valid)} Valid: {', '.join(valid)}"
            )
        return cls(
            TrainOptions(**config),
            MappingProxyType(options),
            None if la is None else MappingProxyType(la),
        )
