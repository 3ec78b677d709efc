"""OGB link datasets' official split: its files read ``weights_only=True``, as a ``LinkSplit``.

OGB's own ``get_edge_split()`` calls plain ``torch.load`` (unsafe where PyTorch's
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set) and names no file when one fails;
:func:`ogb_edge_split` reads the same files through :func:`graphlib_pyg.data.safe_io.torch_load`.
:func:`ogb_link_split` turns them into the :class:`~graphlib_pyg.data.splits.LinkSplit` every link
trainer reads: shared negatives (Hits@K datasets) or ``neg_per_pos`` negatives per positive
(MRR datasets such as ogbl-citation2).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data

import graphlib_pyg.data.safe_io as safe_io
import graphlib_pyg.data.splits as sp


def ogb_edge_split(dataset) -> dict:
    """OGB's ``get_edge_split()`` of a link dataset, each split file read ``weights_only=True``
    (errors name the file); the same dicts of tensors as OGB's reader."""
    folder = Path(dataset.root) / "split" / dataset.meta_info["split"]
    if (folder / "split_dict.pt").is_file():
        return safe_io.torch_load(folder / "split_dict.pt")
    out = {}
    for part in ("train", "valid", "test"):
        blob = safe_io.torch_load(folder / f"{part}.pt")
        if not isinstance(blob, dict):
            raise safe_io.DatasetCorruptError(f"{folder / part}.pt: expected a dict of edge arrays")
        out[part] = {k: torch.as_tensor(v) for k, v in blob.items()}
    return out


def ogb_link_split(dataset, data: Data, val_as_input: bool = False) -> sp.LinkSplit:
    """The official split of an OGB link dataset whose graph is ``data``.

    Args:
        dataset: the PyG OGB dataset (its ``root`` holds ``split/``).
        data: its graph (:func:`graphlib_pyg.data.datasets.graph_from_dataset`).
        val_as_input: validation edges join the graph the test set is scored on (allowed by the
            ogbl-collab protocol).
    """
    raw = ogb_edge_split(dataset)  # each split file weights_only=True, named on failure

    def pairs(d: dict, key: str) -> Tensor:
        t = torch.as_tensor(d[key])
        return t.t().long() if t.dim() == 2 and t.size(1) == 2 else t.long()

    neg_per_pos = None
    if "source_node" in raw["valid"]:  # ogbl-citation2 / wikikg style: per-positive negatives

        def build(d):
            src, dst = torch.as_tensor(d["source_node"]), torch.as_tensor(d["target_node"])
            neg = torch.as_tensor(d["target_node_neg"]) if "target_node_neg" in d else None
            pos = torch.stack([src, dst]).long()
            if neg is None:
                return pos, None
            k = neg.size(1)
            return pos, torch.stack([src.repeat_interleave(k), neg.reshape(-1)]).long(), k

        train_pos = build(raw["train"])[0]
        val_pos, val_neg, neg_per_pos = build(raw["valid"])
        test_pos, test_neg, _ = build(raw["test"])
    else:
        train_pos = pairs(raw["train"], "edge")
        val_pos, val_neg = pairs(raw["valid"], "edge"), pairs(raw["valid"], "edge_neg")
        test_pos, test_neg = pairs(raw["test"], "edge"), pairs(raw["test"], "edge_neg")

    def official() -> sp.LinkSplit:
        graph = Data(edge_index=data.edge_index, num_nodes=data.num_nodes)
        for key in ("x", "edge_weight"):
            if key in data:
                graph[key] = data[key]
        test_graph = None
        if val_as_input:  # OGB allows validation edges as model input at test time (collab)
            test_graph = Data(
                edge_index=torch.cat([data.edge_index, val_pos, val_pos.flip(0)], 1),
                num_nodes=data.num_nodes,
            )
            if "x" in data:
                test_graph.x = data.x
        return sp.LinkSplit(
            graph,
            train_pos,
            val_pos,
            val_neg,
            test_pos,
            test_neg,
            test_graph,
            val_as_input=val_as_input,
            neg_per_pos=neg_per_pos,
        )

    return official()
