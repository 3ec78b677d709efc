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
    # NCN/NCNC (Wang et al.): one "pure" propagation layer, 100 epochs, no weight decay,
    # selection on validation Hits every epoch. Per-dataset settings are in PAIR_DEFAULTS.
    "ncn": {"hidden": 256, "num_layers": 1, "epochs": 100, "weight_decay": 0.0},
    "ncnc": {"hidden": 256, "num_layers": 1, "epochs": 100, "weight_decay": 0.0},
    # LargeGT trains on mini-batches of seeds and evaluates in seed chunks (its memory then
    # depends on the batch, not the graph); a chunk holds batch x 20 samples x 3 hop rows of
    # the raw features, so evaluation chunks stay as small as training batches. No dropout on
    # the attention weights, as in the reference code; recorded in every row's config because
    # rows from before the option existed dropped attention weights at ``dropout``.
    "largegt": {"batch_size": 1024, "eval_batch": 1024, "attn_dropout": 0.0},
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

#: NCN's published per-dataset settings (its README's commands, argument names mapped to ours:
#: xdp -> input_dropout, gnndp -> dropout, tdp -> tail_dropout, predp -> pred_dropout,
#: preedp -> pred_edge_dropout, gnnlr -> lr, prelr -> pred_lr, mplayers -> num_layers).
_NCN_PAIRS: dict[str, dict] = {
    "cora": {
        "input_dropout": 0.7,
        "tail_dropout": 0.3,
        "pred_edge_dropout": 0.4,
        "pred_dropout": 0.05,
        "dropout": 0.05,
        "lr": 0.0043,
        "pred_lr": 0.0024,
        "batch_size": 1152,
        "jk": True,
        "eval_batch": 8192,
    },
    "citeseer": {
        "input_dropout": 0.4,
        "tail_dropout": 0.0,
        "pred_edge_dropout": 0.0,
        "pred_dropout": 0.55,
        "dropout": 0.75,
        "lr": 0.0085,
        "pred_lr": 0.0078,
        "batch_size": 384,
        "jk": True,
        "twolayerlin": True,
        "eval_batch": 4096,
    },
    "ogbl-ddi": {
        "aggr": "sum",
        "hidden": 224,
        "num_layers": 1,
        "input_dropout": 0.05,
        "tail_dropout": 0.0,
        "pred_edge_dropout": 0.0,
        "pred_dropout": 0.6,
        "dropout": 0.4,
        "lr": 0.0021,
        "pred_lr": 0.0018,
        "batch_size": 24576,
        "tailact": False,
        "twolayerlin": True,
        "residual": True,
        "epochs": 100,
        "eval_every": 1,
        "eval_batch": 131072,
    },
}
#: NCNC's completion calibration per dataset (probscale, proboffset, pt, alpha).
_NCNC_PAIRS: dict[str, dict] = {
    "cora": {"prob_scale": 4.3, "prob_offset": 2.8, "pt": 0.75, "alpha": 1.0},
    "citeseer": {"prob_scale": 6.5, "prob_offset": 4.4, "pt": 0.75, "alpha": 0.4},
    "ogbl-ddi": {"prob_scale": 10.0, "prob_offset": 3.0, "pt": 0.1, "alpha": 0.5},
}

#: The classic-GNN baselines of Platonov et al. (ICLR 2023) on their heterophilous datasets:
#: pre-norm residual blocks with an FFN (``residual=True``, :class:`ResidualGNN`), 5 layers,
#: width 512 (GAT: 8 heads of 64), dropout 0.2, lr 3e-5, no weight decay, 1000 full-batch steps,
#: the best validation step reported (no early stopping).
_PLATONOV: dict = {
    "residual": True,
    "hidden": 512,
    "num_layers": 5,
    "dropout": 0.2,
    "input_dropout": 0.0,
    "lr": 3e-5,
    "weight_decay": 0.0,
    "epochs": 1000,
    "patience": None,
}
_HETEROPHILOUS = ("minesweeper", "tolokers", "questions", "roman-empire", "amazon-ratings")

#: LRGB (Dwivedi et al., NeurIPS 2022 Datasets & Benchmarks, "Long Range Graph Benchmark") on
#: peptides-func, the ~500k-parameter budget; files of github.com/vijaydwivedi75/lrgb (commit
#: 2410e9e). Shared: AdamW lr 1e-3, no weight decay, batch 128, 500 epochs, no dropout, mean
#: pooling, AtomEncoder (+ BondEncoder for GINE/GatedGCN), one linear layer after pooling
#: (layers_post_mp: 1; also GraphGPS's and Graph-Mamba's), reduce_on_plateau on the validation
#: loss (factor 0.5, patience 20, min_lr 1e-5). Not reproduced: GCN's batch norm after each
#: layer. GPS and Graph-Mamba keep the rest and their own schedule (_GRAPHGPS_OPTIM).
_LRGB: dict = {
    "optimizer": "adamw",
    "head_layers": 1,
    "lr": 0.001,
    "weight_decay": 0.0,
    "batch_size": 128,
    "epochs": 500,
    "dropout": 0.0,
    "input_dropout": 0.0,
}
#: Tönshoff et al. 2023, "Where Did the Gap Go? Reassessing the Long-Range Graph Benchmark":
#: tuned configs, github.com/toenshoff/LRGB configs/LRGB-tuned/peptides-func-*.yaml. Shared:
#: AdamW lr 1e-3, no weight decay, batch 200, 250 epochs, dropout 0.1, GELU, residual, cosine
#: schedule after 5 warm-up epochs, gradients clipped to norm 1 (GraphGPS's
#: clip_grad_norm_value). Not reproduced: RWSE (20 steps, dim 28; graph tasks take no pe
#: option), the head's GELU and its dropout of the pooled input (ours: ReLU, dropout after the
#: hidden layers only). Graph head: 3 layers (``layers_post_mp``), dropout 0.1. GCN's layers are
#: its graphgps/layer/gcn_conv_layer.py: h + dropout(gelu(GCNConv(h))), no norm (``residual=sum``).
_TUNED: dict = {
    "optimizer": "adamw",
    "scheduler": "cosine",
    "warmup_epochs": 5,
    "clip_grad_norm": 1.0,
    "lr": 0.001,
    "weight_decay": 0.0,
    "batch_size": 200,
    "epochs": 250,
    "dropout": 0.1,
    "input_dropout": 0.0,
    "head_layers": 3,
    "head_dropout": 0.1,
}
#: LRGB's schedule for its GCN, GINE and GatedGCN configs (optim: reduce_on_plateau).
_LRGB_PLATEAU: dict = {
    **_LRGB,
    "scheduler": "plateau",
    "plateau_factor": 0.5,
    "plateau_patience": 20,
    "min_lr": 1e-5,
}
#: The optimiser of GraphGPS's and Graph-Mamba's peptides-func configs (``optim:``): AdamW, a
#: cosine schedule after 10 warm-up epochs, gradients clipped to norm 1 (clip_grad_norm_value).
_GRAPHGPS_OPTIM: dict = {
    "optimizer": "adamw",
    "scheduler": "cosine",
    "warmup_epochs": 10,
    "clip_grad_norm": 1.0,
}
#: Published peptides-func settings per model, by source. The ``lrgb`` set is the default
#: (:data:`PAIR_DEFAULTS`); ``tuned`` is selected with ``resolve_config(..., preset="tuned")``.
PEPTIDES_PRESETS: dict[str, dict[str, dict]] = {
    "lrgb": {
        # configs/GCN/peptides-func-GCN.yaml (paper: 507,910 parameters, test AP 0.5930)
        "gcn": {**_LRGB_PLATEAU, "hidden": 300, "num_layers": 5},
        # configs/GINE/peptides-func-GINE.yaml (475,498 parameters, AP 0.5498)
        "gine": {**_LRGB_PLATEAU, "hidden": 208, "num_layers": 5, "residual": True, "act": "relu"},
        # configs/GatedGCN/peptides-func-GatedGCN.yaml (509,368 parameters, AP 0.5864); the
        # +RWSE variant (AP 0.6069) needs RWSE, not available for graph tasks
        "gatedgcn": {
            **_LRGB_PLATEAU,
            "hidden": 138,
            "num_layers": 5,
            "residual": True,
            "act": "relu",
        },
        # GraphGPS (Rampasek et al. 2022) ran LRGB: github.com/rampasek/GraphGPS
        # configs/GPS/peptides-func-GPS.yaml: GatedGCN+Transformer, 4 layers, width 96, 4 heads,
        # attention dropout 0.5, AdamW lr 3e-4, 200 epochs, cosine schedule after 10 warm-up
        # epochs, gradients clipped to norm 1. Not reproduced: LapPE (DeepSet, 10 frequencies,
        # dim 16), GatedGCN edge states carried between GPS layers.
        "gps": {
            **_LRGB,
            **_GRAPHGPS_OPTIM,
            "hidden": 96,
            "num_layers": 4,
            "heads": 4,
            "local_conv": "gatedgcn",
            "attn_dropout": 0.5,
            "lr": 0.0003,
            "epochs": 200,
        },
        # Graph-Mamba (Wang et al. 2024): github.com/bowang-lab/Graph-Mamba
        # configs/Mamba/peptides-func-EX.yaml: width 96, lr 1e-3, weight decay 0.01, 200 epochs,
        # batch 128, no dropout; gt.layers is not set there: 3 is the default of its
        # graphgps/config/gt_config.py; AdamW, cosine schedule after 10 warm-up epochs, clipping
        # to norm 1. Not reproduced: the GatedGCN local branch with bond features (ours: gcn, no
        # edge features), LapPE.
        "graph_mamba": {
            **_LRGB,
            **_GRAPHGPS_OPTIM,
            "hidden": 96,
            "num_layers": 3,
            "weight_decay": 0.01,
            "epochs": 200,
        },
        # GMN (Behrouz & Hashemi 2024): github.com/GraphMamba/GMN holds only a README; no
        # peptides-func configuration was found, so gmn has no peptides-func defaults.
    },
    "tuned": {
        # test AP 0.6860 (Tönshoff et al. 2023, Table 1)
        "gcn": {**_TUNED, "hidden": 235, "num_layers": 6, "residual": "sum", "act": "gelu"},
        "gine": {**_TUNED, "hidden": 160, "num_layers": 8, "residual": True, "act": "gelu"},
        "gatedgcn": {**_TUNED, "hidden": 95, "num_layers": 10, "residual": True, "act": "gelu"},
        # GatedGCN+Transformer, LapPE (not reproduced), attention dropout 0.5
        "gps": {
            **_TUNED,
            "hidden": 76,
            "num_layers": 6,
            "heads": 4,
            "local_conv": "gatedgcn",
            "attn_dropout": 0.5,
            "head_layers": 2,  # layers_post_mp: 2
        },
    },
}

#: Per (dataset, model) overrides.
PAIR_DEFAULTS: dict[tuple[str, str], dict] = {
    **{(d, m): _PLATONOV for d in _HETEROPHILOUS for m in ("gcn", "sage")},
    **{(d, "gat"): {**_PLATONOV, "hidden": 64, "heads": 8} for d in _HETEROPHILOUS},
    ("citeseer", "dagnn"): {"dropout": 0.5, "weight_decay": 0.02},  # DAGNN paper, CiteSeer
    **{(d, m): cfg for m in ("ncn", "ncnc") for d, cfg in _NCN_PAIRS.items()},
    **{(d, "ncnc"): {**_NCN_PAIRS[d], **cfg} for d, cfg in _NCNC_PAIRS.items()},
    **{("peptides-func", m): cfg for m, cfg in PEPTIDES_PRESETS["lrgb"].items()},
}


#: Where each table's values come from, as ``graphlib options`` prints it: a paper (its
#: setting), a reference code base, or ours (the harness's choice where no source sets one).
MODEL_SOURCES: dict[str, str] = {
    "mlp": "ours",
    "gcn": "paper: Kipf & Welling 2017, Planetoid setting",
    "sage": "ours",
    "gat": "paper: Velickovic et al. 2018, Planetoid setting",
    "gin": "ours",
    "dagnn": "paper: Liu et al. 2020 (DAGNN), Cora",
    "ncn": "paper: Wang et al. 2024 (NCN)",
    "ncnc": "paper: Wang et al. 2024 (NCN)",
    "largegt": "reference code: LargeGT (seed batches, no attention-weight dropout)",
}
DATASET_SOURCES: dict[str, str] = {
    "ogbl-ddi": "reference code: OGB's examples/linkproppred/ddi (GCN/SAGE)",
    "sbm-link": "ours",
    "csbm": "ours",
}


def pair_source(dataset: str, model: str) -> str:
    """Where the (dataset, model) defaults of :data:`PAIR_DEFAULTS` come from."""
    if dataset in _HETEROPHILOUS:
        return "paper: Platonov et al. 2023, classic-GNN baselines"
    if model in ("ncn", "ncnc"):
        return "reference code: NCN's README commands (Wang et al. 2024)"
    if dataset == "peptides-func":
        return "reference code: the LRGB, GraphGPS or Graph-Mamba configs (see PEPTIDES_PRESETS)"
    if (dataset, model) == ("citeseer", "dagnn"):
        return "paper: Liu et al. 2020 (DAGNN), CiteSeer"
    return "ours"


def resolve_config(
    model: str, dataset: str, user: dict | None = None, preset: str | None = None
) -> dict:
    """Merge the defaults for ``model`` on ``dataset`` with the user's options.

    ``preset`` (``"lrgb"`` or ``"tuned"``, peptides-func only) takes that published set's
    settings in place of the (dataset, model) defaults.
    """
    pair = PAIR_DEFAULTS.get((dataset, model), {})
    if preset is not None:
        if dataset != "peptides-func" or preset not in PEPTIDES_PRESETS:
            raise KeyError(
                f"preset {preset!r} on {dataset!r}: presets exist for peptides-func: "
                f"{', '.join(PEPTIDES_PRESETS)}"
            )
        pair = PEPTIDES_PRESETS[preset].get(model, {})
    return {
        **MODEL_DEFAULTS.get(model, {}),
        **DATASET_DEFAULTS.get(dataset, {}),
        **pair,
        **(user or {}),
    }
