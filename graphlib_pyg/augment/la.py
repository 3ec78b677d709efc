"""LA-GNN in the benchmark harness: ``graphlib bench --model gcn --augment la``.

:class:`LocalAugmentationPlan` turns a run's ``la_*`` options into (1) a pre-trained generator,
cached on disk per dataset and reused across seeds, (2) the backbone wrapped to take generated
features, and (3) the training loss: the supervised loss averaged over ``la_samples`` augmented
forward passes plus the sharpened consistency loss. Defaults are the reference code's
(Citation scripts of Liu et al.): one generated matrix, 4 samples, T=0.5, lambda=1, the
concat-style first layer, and a CVAE (256 hidden, latent 10) pre-trained for 10 epochs of
64-pair batches with uncertainty-based checkpoint selection (scored every 10th step here rather
than every step: the same 100 MC passes per score at a tenth of the CPU time).

The ablation ladder is a set of options: ``la_source=copy la_samples=1 la_lam=0`` (concat X with
itself), ``la_samples=1 la_lam=0`` (+ local augmentation), ``la_tem=1`` (+ consistency, no
sharpening), defaults (+ sharpening).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from graphlib_pyg.augment.consistency import consistency_loss
from graphlib_pyg.augment.generator import NeighborGenerator
from graphlib_pyg.augment.local import LocalAugmentation
from graphlib_pyg.nn.branching import BranchableInput
from graphlib_pyg.nn.conv.resolver import ConvFactory, conv_factory
from graphlib_pyg.nn.dropout import InputDropout
from graphlib_pyg.nn.registry import MODELS

#: Options of ``--augment la`` (config keys), with the reference code's defaults.
LA_OPTIONS: dict = {
    "la_style": "branch",  # branch (paper's first layer) | concat (unmodified model) | mean
    "la_concat": 1,  # generated matrices per forward pass
    "la_samples": 4,  # augmented forward passes per training step (K)
    "la_tem": 0.5,  # sharpening temperature T (1 = no sharpening)
    "la_lam": 1.0,  # consistency weight lambda (0 = no consistency loss)
    "la_source": "generator",  # generator | copy (X_bar = X: the "concat X with itself" ablation)
    "la_eval": "fixed",  # fixed (one seeded draw) | mean (of la_eval_draws) | redraw (reference)
    "la_eval_draws": 5,
    "la_hidden": 256,  # generator width
    "la_latent": 10,  # generator latent size
    "la_pretrain_epochs": 10.0,
    "la_pretrain_batch": 64,
    "la_pretrain_lr": 0.01,
    "la_select": "uncertainty",  # uncertainty | none
    "la_mc_passes": 100,
    "la_select_every": 10,  # the reference scores after every step: 10x the CPU time
    "la_warmup": 200,
}

#: Keys that change the pre-trained generator (and so its cache file).
_PRETRAIN_KEYS = (
    "la_hidden",
    "la_latent",
    "la_pretrain_epochs",
    "la_pretrain_batch",
    "la_pretrain_lr",
    "la_select",
    "la_mc_passes",
    "la_select_every",
    "la_warmup",
)


def _branch_conv(model: str, cfg: dict, n_inputs: int) -> ConvFactory:
    """The first-layer convolution of a harness backbone, for :func:`branch_first_layer`: the
    resolver's layer for the model's graph input, GAT's heads split over the branches."""
    if model not in ("gcn", "sage", "gat"):
        raise ValueError(
            f"la_style=branch supports the models gcn, sage, gat and gcn2, not {model!r}; "
            "use la_style=concat (any model) or la_style=mean"
        )
    heads = 1
    if model == "gat":
        heads = cfg["heads"]  # the model options, its registry defaults included
        if heads % n_inputs:
            raise ValueError(
                f"la_style=branch splits GAT's {heads} heads over {n_inputs} inputs; "
                "use a number of heads divisible by 1 + la_concat"
            )
        heads //= n_inputs
    graph = MODELS[model].adj  # the graph input the harness feeds this model
    return conv_factory(model, graph=graph, heads=heads, dropout=cfg.get("dropout", 0.0))


class LocalAugmentationPlan:
    """Builds, wraps and trains one backbone with local augmentation, for one run.

    Args:
        options: the ``la_*`` options (missing ones take :data:`LA_OPTIONS` defaults).
    """

    def __init__(self, options: dict) -> None:
        unknown = set(options) - set(LA_OPTIONS)
        if unknown:
            raise TypeError(f"unknown LA option(s) {sorted(unknown)}; valid: {sorted(LA_OPTIONS)}")
        self.o = {**LA_OPTIONS, **options}
        o = self.o
        if o["la_style"] not in ("branch", "concat", "mean"):
            raise ValueError(f"la_style must be branch, concat or mean, got {o['la_style']!r}")
        if o["la_select"] not in ("uncertainty", "none"):
            raise ValueError(f"la_select must be uncertainty or none, got {o['la_select']!r}")
        if o["la_samples"] < 1 or o["la_concat"] < 1:
            raise ValueError("la_samples and la_concat must be >= 1")

    # ------------------------------------------------------------------ generator
    def cache_path(self, task, train: Tensor | None) -> Path:
        from graphlib_pyg.data.datasets import cache_root

        key = {k: self.o[k] for k in _PRETRAIN_KEYS}
        key["num_nodes"], key["num_edges"] = task.num_nodes, task.index().num_edges
        if self.o["la_select"] == "uncertainty":  # selection reads the training labels
            key["train"] = hashlib.sha1(train.numpy().tobytes()).hexdigest()
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        return cache_root() / "la" / f"{task.name}-{digest}.pt"

    def generator(self, task, train: Tensor, progress: bool = False) -> NeighborGenerator:
        """The pre-trained generator for ``task`` (from the cache, or trained and cached).

        Either way the global random state is the same afterwards as before the call, so a run
        gives the same numbers with a freshly trained generator and with the cached one.
        """
        from graphlib_pyg.augment.pretrain import pretrain_generator

        o = self.o
        path = self.cache_path(task, train)
        select = o["la_select"] if o["la_select"] != "none" else None
        # Both branches run under a forked RNG state, so that the run's random stream does not
        # depend on which one ran (loading and pre-training are RNG-neutral themselves; the
        # fork keeps this plan's promise whatever they do).
        with torch.random.fork_rng(devices=[]):
            if path.is_file():
                return NeighborGenerator.load(path)
            result = pretrain_generator(
                task.data.x,
                task.index(),
                hidden_channels=o["la_hidden"],
                latent_channels=o["la_latent"],
                epochs=o["la_pretrain_epochs"],
                batch_size=o["la_pretrain_batch"],
                lr=o["la_pretrain_lr"],
                select=select,
                y=task.data.y,
                train=train,
                mc_passes=o["la_mc_passes"],
                select_every=o["la_select_every"],
                warmup=o["la_warmup"],
            )
        result.generator.save(
            path, steps=result.steps, best_step=result.best_step, final_loss=result.losses[-1]
        )
        return result.generator

    # ------------------------------------------------------------------ model
    def wrap(
        self,
        build: Callable[[int, float], nn.Module],
        model_name: str,
        cfg: dict,
        in_channels: int,
        generator: NeighborGenerator | None,
    ) -> LocalAugmentation:
        """Build the backbone with ``build(in_width, input_dropout)`` and wrap it.

        ``branch``: the backbone is built for ``F`` inputs and its first convolution is split into
        ``1 + la_concat`` branches of the same total width (parameter count unchanged);
        ``concat``: built for ``(1 + la_concat) * F`` inputs; ``mean``: built for ``F``.
        With ``branch``/``concat`` the config's ``input_dropout`` is applied by the wrapper to
        each input block (the same distribution as dropping the concatenation, cheaper).
        """
        o, n = self.o, 1 + self.o["la_concat"]
        style = o["la_style"]
        p = float(cfg.get("input_dropout", 0.0) or 0.0)
        if style == "concat":
            model = build(n * in_channels, 0.0)
        elif style == "branch":
            model = build(in_channels, 0.0)
        else:
            model, p = build(in_channels, p), 0.0
        if style == "branch":  # the model's own hook: one first-layer branch per input block
            inner = model.model if isinstance(model, InputDropout) else model
            if not isinstance(inner, BranchableInput):
                raise ValueError(
                    f"la_style=branch needs a model with the branch_input hook (gcn, sage, gat, "
                    f"gcn2, residual models), not {model_name!r}; use la_style=concat or mean"
                )
            # built only where the first layer is a convolution (GCNII/residual: linear maps)
            inner.branch_input(n, lambda i, o: _branch_conv(model_name, cfg, n)(i, o))
        return LocalAugmentation(
            model,
            generator,
            n_aug=o["la_concat"],
            style="mean" if style == "mean" else "concat",
            eval_policy=o["la_eval"],
            eval_draws=o["la_eval_draws"],
            source=o["la_source"],
            input_dropout=p,
            blocks=style == "branch",  # the branched first layer takes the blocks as they are
        )

    # ------------------------------------------------------------------ loss
    def loss(
        self,
        forward: Callable[[], Tensor],
        supervised: Callable[[Tensor], Tensor],
        mask: Tensor | None = None,
    ) -> Tensor:
        """``mean_k supervised(out_k) + lambda * consistency(out_1..K)`` over K fresh passes.

        Args:
            forward: one augmented forward pass (fresh generated features each call).
            supervised: the supervised loss of one pass's output.
            mask: nodes the consistency loss averages over (default: all, as the reference).
        """
        o = self.o
        outs = [forward() for _ in range(o["la_samples"])]
        loss = sum(supervised(out) for out in outs) / len(outs)
        if o["la_lam"] > 0 and len(outs) > 1:
            loss = loss + consistency_loss(outs, o["la_tem"], o["la_lam"], mask)
        return loss
