"""Plugging local augmentation into a model: input wrapper and the paper's branched first layer.

Three ways, from least to most invasive:

1. :class:`LocalAugmentation` (``style="concat"``) feeds ``[X || X_bar_1 || ... || X_bar_n]`` to an
   unmodified model whose first layer takes ``(1 + n) * F`` inputs, e.g. PyG's
   ``GCN(2 * F, ...)``.
2. :func:`branch_first_layer` replaces a PyG ``BasicGNN``'s first convolution by one branch per
   input matrix with concatenated outputs (the paper's LA-GCN/LA-GAT first layer). With
   the default width (the original width split evenly) the parameter count is unchanged.
3. :class:`LocalAugmentation` with ``style="mean"`` feeds ``(X + X_bar) / 2`` (no wider input;
   the cheap option for large graphs).

Evaluation is reproducible: ``eval_policy="fixed"`` draws the generated matrices once from
``eval_seed`` and reuses them for every evaluation of the same features; ``"mean"`` averages the
model's outputs over ``eval_draws`` seeded draws; ``"redraw"`` makes a new seeded draw at every
evaluation (the k-th evaluation uses seed ``eval_seed + k``), which is the reference code's
behaviour: it draws new matrices for validation every epoch and keeps the best epoch's model
together with its draw.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphlib_pyg.nn.branching import BranchedInput, branch_first_layer  # noqa: F401
from graphlib_pyg.nn.dropout import dropout_

STYLES = ("concat", "mean")
EVAL_POLICIES = ("fixed", "mean", "redraw")


class LocalAugmentation(nn.Module):
    """Wrap ``model(x, *args)`` so that it also sees generated neighbour features.

    In training mode every call draws fresh samples from the (frozen) generator, so ``K`` calls
    per step give the ``K`` augmented predictions the consistency loss compares.

    Args:
        model: any module called as ``model(x, *args, **kwargs)``; for ``style="concat"`` its
            input width must be ``(1 + n_aug) * F``.
        generator: a pre-trained :class:`NeighborGenerator` (or any module with
            ``sample(x, generator=None) -> (N, F)``); its parameters are frozen.
        n_aug: generated matrices per call.
        style: ``"concat"`` or ``"mean"`` (average of ``x`` and the generated matrices).
        eval_policy: ``"fixed"``, ``"mean"`` or ``"redraw"`` (see the module docstring).
        eval_seed: seed of the evaluation draws.
        eval_draws: draws averaged by ``eval_policy="mean"``.
        source: ``"generator"``, or ``"copy"`` to use ``x`` itself as every ``X_bar`` (the
            "concat X with itself" ablation: same width, no new information).
        input_dropout: dropout on every input block in training (``style="concat"``), applied
            here rather than inside ``model``: the block of ``x`` uses the cached non-zero
            pattern of sparse features and the generated blocks are dropped in place, which on
            CPU costs a fraction of dropping the concatenated matrix.
        blocks: give ``model`` the tuple ``(X, X_bar_1, ..., X_bar_n)`` instead of its
            concatenation (``style="concat"`` only), for a first layer that takes the blocks
            separately, such as :class:`BranchedInput`: saves copying ``(1 + n) N F`` values
            per forward pass.

    Shapes:
        - **input:** x (N, F), then whatever ``model`` takes
        - **output:** whatever ``model`` returns
    """

    def __init__(
        self,
        model: nn.Module,
        generator: nn.Module | None,
        n_aug: int = 1,
        style: str = "concat",
        eval_policy: str = "fixed",
        eval_seed: int = 0,
        eval_draws: int = 5,
        source: str = "generator",
        input_dropout: float = 0.0,
        blocks: bool = False,
    ) -> None:
        super().__init__()
        from graphlib_pyg.nn.dropout import InputDropout

        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        if eval_policy not in EVAL_POLICIES:
            raise ValueError(f"eval_policy must be one of {EVAL_POLICIES}, got {eval_policy!r}")
        if source not in ("generator", "copy"):
            raise ValueError(f"source must be 'generator' or 'copy', got {source!r}")
        if n_aug < 1 or eval_draws < 1:
            raise ValueError(f"n_aug and eval_draws must be >= 1, got {n_aug}, {eval_draws}")
        if source == "generator" and generator is None:
            raise ValueError("source='generator' needs a generator")
        self.model, self.n_aug, self.style = model, n_aug, style
        self.eval_policy, self.eval_seed, self.eval_draws = eval_policy, eval_seed, eval_draws
        self.source = source
        if not 0.0 <= input_dropout < 1.0:
            raise ValueError(f"input_dropout must be in [0, 1), got {input_dropout}")
        if input_dropout > 0 and style != "concat":
            raise ValueError("input_dropout is applied per block; it needs style='concat'")
        self.input_dropout = input_dropout
        if blocks and style != "concat":
            raise ValueError("blocks=True passes the concat-style blocks; it needs style='concat'")
        self.blocks = blocks
        self._drop_x = InputDropout(nn.Identity(), input_dropout)
        # Kept out of the module tree (a tuple is not registered): the generator is frozen and
        # not part of the model's parameters, state dict, parameter count or optimiser.
        self._gen = (generator,)
        if generator is not None:
            generator.eval()
            generator.requires_grad_(False)
        self._fixed_key: tuple | None = None
        self._fixed: list[Tensor] | None = None
        self._evals = 0  # evaluations so far, for eval_policy="redraw"

    @property
    def generator(self) -> nn.Module | None:
        return self._gen[0]

    def reset_parameters(self) -> None:
        if hasattr(self.model, "reset_parameters"):
            self.model.reset_parameters()
        self._fixed_key = self._fixed = None
        self._evals = 0

    def get_extra_state(self) -> dict:
        """The evaluation counter (``eval_policy="redraw"``: evaluation ``k`` draws with seed
        ``k``) travels with the state dict, so a checkpoint restores it."""
        return {"evals": int(self._evals)}

    def set_extra_state(self, state: dict) -> None:
        self._evals = int(state["evals"])

    def _draw(self, x: Tensor, gen: torch.Generator | None) -> list[Tensor]:
        if self.source == "copy":
            return [x] * self.n_aug
        g = self._gen[0]
        if g.training:
            g.eval()
        return [g.sample(x, generator=gen) for _ in range(self.n_aug)]

    def _combine(self, x: Tensor, bars: list[Tensor]) -> Tensor | tuple[Tensor, ...]:
        if self.blocks:
            return (x, *bars)
        if self.style == "concat":
            return torch.cat([x, *bars], dim=-1)  # (N, (1 + n_aug) F)
        return torch.stack([x, *bars]).mean(0)  # (N, F)

    def _seeded(self, offset: int) -> torch.Generator:
        return torch.Generator(device="cpu").manual_seed(self.eval_seed + offset)

    def augmented_input(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        """The model input for ``x``: fresh draws in training, the eval policy's draw otherwise.

        A tensor, or the tuple of blocks when ``blocks=True``.
        """
        if self.training:
            bars = self._draw(x, None)
            p = self.input_dropout
            if p > 0:
                if self.source == "copy":
                    bars = [self._drop_x(b) for b in bars]
                else:  # fresh tensors: drop in place
                    for b in bars:
                        dropout_(b, p)
                x = self._drop_x(x)
            return self._combine(x, bars)
        key = (x.data_ptr(), tuple(x.shape), x._version, x.device)
        if key != self._fixed_key:
            self._fixed = self._draw(x, self._seeded(0))
            self._fixed_key = key
        return self._combine(x, self._fixed)

    def forward(self, x: Tensor, *args, **kwargs):
        if self.training or self.eval_policy == "fixed":
            return self.model(self.augmented_input(x), *args, **kwargs)
        if self.eval_policy == "redraw":
            self._evals += 1
            bars = self._draw(x, self._seeded(self._evals))
            return self.model(self._combine(x, bars), *args, **kwargs)
        outs = [
            self.model(self._combine(x, self._draw(x, self._seeded(d))), *args, **kwargs)
            for d in range(self.eval_draws)
        ]
        return torch.stack(outs).mean(0)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.model.__class__.__name__}, n_aug={self.n_aug}, "
            f"style={self.style!r}, eval_policy={self.eval_policy!r}, source={self.source!r})"
        )
