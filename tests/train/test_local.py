"""The layer-local engine: layers equal PyG's convs, the cache changes nothing, inputs are
detached, and the auxiliary-network trainers (AugLocal, MAN) learn."""

import pytest
import torch
from torch_geometric.nn import GATConv, GCNConv, SAGEConv

from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.train.auxiliary import (
    AugLocalObjective,
    MANObjective,
    auglocal_depths,
    sampled_layers,
)
from graphlib_pyg.train.forward import SFObjective
from graphlib_pyg.train.local import LocalConv, LocalEngine, LocalGraph, _GreedyLayer, l2_rows


@pytest.mark.parametrize("kind", ["gcn", "sage", "gat"])
def test_local_layer_equals_the_pyg_convolution(kind):
    torch.manual_seed(0)
    x, edge_index = torch.randn(7, 5), torch.randint(0, 7, (2, 20))
    layer = LocalConv(kind, 5, 4, heads=2)
    graph = LocalGraph(edge_index, 7)
    if kind == "gcn":
        conv = GCNConv(5, 4)
        conv.lin.weight.data.copy_(layer.lin.weight)
        conv.bias.data.copy_(layer.lin.bias)
    elif kind == "sage":
        conv = SAGEConv(5, 4)
        conv.lin_l.weight.data.copy_(layer.lin.weight)
        conv.lin_l.bias.data.copy_(layer.lin.bias)
        conv.lin_r.weight.data.copy_(layer.lin_r.weight)
    else:
        conv = GATConv(5, 2, heads=2)
        conv.load_state_dict(layer.conv.state_dict())
    expected = conv(x, edge_index).relu()
    assert torch.allclose(layer(*layer.prepare(x, graph)), expected, atol=1e-5)


def _csbm(n=300):
    return load_task("csbm", num_nodes=n, homophily=0.9)


def test_cached_rows_give_the_same_loss_and_gradients_as_full_propagation():
    task = _csbm()
    split = task.split(0)
    grads = []
    for cache in (True, False):
        torch.manual_seed(0)
        obj = SFObjective(task, split)
        engine = LocalEngine("gcn", 1, 16, cache=cache)
        h = {k: l2_rows(s.x) for k, s in obj.streams.items()}
        layer = _GreedyLayer(engine, obj, 0, h)
        out = layer.train_out()["graph"]
        assert out.size(0) == split.train.numel() + task.num_classes  # only the loss rows
        loss = obj.loss(0, None, layer.train_out())
        loss.backward()
        grads.append((float(loss.detach()), [p.grad.clone() for p in layer.conv.parameters()]))
    assert grads[0][0] == pytest.approx(grads[1][0], abs=1e-6)
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_joint_schedule_keeps_each_loss_local():
    """A step on layer 1's loss alone must leave layer 0's gradient empty (inputs detached)."""
    task = _csbm()
    obj = AugLocalObjective(task, task.split(0), "gcn", 2)
    engine = LocalEngine("gcn", 2, 16, schedule="joint")
    conv0, head0, _, _ = engine._layer(obj, 0, task.num_features)
    conv1, head1, _, _ = engine._layer(obj, 1, 16)
    g = obj.graph
    h0 = conv0(*conv0.prepare(l2_rows(task.data.x), g))
    h1 = conv1(*conv1.prepare(obj.next_input(0, {"graph": h0})["graph"], g))
    obj.loss(1, head1, {"graph": h1}).backward()
    assert all(p.grad is None for p in conv0.parameters())
    assert all(p.grad is not None for p in conv1.parameters())


def test_auglocal_depth_schedule_and_sampled_layers():
    assert auglocal_depths(5, 3, 0.5) == [3, 3, 2, 1]  # pyramid, capped by the layers left
    assert auglocal_depths(6, 2, 1.0) == [2, 2, 2, 1, 1]
    assert sampled_layers(0, 16, 2) == [8, 15]  # evenly spaced, ending at the last layer
    assert sampled_layers(3, 5, 4) == [4]


def test_man_momentum_copy_moves_towards_the_next_layer():
    task = _csbm()
    obj = MANObjective(task, task.split(0), "gcn", 2, momentum=0.9)
    head = obj.head(0, 8)
    nxt = LocalConv("gcn", 8, 8)
    before = [p.clone() for p in head.ema.parameters()]
    obj.after_step([LocalConv("gcn", 8, 8), nxt], [head, obj.head(1, 8)])
    for b, p, q in zip(before, head.ema.parameters(), nxt.parameters(), strict=True):
        assert torch.allclose(p, 0.9 * b + 0.1 * q)
        assert not p.requires_grad


@pytest.mark.parametrize("trainer", ["auglocal", "man"])
def test_auxiliary_trainers_learn(trainer):
    row = run_benchmark(
        "gcn", "csbm", trainer=trainer, runs=1, progress=False,
        config={"hidden": 32, "num_layers": 3, "epochs": 150, "lr": 0.01},
        data={"num_nodes": 400, "homophily": 0.9},
    )[0]  # fmt: skip
    assert row["test"] > 0.8, row
    curve = row["curve"]
    assert curve["unit"] == "layer" and curve["step"] == [1, 2, 3]
    assert curve["test"][-1] == row["test"]


def test_engine_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown schedule"):
        LocalEngine("gcn", 2, 8, schedule="sideways")
    with pytest.raises(ValueError, match="no local layer for 'gnc'"):
        LocalEngine("gnc", 2, 8)
    with pytest.raises(ValueError, match="not divisible by heads"):
        LocalConv("gat", 4, 6, heads=4)


def test_any_pyg_convolution_can_be_injected():
    """A factory of PyG convs (here GIN) trains through the engine, uncached, SF and AugLocal."""
    from torch_geometric.nn import GINConv

    from graphlib_pyg.train.forward import SFObjective

    def make_gin(i, o):
        return GINConv(
            torch.nn.Sequential(torch.nn.Linear(i, o), torch.nn.ReLU(), torch.nn.Linear(o, o))
        )

    task = _csbm(400)
    torch.manual_seed(0)
    for obj, schedule in [
        (SFObjective(task, task.split(0)), "greedy"),
        (AugLocalObjective(task, task.split(0), make_gin, 2), "joint"),
    ]:
        engine = LocalEngine(make_gin, 2, 16, schedule=schedule, lr=0.01, epochs=100)
        result = engine.fit(obj)
        assert result.test > 0.8, (schedule, result)
    assert not LocalConv(make_gin, 4, 4).cacheable


def test_any_resolver_convolution_is_a_local_layer():
    """The local layers take the conv resolver's names: GIN layers train uncached."""
    from graphlib_pyg.train.local_layers import LocalConv

    conv = LocalConv("gin", 6, 8)
    assert not conv.cacheable and type(conv.conv).__name__ == "GINConv"
    task = load_task("csbm", num_nodes=300, homophily=0.9)
    engine = LocalEngine("gin", num_layers=2, hidden=16, lr=0.01, epochs=60)
    result = engine.fit(SFObjective(task, task.split(0)))
    assert result.test > 0.7
