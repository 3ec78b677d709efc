"""The README's Python example runs as written and learns."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


SETUP = "import torch\nfrom graphlib_pyg import load_task\n"


def _run_block(k: int, what: str, capsys, setup: str = "") -> str:
    """Execute the README's ``k``-th Python block (after ``setup``); return what it printed."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) > k, f"README lost its {what} example"
    scope: dict = {}
    exec(compile(setup, "setup", "exec"), scope)
    exec(compile(blocks[k], str(README), "exec"), scope)
    return capsys.readouterr().out


def test_readme_example_runs_and_learns(capsys):
    out = _run_block(0, "first", capsys)
    acc = float(re.search(r"test accuracy:\s*([0-9.]+)", out).group(1))
    assert acc > 0.6  # 4 balanced classes: chance is 0.25


def test_readme_link_example_runs_and_learns(capsys):
    out = _run_block(1, "link-prediction", capsys, SETUP)
    score = float(re.search(r"test hits@100\s*([0-9.]+)", out).group(1))
    assert score > 0.5


def test_readme_mamba_example_runs(capsys):
    out = _run_block(2, "Mamba", capsys, "import torch\n")
    assert "same as alone: True 0.0" in out


def test_readme_local_augmentation_example_learns(capsys):
    out = _run_block(3, "local augmentation", capsys, SETUP)
    assert float(re.search(r"LA test accuracy:\s*([0-9.]+)", out).group(1)) > 0.7


def test_readme_names_the_test_command_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    command = "GRAPHLIB_DATA=../shared/data python -m pytest -q"
    assert command in README.read_text() and command in ci


def test_readme_layer_local_example_learns(capsys):
    out = _run_block(4, "layer-local", capsys, SETUP)
    assert float(re.search(r" test accuracy:\s*([0-9.]+)\n", out).group(1)) > 0.7
    assert "per-layer test accuracy: [" in out
