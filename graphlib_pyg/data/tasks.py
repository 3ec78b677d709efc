"""One object per benchmark: graph + split(s) + metric + evaluator.

``load_task(name)`` returns a :class:`NodeTask` or :class:`LinkTask`. Every model, trainer and
augmentation runs against these objects, so any combination is one command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data

import graphlib_pyg.data.datasets as ds
import graphlib_pyg.data.safe_io as safe_io
import graphlib_pyg.data.splits as sp
import graphlib_pyg.data.synthetic as synthetic
from graphlib_pyg.data.graph import GraphIndex, validate_graph
from graphlib_pyg.data.ogb import ogb_link_split

#: Link splits for non-OGB graphs: (val fraction, test fraction, metric).
LINK_SPLITS = {
    "70-10-20": (0.1, 0.2, "hits@100"),
    "85-5-10": (0.05, 0.1, "rocauc"),
    "forwardgnn": (0.16, 0.2, "rocauc"),
}
_FORWARDGNN_DIRS = {
    "cora_ml": "CitationFull-Cora_ML",
    "citeseer_full": "CitationFull-CiteSeer",
    "amazon-photo": "Amazon-Photo",
}


class Task:
    """Common part of node and link tasks.

    Attributes:
        name: dataset name.
        data: the full graph (``x`` may be ``None`` for featureless graphs such as ogbl-ddi).
        metric: ``accuracy``, ``rocauc``, ``hits@K`` or ``mrr``.
        ogb_name: the OGB dataset name when OGB's Evaluator defines the metric.
        split_name: which split protocol ``split(run)`` follows.
    """

    kind: str = ""

    def __init__(
        self,
        name: str,
        data: Data,
        metric: str,
        split_name: str,
        splits: list | None = None,
        split_fn: Callable[[int], object] | None = None,
        ogb_name: str | None = None,
    ) -> None:
        validate_graph(data.edge_index, data.num_nodes, getattr(data, "x", None), name=name)
        self.name, self.data, self.metric = name, data, metric
        self.split_name, self.ogb_name = split_name, ogb_name
        self._index: dict[int, tuple[Data, GraphIndex]] = {}
        if (splits is None) == (split_fn is None):
            raise ValueError("give exactly one of splits or split_fn")
        self._splits, self._split_fn, self._drawn = splits, split_fn, {}

    @property
    def num_splits(self) -> int | None:
        """Number of fixed splits, or ``None`` when every run draws a new random split."""
        return None if self._splits is None else len(self._splits)

    def split(self, run: int = 0):
        """Run ``run``'s split: fixed splits cycle (r mod K); random ones are drawn with seed r."""
        if self._splits is not None:
            return self._splits[run % len(self._splits)]
        if run not in self._drawn:
            self._drawn[run] = self._split_fn(run)
        return self._drawn[run]

    @property
    def num_nodes(self) -> int:
        return self.data.num_nodes

    @property
    def num_features(self) -> int:
        x = getattr(self.data, "x", None)
        return 0 if x is None else x.size(1)

    def index(self, graph: Data | None = None) -> GraphIndex:
        """The cached :class:`GraphIndex` of ``graph`` (default: the task's full graph)."""
        graph = self.data if graph is None else graph
        hit = self._index.get(id(graph))
        if hit is None or hit[0] is not graph:
            hit = (graph, GraphIndex(graph.edge_index, graph.num_nodes))
            self._index[id(graph)] = hit
        return hit[1]

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.name!r}, nodes={self.num_nodes}, "
            f"edges={self.data.edge_index.size(1)}, split={self.split_name!r}, "
            f"metric={self.metric!r})"
        )


class NodeTask(Task):
    """Node classification: ``split(run)`` gives run ``run``'s train/val/test nodes.

    Fixed splits (public, official, geom-gcn, forwardgnn) cycle: run r uses split r mod K. Random
    splits are drawn with seed r.
    """

    kind = "node"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        y = self.data.y
        self.multilabel = y.dim() == 2 and y.size(1) > 1
        self.num_classes = y.size(1) if self.multilabel else int(y.max()) + 1

    def split(self, run: int = 0) -> sp.NodeSplit:
        return super().split(run)

    def evaluate(self, out: Tensor, idx: Tensor) -> float:
        """Metric of model output ``out`` (N, C) on the nodes ``idx``."""
        from graphlib_pyg.data.metrics import node_metric

        return node_metric(self.metric, self.data.y[idx], out[idx], self.ogb_name)


class LinkTask(Task):
    """Link prediction: ``split(run)`` gives the message-passing graph and supervision edges."""

    kind = "link"

    def split(self, run: int = 0) -> sp.LinkSplit:
        return super().split(run)

    def evaluate(self, pos: Tensor, neg: Tensor, neg_per_pos: int | None = None) -> float:
        """Metric of positive and negative pair scores."""
        from graphlib_pyg.data.metrics import link_metric

        return link_metric(self.metric, pos, neg, neg_per_pos, self.ogb_name)


def available_tasks() -> list[str]:
    from graphlib_pyg.data.graph_tasks import GRAPH_TASKS

    return sorted(ds.registry()) + sorted(synthetic.GENERATORS) + sorted(GRAPH_TASKS)


def _check_split(name: str, split: str, valid) -> None:
    if split not in valid:
        raise ValueError(f"dataset {name!r} has no split {split!r}; valid: {', '.join(valid)}")


#: Largest K of each encoding for a graph of N nodes: ``lap`` asks the sparse eigensolver for K + 1
#: eigenpairs (it needs K + 1 < N); ``lapeig`` takes K non-trivial ones of N; walks have no bound.
_PE_MAX = {"rwse": lambda n: None, "lap": lambda n: n - 2, "lapeig": lambda n: n - 1}


def _add_pe(data: Data, pe: str, name: str = "graph") -> None:
    """Concatenate a positional/structural encoding (``rwse:K``, ``lap:K``, ``lapeig:K``) to x."""
    import torch_geometric.transforms as T

    kind, _, k = pe.partition(":") if isinstance(pe, str) else ("", "", "")
    if kind not in _PE_MAX or not k.isdigit() or int(k) < 1:
        raise ValueError(
            f"pe must be 'rwse:K', 'lap:K' or 'lapeig:K' with an integer K >= 1, got {pe!r}"
        )
    hi = _PE_MAX[kind](data.num_nodes)
    if hi is not None and int(k) > hi:
        what = "eigenvectors" if kind == "lap" else "eigenpairs"
        raise ValueError(
            f"pe={pe!r}: K={k} Laplacian {what} do not exist on dataset {name!r} with "
            f"{data.num_nodes} nodes; {kind}:K needs K in [1, {max(hi, 0)}]"
            + (" (no K fits: the graph is too small)" if hi < 1 else "")
        )
    if kind == "lapeig":  # K eigenvectors, then their K eigenvalues (GPS lap_pe=K reads both)
        from graphlib_pyg.data.pe import laplacian_eigenpairs

        vecs, vals = laplacian_eigenpairs(data.edge_index, data.num_nodes, int(k))
        enc = torch.cat([vecs, vals.expand(data.num_nodes, -1)], dim=1)
    elif kind == "rwse":
        enc = T.AddRandomWalkPE(int(k), attr_name="pe")(data.clone()).pe
    else:
        enc = T.AddLaplacianEigenvectorPE(int(k), attr_name="pe", is_undirected=True)(
            data.clone()
        ).pe
    data.x = enc if data.x is None else torch.cat([data.x.float(), enc.to(torch.float)], 1)


def load_task(
    name: str,
    root: str | Path | None = None,
    split: str | None = None,
    task: str | None = None,
    metric: str | None = None,
    val_as_input: bool = False,
    pe: str | None = None,
    **params,
) -> NodeTask | LinkTask:
    """Load a benchmark task by name.

    Args:
        name: dataset name (see :func:`available_tasks`), e.g. ``cora``, ``amazon-photo``,
            ``tolokers``, ``ogbl-ddi``, ``csbm``.
        root: raw data root (default ``$GRAPHLIB_DATA``).
        split: split protocol. Node tasks: ``public``/``random``/``geom-gcn`` (Planetoid),
            ``random`` (60/20/20), ``official``, ``geom-gcn``, ``forwardgnn``; any node
            dataset: ``cpf`` (the largest connected component, 20 training and 30 validation
            nodes per class, the rest test, drawn with seed r). Link tasks on
            non-OGB graphs: ``70-10-20`` (Hits@100, default), ``85-5-10``, ``forwardgnn``.
        task: ``"node"`` or ``"link"``; a node dataset loaded with ``task="link"`` becomes a
            link-prediction task on its graph. Default: the dataset's own kind.
        metric: override the default metric.
        val_as_input: link tasks: validation edges join the message-passing graph when the test
            set is scored (allowed by the ogbl-collab protocol; recorded with every result).
        pe: node tasks: positional/structural encoding concatenated to ``x``, computed once with
            PyG's transforms: ``"rwse:K"`` (``AddRandomWalkPE``, K steps) or ``"lap:K"``
            (``AddLaplacianEigenvectorPE``, K eigenvectors from a sparse eigensolver), or
            ``"lapeig:K"``: K eigenvectors and then their K eigenvalues (our sparse
            :func:`~graphlib_pyg.data.pe.laplacian_eigenpairs`), read by GPS with
            ``lap_pe=K`` (LapPE encoder, random sign flips at every training step).
        **params: generator parameters for synthetic tasks (``num_nodes``, ``homophily``, ...)
            and split fractions (``train``, ``val``, ``test``).

    Returns:
        A :class:`NodeTask` or :class:`LinkTask`.
    """
    from graphlib_pyg.data.graph_tasks import GRAPH_TASKS

    if name in GRAPH_TASKS:
        if pe is not None:
            raise ValueError("pe= is supported for node tasks; graph tasks take no pe option")
        if task not in (None, "graph"):
            raise ValueError(f"dataset {name!r} is a graph-level task; got task={task!r}")
        if name == "peptides-func":
            if params:
                raise TypeError(f"unexpected parameters for dataset {name!r}: {sorted(params)}")
            return GRAPH_TASKS[name](root)
        return GRAPH_TASKS[name](**params)
    split_params = {k: params.pop(k) for k in ("train", "val", "test") if k in params}
    if name in synthetic.GENERATORS:
        kind, gen = synthetic.GENERATORS[name]
        data = gen(**params)
        ogb_name = None
        default_metric = "accuracy"
        fixed_splits = None
    else:
        if params:
            raise TypeError(f"unexpected parameters for dataset {name!r}: {sorted(params)}")
        reg = ds.registry()
        if name not in reg:
            raise ds.unknown_dataset(name)
        spec = reg[name]
        kind = spec.kind
        dataset = ds.load_dataset(name, root)
        ogb_name = name if spec.family == "ogb" else None
        default_metric = "accuracy" if spec.metric == "acc" else spec.metric
        if spec.family == "ogb" and kind == "link":
            return _ogb_link_task(
                name, dataset, split or "official", metric or default_metric, val_as_input
            )
        data = ds.graph_from_dataset(dataset)
        fixed_splits = (spec, dataset)
    if task is not None and task not in ("node", "link"):
        raise ValueError(f"task must be 'node' or 'link', got {task!r}")
    kind = task or kind
    if (
        kind == "node"
        and fixed_splits is not None
        and getattr(data, "x", None) is not None
        and fixed_splits[0].family in ("planetoid", "citationfull")
        and split != "cpf"  # the CPF files (GLNN, VQGraph) hold the raw binary features
    ):
        # As PyG's NormalizeFeatures in the node-classification papers' code. Link-prediction
        # code (OGB-style, NCN, SEAL) uses the raw bag-of-words features, so link tasks do too.
        data.x = row_normalize(data.x)
    if pe is not None:
        if kind != "node":
            raise ValueError("pe= is supported for node tasks only")
        _add_pe(data, pe, name)
    if kind == "link":
        split = split or "70-10-20"
        _check_split(name, split, LINK_SPLITS)
        val, test, m = LINK_SPLITS[split]
        val, test = split_params.get("val", val), split_params.get("test", test)
        return LinkTask(
            name,
            data,
            metric or m,
            split,
            split_fn=lambda run: sp.random_link_split(
                data, val, test, seed=run, val_as_input=val_as_input
            ),
        )
    if split == "cpf":  # CPF protocol (GLNN, VQGraph): largest component, 20/30 per class
        data = sp.largest_component(data)
        y = data.y
        return NodeTask(
            name,
            data,
            metric or default_metric,
            split,
            split_fn=lambda run: sp.cpf_split(y, seed=run),
        )
    if name in synthetic.GENERATORS:
        split = split or "random"
        _check_split(name, split, ("random",))
        return NodeTask(
            name,
            data,
            metric or default_metric,
            split,
            split_fn=_random_fn(data.num_nodes, split_params),
        )
    spec, dataset = fixed_splits
    split = split or spec.splits[0]
    _check_split(name, split, spec.splits)
    metric = metric or default_metric
    if spec.family == "ogb":
        with safe_io.trusted_loading():  # split_dict.pt, if any, loads weights_only=True
            idx = dataset.get_idx_split()
        data.y = data.y.squeeze(1) if data.y.dim() == 2 and data.y.size(1) == 1 else data.y
        s = sp.NodeSplit(idx["train"], idx["valid"], idx["test"])
        return NodeTask(name, data, metric, split, splits=[s], ogb_name=ogb_name)
    if split == "random":
        if spec.family == "planetoid":
            y = data.y
            return NodeTask(
                name, data, metric, split, split_fn=lambda run: sp.per_class_split(y, seed=run)
            )
        return NodeTask(
            name, data, metric, split, split_fn=_random_fn(data.num_nodes, split_params)
        )
    if split == "forwardgnn":
        folder = (
            (Path(root).expanduser() if root else ds.data_root())
            / "forwardgnn-datasplits"
            / "datasplits"
            / _FORWARDGNN_DIRS[name]
            / "node-5splits"
        )
        return NodeTask(
            name, data, metric, split, splits=sp.forwardgnn_splits(folder, data.num_nodes)
        )
    masks = data
    if split == "geom-gcn" and spec.family == "planetoid":  # its own raw folder and masks
        masks = ds.load_dataset(name, root, split="geom-gcn")[0]
    splits = sp.splits_from_masks(masks.train_mask, masks.val_mask, masks.test_mask)
    return NodeTask(name, data, metric, split, splits=splits)


def _random_fn(num_nodes: int, params: dict) -> Callable[[int], sp.NodeSplit]:
    train, val = params.get("train", 0.6), params.get("val", 0.2)
    return lambda run: sp.random_node_split(num_nodes, train, val, seed=run)


def row_normalize(x: Tensor) -> Tensor:
    """Divide each row by its sum (rows summing to zero stay zero), as PyG's NormalizeFeatures."""
    s = x.sum(1, keepdim=True)
    return x / torch.where(s == 0, torch.ones_like(s), s)


def _ogb_link_task(
    name: str, dataset, split: str, metric: str, val_as_input: bool = False
) -> LinkTask:
    _check_split(name, split, ("official",))
    data = ds.graph_from_dataset(dataset)
    official = ogb_link_split(dataset, data, val_as_input)
    return LinkTask(name, data, metric, split, splits=[official], ogb_name=name)
