"""The common data/batching layer: datasets, tasks, splits, CSR graph index, samplers, loaders."""

from graphlib_pyg.data.datasets import DatasetCorruptError, DatasetNotFoundError, registry
from graphlib_pyg.data.graph import GraphIndex, adjacency, validate_graph
from graphlib_pyg.data.splits import LinkSplit, NodeSplit, random_link_split
from graphlib_pyg.data.tasks import LinkTask, NodeTask, Task, available_tasks, load_task

__all__ = [
    "DatasetCorruptError",
    "DatasetNotFoundError",
    "GraphIndex",
    "LinkSplit",
    "LinkTask",
    "NodeSplit",
    "NodeTask",
    "Task",
    "adjacency",
    "available_tasks",
    "load_task",
    "registry",
    "random_link_split",
    "validate_graph",
]
