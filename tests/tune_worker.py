"""A `labeltune tune` worker whose fold training is replaced by a deterministic fake (tests only).

    python tests/tune_worker.py tune --train ... --output ...      (the `labeltune` CLI arguments)

The fake sleeps FAKE_FOLD_SECONDS, appends {"pid", "config", "fold"} to FAKE_FOLD_LOG, and returns a score
that depends only on (lr, fold), so tests of resuming and of parallel workers run in seconds and can count
exactly which folds were computed where. The refit is faked too (it would train a model).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import labeltune.tune as tune_mod


def fake_score(lr: float, fold: list[int]) -> float:
    """Best at lr 1e-4; a small fold-dependent offset, so folds differ."""
    return round(0.8 - 0.05 * abs(math.log10(lr) + 4) + (sum(fold) % 10) / 1000, 6)


def fake_run_fold(cfg, opts, setup, train_ex, fold, params, work_dir, metric):
    time.sleep(float(os.environ.get("FAKE_FOLD_SECONDS", "0")))
    log = os.environ.get("FAKE_FOLD_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "config": tune_mod.config_key(params), "fold": min(fold)}) + "\n")
    score = fake_score(params["lr"], fold)
    return {"score": score, "metrics": {metric: score}, "n_train": len(train_ex) - len(fold), "n_eval": len(fold),
            "seconds": 0.0}


def fake_refit(cfg, opts, train_ex, test_ex, params, out):
    return {"test": {"accuracy": 0.5, "n": len(test_ex or [])}, "wall_seconds": 0.0}


def install() -> None:
    tune_mod.run_fold = fake_run_fold
    tune_mod._refit = fake_refit


if __name__ == "__main__":
    install()
    from labeltune.cli import main

    sys.exit(main(sys.argv[1:]))
