"""ForwardGNN trainers (SF, FF-LA, FF-VN; node and link): class nodes, negatives, learning."""

from types import SimpleNamespace

import pytest
import torch

from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.train.forward import (
    SFTrainer,
    add_class_nodes,
    ff_loss,
    goodness,
    wrong_labels,
)

SMALL = {"hidden": 32, "num_layers": 2, "epochs": 150, "lr": 0.01}
CSBM = {"num_nodes": 400, "homophily": 0.9}


def test_class_nodes_link_training_nodes_both_ways():
    edge_index = torch.tensor([[0, 1], [1, 0]])
    y, train = torch.tensor([1, 0, 1, 0]), torch.tensor([0, 1, 2])
    out = add_class_nodes(edge_index, 4, y, train, 2)
    extra = {tuple(e) for e in out[:, 2:].t().tolist()}
    assert extra == {(0, 5), (5, 0), (1, 4), (4, 1), (2, 5), (5, 2)}  # node 3 is not training
    assert torch.equal(out[:, :2], edge_index)


def test_sf_learns_through_the_harness_and_layers_add_up():
    rows = run_benchmark(
        "gcn", "csbm", trainer="sf", runs=1, progress=False,
        config={"hidden": 32, "num_layers": 2, "epochs": 100, "lr": 0.01},
        data={"num_nodes": 400, "homophily": 0.9},
    )  # fmt: skip
    row = rows[0]
    assert row["trainer"] == "sf" and row["test"] > 0.8
    curve = row["curve"]
    assert curve["unit"] == "layer" and curve["step"] == [1, 2] and curve["test"][-1] == row["test"]


def test_wrong_labels_are_a_per_node_permutation_of_the_other_classes():
    torch.manual_seed(0)
    y = torch.randint(0, 5, (50,))
    wrong = wrong_labels(y, 5, 100)
    assert wrong.shape == (4, 50)
    for i in range(50):  # every wrong class once, never the true one
        assert sorted(wrong[:, i].tolist()) == sorted(set(range(5)) - {int(y[i])})
    assert not torch.equal(wrong[0], wrong[0].sort().values)  # shuffled per node
    assert wrong_labels(y, 5, 2).shape == (2, 50)


def test_ff_loss_rewards_high_positive_and_low_negative_goodness():
    big, small = torch.full((3, 4), 2.0), torch.full((3, 4), 0.1)
    assert torch.allclose(goodness(big, 2.0), torch.full((3,), 14.0))
    assert torch.allclose(goodness(big, 2.0, "mean"), torch.full((3,), 2.0))
    good, bad = ff_loss(big, [small], 2.0), ff_loss(small, [big], 2.0)
    assert good < 0.2 < 10 < bad


@pytest.mark.parametrize("trainer", ["ff-la", "ff-vn"])
def test_ff_variants_learn_and_layers_add_up(trainer):
    row = run_benchmark(
        "gcn", "csbm", trainer=trainer, runs=1, progress=False, config=SMALL, data=CSBM
    )[0]
    assert row["test"] > 0.8, row
    curve = row["curve"]
    assert curve["unit"] == "layer" and curve["step"] == [1, 2] and curve["test"][-1] == row["test"]


def test_sf_joint_schedule_learns():
    config = {**SMALL, "schedule": "joint"}
    row = run_benchmark(
        "gcn", "csbm", trainer="sf", runs=1, progress=False, config=config, data=CSBM
    )
    assert row[0]["test"] > 0.8, row
    assert row[0]["step_unit"] == "step" and "best_epoch" not in row[0]
    assert row[0]["best_step"] <= SMALL["epochs"]  # one step updates every layer


@pytest.mark.parametrize("model", ["sage", "gat"])
def test_sf_trains_sage_and_gat(model):
    row = run_benchmark(
        model, "csbm", trainer="sf", runs=1, progress=False, config=SMALL, data=CSBM
    )[0]
    assert row["test"] > 0.8, row


def test_sf_link_prediction_learns():
    row = run_benchmark(
        "gcn", "sbm-link", trainer="sf", runs=1, progress=False, config=SMALL,
        data={"split": "85-5-10"},
    )[0]  # fmt: skip
    assert row["metric"] == "rocauc" and row["test"] > 0.8, row


def test_forward_trainers_reject_what_they_cannot_train():
    with pytest.raises(ValueError, match="supports the models gcn, sage, gat"):
        run_benchmark("mlp", "csbm", trainer="sf", runs=1, progress=False)
    with pytest.raises(TypeError, match="needs a single-label node task"):
        run_benchmark("gcn", "sbm-link", trainer="ff-la", runs=1, progress=False)
    with pytest.raises(TypeError, match="single-label node or link task"):
        SFTrainer(SimpleNamespace(name="graphs"), "gcn")
    with pytest.raises(TypeError, match="unknown option.*'heads'"):
        run_benchmark("gcn", "csbm", trainer="sf", runs=1, config={"heads": 2}, progress=False)


@pytest.mark.parametrize("kind", ["gcn", "sage", "gat"])
def test_parts_of_an_input_propagate_separately(kind):
    """Top-down inputs cache their fixed part: prepare([a, b]) == [prepare(a), prepare(b)]."""
    from graphlib_pyg.train.local import LocalConv, LocalGraph
    from graphlib_pyg.train.topdown import _cat_prep

    torch.manual_seed(0)
    a, b, graph = torch.randn(6, 3), torch.randn(6, 2), LocalGraph(torch.randint(0, 6, (2, 15)), 6)
    conv = LocalConv(kind, 5, 4, heads=2)
    whole = conv(*conv.prepare(torch.cat([a, b], 1), graph))
    parts = conv(*_cat_prep(conv.prepare(a, graph), conv.prepare(b, graph)))
    assert torch.allclose(whole, parts, atol=1e-6)


@pytest.mark.parametrize("trainer", ["sf-top2input", "sf-top2loss"])
@pytest.mark.parametrize("dataset", ["csbm", "sbm-link"])
def test_top_down_variants_learn(trainer, dataset):
    data = CSBM if dataset == "csbm" else {"split": "85-5-10"}
    row = run_benchmark(
        "gcn", dataset, trainer=trainer, runs=1, progress=False,
        config={**SMALL, "num_layers": 3}, data=data,
    )[0]  # fmt: skip
    assert row["test"] > 0.8, row


def test_top_to_input_prediction_reads_the_label_matrix():
    from graphlib_pyg.data.tasks import load_task
    from graphlib_pyg.train.forward import FORWARD_DEFAULTS
    from graphlib_pyg.train.topdown import TOPDOWN_OPTIONS, TopDownSF

    task = load_task("csbm", num_nodes=200, homophily=0.9)
    cfg = {**FORWARD_DEFAULTS, **TOPDOWN_OPTIONS, "hidden": 16, "num_layers": 2}
    torch.manual_seed(0)
    run = TopDownSF(task, task.split(0), "gcn", "top2input", cfg)
    before = run.predict()
    run.prep_labels = run.layers[-1].prepare(torch.zeros_like(run.labels), run.graph)
    assert not torch.allclose(before, run.predict())  # the top layer sees the labels


@pytest.mark.parametrize("mode", ["top2input", "top2loss"])
@pytest.mark.parametrize("kind", ["gcn", "sage"])
def test_top_down_fixed_parts_shortcut_changes_nothing(mode, kind):
    """Predicting with the fixed parts' pre-activation computed once equals the plain layers."""
    from graphlib_pyg.data.tasks import load_task
    from graphlib_pyg.train.forward import FORWARD_DEFAULTS
    from graphlib_pyg.train.topdown import TOPDOWN_OPTIONS, TopDownSF

    task = load_task("csbm", num_nodes=200, homophily=0.9)
    cfg = {**FORWARD_DEFAULTS, **TOPDOWN_OPTIONS, "hidden": 16, "num_layers": 3}
    torch.manual_seed(0)
    run = TopDownSF(task, task.split(0), kind, mode, cfg)
    with torch.no_grad():
        states = run._bottom_up()
        fixed = run._fixed()
        assert sorted(fixed) == ([0, 2] if mode == "top2input" else [0])
        for i in range(3):
            assert torch.allclose(
                run._forward(i, states), run._forward(i, states, fixed), atol=1e-5
            )


def test_ff_vn_candidate_graphs_link_only_the_evaluated_nodes():
    """As the reference: val{c} links validation nodes to class c and leaves test nodes alone;
    test{c} links validation nodes to their true class and test nodes to c."""
    from graphlib_pyg.data.tasks import load_task
    from graphlib_pyg.train.forward import FFVirtualObjective

    task = load_task("csbm", num_nodes=200, homophily=0.9)
    split, n, y = task.split(0), task.num_nodes, task.data.y
    obj = FFVirtualObjective(task, split)
    e = task.data.edge_index.size(1)

    def class_links(name):  # real node -> class node, from the added edges
        src, dst = obj.streams[name].graph.edge_index[:, e:]
        keep = dst >= n
        return dict(zip(src[keep].tolist(), (dst[keep] - n).tolist(), strict=True))

    val1, test1 = class_links("val1"), class_links("test1")
    assert all(val1[int(v)] == 1 for v in split.val)
    assert not set(split.test.tolist()) & set(val1)
    assert all(test1[int(v)] == int(y[v]) for v in split.val)
    assert all(test1[int(v)] == 1 for v in split.test)
    assert all(val1[int(v)] == int(y[v]) for v in split.train)
