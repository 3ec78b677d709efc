"""RCC-8 relation composition as a graph task (EpiGNN, Khalid & Schockaert, ICLR 2025).

A query is a small directed graph whose edges carry one of the eight RCC-8 base relations
between regions; the task is to predict the relation between a head and a tail node that
follows from the edges. The label comes from the composition table: along a path the relations
compose, over parallel branches the resulting sets intersect.

- :data:`RELATIONS`, :data:`COMPOSITION`: the table of Randell, Cui and Cohn (1992) as bitmasks
  over the eight relations (bit ``i`` = ``RELATIONS[i]``); :func:`compose` composes relation
  sets, :func:`converse` inverts one.
- :func:`generate_query`: a seeded generator in the manner of the paper's repository
  (erg0dic/gnn-sg): ``b`` branches of two edges whose compositions intersect in exactly the
  target relation, then edges replaced, until every branch has ``k`` edges, by chains (or, with
  probability ``nest_prob``, by bundles of 2-3 parallel chains) that compose to exactly that
  edge's relation. Every head-to-tail path has ``k`` edges and every query has a single-relation
  answer by construction (the paper keeps only such queries too).
- :func:`load_rcc8`: an :class:`RCC8Task` with fixed train / val (``k`` in 2..4, ``b`` in 1..3,
  the paper's training set) and test (``k`` up to 15) sets; metric: accuracy, also by ``k``.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import torch
from torch import Tensor

RELATIONS = ("DC", "EC", "PO", "TPP", "NTPP", "TPPi", "NTPPi", "EQ")
#: ``CONVERSE[r]``: the relation ``b ? a`` when ``a r b``.
CONVERSE = (0, 1, 2, 5, 6, 3, 4, 7)
EQ = 7
UNIVERSAL = 0xFF

# a r b and b s c => a ? c. Rows r, columns s in RELATIONS order; "*": any of the eight.
_ROWS = {
    "DC": ["*", "DC EC PO TPP NTPP", "DC EC PO TPP NTPP", "DC EC PO TPP NTPP",
           "DC EC PO TPP NTPP", "DC", "DC", "DC"],
    "EC": ["DC EC PO TPPi NTPPi", "DC EC PO TPP TPPi EQ", "DC EC PO TPP NTPP",
           "EC PO TPP NTPP", "PO TPP NTPP", "DC EC", "DC", "EC"],
    "PO": ["DC EC PO TPPi NTPPi", "DC EC PO TPPi NTPPi", "*", "PO TPP NTPP", "PO TPP NTPP",
           "DC EC PO TPPi NTPPi", "DC EC PO TPPi NTPPi", "PO"],
    "TPP": ["DC", "DC EC", "DC EC PO TPP NTPP", "TPP NTPP", "NTPP", "DC EC PO TPP TPPi EQ",
            "DC EC PO TPPi NTPPi", "TPP"],
    "NTPP": ["DC", "DC", "DC EC PO TPP NTPP", "NTPP", "NTPP", "DC EC PO TPP NTPP", "*",
             "NTPP"],
    "TPPi": ["DC EC PO TPPi NTPPi", "EC PO TPPi NTPPi", "PO TPPi NTPPi", "PO TPP TPPi EQ",
             "PO TPP NTPP", "TPPi NTPPi", "NTPPi", "TPPi"],
    "NTPPi": ["DC EC PO TPPi NTPPi", "PO TPPi NTPPi", "PO TPPi NTPPi", "PO TPPi NTPPi",
              "PO TPP NTPP TPPi NTPPi EQ", "NTPPi", "NTPPi", "NTPPi"],
    "EQ": ["DC", "EC", "PO", "TPP", "NTPP", "TPPi", "NTPPi", "EQ"],
}  # fmt: skip


def mask(names: str) -> int:
    """The bitmask of a space-separated set of relation names (``"*"``: all eight)."""
    if names == "*":
        return UNIVERSAL
    return sum(1 << RELATIONS.index(n) for n in names.split())


def members(m: int) -> list[int]:
    """The relation indices in bitmask ``m``."""
    return [i for i in range(8) if m >> i & 1]


#: ``COMPOSITION[r][s]``: bitmask of the relations ``a ? c`` given ``a r b`` and ``b s c``.
COMPOSITION = [[mask(_ROWS[r][s]) for s in range(8)] for r in RELATIONS]


@functools.cache
def compose(a: int, b: int) -> int:
    """Composition of two relation sets (bitmasks): the union over their members' pairs."""
    out = 0
    for r in members(a):
        for s in members(b):
            out |= COMPOSITION[r][s]
    return out


def converse(m: int) -> int:
    """The converse of a relation set (bitmask)."""
    return sum(1 << CONVERSE[r] for r in members(m))


@functools.cache
def singleton_chains(length: int) -> dict[int, list[tuple[int, ...]]]:
    """Every label sequence of ``length`` edges whose composition is one relation, by that
    relation (computed once by enumerating all ``8 ** length`` sequences)."""
    out: dict[int, list[tuple[int, ...]]] = {r: [] for r in range(8)}
    sets = {(r,): 1 << r for r in range(8)}
    for _ in range(length - 1):
        sets = {seq + (s,): compose(m, 1 << s) for seq, m in sets.items() for s in range(8)}
    for seq, m in sets.items():
        if m.bit_count() == 1:
            out[m.bit_length() - 1].append(seq)
    return out


def _base_branches(target: int, b: int, rng: random.Random) -> list[list]:
    """``b`` two-edge branches whose compositions intersect in exactly ``{target}``."""
    if b == 1:
        return [list(rng.choice(singleton_chains(2)[target]))]
    pairs = [(r, s) for r in range(8) for s in range(8) if compose(1 << r, 1 << s) >> target & 1]
    while True:
        picks = [rng.choice(pairs) for _ in range(b)]
        both = UNIVERSAL
        for r, s in picks:
            both &= compose(1 << r, 1 << s)
        if both == 1 << target:
            return [list(p) for p in picks]


def _expand(branch: list, length: int, rng: random.Random, nest_prob: float) -> list:
    """Replace edges of ``branch`` (labels or nested bundles) until it has ``length`` edges:
    a label ``s`` becomes a chain composing to exactly ``{s}``, or (``nest_prob``) a bundle
    of 2-3 parallel chains whose compositions intersect in ``{s}``."""
    size = len(branch)
    while size < length:
        labels = [i for i, item in enumerate(branch) if isinstance(item, int)]
        i, left = rng.choice(labels), length - size
        if len(labels) > 1 and rng.random() < nest_prob:
            sub = rng.randint(2, min(left + 1, 6))
            branch[i] = bundle(branch[i], sub, rng.randint(2, 3), rng, 0.0)
        else:
            sub = rng.randint(2, min(left + 1, 4))
            branch[i : i + 1] = list(rng.choice(singleton_chains(sub)[branch[i]]))
        size += sub - 1
    return branch


def bundle(target: int, k: int, b: int, rng: random.Random, nest_prob: float = 0.0) -> list:
    """``b`` parallel branches of ``k`` edges each whose label is exactly ``{target}``: a list
    of branches, a branch a list of items, an item a relation index or a nested bundle."""
    if k < 2 or b < 1:
        raise ValueError(f"k must be >= 2 and b >= 1, got k={k}, b={b}")
    return [_expand(br, k, rng, nest_prob) for br in _base_branches(target, b, rng)]


def bundle_label(branches: list) -> int:
    """The relation set of a bundle: composition along each branch, intersection across."""
    out = UNIVERSAL
    for branch in branches:
        m = 1 << EQ
        for item in branch:
            m = compose(m, 1 << item if isinstance(item, int) else bundle_label(item))
        out &= m
    return out


def bundle_edges(branches: list) -> tuple[list[tuple[int, int, int]], int]:
    """The graph of a bundle: ``(src, dst, relation)`` edges and the node count; the head is
    node 0 and the tail the last node."""
    edges: list[tuple[int, int, int]] = []
    count = [1]

    def emit(brs: list, u: int, v: int) -> None:
        for branch in brs:
            a = u
            for j, item in enumerate(branch):
                if j == len(branch) - 1:
                    z = v
                else:
                    z, count[0] = count[0], count[0] + 1
                if isinstance(item, int):
                    edges.append((a, z, item))
                else:
                    emit(item, a, z)
                a = z

    emit(branches, 0, -1)
    tail = count[0]
    return [(s, tail if d == -1 else d, r) for s, d, r in edges], tail + 1


@dataclass(frozen=True)
class Query:
    """One query graph: edges with relations, the head (0) and tail (``num_nodes - 1``)."""

    edge_index: Tensor  # (2, E)
    edge_type: Tensor  # (E,)
    num_nodes: int
    label: int
    k: int
    b: int


def generate_query(target: int, k: int, b: int, rng: random.Random, nest_prob: float) -> Query:
    """A query with answer ``target``, path length ``k`` and ``b`` branches."""
    edges, n = bundle_edges(bundle(target, k, b, rng, nest_prob))
    e = torch.tensor(edges, dtype=torch.long)  # (E, 3)
    return Query(e[:, :2].t().contiguous(), e[:, 2].contiguous(), n, target, k, b)


@dataclass(frozen=True)
class RCC8Split:
    """Query indices of the train / validation / test sets."""

    train: Tensor
    val: Tensor
    test: Tensor


class RCC8Task:
    """RCC-8 composition queries with fixed train / val / test sets.

    Attributes:
        queries: the :class:`Query` graphs, train first, then val, then test.
        y, k, b: (Q,) label, path length and branching of each query.
        metric: ``"accuracy"`` (also reported by ``k``: :meth:`evaluate`).
    """

    kind = "rcc8"
    num_splits = 1
    num_classes = 8
    num_relations = 8

    def __init__(self, queries: list[Query], sizes: tuple[int, int, int], split_name: str):
        self.name, self.queries, self.split_name = "rcc8", queries, split_name
        self.metric, self.ogb_name = "accuracy", None
        self.y = torch.tensor([q.label for q in queries])
        self.k = torch.tensor([q.k for q in queries])
        self.b = torch.tensor([q.b for q in queries])
        bounds = torch.tensor([0, *sizes]).cumsum(0).tolist()
        ranges = zip(bounds[:-1], bounds[1:], strict=True)
        self._split = RCC8Split(*(torch.arange(a, z) for a, z in ranges))

    def split(self, run: int = 0) -> RCC8Split:
        return self._split

    def batch(self, idx: Tensor) -> dict[str, Tensor]:
        """Queries ``idx`` as one graph: ``edge_index`` (2, E), ``edge_type`` (E,),
        ``head``/``tail`` (B,) node ids, ``batch`` (N,) the query of each node, ``y`` (B,)."""
        qs = [self.queries[i] for i in idx.tolist()]
        sizes = torch.tensor([q.num_nodes for q in qs])
        offset = sizes.cumsum(0) - sizes  # (B,)
        shifted = zip(qs, offset.tolist(), strict=True)
        edge_index = torch.cat([q.edge_index + o for q, o in shifted], 1)  # (2, E)
        return {
            "edge_index": edge_index,
            "edge_type": torch.cat([q.edge_type for q in qs]),
            "head": offset,
            "tail": offset + sizes - 1,
            "batch": torch.arange(len(qs)).repeat_interleave(sizes),
            "y": self.y[idx],
        }

    def evaluate(self, pred: Tensor, idx: Tensor) -> dict:
        """Accuracy of predicted relations (B,) or scores (B, 8) on queries ``idx``, overall
        and by path length: ``{"accuracy": a, "by_k": {k: a_k}}``."""
        if pred.dim() == 2:
            pred = pred.argmax(-1)
        right = (pred.cpu() == self.y[idx]).float()
        ks = self.k[idx]
        by_k = {int(k): float(right[ks == k].mean()) for k in ks.unique()}
        return {"accuracy": float(right.mean()), "by_k": by_k}

    def __repr__(self) -> str:
        s = self._split
        return (
            f"RCC8Task(train={len(s.train)}, val={len(s.val)}, test={len(s.test)}, "
            f"test k={int(self.k[s.test].min())}..{int(self.k[s.test].max())})"
        )


def _cells(ks, bs, per_cell: int, rng: random.Random, nest_prob: float) -> list[Query]:
    """``per_cell`` queries for every (k, b), targets cycling through the eight relations
    (across cells: a cell smaller than eight still draws each relation equally often)."""
    cells = [(k, b) for k in ks for b in bs for _ in range(per_cell)]
    return [
        generate_query(i % 8, k, b, rng, nest_prob if k > 4 else 0.0)
        for i, (k, b) in enumerate(cells)
    ]


def load_rcc8(
    train_per_cell: int = 400,
    val_per_cell: int = 50,
    test_per_cell: int = 50,
    train_k: int = 4,
    test_k: int = 15,
    max_b: int = 3,
    nest_prob: float = 0.5,
    seed: int = 0,
) -> RCC8Task:
    """RCC-8 queries generated with ``seed``: train and val with ``k`` in 2..``train_k``, test
    with ``k`` in 2..``test_k``; ``b`` in 1..``max_b`` for all; ``*_per_cell`` queries per
    (k, b). Edges of queries with ``k > 4`` are replaced by nested bundles with probability
    ``nest_prob`` (the paper's test sets nest sub-graphs only there)."""
    sizes = (train_per_cell, val_per_cell, test_per_cell)
    if min(sizes) < 1:
        raise ValueError(f"train/val/test_per_cell must be >= 1, got {sizes}")
    if not 2 <= train_k <= test_k:
        raise ValueError(f"need 2 <= train_k <= test_k, got train_k={train_k}, test_k={test_k}")
    if max_b < 1 or not 0.0 <= nest_prob <= 1.0:
        raise ValueError(f"max_b must be >= 1 and nest_prob in [0, 1], got {max_b}, {nest_prob}")
    rng, bs = random.Random(seed), range(1, max_b + 1)
    train = _cells(range(2, train_k + 1), bs, train_per_cell, rng, nest_prob)
    val = _cells(range(2, train_k + 1), bs, val_per_cell, rng, nest_prob)
    test = _cells(range(2, test_k + 1), bs, test_per_cell, rng, nest_prob)
    name = f"generated-k{train_k}-{test_k}-b{max_b}-seed{seed}"
    return RCC8Task(train + val + test, (len(train), len(val), len(test)), name)


__all__ = [
    "COMPOSITION",
    "CONVERSE",
    "RELATIONS",
    "Query",
    "RCC8Split",
    "RCC8Task",
    "bundle",
    "bundle_edges",
    "bundle_label",
    "compose",
    "converse",
    "generate_query",
    "load_rcc8",
    "singleton_chains",
]
