"""GNN-to-MLP distillation: GLNN and VQGraph (``graphlib bench --trainer glnn|vqgraph``).

- **GLNN** (Zhang et al., "Graph-less Neural Networks: Teaching Old MLPs New Tricks via
  Distillation", ICLR 2022): a GNN teacher is trained first; then PyG's ``MLP`` student learns
  from the node features alone, with :math:`\\lambda\\, \\mathrm{CE}(y)` on the labelled nodes
  and :math:`(1 - \\lambda)\\, \\mathrm{KL}(p_{teacher} \\Vert p_{student})` on every node the
  teacher saw (mini-batches of ``batch_size``).
- **VQGraph** (Yang et al., "VQGraph: Rethinking Graph Representation Space for Bridging GNNs
  and MLPs", ICLR 2024): the teacher is a GNN whose encodings are quantised by an EMA codebook
  of structure tokens (:class:`~graphlib_pyg.train.distill_teacher.VQTeacher`); the student
  adds ``token_weight`` :math:`\\tau^2\\, \\mathrm{KL}(\\mathrm{softmax}(s_t / \\tau) \\Vert
  \\mathrm{softmax}(s_s / \\tau))` between the teacher's (cosine) similarities to the codes and
  the student's negative L2 distances from a linear map of its last hidden layer (used in
  training only), in Adam steps of their own before the label steps, as the reference does.

Compared with the reference (YangLing0818/VQGraph), step by step:

- teacher layers: its ``SAGE`` and ``GCN`` classes are both two DGL ``GraphConv`` (GCN-normalised)
  layers, F -> D -> hidden, ReLU after each, the codebook between them; VQGraph's default
  ``teacher`` is therefore ``gcn``, as the reference does (``teacher=sage`` puts SAGE layers
  there: on Cora 3 seeds its VQ teacher scored 73.5 against 77 for ``gcn``);
- code width: the features' width in the reference and by default (``vq_dim=0``); the scripts
  use 128, which differs from the reference to keep a CPU teacher near a minute;
- losses: classification + ``lamb_node`` MSE(h, node_decoder(q)) + ``lamb_edge`` RMSE(A + I,
  minmax(E E^T)) + 0.25 commitment, 5000 cosine codes, EMA decay 0.8, no dead-code re-draw, all
  as the reference does; the edge loss is estimated from sampled non-edges above
  ``edge_dense_max`` nodes, which differs (the reference is always dense). ``vq_data_init=true``
  (ours) draws the codes from the first encodings instead of at random: on Cora ~1400 codes
  stay in use instead of ~200, and over 3 seeds the teacher scored 78.5 +- 1.4, not 76.9 +- 2.8;
- training: full-batch, 100 epochs, patience 50, as the reference's ``GCN``; its ``SAGE`` trains
  on neighbour-sampled batches of the training nodes instead;
- soft code assignments: the teacher's eval-mode encodings' cosine similarity to the codes, the
  student's negative L2 distance from ``Linear(hidden, D)`` of its last hidden layer (after ReLU
  and dropout), KL at ``tau`` 4 times ``tau**2``, weight 1e-8, one Adam per epoch over token,
  label (even at ``lamb`` 0) and soft-label steps, as the reference does; it drops each epoch's
  last partial batch and pairs a node with the token target at its position in cat(train, val,
  test), not its own (we keep the batch and pair each node with its own target);
- selection: validation accuracy in both stages, which differs: the reference's student keeps
  the epoch of best *test* accuracy, so the published numbers used test-based selection.

``--model mlp`` names the student; ``teacher=`` any full-batch node model of the registry, its
options in ``teacher_options`` (a mapping over
:data:`~graphlib_pyg.train.distill_teacher.TEACHER_DEFAULTS`). Both stages select the epoch of
best validation accuracy. ``setting=inductive`` holds ``holdout`` of the test nodes out of the
graph during both stages; they are scored on the full graph (``test``; ``test_tran``: the
observed test nodes). Each row records ``setting``, the teacher and its accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import MLP
from torch_geometric.utils import subgraph

from graphlib_pyg.data.splits import NodeSplit
from graphlib_pyg.data.synthetic import check_int, check_real
from graphlib_pyg.nn.vq import DISTANCES, code_logits
from graphlib_pyg.train.base import Progress, RunResult, fit
from graphlib_pyg.train.common import resolve_device
from graphlib_pyg.train.distill_teacher import (
    TEACHER_DEFAULTS,
    VQ_TEACHER_DEFAULTS,
    TeacherOutputs,
    TeacherTrainer,
    accuracy,
    cache_path,
)
from graphlib_pyg.utils import count_parameters, seed_everything

#: GLNN's options (graphless-neural-networks): ``teacher`` ``gcn``, as its ``SAGE`` is DGL
#: ``SAGEConv(..., "gcn")`` layers (one weight on the mean of a node and its neighbours; PyG's
#: SAGEConv, our ``sage``, has a root weight and scored 3-4 points lower on the Amazon graphs);
#: ``lamb`` 0 (train_student.py), 200 epochs, patience 50 (experiments/glnn_cpf.sh), batches
#: of 512, a 2-layer student of width 128 (train.conf.yaml global); lr / weight decay /
#: dropout: Cora's MLP entry of train.conf.yaml, others in :data:`STUDENT_DATASET_DEFAULTS`.
#: ``holdout`` 0.2: the share of test nodes hidden in the inductive setting (--split_rate).
GLNN_DEFAULTS: dict = {
    "teacher": "gcn",
    "teacher_options": {},
    "setting": "transductive",
    "holdout": 0.2,
    "lamb": 0.0,
    "epochs": 200,
    "patience": 50,
    "batch_size": 512,
    "hidden": 128,
    "num_layers": 2,
    "lr": 0.01,
    "weight_decay": 0.005,
    "dropout": 0.6,
    "eval_every": 1,
    "device": "cpu",
    "cache": True,
}
#: VQGraph's options (YangLing0818/VQGraph): student 500 epochs, patience 50 (README's
#: train_student.py command), lamb_soft_labels 0 -> ``lamb``, lamb_soft_tokens 1e-8 ->
#: ``token_weight``, temperature 4 -> ``tau`` (train_student.py defaults); teacher codebook
#: 5000 codes, lamb_node 0.001, lamb_edge 0.03 (train_teacher.py defaults), cosine codes with
#: EMA decay 0.8, commitment 0.25 and no dead-code re-draw (models.py's VectorQuantize call).
#: ``edge_dense_max``: ours, the largest graph whose edge loss is computed densely.
#: ``vq_dim``: the codes' width, 0 for the features' width (models.py: VectorQuantize(dim=
#: input_dim), the first GraphConv input_dim -> input_dim). ``vq_data_init``: codes drawn from
#: the first batch's encodings (ours; the reference initialises them at random).
VQGRAPH_DEFAULTS: dict = {
    **GLNN_DEFAULTS,
    "teacher": "gcn",  # the reference's SAGE and GCN classes both use GraphConv layers
    "epochs": 500,
    "token_weight": 1e-8,
    "tau": 4.0,
    "codebook_size": 5000,
    "lamb_node": 0.001,
    "lamb_edge": 0.03,
    "commitment": 0.25,
    "vq_decay": 0.8,
    "vq_distance": "cosine",
    "dead_threshold": 0.0,
    "edge_dense_max": 4096,
    "vq_dim": 0,
    "vq_data_init": False,
}
VQ_KEYS = ("codebook_size", "lamb_node", "lamb_edge", "commitment", "vq_decay", "vq_distance",
           "dead_threshold", "edge_dense_max", "vq_dim", "vq_data_init")  # fmt: skip

#: The student's per-dataset settings (lr, weight decay, dropout), the MLP entries of
#: train.conf.yaml (GLNN's and VQGraph's, identical for these datasets); a-computer and
#: a-photo are our amazon-computers and amazon-photo.
STUDENT_DATASET_DEFAULTS: dict[str, dict] = {
    "cora": {"lr": 0.01, "weight_decay": 0.005, "dropout": 0.6},
    "citeseer": {"lr": 0.01, "weight_decay": 0.001, "dropout": 0.1},
    "pubmed": {"lr": 0.005, "weight_decay": 0.0, "dropout": 0.4},
    "amazon-computers": {"lr": 0.001, "weight_decay": 0.002, "dropout": 0.3},
    "amazon-photo": {"lr": 0.005, "weight_decay": 0.002, "dropout": 0.3},
}
SETTINGS = ("transductive", "inductive")
#: Bumped when the VQ teacher's training changes, so cached VQ teachers are retrained.
VQ_TEACHER_VERSION = 2


@dataclass
class DistillResult(RunResult):
    """A student's :class:`RunResult` plus the setting, the teacher and its accuracy."""

    setting: str = "transductive"
    teacher: str = ""
    teacher_val: float = math.nan
    teacher_test: float = math.nan
    test_tran: float = math.nan

    def row(self) -> dict:
        out = super().row()
        out.update(setting=self.setting, teacher=self.teacher, teacher_val=self.teacher_val)
        out.update(teacher_test=self.teacher_test)
        if self.setting == "inductive":
            out["test_tran"] = self.test_tran
        return out


def hold_out(split: NodeSplit, share: float, seed: int) -> tuple[Tensor, Tensor]:
    """``(observed nodes, held-out nodes)``: ``share`` of the test nodes, drawn with ``seed``,
    are held out; the observed ones are everything else (sorted)."""
    g = torch.Generator().manual_seed(seed)
    test = split.test[torch.randperm(split.test.numel(), generator=g)]
    held = test[: int(round(share * test.numel()))].sort().values
    observed = torch.cat([split.train, split.val, test[held.numel() :]]).sort().values
    return observed, held


def observed_graph(data: Data, observed: Tensor, split: NodeSplit) -> tuple[Data, NodeSplit]:
    """The subgraph of ``observed`` nodes (renumbered in order) and ``split`` renumbered into it
    (its test part: the observed test nodes)."""
    edge_index, _ = subgraph(observed, data.edge_index, relabel_nodes=True,
                             num_nodes=data.num_nodes)  # fmt: skip
    table = torch.full((data.num_nodes,), -1, dtype=torch.long)
    table[observed] = torch.arange(observed.numel())
    sub = Data(x=data.x[observed], y=data.y[observed], edge_index=edge_index)
    sub.num_nodes = observed.numel()
    test = table[split.test]
    return sub, NodeSplit(table[split.train], table[split.val], test[test >= 0])


class DistillTrainer:
    """GLNN: a registry teacher, then PyG's MLP on the features (see the module docstring).

    Args:
        task: a single-label node task with accuracy as its metric.
        model: the student, ``"mlp"``.
        config: options (:data:`GLNN_DEFAULTS`; :data:`STUDENT_DATASET_DEFAULTS` fill the
            student's lr, weight decay and dropout where the run gives none).
        progress: optional ``progress(epoch, loss, val)`` callback (student epochs).
    """

    own_defaults: ClassVar[bool] = True  # the papers' settings, not bench/defaults.py
    defaults: ClassVar[dict] = GLNN_DEFAULTS
    teacher_defaults: ClassVar[dict] = TEACHER_DEFAULTS
    name: ClassVar[str] = "glnn"
    #: take the labelled nodes' Adam steps even at ``lamb`` 0 (a zero loss: the steps still
    #: apply momentum and weight decay), as VQGraph's train_and_eval.py does
    label_step_always: ClassVar[bool] = False

    @classmethod
    def option_defaults(cls, model: str, augment: str = "none") -> dict:
        return dict(cls.defaults)

    def __init__(self, task, model: str, config: dict | None = None,
                 progress: Progress | None = None) -> None:  # fmt: skip
        where = f"trainer {self.name}"
        if model != "mlp":
            raise ValueError(f"{where} distils into PyG's MLP: use --model mlp (the teacher is "
                             f"the option teacher=..., got --model {model!r})")  # fmt: skip
        if task.kind != "node" or task.multilabel or task.metric != "accuracy":
            raise TypeError(f"{where} needs a single-label node task scored by accuracy, "
                            f"not {task.name!r}")  # fmt: skip
        config = dict(config or {})
        unknown = sorted(set(config) - set(self.defaults))
        if unknown:
            raise TypeError(f"{where}: unknown option(s) {unknown}; valid: "
                            f"{', '.join(sorted(self.defaults))}")  # fmt: skip
        own = STUDENT_DATASET_DEFAULTS.get(task.name, {})
        self.cfg = c = {**self.defaults, **own, **config}
        if c["setting"] not in SETTINGS:
            raise ValueError(f"{where}: setting must be one of {SETTINGS}, got {c['setting']!r}")
        check_real(where, "holdout", c["holdout"], 0.0, 1.0)
        check_real(where, "lamb", c["lamb"], 0.0, 1.0)
        check_int(where, "batch_size", c["batch_size"], 1)
        if not isinstance(c["teacher_options"], dict):
            raise TypeError(f"{where}: teacher_options must be a mapping, "
                            f"got {c['teacher_options']!r}")  # fmt: skip
        self.task, self.progress = task, progress
        self.device = resolve_device(str(c["device"]))
        teacher_cfg = {**self.teacher_defaults, "device": c["device"], **c["teacher_options"]}
        self.teacher = TeacherTrainer(task, c["teacher"], teacher_cfg, self._vq_options())

    def _vq_options(self) -> dict | None:
        return None

    def _teacher(self, seed: int, run: int, data: Data, split: NodeSplit, full_test: Tensor):
        """The teacher's outputs for this seed and split, from the cache or trained now."""
        c, t = self.cfg, self.teacher
        ident = {
            "task": self.task.name,
            "split": self.task.split_name,
            "nodes": self.task.num_nodes,
            "edges": int(self.task.data.edge_index.size(1)),
            "run": run,
            "seed": seed,
            "setting": c["setting"],
            "holdout": c["holdout"] if c["setting"] == "inductive" else None,
            "teacher": t.spec.name,
            "options": t.cfg.as_dict(),
            "model_options": t.model_options,
            # VQ teachers trained before the edge loss had self-loops (version 1) are not reused
            "vq": {**t.vq, "version": VQ_TEACHER_VERSION} if t.vq is not None else None,
        }
        path = cache_path(ident)
        if c["cache"] and path.is_file():
            cached = TeacherOutputs.load(path)
            if cached is not None:
                return cached
        model, result = t.train(seed, data, split)
        logits, hidden = t.outputs(model, data)
        full, test_ind = torch.empty(0), math.nan
        if c["setting"] == "inductive":
            full, _ = t.outputs(model, self.task.data)
            test_ind = accuracy(full, self.task.data.y, full_test)
        codebook = model.vq.codebook.detach().cpu() if t.vq is not None else torch.empty(0)
        out = TeacherOutputs(logits, full, hidden, codebook, result.val, result.test, test_ind,
                             result.best_step, result.step_time_s, result.params)  # fmt: skip
        if c["cache"]:
            out.save(path)
        return out

    def run(self, seed: int = 0, run: int | None = None) -> DistillResult:
        """Teacher (cached), then the student with ``seed`` on split ``run`` (default: seed)."""
        run = seed if run is None else run
        c, task = self.cfg, self.task
        split, data = task.split(run), task.data
        if c["setting"] == "inductive":
            observed, held = hold_out(split, c["holdout"], seed)
            obs_data, obs_split = observed_graph(data, observed, split)
        else:
            observed, held = torch.arange(task.num_nodes), split.test
            obs_data, obs_split = data, split
        teacher = self._teacher(seed, run, obs_data, obs_split, held)
        seed_everything(seed)
        x, y = data.x.float().to(self.device), data.y.to(self.device)
        student = MLP(in_channels=x.size(1), hidden_channels=c["hidden"],
                      out_channels=task.num_classes, num_layers=c["num_layers"],
                      dropout=float(c["dropout"]), norm=None).to(self.device)  # fmt: skip
        extra = self._student_extra(teacher)
        params = [*student.parameters(), *(extra.parameters() if extra is not None else [])]
        opt = torch.optim.Adam(params, lr=c["lr"], weight_decay=c["weight_decay"])
        soft = F.log_softmax(teacher.logits, -1).to(self.device)  # (N_obs, C), rows = observed
        nodes, train, bs, lamb = observed.to(self.device), split.train, c["batch_size"], c["lamb"]

        def step() -> float:
            student.train()
            total = 0.0
            if extra is not None:  # VQGraph: the token loss takes its own steps, first
                for rows in torch.randperm(nodes.numel(), device=self.device).split(bs):
                    _, emb = student(x[nodes[rows]], return_emb=True)
                    loss = self._token_loss(extra, emb, teacher, rows)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            if lamb > 0 or self.label_step_always:  # the labelled nodes' steps
                for chunk in train[torch.randperm(train.numel())].split(bs):
                    loss = lamb * F.cross_entropy(student(x[chunk]), y[chunk])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            for rows in torch.randperm(nodes.numel(), device=self.device).split(bs):
                out = student(x[nodes[rows]])
                loss = (1 - lamb) * F.kl_div(F.log_softmax(out, -1), soft[rows],
                                             reduction="batchmean", log_target=True)  # fmt: skip
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * rows.numel()
            return total / nodes.numel()

        tran: list[float] = []  # inductive: accuracy on the observed test nodes

        @torch.no_grad()
        def evaluate() -> tuple[float, float]:
            student.eval()
            out = student(x)  # (N, C): the features alone
            if c["setting"] == "inductive":
                tran.append(accuracy(out, y, observed[obs_split.test]))
            return accuracy(out, y, split.val), accuracy(out, y, held)

        r = fit(step, evaluate, epochs=c["epochs"], eval_every=c["eval_every"],
                patience=c["patience"], params=count_parameters(student),
                progress=self.progress)  # fmt: skip
        at_best = tran[r.curve.step.index(r.best_step)] if tran else math.nan
        teacher_test = teacher.test_ind if c["setting"] == "inductive" else teacher.test
        return DistillResult(r.val, r.test, r.best_step, r.step_unit, r.step_time_s, r.params,
                             r.curve, setting=c["setting"], teacher=self.teacher.spec.name,
                             teacher_val=teacher.val, teacher_test=teacher_test,
                             test_tran=at_best)  # fmt: skip

    def _student_extra(self, teacher: TeacherOutputs) -> nn.Module | None:
        """Trained modules besides the MLP (VQGraph: the map to the codebook's space)."""
        return None

    def _token_loss(self, extra, emb: Tensor, teacher: TeacherOutputs, rows: Tensor) -> Tensor:
        return torch.zeros((), device=emb.device)


class VQGraphTrainer(DistillTrainer):
    """VQGraph: a :class:`~graphlib_pyg.train.distill_teacher.VQTeacher`, then the student
    with GLNN's loss plus the soft token assignments (options: :data:`VQGRAPH_DEFAULTS`)."""

    defaults: ClassVar[dict] = VQGRAPH_DEFAULTS
    teacher_defaults: ClassVar[dict] = VQ_TEACHER_DEFAULTS
    name: ClassVar[str] = "vqgraph"
    label_step_always: ClassVar[bool] = True

    def _vq_options(self) -> dict:
        c, where = self.cfg, f"trainer {self.name}"
        check_int(where, "codebook_size", c["codebook_size"], 1)
        check_int(where, "edge_dense_max", c["edge_dense_max"], 0)
        check_int(where, "vq_dim", c["vq_dim"], 0)
        for key in ("lamb_node", "lamb_edge", "commitment", "dead_threshold", "token_weight"):
            check_real(where, key, c[key], 0.0)
        check_real(where, "vq_decay", c["vq_decay"], 0.0, 0.999999)
        if not isinstance(c["vq_data_init"], bool):
            raise TypeError(
                f"{where}: vq_data_init must be true or false, got {c['vq_data_init']!r}"
            )
        check_real(where, "tau", c["tau"], 1e-6)
        if c["vq_distance"] not in DISTANCES:
            raise ValueError(f"{where}: vq_distance must be one of {DISTANCES}, "
                             f"got {c['vq_distance']!r}")  # fmt: skip
        return {k: c[k] for k in VQ_KEYS}

    def _student_extra(self, teacher: TeacherOutputs) -> nn.Module:
        return nn.Linear(self.cfg["hidden"], teacher.codebook.size(1)).to(self.device)

    def _token_loss(self, extra, emb: Tensor, teacher: TeacherOutputs, rows: Tensor) -> Tensor:
        """``token_weight * tau^2 * KL`` between the teacher's soft token assignment (its
        encodings' ``vq_distance`` similarity to the codes) and the student's (negative L2
        distance of ``extra(emb)`` to the codes), both at temperature ``tau``: VQGraph's
        train_and_eval.py train_mini_batch_token."""
        c, tau = self.cfg, self.cfg["tau"]
        codes = teacher.codebook.to(emb.device)
        target = code_logits(teacher.hidden[rows.cpu()].to(emb.device), codes, c["vq_distance"])
        mine = -torch.cdist(extra(emb), codes)  # (B, K)
        kl = F.kl_div(F.log_softmax(mine / tau, -1), F.log_softmax(target / tau, -1),
                      reduction="batchmean", log_target=True)  # fmt: skip
        return c["token_weight"] * tau * tau * kl


DISTILL_TRAINERS = {"glnn": DistillTrainer, "vqgraph": VQGraphTrainer}
