"""robustness.json, adversarial.jsonl, robustness.png (metric vs severity per perturbation) and robustness.html."""

from __future__ import annotations

import json
import math
import os

from ..data.readers import write_jsonl
from ..files import atomic_write_text
from ..html import figure_to_data_uri, plain_text_figures, write_page
from .attack import display

N_SAMPLES = 3  # perturbed examples shown per perturbation


def samples(examples: list[dict], sets: list[dict]) -> list[dict]:
    """The first examples before and after each perturbation, at its middle severity."""
    out, seen = [], set()
    by_name: dict[str, list[dict]] = {}
    for s in sets:
        by_name.setdefault(s["perturbation"], []).append(s)
    for name, group in by_name.items():
        s = group[len(group) // 2]
        for e, p in list(zip(examples, s["examples"]))[:N_SAMPLES]:
            before, after = display(e), display(p)
            if (name, before) not in seen:
                seen.add((name, before))
                out.append({"perturbation": name, "severity": s["severity"], "before": before, "after": after})
    return out


@plain_text_figures()  # the metric and perturbation names drawn as written
def plot(result: dict):
    """One panel per graded perturbation: the metric at severity 0 (clean) and at each severity, per model."""
    import matplotlib.pyplot as plt  # the decorator has switched to Agg

    rows = result["rows"]
    clean = rows[0]
    names = []
    for r in rows[1:]:
        if r["severity"] is not None and r["perturbation"] not in names:
            names.append(r["perturbation"])
    models = [k for k in ("model", "compare") if k in clean]
    cols = min(4, max(1, len(names)))
    nrows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), squeeze=False, sharey=True)
    for ax, name in zip(axes.flat, names):
        points = [r for r in rows if r["perturbation"] == name]
        xs = [0.0] + [r["severity"] for r in points]
        for key, style in zip(models, ("o-", "s--")):
            label = "robust (--compare)" if key == "compare" else "model"
            ax.plot(xs, [clean[key]] + [r[key] for r in points], style, label=label)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("share of words touched", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes[0][0].set_ylabel(result["metric"])
    if len(models) > 1:
        axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def table_rows(result: dict) -> list[dict]:
    out = []
    clean = result["rows"][0]
    for r in result["rows"]:
        row = {"perturbation": r["perturbation"], "severity": "-" if r["severity"] is None else r["severity"],
               "words changed": "-" if r["words_changed"] is None else round(r["words_changed"], 3),
               "model": r["model"], "drop": r["model"] - clean["model"]}
        if "compare" in r:
            row["compare"] = r["compare"]
            row["compare drop"] = r["compare"] - clean["compare"]
        out.append(row)
    return out


def write(output: str, result: dict, adversarial: dict) -> None:
    atomic_write_text(os.path.join(output, "robustness.json"), json.dumps(result, indent=1))
    for key, rows in adversarial.items():
        name = "adversarial.jsonl" if key == "model" else f"adversarial_{key}.jsonl"
        write_jsonl(os.path.join(output, name), rows)
    fig = plot(result)
    fig.savefig(os.path.join(output, "robustness.png"), dpi=110)
    uri = figure_to_data_uri(fig)
    columns = ["perturbation", "severity", "words changed", "model", "drop"]
    if result.get("compare"):
        columns += ["compare", "compare drop"]
    cards = {"examples": result["examples"], f"clean {result['metric']}": result["rows"][0]["model"]}
    worst = min(result["rows"][1:], key=lambda r: r["model"], default=None)
    if worst:
        cards[f"worst: {worst['perturbation']}"] = worst["model"]
    attack_rows = [{"model": key, **a} for key, a in result.get("attack", {}).items()]
    if attack_rows:
        cards["attack success rate"] = attack_rows[0]["attack_success_rate"]
    behaviour = [{"model": key, **{k: v for k, v in t.items() if k != "failures"}}
                 for key, tests in result.get("behaviour", {}).items() for t in tests]
    failures = [{"model": key, "test": t["name"], **f} for key, tests in result.get("behaviour", {}).items()
                for t in tests for f in t["failures"][:5]]
    nav = [("Perturbations", "perturbations")] + ([("Attack", "attack")] if attack_rows else []) + \
        ([("Behaviour", "behaviour")] if behaviour else []) + [("Samples", "samples")]
    write_page(os.path.join(output, "robustness.html"), "robustness.html.j2", title="Robustness report",
               subtitle=f"{result['task']} model {result['model']} on {result['data']}", nav=nav, cards=cards,
               plot=uri, rows=table_rows(result), columns=columns, attack=attack_rows,
               adversarial=[a for rows in adversarial.values() for a in rows][:20], behaviour=behaviour,
               failures=failures, samples=result["samples"], metric=result["metric"], seed=result["seed"])
