"""What a layer-local method trains each layer for: the objective the engine
(:class:`~graphlib_pyg.train.local.LocalEngine`) calls.

An objective says which inputs the layers see (``streams``: the positive graph, negative graphs,
one graph per candidate label, ...), each layer's loss, an optional trainable head per layer (an
auxiliary network), how a layer's output turns into a prediction and how predictions of layers
combine. ForwardGNN's (:mod:`~graphlib_pyg.train.forward`) and the auxiliary-network ones
(:mod:`~graphlib_pyg.train.auxiliary`) are subclasses to copy.
"""

from __future__ import annotations

from torch import Tensor, nn

from graphlib_pyg.train.local_layers import LocalConv, Stream, l2_rows


class LocalObjective:
    """What a layer-local method trains each layer for. Subclasses set the attributes and
    implement :meth:`loss` and :meth:`score`.

    Attributes:
        streams: name -> :class:`Stream`, every input the layers process.
        train_streams: the streams the losses need.
        eval_streams: the streams the scores need.
    """

    streams: dict[str, Stream]
    train_streams: tuple[str, ...]
    eval_streams: tuple[str, ...]

    def loss_rows(self, name: str) -> Tensor | None:
        """Rows of stream ``name`` that :meth:`loss` reads (None: all). The loss then receives
        only these rows, in this order; a cached layer computes only these rows per step."""
        return None

    def head(self, layer: int, channels: int) -> nn.Module | None:
        """A trainable module optimised with layer ``layer`` (an auxiliary network), or None."""
        return None

    def loss(self, layer: int, head: nn.Module | None, out: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def score(self, layer: int, head: nn.Module | None, out: dict[str, Tensor]) -> Tensor:
        """Layer ``layer``'s prediction from its outputs on the eval streams."""
        raise NotImplementedError

    def after_step(self, convs: list[LocalConv], heads: list[nn.Module | None]) -> None:
        """Called after every joint-schedule optimiser step (e.g. to update EMA copies)."""

    def combine(self, prev: Tensor | None, score: Tensor) -> Tensor:
        """The prediction of layers ``0..l`` from that of layers ``0..l-1`` (None for the first)
        and layer ``l``'s score: by default the running sum. Only this running prediction is
        kept, so memory does not grow with depth."""
        return score if prev is None else prev + score

    def metric(self, score: Tensor, part: str) -> float:
        """The metric of a prediction on ``part`` (``"val"`` or ``"test"``)."""
        raise NotImplementedError

    def next_input(self, layer: int, out: dict[str, Tensor]) -> dict[str, Tensor]:
        """The (detached) inputs of layer ``layer + 1`` from layer ``layer``'s outputs."""
        return {k: l2_rows(v.detach()) for k, v in out.items()}


class NodeObjective(LocalObjective):
    """Base of node-classification objectives: the task, the run's split and the task's metric.

    Attributes:
        n, k: number of (real) nodes and classes.
    """

    def __init__(self, task, split) -> None:
        self.task, self.split = task, split
        self.n, self.k = task.num_nodes, task.num_classes

    def metric(self, score: Tensor, part: str) -> float:
        return self.task.evaluate(score, getattr(self.split, part))
