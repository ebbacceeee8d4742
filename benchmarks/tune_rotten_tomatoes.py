"""`labeltune tune` on real Rotten Tomatoes sentences with the default model, against HF Trainer's default rate.

    .venv/bin/python benchmarks/tune_rotten_tomatoes.py --rows 2000 --folds 5 --epochs 1 --threads 1 --out runs/tune_rt

1. a seeded, balanced sample of --rows sentences (labeltune.data.bundled, seed 0) -> <out>/rt.csv;
2. `labeltune tune` on it: --test-fraction 0.2 held out (seeded, stratified), k-fold CV over the default
   learning-rate grid for the model's size on the rest, the choice, and the refit tested on the held-out 20 %;
3. `labeltune train --lr 5e-5` (Hugging Face Trainer's default rate) with the same split (no validation
   split, --test-fraction 0.2, the same seed: the same held-out rows, checked below) and the same epochs;
4. prints and writes <out>/benchmark.json: the CV table, the choice, both test accuracies.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2000, help="balanced sample of this many sentences")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--max-length", type=int, default=64, help="Rotten Tomatoes sentences: ~21 words, 99%% < 64 tokens")
    p.add_argument("--select", default="best", help="best | one-se")
    p.add_argument("--threads", type=int, default=0, help="PyTorch CPU threads (0: its default; 1 helps on a busy machine)")
    p.add_argument("--out", default="runs/tune_rt")
    a = p.parse_args()

    from labeltune.cli import main as cli
    from labeltune.data.bundled import rotten_tomatoes

    os.makedirs(a.out, exist_ok=True)
    data = rotten_tomatoes(os.path.join(a.out, "rt.csv"), limit=a.rows, seed=0)
    common = ["--train", data, "--test-fraction", "0.2", "--epochs", str(a.epochs), "--max-length", str(a.max_length),
              "--seed", "42", "--quiet", "--threads", str(a.threads)]
    t0 = time.perf_counter()
    tune_args = ["tune", *common, "--output", os.path.join(a.out, "tune"), "--folds", str(a.folds), "--select", a.select]
    print("labeltune", " ".join(tune_args), flush=True)
    if cli(tune_args) != 0:
        return 1
    tune_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    base_out = os.path.join(a.out, "train_lr5e-5")
    train_args = ["train", *common, "--output", base_out, "--lr", "5e-5", "--validation-fraction", "0", "--overwrite"]
    print("labeltune", " ".join(train_args), flush=True)
    if cli(train_args) != 0:
        return 1
    base_s = time.perf_counter() - t0

    with open(os.path.join(a.out, "tune", "tune_report.json")) as f:
        report = json.load(f)
    with open(os.path.join(base_out, "metrics.json")) as f:
        base = json.load(f)
    with open(os.path.join(a.out, "tune", "split.json")) as f:
        split_tune = json.load(f)["test"]
    with open(os.path.join(base_out, "split.json")) as f:
        split_base = json.load(f)["test"]
    assert split_tune == split_base, "the tune and train runs held out different test rows"
    result = {
        "rows": a.rows, "folds": a.folds, "epochs": a.epochs, "max_length": a.max_length, "select": a.select,
        "cv_table": [{"lr": r["params"]["lr"], "mean": r["mean"], "sd": r["sd"], "fold_scores": r["fold_scores"]}
                     for r in report["table"]],
        "chosen_lr": report["chosen"]["params"]["lr"],
        "test_examples": len(split_tune),
        "test_accuracy_tuned": report["refit"]["test"]["accuracy"],
        "test_accuracy_lr_5e-5": base["test"]["accuracy"],
        "tune_wall_seconds": round(tune_s), "baseline_wall_seconds": round(base_s),
    }
    with open(os.path.join(a.out, "benchmark.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
