"""Sudoku as a graph task (Recurrent Relational Networks, Palm et al. 2018).

A puzzle is a graph of 81 cells, each connected to its 20 peers (the other cells of its row,
column and 3x3 box): 1,620 directed edges, the same for every puzzle. A node's input is its
given digit (0 for a blank) with its row and column; its target is the solution's digit.

- :func:`generate_puzzle`: a seeded generator. A full valid grid by randomised backtracking,
  then cells are removed in random order while the puzzle keeps exactly one solution, down to
  the requested number of givens or as low as one pass of removals reaches.
- :func:`count_solutions`: a backtracking solver (fewest candidates first, bitmasks) that
  stops counting at ``limit`` (2: "is the solution unique?").
- :func:`parse_puzzles`: the common text format, one 81-character puzzle per line (digits,
  ``0`` or ``.`` for blanks), optionally followed by ``,`` and the 81-digit solution (the
  RRN paper's CSV); errors name the line and the problem.
- :func:`load_sudoku`: a :class:`SudokuTask` with fixed train/val/test puzzles, generated
  (``givens``, ``seed``) or read from a file (``path``). Metrics: the fraction of puzzles
  fully solved (``solved``, the task's metric) and per-cell accuracy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

ROW = [i // 9 for i in range(81)]
COL = [i % 9 for i in range(81)]
BOX = [(i // 27) * 3 + (i % 9) // 3 for i in range(81)]
#: The 20 peers of each cell: same row, column or box, the cell itself excluded.
PEERS = [
    sorted(
        j
        for j in range(81)
        if j != i and (ROW[i] == ROW[j] or COL[i] == COL[j] or BOX[i] == BOX[j])
    )
    for i in range(81)
]
_ALL = 0b1111111110  # bits 1..9: the digits


def _search(grid: list[int], limit: int, rng: random.Random | None = None):
    """Backtracking over the blanks of ``grid`` (fewest candidates first): returns the number
    of solutions found (at most ``limit``) and the first solution (or ``None``). With ``rng``
    the candidates are tried in random order (used to draw a random full grid)."""
    g = list(grid)
    rows, cols, boxes = [0] * 9, [0] * 9, [0] * 9
    for i, d in enumerate(g):
        if d:
            bit = 1 << d
            if (rows[ROW[i]] | cols[COL[i]] | boxes[BOX[i]]) & bit:
                return 0, None  # a digit repeated among peers: no solution
            rows[ROW[i]] |= bit
            cols[COL[i]] |= bit
            boxes[BOX[i]] |= bit
    blanks = [i for i in range(81) if not g[i]]
    found: list = [0, None]

    def place(i: int, d: int, on: bool) -> None:
        bit = 1 << d
        g[i] = d if on else 0
        rows[ROW[i]] ^= bit
        cols[COL[i]] ^= bit
        boxes[BOX[i]] ^= bit

    def recurse() -> None:
        best, best_mask, best_n = -1, 0, 10
        for i in blanks:
            if g[i]:
                continue
            mask = _ALL & ~(rows[ROW[i]] | cols[COL[i]] | boxes[BOX[i]])
            n = mask.bit_count()
            if n < best_n:
                best, best_mask, best_n = i, mask, n
                if n <= 1:
                    break
        if best < 0:  # no blank left: a solution
            found[0] += 1
            if found[1] is None:
                found[1] = list(g)
            return
        digits = [d for d in range(1, 10) if best_mask >> d & 1]
        if rng is not None:
            rng.shuffle(digits)
        for d in digits:
            place(best, d, True)
            recurse()
            place(best, d, False)
            if found[0] >= limit:
                return

    recurse()
    return found[0], found[1]


def count_solutions(grid: list[int], limit: int = 2) -> int:
    """Number of solutions of ``grid`` (81 ints, 0 = blank), counting stops at ``limit``."""
    return _search(grid, limit)[0]


def solve(grid: list[int]) -> list[int] | None:
    """One solution of ``grid``, or ``None`` when it has none."""
    return _search(grid, 1)[1]


def generate_puzzle(givens: int, rng: random.Random) -> tuple[list[int], list[int]]:
    """A puzzle with exactly one solution and ``givens`` givens (or as few as one pass of
    removals reaches, when no further cell can go without a second solution).

    Returns:
        ``(puzzle, solution)``: 81 ints each, 0 for a blank in the puzzle.
    """
    if not 17 <= givens <= 81:
        raise ValueError(f"givens must be in [17, 81] (no 16-given Sudoku exists), got {givens}")
    solution = _search([0] * 81, 1, rng)[1]
    puzzle, left = list(solution), 81
    cells = list(range(81))
    rng.shuffle(cells)
    for i in cells:
        if left <= givens:
            break
        puzzle[i] = 0
        if count_solutions(puzzle) == 1:
            left -= 1
        else:
            puzzle[i] = solution[i]
    return puzzle, solution


def parse_puzzles(text: str, source: str = "<text>") -> list[tuple[list[int], list[int] | None]]:
    """Puzzles in the 81-character format, one per line; blank lines and ``#`` comments are
    skipped. A line may end in ``,`` and its 81-digit solution (the RRN CSV); a header line
    starting with ``quizzes`` or ``puzzle`` is skipped.

    Returns:
        ``(puzzle, solution or None)`` per puzzle, 81 ints each (0 = blank).

    Raises:
        ValueError: naming ``source``, the line number and what is wrong.
    """
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#") or line.lower().startswith(("quizzes", "puzzle")):
            continue
        fields = line.split(",")
        if len(fields) > 2:
            raise ValueError(f"{source}, line {n}: expected 'puzzle' or 'puzzle,solution'")
        grids = []
        for what, field in zip(("puzzle", "solution"), fields, strict=False):
            field = field.strip()
            if len(field) != 81:
                raise ValueError(f"{source}, line {n}: {what} has {len(field)} characters, not 81")
            bad = sorted({ch for ch in field if ch not in "0123456789."})
            if bad or (what == "solution" and ("0" in field or "." in field)):
                bad = bad or ["0" if "0" in field else "."]
                raise ValueError(f"{source}, line {n}: {what} has invalid character(s) {bad}")
            grids.append([0 if ch == "." else int(ch) for ch in field])
        puzzle, solution = grids[0], grids[1] if len(grids) == 2 else None
        if solution is not None and any(
            p and p != s for p, s in zip(puzzle, solution, strict=True)
        ):
            raise ValueError(f"{source}, line {n}: the solution disagrees with a given digit")
        out.append((puzzle, solution))
    return out


def sudoku_edge_index() -> Tensor:
    """The Sudoku graph: each of the 81 cells to its 20 peers, (2, 1620), sorted by target."""
    dst = torch.arange(81).repeat_interleave(20)
    src = torch.tensor([j for i in range(81) for j in PEERS[i]])
    return torch.stack([src, dst])


@dataclass(frozen=True)
class SudokuSplit:
    """Puzzle indices of the train / validation / test sets."""

    train: Tensor
    val: Tensor
    test: Tensor


class SudokuTask:
    """Sudoku puzzles with fixed train/val/test sets.

    Attributes:
        puzzles: (P, 81) givens, 0 for a blank.
        solutions: (P, 81) digits 1..9.
        edge_index: (2, 1620) the graph of one puzzle (:func:`sudoku_edge_index`).
        metric: ``"solved"``: the fraction of puzzles whose every cell is right.
    """

    kind = "sudoku"
    num_splits = 1
    num_classes = 9

    def __init__(self, name: str, puzzles: Tensor, solutions: Tensor, sizes, split_name: str):
        self.name, self.puzzles, self.solutions = name, puzzles.long(), solutions.long()
        self.edge_index = sudoku_edge_index()
        self.metric, self.split_name, self.ogb_name = "solved", split_name, None
        bounds = torch.tensor([0, *sizes]).cumsum(0).tolist()
        self._split = SudokuSplit(
            *(torch.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True))
        )

    def split(self, run: int = 0) -> SudokuSplit:
        return self._split

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Puzzles ``idx`` as one graph of B * 81 nodes.

        Returns:
            ``x`` (B * 81, 3): digit (0 blank), row, column; ``edge_index`` (2, B * 1620);
            ``y`` (B * 81,): the solution's digit minus one (class 0..8).
        """
        b = idx.numel()
        cells = torch.arange(81)
        x = torch.stack(
            [self.puzzles[idx].reshape(-1), (cells // 9).repeat(b), (cells % 9).repeat(b)], 1
        )  # (B * 81, 3)
        offset = (torch.arange(b) * 81).repeat_interleave(self.edge_index.size(1))
        edge_index = self.edge_index.repeat(1, b) + offset  # (2, B * 1620)
        return x, edge_index, self.solutions[idx].reshape(-1) - 1

    def evaluate(self, pred: Tensor, idx: Tensor) -> dict[str, float]:
        """Solved fraction and cell accuracy of predicted digits (or logits) on puzzles
        ``idx``: ``pred`` of shape (B, 81) digits 1..9, or (B, 81, 9) logits."""
        if pred.dim() == 3:
            pred = pred.argmax(-1) + 1
        right = pred.cpu().view(-1, 81) == self.solutions[idx]  # (B, 81)
        return {"solved": float(right.all(1).float().mean()), "cells": float(right.float().mean())}

    def __repr__(self) -> str:
        s, givens = self._split, float((self.puzzles > 0).sum(1).float().mean())
        return (
            f"SudokuTask({self.name!r}, train={len(s.train)}, val={len(s.val)}, "
            f"test={len(s.test)}, mean givens={givens:.1f})"
        )


def load_sudoku(
    num_train: int = 1000,
    num_val: int = 100,
    num_test: int = 100,
    givens: int = 30,
    seed: int = 0,
    path: str | Path | None = None,
) -> SudokuTask:
    """Sudoku puzzles: generated with ``seed`` (each with exactly one solution and ``givens``
    givens, or as few as the generator reaches), or the first ``num_train + num_val +
    num_test`` puzzles of the file ``path`` (train first, then val, then test; puzzles
    without a solution are solved, and must have exactly one)."""
    sizes = (num_train, num_val, num_test)
    if min(sizes) < 1:
        raise ValueError(f"num_train, num_val and num_test must be >= 1, got {sizes}")
    total = sum(sizes)
    if path is None:
        rng = random.Random(seed)
        pairs = [generate_puzzle(givens, rng) for _ in range(total)]
        name, split_name = "sudoku", f"generated-{givens}-seed{seed}"
    else:
        path = Path(path).expanduser()
        read = parse_puzzles(path.read_text(), str(path))
        if len(read) < total:
            raise ValueError(f"{path}: {len(read)} puzzles, fewer than the {total} asked for")
        pairs = []
        for n, (puzzle, solution) in enumerate(read[:total], 1):
            if solution is None:
                count, solution = _search(puzzle, 2)
                if count != 1:
                    raise ValueError(f"{path}: puzzle {n} has {count} solutions, not one")
            pairs.append((puzzle, solution))
        name, split_name = "sudoku", f"file:{path.name}"
    puzzles = torch.tensor([p for p, _ in pairs])  # (P, 81)
    solutions = torch.tensor([s for _, s in pairs])  # (P, 81)
    return SudokuTask(name, puzzles, solutions, sizes, split_name)


__all__ = [
    "PEERS",
    "SudokuSplit",
    "SudokuTask",
    "count_solutions",
    "generate_puzzle",
    "load_sudoku",
    "parse_puzzles",
    "solve",
    "sudoku_edge_index",
]
