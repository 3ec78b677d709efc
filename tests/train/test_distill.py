"""GLNN and VQGraph trainers on a tiny graph: the student learns from the teacher, the teacher
is cached and reused, the inductive setting hides its nodes, bad options are named."""

import math

import pytest
import torch

from graphlib_pyg.bench.options import check_run_options
from graphlib_pyg.data.splits import cpf_split
from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.train.distill import (
    DistillTrainer,
    VQGraphTrainer,
    hold_out,
    observed_graph,
)
from graphlib_pyg.train.distill_teacher import TeacherTrainer, VQTeacher, edge_reconstruction
from graphlib_pyg.train.registry import TRAINERS

FAST = {"epochs": 30, "patience": 0, "teacher_options": {"epochs": 30, "patience": 0}}


@pytest.fixture
def task():
    return load_task("csbm", split="cpf", num_nodes=300, num_features=16)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHLIB_CACHE", str(tmp_path))
    return tmp_path


def test_registered():
    assert TRAINERS["glnn"] is DistillTrainer and TRAINERS["vqgraph"] is VQGraphTrainer


def test_cpf_split_draws_per_class_and_per_seed():
    y = torch.arange(4).repeat_interleave(60)
    s0, s1 = cpf_split(y, seed=0), cpf_split(y, seed=1)
    assert torch.bincount(y[s0.train]).tolist() == [20] * 4
    assert torch.bincount(y[s0.val]).tolist() == [30] * 4
    everything = torch.cat([s0.train, s0.val, s0.test]).sort().values
    assert torch.equal(everything, torch.arange(240))
    assert not torch.equal(s0.train, s1.train)
    with pytest.raises(ValueError, match="class 0 has 50"):
        cpf_split(torch.zeros(50, dtype=torch.long))


def test_cpf_task_is_the_largest_component():
    from torch_geometric.utils import to_scipy_sparse_matrix

    t = load_task("csbm", split="cpf", num_nodes=300, num_features=16, avg_degree=1.5)
    from scipy.sparse.csgraph import connected_components

    adj = to_scipy_sparse_matrix(t.data.edge_index, num_nodes=t.num_nodes)
    assert connected_components(adj)[0] == 1 and t.num_nodes < 300


def test_glnn_student_learns_from_the_teacher(task):
    r = DistillTrainer(task, "mlp", FAST).run(seed=0)
    row = r.row()
    assert row["setting"] == "transductive" and row["teacher"] == "gcn"
    assert row["teacher_test"] > 0.6  # the csbm teacher is far above chance (0.25)
    assert r.test > 0.5 and r.curve.step[-1] == 30
    # an untrained student (no epochs of distillation) does worse than the distilled one
    assert r.curve.val[-1] > 0.4


@pytest.mark.parametrize("teacher, one_weight", [(None, True), ("sage", False)])
def test_default_teacher_weighs_a_node_as_its_neighbours(task, teacher, one_weight):
    # GLNN's reference SAGE (DGL SAGEConv, "gcn" aggregator) applies one weight to the mean of
    # a node and its neighbours: on two linked nodes, swapping their features leaves both
    # outputs unchanged. PyG's SAGEConv has a separate root weight, so the swap shows.
    from torch_geometric.data import Data

    config = {"teacher_options": {"num_layers": 1}}
    if teacher is not None:
        config["teacher"] = teacher
    t = DistillTrainer(task, "mlp", config).teacher
    pair = Data(x=torch.randn(2, 16), edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2)
    torch.manual_seed(0)
    model = t._build(16, 4).eval()
    g = t._graph_arg(pair)
    out, swapped = model(pair.x, g), model(pair.x.flip(0), g)
    assert torch.allclose(out, swapped, atol=1e-6) == one_weight


def test_teacher_is_cached_and_reused(task, monkeypatch, cache):
    first = DistillTrainer(task, "mlp", FAST).run(seed=1)
    assert len(list((cache / "distill").glob("*.pt"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("the teacher was trained again")

    monkeypatch.setattr(TeacherTrainer, "train", refuse)
    again = DistillTrainer(task, "mlp", {**FAST, "lr": 0.02}).run(seed=1)  # a new student
    assert again.row()["teacher_test"] == first.row()["teacher_test"]
    same = DistillTrainer(task, "mlp", FAST).run(seed=1)
    assert same.test == first.test and same.curve.val == first.curve.val
    other = {**FAST, "teacher_options": {"epochs": 30, "patience": 0, "hidden": 32}}
    with pytest.raises(AssertionError, match="trained again"):  # another teacher config
        DistillTrainer(task, "mlp", other).run(seed=1)


def test_inductive_holds_test_nodes_out_of_the_graph(task):
    split = task.split(0)
    observed, held = hold_out(split, 0.2, seed=0)
    assert held.numel() == round(0.2 * split.test.numel())
    assert torch.isin(held, split.test).all() and not torch.isin(held, observed).any()
    assert observed.numel() + held.numel() == task.num_nodes
    sub, sub_split = observed_graph(task.data, observed, split)
    assert sub.num_nodes == observed.numel() and int(sub.edge_index.max()) < sub.num_nodes
    assert torch.equal(observed[sub_split.train], split.train)
    assert torch.equal(sub.x, task.data.x[observed])
    # every edge of the observed graph joins two observed nodes of the full graph
    full = set(map(tuple, task.data.edge_index.t().tolist()))
    assert all((int(observed[a]), int(observed[b])) in full for a, b in sub.edge_index.t())
    r = DistillTrainer(task, "mlp", {**FAST, "setting": "inductive"}).run(seed=0)
    row = r.row()
    assert row["setting"] == "inductive" and not math.isnan(row["test_tran"])


def test_vqgraph_teacher_and_token_loss(task):
    cfg = {**FAST, "codebook_size": 64, "token_weight": 1.0, "edge_dense_max": 100}
    trainer = VQGraphTrainer(task, "mlp", cfg)
    r = trainer.run(seed=0)
    assert r.row()["teacher"] == "gcn" and r.test > 0.4  # the reference's GraphConv layers
    outputs = trainer._teacher(0, 0, task.data, task.split(0), task.split(0).test)
    # vq_dim 0: the codes are as wide as the features (16), as VQGraph's
    assert outputs.codebook.shape == (64, 16) and outputs.hidden.shape == (task.num_nodes, 16)
    extra = trainer._student_extra(outputs)
    emb = torch.randn(10, 128)
    loss = trainer._token_loss(extra, emb, outputs, torch.arange(10))
    loss.backward()
    assert loss > 0 and extra.weight.grad.abs().sum() > 0


def test_vq_teacher_classifies_from_the_codes(task):
    cfg = {**FAST, "codebook_size": 8, "vq_dim": 12, "edge_dense_max": 100}
    t = VQGraphTrainer(task, "mlp", cfg).teacher
    model, _ = t.train(0, task.data, task.split(0))
    assert isinstance(model, VQTeacher) and model.vq.codebook.shape == (8, 12)
    x, g = task.data.x.float(), t._graph_arg(task.data)
    with torch.no_grad():
        h = model.encode(x, g)
        _, index, _, _ = model.vq(h)
        codes = model.vq.codes()[index]  # (N, 12): nodes with one code get one logit row
        torch.testing.assert_close(model(x, g), model._classify(model.edge_decoder(codes), g))
    # the auxiliary loss trains both convolutions and the decoders
    model.train()
    _, aux = model.loss(x, g, task.data.edge_index, torch.Generator().manual_seed(0))
    aux.backward()
    for part in (model.conv1, model.node_decoder, model.edge_decoder):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())


def test_sampled_edge_loss_estimates_the_dense_one():
    torch.manual_seed(0)
    n = 400
    src = torch.randint(0, n, (3000,))
    dst = torch.randint(0, n, (3000,))
    keep = src != dst
    ei = torch.unique(torch.stack([torch.cat([src[keep], dst[keep]]),
                                   torch.cat([dst[keep], src[keep]])]), dim=1)  # fmt: skip
    z = torch.randn(n, 8)
    dense = edge_reconstruction(z, ei, n, dense_max=n, generator=torch.Generator())
    sampled = edge_reconstruction(z, ei, n, dense_max=0, generator=torch.Generator().manual_seed(0))
    assert abs(float(sampled) - float(dense)) / float(dense) < 0.15


def test_edge_loss_target_has_self_loops():
    # three 4-cliques: one-hot cluster encodings reconstruct A + I exactly, so the loss is 0
    # (with a zero diagonal as target it would not be)
    cluster = torch.arange(12) // 4
    pairs = [(a, b) for a in range(12) for b in range(12) if a != b and cluster[a] == cluster[b]]
    ei = torch.tensor(pairs).t()
    z = torch.nn.functional.one_hot(cluster).float()
    for dense_max in (12, 0):  # dense, and the sampled estimate
        loss = edge_reconstruction(z, ei, 12, dense_max, torch.Generator().manual_seed(0))
        assert float(loss) < 1e-6
    assert float(edge_reconstruction(torch.randn(12, 3), ei, 12, 12, torch.Generator())) > 0.1


@pytest.mark.parametrize(
    "config, error, match",
    [
        ({"setting": "online"}, ValueError, "setting"),
        ({"holdout": 1.5}, ValueError, "holdout"),
        ({"teacher": "gnc"}, KeyError, "gcn"),
        ({"teacher_options": {"hiden": 8}}, TypeError, "hiden"),
        ({"temperature": 2}, TypeError, "temperature"),
    ],
)
def test_bad_options_are_named(task, config, error, match):
    with pytest.raises(error, match=match):
        DistillTrainer(task, "mlp", config)


def test_vq_data_init_must_be_a_bool(task):
    with pytest.raises(TypeError, match="vq_data_init"):
        VQGraphTrainer(task, "mlp", {"vq_data_init": "yes"})


def test_student_must_be_mlp_and_options_are_checked_at_the_edge(task):
    with pytest.raises(ValueError, match="--model mlp"):
        DistillTrainer(task, "gcn", {})
    assert check_run_options({"tau": 2.0}, "mlp", "vqgraph") == {"tau": 2.0}
    with pytest.raises(TypeError, match="tau"):
        check_run_options({"tau": 2.0}, "mlp", "glnn")
    with pytest.raises(TypeError, match="teacher_options"):
        check_run_options({"teacher_options": 3}, "mlp", "glnn")
