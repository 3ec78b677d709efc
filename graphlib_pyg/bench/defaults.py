"""Default hyper-parameters per model and dataset, as published for each baseline.

Precedence, lowest first: trainer defaults, model defaults, dataset defaults, (dataset, model)
defaults, then what the user passes. Keeping them here (data, not code paths) means a benchmark
row records its full resolved config and can be rerun exactly.
"""

from __future__ import annotations

#: Per-model defaults (Planetoid-style settings from the GCN and GAT papers).
MODEL_DEFAULTS: dict[str, dict] = {
    "mlp": {"hidden": 64, "dropout": 0.5},
    "gcn": {"hidden": 16, "dropout": 0.5, "input_dropout": 0.5},
    "sage": {"hidden": 64, "dropout": 0.5},
    "gat": {
        "hidden": 8,
        "heads": 8,
        "out_heads": 1,
        "dropout": 0.6,
        "input_dropout": 0.6,
        "lr": 0.005,
        "epochs": 1000,
        "patience": 100,
    },
    "gin": {"hidden": 64, "dropout": 0.5},
    # DAGNN paper (Cora): K=10, hidden 64, dropout 0.8, lr 0.01, wd 0.005, patience 100.
    "dagnn": {
        "hidden": 64,
        "K": 10,
        "dropout": 0.8,
        "lr": 0.01,
        "weight_decay": 0.005,
        "epochs": 1000,
        "patience": 100,
    },
}

#: Per-dataset defaults (overrides model defaults).
DATASET_DEFAULTS: dict[str, dict] = {
    # OGB's ogbl-ddi GCN/SAGE examples: 2 layers, 256 hidden, learnable embedding, 64k batches.
    "ogbl-ddi": {
        "hidden": 256,
        "num_layers": 2,
        "dropout": 0.5,
        "input_dropout": 0.0,
        "lr": 0.005,
        "weight_decay": 0.0,
        "batch_size": 65536,
        "epochs": 200,
        "pred_layers": 2,
        "eval_every": 5,
    },
    "sbm-link": {
        "hidden": 64,
        "input_dropout": 0.0,
        "batch_size": 2048,
        "epochs": 100,
        "weight_decay": 0.0,
    },
    "csbm": {"epochs": 100},
}

#: Per (dataset, model) overrides.
PAIR_DEFAULTS: dict[tuple[str, str], dict] = {
    ("citeseer", "dagnn"): {"dropout": 0.5, "weight_decay": 0.02},  # DAGNN paper, CiteSeer
}


def resolve_config(model: str, dataset: str, user: dict | None = None) -> dict:
    """Merge the defaults for ``model`` on ``dataset`` with the user's options."""
    return {
        **MODEL_DEFAULTS.get(model, {}),
        **DATASET_DEFAULTS.get(dataset, {}),
        **PAIR_DEFAULTS.get((dataset, model), {}),
        **(user or {}),
    }
