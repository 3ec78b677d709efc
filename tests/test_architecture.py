"""The package's layers depend downward only, without import cycles, in files of one concept.

Every import between ``graphlib_pyg`` modules is read from the source (module-level and the
lazy ones inside functions alike), so a violation fails here even when it is never executed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "graphlib_pyg"
#: Layer of each top-level part, lowest first: a module may import its own part and lower layers.
LAYERS = {
    "typing": 0,
    "utils": 0,
    "data": 1,
    "distributed": 1,
    "nn": 2,
    "augment": 3,
    "train": 4,
    "bench": 5,
    "cli": 6,
    "__init__": 6,
}
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The ``graphlib_pyg`` modules ``path`` imports. ``from a.b import c`` imports ``a.b``
    (running its ``__init__`` when it is a package) and also ``a.b.c`` when that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            names += [f"{node.module}.{a.name}" for a in node.names]
            names = [n for n in names if n in modules or n == node.module]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] == "graphlib_pyg"}
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_layers_import_downward_only():
    modules = _modules()
    bad = []
    for name, path in modules.items():
        if name.count(".") == 1 and path.name == "__init__.py":
            continue  # a part's own __init__ re-exports its modules
        mine = _part(name)
        for target in _imports(path, modules):
            theirs = _part(target)
            if theirs != mine and LAYERS[theirs] >= LAYERS[mine]:
                bad.append(f"{name} ({mine}) imports {target} ({theirs})")
    assert not bad, "imports that point up or sideways:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    """Packages count as modules: ``from graphlib_pyg.data import x`` inside ``data/`` runs
    ``data/__init__.py``, which imports the package's modules back."""
    modules = _modules()
    graph = {
        name: {t for t in _imports(path, modules) if t in modules and t != name}
        for name, path in modules.items()
    }
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [node, nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checks_catch_an_upward_import(tmp_path):
    """The direction rule itself: a data module importing from train is reported."""
    fake = tmp_path / "graphlib_pyg"
    (fake / "data").mkdir(parents=True)
    (fake / "train").mkdir()
    (fake / "data" / "x.py").write_text("from graphlib_pyg.train.y import Z\n")
    (fake / "train" / "y.py").write_text("Z = 1\n")
    globals()["ROOT"] = fake
    try:
        with pytest.raises(AssertionError, match="graphlib_pyg.data.x"):
            test_layers_import_downward_only()
    finally:
        globals()["ROOT"] = Path(__file__).resolve().parents[1] / "graphlib_pyg"


def test_files_hold_one_concept():
    long = {
        str(p.relative_to(ROOT.parent)): n
        for p in ROOT.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines: {long}"
