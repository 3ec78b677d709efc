"""graphlib-pyg: graph learning on PyTorch Geometric.

The import name is ``graphlib_pyg`` because ``graphlib`` is a Python standard-library module.
"""

from graphlib_pyg.data import LinkTask, NodeTask, load_task

__version__ = "0.1.0"
__all__ = ["load_task", "NodeTask", "LinkTask", "__version__"]
