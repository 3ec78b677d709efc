"""Typed option values: each option is checked against its default's type and a range table.

The command line and YAML grids give options as ``key=value`` pairs parsed by YAML, so ``lr=abc``
arrives as the string ``"abc"`` and ``hidden=-3`` as an int. :func:`check_options` checks such
values once, at the edge, against a schema (each valid key mapped to its default value):

- the type is the default's: ``int`` (``bool`` is not an int), ``float`` (an int is accepted
  and kept as given, so configs recorded before this check keep their :func:`config_id`),
  ``bool``, ``str``, ``list`` or ``dict``; a ``None`` default accepts any type;
- keys of :data:`RANGES` (and every key ending in ``dropout``) must be numbers in their range,
  whatever their default;
- an unknown key is refused with the nearest valid keys.

:func:`run_options` is the schema of one benchmark run: the training defaults plus the model's
options (plus ``la_*`` under ``--augment la``) for backprop, or a layer-local trainer's own
defaults; :func:`check_run_options` applies it (``graphlib_pyg.bench.harness.run_benchmark``
and the CLI call it).

Example:
    >>> check_options({"lr": 0.1}, {"lr": 0.01, "hidden": 64}, "gcn")
    {'lr': 0.1}
    >>> check_options({"hidden": -3}, {"hidden": 64}, "gcn")
    Traceback (most recent call last):
    ValueError: gcn: hidden must be an integer >= 1, got -3
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from graphlib_pyg.utils import did_you_mean

#: Exponent floats without a dot ("5e-4"), which YAML 1.1 (PyYAML) reads as strings.
_EXP_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def yaml_numbers(value: Any) -> Any:
    """``value`` (as ``yaml.safe_load`` returns it) with YAML-1.1 string exponents
    (``5e-4``) read as floats, recursively: what a user writing ``lr=5e-4`` means."""
    if isinstance(value, str) and _EXP_FLOAT.match(value.strip()):
        return float(value)
    if isinstance(value, dict):
        return {k: yaml_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [yaml_numbers(v) for v in value]
    return value


@dataclass(frozen=True)
class Range:
    """A numeric range: ``low``/``high`` bounds (``None``: unbounded), open or closed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def contains(self, v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
            return False
        if self.integer and not isinstance(v, int):
            return False
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return self.high is None or (v < self.high if self.high_open else v <= self.high)

    def __str__(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            lo, hi = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{kind} in {lo}{self.low:g}, {self.high:g}{hi}"
        if self.low is not None:
            return f"{kind} {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{kind} {'<' if self.high_open else '<='} {self.high:g}"
        return kind


POSITIVE_INT = Range(1, integer=True)
NON_NEGATIVE_INT = Range(0, integer=True)
POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
#: Dropout-like probabilities (every key ending in ``dropout``).
PROBABILITY = Range(0, 1, high_open=True)

#: Ranges by key, whatever the default (a ``None`` value is always allowed: "not set").
RANGES: dict[str, Range] = {
    **dict.fromkeys(
        "hidden epochs num_layers runs batch_size eval_batch eval_every heads out_heads "
        "pred_layers num_neg num_negs emb_dim K nproc pe_dim num_walks walk_length num_samples "
        "d_state expand num_centroids seed_batch eval_orderings bucket_size trans_num_heads "
        "test_steps aux_depth head_layers la_samples la_concat la_eval_draws la_hidden la_latent "
        "la_pretrain_batch la_mc_passes la_select_every".split(),
        POSITIVE_INT,
    ),
    **dict.fromkeys(
        "patience start lap_pe first_step la_warmup warmup_epochs plateau_patience".split(),
        NON_NEGATIVE_INT,
    ),
    **dict.fromkeys(
        "lr pred_lr la_pretrain_lr temperature la_tem clip_grad_norm".split(), POSITIVE
    ),
    **dict.fromkeys("weight_decay la_lam la_pretrain_epochs min_lr".split(), NON_NEGATIVE),
    "plateau_factor": Range(0, 1, low_open=True, high_open=True),
}


def range_of(key: str) -> Range | None:
    """The range ``key``'s values must lie in (:data:`RANGES`; ``*dropout``: [0, 1))."""
    return RANGES.get(key) or (PROBABILITY if key.endswith("dropout") else None)


def _type_of(default: Any) -> tuple[str, tuple[type, ...]] | None:
    """(name, accepted types) of a default's type; ``None``: any type."""
    if default is None:
        return None
    if isinstance(default, bool):
        return "a boolean (true or false)", (bool,)
    if isinstance(default, int):
        return "an integer", (int,)
    if isinstance(default, float):
        return "a number", (int, float)
    if isinstance(default, str):
        return "a string", (str,)
    if isinstance(default, list | tuple):
        return "a list", (list, tuple)
    if isinstance(default, dict):
        return "a mapping (key: value)", (dict,)
    return f"a {type(default).__name__}", (type(default),)


def check_options(values: dict, schema: dict, where: str) -> dict:
    """Check option ``values`` against ``schema`` (valid key -> default value).

    Args:
        values: the options given (e.g. parsed ``key=value`` pairs).
        schema: every valid key with its default; a value must have the default's type (see
            the module docstring) and lie in the key's :func:`range_of`.
        where: what the options are for, leading every error message (``"gcn/csbm"``).

    Returns:
        A new dict of the checked values, as given.

    Raises:
        TypeError: an unknown key (with the nearest valid ones), or a value of the wrong type
            (naming the key, the expected type and the value).
        ValueError: a value outside its range (naming the key, the range and the value).
    """
    if not isinstance(values, dict):
        raise TypeError(f"{where}: options must be a mapping key: value, got {values!r}")
    for key, value in values.items():
        if key not in schema:
            valid = ", ".join(sorted(map(str, schema))) if schema else "none: it takes no options"
            raise TypeError(f"{where}: unknown option {key!r}.{did_you_mean(key, schema)} "
                            f"Valid: {valid}")  # fmt: skip
        expected = _type_of(schema[key])
        bad_type = expected is not None and (
            not isinstance(value, expected[1])
            or (isinstance(value, bool) and bool not in expected[1])
        )
        if bad_type:
            raise TypeError(
                f"{where}: {key} must be {expected[0]}, got {value!r} ({type(value).__name__})"
            )
        rng = range_of(str(key))
        if rng is not None and value is not None and not rng.contains(value):
            error = ValueError if isinstance(value, int | float) else TypeError
            raise error(f"{where}: {key} must be {rng}, got {value!r}")
    return dict(values)


def run_options(model: str, trainer: str = "backprop", augment: str = "none") -> dict | None:
    """Every option a benchmark run accepts, with its default, as the trainer declares it
    (``option_defaults`` of the trainer contract); ``None`` for a name no table knows (the
    harness reports that name itself)."""
    from graphlib_pyg.nn.registry import MODELS
    from graphlib_pyg.train.registry import MODEL_TRAINERS, TRAINERS, trainer_for

    trainer = trainer_for(model, trainer)
    if trainer not in TRAINERS or (model not in MODELS and model not in MODEL_TRAINERS):
        return None
    try:
        return TRAINERS[trainer].option_defaults(model, augment)
    except KeyError:  # a model this trainer has no table for: its constructor says so
        return None


def check_run_options(
    config: dict,
    model: str,
    trainer: str = "backprop",
    augment: str = "none",
    schema: dict | None = None,
) -> dict:
    """:func:`check_options` of a run's trainer/model options against :func:`run_options`
    (``schema``: that table, where the caller already has it)."""
    if schema is None:
        schema = run_options(model, trainer, augment)
    if schema is None:
        return dict(config)
    from graphlib_pyg.train.registry import trainer_for

    extra = f", augment {augment}" if augment != "none" else ""
    where = f"options of {model} (trainer {trainer_for(model, trainer)}{extra})"
    return check_options(config, schema, where)
