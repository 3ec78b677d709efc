"""The link trainer: a node encoder from the registry plus OGB's pair predictor.

Every epoch draws one shuffle of the training edges and one set of random negatives (the same on
every rank of a distributed run, which trains on its shard); scores are the MLP of
:math:`h_i \\odot h_j` (:class:`~graphlib_pyg.nn.heads.LinkPredictor`). Featureless graphs
(ogbl-ddi) learn a node embedding. Evaluation encodes the message-passing graph once (the test
graph too where validation edges are model input) and scores pairs in chunks of ``eval_batch``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphlib_pyg.nn.heads import LinkPredictor
from graphlib_pyg.train.base import RunResult
from graphlib_pyg.train.checkpoint import EpochCounter
from graphlib_pyg.train.common import ModelTrainer, _to
from graphlib_pyg.utils import count_parameters, seed_everything


class _LinkModel(nn.Module):
    """Encoder + pair predictor (+ learnt embedding) as one module, for one DDP wrapper."""

    def __init__(
        self, encoder: nn.Module, predictor: nn.Module, emb: nn.Embedding | None, x
    ) -> None:
        super().__init__()
        self.encoder, self.predictor, self.emb, self.x = encoder, predictor, emb, x

    def features(self) -> Tensor:
        return self.emb.weight if self.emb is not None else self.x

    def encode(self, g) -> Tensor:
        return self.encoder(self.features(), g)

    def forward(self, g, pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encode(g)
        return self.predictor(h[pos[0]], h[pos[1]]), self.predictor(h[neg[0]], h[neg[1]])


class LinkTrainer(ModelTrainer):
    """Link prediction with a node encoder (any registry model that is not a link predictor)."""

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        """Train with ``seed`` on split ``run`` (default: ``seed``); mid-run checkpoints go to
        ``self.checkpoint`` (see :mod:`graphlib_pyg.train.base`)."""
        seed_everything(seed)
        run = seed if run is None else run
        task, c, runtime = self.task, self.cfg, self.runtime()
        split = task.split(run)
        graph, test_graph = split.graph, split.test_graph
        x = getattr(graph, "x", None)
        emb = None
        if x is None:  # featureless graph (e.g. ogbl-ddi): learn a node embedding
            emb = nn.Embedding(graph.num_nodes, c.emb_dim or c.hidden)
            nn.init.xavier_uniform_(emb.weight)
        in_dim = emb.embedding_dim if emb is not None else x.size(1)
        encoder = self._build(in_dim, c.hidden)
        predictor = LinkPredictor(c.hidden, c.hidden, c.pred_layers, c.dropout)
        net = _LinkModel(encoder, predictor, emb, x)
        g, g_test = self._graph_arg(graph), self._graph_arg(test_graph)
        self._init(encoder, net.features(), g)
        device = runtime.device
        net = net.to(device)
        if net.x is not None:  # a plain attribute (not a buffer DDP would broadcast): move once
            net.x = net.x.to(device)
        same = g_test is g  # the evaluation below reuses the training encoding when so
        g = _to(g, device)
        g_test = g if same else _to(g_test, device)
        train_net = runtime.wrap(net)  # replicas: each rank takes its shard of the positives
        opt = self._optimizer(net.parameters())
        pos_all = split.train_pos
        bs = c.batch_size or -(-pos_all.size(1) // runtime.world)
        stream, counter = int(torch.initial_seed()) % 2**31, EpochCounter()
        runtime.own_streams()  # shuffles and negatives use `stream`; dropout masks differ by rank

        def step() -> float:
            epoch = counter.next()  # the epoch seeds its shuffle and negatives
            net.train()
            # one shuffle and one set of negatives per epoch, the same on every rank: batch k
            # of size b on w ranks covers the pairs of batch k of size w b in one process
            order = runtime.shard(torch.arange(pos_all.size(1)), epoch, stream)
            gen = torch.Generator().manual_seed(stream * 7919 + epoch)
            negs = torch.randint(0, graph.num_nodes, (2, pos_all.size(1), c.num_neg), generator=gen)
            total, count = 0.0, 0
            for perm in order.split(bs):
                opt.zero_grad()
                pos = pos_all[:, perm].to(device)
                neg = negs[:, perm].reshape(2, -1).to(device)
                with self.autocast():  # precision=bf16: the forward pass under autocast
                    pos_out, neg_out = train_net(g, pos, neg)
                pos_out, neg_out = pos_out.float(), neg_out.float()  # the loss in float32
                loss = F.softplus(-pos_out).mean() + F.softplus(neg_out).mean()
                loss.backward()
                opt.step()
                total, count = total + float(loss.detach()) * perm.numel(), count + perm.numel()
            return runtime.mean(total / max(count, 1))  # the value itself in one process

        @torch.no_grad()
        def scores(h: Tensor, pairs: Tensor) -> Tensor:
            return runtime.chunked_scores(
                lambda p: net.predictor(h[p[0]], h[p[1]]).float(), pairs, c.eval_batch
            )

        @torch.no_grad()
        def evaluate() -> tuple[float, float]:
            net.eval()
            with self.autocast():  # precision=bf16: encodings and scores under autocast
                h = net.encode(g)
                val = task.evaluate(
                    scores(h, split.val_pos), scores(h, split.val_neg), split.neg_per_pos
                )
                h_test = h if g_test is g else net.encode(g_test)
                test = task.evaluate(
                    scores(h_test, split.test_pos),
                    scores(h_test, split.test_neg),
                    split.neg_per_pos,
                )
            return val, test

        parts = {"model": net, "opt": opt, "step": counter}
        step, evaluate = self._scheduled(step, evaluate, opt, parts)
        ckpt = self._checkpoint(seed, run, parts)
        return self._fit(step, evaluate, count_parameters(encoder, predictor, emb), ckpt)
