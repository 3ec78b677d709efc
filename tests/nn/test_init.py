"""Virgo and Xavier initialisation: predicted moments vs Monte Carlo, depth stability, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.nn import models as pyg_models

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.data.synthetic import csbm
from graphlib_pyg.nn import init as virgo_init
from graphlib_pyg.nn.init import INITS, virgo_, virgo_variances, xavier_
from graphlib_pyg.nn.models import build_model


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny graphs: intra-op threads only add synchronisation cost (large on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _graph(n: int = 60, m: int = 200, f: int = 12, seed: int = 0, nonneg: bool = False):
    g = torch.Generator().manual_seed(seed)
    src, dst = torch.randint(0, n, (m,), generator=g), torch.randint(0, n, (m,), generator=g)
    ei = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)  # (2, 2m)
    x = torch.rand(n, f, generator=g) if nonneg else torch.randn(n, f, generator=g)
    return x, ei, GraphIndex(ei, n)


def _conv_outputs(model, x, adj) -> list[torch.Tensor]:
    outs: list[torch.Tensor] = []
    hooks = [c.register_forward_hook(lambda m, i, o: outs.append(o)) for c in model.convs]
    try:
        model(x, adj)
    finally:
        for h in hooks:
            h.remove()
    return outs


def _resample(model, variances) -> None:
    """One draw from the Virgo distribution with fixed variances (what ``virgo_`` samples)."""
    stages = virgo_init._stages(virgo_init._unwrap(model))
    with torch.no_grad():
        for stage, v in zip(stages, variances, strict=True):
            for _, w in stage.branches:
                w.uniform_(-math.sqrt(3 * v.variance), math.sqrt(3 * v.variance))
            for b in stage.biases:
                if b is not None:
                    b.zero_()


# Wide hidden layers: the mean square over channels of one draw is already close to its
# expectation, so a few draws make a tight Monte-Carlo estimate.
MODELS = {
    "gcn": (lambda act: pyg_models.GCN(12, 256, 3, 32, normalize=False, act=act), "gcn", 1),
    "sage": (lambda act: pyg_models.GraphSAGE(12, 256, 3, 32, aggr="sum", act=act), "mean", 1),
    # GIN: two stages per conv (aggregation + first MLP linear, then the second linear)
    "gin": (lambda act: pyg_models.GIN(12, 256, 2, 32, act=act), "sum", 2),
}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("act", [None, "relu"])
def test_predicted_forward_moments_match_monte_carlo(name, act):
    # Linear stacks: the moment recursion is exact in expectation. With ReLU, the halving rule and
    # the linear propagation are the paper's approximations; they hold for non-negative features
    # (as bag-of-words), not for zero-mean i.i.d. ones (see the module docstring).
    torch.manual_seed(0)
    make, kind, per_conv = MODELS[name]
    x, _, index = _graph(nonneg=act is not None)
    model, adj = make(act), index.adj_t(kind)
    variances = virgo_variances(model, x, adj)
    predicted = [v.output_moment for v in variances][per_conv - 1 :: per_conv]
    draws = 30
    total = torch.zeros(len(predicted), dtype=torch.float64)
    with torch.no_grad():
        for _ in range(draws):
            _resample(model, variances)
            total += torch.tensor([float(o.pow(2).mean()) for o in _conv_outputs(model, x, adj)])
    mc = total / draws
    for layer, (p, m) in enumerate(zip(predicted, mc.tolist(), strict=True)):
        assert abs(m / p - 1) < 0.12, (name, act, layer, m, p)


def test_backward_mode_keeps_gradient_moment_constant_in_linear_gcn():
    # Backward constraint, exact for a linear GCN with a constant output gradient: the mean square
    # of dL/dH_l is the same at every layer (averaged over weight draws).
    torch.manual_seed(0)
    x, _, index = _graph()
    adj = index.adj_t("gcn")
    model = pyg_models.GCN(12, 256, 5, 32, normalize=False, act=None)
    variances = virgo_variances(model, x, adj, mode="backward")
    total = torch.zeros(5, dtype=torch.float64)
    for _ in range(30):
        _resample(model, variances)
        outs = _conv_outputs(model, x, adj)
        for o in outs:
            o.retain_grad()
        outs[-1].backward(torch.ones_like(outs[-1]))
        total += torch.tensor([float(o.grad.pow(2).mean()) for o in outs])
    ratio = total / total[-1]
    assert torch.allclose(ratio, torch.ones(5, dtype=torch.float64), atol=0.1), ratio


def _layer_moments(model, x, adj) -> list[float]:
    with torch.no_grad():
        return [float(o.pow(2).mean()) for o in _conv_outputs(model.eval(), x, adj)]


def test_virgo_keeps_variance_constant_across_8_layers_unlike_xavier():
    data = csbm(num_nodes=400, num_features=32, avg_degree=6, signal=5.0, seed=1)
    x, adj = data.x, GraphIndex.from_data(data).adj_t("gcn")
    runs = {"xavier": [], "virgo-forward": [], "virgo": []}
    for seed in range(3):
        for key in runs:
            torch.manual_seed(seed)
            model = build_model("gcn", 32, 64, 4, num_layers=8, dropout=0.0)
            if key == "xavier":
                xavier_(model, x, adj)
            else:
                virgo_(model, x, adj, mode="forward" if key == "virgo-forward" else "mean")
            runs[key].append(_layer_moments(model, x, adj))
    mean = {k: torch.tensor(v).mean(0) / float(x.pow(2).mean()) for k, v in runs.items()}
    xav, fwd, avg = mean["xavier"], mean["virgo-forward"], mean["virgo"]
    assert 0.8 < float(fwd[0]) < 1.25  # forward constraint: the input's scale, then flat
    assert float(fwd.max() / fwd.min()) < 3.0
    hidden = avg[:-1]  # default (mean of fwd/bwd): flat over the hidden layers
    assert float(hidden.max() / hidden.min()) < 2.0
    assert float(xav[-1] / xav[0]) < 0.05  # Xavier: the signal decays through the layers


def test_virgo_draws_weights_with_the_computed_variances_and_zero_biases():
    torch.manual_seed(0)
    x, _, index = _graph(n=200, m=800, f=64)
    adj = index.adj_t("mean")
    model = build_model("sage", 64, 128, 6, num_layers=3, input_dropout=0.5)  # wrapped
    expected = virgo_variances(model, x, adj)
    assert virgo_(model, x, adj) is model
    convs = model.model.convs
    for conv, v in zip(convs, expected, strict=True):
        for lin in (conv.lin_l, conv.lin_r):
            assert abs(float(lin.weight.detach().var()) / v.variance - 1) < 0.1
            assert float(lin.weight.detach().abs().max()) <= math.sqrt(3 * v.variance) + 1e-6
        assert float(conv.lin_l.bias.detach().abs().max()) == 0.0
    assert all(v.forward > 0 and v.backward > 0 for v in expected)
    # default mode: the arithmetic mean of the two constraints
    assert all(math.isclose(v.variance, (v.forward + v.backward) / 2) for v in expected)
    xavier_(model)
    w = convs[1].lin_l.weight.detach()
    assert float(w.abs().max()) <= math.sqrt(6 / (w.size(0) + w.size(1))) + 1e-6


def test_edge_index_and_cached_adjacency_give_the_same_variances():
    x, ei, index = _graph()
    ours = pyg_models.GCN(12, 16, 3, 4, normalize=False)
    pyg = pyg_models.GCN(12, 16, 3, 4)  # normalises edge_index itself (gcn_norm)
    a = [v.variance for v in virgo_variances(ours, x, index.adj_t("gcn"))]
    b = [v.variance for v in virgo_variances(pyg, x, ei)]
    assert a == pytest.approx(b, rel=1e-5)
    sage_mean = pyg_models.GraphSAGE(12, 16, 2, 4)  # aggr="mean" on edge_index
    sage_sum = pyg_models.GraphSAGE(12, 16, 2, 4, aggr="sum")  # on the mean-normalised adj
    a = [v.variance for v in virgo_variances(sage_sum, x, index.adj_t("mean"))]
    b = [v.variance for v in virgo_variances(sage_mean, x, ei)]
    assert a == pytest.approx(b, rel=1e-5)
    gin = pyg_models.GIN(12, 16, 2, 4)
    a = [v.variance for v in virgo_variances(gin, x, index.adj_t("sum"))]
    assert a == pytest.approx([v.variance for v in virgo_variances(gin, x, ei)], rel=1e-5)


def test_sum_aggregation_gets_smaller_weights_on_denser_graphs():
    # GIN sums neighbours: the forward constraint must shrink roughly with the degree.
    x, _, sparse = _graph(m=100)
    _, _, dense = _graph(m=1600)
    gin = pyg_models.GIN(12, 16, 2, 4)
    lo = virgo_variances(gin, x, dense.adj_t("sum"), mode="forward")[0].forward
    hi = virgo_variances(gin, x, sparse.adj_t("sum"), mode="forward")[0].forward
    assert lo < hi / 10


def test_unsupported_layers_and_options_raise_clearly():
    x, ei, index = _graph()
    with pytest.raises(TypeError, match="GATConv"):
        virgo_(pyg_models.GAT(12, 16, 2, 4), x, ei)
    with pytest.raises(TypeError, match="DAGNN"):
        virgo_(build_model("dagnn", 12, 16, 4), x, index.adj_t("gcn"))
    with pytest.raises(TypeError, match="BatchNorm"):
        virgo_(pyg_models.GCN(12, 16, 2, 4, norm="batch_norm"), x, ei)
    with pytest.raises(TypeError, match="GATConv"):
        xavier_(pyg_models.GAT(12, 16, 2, 4))
    with pytest.raises(ValueError, match="harmonic"):
        virgo_variances(pyg_models.GCN(12, 16, 2, 4), x, ei, mode="avg")


def test_trainer_applies_virgo_through_init_option(monkeypatch):
    from graphlib_pyg.data.tasks import load_task
    from graphlib_pyg.train.backprop import BackpropTrainer

    calls = []

    def spy(model, x, adj):
        calls.append(adj)
        return virgo_(model, x, adj)

    monkeypatch.setitem(INITS, "virgo", spy)
    task = load_task("csbm", num_nodes=200, seed=0)
    result = BackpropTrainer(task, "gcn", {"init": "virgo", "epochs": 20}).run(seed=0)
    assert len(calls) == 1 and calls[0].layout == torch.sparse_csr
    assert result.val > 0.5  # 4 balanced classes: it learns
    with pytest.raises(KeyError, match="virgo"):
        BackpropTrainer(task, "gcn", {"init": "virgoo", "epochs": 1}).run(seed=0)
