"""Self-supervised pre-training trainers: ParetoGNN and each of its pretext tasks alone.

``graphlib bench --model gcn --trainer paretognn --dataset amazon-photo`` pre-trains ParetoGNN's
encoder (:class:`~graphlib_pyg.nn.ssl.SSLEncoder`) on sampled subgraphs with the five pretext
tasks of :mod:`~graphlib_pyg.nn.ssl.pretext` combined by MGDA, then judges the frozen embeddings
on the four downstream tasks of :mod:`~graphlib_pyg.train.embedding_eval`. ``--trainer grace``
(``dgi``, ``ccassg``, ``graphmae``, ``link-ssl``) trains the same encoder, on the same subgraphs,
with that one task. One run (seed r):

1. the graph's edges are split 70/10/20 with seed r (ParetoGNN's ``link_gen.py``: 10% validation
   and 20% test edges, as many non-edges); the encoder only ever sees the 70% training graph,
   and its embeddings of that graph serve all four tasks (the paper trains a second encoder on
   the full graph for the node-level tasks; one encoder halves the cost);
2. each step, every task draws its own subgraph (``"khop"`` tasks: the ``num_hops``-hop
   neighbourhood of ``batch_size`` random nodes, PyG's ``k_hop_subgraph``; CCA-SSG: the subgraph
   induced by ``decor_size`` random nodes, ParetoGNN's SAINT node sampler), so memory depends on
   the batch, not the graph; the combiner turns the task losses into one AdamW step;
3. after ``epochs`` steps the embeddings of the training graph are evaluated.

The run's ``val``/``test`` are node classification (the accuracy of the selected logistic
regression on held-out training nodes, and the test accuracy); ``extra`` holds all four scores,
the mean MGDA weight of each task and the pre-training seconds. With ``save_dir`` the encoder is
saved as a state dict plus config (:func:`load_encoder`, weights-only).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import torch
from torch_geometric.utils import k_hop_subgraph, subgraph

from graphlib_pyg.data.partition import metis_parts
from graphlib_pyg.data.splits import random_link_split
from graphlib_pyg.nn.ssl import COMBINERS, PRETEXTS, SSLEncoder
from graphlib_pyg.train.base import Curve, Progress, RunResult, median
from graphlib_pyg.train.common import resolve_device
from graphlib_pyg.train.embedding_eval import evaluate_embeddings
from graphlib_pyg.utils import count_parameters, resolve, seed_everything

#: Per-dataset settings of the official scripts (``jumxglhf/ParetoGNN``, ``scripts/ssnc_*.sh``):
#: ``--per_gpu_batch_size``, ``--lr``, ``--decor_size`` and the drop rates of the two-view tasks
#: (``--decor_der/--decor_dfr``, ``--minsg_der/--minsg_dfr``; 0.2 and 0.3 where not given).
PARETO_SETTINGS: dict[str, dict] = {
    "amazon-photo": dict(batch_size=512, lr=1e-4, decor_size=5000, decor_drop=0.2, grace_drop=0.3),
    "amazon-computers": dict(batch_size=1024, lr=5e-4, decor_size=10000, decor_drop=0.2,
                             grace_drop=0.3),
    "coauthor-cs": dict(batch_size=1024, lr=5e-5, decor_size=10000, decor_drop=0.5, grace_drop=0.5),
    "coauthor-physics": dict(batch_size=1024, lr=1e-4, decor_size=20000, decor_drop=0.5,
                             grace_drop=0.5),
    "chameleon": dict(batch_size=1024, lr=5e-5, decor_size=1500, decor_drop=0.2, grace_drop=0.3),
    "squirrel": dict(batch_size=1024, lr=1e-3, decor_size=5000, decor_drop=0.2, grace_drop=0.3),
    "actor": dict(batch_size=1024, lr=1e-3, decor_size=5000, decor_drop=0.2, grace_drop=0.3),
}  # fmt: skip
#: Where a dataset has no official script: the defaults of ``src/options.py`` and ``ssnc_co_photo``.
FALLBACK = dict(batch_size=512, lr=1e-4, decor_size=5000, decor_drop=0.2, grace_drop=0.3)

#: Options of every SSL trainer; ``None``: the dataset's :data:`PARETO_SETTINGS` value.
SSL_DEFAULTS: dict = {
    "epochs": 10000,  # pre-training steps (``--total_steps 10000``)
    "lr": None,
    "weight_decay": 1e-5,  # ``--weight_decay 1e-5``, AdamW, constant lr (``--scheduler fixed``)
    "hidden_channels": [512, 256],  # ``--hid_dim 512 256``
    "predictor_dim": 512,  # ``--predictor_dim 512``
    "batch_size": None,
    "num_hops": 1,  # ours, for a CPU budget; the scripts use 3 hops around 10x batch_size seeds
    "decor_size": None,
    "decor_drop": None,
    "grace_drop": None,
    "tau": 0.1,  # ``--temperature_minsg 0.1``
    "lambd": 1e-3,  # ``--decor_lamb 1e-3``
    "mask_rate": 0.5,  # ``recon_mask_rate`` in ``pretrain_model_pareto.py``
    "combiner": "mgda",  # ``--not_use_pareto`` off
    "decor_form": "",  # "": ParetoGNN's p_decor under paretognn, CCA-SSG's own loss alone
    "eval_repeats": 10,
    "link_epochs": 30,  # the official link scorer: up to 200 epochs, patience 50
    "save_dir": "",
    "device": "auto",
}
ALL_TASKS = ("graphmae", "dgi", "ccassg", "grace", "link")  # ``--tasks p_recon ... p_link``


def pretext_options(name: str, c: dict) -> dict:
    """The constructor options of pretext ``name`` from a run's options ``c``."""
    return {
        "link": {"predictor_dim": c["predictor_dim"]},
        "dgi": {},
        "grace": {"proj_dim": c["predictor_dim"], "tau": c["tau"], "edge_drop": c["grace_drop"],
                  "feat_drop": c["grace_drop"]},
        "ccassg": {"lambd": c["lambd"], "edge_drop": c["decor_drop"], "feat_drop": c["decor_drop"],
                   "form": c["decor_form"]},
        "graphmae": {"mask_rate": c["mask_rate"]},
    }[name]  # fmt: skip


class SSLTrainer:
    """ParetoGNN: five pretext tasks on one encoder, MGDA weights; frozen-embedding evaluation"""

    own_defaults: ClassVar[bool] = True  # the paper's per-dataset settings, not bench/defaults
    tasks: ClassVar[tuple[str, ...]] = ALL_TASKS

    @classmethod
    def option_defaults(cls, model: str, augment: str = "none") -> dict:
        return dict(SSL_DEFAULTS)

    def __init__(self, task, model: str, config: dict | None = None, progress=None) -> None:
        if model != "gcn":
            raise ValueError(f"SSL trainers pre-train ParetoGNN's GCN encoder: use --model gcn, "
                             f"not {model!r}")  # fmt: skip
        if task.kind != "node" or task.multilabel:
            raise TypeError(f"SSL evaluation needs a single-label node task, not {task.name!r}")
        unknown = sorted(set(config or {}) - set(SSL_DEFAULTS))
        if unknown:
            raise TypeError(f"unknown option(s) {unknown} for SSL; valid: {sorted(SSL_DEFAULTS)}")
        c = {**SSL_DEFAULTS, **(config or {})}
        for key, value in PARETO_SETTINGS.get(task.name, FALLBACK).items():
            c[key] = value if c[key] is None else c[key]
        resolve(c["combiner"], COMBINERS, "combiner")
        if not c["decor_form"]:
            c["decor_form"] = "paretognn" if len(self.tasks) > 1 else "ccassg"
        if c["decor_form"] not in ("ccassg", "paretognn"):
            raise ValueError(f"decor_form must be 'ccassg' or 'paretognn', got {c['decor_form']!r}")
        for key in ("epochs", "batch_size", "num_hops", "decor_size", "eval_repeats"):
            if not isinstance(c[key], int) or c[key] < 1:
                raise ValueError(f"{key} must be an integer >= 1, got {c[key]!r}")
        for key in ("decor_drop", "grace_drop", "mask_rate"):
            if not 0 <= c[key] < 1:
                raise ValueError(f"{key} must be in [0, 1), got {c[key]!r}")
        self.task, self.cfg, self.progress = task, c, progress
        self.progress: Progress | None = progress
        self.device = resolve_device(str(c["device"]))

    def sample(self, kind: str, x, edge_index, gen: torch.Generator):
        """One subgraph for a task: ``(x, edge_index)`` relabelled to ``0..n-1``."""
        n, c = x.size(0), self.cfg
        if kind == "nodes":
            nodes = torch.randperm(n, generator=gen)[: c["decor_size"]].sort().values
            sub_edges, _ = subgraph(nodes, edge_index, relabel_nodes=True, num_nodes=n)
            return x[nodes], sub_edges
        seeds = torch.randperm(n, generator=gen)[: c["batch_size"]]
        nodes, sub_edges, _, _ = k_hop_subgraph(seeds, c["num_hops"], edge_index,
                                                relabel_nodes=True, num_nodes=n)  # fmt: skip
        return x[nodes], sub_edges

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        c, data = self.cfg, self.task.data
        seed_everything(seed)
        split = random_link_split(data, val=0.1, test=0.2, seed=seed)
        x, edge_index = data.x.float(), split.graph.edge_index  # the 70% training graph
        partition = metis_parts(data.edge_index, data.num_nodes, parts=10)
        encoder = SSLEncoder(x.size(1), c["hidden_channels"]).to(self.device)
        hidden = encoder.out_channels
        heads = torch.nn.ModuleDict({
            name: PRETEXTS[name](x.size(1), hidden, **pretext_options(name, c))
            for name in self.tasks
        }).to(self.device)  # fmt: skip
        shared = list(encoder.parameters())
        params = shared + [p for p in heads.parameters()]
        opt = torch.optim.AdamW(params, lr=c["lr"], weight_decay=c["weight_decay"])
        combiner = COMBINERS[c["combiner"]]()
        gen = torch.Generator().manual_seed(seed)
        times, weight_sum, curve_loss = [], dict.fromkeys(self.tasks, 0.0), 0.0
        start = time.perf_counter()
        for step in range(1, c["epochs"] + 1):
            batches = {n: self.sample(heads[n].sample, x, edge_index, gen) for n in self.tasks}
            batches = {
                n: (bx.to(self.device), be.to(self.device)) for n, (bx, be) in batches.items()
            }
            t0 = time.perf_counter()
            losses = {n: (lambda n=n, b=batches: heads[n](encoder, *b[n])) for n in self.tasks}
            opt.zero_grad(set_to_none=True)
            weights, values = combiner.backward(losses, params, shared)
            opt.step()
            times.append(time.perf_counter() - t0)
            loss = sum(values.values())
            if loss != loss:  # NaN
                raise FloatingPointError(f"pre-training loss became {loss} at step {step}")
            for n, w in weights.items():
                weight_sum[n] += w
            curve_loss = loss
            if self.progress:
                self.progress(step, loss, 0.0)
        pretrain_s = time.perf_counter() - start
        z = encoder.embed(x.to(self.device), edge_index.to(self.device)).cpu()
        scores = evaluate_embeddings(z, data.y, split, partition, repeats=c["eval_repeats"],
                                     seed=seed, link_epochs=c["link_epochs"])  # fmt: skip
        if c["save_dir"]:
            path = Path(c["save_dir"]) / f"{self.name}-{self.task.name}-seed{seed}.pt"
            save_encoder(encoder, path,
                         {"method": self.name, "dataset": self.task.name, "seed": seed,
                          **{k: v for k, v in c.items() if k != "save_dir"}})  # fmt: skip
        curve = Curve("step")
        curve.add(c["epochs"], scores["nc_val"], scores["nc_acc"], curve_loss)
        extra = {**scores, "pretrain_s": pretrain_s}
        extra["task_weights"] = {n: w / c["epochs"] for n, w in weight_sum.items()}
        return RunResult(scores["nc_val"], scores["nc_acc"], c["epochs"], "step", median(times),
                         count_parameters(encoder, heads), curve, extra=extra)  # fmt: skip

    @property
    def name(self) -> str:
        return next(k for k, v in SSL_TRAINERS.items() if v is type(self))


def save_encoder(encoder: SSLEncoder, path: str | Path, config: dict) -> Path:
    """Save ``encoder`` as ``{"state_dict", "config"}`` (tensors and plain values only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = {**config, "in_channels": encoder.in_channels, "hidden_channels": encoder.hidden_channels}
    torch.save({"state_dict": encoder.state_dict(), "config": cfg}, path)
    return path


def load_encoder(path: str | Path) -> tuple[SSLEncoder, dict]:
    """The encoder saved by :func:`save_encoder` (``torch.load(weights_only=True)``) and its
    config."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    cfg = saved["config"]
    encoder = SSLEncoder(cfg["in_channels"], cfg["hidden_channels"])
    encoder.load_state_dict(saved["state_dict"])
    return encoder, cfg


def _single(name: str) -> type:
    return type(
        f"SSL_{name}",
        (SSLTrainer,),
        {
            "tasks": (name,),
            "__doc__": f"SSL pre-training with the {name} pretext task alone; "
            "frozen-embedding evaluation",
        },
    )


#: The SSL trainers by CLI name: ParetoGNN (all five tasks, MGDA) and each task alone.
SSL_TRAINERS: dict[str, type] = {
    "paretognn": SSLTrainer,
    "grace": _single("grace"),
    "dgi": _single("dgi"),
    "ccassg": _single("ccassg"),
    "graphmae": _single("graphmae"),
    "link-ssl": _single("link"),
}
