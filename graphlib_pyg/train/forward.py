"""Forward learning of GNNs: the single-forward (SF) trainer of ForwardGNN, node classification.

Park et al., "Forward Learning of Graph Neural Networks", ICLR 2024
(https://arxiv.org/abs/2403.11004). No error is backpropagated through the network: every layer
has its own optimiser and objective, and sees its input L2-normalised per row and detached.

SF adds one virtual node per class, linked in both directions to the training nodes of that
class (validation and test nodes get no virtual edges); the virtual nodes' input features are
fixed random normal vectors drawn with the run's seed. Layer ``l`` is trained greedily, after
layers ``< l`` are frozen: its loss is the cross-entropy of the dot products between training
nodes' and class nodes' embeddings (divided by ``temperature``). Prediction sums, over layers,
the softmax of each real node's dot products with the class nodes. Each layer stops early on the
validation accuracy of the ensemble of layers ``0..l`` and keeps its best checkpoint.

Cached fast path: a frozen input makes a GCN layer's propagation a constant, so
``relu(Â X W + b)`` is trained as ``relu((Â X) W + b)`` with ``Â X`` computed once per layer (the
same function; PyG's ``GCNConv`` would propagate at every step). SAGE caches its mean aggregation
the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from graphlib_pyg.data.tasks import LinkTask, NodeTask
from graphlib_pyg.train.base import RunResult
from graphlib_pyg.train.local import (
    LOCAL_DEFAULTS,
    LocalGraph,
    LocalObjective,
    NodeObjective,
    Stream,
    engine_from_config,
    gat_defaults,
    trainer_config,
)
from graphlib_pyg.utils import seed_everything

#: Options of every forward trainer, with the defaults of ForwardGNN's experiment scripts.
FORWARD_DEFAULTS: dict = {
    **LOCAL_DEFAULTS,
    "schedule": "greedy",  # ForwardGNN's; "joint" updates every layer at every step
}


def add_class_nodes(
    edge_index: Tensor, num_nodes: int, y: Tensor, train: Tensor, num_classes: int
) -> Tensor:
    """Edges of the graph plus ``train <-> N + y[train]`` in both directions.

    Shapes:
        - **input:** edge_index (2, E), y (N,), train (T,) node ids
        - **output:** (2, E + 2T), virtual node ``c`` has id ``num_nodes + c``
    """
    return link_to_classes(edge_index, num_nodes, train, y[train])


def link_to_classes(edge_index: Tensor, num_nodes: int, nodes: Tensor, classes: Tensor) -> Tensor:
    """Edges of the graph plus ``nodes[i] <-> N + classes[i]`` in both directions."""
    vn = num_nodes + classes
    extra = torch.stack([torch.cat([nodes, vn]), torch.cat([vn, nodes])])
    return torch.cat([edge_index, extra], dim=1)


class SFObjective(NodeObjective):
    """SF: one stream, the graph plus class nodes; cross-entropy over class-node dot products.

    Args:
        task, split: the node task and this run's split.
        temperature: divides the dot products.
    """

    def __init__(self, task: NodeTask, split, temperature: float = 1.0) -> None:
        super().__init__(task, split)
        data, n, k = task.data, self.n, self.k
        graph = LocalGraph(add_class_nodes(data.edge_index, n, data.y, split.train, k), n + k)
        vn_x = torch.randn(k, data.x.size(1))  # fixed random class-node inputs (seeded)
        self.streams = {"graph": Stream(graph, torch.cat([data.x.float(), vn_x]))}
        self.train_streams = self.eval_streams = ("graph",)
        self.y_train, self.temperature = data.y[split.train], temperature
        self.rows = torch.cat([split.train, torch.arange(n, n + k)])  # training nodes, classes

    def loss_rows(self, name):
        return self.rows

    def loss(self, layer, head, out):
        h, t = out["graph"], self.y_train.numel()  # rows: training nodes, then class nodes
        return F.cross_entropy(h[:t] @ h[t:].t() / self.temperature, self.y_train)

    def score(self, layer, head, out):
        h = out["graph"]
        return torch.softmax(h[: self.n] @ h[self.n :].t() / self.temperature, dim=-1)


def goodness(h: Tensor, threshold: float, reduce: str = "sum") -> Tensor:
    """FF goodness of each row, ``sum_d h^2 - threshold`` (``reduce="mean"``: mean over d)."""
    g = h.pow(2)
    return (g.sum(-1) if reduce == "sum" else g.mean(-1)) - threshold


def ff_loss(pos: Tensor, negs: list[Tensor], threshold: float) -> Tensor:
    """``BCE(g_pos, 1) + mean_k BCE(g_neg_k, 0)``: softplus(θ - G+) and softplus(G- - θ)."""
    gp = goodness(pos, threshold)
    loss = F.binary_cross_entropy_with_logits(gp, torch.ones_like(gp))
    if negs:
        gn = torch.stack([goodness(h, threshold) for h in negs])
        loss = loss + F.binary_cross_entropy_with_logits(gn, torch.zeros_like(gn))
    return loss


def wrong_labels(y: Tensor, num_classes: int, num_negs: int) -> Tensor:
    """(min(num_negs, C-1), T): row k gives every node its k-th wrong class, in a random order
    drawn per node (fixed for the run, as ForwardGNN's negatives)."""
    t = y.numel()
    order = torch.rand(t, num_classes).argsort(dim=1)  # a random permutation per node
    order = order[order != y[:, None]].view(t, num_classes - 1)  # drop the true class
    return order[:, : min(num_negs, num_classes - 1)].t().contiguous()


class _FFObjective(NodeObjective):
    """FF-LA and FF-VN: the goodness loss on the training nodes, and per-candidate goodness
    summed over layers on the validation streams ``val{c}`` and test streams ``test{c}``."""

    threshold: float

    def loss_rows(self, name):
        return self.split.train

    def loss(self, layer, head, out):
        negs = [out[k] for k in self.train_streams[1:]]
        return ff_loss(out["pos"], negs, self.threshold)

    def score(self, layer, head, out):
        n, k = self.n, self.k  # (2, N, C): candidate c's goodness on the val and test streams
        return torch.stack(
            [
                torch.stack(
                    [goodness(out[f"{p}{c}"][:n], self.threshold, "mean") for c in range(k)], 1
                )
                for p in ("val", "test")
            ]
        )

    def metric(self, score, part):
        return super().metric(score[0 if part == "val" else 1], part)


class FFLabelObjective(_FFObjective):
    """FF with label appending: a node's input is ``[x, label]`` on the real graph.

    Training nodes carry their one-hot label in the positive stream and their k-th wrong label in
    negative stream k; every other node carries the uniform vector 1/C. Each layer maximises the
    goodness of the training nodes in the positive stream and minimises it in the negative ones
    (:func:`ff_loss`). To predict, candidate label c is appended to the evaluated nodes (training
    nodes keep their labels; for the test set, validation nodes too) and the class with the
    highest goodness summed over layers wins: one stream per (part, class).
    """

    def __init__(self, task: NodeTask, split, threshold: float = 2.0, num_negs: int = 100):
        super().__init__(task, split)
        data, n, k = task.data, self.n, self.k
        graph, x, y = LocalGraph(data.edge_index, n), data.x.float(), data.y
        self.threshold = threshold

        def stream(known: Tensor, labels: Tensor, nodes: Tensor | None = None, c: int = 0):
            lab = torch.full((n, k), 1.0 / k)
            lab[known] = F.one_hot(labels, k).float()
            if nodes is not None:
                lab[nodes] = F.one_hot(torch.tensor(c), k).float()
            return Stream(graph, torch.cat([x, lab], dim=1))

        train = split.train
        self.streams = {"pos": stream(train, y[train])}
        wrong = wrong_labels(y[train], k, num_negs)
        for i, labels in enumerate(wrong):
            self.streams[f"neg{i}"] = stream(train, labels)
        seen = torch.cat([train, split.val])
        for c in range(k):
            self.streams[f"val{c}"] = stream(train, y[train], split.val, c)
            self.streams[f"test{c}"] = stream(seen, y[seen], split.test, c)
        self.train_streams = ("pos",) + tuple(f"neg{i}" for i in range(wrong.size(0)))
        self.eval_streams = tuple(f"{p}{c}" for p in ("val", "test") for c in range(k))


class FFVirtualObjective(_FFObjective):
    """FF with class virtual nodes: the label is in the graph, not in the input.

    As in SF, C virtual nodes with fixed random inputs. In the positive stream every training node
    is linked to its class node, in negative stream k to its k-th wrong class node; layers see the
    positive stream's output as the next input of every training stream, so the negatives differ
    only in their edges. To predict, candidate stream c links the training nodes to their class
    nodes and the evaluated nodes to class node c (for the test set, validation nodes are linked
    to their true class; other nodes get no class link), as the reference code; the class with
    the highest goodness summed over layers wins.
    """

    def __init__(self, task: NodeTask, split, threshold: float = 2.0, num_negs: int = 100):
        super().__init__(task, split)
        data, n, k = task.data, self.n, self.k
        x = torch.cat([data.x.float(), torch.randn(k, data.x.size(1))])  # class-node inputs
        train, y, ei = split.train, data.y, data.edge_index
        self.threshold = threshold

        def stream(nodes: Tensor, classes: Tensor) -> Stream:
            return Stream(LocalGraph(link_to_classes(ei, n, nodes, classes), n + k), x)

        self.streams = {"pos": stream(train, y[train])}
        wrong = wrong_labels(y[train], k, num_negs)
        for i, labels in enumerate(wrong):
            self.streams[f"neg{i}"] = stream(train, labels)
        seen = torch.cat([train, split.val])
        for c in range(k):  # as FF-LA: validation and test candidates in their own graphs
            val_c = torch.full_like(split.val, c)
            self.streams[f"val{c}"] = stream(seen, torch.cat([y[train], val_c]))
            test = torch.cat([seen, split.test])
            self.streams[f"test{c}"] = stream(
                test, torch.cat([y[seen], torch.full_like(split.test, c)])
            )
        self.train_streams = ("pos",) + tuple(f"neg{i}" for i in range(wrong.size(0)))
        self.eval_streams = tuple(f"{p}{c}" for p in ("val", "test") for c in range(k))

    def next_input(self, layer, out):
        h = super().next_input(layer, out)
        for name in self.train_streams[1:]:  # negatives differ from the positive only in edges
            h[name] = h["pos"]
        return h


class SFLinkObjective(LocalObjective):
    """SF for link prediction: each layer scores pairs by ``sum(z_u * z_v)`` and is trained with
    binary cross-entropy on the training edges against as many fixed random non-edges (drawn
    once per run, as ForwardGNN's split); ``temperature`` divides the pair logits. A prediction is
    the sum over layers of the pairs' sigmoid scores; the metric is the task's (ROC-AUC for
    ``split=forwardgnn``).
    """

    def __init__(self, task: LinkTask, split, temperature: float = 1.0) -> None:
        from graphlib_pyg.data.splits import sample_non_edges

        self.task, self.split = task, split
        data, n = task.data, task.num_nodes
        if getattr(data, "x", None) is None:
            raise ValueError(f"trainer 'sf' needs node features; {task.name!r} has none")
        x = data.x.float()
        self.streams = {"graph": Stream(LocalGraph(split.graph.edge_index, n), x)}
        self.eval_streams = ("graph",)
        if split.test_graph is not split.graph:  # validation edges as input for the test set
            self.streams["test"] = Stream(LocalGraph(split.test_graph.edge_index, n), x)
            self.eval_streams = ("graph", "test")
        self.train_streams = ("graph",)
        g = torch.Generator().manual_seed(int(torch.randint(0, 2**31, ())))
        neg = sample_non_edges(n, split.train_pos.size(1), data.edge_index, g)
        self.train_pairs = torch.cat([split.train_pos, neg], dim=1)
        pos = split.train_pos.size(1)
        self.train_labels = torch.cat([torch.ones(pos), torch.zeros(neg.size(1))])
        self.parts = [split.val_pos, split.val_neg, split.test_pos, split.test_neg]
        self.temperature = temperature

    def _pair_logits(self, h: Tensor, pairs: Tensor) -> Tensor:
        return (h[pairs[0]] * h[pairs[1]]).sum(-1) / self.temperature

    def loss(self, layer, head, out):
        logits = self._pair_logits(out["graph"], self.train_pairs)
        return F.binary_cross_entropy_with_logits(logits, self.train_labels)

    def score(self, layer, head, out):
        test = out[self.eval_streams[-1]]
        hs = (out["graph"], out["graph"], test, test)
        pairs = zip(hs, self.parts, strict=True)
        return torch.cat([self._pair_logits(h, p).sigmoid() for h, p in pairs])

    def metric(self, score, part):
        sizes = [p.size(1) for p in self.parts]
        vp, vn, tp, tn = score.split(sizes)
        pos, neg = (vp, vn) if part == "val" else (tp, tn)
        return self.task.evaluate(pos, neg, self.split.neg_per_pos)


#: The ForwardGNN variants: objective class, the task kinds it trains, its own options.
VARIANTS = {
    "sf": {"node": SFObjective, "link": SFLinkObjective, "options": {"temperature": 1.0}},
    "ff-la": {"node": FFLabelObjective, "options": {"threshold": 2.0, "num_negs": 100}},
    "ff-vn": {"node": FFVirtualObjective, "options": {"threshold": 2.0, "num_negs": 100}},
}


class ForwardTrainer:
    """Greedy forward learning (ForwardGNN) of a GCN, GraphSAGE or GAT; see :data:`VARIANTS`.

    Args:
        task: a single-label :class:`NodeTask` (every variant) or a :class:`LinkTask` (``sf``).
        model: ``"gcn"``, ``"sage"`` or ``"gat"``.
        config: options (:data:`FORWARD_DEFAULTS`, the variant's options, GAT's ``heads``).
        progress: optional ``progress(step, loss, val)`` callback.
    """

    own_defaults = True  # ForwardGNN's experiment-script defaults (LOCAL_DEFAULTS)

    variant = "sf"

    @classmethod
    def option_defaults(cls, model: str, augment: str = "none") -> dict:
        return {**FORWARD_DEFAULTS, **VARIANTS[cls.variant]["options"], **gat_defaults(model)}

    def __init__(
        self,
        task,
        model: str,
        config: dict | None = None,
        progress: Callable[[int, float, float], None] | None = None,
    ) -> None:
        spec = VARIANTS[self.variant]
        self.cfg, kind = trainer_config(
            self.variant,
            task,
            model,
            {**FORWARD_DEFAULTS, **spec["options"]},
            config,
            link="link" in spec,
        )
        self.objective_cls = spec[kind]
        self.task, self.kind, self.progress = task, model, progress

    def objective(self, split) -> LocalObjective:
        options = VARIANTS[self.variant]["options"]
        return self.objective_cls(self.task, split, **{k: self.cfg[k] for k in options})

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        seed_everything(seed)
        split = self.task.split(seed if run is None else run)
        obj = self.objective(split)
        engine = engine_from_config(self.kind, self.cfg, self.cfg["schedule"], self.progress)
        r = engine.fit(obj)
        return r.run_result()


class SFTrainer(ForwardTrainer):
    """ForwardGNN SF: class nodes and per-layer cross-entropy (node); pair BCE (link)."""

    variant = "sf"


class FFLabelTrainer(ForwardTrainer):
    """ForwardGNN FF-LA: labels appended to the input, goodness on positive vs negative labels."""

    variant = "ff-la"


class FFVirtualTrainer(ForwardTrainer):
    """ForwardGNN FF-VN: class virtual nodes, goodness on positive vs negative class links."""

    variant = "ff-vn"


#: Trainers by CLI name.
FORWARD_TRAINERS = {"sf": SFTrainer, "ff-la": FFLabelTrainer, "ff-vn": FFVirtualTrainer}
