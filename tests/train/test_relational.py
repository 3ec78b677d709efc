"""The RRN layer and its trainer on Sudoku."""

import signal

import pytest
import torch

from graphlib_pyg.data.sudoku import load_sudoku
from graphlib_pyg.nn.gated_stack import GatedStack
from graphlib_pyg.nn.rrn import RRN
from graphlib_pyg.train.relational import RelationalTrainer

TINY = {"hidden": 32, "embed": 8, "mlp_layers": 2, "weight_decay": 0.0}


@pytest.fixture(scope="module")
def easy():
    """Many givens: each blank is the one digit its peers lack."""
    return load_sudoku(64, 16, 16, givens=78, seed=0)


def test_rrn_returns_logits_at_every_step_and_takes_any_step_count(easy):
    x, edge_index, _ = easy.batch(easy.split(0).val[:3])
    model = RRN([10, 9, 9], 9, hidden_channels=16, embed_channels=4)
    out = model(x, edge_index, steps=5)
    assert out.shape == (5, 243, 9)
    assert torch.allclose(model(x, edge_index, steps=7)[:5], out, atol=1e-6)  # same first steps
    one = model(x[:81], edge_index[:, :1620], steps=5)  # a puzzle alone = its part of a batch
    assert torch.allclose(one, out[:, :81], atol=1e-5)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="steps"):
        model(x, edge_index, steps=0)


def test_rrn_starts_as_the_reference_glorot_and_forget_bias_one():
    model = RRN([10, 9, 9], 9, hidden_channels=64)
    w = model.message_mlp[2].weight  # 64 x 64 Glorot-uniform: bound sqrt(6 / 128)
    assert w.abs().max() <= (6 / 128) ** 0.5 and w.std() > 0.8 * (2 / 128) ** 0.5
    assert torch.all(model.message_mlp[2].bias == 0)
    assert torch.all(model.cell.bias_ih[64:128] == 1) and torch.all(model.cell.bias_ih[:64] == 0)
    assert len([m for m in model.message_mlp if isinstance(m, torch.nn.Linear)]) == 4


def test_rrn_equals_the_paper_formula_computed_edge_by_edge(easy):
    """The fast path (message MLP's first layer per node) against the plain per-edge MLP."""
    x, edge_index, _ = easy.batch(easy.split(0).val[:2])
    model = RRN([10, 9, 9], 9, hidden_channels=8, embed_channels=4)
    emb = torch.cat([e(x[:, k]) for k, e in enumerate(model.encoder.embeddings)], -1)
    x0 = model.encoder.mlp(emb)
    h, src, dst = x0, edge_index[0], edge_index[1]
    state = (torch.zeros_like(x0), torch.zeros_like(x0))  # the LSTM starts at zero
    for _ in range(3):
        msg = model.message_mlp(torch.cat([h[dst], h[src]], -1))  # (E, H)
        m = torch.zeros_like(h).index_add_(0, dst, msg)
        state = model.cell(model.input_mlp(torch.cat([m, x0], -1)), state)
        h = state[0]
    assert torch.allclose(model(x, edge_index, steps=3)[-1], model.head(h), atol=1e-5)


def test_trainer_learns_on_an_easy_set_and_reports_every_step(easy):
    cfg = {**TINY, "epochs": 8, "batch_size": 8, "lr": 1e-2, "steps": 2, "eval_steps": 4}
    r = RelationalTrainer(easy, "rrn", {**cfg, "loss_cells": "all"}).run(0)
    assert r.step_unit == "epoch" and r.params > 0 and len(r.curve) == 8
    assert r.curve.train_loss[-1] < 0.5 * r.curve.train_loss[0]
    assert len(r.extra["val_solved_by_step"]) == 4 and r.extra["eval_steps"] == 4
    assert r.val == r.extra["val_solved_by_step"][-1]
    assert r.test == r.extra["test_solved_by_step"][-1]
    assert r.extra["val_cell_accuracy"] > 0.9  # givens are copied: 78 of 81 cells


def test_blank_cell_loss_learns_the_missing_digit(easy):
    cfg = {**TINY, "epochs": 14, "batch_size": 8, "lr": 3e-3, "steps": 2, "eval_steps": 2}
    r = RelationalTrainer(easy, "rrn", cfg).run(0)
    assert r.curve.train_loss[-1] < r.curve.train_loss[0] - 0.3


def test_trainer_refuses_other_tasks_models_and_options(easy):
    with pytest.raises(TypeError, match="needs a Sudoku task"):
        RelationalTrainer(object(), "rrn")
    with pytest.raises(TypeError, match="trains models"):
        RelationalTrainer(easy, "gcn")
    with pytest.raises(TypeError, match="unknown option"):
        RelationalTrainer(easy, "rrn", {"stepz": 3})
    with pytest.raises(ValueError, match="loss_cells"):
        RelationalTrainer(easy, "rrn", {"loss_cells": "some"})


def test_gated_stack_is_a_layer_per_step_with_its_own_weights(easy):
    x, edge_index, _ = easy.batch(easy.split(0).val[:2])
    model = GatedStack([10, 9, 9], 9, num_layers=4, hidden_channels=8, embed_channels=4)
    out = model(x, edge_index, steps=4)
    assert out.shape == (4, 162, 9)
    assert torch.allclose(model(x, edge_index, steps=2), out[:2], atol=1e-6)
    h = model.encoder(x)  # layer by layer, by hand: the stack, not one shared layer
    for layer in model.layers[:3]:
        h = layer(h, edge_index)
    assert torch.allclose(model.head(h), out[2], atol=1e-5)
    w = [layer.weight for layer in model.layers]
    assert not torch.equal(w[0], w[1])  # untied
    with pytest.raises(ValueError, match="steps must be in 1..4"):
        model(x, edge_index, steps=5)


def test_ggnn_baseline_trains_and_is_evaluated_at_its_depth(easy):
    cfg = {**TINY, "epochs": 3, "batch_size": 8, "lr": 1e-2, "steps": 3}
    r = RelationalTrainer(easy, "ggnn", cfg).run(0)
    assert r.extra["eval_steps"] == 3 and len(r.extra["val_solved_by_step"]) == 3
    assert r.curve.train_loss[-1] < r.curve.train_loss[0]
    with pytest.raises(ValueError, match="eval_steps=5 exceeds the 3 steps"):
        RelationalTrainer(easy, "ggnn", {**cfg, "eval_steps": 5}).run(0)


def test_bf16_training_matches_fp32_closely_at_the_first_step(easy):
    cfg = {**TINY, "epochs": 1, "batch_size": 8, "lr": 1e-2, "steps": 2, "eval_steps": 2}
    fp32 = RelationalTrainer(easy, "rrn", cfg).run(0)
    bf16 = RelationalTrainer(easy, "rrn", {**cfg, "precision": "bf16"}).run(0)
    assert abs(fp32.curve.train_loss[0] - bf16.curve.train_loss[0]) < 0.05
    assert fp32.curve.train_loss[0] != bf16.curve.train_loss[0]  # autocast did run
    with pytest.raises(ValueError, match="unknown precision"):
        RelationalTrainer(easy, "rrn", {"precision": "fp16"})


def _interrupt_at(epoch: int):
    """A progress callback that sends SIGINT at the end of ``epoch`` (the fit loop saves, then
    the signal goes on as ``KeyboardInterrupt``)."""

    def progress(step: int, loss: float, val: float) -> None:
        if step == epoch:
            signal.raise_signal(signal.SIGINT)

    return progress


def test_an_interrupted_rrn_run_resumes_to_the_uninterrupted_result(easy, tmp_path):
    cfg = {**TINY, "epochs": 5, "batch_size": 16, "lr": 1e-2, "steps": 2, "eval_steps": 3}
    ref = RelationalTrainer(easy, "rrn", cfg).run(seed=1)
    path = tmp_path / "run.pt"
    first = RelationalTrainer(easy, "rrn", cfg, progress=_interrupt_at(3))
    first.checkpoint = path
    with pytest.raises(KeyboardInterrupt):
        first.run(seed=1)
    assert torch.load(path, weights_only=True)["loop"]["epoch"] == 3
    again = RelationalTrainer(easy, "rrn", cfg)
    again.checkpoint = path
    res = again.run(seed=1)
    assert res.curve.to_dict() == ref.curve.to_dict() and res.test == ref.test
    assert res.extra == ref.extra  # evaluations before the interruption came back too
    assert not path.exists()  # a finished run deletes its checkpoint
    with pytest.raises(ValueError, match="checkpoint_every"):
        RelationalTrainer(easy, "rrn", {**cfg, "checkpoint_every": -1})
