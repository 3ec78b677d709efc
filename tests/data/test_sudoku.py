"""Sudoku: generator uniqueness (checked by an independent solver), the graph, the parser."""

import random

import pytest
import torch

from graphlib_pyg.data.sudoku import (
    count_solutions,
    generate_puzzle,
    load_sudoku,
    parse_puzzles,
    sudoku_edge_index,
)
from graphlib_pyg.data.tasks import load_task


def _peers(i: int, j: int) -> bool:
    r1, c1, r2, c2 = i // 9, i % 9, j // 9, j % 9
    return i != j and (r1 == r2 or c1 == c2 or (r1 // 3 == r2 // 3 and c1 // 3 == c2 // 3))


def _all_solutions(grid: list[int], limit: int = 2) -> list[list[int]]:
    """An independent plain solver: first blank, digits 1..9 in order, peer check by scan."""
    grid = list(grid)
    out: list[list[int]] = []

    def ok(i: int, d: int) -> bool:
        return all(grid[j] != d for j in range(81) if _peers(i, j))

    def search() -> None:
        if len(out) >= limit:
            return
        if 0 not in grid:
            out.append(list(grid))
            return
        i = grid.index(0)
        for d in range(1, 10):
            if ok(i, d):
                grid[i] = d
                search()
                grid[i] = 0

    search()
    return out


def _valid_full(grid: list[int]) -> bool:
    return 0 not in grid and all(
        grid[i] != grid[j] for i in range(81) for j in range(81) if _peers(i, j)
    )


@pytest.mark.parametrize("givens", [40, 30])
def test_every_generated_puzzle_has_exactly_one_solution(givens):
    rng = random.Random(givens)
    for _ in range(3):
        puzzle, solution = generate_puzzle(givens, rng)
        assert sum(d > 0 for d in puzzle) == givens
        assert all(p in (0, s) for p, s in zip(puzzle, solution, strict=True))
        assert _valid_full(solution)
        assert _all_solutions(puzzle) == [solution]  # unique, and it is the recorded one


def test_the_generator_goes_as_low_as_it_can_and_is_seeded():
    puzzle, _ = generate_puzzle(17, random.Random(0))
    assert 17 <= sum(d > 0 for d in puzzle) < 30 and count_solutions(puzzle) == 1
    a = load_sudoku(3, 2, 2, givens=35, seed=5)
    b = load_sudoku(3, 2, 2, givens=35, seed=5)
    assert torch.equal(a.puzzles, b.puzzles) and not torch.equal(
        a.puzzles, load_sudoku(3, 2, 2, givens=35, seed=6).puzzles
    )
    with pytest.raises(ValueError, match="givens must be in"):
        generate_puzzle(16, random.Random(0))


def test_the_counter_stops_at_the_limit_and_sees_contradictions():
    assert count_solutions([0] * 81) == 2
    bad = [0] * 81
    bad[0] = bad[1] = 5  # two fives in the first row
    assert count_solutions(bad) == 0


def test_the_graph_links_each_cell_to_its_20_peers():
    ei = sudoku_edge_index()
    assert ei.shape == (2, 1620)
    assert torch.equal(torch.bincount(ei[1], minlength=81), torch.full((81,), 20))
    assert torch.equal(torch.bincount(ei[0], minlength=81), torch.full((81,), 20))
    edges = set(map(tuple, ei.t().tolist()))
    assert len(edges) == 1620 and all(_peers(i, j) for j, i in edges)


def test_parser_reads_the_common_format_and_names_the_line_of_an_error(tmp_path):
    task = load_sudoku(1, 1, 1, givens=40, seed=0)
    p, s = task.puzzles[0].tolist(), task.solutions[0].tolist()
    dotted = "".join(str(d) if d else "." for d in p)
    text = f"# comment\n\n{dotted}\n{''.join(map(str, p))},{''.join(map(str, s))}\n"
    assert parse_puzzles(text) == [(p, None), (p, s)]
    with pytest.raises(ValueError, match="f.txt, line 1: puzzle has 80 characters"):
        parse_puzzles(dotted[:-1], "f.txt")
    with pytest.raises(ValueError, match=r"line 2: puzzle has invalid character\(s\) \['x'\]"):
        parse_puzzles("\n" + "x" + dotted[1:])
    wrong = list(s)
    i = next(k for k in range(81) if p[k])
    wrong[i] = wrong[i] % 9 + 1
    with pytest.raises(ValueError, match="line 1: the solution disagrees"):
        parse_puzzles(f"{dotted},{''.join(map(str, wrong))}")
    path = tmp_path / "puzzles.txt"
    path.write_text(text + dotted + "\n")
    loaded = load_task("sudoku", num_train=1, num_val=1, num_test=1, path=str(path))
    assert torch.equal(loaded.solutions, torch.tensor([s, s, s]))
    with pytest.raises(ValueError, match="3 puzzles, fewer than the 4"):
        load_sudoku(2, 1, 1, path=path)
    path.write_text(("0" * 81 + "\n") * 3)
    with pytest.raises(ValueError, match="puzzle 1 has 2 solutions, not one"):
        load_sudoku(1, 1, 1, path=path)


def test_task_batches_and_metrics():
    task = load_sudoku(4, 2, 2, givens=35, seed=1)
    split = task.split(0)
    assert [len(split.train), len(split.val), len(split.test)] == [4, 2, 2]
    x, ei, y = task.batch(split.val)
    assert x.shape == (162, 3) and ei.shape == (2, 3240) and int(y.min()) >= 0 and int(y.max()) <= 8
    assert torch.equal(x[81:, 0], task.puzzles[split.val[1]])
    assert task.evaluate(task.solutions[split.val], split.val) == {"solved": 1.0, "cells": 1.0}
    logits = torch.nn.functional.one_hot(y, 9).view(2, 81, 9).float()
    logits[0, 0] = logits[0, 0].roll(1)
    assert task.evaluate(logits, split.val) == pytest.approx({"solved": 0.5, "cells": 161 / 162})
