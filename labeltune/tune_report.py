"""What `labeltune tune` reports: each setting's mean, standard deviation and standard error over folds, the
choice by rule (best mean, or one-SE), the plot of the cross-validation (tune_cv.png) and tune_report.md.

Split out of tune.py (whose `tune` calls these and writes tune_report.json).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from .errors import UserError

REPORT_JSON, REPORT_MD, PLOT = "tune_report.json", "tune_report.md", "tune_cv.png"


def summarize(fold_scores: list[float]) -> dict:
    """Mean, sample standard deviation and standard error of the mean of one setting's fold scores."""
    mean = statistics.fmean(fold_scores)
    sd = statistics.stdev(fold_scores) if len(fold_scores) > 1 else 0.0
    return {"mean": mean, "sd": sd, "se": sd / math.sqrt(len(fold_scores))}


def choose(rows: list[dict], rule: str) -> tuple[dict, dict, str]:
    """(chosen row, best-mean row, one sentence why) from rows with params and fold_scores.

    best: the highest mean (ties: the smaller rate, then fewer epochs). one-se (Hastie, Tibshirani and
    Friedman, ESL 7.10): among the settings whose mean is at least best mean - best SE, the largest rate
    (a larger rate reaches the same score in fewer steps; ties: the higher mean).
    """
    if not rows:
        raise UserError("no finished trials to choose from")
    rows = [{**r, **summarize(r["fold_scores"])} for r in rows]
    best = max(rows, key=lambda r: (r["mean"], -r["params"]["lr"], -r["params"]["epochs"]))
    if rule == "best":
        return best, best, f"best mean {best['mean']:.4f} (+- {best['sd']:.4f} sd over {len(best['fold_scores'])} folds)"
    floor = best["mean"] - best["se"]
    within = [r for r in rows if r["mean"] >= floor]
    chosen = max(within, key=lambda r: (r["params"]["lr"], r["mean"]))
    why = (f"one-SE rule: best mean {best['mean']:.4f} at lr {best['params']['lr']:g}, SE {best['se']:.4f}, floor "
           f"{floor:.4f}; the largest rate with a mean at or above the floor is {chosen['params']['lr']:g} "
           f"(mean {chosen['mean']:.4f})")
    return chosen, best, why


def plot(rows: list[dict], chosen: dict, best: dict, rule: str, metric: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    lines = defaultdict(list)
    for r in rows:
        lines[(r["params"]["epochs"], r["params"]["batch_size"])].append(r)
    for (epochs, batch), rs in sorted(lines.items()):
        rs = sorted(rs, key=lambda r: r["params"]["lr"])
        ax.errorbar([r["params"]["lr"] for r in rs], [r["mean"] for r in rs], yerr=[r["sd"] for r in rs],
                    marker="o", capsize=4, label=f"{epochs:g} epochs, batch {batch}")
    ax.plot([chosen["params"]["lr"]], [chosen["mean"]], "r*", markersize=15, label="chosen", zorder=5)
    if rule == "one-se":
        ax.axhline(best["mean"] - best["se"], color="grey", linestyle="--", linewidth=1, label="best mean - 1 SE")
    ax.set_xscale("log")
    lrs = sorted({r["params"]["lr"] for r in rows})
    ax.minorticks_off()  # label the tried rates themselves, not log decades
    ax.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"{metric} (mean +- sd over folds)")
    ax.set_title("k-fold cross-validation")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(report: dict) -> str:
    m = report["metric"]
    lines = [f"# labeltune tune: {report['task']} on {report['train_file']}", "",
             f"{report['k']}-fold cross-validation ({report['folds']['how']}), fold sizes {report['folds']['sizes']}, "
             f"seed {report['seed']}; {report['train_examples']} training examples; learning rates "
             f"{report['lr_grid_source']}. Study `{report['study_name']}` in `{report['storage']}`.", "",
             f"| lr | epochs | batch | {m} per fold | mean +- sd | SE | trial |", "|---|---|---|---|---|---|---|"]
    for r in report["table"]:
        mark = " **(chosen)**" if r["params"] == report["chosen"]["params"] else ""
        lines.append(f"| {r['params']['lr']:g}{mark} | {r['params']['epochs']:g} | {r['params']['batch_size']} | "
                     f"{', '.join(f'{s:.4f}' for s in r['fold_scores'])} | {r['mean']:.4f} +- {r['sd']:.4f} | "
                     f"{r['se']:.4f} | {r['trial']} |")
    c = report["chosen"]
    lines += ["", f"Rule `{report['select']}`: {report['decision']}.", "",
              f"Chosen: lr {c['params']['lr']:g}, {c['params']['epochs']:g} epochs, batch {c['params']['batch_size']}; "
              f"its fold scores {', '.join(f'{s:.4f}' for s in c['fold_scores'])} come from trial(s) "
              f"{sorted({s['computed_in_trial'] for s in c['fold_sources']})}.", ""]
    if report.get("refit"):
        rf = report["refit"]
        test = rf.get("test")
        lines.append(f"Refit on all {report['train_examples']} training examples -> `{rf['output']}`: "
                     + (f"test {m} {test[m]:.4f} on {test.get('n', '?')} examples." if test and m in test
                        else f"test metrics {test}." if test else "no test set."))
    lines.append(f"\nPlot: {PLOT}")
    return "\n".join(lines) + "\n"
