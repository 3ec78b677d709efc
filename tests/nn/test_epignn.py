"""EpiGNN: probability-vector states, the bilinear map's identity, the fast message form
against a plain per-node loop, permutation and batch invariance, gradients."""

import pytest
import torch

from graphlib_pyg.data.rcc8 import load_rcc8
from graphlib_pyg.nn.epignn import EPS, EpiGNN


@pytest.fixture(scope="module")
def task():
    return load_rcc8(2, 1, 2, test_k=6, seed=0)


def _inputs(task, n=6):
    bt = task.batch(task.split().test[-n:])  # nested bundles among them (k = 5, 6)
    return bt["edge_index"], bt["edge_type"], bt["head"], bt["tail"], bt["batch"]


def _model(aggr="min", seed=0):
    torch.manual_seed(seed)
    model = EpiGNN(8, facets=3, facet_dim=4, aggr=aggr)
    with torch.no_grad():  # away from the near-uniform init, so differences show
        model.relation_logits.mul_(4.0)
        model.compose_logits.normal_(0.0, 2.0)
    return model


def test_composition_is_a_normalised_positive_map_with_identity():
    model = _model()
    a = model.composition()  # (F, d, d, d): facet, out p, left i, right j
    assert (a >= 0).all() and torch.allclose(a.sum(1), torch.ones(3, 4, 4))
    x = torch.rand(5, 3, 4).softmax(-1)
    e0 = torch.zeros(5, 3, 4)
    e0[..., 0] = 1
    assert torch.allclose(model.compose(e0, x), x, atol=1e-6)
    assert torch.allclose(model.compose(x, e0), x, atol=1e-6)
    out = model.compose(x, x.flip(0))
    assert (out >= 0).all() and torch.allclose(out.sum(-1), torch.ones(5, 3), atol=1e-6)


@pytest.mark.parametrize("aggr", ["min", "mul"])
def test_states_stay_probability_vectors_and_match_a_plain_loop(task, aggr):
    """The run's linear per-relation form against composing state and prototype edge by edge
    and reducing each node's incoming messages in a Python loop."""
    model = _model(aggr)
    edge_index, edge_type, head, tail, batch = _inputs(task)
    n = batch.numel()
    for reverse, start in ((False, head), (True, tail)):
        x = model.run(edge_index, edge_type, start, n, steps=4, reverse=reverse)
        assert x.shape == (n, 3, 4) and (x >= 0).all()
        assert torch.allclose(x.sum(-1), torch.ones(n, 3), atol=1e-5)
        proto = model.prototypes()
        ref = torch.full((n, 3, 4), 0.25)
        ref[start] = torch.tensor([1.0, 0, 0, 0])
        src, dst = (edge_index[1], edge_index[0]) if reverse else (edge_index[0], edge_index[1])
        for _ in range(4):
            new = torch.empty_like(ref)
            for v in range(n):
                into = (dst == v).nonzero().flatten()
                if len(into) == 0:
                    new[v] = 0.25
                    continue
                rel = proto[edge_type[into]]  # (m, F, d)
                state = ref[src[into]]
                msgs = model.compose(rel, state) if reverse else model.compose(state, rel)
                agg = msgs.min(0).values if aggr == "min" else msgs.prod(0)
                new[v] = (agg + EPS) / (agg + EPS).sum(-1, keepdim=True)
            new[start] = torch.tensor([1.0, 0, 0, 0])
            ref = new
        assert torch.allclose(x, ref, atol=1e-5)


def test_head_and_tail_boundaries_and_scores(task):
    model = _model()
    edge_index, edge_type, head, tail, batch = _inputs(task)
    x = model.run(edge_index, edge_type, head, batch.numel(), steps=3)
    assert torch.equal(x[head][..., 0], torch.ones(len(head), 3))  # e_0 at the head
    scores = model(edge_index, edge_type, head, tail, batch, steps=3)
    assert scores.shape == (len(head), 8) and (scores <= 0).all()  # minus cross-entropies


def test_permutation_and_batch_invariance(task):
    model = _model()
    edge_index, edge_type, head, tail, batch = _inputs(task)
    out = model(edge_index, edge_type, head, tail, batch, steps=6)
    n = batch.numel()
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))  # new id of node i
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    e = torch.randperm(edge_type.numel(), generator=torch.Generator().manual_seed(2))
    moved = model(perm[edge_index][:, e], edge_type[e], perm[head], perm[tail], batch[inv], 6)
    assert torch.allclose(moved, out, atol=1e-5)
    q = task.batch(task.split().test[-1:])  # the last query alone = its row of the batch
    alone = model(q["edge_index"], q["edge_type"], q["head"], q["tail"], q["batch"], 6)
    assert torch.allclose(alone, out[-1:], atol=1e-5)


def test_more_steps_reach_a_fixpoint_on_acyclic_queries(task):
    model = _model()
    args = _inputs(task)
    assert torch.allclose(model(*args, steps=14), model(*args, steps=20), atol=1e-6)


def test_gradient_reaches_every_parameter(task):
    model = _model()
    scores = model(*_inputs(task), steps=5)
    torch.nn.functional.cross_entropy(scores, task.y[task.split().test[-6:]]).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_arguments():
    with pytest.raises(ValueError, match="aggr"):
        EpiGNN(8, aggr="max")
    with pytest.raises(ValueError, match="facet_dim"):
        EpiGNN(8, facet_dim=1)
    model = EpiGNN(2)
    ei, et = torch.tensor([[0], [1]]), torch.tensor([5])
    one = torch.tensor([0])
    with pytest.raises(ValueError, match="edge_type"):
        model(ei, et, one, torch.tensor([1]), torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="steps"):
        model(ei, et * 0, one, torch.tensor([1]), torch.tensor([0, 0]), steps=0)
