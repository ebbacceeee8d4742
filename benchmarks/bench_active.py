"""Active learning on Rotten Tomatoes: labels a strategy needs to reach the accuracy random sampling reaches
with 1,000 labels (issue 15's target: at most 60% of them, i.e. 600).

Protocol (a simulated loop, `labeltune curve --strategy`): a balanced --rows slice of the bundled Rotten
Tomatoes sentences; 20% carved off as the fixed test set (seeded, stratified, recorded in split.json), the rest
is the pool whose labels are revealed only when picked. Round 0 labels a stratified seed set (the first size);
each later round picks up to the next budget with the previous round's model and retrains from the pretrained
weights on every label so far, with no validation split and labeltune's default settings for its size (at
least ~300 optimizer steps, at most 20 epochs: labeltune/defaults.py) unless --epochs/--batch-size/--lr fix them.
Random picks (unstratified, seeded) are the baseline, run up to the largest budget; each strategy is run up to
60% of it (the target: reaching random's final accuracy by then is what counts; if it does not, "labels needed"
is reported as above 60%). The random line and each strategy run as parallel `labeltune curve` processes
(`--no-baseline` for the strategies), each into its own folder under --output. "Labels needed" is the smallest
budget whose mean test accuracy reaches random's mean at the largest budget, interpolated linearly.

    python benchmarks/bench_active.py --strategy entropy --seeds 1 --rows 3000 --output runs/bench_active

Metric only (accuracy and label counts, no timings), so it may run on a busy machine. A rerun reuses finished
random runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from labeltune.curve import plot  # noqa: E402
from labeltune.data.bundled import rotten_tomatoes  # noqa: E402

SIZES = "100,200,400,600,1000"


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
    p.add_argument("--rows", type=int, default=3000, help="balanced slice of Rotten Tomatoes (pool + test)")
    p.add_argument("--sizes", default=SIZES, help="label budgets; the first is the stratified seed set")
    p.add_argument("--epochs", type=float, help="per round (default: labeltune's auto rule for each round's size)")
    p.add_argument("--batch-size", type=int, help="(default: auto)")
    p.add_argument("--lr", type=float, help="(default: auto)")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--threads", type=int, default=1, help="per process")
    p.add_argument("--output", default="runs/bench_active")
    a = p.parse_args()
    os.makedirs(a.output, exist_ok=True)
    data = rotten_tomatoes(os.path.join(a.output, "rt.csv"), limit=a.rows, seed=0)
    sizes = [int(s) for s in a.sizes.split(",")]
    top = max(sizes)
    strategies = [s for s in a.strategy.split(",") if s and s != "random"]
    common = ["--train", data, "--test-fraction", "0.2", "--model", a.model, "--seeds", str(a.seeds), "--threads",
              str(a.threads), "--quiet"]
    for flag, value in (("--epochs", a.epochs), ("--batch-size", a.batch_size), ("--lr", a.lr)):
        if value is not None:
            common += [flag, str(value)]
    jobs = {"random": common + ["--sizes", a.sizes, "--strategy", "random"]}
    for s in strategies:
        jobs[s] = common + ["--sizes", ",".join(str(x) for x in sizes if x <= 0.6 * top), "--strategy", s,
                            "--no-baseline"]
    procs = {}
    for name, args in jobs.items():
        log = open(os.path.join(a.output, f"{name}.log"), "w")
        procs[name] = subprocess.Popen([sys.executable, "-m", "labeltune", "curve", *args, "--output",
                                        os.path.join(a.output, name)], stdout=log, stderr=subprocess.STDOUT)
    failed = [name for name, proc in procs.items() if proc.wait() != 0]
    if failed:
        sys.exit(f"failed: {', '.join(failed)}; see {a.output}/<name>.log")
    rows = []
    for name in jobs:
        with open(os.path.join(a.output, name, "curve.json")) as f:
            rows += json.load(f)["summary"]
    target = next(r["mean"] for r in rows if r["curve"] == "random" and r["labels"] == top)
    result = {"random_labels": top, "random_accuracy": target, "protocol": vars(a), "curves": rows, "strategies": {}}
    for s in strategies:
        need = labels_needed(rows, s, target)
        result["strategies"][s] = {"labels_needed": need, "share_of_random": None if need is None else need / top,
                                   "target_met": need is not None and need <= 0.6 * top}
    plot(rows, list(jobs), "accuracy", f"active learning, Rotten Tomatoes ({a.seeds} seed(s))",
         os.path.join(a.output, "bench_active.png"))
    print(json.dumps({k: v for k, v in result.items() if k != "curves"}, indent=1))
    with open(os.path.join(a.output, "bench_active.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
