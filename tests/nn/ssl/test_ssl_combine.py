import itertools

import pytest
import torch

from graphlib_pyg.nn.ssl import MGDACombiner, SumCombiner, min_norm_weights, two_task_min_norm


def _norm2(w, gram):
    return float(w @ gram @ w)


@pytest.mark.parametrize("seed", range(5))
def test_frank_wolfe_matches_the_closed_form_for_two_tasks(seed):
    g = torch.randn(2, 7, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    gram = g @ g.t()
    w = min_norm_weights(gram)
    gamma, _ = two_task_min_norm(gram[0, 0].item(), gram[0, 1].item(), gram[1, 1].item())
    # the closed form checked directly: no gamma on a fine grid does better
    grid = torch.linspace(0, 1, 10001, dtype=torch.float64)
    best = min(_norm2(torch.stack([a, 1 - a]), gram) for a in grid[::50])
    assert _norm2(torch.tensor([gamma, 1 - gamma], dtype=torch.float64), gram) <= best + 1e-9
    assert torch.allclose(w, torch.tensor([gamma, 1 - gamma], dtype=torch.float64))


def test_closed_form_clips_to_the_vertex_when_one_gradient_is_inside():
    # g1 = (1, 0), g2 = (2, 0): the min-norm point is g1 alone
    assert two_task_min_norm(1.0, 2.0, 4.0) == (1.0, 0.0)


@pytest.mark.parametrize("seed", range(5))
def test_frank_wolfe_matches_a_brute_force_grid_for_three_tasks(seed):
    g = torch.randn(3, 5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    g = torch.nn.functional.normalize(g, dim=1)
    gram = g @ g.t()
    w = min_norm_weights(gram, iters=5000, tol=1e-12)
    assert w.min() >= 0 and abs(float(w.sum()) - 1) < 1e-9
    steps = 200
    grid = min(
        _norm2(torch.tensor([a / steps, b / steps, (steps - a - b) / steps], dtype=torch.float64),
               gram)
        for a, b in itertools.product(range(steps + 1), repeat=2) if a + b <= steps
    )  # fmt: skip
    assert _norm2(w, gram) <= grid + 1e-6
    assert _norm2(w, gram) >= grid - 1e-3  # and the grid gets close to it


def _setup():
    torch.manual_seed(0)
    shared = torch.nn.Linear(3, 2)
    head_a, head_b = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    x = torch.randn(10, 3)
    losses = {
        "a": lambda: head_a(shared(x)).pow(2).mean(),
        "b": lambda: (head_b(shared(x)) - 1).pow(2).mean(),
    }
    params = [*shared.parameters(), *head_a.parameters(), *head_b.parameters()]
    return losses, params, list(shared.parameters())


def test_sum_combiner_gives_the_gradient_of_the_summed_losses():
    losses, params, shared = _setup()
    weights, values = SumCombiner().backward(losses, params, shared)
    got = [p.grad.clone() for p in params]
    expected = torch.autograd.grad(losses["a"]() + losses["b"](), params)
    assert weights == {"a": 1.0, "b": 1.0} and set(values) == {"a", "b"}
    assert all(torch.allclose(a, b) for a, b in zip(got, expected, strict=False))


def test_mgda_combiner_applies_min_norm_weights_to_the_raw_gradients():
    losses, params, shared = _setup()
    weights, _ = MGDACombiner().backward(losses, params, shared)
    got = [p.grad.clone() for p in params]
    ga = torch.autograd.grad(losses["a"](), params, allow_unused=True)
    gb = torch.autograd.grad(losses["b"](), params, allow_unused=True)
    fa = torch.cat([g.reshape(-1) for g in ga[:2]])
    fb = torch.cat([g.reshape(-1) for g in gb[:2]])
    fa, fb = fa / fa.norm(), fb / fb.norm()
    gamma, _ = two_task_min_norm(float(fa @ fa), float(fa @ fb), float(fb @ fb))
    assert abs(weights["a"] - gamma) < 1e-6 and abs(weights["a"] + weights["b"] - 1) < 1e-9
    for p, a, b, g in zip(params, ga, gb, got, strict=False):
        want = sum(w * t for w, t in ((weights["a"], a), (weights["b"], b)) if t is not None)
        assert torch.allclose(g, want, atol=1e-6), p.shape
