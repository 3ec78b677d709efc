"""The README's Python example runs as written and learns."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs_and_learns(capsys):
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no python example"
    exec(compile(blocks[0], str(README), "exec"), {})
    out = capsys.readouterr().out
    acc = float(re.search(r"test accuracy:\s*([0-9.]+)", out).group(1))
    assert acc > 0.6  # 4 balanced classes: chance is 0.25


def test_readme_link_example_runs_and_learns(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2, "README lost its link-prediction example"
    scope: dict = {}
    exec(compile("import torch\nfrom graphlib_pyg import load_task\n", "setup", "exec"), scope)
    exec(compile(blocks[1], str(README), "exec"), scope)
    out = capsys.readouterr().out
    score = float(re.search(r"test hits@100\s*([0-9.]+)", out).group(1))
    assert score > 0.5


def test_readme_mamba_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3, "README lost its Mamba example"
    scope: dict = {}
    exec(compile("import torch\n", "setup", "exec"), scope)
    exec(compile(blocks[2], str(README), "exec"), scope)
    out = capsys.readouterr().out
    assert "same as alone: True 0.0" in out


def test_readme_local_augmentation_example_learns(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 4, "README lost its local augmentation example"
    scope: dict = {}
    exec(compile("import torch\nfrom graphlib_pyg import load_task\n", "setup", "exec"), scope)
    exec(compile(blocks[3], str(README), "exec"), scope)
    out = capsys.readouterr().out
    assert float(re.search(r"LA test accuracy:\s*([0-9.]+)", out).group(1)) > 0.7


def test_readme_names_the_test_command_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    command = "GRAPHLIB_DATA=../shared/data python -m pytest -q"
    assert command in README.read_text() and command in ci
