"""The ``device`` option of the backprop trainer, and the models' CUDA paths.

The CUDA tests skip without a GPU (CI has none); they compare GPU outputs with CPU outputs of the
same weights, so a tensor left on the wrong device or a device-dependent result fails them.
"""

import pytest
import torch
from torch_geometric.data import Data

from graphlib_pyg import load_task
from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.nn.conv.gat import CSRGATConv
from graphlib_pyg.nn.mamba.gmn import GMN
from graphlib_pyg.nn.mamba.graph_mamba import GraphMamba
from graphlib_pyg.nn.mamba.scan import selective_scan
from graphlib_pyg.nn.transformer.largegt import LargeGT
from graphlib_pyg.train.backprop import BackpropTrainer, resolve_device

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device")
SMALL = {"num_nodes": 300}


def test_device_names_are_checked():
    task = load_task("csbm", num_nodes=100)
    with pytest.raises(ValueError, match="cpu, cuda, cuda:K or auto"):
        BackpropTrainer(task, "gcn", {"device": "tpu"})
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if CUDA else "cpu")
    if not CUDA:
        with pytest.raises(ValueError, match="torch sees no CUDA device"):
            BackpropTrainer(task, "gcn", {"device": "cuda"})


def test_explicit_cpu_device_is_the_default_run():
    common = dict(runs=1, epochs=8, data=SMALL, progress=False)
    a = run_benchmark("gcn", "csbm", **common)[0]
    b = run_benchmark("gcn", "csbm", config={"device": "cpu"}, **common)[0]
    assert (a["val"], a["test"], a["best_epoch"]) == (b["val"], b["test"], b["best_epoch"])
    assert b["config"]["device"] == "cpu"  # recorded with the run, so CPU and GPU rows differ


def _graph(n: int = 60, seed: int = 0) -> Data:
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, 4 * n), generator=gen)
    edge_index = torch.cat([edge_index, edge_index.flip(0)], 1)
    return Data(x=torch.randn(n, 12, generator=gen), edge_index=edge_index)


@needs_cuda
@pytest.mark.parametrize("length", [7, 1000, 5000])
def test_parallel_scan_on_cuda_matches_cpu_reference(length):  # pragma: no cover - GPU
    torch.manual_seed(0)
    b, d, n = 2, 16, 8
    inp = {
        "u": torch.randn(b, d, length),
        "delta": torch.randn(b, d, length),
        "A": -torch.rand(d, n) - 0.1,
        "B": torch.randn(b, n, length),
        "C": torch.randn(b, n, length),
        "D": torch.randn(d),
        "z": torch.randn(b, d, length),
    }
    grads = {}
    for dev, backend in (("cpu", "ref"), ("cuda", "parallel")):
        leaves = {k: v.detach().to(dev).requires_grad_() for k, v in inp.items()}
        y = selective_scan(**leaves, delta_softplus=True, backend=backend)
        y.square().sum().backward()
        grads[dev] = (y.detach().cpu(), {k: v.grad.cpu() for k, v in leaves.items()})
    (y_ref, g_ref), (y_gpu, g_gpu) = grads["cpu"], grads["cuda"]
    scale = y_ref.abs().max()
    assert (y_gpu - y_ref).abs().max() <= 1e-4 * scale
    for k in inp:
        assert (g_gpu[k] - g_ref[k]).abs().max() <= 1e-4 * g_ref[k].abs().max(), k


@needs_cuda
@pytest.mark.parametrize(
    "make",
    [
        lambda: GraphMamba(12, 16, 3, num_layers=2, noise=False),
        lambda: GMN(12, 16, 3, num_layers=1, walk_length=2, num_samples=1, noise=False),
        lambda: GMN(12, 16, 3, num_layers=1, token_encoder="mean", noise=False),
    ],
)
def test_graph_mamba_models_give_the_same_outputs_on_cuda(make):  # pragma: no cover - GPU
    torch.manual_seed(0)
    data, model = _graph(), make().eval()
    with torch.no_grad():
        cpu = model(data.x, data.edge_index)
        gpu = model.cuda()(data.x.cuda(), data.edge_index.cuda())
    assert gpu.is_cuda and torch.allclose(gpu.cpu(), cpu, atol=1e-4)


@needs_cuda
@pytest.mark.parametrize("hop_cache", [True, False])
def test_largegt_gives_the_same_outputs_on_cuda(hop_cache):  # pragma: no cover - GPU
    from graphlib_pyg.data.graph import GraphIndex

    torch.manual_seed(0)
    data = _graph()
    index = GraphIndex(data.edge_index, data.num_nodes)
    model = LargeGT(12, 16, 3, num_samples=5, num_centroids=8, hop_cache=hop_cache).eval()
    seeds = torch.arange(20)
    outs = []
    for dev in ("cpu", "cuda"):
        adj = index.adj_t("gcn").to(dev)  # hop features on the device, index on the CPU
        model.to(dev).prepare(data.x.to(dev), adj, index)
        with torch.no_grad():
            outs.append(model.forward_seeds(seeds, generator=torch.Generator().manual_seed(1)))
    assert outs[1].is_cuda and torch.allclose(outs[1].cpu(), outs[0], atol=1e-4)


@needs_cuda
def test_csr_gat_gives_the_same_outputs_and_gradients_on_cuda():  # pragma: no cover - GPU
    torch.manual_seed(0)
    conv = CSRGATConv(16, 8, heads=4)
    x, ei = torch.randn(300, 16), torch.randint(0, 300, (2, 3000))
    results = []
    for dev in ("cpu", "cuda"):
        conv.to(dev).zero_grad()
        xd = x.to(dev).requires_grad_()
        out = conv(xd, ei.to(dev))
        out.square().sum().backward()
        results.append([out.detach(), xd.grad, *(p.grad for p in conv.parameters())])
    assert results[1][0].is_cuda
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(b.cpu(), a, atol=1e-4, rtol=1e-4)


@needs_cuda
@pytest.mark.parametrize(
    "model, config",
    [
        ("gcn", {}),
        ("sage", {"batch_size": 64}),
        ("gat", {"residual": True}),
        ("gps", {"attn_type": "multihead"}),
        ("graph_mamba", {}),
        ("gmn", {"walk_length": 2, "num_samples": 1, "token_encoder": "mean"}),
        ("largegt", {"batch_size": 128}),
    ],
)
def test_node_models_train_on_cuda(model, config):  # pragma: no cover - GPU
    row = run_benchmark(
        model,
        "csbm",
        runs=1,
        epochs=30,
        data=SMALL,
        config={"device": "cuda", "hidden": 32, **config},
        progress=False,
    )[0]
    assert row["config"]["device"] == "cuda"
    assert row["val"] > 0.6 and row["test"] > 0.6  # four classes: chance is 0.25


@needs_cuda
def test_link_and_graph_tasks_train_on_cuda():  # pragma: no cover - GPU
    link = run_benchmark(
        "gcn", "sbm-link", runs=1, epochs=20, config={"device": "cuda"}, progress=False
    )[0]
    assert link["test"] > 0.5  # Hits@100; 0.83 on the CPU with these settings
    graph = run_benchmark(
        "gcn", "graph-sbm", runs=1, epochs=5, config={"device": "cuda"}, progress=False
    )[0]  # a tensor on the wrong device raises; the score is a probability-like metric
    assert 0.0 <= graph["val"] <= 1.0 and graph["config"]["device"] == "cuda"
