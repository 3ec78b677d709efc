"""The public import path for models: ``from graphlib_pyg.nn.models import build_model``.

Each concept lives in its own module; this one only gathers them:

- :mod:`graphlib_pyg.nn.registry`: :class:`ModelSpec`, :data:`MODELS`, :func:`build_model`;
- :mod:`graphlib_pyg.nn.dropout`: :class:`InputDropout`, :func:`dropout_`;
- :mod:`graphlib_pyg.nn.residual`: :class:`ResidualGNN`;
- :mod:`graphlib_pyg.nn.stack`: :class:`LayerStack`;
- :mod:`graphlib_pyg.nn.transformer.gps`: :class:`GPS`;
- :mod:`graphlib_pyg.nn.heads`: :class:`LinkPredictor`, :class:`GraphLevel`.
"""

from graphlib_pyg.nn.dropout import InputDropout, dropout_
from graphlib_pyg.nn.heads import GraphLevel, LinkPredictor
from graphlib_pyg.nn.registry import (
    MODELS,
    ModelSpec,
    build_link_model,
    build_model,
    graph_input,
)
from graphlib_pyg.nn.residual import ResidualGNN
from graphlib_pyg.nn.stack import LayerStack
from graphlib_pyg.nn.transformer.gps import GPS
from graphlib_pyg.utils import count_parameters, resolve, seed_everything

__all__ = [
    "GPS",
    "MODELS",
    "GraphLevel",
    "InputDropout",
    "LayerStack",
    "LinkPredictor",
    "ModelSpec",
    "ResidualGNN",
    "build_link_model",
    "build_model",
    "count_parameters",
    "dropout_",
    "graph_input",
    "resolve",
    "seed_everything",
]
