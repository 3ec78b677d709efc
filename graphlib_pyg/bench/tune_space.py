"""The search space of ``graphlib tune``: parsed once, checked against the run's typed options
before any trial runs, then sampled through an Optuna trial.

One key, one form; the same forms in a YAML file (``--space``) and on the command line::

    lr=log(1e-4..1e-1)     a range on a log scale (low > 0)
    dropout=0.2..0.8       a range: integers when the option is an integer (hidden=32..256)
    hidden=[64,128,256]    a choice among values
    epochs=100             a fixed value, not searched (any option of the run)

In YAML a key maps to such a string, to a list (a choice), to ``{low: .., high: .., log: true}``
or to a plain value (fixed). Every bound and choice is checked like a ``key=value`` option of
``graphlib bench`` (:func:`graphlib_pyg.bench.options.check_options`: unknown key with the
nearest valid ones, the default's type, the key's range), plus low <= high and low > 0 on a
log scale.

Example:
    >>> space, fixed = parse_space(["lr=log(1e-3..1e-1)", "hidden=[16,32]", "epochs=50"])
    >>> space["lr"], fixed
    (Interval(low=0.001, high=0.1, log=True, integer=False), {'epochs': 50})
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from graphlib_pyg.bench.options import check_options, range_of, run_options, yaml_numbers

_LOG = re.compile(r"^log\((.*)\)$")


@dataclass(frozen=True)
class Interval:
    """A numeric range ``low..high``, sampled uniformly or on a log scale."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __str__(self) -> str:
        text = f"{self.low!r}..{self.high!r}"
        return f"log({text})" if self.log else text


@dataclass(frozen=True)
class Choice:
    """One of a list of values."""

    values: tuple

    def __str__(self) -> str:
        return "[" + ", ".join(map(repr, self.values)) + "]"


def _value(text: str, key: str):
    """One YAML scalar or list, with ``5e-4`` read as a float."""
    try:
        return yaml_numbers(yaml.safe_load(text))
    except yaml.YAMLError as err:
        raise ValueError(f"{key}: cannot parse {text!r} ({getattr(err, 'problem', err)})") from None


def _bound(text, key: str, spec: str) -> float:
    value = _value(text, key) if isinstance(text, str) else text
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key}: the bounds of a range must be numbers, got {spec!r}")
    return value


def parse_dimension(key: str, spec):
    """A YAML value or a command-line string -> :class:`Interval`, :class:`Choice` or a fixed
    value (anything else)."""
    if isinstance(spec, dict):
        extra = set(spec) - {"low", "high", "log"}
        if extra or not {"low", "high"} <= set(spec):
            raise ValueError(f"{key}: a range mapping takes low, high and log, got {sorted(spec)}")
        low, high = _bound(spec["low"], key, spec), _bound(spec["high"], key, spec)
        if not isinstance(spec.get("log", False), bool):
            raise TypeError(f"{key}: log must be true or false, got {spec['log']!r}")
        return Interval(low, high, spec.get("log", False))
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"{key}: an empty choice []")
        return Choice(tuple(spec))
    if not isinstance(spec, str):
        return spec
    text = spec.strip()
    match = _LOG.match(text)
    if match or (".." in text and not text.startswith(("[", "'", '"'))):
        inner = match.group(1) if match else text
        low, sep, high = inner.partition("..")
        if not sep or not low.strip() or not high.strip():
            raise ValueError(f"{key}: expected low..high or log(low..high), got {spec!r}")
        return Interval(_bound(low, key, spec), _bound(high, key, spec), bool(match))
    value = _value(text, key) if text else None
    return Choice(tuple(value)) if isinstance(value, list) and value else value


def parse_space(pairs: list[str], path: str | None = None) -> tuple[dict, dict]:
    """``key=spec`` strings (and a YAML file) -> (searched dimensions, fixed options).

    Command-line pairs override the file's keys.
    """
    specs = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"--space file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            at = f", line {mark.line + 1}" if mark else ""
            raise ValueError(
                f"cannot parse --space {p}{at}: {getattr(err, 'problem', err)}"
            ) from None
        if not isinstance(loaded, dict | None):
            raise ValueError(
                f"--space {p} must map option names to ranges, not a {type(loaded).__name__}"
            )
        specs.update(loaded or {})
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(
                f"expected key=low..high, key=log(low..high), key=[a,b] or key=value, got {pair!r}"
            )
        specs[key] = value
    space, fixed = {}, {}
    for key, spec in specs.items():
        dim = parse_dimension(str(key), spec)
        if isinstance(dim, Interval | Choice):
            space[str(key)] = dim
        else:
            fixed[str(key)] = dim
    return space, fixed


def check_space(space: dict, model: str, trainer: str = "backprop", augment: str = "none") -> dict:
    """Check every dimension against the run's typed options (:func:`run_options`); returns the
    space with each :class:`Interval` marked integer where the option is an integer.

    Raises:
        TypeError: an unknown key (with did-you-mean), a bound or choice of the wrong type, a
            range over a non-numeric option.
        ValueError: a bound or choice out of the option's range, low > high, a log range with
            low <= 0.
    """
    schema = run_options(model, trainer, augment) or {}
    where = f"search space of {model} (trainer {trainer})"
    checked = {}
    for key, dim in space.items():
        if key not in schema:
            check_options({key: None}, schema, where)  # unknown key: did-you-mean, valid keys
        default = schema[key]
        rng = range_of(key)
        if isinstance(dim, Choice):
            for value in dim.values:
                if value is not None and not isinstance(value, bool | int | float | str):
                    raise TypeError(
                        f"{where}: {key} choices must be numbers, strings, booleans "
                        f"or null, got {value!r}"
                    )
                check_options({key: value}, schema, where)
            checked[key] = dim
            continue
        numeric = default is None and rng is not None
        if not numeric and (isinstance(default, bool) or not isinstance(default, int | float)):
            kind = "unset" if default is None else type(default).__name__
            raise TypeError(
                f"{where}: {key} is not a number (default {default!r}, {kind}): "
                f"a range needs a numeric option; give choices, e.g. {key}=[a,b]"
            )
        if dim.low > dim.high:
            raise ValueError(f"{where}: {key} range {dim} has low > high")
        if dim.log and dim.low <= 0:
            raise ValueError(f"{where}: {key} log range {dim} needs low > 0")
        integer = (isinstance(default, int) and not isinstance(default, bool)) or bool(
            rng and rng.integer
        )
        for bound in (dim.low, dim.high):
            check_options({key: bound}, schema, where)  # type (integer option: int bounds), range
        low, high = (dim.low, dim.high) if integer else (float(dim.low), float(dim.high))
        checked[key] = Interval(low, high, dim.log, integer)
    return checked


def suggest(trial, space: dict) -> dict:
    """One configuration of ``space`` from an Optuna ``trial`` (its ``suggest_*`` methods)."""
    params = {}
    for key, dim in space.items():
        if isinstance(dim, Choice):
            params[key] = trial.suggest_categorical(key, list(dim.values))
        elif dim.integer:
            params[key] = trial.suggest_int(key, dim.low, dim.high, log=dim.log)
        else:
            params[key] = trial.suggest_float(key, dim.low, dim.high, log=dim.log)
    return params


def grid(space: dict) -> dict[str, list]:
    """The grid of ``space`` for Optuna's ``GridSampler``: choices only."""
    ranges = [key for key, dim in space.items() if not isinstance(dim, Choice)]
    if ranges:
        raise ValueError(
            f"--sampler grid searches choices only: give {ranges[0]} as a list "
            f"{ranges[0]}=[a,b,c], not a range"
        )
    return {key: list(dim.values) for key, dim in space.items()}


def describe(space: dict) -> dict[str, str]:
    """The space as ``key -> spec`` strings (what a study records to recognise its setup)."""
    return {key: str(dim) for key, dim in sorted(space.items())}
