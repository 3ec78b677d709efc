"""MkDocs hook: the API pages, generated at build time from the library's own tables.

One page per public layer (``graphlib_pyg.nn.__all__`` and its ``conv``/``models`` exports),
per model name (:data:`graphlib_pyg.nn.registry.MODELS` and the parameter-free models of
:data:`graphlib_pyg.train.registry.MODEL_TRAINERS`) and per trainer
(:data:`graphlib_pyg.train.registry.TRAINERS`). A model page holds its one-line description,
its options with types, defaults and where each default comes from
(:func:`graphlib_pyg.bench.catalog.options_table`, the table ``graphlib options`` prints) and
the docstring of the class it builds; a new registry entry gets its page with no edit here.
Nothing is written to ``docs/``: the pages exist only in the build.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from mkdocs.structure.files import File

HEURISTIC_NAMES = ("cn", "aa", "ra")
OPTIONS_NOTE = (
    "Without `--dataset`: the trainer's, the model's and the benchmark's per-model defaults "
    "(`graphlib_pyg/bench/defaults.py`); `graphlib options MODEL --dataset NAME` adds the "
    "dataset's published settings. Any option is set with `key=value` on `graphlib bench`."
)
INDEX_NOTE = (
    "Generated from the docstrings and the registries at build time: a new layer, model or "
    "trainer appears here by itself."
)
PYG_DOCS = "https://pytorch-geometric.readthedocs.io/en/latest/generated/{}.html"
#: Library modules with a page of their own (everything public in them).
MODULE_PAGES = {
    "Tasks": "graphlib_pyg.data.tasks",
    "Augmentation (LA-GNN)": "graphlib_pyg.augment",
    "Layer-local engine": "graphlib_pyg.train.local",
    "Trainer contract": "graphlib_pyg.train.base",
    "Results store": "graphlib_pyg.bench.results",
    "Report": "graphlib_pyg.bench.report",
}


def _name(path: str) -> str:
    """``api/models/gmn.md`` -> ``gmn``."""
    return path.rsplit("/", 1)[-1].removesuffix(".md")


def _qualname(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _layers() -> dict[str, object]:
    """Public layers by name: what ``graphlib_pyg.nn`` and its conv/models packages export,
    defined in this library (re-exported helpers such as ``seed_everything`` are left out)."""
    import graphlib_pyg.nn as nn
    import graphlib_pyg.nn.conv as conv
    import graphlib_pyg.nn.models as models

    out = {}
    for pkg in (nn, conv, models):
        for name in pkg.__all__:
            obj = getattr(pkg, name)
            if getattr(obj, "__module__", "").startswith("graphlib_pyg.nn"):
                out[name] = obj
    return dict(sorted(out.items(), key=lambda kv: kv[0].lower()))


def _built_class(name: str):
    """The class a registry model builds (a tiny instance tells), or ``None``."""
    from graphlib_pyg.nn.registry import MODELS, build_link_model, build_model

    try:
        if MODELS[name].link:
            return type(build_link_model(name, 8, 8, num_nodes=10)[1])
        return type(build_model(name, 8, 8, 2))
    except Exception:  # a model that needs more than a tiny build: no class section
        return None


def _table(rows: list[tuple], head: tuple[str, ...]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = (c if c.startswith("`") else c.replace("|", "\\|") for c in map(str, row))
        lines.append("| " + " | ".join(cells) + " |")  # a code span may hold a | as it is
    return "\n".join(lines)


def _options(model: str, trainer: str = "backprop") -> str:
    from graphlib_pyg.bench.catalog import option_sources, options_table

    table = options_table(model, trainer)
    table.sort(key=lambda row: not row[3].startswith("model"))  # the model's own first
    rows = [(f"`{k}`", f"`{t}`", f"`{v!r}`", w) for k, t, v, w in table]
    sources = option_sources(model, trainer)
    written = [f"- {w}: `{sources[w]}`" for w in dict.fromkeys(row[3] for row in table)]
    return "\n".join([_table(rows, ("option", "type", "default", "from")), "",
                      "Where each source is written (next to the paper or code it comes from):",
                      "", *written])  # fmt: skip


#: Models with a trainer and a task family of their own (relational reasoning): their dataset.
OWN_TASK = {"rrn": "sudoku", "ggnn": "sudoku", "epignn": "rcc8"}


def _model_page(name: str) -> str:
    from graphlib_pyg.nn.registry import MODELS
    from graphlib_pyg.train.registry import MODEL_TRAINERS

    if name in OWN_TASK:
        doc, cls = f"Trained by the `{MODEL_TRAINERS[name]}` trainer on its own task family.", None
    elif name in MODEL_TRAINERS:
        doc, cls = f"No parameters: run by the `{MODEL_TRAINERS[name]}` trainer.", None
    else:
        doc, cls = MODELS[name].doc + ".", _built_class(name)
    dataset = "ogbl-ddi" if name in ("ncn", "ncnc", *HEURISTIC_NAMES) else "cora"
    dataset = OWN_TASK.get(name, dataset)
    if name in MODELS and MODELS[name].edge_attr is not None:  # reads bond features
        dataset = "peptides-func"
    text = [f"# `{name}`", "", doc, "", "```bash"]
    text += [f"graphlib bench --model {name} --dataset {dataset}"]
    text += [f"graphlib options {name} --dataset {dataset}  # the values that run uses", "```"]
    text += ["", "## Options", "", OPTIONS_NOTE, "", _options(name), ""]
    layer = next((n for n, obj in _layers().items() if obj is cls), None)
    if layer is not None:  # documented once, on its layer page
        text += ["## Class", "", f"[`{layer}`](../layers/{layer}.md) (`{_qualname(cls)}`)."]
    elif cls is not None and cls.__module__.startswith("graphlib_pyg"):
        text += ["## Class", "", f"::: {_qualname(_static(cls))}"]
        text += ["    options:", "      heading_level: 3"]
    elif cls is not None:
        url = PYG_DOCS.format(f"{cls.__module__.rsplit('.', 1)[0]}.{cls.__name__}")
        text += ["## Class", "", f"PyG's [`{cls.__name__}`]({url}) (`{_qualname(cls)}`)."]
    return "\n".join(text) + "\n"


def _trainer_page(name: str, cls) -> str:
    from graphlib_pyg.train.registry import MODEL_TRAINERS

    model = next((m for m, t in sorted(MODEL_TRAINERS.items()) if t == name), "gcn")
    text = [f"# `{name}` trainer", "", f"`graphlib bench --trainer {name} --model {model} ...`"]
    try:
        text += ["", f"## Options (with `--model {model}`)", "", _options(model, name)]
    except Exception:  # a trainer whose options need a particular task: its class says
        pass
    static = _static(cls)
    if static is not cls:  # made at run time (type(...)): its docstring, then its base's page
        text += ["", inspect.getdoc(cls) or "", "", f"A `{_qualname(static)}` made at import time."]
    text += ["", "## Class", "", f"::: {_qualname(static)}"]
    text += ["    options:", "      heading_level: 3"]
    return "\n".join(text) + "\n"


def _static(cls):
    """``cls``, or for a class made at run time (which the docs' static reader cannot see) the
    first class of its MRO written in a source file; functions as they are."""
    for klass in getattr(cls, "__mro__", (cls,)):
        try:
            inspect.getsource(klass)
            return klass
        except (OSError, TypeError):
            continue
    return cls


def _pages() -> dict[str, dict[str, str]]:
    """``{section: {path: markdown}}`` of every generated page."""
    from graphlib_pyg.nn.registry import MODELS
    from graphlib_pyg.train.registry import MODEL_TRAINERS, TRAINERS

    layers = {
        f"api/layers/{name}.md": f"# `{name}`\n\n::: {_qualname(_static(obj))}\n"
        f"    options:\n      show_root_heading: false\n"
        for name, obj in _layers().items()
    }
    models = {f"api/models/{n}.md": _model_page(n) for n in sorted({*MODELS, *MODEL_TRAINERS})}
    trainers = {f"api/trainers/{n}.md": _trainer_page(n, c) for n, c in sorted(TRAINERS.items())}
    modules = {
        f"api/modules/{mod.rsplit('.', 1)[-1]}.md": f"# {title}\n\n::: {mod}\n"
        for title, mod in MODULE_PAGES.items()
    }
    return {"Layers": layers, "Models": models, "Trainers": trainers, "Modules": modules}


def _index(pages: dict[str, dict[str, str]]) -> str:
    from graphlib_pyg.nn.registry import MODELS
    from graphlib_pyg.train.registry import TRAINERS

    def link(path: str) -> str:
        return f"[`{_name(path)}`]({path.removeprefix('api/')})"

    def first_line(obj) -> str:
        return (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")

    layers, models = _layers(), pages["Models"]
    text = ["# API reference", "", INDEX_NOTE, "", "## Models", ""]
    rows = [(link(p), getattr(MODELS.get(_name(p)), "doc", "no parameters")) for p in models]
    text.append(_table(rows, ("model", "what it is")))
    text += ["", "## Trainers", ""]
    rows = [(link(p), first_line(TRAINERS[_name(p)])) for p in pages["Trainers"]]
    text += [_table(rows, ("trainer", "what it does")), "", "## Layers", ""]
    rows = [(link(p), first_line(layers[_name(p)])) for p in pages["Layers"]]
    text += [_table(rows, ("layer", "what it is")), "", "## Modules", ""]
    modules = zip(MODULE_PAGES, pages["Modules"], strict=True)
    text += [f"- [{title}]({p.removeprefix('api/')})" for title, p in modules]
    return "\n".join(text) + "\n"


_PAGES: dict[str, dict[str, str]] = {}
#: Sphinx roles in docstrings (``:class:`X```), which Markdown leaves as text before the code.
_RELATIVE_LINK = re.compile(r"!?\[([^\]]+)\]\((?![a-z]+:|#|/)([^)\s]+)\)")
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj|exc|math):(?=<code>)")


def on_config(config):
    """Append the generated pages to the navigation, under "API"."""
    _PAGES.clear()
    _PAGES.update(_pages())
    api = [{"Overview": "api/index.md"}]
    for section, pages in _PAGES.items():
        api.append({section: [{_name(p): p} for p in pages]})
    config["nav"] = [*(config["nav"] or []), {"API": api}]
    return config


def on_files(files, config):
    """Add the generated pages to the build (they never exist in ``docs/``)."""
    contents = {"api/index.md": _index(_PAGES)}
    for pages in _PAGES.values():
        contents.update(pages)
    for path, content in contents.items():
        files.append(File.generated(config, path, content=content))
    return files


def on_page_markdown(markdown, page, config, files):
    """Fill the performance page with ``benchmarks/README.md`` as it stands; its relative links
    (right on the repository's own page, broken here) become paths."""
    marker = "<!-- benchmarks/README.md -->"
    if marker not in markdown:
        return markdown
    text = (Path(config.config_file_path).parent / "benchmarks" / "README.md").read_text()
    text = _RELATIVE_LINK.sub(lambda m: f"{m[1]} (`benchmarks/{m[2]}`)", text)
    return markdown.replace(marker, text)


def on_page_content(html, page, config, files):
    """Drop the Sphinx role prefixes the docstrings carry (``:class:`X``` shows as ``X``)."""
    return _ROLE.sub("", html)
