"""The API site builds with warnings as errors and has a page for every layer, model and trainer.

Skipped only when the ``docs`` extra (mkdocs, mkdocs-material, mkdocstrings) is not installed.
The build runs in this process (torch is already imported), about 7 s on a 2-core machine.
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    out = tmp_path_factory.mktemp("site")
    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(out), strict=True)
    build(config)  # raises mkdocs.exceptions.Abort on any warning (strict)
    return out


def test_site_builds_strict_with_a_page_per_registry_entry(site):
    import graphlib_pyg.nn as nn
    from graphlib_pyg.nn.registry import MODELS
    from graphlib_pyg.train.registry import MODEL_TRAINERS, TRAINERS

    pages = {p.parent.relative_to(site).as_posix() for p in site.rglob("index.html")}
    assert {f"api/models/{m}" for m in [*MODELS, *MODEL_TRAINERS]} <= pages
    assert {f"api/trainers/{t}" for t in TRAINERS} <= pages
    assert {f"api/layers/{name}" for name in nn.__all__} <= pages
    for guide in ("quickstart", "benchmarks", "reports", "mamba", "architecture", "performance"):
        assert f"guides/{guide}" in pages


def test_pages_carry_the_docstrings_and_the_option_tables(site):
    gmn = (site / "api" / "models" / "gmn" / "index.html").read_text()
    assert "node_layers" in gmn and "model gmn" in gmn  # the graphlib options table
    layer = (site / "api" / "layers" / "GMN" / "index.html").read_text()
    assert "Graph Mamba Network" in layer and "hidden_channels" in layer  # docstring, Args
    assert ":class:" not in layer  # Sphinx roles are stripped
    perf = (site / "guides" / "performance" / "index.html").read_text()
    heading = (ROOT / "benchmarks" / "README.md").read_text().splitlines()[0].lstrip("# ")
    assert heading in perf  # benchmarks/README.md is included as it stands


def test_generated_pages_follow_the_registries(monkeypatch):
    """A new model or trainer gets its page with no edit to the docs."""
    pytest.importorskip("mkdocs")
    monkeypatch.syspath_prepend(str(ROOT / "docs"))
    sys.modules.pop("hooks", None)
    import hooks

    from graphlib_pyg.nn.registry import MODELS
    from graphlib_pyg.train.registry import TRAINERS

    monkeypatch.setitem(MODELS, "gcn_copy", MODELS["gcn"])
    monkeypatch.setitem(TRAINERS, "backprop_copy", TRAINERS["backprop"])
    pages = hooks._pages()
    assert "api/models/gcn_copy.md" in pages["Models"]
    assert "api/trainers/backprop_copy.md" in pages["Trainers"]
    assert (
        "| `lr` | `float` | `0.01` | trainer backprop |"
        in pages["Models"]["api/models/gcn_copy.md"]
    )


def test_the_guides_python_examples_are_the_readmes_tested_ones():
    """tests/test_readme.py runs the README's examples; the guides show the same code."""
    import re

    readme = (ROOT / "README.md").read_text()
    blocks = [
        (page.name, block)
        for page in sorted((ROOT / "docs").rglob("*.md"))
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    ]
    assert len(blocks) >= 5
    assert [name for name, block in blocks if block not in readme] == []
