"""The report of a ``graphlib tune`` study, rendered from the study's database.

``write_report(study, out_dir)`` writes ``tune.md`` (the setup, trial counts, the best
configuration as a ``graphlib bench`` command, the top trials by mean validation score) and
Optuna's matplotlib plots as PNG: ``history.png`` (optimisation history),
``importances.png`` (fANOVA parameter importances) and ``slice_<param>.png`` per parameter.
Everything is read from the study (any process may have run its trials), never from memory.
"""

from __future__ import annotations

import statistics
from pathlib import Path


def _params(params: dict) -> str:
    return " ".join(f"{k}={_fmt(v)}" for k, v in sorted(params.items()))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace(" ", "")


def _score(trial) -> str:
    vals = trial.user_attrs.get("val_runs") or [trial.value]
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{100 * statistics.fmean(vals):.2f} ± {100 * std:.2f}"


def trials_table(study, top: int = 10) -> str:
    """The ``top`` complete trials by mean validation score, as a Markdown table."""
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    done = sorted(done, key=lambda t: t.value, reverse=True)[:top]
    keys = sorted({k for t in done for k in t.params})
    lines = [
        "| rank | trial | val (mean ± std over seeds) | seeds | "
        + " | ".join(keys)
        + " | seconds |",
        "|---:|---:|---:|---:|" + "---:|" * len(keys) + "---:|",
    ]
    for rank, t in enumerate(done, 1):
        cells = [_fmt(t.params[k]) if k in t.params else "" for k in keys]
        seconds = t.duration.total_seconds() if t.duration else float("nan")
        seeds = len(t.user_attrs.get("val_runs", [t.value]))
        lines.append(
            f"| {rank} | {t.number} | {_score(t)} | {seeds} | "
            + " | ".join(cells)
            + f" | {seconds:.0f} |"
        )
    return "\n".join(lines)


def _plots(study, out: Path) -> tuple[dict[str, Path], list[str]]:
    """Optuna's matplotlib plots as PNG; what could not be drawn comes back as notes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm

    params = sorted({k for t in study.trials for k in t.params})
    jobs = [("history", ovm.plot_optimization_history, {})]
    jobs.append(("importances", ovm.plot_param_importances, {}))
    jobs += [(f"slice_{p}", ovm.plot_slice, {"params": [p]}) for p in params]
    paths, notes = {}, []
    for name, plot, kwargs in jobs:
        try:
            ax = plot(study, **kwargs)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:  # e.g. too few trials
            notes.append(f"{name}: not drawn ({err})")
            continue
        fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
        fig.set_size_inches(7, 4.5)
        fig.tight_layout()
        paths[name] = out / f"{name}.png"
        fig.savefig(paths[name], dpi=110)
        plt.close(fig)
    return paths, notes


def write_report(study, out_dir: str | Path, top: int = 10) -> dict[str, Path]:
    """Write ``tune.md`` and the PNG plots of ``study`` into ``out_dir``; their paths by kind
    (``markdown``, ``history``, ``importances``, ``slice_<param>``)."""
    import optuna

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    setup = study.user_attrs.get("setup", {})
    counts = {s.name.lower(): 0 for s in optuna.trial.TrialState}
    for t in study.trials:
        counts[t.state.name.lower()] += 1
    seconds = sum(t.duration.total_seconds() for t in study.trials if t.duration)
    lines = [
        f"# Study `{study.study_name}`",
        "",
        f"{setup.get('model')} on {setup.get('dataset')} (trainer {setup.get('trainer')}, "
        f"augment {setup.get('augment')}); {setup.get('runs_per_trial')} seed(s) per trial, "
        "selection on the mean validation score.",
        "",
        "Search space: " + ", ".join(f"`{k}={v}`" for k, v in setup.get("space", {}).items()),
        "",
        f"Trials: {counts['complete']} complete, {counts['pruned']} pruned, "
        f"{counts['fail']} failed, {counts['running']} running; {seconds / 60:.1f} min of "
        "trial time in all.",
        "",
    ]
    paths, notes = {}, []
    if counts["complete"]:
        best = study.best_trial
        fixed = _params({**setup.get("fixed", {}), **best.params})
        data = " ".join(f"data.{k}={_fmt(v)}" for k, v in sorted(setup.get("data", {}).items()))
        command = f"graphlib bench --model {setup.get('model')} --dataset {setup.get('dataset')}"
        if setup.get("trainer") not in (None, "backprop"):
            command += f" --trainer {setup['trainer']}"
        if setup.get("augment") not in (None, "none"):
            command += f" --augment {setup['augment']}"
        if setup.get("epochs"):
            command += f" --epochs {setup['epochs']}"
        lines += [
            f"Best: trial {best.number}, validation {_score(best)} (x100).",
            "",
            "```",
            f"{command} {fixed} {data}".rstrip(),
            "```",
            "",
            f"## Top {min(top, counts['complete'])} trials",
            "",
            trials_table(study, top),
            "",
        ]
        paths, notes = _plots(study, out)
    else:
        lines.append("No trial has completed yet.")
    if paths:
        lines += ["## Plots", ""] + [f"![{k}]({p.name})" for k, p in paths.items()] + [""]
    lines += [f"- {note}" for note in notes]
    md = out / "tune.md"
    md.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return {"markdown": md, **paths}
