"""Active learning on Rotten Tomatoes: labels a strategy needs to reach the accuracy random sampling reaches
with 1,000 labels (issue 15's target: at most 60% of them, i.e. 600).

Protocol (a simulated loop, `labeltune curve --strategy`): a balanced --rows slice of the bundled Rotten
Tomatoes sentences; 20% carved off as the fixed test set (seeded, stratified, recorded in split.json), the rest
is the pool whose labels are revealed only when picked. Round 0 labels a stratified seed set of 100; each
later round picks up to the next budget (100, 200, ..., 600, 800, 1000) with the previous round's model and
retrains from the pretrained weights on every label so far (same epochs, batch size and learning rate in
every round). Random picks (unstratified, seeded) are the baseline. "Labels needed" is the smallest budget
whose mean test accuracy reaches random's mean at 1,000, interpolated linearly between budgets.

    python benchmarks/bench_active.py --strategy entropy --seeds 1 --output runs/bench_active

Metric only (accuracy and label counts, no timings), so it may run on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from labeltune.config import TrainConfig  # noqa: E402
from labeltune.curve import CurveOptions, curve  # noqa: E402
from labeltune.data.bundled import rotten_tomatoes  # noqa: E402
from labeltune.tasks.classification import ClassificationOptions  # noqa: E402

SIZES = "100,200,300,400,500,600,800,1000"


def labels_needed(rows: list[dict], line: str, target: float) -> float | None:
    """The budget where `line`'s mean first reaches `target`, interpolated between measured budgets."""
    points = sorted((r["labels"], r["mean"]) for r in rows if r["curve"] == line)
    for (x0, y0), (x1, y1) in zip([(0, 0.0)] + points, points):
        if y1 >= target:
            return x1 if y1 == y0 or x0 == 0 else x0 + (target - y0) / (y1 - y0) * (x1 - x0)
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--strategy", default="entropy", help="comma-separated strategies (random is always run)")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--rows", type=int, default=5000, help="balanced slice of Rotten Tomatoes (pool + test)")
    p.add_argument("--sizes", default=SIZES)
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", default="runs/bench_active")
    a = p.parse_args()
    os.makedirs(a.output, exist_ok=True)
    data = rotten_tomatoes(os.path.join(a.output, "rt.csv"), limit=a.rows, seed=0)
    cfg = TrainConfig(train=data, test_fraction=0.2, model=a.model, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
                      output=a.output, quiet=True, threads=a.threads)
    report = curve(cfg, ClassificationOptions(), CurveOptions(sizes=a.sizes, seeds=a.seeds, strategy=a.strategy))
    rows = report["summary"]
    budget = max(r["labels"] for r in rows if r["curve"] == "random")
    target = next(r["mean"] for r in rows if r["curve"] == "random" and r["labels"] == budget)
    result = {"random_labels": budget, "random_accuracy": target, "strategies": {}}
    for line in report["strategies"]:
        if line == "random":
            continue
        need = labels_needed(rows, line, target)
        result["strategies"][line] = {"labels_needed": need, "share_of_random": None if need is None else need / budget,
                                      "target_met": need is not None and need <= 0.6 * budget}
    print(json.dumps(result, indent=1))
    with open(os.path.join(a.output, "bench_active.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
