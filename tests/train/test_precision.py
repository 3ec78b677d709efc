"""``precision=bf16``: autocast forward passes, float32 weights, float32 sparse products."""

import pytest
import torch

from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.nn.mamba.graph_mamba import GraphMamba
from graphlib_pyg.train.graph import GraphTrainer
from graphlib_pyg.train.link import LinkTrainer
from graphlib_pyg.train.ncn import NCNTrainer
from graphlib_pyg.train.node import NodeTrainer
from graphlib_pyg.train.options import TrainOptions
from graphlib_pyg.train.precision import autocast

CPU = torch.device("cpu")


def test_an_unknown_precision_is_refused_with_a_suggestion_before_anything_runs():
    with pytest.raises(ValueError, match=r"unknown precision 'bf61'.*bf16"):
        TrainOptions(precision="bf61")
    with pytest.raises(ValueError, match="precision 'fp8'"):
        run_benchmark("gcn", "csbm", runs=1, config={"precision": "fp8", "epochs": 1})


def test_bf16_runs_matrix_products_in_bf16_and_keeps_weights_float32():
    lin = torch.nn.Linear(8, 4)
    with autocast("bf16", CPU):
        out = lin(torch.randn(5, 8))
    assert out.dtype == torch.bfloat16 and lin.weight.dtype == torch.float32
    with autocast("fp32", CPU):
        assert lin(torch.randn(5, 8)).dtype == torch.float32


def test_a_sparse_adjacency_multiplies_bf16_features_in_float32_with_gradients():
    ei = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 0, 2]])
    adj = GraphIndex(ei, 4).adj_t("gcn")
    x = torch.randn(4, 3).bfloat16().requires_grad_()
    with autocast("bf16", CPU):
        out = torch.sparse.mm(adj, x)
    expected = adj.plain.to_dense() @ x.detach().float()
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    torch.testing.assert_close(x.grad.float(), adj.plain.to_dense().sum(0, keepdim=True).t()
                               .expand(4, 3), atol=1e-2, rtol=1e-2)  # fmt: skip


def test_graph_mamba_mixes_bf16_token_states_into_its_float32_output():
    torch.manual_seed(0)
    model = GraphMamba(8, 16, 3, num_layers=1).eval()
    x, ei = torch.randn(10, 8), torch.randint(0, 10, (2, 30))
    batch = torch.tensor([0] * 6 + [1] * 4)
    with autocast("bf16", CPU):
        low = model(x, ei, batch)
    ref = model(x, ei, batch)
    assert low.isfinite().all()
    assert (low.float() - ref).abs().max() < 0.05 * ref.abs().max() + 0.05


def test_bf16_training_learns_like_float32_on_every_task_type():
    graphs = load_task("graph-sbm", num_graphs=200)  # only structure separates the classes
    cfg = {"epochs": 8, "hidden": 16, "lr": 0.01, "batch_size": 32}
    fp32 = GraphTrainer(graphs, "gin", cfg).run(0)
    bf16 = GraphTrainer(graphs, "gin", {**cfg, "precision": "bf16"}).run(0)
    assert bf16.val > 0.9 and abs(bf16.val - fp32.val) < 0.1
    node = load_task("csbm", num_nodes=300, homophily=0.9)
    r = NodeTrainer(node, "gcn", {"epochs": 30, "precision": "bf16"}).run(0)
    assert r.test > 0.8
    link = load_task("sbm-link", num_nodes=200)
    r = LinkTrainer(link, "gcn", {"epochs": 30, "hidden": 32, "weight_decay": 0.0,
                                  "precision": "bf16"}).run(0)  # fmt: skip
    assert r.val > 0.5
    r = NCNTrainer(link, "ncn", {"epochs": 3, "hidden": 32, "batch_size": 256,
                                 "precision": "bf16"}).run(0)  # fmt: skip
    assert r.val > 0.3


def test_a_graph_model_s_bf16_outputs_match_float32_from_the_same_weights():
    graphs = load_task("graph-sbm", num_graphs=40)
    trainer = GraphTrainer(graphs, "gcn", {"epochs": 1, "hidden": 32, "precision": "bf16"})
    assert trainer.cfg.precision == "bf16"
    from torch_geometric.loader import DataLoader

    from graphlib_pyg.nn.heads import GraphLevel

    torch.manual_seed(0)
    model = GraphLevel(trainer._build(32, 32), graphs.num_features, 32, graphs.num_classes,
                       graphs.categorical).eval()  # fmt: skip
    batch = next(iter(DataLoader(graphs.graphs, batch_size=40)))
    ref = model(batch.x, batch.edge_index, batch.batch)
    with trainer.autocast():
        low = model(batch.x, batch.edge_index, batch.batch)
    assert low.dtype == torch.bfloat16
    assert (low.float() - ref).abs().max() < 0.02 * ref.abs().max() + 0.02


def test_every_row_of_a_backprop_run_records_its_precision(tmp_path):
    data = {"num_nodes": 200, "homophily": 0.9}
    out = tmp_path / "r.jsonl"
    rows = run_benchmark("gcn", "csbm", runs=1, data=data, config={"epochs": 2}, out=out)
    assert rows[0]["precision"] == "fp32" and "precision" not in rows[0]["config"]
    cfg = {"epochs": 2, "precision": "bf16"}
    rows = run_benchmark("gcn", "csbm", runs=1, data=data, config=cfg, out=out)
    assert rows[0]["precision"] == "bf16"
    heuristic = run_benchmark("cn", "sbm-link", runs=1, data={"num_nodes": 100})
    assert "precision" not in heuristic[0]  # a trainer without the option records none
