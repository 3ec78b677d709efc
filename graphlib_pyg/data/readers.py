"""PyG's dataset classes with every file read through :mod:`graphlib_pyg.data.safe_io`.

PyG's classes are used as they are (folders, processing, processed format) except for how files
are read:

* every class here loads its processed file with ``weights_only=True`` only
  (:meth:`_TrustedLoad.load`), never PyG's ``weights_only=False`` retry;
* Planetoid's raw ``ind.*`` pickles go through the arrays-only unpickler instead of
  ``pickle.load`` (:func:`read_planetoid`), and its geom-gcn split archives through
  :func:`~graphlib_pyg.data.safe_io.open_npz`;
* CitationFull, Amazon and Coauthor read their ``.npz`` through
  :func:`~graphlib_pyg.data.safe_io.open_npz` (``allow_pickle=False``, errors name the file).

WebKB, Actor, WikipediaNetwork (geom-gcn files) and HeterophilousGraphDataset read text files and
``np.load`` with NumPy's default ``allow_pickle=False``; only their processed-file loading changes.
"""

from __future__ import annotations

import functools
import os.path as osp

import torch
from torch_geometric.data import Data

import graphlib_pyg.data.safe_io as safe_io

_PLANETOID_PARTS = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


def _read_ind(folder: str, prefix: str, part: str):
    """One Planetoid ``ind.<prefix>.<part>`` file: a float tensor, or the graph's dict."""
    from torch_geometric.io import read_txt_array

    path = osp.join(folder, f"ind.{prefix.lower()}.{part}")
    if part == "test.index":
        return read_txt_array(path, dtype=torch.long)
    out = safe_io.load_pickle(path)
    if part == "graph":
        ok = isinstance(out, dict) and all(
            isinstance(k, int) and isinstance(v, list) and all(isinstance(j, int) for j in v)
            for k, v in out.items()
        )
        if not ok:
            raise safe_io.DatasetCorruptError(f"{path}: expected a dict of node -> neighbour list")
        return out
    if isinstance(out, safe_io.CSRRecord):
        try:
            out = out.to_array()
        except ValueError as err:
            raise safe_io.DatasetCorruptError(f"{path}: {err}") from None
    if not hasattr(out, "dtype") or out.ndim != 2:
        raise safe_io.DatasetCorruptError(f"{path}: expected a 2-D array, got {type(out).__name__}")
    return torch.from_numpy(out).to(torch.float)


def read_planetoid(folder: str, prefix: str) -> Data:
    """PyG's ``read_planetoid_data`` for Cora, CiteSeer and PubMed, reading no code: PyG
    assembles the graph, features, labels and masks as always, with its per-file reader
    (``torch_geometric.io.planetoid.read_file``, a plain ``pickle.load``) replaced by the
    arrays-only :func:`_read_ind` for the duration of the call."""
    from unittest import mock

    import torch_geometric.io.planetoid as planetoid

    with mock.patch.object(planetoid, "read_file", _read_ind):
        return planetoid.read_planetoid_data(folder, prefix)


class _TrustedLoad:
    """Mixin for PyG ``InMemoryDataset`` classes: the processed file loads ``weights_only=True``
    or fails naming the file (the caller then rebuilds it); it is never unpickled."""

    def load(self, path: str, data_cls: type = Data) -> None:
        out = safe_io.torch_load(path)
        if not (isinstance(out, tuple) and len(out) in (2, 3)):
            raise safe_io.DatasetCorruptError(
                f"{path}: expected PyG's (data, slices[, class]) tuple, got {type(out).__name__}"
            )
        data, self.slices = out[0], out[1]
        if len(out) == 3:
            data_cls = out[2]
        self.data = data_cls.from_dict(data) if isinstance(data, dict) else data


def _npz_process(self) -> None:
    """``process`` of PyG's CitationFull/Amazon/Coauthor with the archive read by ``open_npz``."""
    from torch_geometric.io.npz import parse_npz

    with safe_io.open_npz(self.raw_paths[0]) as f:
        data = parse_npz(f, to_undirected=getattr(self, "to_undirected", True))
    data = data if self.pre_transform is None else self.pre_transform(data)
    self.save([data], self.processed_paths[0])


def _planetoid_process(self) -> None:
    """``process`` of PyG's Planetoid with :func:`read_planetoid` and ``open_npz`` splits."""
    data = read_planetoid(self.raw_dir, self.name)
    if self.split == "geom-gcn":
        masks = {"train_mask": [], "val_mask": [], "test_mask": []}
        for i in range(10):
            name = f"{self.name.lower()}_split_0.6_0.2_{i}.npz"
            with safe_io.open_npz(osp.join(self.raw_dir, name)) as f:
                for key, out in masks.items():
                    out.append(torch.from_numpy(f[key]))
        for key, out in masks.items():
            data[key] = torch.stack(out, dim=1)  # (N, 10)
    data = data if self.pre_transform is None else self.pre_transform(data)
    self.save([data], self.processed_paths[0])


_PROCESS = {
    "Planetoid": _planetoid_process,
    "CitationFull": _npz_process,
    "Amazon": _npz_process,
    "Coauthor": _npz_process,
}


@functools.cache
def trusted(name: str) -> type:
    """PyG's dataset class ``name`` (``torch_geometric.datasets.<name>``) with trusted file reads.

    The subclass (``Trusted<name>``) keeps PyG's arguments, folders and processed format; see the
    module docstring for what changes per class.
    """
    import torch_geometric.datasets as D

    base = getattr(D, name)
    body = {"__module__": __name__, "__doc__": f"PyG's {name}, files read by safe_io."}
    if name in _PROCESS:
        body["process"] = _PROCESS[name]
    return type(f"Trusted{name}", (_TrustedLoad, base), body)
