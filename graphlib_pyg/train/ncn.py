"""The structural link trainer: NCN / NCNC with target-link removal (Wang et al., ICLR 2024).

Each batch of training edges is removed from the graph the encoder and the common neighbours see
(``target_removal``), so the model never reads the edge it must predict; evaluation uses the
whole message-passing graph. Encoder and predictor come from the model's registry entry
(:func:`~graphlib_pyg.nn.registry.build_link_model`); the predictor may have its own learning
rate (``pred_lr``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphlib_pyg.nn.link.neighbors import NeighborSets
from graphlib_pyg.nn.registry import build_link_model
from graphlib_pyg.train.base import RunResult
from graphlib_pyg.train.common import ModelTrainer
from graphlib_pyg.utils import count_parameters, seed_everything


class NCNTrainer(ModelTrainer):
    """Link prediction with a structural pair predictor (a registry model with ``link`` set)."""

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        """Train with ``seed`` on split ``run`` (default: ``seed``); mid-run checkpoints go to
        ``self.checkpoint`` (see :mod:`graphlib_pyg.train.base`)."""
        seed_everything(seed)
        run = seed if run is None else run
        task, c = self.task, self.cfg
        self._check_runtime(self.runtime())
        if self.device.type != "cpu":
            raise ValueError(
                f"model {self.spec.name!r} trains on the CPU only; drop device={c.device}"
            )
        o = self.model_options
        split = task.split(run)
        n = split.graph.num_nodes
        graph = NeighborSets.from_edge_index(split.graph.edge_index, n)
        test_graph = graph
        if split.test_graph is not split.graph:
            test_graph = NeighborSets.from_edge_index(split.test_graph.edge_index, n)
        x = getattr(split.graph, "x", None)
        encoder, predictor = build_link_model(
            self.spec.name,
            x.size(1) if x is not None else 0,
            c.hidden,
            n,
            c.num_layers,
            c.dropout,
            c.input_dropout,
            **self.model_options,
        )
        self._init(encoder, x, graph)
        opt = self._optimizer(
            [
                {"params": encoder.parameters(), "lr": c.lr},
                {"params": predictor.parameters(), "lr": o["pred_lr"] or c.lr},
            ]
        )
        pos_all = split.train_pos
        bs = c.batch_size or pos_all.size(1)

        def step() -> float:
            encoder.train()
            predictor.train()
            total, count = 0.0, 0
            for perm in torch.randperm(pos_all.size(1)).split(bs):
                opt.zero_grad()
                pos = pos_all[:, perm]
                g = graph.without(pos) if o["target_removal"] else graph
                neg = torch.randint(0, n, (2, perm.numel() * c.num_neg))
                with self.autocast():  # precision=bf16: the forward pass under autocast
                    h = encoder(x, g)
                    out = predictor(h, g, torch.cat([pos, neg], 1))  # one pass: shared pooling
                out = out.float()  # the loss in float32
                loss = F.softplus(-out[: pos.size(1)]).mean()
                loss = loss + F.softplus(out[pos.size(1) :]).mean()
                loss.backward()
                opt.step()
                total, count = total + float(loss.detach()) * perm.numel(), count + perm.numel()
            return total / count

        @torch.no_grad()
        def evaluate() -> tuple[float, float]:
            encoder.eval()
            predictor.eval()
            bs_eval = c.eval_batch

            def scores(h: Tensor, g, pairs: Tensor) -> Tensor:
                return predictor.predict(h, g, pairs, bs_eval).float()

            with self.autocast():
                h = encoder(x, graph)
                val_pos, val_neg = scores(h, graph, split.val_pos), scores(h, graph, split.val_neg)
                h_test = h if test_graph is graph else encoder(x, test_graph)
                test_pos = scores(h_test, test_graph, split.test_pos)
                test_neg = scores(h_test, test_graph, split.test_neg)
            val = task.evaluate(val_pos, val_neg, split.neg_per_pos)
            return val, task.evaluate(test_pos, test_neg, split.neg_per_pos)

        parts = {"encoder": encoder, "predictor": predictor, "opt": opt}
        step, evaluate = self._scheduled(step, evaluate, opt, parts)
        ckpt = self._checkpoint(seed, run, parts)  # shuffles, negatives: torch's RNG
        return self._fit(step, evaluate, count_parameters(encoder, predictor), ckpt)
