"""Data-parallel training on 2 CPU processes (gloo, loopback) and the exact mini-batches it uses."""

from __future__ import annotations

import json
import os
import time

import pytest
import torch
from torch_geometric.nn.models import GAT, GCN, GraphSAGE

from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.bench.results import append_result, read_results
from graphlib_pyg.data.graph import GraphIndex, adjacency
from graphlib_pyg.data.loaders import NodeLoader, exact_batch
from graphlib_pyg.data.synthetic import csbm
from graphlib_pyg.distributed import DistInfo, all_gather_rows, launch, shard

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch.distributed is not available"
)

# no dropout: the two runs must draw nothing at random after the initialisation
# no dropout: the two runs must draw nothing at random after the initialisation; eval_batch=25
# cuts the 120 evaluated nodes into 5 chunks, 3 for rank 0 and 2 for rank 1
CONFIG = {
    "batch_size": 40,
    "sampler": "exact",
    "dropout": 0.0,
    "input_dropout": 0.0,
    "hidden": 16,
    "eval_batch": 25,
}
DATA = {"num_nodes": 300, "num_features": 8}
_ORIG_STEP = torch.optim.Adam.step


@pytest.mark.parametrize(
    "model,kind", [(GCN, "gcn"), (GraphSAGE, "mean"), (GAT, "edge_index")], ids=str
)
def test_exact_batch_gives_the_full_graph_outputs_whatever_the_batch(model, kind):
    torch.manual_seed(0)
    data = csbm(2000, 3, 8, avg_degree=4, seed=0)
    index = GraphIndex(data.edge_index, 2000)
    # the library's pairings: GCN without its own normalisation on adj_t("gcn"), SAGE summing
    # over the row-normalised adj_t("mean") (= mean aggregation over edge_index)
    kw = {"normalize": False} if model is GCN else {"aggr": "sum"} if model is GraphSAGE else {}
    net = model(8, 16, 2, 3, **kw).eval()
    full = net(data.x, data.edge_index if kind == "edge_index" else index.adj_t(kind))
    seeds = torch.randperm(2000)[:60]
    for chunk in (seeds, seeds[:20], seeds[20:]):  # the same seeds, batched differently
        n_id, g = exact_batch(index, chunk, 2, kind)
        assert torch.equal(n_id[: chunk.numel()], chunk)
        assert torch.allclose(net(data.x[n_id], g)[: chunk.numel()], full[chunk], atol=1e-5)
    if kind == "gcn":  # a sampled batch re-normalises on the subgraph: not the full-graph output
        batch = next(iter(NodeLoader(data, index, seeds, [-1, -1], 60, shuffle=False)))
        out = net(batch.x, adjacency(batch.edge_index, batch.num_nodes, kind))[:60]
        assert not torch.allclose(out, full[seeds], atol=1e-3)
    with pytest.raises(ValueError, match="distinct seed"):
        exact_batch(index, torch.tensor([1, 1]), 2, kind)
    with pytest.raises(ValueError, match=r"\[0, 2000\)"):
        exact_batch(index, torch.tensor([5, 2000]), 2, kind)


def test_shard_is_disjoint_padded_and_interleaves_global_batches():
    idx = torch.arange(10) * 3
    parts = [shard(idx, DistInfo(r, 3, r, "gloo"), epoch=1, seed=7) for r in range(3)]
    assert [p.numel() for p in parts] == [4, 4, 4]  # padded to a multiple of the world size
    assert set(torch.cat(parts).tolist()) == set(idx.tolist())
    order = shard(idx, None, epoch=1, seed=7)  # what one process visits
    assert torch.equal(torch.stack([p[:3] for p in parts], 1).reshape(-1), order[:9])
    assert not torch.equal(order, shard(idx, None, epoch=2, seed=7))  # a fresh shuffle per epoch


def _capture_first_grads(path):
    """Patch Adam.step: save the first step's gradients; check replicas agree after each step."""
    orig = torch.optim.Adam.step
    state = {"steps": 0}

    def step(self, *args, **kwargs):
        params = [p for g in self.param_groups for p in g["params"]]
        if state["steps"] == 0 and path is not None:
            torch.save([p.grad.clone() for p in params], path)
        out = orig(self, *args, **kwargs)
        state["steps"] += 1
        if torch.distributed.is_initialized():
            flat = torch.cat([p.detach().reshape(-1) for p in params])
            every = all_gather_rows(flat.unsqueeze(0))
            state["same"] = state.get("same", True) and bool((every == every[0]).all())
        return out

    torch.optim.Adam.step = step
    return state


def _train_worker(
    out_dir: str,
    model: str = "gcn",
    config: dict | None = None,
    dataset: str = "csbm",
    epochs: int = 3,
    data: dict | None = None,
    watch_codebook: bool = False,
) -> None:
    """One rank: train through the harness, recording replica checks in steps{rank}.json."""
    rank = torch.distributed.get_rank()
    state = _capture_first_grads(os.path.join(out_dir, "grads_ddp.pt") if rank == 0 else None)
    if watch_codebook:  # LargeGT: the codebook buffers must stay identical too
        from graphlib_pyg.nn.transformer import VQCodebook

        orig = VQCodebook.update
        state.update(book_updates=0, book_same=True)

        def update(self, z):
            orig(self, z)
            every = all_gather_rows(self.centroids.reshape(1, -1))
            state["book_same"] = state["book_same"] and bool((every == every[0]).all())
            state["book_updates"] += 1

        VQCodebook.update = update
    run_benchmark(
        model,
        dataset,
        runs=1,
        epochs=epochs,
        out=os.path.join(out_dir, "ddp.jsonl"),
        config=dict(config or CONFIG),
        data=dict(data or DATA),
        progress=False,
    )
    with open(os.path.join(out_dir, f"steps{rank}.json"), "w") as f:
        json.dump(state, f)


def test_two_ranks_match_one_process_with_twice_the_batch(tmp_path):
    launch(_train_worker, 2, (str(tmp_path),), timeout_s=300)
    for rank in (0, 1):
        state = json.loads((tmp_path / f"steps{rank}.json").read_text())
        # 180 training seeds / (2 ranks x 40) = 3 steps per epoch, 3 epochs
        assert state["steps"] == 9 and state["same"], state
    ddp = read_results(tmp_path / "ddp.jsonl")
    assert len(ddp) == 1  # only rank 0 wrote

    single_state = _capture_first_grads(tmp_path / "grads_single.pt")
    try:
        single = run_benchmark(
            "gcn",
            "csbm",
            runs=1,
            epochs=3,
            out=tmp_path / "single.jsonl",
            config={**CONFIG, "batch_size": 2 * CONFIG["batch_size"]},
            data=dict(DATA),
            progress=False,
        )
    finally:
        torch.optim.Adam.step = _ORIG_STEP
    assert single_state["steps"] == 9
    g_ddp = torch.load(tmp_path / "grads_ddp.pt")
    g_one = torch.load(tmp_path / "grads_single.pt")
    for a, b in zip(g_ddp, g_one, strict=True):  # first-step gradients: 2 x b == 1 x 2b
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)
    a, b = ddp[0], single[0]
    assert torch.allclose(
        torch.tensor(a["curve"]["train_loss"]), torch.tensor(b["curve"]["train_loss"]), rtol=1e-4
    )
    # the sharded evaluation gives the single-process (full-graph) metrics
    assert a["curve"]["val"] == b["curve"]["val"] and a["curve"]["test"] == b["curve"]["test"]


def _dying_worker(path: str) -> None:
    rank = torch.distributed.get_rank()
    if rank == 0:
        append_result(path, {"run": 0, "test": 0.5})
    torch.distributed.barrier()
    if rank == 1:
        os._exit(3)
    torch.distributed.all_reduce(torch.ones(1))  # waits for the dead rank
    torch.distributed.all_reduce(torch.ones(1))


def _raising_worker() -> None:
    if torch.distributed.get_rank() == 1:
        raise ValueError("boom on rank 1")
    torch.distributed.all_reduce(torch.ones(1))


def test_a_dead_rank_stops_the_run_with_a_clear_error(tmp_path):
    path = tmp_path / "res.jsonl"
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="rank 1 of 2 exited with code 3"):
        launch(_dying_worker, 2, (str(path),), timeout_s=120)
    assert time.monotonic() - t0 < 100
    assert read_results(path) == [{"run": 0, "test": 0.5}]  # what was written is intact
    with pytest.raises(RuntimeError, match="rank 1 of 2 failed(.|\n)*boom on rank 1"):
        launch(_raising_worker, 2, timeout_s=120)


def test_distributed_errors_name_the_problem(tmp_path, monkeypatch):
    from graphlib_pyg.distributed import init_from_env

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(RuntimeError, match="MASTER_ADDR"):
        init_from_env()
    with pytest.raises(ValueError, match="nproc"):
        launch(_raising_worker, 0)


def test_graph_mamba_trains_data_parallel_with_synchronised_replicas(tmp_path):
    config = {"batch_size": 64, "hidden": 16, "eval_batch": 50, "sampler": "neighbor"}
    launch(_train_worker, 2, (str(tmp_path), "graph_mamba", config), timeout_s=300)
    for rank in (0, 1):
        state = json.loads((tmp_path / f"steps{rank}.json").read_text())
        assert state["steps"] == 6 and state["same"], state  # ceil(90 / 64) = 2 steps x 3 epochs
    (row,) = read_results(tmp_path / "ddp.jsonl")
    assert row["model"] == "graph_mamba" and 0.0 <= row["test"] <= 1.0


@pytest.mark.parametrize("model,extra", [("gcn", {}), ("dagnn", {"K": 4})], ids=str)
def test_exact_chunked_evaluation_equals_the_full_graph_forward(model, extra):
    from graphlib_pyg.data.tasks import load_task
    from graphlib_pyg.distributed import Runtime
    from graphlib_pyg.train.node import NodeRun, NodeTrainer, SubgraphBatches

    # sparse enough that a chunk's neighbourhood is not the whole graph
    task = load_task("csbm", num_nodes=3000, num_features=8, avg_degree=2.0)
    cfg = {**CONFIG, "eval_batch": 7, "batch_size": 64, "sampler": "exact", **extra}
    trainer = NodeTrainer(task, model, cfg)
    net = trainer._build(8, task.num_classes).eval()
    graph, train = trainer._graph_arg(task.data), task.split(0).train
    run = NodeRun(
        trainer, net, net, None, None, task.data.y, train, graph, Runtime(torch.device("cpu"))
    )
    nodes = torch.arange(0, 3000, 20)
    out = SubgraphBatches(run).outputs(nodes)  # DAGNN reads K = 4 hops, not num_layers = 2
    full = net(task.data.x, task.index().adj_t("gcn"))
    assert torch.allclose(out[nodes], full[nodes], atol=1e-5)
    assert (out[1::20] == 0).all()


LINK_CONFIG = {"batch_size": 100, "dropout": 0.0, "input_dropout": 0.0, "hidden": 16}
LINK_DATA = {"num_nodes": 200, "num_features": 8}


def test_link_task_two_ranks_match_one_process_with_twice_the_batch(tmp_path):
    config = {**LINK_CONFIG, "eval_batch": 70}
    args = (str(tmp_path), "gcn", config, "sbm-link", 2, LINK_DATA)
    launch(_train_worker, 2, args, timeout_s=300)
    state = json.loads((tmp_path / "steps1.json").read_text())
    assert state["same"] and state["steps"] > 2
    single_state = _capture_first_grads(tmp_path / "grads_single.pt")
    try:
        (single,) = run_benchmark(
            "gcn",
            "sbm-link",
            runs=1,
            epochs=2,
            config={**LINK_CONFIG, "batch_size": 200, "eval_batch": 70},
            data=dict(LINK_DATA),
            progress=False,
        )
    finally:
        torch.optim.Adam.step = _ORIG_STEP
    assert single_state["steps"] == state["steps"]
    for a, b in zip(
        torch.load(tmp_path / "grads_ddp.pt"), torch.load(tmp_path / "grads_single.pt"), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)
    (ddp,) = read_results(tmp_path / "ddp.jsonl")
    assert torch.allclose(
        torch.tensor(ddp["curve"]["train_loss"]),
        torch.tensor(single["curve"]["train_loss"]),
        rtol=1e-4,
    )
    # the pair scores are computed in chunks over the ranks and gathered back in order
    assert torch.allclose(
        torch.tensor(ddp["curve"]["val"]), torch.tensor(single["curve"]["val"]), atol=1e-6
    )


def test_cli_nproc_runs_ranks_and_writes_once(tmp_path, capsys):
    from graphlib_pyg.cli import main

    out = tmp_path / "cli.jsonl"
    argv = ["bench", "--model", "sage", "--dataset", "csbm", "--runs", "2", "--epochs", "2"]
    rc = main([*argv, "batch_size=64", "data.num_nodes=200", "--nproc", "2", "--out", str(out)])
    assert rc == 0
    rows = read_results(out)
    assert [r["run"] for r in rows] == [0, 1]  # rank 0 only: no duplicated rows
    capsys.readouterr()
    assert main([*argv, "--nproc", "0"]) == 2  # a usage error: one line, exit 2
    assert "--nproc must be >= 1" in capsys.readouterr().err


def test_largegt_trains_data_parallel_with_identical_replicas_and_codebooks(tmp_path):
    config = {"batch_size": 32, "hidden": 16, "num_samples": 5, "num_centroids": 8}
    args = (str(tmp_path), "largegt", config, "csbm", 2, None, True)
    launch(_train_worker, 2, args, timeout_s=300)
    for rank in (0, 1):
        s = json.loads((tmp_path / f"steps{rank}.json").read_text())
        # 180 seeds / 2 ranks = 90 per rank: 3 batches of 32 per epoch, 2 epochs
        assert s["steps"] == 6 and s["same"], s
        assert s["book_updates"] == 6 and s["book_same"], s
    (row,) = read_results(tmp_path / "ddp.jsonl")
    assert row["model"] == "largegt" and 0.0 <= row["test"] <= 1.0
