"""RCC-8: the composition table against a geometric model, generated labels against an
independent composition of the edges, seeded determinism, the task's batches and metric."""

import functools
import random

import numpy as np
import pytest
import torch

from graphlib_pyg.data.rcc8 import (
    COMPOSITION,
    CONVERSE,
    EQ,
    RELATIONS,
    bundle,
    bundle_edges,
    bundle_label,
    compose,
    converse,
    generate_query,
    load_rcc8,
)
from graphlib_pyg.data.tasks import load_task


@functools.lru_cache(maxsize=1)
def rectangle_table() -> np.ndarray:
    """``seen[r, s, t]``: some closed axis-aligned rectangles a, b, c with corners on a 6 x 6
    grid have a r b, b s c and a t c. Relations are read off the coordinates directly."""
    iv = np.array([(a, b) for a in range(6) for b in range(a + 1, 6)])
    x1, x2 = np.repeat(iv[:, 0], len(iv)), np.repeat(iv[:, 1], len(iv))
    y1, y2 = np.tile(iv[:, 0], len(iv)), np.tile(iv[:, 1], len(iv))

    def pair(f):  # f(p, q) over all pairs of rectangles: p along rows, q along columns
        return f(*(v[:, None] for v in (x1, x2, y1, y2)), *(v[None, :] for v in (x1, x2, y1, y2)))

    def meet(strict):
        cmp = np.less if strict else np.less_equal
        return pair(
            lambda a1, a2, c1, c2, b1, b2, d1, d2: (
                cmp(np.maximum(a1, b1), np.minimum(a2, b2))
                & cmp(np.maximum(c1, d1), np.minimum(c2, d2))
            )
        )

    def inside(strict):  # p part of q (strictly inside q's interior)
        cmp = np.less if strict else np.less_equal
        return pair(
            lambda a1, a2, c1, c2, b1, b2, d1, d2: (
                cmp(b1, a1) & cmp(a2, b2) & cmp(d1, c1) & cmp(c2, d2)
            )
        )

    closed, interior, part, strict = meet(False), meet(True), inside(False), inside(True)
    rel = np.full(closed.shape, RELATIONS.index("PO"))
    rel[part.T], rel[strict.T] = RELATIONS.index("TPPi"), RELATIONS.index("NTPPi")
    rel[part], rel[strict] = RELATIONS.index("TPP"), RELATIONS.index("NTPP")
    rel[part & part.T] = EQ
    rel[closed & ~interior], rel[~closed] = RELATIONS.index("EC"), RELATIONS.index("DC")
    rel = rel.astype(np.int16)
    code = rel[:, :, None] * 64 + rel[None, :, :] * 8 + rel[:, None, :]  # (a, b, c)
    return np.bincount(code.ravel(), minlength=512).reshape(8, 8, 8) > 0


@functools.cache
def geo_compose(a: int, b: int) -> int:
    """Composition of relation sets by the rectangle model, not by the written table."""
    seen, out = rectangle_table(), 0
    for r in range(8):
        for s in range(8):
            if a >> r & 1 and b >> s & 1:
                out |= sum(1 << t for t in range(8) if seen[r, s, t])
    return out


def test_table_is_exactly_what_rectangles_realise():
    """Sound (no realised triple is missing) and complete (every entry is realised)."""
    seen = rectangle_table()
    for r in range(8):
        for s in range(8):
            realised = sum(1 << t for t in range(8) if seen[r, s, t])
            assert COMPOSITION[r][s] == realised, (RELATIONS[r], RELATIONS[s])


def test_table_algebra():
    for r in range(8):
        assert COMPOSITION[EQ][r] == 1 << r and COMPOSITION[r][EQ] == 1 << r  # identity
        assert COMPOSITION[r][CONVERSE[r]] >> EQ & 1  # r o r^-1 contains EQ
        assert CONVERSE[CONVERSE[r]] == r
        for s in range(8):  # (r o s)^-1 = s^-1 o r^-1
            assert converse(COMPOSITION[r][s]) == COMPOSITION[CONVERSE[s]][CONVERSE[r]]
    assert sum(COMPOSITION[r][s] == 0xFF for r in range(8) for s in range(8)) == 3
    assert compose(0b11, 1 << EQ) == 0b11 and compose(1 << EQ, 0) == 0


def _paths(edges, n):
    """Every head-to-tail path of a DAG as a list of relations."""
    out_edges = {}
    for s, d, r in edges:
        out_edges.setdefault(s, []).append((d, r))
    stack, paths = [(0, [])], []
    while stack:
        u, rels = stack.pop()
        if u == n - 1:
            paths.append(rels)
        for v, r in out_edges.get(u, []):
            stack.append((v, rels + [r]))
    return paths


@pytest.mark.parametrize("k", [2, 3, 4, 7])
@pytest.mark.parametrize("b", [1, 2, 3])
def test_unnested_labels_are_the_composition_along_the_paths(k, b):
    """Without nesting a query is b parallel chains: its label is the intersection over its
    paths of their compositions (computed with the rectangle model's table)."""
    rng = random.Random(k * 10 + b)
    for i in range(16):
        q = generate_query(i % 8, k, b, rng, nest_prob=0.0)
        edges = list(zip(*q.edge_index.tolist(), q.edge_type.tolist(), strict=True))
        paths = _paths(edges, q.num_nodes)
        assert len(paths) == b and all(len(p) == k for p in paths)
        label = 0xFF
        for p in paths:
            m = 1 << EQ
            for r in p:
                m = geo_compose(m, 1 << r)
            label &= m
        assert label == 1 << q.label


def _closure(edges, n):
    """Algebraic closure (path consistency) of the network: R_ij &= R_ik o R_kj to a fixpoint."""
    c = [[0xFF] * n for _ in range(n)]
    for i in range(n):
        c[i][i] = 1 << EQ
    for s, d, r in edges:
        c[s][d] &= 1 << r
        c[d][s] &= 1 << CONVERSE[r]
    changed = True
    while changed:
        changed = False
        for k in range(n):
            for i in range(n):
                if c[i][k] == 0xFF:
                    continue
                for j in range(n):
                    if c[k][j] == 0xFF:
                        continue
                    new = c[i][j] & geo_compose(c[i][k], c[k][j])
                    if new != c[i][j]:
                        c[i][j], changed = new, True
    return c


@pytest.mark.parametrize("k,b", [(5, 1), (6, 2), (8, 3)])
def test_nested_labels_are_entailed_by_algebraic_closure(k, b):
    """Nested bundles: algebraic closure of the whole network (rectangle table) yields exactly
    the label between head and tail: entailed, and not contradicted anywhere."""
    rng = random.Random(k + b)
    for i in range(3):
        branches = bundle(i % 8, k, b, rng, nest_prob=1.0)
        assert any(not isinstance(it, int) for br in branches for it in br)  # nested indeed
        edges, n = bundle_edges(branches)
        c = _closure(edges, n)
        assert c[0][n - 1] == 1 << (i % 8) == bundle_label(branches)
        assert all(c[u][v] for u in range(n) for v in range(n))  # consistent


def test_generator_is_seeded_and_balanced():
    a, b = load_rcc8(4, 2, 2, test_k=6, seed=3), load_rcc8(4, 2, 2, test_k=6, seed=3)
    assert all(
        torch.equal(x.edge_index, y.edge_index) and torch.equal(x.edge_type, y.edge_type)
        for x, y in zip(a.queries, b.queries, strict=True)
    )
    c = load_rcc8(4, 2, 2, test_k=6, seed=4)
    assert any(
        not torch.equal(x.edge_type, y.edge_type) for x, y in zip(a.queries, c.queries, strict=True)
    )
    s = a.split()
    assert a.k[s.train].max() == 4 and a.k[s.test].max() == 6 and a.b.max() == 3
    assert len(s.train) == 3 * 3 * 4 and len(s.test) == 5 * 3 * 2
    assert torch.bincount(a.y[s.train], minlength=8).min() > 0


def test_load_task_batch_and_metric():
    task = load_task("rcc8", train_per_cell=2, val_per_cell=1, test_per_cell=2, test_k=5)
    idx = task.split().test[:5]
    bt = task.batch(idx)
    n = sum(task.queries[i].num_nodes for i in idx.tolist())
    assert bt["batch"].shape == (n,) and bt["edge_index"].max() < n
    assert bt["edge_index"].size(1) == bt["edge_type"].numel()
    assert torch.equal(bt["batch"][bt["head"]], torch.arange(5))
    assert torch.equal(bt["batch"][bt["tail"]], torch.arange(5))
    for i, q in enumerate(idx.tolist()):  # head 0 has no incoming, tail no outgoing edge
        assert not (bt["edge_index"][1] == bt["head"][i]).any()
        assert not (bt["edge_index"][0] == bt["tail"][i]).any()
        assert task.y[q] == bt["y"][i]
    scores = torch.nn.functional.one_hot(bt["y"], 8).float()
    scores[0] = scores[0].roll(1)  # one wrong
    out = task.evaluate(scores, idx)
    assert out["accuracy"] == pytest.approx(0.8)
    assert set(out["by_k"]) == {int(k) for k in task.k[idx]}


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="per_cell"):
        load_rcc8(0)
    with pytest.raises(ValueError, match="train_k"):
        load_rcc8(train_k=5, test_k=4)
    with pytest.raises(ValueError, match="nest_prob"):
        load_rcc8(nest_prob=2.0)
    with pytest.raises(ValueError, match="k must be"):
        bundle(0, 1, 1, random.Random(0))
