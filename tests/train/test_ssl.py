import pytest
import torch

from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.data.partition import metis_parts
from graphlib_pyg.data.splits import random_link_split
from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.train.embedding_eval import evaluate_embeddings
from graphlib_pyg.train.ssl import SSL_TRAINERS, load_encoder

TINY = {"epochs": 3, "hidden_channels": [16, 8], "predictor_dim": 16, "batch_size": 8,
        "decor_size": 64, "eval_repeats": 2, "link_epochs": 3}  # fmt: skip


def test_evaluator_scores_informative_embeddings_above_random_ones():
    task = load_task("csbm", num_nodes=300, homophily=0.9)
    d = task.data
    split = random_link_split(d, 0.1, 0.2, seed=0)
    parts = metis_parts(d.edge_index, d.num_nodes, parts=4)
    good = torch.nn.functional.one_hot(d.y).float() + 0.1 * torch.randn(
        d.num_nodes, int(d.y.max()) + 1
    )
    good = torch.cat([good, torch.nn.functional.one_hot(parts, 4).float()], 1)
    noise = torch.randn_like(good)
    a = evaluate_embeddings(good, d.y, split, parts, repeats=2, link_epochs=20)
    b = evaluate_embeddings(noise, d.y, split, parts, repeats=2, link_epochs=20)
    for key in ("nc_acc", "nmi", "partition_acc", "link_auc"):
        assert a[key] > b[key] + 0.1, key
    assert a["nc_acc"] > 0.9 and 0 <= a["link_hits20"] <= 1


def test_metis_parts_are_balanced_and_cut_few_edges():
    task = load_task("csbm", num_nodes=300, homophily=0.95, num_classes=3)
    d = task.data
    parts = metis_parts(d.edge_index, d.num_nodes, parts=3)
    assert parts.bincount().min() > 80
    cut = (parts[d.edge_index[0]] != parts[d.edge_index[1]]).float().mean()
    rand = torch.randint(0, 3, (d.num_nodes,))
    assert cut < (rand[d.edge_index[0]] != rand[d.edge_index[1]]).float().mean() / 2


def test_paretognn_run_records_all_four_scores_and_saves_a_weights_only_encoder(tmp_path):
    out = tmp_path / "r.jsonl"
    cfg = {**TINY, "save_dir": str(tmp_path / "enc")}
    rows = run_benchmark("gcn", "csbm", trainer="paretognn", runs=2, out=out, progress=False,
                         data={"num_nodes": 300}, config=cfg)  # fmt: skip
    assert len(rows) == 2 and out.read_text().count("\n") == 2
    for row in rows:
        extra = row["extra"]
        for key in ("nc_acc", "nmi", "link_auc", "link_hits20", "partition_acc"):
            assert 0 <= extra[key] <= 1, key
        w = extra["task_weights"]
        assert set(w) == {"graphmae", "dgi", "ccassg", "grace", "link"}
        assert abs(sum(w.values()) - 1) < 1e-6  # MGDA weights lie on the simplex
        assert row["step_unit"] == "step" and row["best_step"] == 3
    encoder, config = load_encoder(tmp_path / "enc" / "paretognn-csbm-seed1.pt")
    assert config["hidden_channels"] == [16, 8] and config["combiner"] == "mgda"
    assert encoder(
        torch.randn(5, encoder.in_channels), torch.empty(2, 0, dtype=torch.long)
    ).shape == (5, 8)
    again = run_benchmark("gcn", "csbm", trainer="paretognn", runs=2, out=out, progress=False,
                          data={"num_nodes": 300}, config=cfg)  # fmt: skip
    assert [r["extra"] for r in again] == [r["extra"] for r in rows]  # resumed, not rerun


def test_single_task_trainer_is_seeded_and_uses_weight_one():
    task = load_task("csbm", num_nodes=300)
    a = SSL_TRAINERS["grace"](task, "gcn", TINY).run(0)
    b = SSL_TRAINERS["grace"](task, "gcn", TINY).run(0)
    assert a.test == b.test and a.extra["task_weights"] == {"grace": 1.0}


def test_ssl_trainer_errors_name_the_bad_option():
    task = load_task("csbm", num_nodes=300)
    with pytest.raises(TypeError, match="bogus"):
        SSL_TRAINERS["dgi"](task, "gcn", {"bogus": 1})
    with pytest.raises(KeyError, match="combiner"):
        SSL_TRAINERS["paretognn"](task, "gcn", {"combiner": "avg"})
    with pytest.raises(ValueError, match="--model gcn"):
        SSL_TRAINERS["dgi"](task, "sage", {})
    with pytest.raises(TypeError, match="unknown option 'bogus'"):
        run_benchmark("gcn", "csbm", trainer="ccassg", runs=1, config={"bogus": 1}, progress=False)


@pytest.mark.slow
def test_paretognn_on_amazon_photo_reproduces_the_recorded_seed(data_root):
    """The benchmarks/README.md budget (40 steps), seed 0: the recorded scores, within noise."""
    task = load_task("amazon-photo", root=data_root)
    cfg = {"epochs": 40, "lr": 0.001, "batch_size": 16, "num_hops": 1, "decor_size": 512,
           "link_epochs": 30, "decor_form": "ccassg"}  # fmt: skip
    extra = SSL_TRAINERS["paretognn"](task, "gcn", cfg).run(0).extra
    assert extra["nc_acc"] > 0.91 and extra["nmi"] > 0.45  # recorded: 92.39, 54.99
    assert extra["link_auc"] > 0.86 and extra["partition_acc"] > 0.82  # 89.44, 84.95
