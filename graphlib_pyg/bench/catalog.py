"""What the tool offers, read from its own tables: ``graphlib models``, ``trainers``, ``options``.

Every line comes from the registries and the trainers' declared options
(:meth:`option_defaults` of the trainer contract, :data:`graphlib_pyg.bench.defaults`), never
from a second hand-written list.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

from graphlib_pyg.bench.defaults import DATASET_DEFAULTS, MODEL_DEFAULTS, PAIR_DEFAULTS
from graphlib_pyg.nn.registry import MODELS
from graphlib_pyg.train.options import TrainOptions
from graphlib_pyg.train.registry import MODEL_TRAINERS, TRAINERS, trainer_for
from graphlib_pyg.utils import resolve


def models_text() -> str:
    """One line per model: name, the graph input it reads, what it is."""
    width = max(map(len, MODELS)) + 2
    lines = [f"{name:<{width}}{spec.doc}" for name, spec in sorted(MODELS.items())]
    lines += [  # models with a trainer of their own (parameter-free ones, RRN)
        f"{name:<{width}}run by trainer {trainer!r}: {_first_line(TRAINERS[trainer])}"
        for name, trainer in sorted(MODEL_TRAINERS.items())
    ]
    return "\n".join(lines)


def _first_line(obj: Any) -> str:
    """The docstring's first line as plain text (``:class:`X``` and ````x```` read ``X``, ``x``)."""
    doc = inspect.getdoc(obj) or ""
    line = doc.splitlines()[0].rstrip(".") if doc else ""
    return re.sub(r"(?::\w+:)?`+(~[\w.]*\.)?([^`]+)`+", r"\2", line)  # ~a.b.C reads C


def trainers_text() -> str:
    """One line per trainer: name and the first line of its docstring."""
    width = max(map(len, TRAINERS)) + 2
    return "\n".join(f"{n:<{width}}{_first_line(c)}" for n, c in sorted(TRAINERS.items()))


def _type_name(key: str, value: Any) -> str:
    """The declared type of a training option, else the type of its default."""
    declared = TrainOptions.__dataclass_fields__.get(key)
    if declared is not None:
        return str(declared.type)
    return "any" if value is None else type(value).__name__


def options_table(
    model: str, trainer: str = "backprop", augment: str = "none", dataset: str | None = None
) -> list[tuple[str, str, Any, str]]:
    """``(option, type, value, where the value comes from)`` for a run of ``model``.

    The value is the trainer's default, replaced (with ``dataset`` given and a trainer that
    takes the benchmark defaults) by the per-model, per-dataset and per-pair published settings
    of :mod:`graphlib_pyg.bench.defaults`.
    """
    if model not in MODEL_TRAINERS:
        resolve(model, MODELS, "model")
    name = trainer_for(model, trainer)
    cls = resolve(name, TRAINERS, "trainer")
    defaults = cls.option_defaults(model, augment)
    spec = MODELS.get(model)
    rows = {}
    for key, value in defaults.items():
        where = f"model {model}" if spec is not None and key in spec.options else f"trainer {name}"
        if key.startswith("la_"):
            where = "augment la"
        rows[key] = [key, _type_name(key, value), value, where]
    if not cls.own_defaults:
        layers = [(MODEL_DEFAULTS.get(model, {}), f"bench default for {model}")]
        if dataset is not None:
            layers += [
                (DATASET_DEFAULTS.get(dataset, {}), f"bench default for {dataset}"),
                (PAIR_DEFAULTS.get((dataset, model), {}), f"bench default for {dataset}/{model}"),
            ]
        for layer, where in layers:
            for key, value in layer.items():
                if key in rows:
                    rows[key][2:] = [value, where]
    return [tuple(r) for r in rows.values()]


def _file(obj: Any) -> str:
    """The source file of ``obj``, relative to the repository (``graphlib_pyg/...``)."""
    path = Path(inspect.getsourcefile(obj)).resolve()
    return path.relative_to(Path(__file__).resolve().parents[2]).as_posix()


def option_sources(model: str, trainer: str = "backprop") -> dict[str, str]:
    """Where each ``from`` of :func:`options_table` is written: a file (and the table in it),
    where the default sits next to the paper or code it comes from; for the benchmark defaults
    also their source (``paper: ...``, ``reference code: ...`` or ``ours``)."""
    import graphlib_pyg.augment.la as la
    import graphlib_pyg.bench.defaults as defaults
    import graphlib_pyg.train.options as train_options

    name = trainer_for(model, trainer)
    cls = resolve(name, TRAINERS, "trainer")
    bench = _file(defaults)
    out = {
        f"trainer {name}": f"{_file(train_options)} (TrainOptions); ours"
        if name == "backprop"
        else _file(cls),
        "augment la": f"{_file(la)} (LA_OPTIONS)",
        f"bench default for {model}": f"{bench} (MODEL_DEFAULTS)",
    }
    if model in MODELS:
        out[f"model {model}"] = (
            f"{_file(MODELS[model].build)} (options of ModelSpec {model!r}); the layer's "
            "defaults, its paper in its docstring"
        )
    if model in defaults.MODEL_SOURCES:
        out[f"bench default for {model}"] += f"; {defaults.MODEL_SOURCES[model]}"
    for dataset in DATASET_DEFAULTS:
        source = defaults.DATASET_SOURCES.get(dataset, "ours")
        out[f"bench default for {dataset}"] = f"{bench} (DATASET_DEFAULTS); {source}"
    for dataset, m in PAIR_DEFAULTS:
        source = defaults.pair_source(dataset, m)
        out[f"bench default for {dataset}/{m}"] = f"{bench} (PAIR_DEFAULTS); {source}"
    return out


def options_text(
    model: str, trainer: str = "backprop", augment: str = "none", dataset: str | None = None
) -> str:
    """The table of :func:`options_table`, then where each source is written."""
    rows = options_table(model, trainer, augment, dataset)
    if not rows:
        return f"{model} takes no options (trainer {trainer_for(model, trainer)})"
    head = ("option", "type", "value", "from")
    cells = [head] + [(k, t, repr(v), w) for k, t, v, w in rows]
    widths = [max(len(str(c[i])) for c in cells) for i in range(3)]
    lines = ["  ".join(str(c[i]).ljust(widths[i]) for i in range(3)) + "  " + c[3] for c in cells]
    sources = option_sources(model, trainer)
    used = list(dict.fromkeys(w for *_, w in rows))
    width = max(map(len, used))
    lines += ["", "written in:"] + [f"  {w:<{width}}  {sources[w]}" for w in used]
    return "\n".join(lines)
