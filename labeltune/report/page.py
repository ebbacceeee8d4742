"""report.html: curves, per-class / per-entity metrics, confusion matrices, calibration and worst errors."""

from __future__ import annotations

import os

import numpy as np

from ..html import figure_to_data_uri, plain_text_figures, write_page
from . import MAX_ERRORS, SPLITS, scalar_metrics, score_metrics
from .calibration import reliability


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    return plt


def training_curves(log: list[dict]) -> str | None:
    """Training loss and learning rate per step (from train_log.jsonl)."""
    steps = [r for r in log if "loss" in r and "eval" not in r]
    if not steps:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], color="#2563eb", label="training loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    if any("lr" in r for r in steps):
        lr_ax = ax.twinx()
        lr_ax.plot([r["step"] for r in steps], [r.get("lr", 0.0) for r in steps], color="#9ca3af", linestyle="--",
                   label="learning rate")
        lr_ax.set_ylabel("learning rate")
        lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ax.legend(loc="upper right")
    fig.tight_layout()
    return figure_to_data_uri(fig)


def evaluation_curves(log: list[dict], selection: str | None) -> str | None:
    """Each scalar validation metric per evaluation step; the selection metric drawn bold."""
    evals = [r for r in log if isinstance(r.get("eval"), dict)]
    if not evals:
        return None
    names = sorted({k for r in evals for k in scalar_metrics(r["eval"]) if k in score_metrics(r["eval"]) or k == selection})
    if not names:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for name in names:
        points = [(r["step"], r["eval"][name]) for r in evals if name in r["eval"]]
        ax.plot(*zip(*points), marker="o", linewidth=2.5 if name == selection else 1, label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("validation score")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return figure_to_data_uri(fig)


@plain_text_figures()  # class names are user text: drawn as written, not read as mathtext
def confusion_plot(matrix: dict) -> str:
    labels, counts = matrix["labels"], np.array(matrix["rows_gold_cols_pred"])
    plt = _plt()
    size = min(2.5 + 0.45 * len(labels), 12)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    if len(labels) <= 30:
        top = counts.max() or 1
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if counts[i, j] > top / 2 else "black")
    fig.tight_layout()
    return figure_to_data_uri(fig)


def reliability_plot(rel: dict, title: str) -> str:
    """Reliability diagram: accuracy per confidence bin against the diagonal of perfect calibration."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 4))
    filled = [b for b in rel["bins"] if b["n"]]
    ax.bar([b["low"] for b in filled], [b["accuracy"] for b in filled], width=[b["high"] - b["low"] for b in filled],
           align="edge", color="#60a5fa", edgecolor="#1e3a8a", label="accuracy")
    ax.plot([0, 1], [0, 1], linestyle="--", color="#6b7280", label="perfect calibration")
    ax.plot([b["confidence"] for b in filled], [b["accuracy"] for b in filled], "o", color="#dc2626", label="mean confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}: ECE {rel['ece']:.3f} (n={rel['n']})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return figure_to_data_uri(fig)


def _per_class_rows(table: dict) -> list[dict]:
    return [{"name": name, **{k: v for k, v in row.items()}} for name, row in table.items()]


def page_context(run: dict) -> dict:
    from ..tasks import get_task

    meta, metrics, config = run["meta"], run["metrics"], run["config"]
    task = get_task(meta["task"])
    selection = metrics.get("selection_metric")
    cards = {}
    for split in SPLITS:
        for k, v in score_metrics(metrics.get(split)).items():
            cards[f"{split} {k}"] = v
    tables, confusions, calibrations, errors = [], [], [], []
    hook = getattr(task, "report_view", None)  # optional: the task's worst errors and calibration data
    for split in SPLITS:
        scores = metrics.get(split) or {}
        for key, what in (("per_class", "class"), ("per_type", "entity type")):
            if scores.get(key):
                tables.append({"split": split, "what": what, "rows": _per_class_rows(scores[key])})
        if scores.get("confusion_matrix"):
            confusions.append({"split": split, "src": confusion_plot(scores["confusion_matrix"])})
        rows = run["predictions"].get(split) or []
        if hook is None or not rows:
            continue
        view = hook(rows, meta["setup"])
        if view.get("calibration") is not None and len(view["calibration"]["gold"]):
            rel = reliability(view["calibration"]["probs"], view["calibration"]["gold"])
            calibrations.append({"split": split, "ece": rel["ece"], "n": rel["n"],
                                 "src": reliability_plot(rel, split), "bins": [b for b in rel["bins"] if b["n"]]})
        errors.append({"split": split, "rows": view["errors"][:MAX_ERRORS], "total": len(view["errors"]),
                       "n": len(rows), "columns": view["columns"]})
    recipe_keys = ("model", "epochs", "max_steps", "lr", "batch_size", "grad_accum", "warmup_ratio", "weight_decay",
                   "max_length", "precision_used", "seed", "peft", "train", "validation", "test",
                   "validation_fraction", "test_fraction")
    recipe = [{"setting": k, "value": str(config[k])} for k in recipe_keys if config.get(k) not in (None, "")]
    nav = [("Curves", "curves"), ("Metrics", "metrics")]
    nav += [("Confusion", "confusion")] if confusions else []
    nav += [("Calibration", "calibration")] if calibrations else []
    nav += [("Errors", "errors")] if errors else []
    nav += [("Recipe", "recipe")]
    return {
        "title": f"labeltune run report: {meta['task']}", "nav": nav,
        "subtitle": f"{os.path.abspath(run['directory'])} · model {metrics.get('model', config.get('model', '?'))}",
        "cards": cards, "loss_plot": training_curves(run["log"]), "eval_plot": evaluation_curves(run["log"], selection),
        "selection": selection, "best_step": metrics.get("best_step"), "steps": metrics.get("steps"),
        "tables": tables, "confusions": confusions, "calibrations": calibrations,
        "calibration_fit": metrics.get("calibration"), "errors": errors, "recipe": recipe,
        "split": run["split"], "export": run["export"],
    }


def write_page_for(run: dict) -> str:
    return write_page(os.path.join(run["directory"], "report.html"), "report.html.j2", **page_context(run))
