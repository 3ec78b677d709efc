"""Graph-level tasks: a list of graphs, a fixed split of graph indices, a metric.

``peptides-func`` (LRGB, Dwivedi et al. 2022): 15,535 peptides as molecular graphs (9 integer
atom features, 3 integer bond features), 10 binary functions per peptide, average precision.
The graphs are built from the CSV's SMILES with OGB's ``smiles2graph`` (needs ``rdkit``:
``pip install graphlib-pyg[lrgb]``) once, and cached as plain tensors under ``GRAPHLIB_CACHE``,
keyed on the raw files' sizes and modification times; a cache file that does not load
(``weights_only=True`` only) or does not match the CSV is rebuilt with a warning. The official
stratified split is read from its pickle with the arrays-only unpickler of
:mod:`graphlib_pyg.data.safe_io`. ``graph-sbm`` is a generated task (dense vs sparse random
graphs, constant features) whose labels only structure can tell apart.
"""

from __future__ import annotations

import ast
import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import is_undirected

import graphlib_pyg.data.datasets as ds
import graphlib_pyg.data.safe_io as safe_io
from graphlib_pyg.data.cache import cache_dir, drop_stale
from graphlib_pyg.data.graph import sort_edges
from graphlib_pyg.data.rcc8 import load_rcc8
from graphlib_pyg.data.sudoku import load_sudoku

PEPTIDES_FOLDER = "LRGB/peptides-functional"
PEPTIDES_CSV = "raw/peptide_multi_class_dataset.csv.gz"
PEPTIDES_SPLIT = "splits_random_stratified_peptide.pickle"


@dataclass(frozen=True)
class GraphSplit:
    """Graph indices of the train / validation / test sets."""

    train: Tensor
    val: Tensor
    test: Tensor


class GraphTask:
    """Graph classification / multi-label prediction over a list of graphs.

    Attributes:
        graphs: the graphs (``x``, ``edge_index``, optional ``edge_attr``, ``y`` of shape
            (1, T) for T targets or (1,) for a class).
        metric: ``ap`` (multi-label average precision, LRGB's) or ``accuracy``.
        categorical: ``x`` holds integer atom features (embed them, OGB ``AtomEncoder``).
    """

    kind = "graph"

    def __init__(
        self,
        name: str,
        graphs: list[Data],
        split: GraphSplit,
        metric: str,
        categorical: bool = False,
    ) -> None:
        if not graphs:
            raise ValueError(f"graph task {name!r} has no graphs")
        self.name, self.graphs, self._split, self.metric = name, graphs, split, metric
        self.categorical, self.ogb_name = categorical, None
        y = graphs[0].y
        self.multilabel = y.dim() == 2 and y.size(1) > 1
        self.num_classes = (
            y.size(1) if self.multilabel else int(max(int(g.y.max()) for g in graphs)) + 1
        )
        self.split_name = "official"

    num_splits = 1

    def split(self, run: int = 0) -> GraphSplit:
        return self._split

    @property
    def num_features(self) -> int:
        return self.graphs[0].x.size(1)

    @functools.cached_property
    def undirected(self) -> bool:
        """Whether every graph's edges come with their reverses (checked once, all graphs in
        one pass: molecules are undirected)."""
        sizes = torch.tensor([g.num_nodes for g in self.graphs])
        counts = torch.tensor([g.edge_index.size(1) for g in self.graphs])
        offset = torch.repeat_interleave(torch.cumsum(sizes, 0) - sizes, counts)
        edges = torch.cat([g.edge_index for g in self.graphs], 1) + offset
        return is_undirected(edges, num_nodes=int(sizes.sum()))

    @property
    def num_edge_features(self) -> int:
        """Edge feature columns (bond features on molecules); 0 when the graphs have none."""
        ea = self.graphs[0].edge_attr
        return 0 if ea is None else (ea.size(1) if ea.dim() > 1 else 1)

    def evaluate(self, out: Tensor, y: Tensor) -> float:
        """Metric of logits ``out`` (G, T or C) against targets ``y`` of the same graphs."""
        out, y = out.detach().cpu().float(), y.detach().cpu()
        if self.metric == "ap":
            return average_precision(y, out)
        return float((out.argmax(-1) == y.view(-1)).float().mean())

    def __repr__(self) -> str:
        return (
            f"GraphTask({self.name!r}, graphs={len(self.graphs)}, metric={self.metric!r}, "
            f"targets={self.num_classes})"
        )


def average_precision(y_true: Tensor, scores: Tensor) -> float:
    """Mean over targets of sklearn's average precision (LRGB's ``ap``).

    Targets whose labelled entries are all one class are skipped; NaN labels are ignored.
    """
    from sklearn.metrics import average_precision_score

    y_true, scores = y_true.double(), scores.double()
    aps = []
    for t in range(y_true.size(1)):
        lab = ~torch.isnan(y_true[:, t])
        col = y_true[lab, t]
        if 0 < col.sum() < col.numel():
            aps.append(average_precision_score(col.numpy(), scores[lab, t].numpy()))
    if not aps:
        raise ValueError("average precision needs a target with both positive and negative labels")
    return float(sum(aps) / len(aps))


def _smiles_graph(smiles: str, labels: list) -> Data:
    from ogb.utils import smiles2graph

    g = smiles2graph(smiles)
    return Data(
        x=torch.from_numpy(g["node_feat"]).long(),
        edge_index=torch.from_numpy(g["edge_index"]).long(),
        edge_attr=torch.from_numpy(g["edge_feat"]).long(),
        y=torch.tensor(labels, dtype=torch.float).view(1, -1),
        num_nodes=int(g["num_nodes"]),
    )


def _pack(graphs: list[Data]) -> dict[str, Tensor]:
    """Plain tensors for ``torch.save`` (loadable with ``weights_only=True``)."""
    return {
        "x": torch.cat([g.x for g in graphs]),
        "edge_index": torch.cat([g.edge_index for g in graphs], 1),
        "edge_attr": torch.cat([g.edge_attr for g in graphs]),
        "y": torch.cat([g.y for g in graphs]),
        "num_nodes": torch.tensor([g.num_nodes for g in graphs]),
        "num_edges": torch.tensor([g.edge_index.size(1) for g in graphs]),
    }


def _unpack(d: dict[str, Tensor]) -> list[Data]:
    """The graphs of :func:`_pack`, each graph's edges in CSR order (:func:`sort_edges`, one
    sort over all graphs' edges at once), so their batches' adjacencies need no sort."""
    counts = d["num_edges"]
    offset = torch.cumsum(d["num_nodes"], 0) - d["num_nodes"]  # first node of each graph
    shift = torch.repeat_interleave(offset, counts)  # (E,) local -> global node index
    edge_index, edge_attr = sort_edges(
        d["edge_index"] + shift, int(d["num_nodes"].sum()), d["edge_attr"]
    )
    edge_index = edge_index - shift  # graphs stay contiguous: each edge keeps its graph's offset
    xs = d["x"].split(d["num_nodes"].tolist())
    eis = edge_index.split(counts.tolist(), 1)
    eas = edge_attr.split(counts.tolist())
    return [
        Data(x=x, edge_index=ei, edge_attr=ea, y=d["y"][i : i + 1], num_nodes=x.size(0))
        for i, (x, ei, ea) in enumerate(zip(xs, eis, eas, strict=True))
    ]


def _build_peptides(csv: Path) -> list[Data]:
    try:
        import rdkit  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "peptides-func builds its graphs from SMILES with rdkit: "
            "pip install 'graphlib-pyg[lrgb]' (or pip install rdkit)"
        ) from err
    import pandas as pd

    frame = pd.read_csv(csv)
    return [
        _smiles_graph(s, ast.literal_eval(lab))
        for s, lab in zip(frame["smiles"], frame["labels"], strict=True)
    ]


def _cached_peptides(cache: Path, csv: Path) -> list[Data] | None:
    """The cached graphs, or ``None`` (with a warning naming the file) when they cannot be used."""
    import pandas as pd

    try:
        graphs = _unpack(safe_io.torch_load(cache))
    except (safe_io.DatasetCorruptError, KeyError, TypeError, AttributeError, RuntimeError) as e:
        why = str(e) if isinstance(e, safe_io.DatasetCorruptError) else f"{cache}: bad layout ({e})"
        warnings.warn(f"peptides-func: rebuilding the cached graphs: {why}", RuntimeWarning, 3)
        return None
    rows = len(pd.read_csv(csv, usecols=["smiles"]))
    if len(graphs) != rows:
        warnings.warn(
            f"peptides-func: rebuilding {cache}: it holds {len(graphs)} graphs, {csv} has {rows}",
            RuntimeWarning,
            3,
        )
        return None
    return graphs


def _peptides_split(path: Path, num_graphs: int) -> GraphSplit:
    """The official split from its pickle (arrays only), checked to index ``num_graphs`` graphs."""
    idx = safe_io.load_pickle(path)
    if not isinstance(idx, dict) or not {"train", "val", "test"} <= set(idx):
        raise ds.DatasetCorruptError(f"{path}: expected a dict with train/val/test index arrays")
    parts = [torch.as_tensor(idx[k]).long().view(-1) for k in ("train", "val", "test")]
    for k, t in zip(("train", "val", "test"), parts, strict=True):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_graphs):
            raise ds.DatasetCorruptError(
                f"{path}: {k} indices outside [0, {num_graphs}) for the {num_graphs} graphs"
            )
    return GraphSplit(*parts)


def load_peptides_func(root: str | Path | None = None) -> GraphTask:
    """Peptides-func from ``<root>/LRGB/peptides-functional`` (raw CSV + split pickle)."""
    src_root = Path(root).expanduser() if root else ds.data_root()
    folder = src_root / PEPTIDES_FOLDER
    missing = [folder / f for f in (PEPTIDES_CSV, PEPTIDES_SPLIT) if not (folder / f).is_file()]
    if missing:
        raise ds.DatasetNotFoundError(
            f"dataset 'peptides-func': missing {', '.join(map(str, missing))} (searched "
            f"{folder}; set {ds.DATA_ENV} to the folder holding LRGB/peptides-functional)"
        )
    base = cache_dir("peptides-func", src_root, PEPTIDES_FOLDER)
    cache = base / "graphs.pt"
    graphs = _cached_peptides(cache, folder / PEPTIDES_CSV) if cache.is_file() else None
    if graphs is None:
        packed = _pack(_build_peptides(folder / PEPTIDES_CSV))
        graphs = _unpack(packed)  # the same graphs (edge order too) as a later cached load
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        torch.save(packed, tmp)
        os.replace(tmp, cache)  # atomic: a concurrent reader never sees half a file
        drop_stale(base, "peptides-func")
    split = _peptides_split(folder / PEPTIDES_SPLIT, len(graphs))
    return GraphTask("peptides-func", graphs, split, "ap", categorical=True)


def load_graph_sbm(
    num_graphs: int = 400,
    num_nodes: int = 30,
    p_dense: float = 0.3,
    p_sparse: float = 0.1,
    seed: int = 0,
) -> GraphTask:
    """Generated: label 1 for dense Erdos-Renyi graphs, 0 for sparse ones; constant features."""
    from torch_geometric.utils import erdos_renyi_graph

    torch.manual_seed(seed)
    graphs = []
    for i in range(num_graphs):
        label = i % 2
        ei = erdos_renyi_graph(num_nodes, p_dense if label else p_sparse)
        graphs.append(Data(x=torch.ones(num_nodes, 1), edge_index=ei, y=torch.tensor([label])))
    perm = torch.randperm(num_graphs)
    a, b = int(0.6 * num_graphs), int(0.8 * num_graphs)
    return GraphTask("graph-sbm", graphs, GraphSplit(perm[:a], perm[a:b], perm[b:]), "accuracy")


GRAPH_TASKS = {
    "peptides-func": load_peptides_func,
    "graph-sbm": load_graph_sbm,
    "sudoku": load_sudoku,  # a Sudoku task (data/sudoku.py), not a GraphTask
    "rcc8": load_rcc8,  # RCC-8 composition queries (data/rcc8.py), not a GraphTask
}

__all__ = ["GRAPH_TASKS", "GraphSplit", "GraphTask", "average_precision", "load_peptides_func"]
