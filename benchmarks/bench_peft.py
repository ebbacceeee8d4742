"""LoRA (`--peft lora`) against full fine-tuning: trained parameters, samples/s, peak memory, held-out metric.

    # metric and memory, Rotten Tomatoes and the silver Bible NER set (all-MiniLM-L6-v2):
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_peft.py --tasks classification,ner --n 2000 --n-eval 1000
    # samples/s: run it ALONE on the machine (timings are meaningless while other jobs share the cores)

Each (task, recipe) trains in its own process, so its peak resident memory (ru_maxrss of that process, from
os.wait4) is its own. Both recipes see the same rows, seed, epochs and batch size; only the learning rate
differs, as LoRA wants a larger one: full fine-tuning uses labeltune's auto rate for MiniLM (1e-4), LoRA
--lora-lr (default 2e-3 = labeltune's auto rate under --peft, defaults.PEFT_LR_FACTOR x 1e-4). LoRA is r=8,
alpha 16, dropout 0.1 on query,value; the head (classifier) trains in full. No validation split: the last model
is scored on --n-eval held-out rows.

Data: classification: real Rotten Tomatoes sentences (benchmarks/bench_classification.make_data); NER: the
SILVER Bible NER set built by `python -m labeltune.corpora ner` (spaCy's tags; F1 is agreement with spaCy;
benchmarks/bench_ner.make_data).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

CHILD = """
import json, sys
import labeltune
settings = json.loads(sys.argv[1])
metrics = labeltune.train(**settings)
print("METRICS " + json.dumps(metrics))
"""


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def data(task: str, a, work: str) -> tuple[str, str, str]:
    if task == "classification":
        train, test = _bench("bench_classification").make_data(a.n, a.n_eval, a.seed, work)
        return train, test, "accuracy"
    args = SimpleNamespace(data=a.ner_data, n=a.n, n_eval=a.n_eval, seed=a.seed)
    train, test = _bench("bench_ner").make_data(args, work)
    return train, test, "entity_f1"


def run_one(settings: dict) -> dict:
    """Train in a child process; its metrics and its own peak RSS."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(settings)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"training failed ({status}): {settings}")
    metrics = json.loads(next(line for line in out.splitlines() if line.startswith("METRICS "))[8:])
    return {"metrics": metrics, "peak_rss_mb": round(usage.ru_maxrss / 1024)}  # Linux: kilobytes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="classification,ner")
    p.add_argument("--n", type=int, default=2000, help="training rows")
    p.add_argument("--n-eval", type=int, default=1000, help="held-out rows scored")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--full-lr", type=float, default=1e-4)
    p.add_argument("--lora-lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--ner-data", default="", help="a directory from `python -m labeltune.corpora ner` (default: build)")
    p.add_argument("--recipes", default="full,lora")
    p.add_argument("--out", default="")
    a = p.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as work:
        for task in a.tasks.split(","):
            os.makedirs(os.path.join(work, task), exist_ok=True)
            train, test, metric = data(task, a, os.path.join(work, task))
            recipes = {"full": {"lr": a.full_lr}, "lora": {"lr": a.lora_lr, "peft": "lora"}}
            for recipe, extra in ((r, recipes[r]) for r in a.recipes.split(",")):
                settings = dict(task=task, model=a.model, train=train, test=test, output=os.path.join(work, f"{task}-{recipe}"),
                                validation_fraction=0.0, epochs=a.epochs, batch_size=a.batch_size, seed=a.seed,
                                threads=a.threads, quiet=True, overwrite=True, **extra)
                r = run_one(settings)
                m = r["metrics"]
                peft = m.get("peft") or {}
                row = {"task": task, "recipe": recipe, "lr": extra["lr"], metric: round(100 * m["test"][metric], 2),
                       "trainable_parameters": peft.get("trainable_parameters"),
                       "trainable_percent": peft.get("trainable_percent", 100.0),
                       "train_samples_per_s": m["train_samples_per_s"], "peak_rss_mb": r["peak_rss_mb"],
                       "wall_seconds": m["wall_seconds"], "steps": m["steps"]}
                if recipe == "lora" and rows and rows[-1]["recipe"] == "full":  # every parameter of the same model
                    rows[-1]["trainable_parameters"] = peft.get("total_parameters")
                    print(json.dumps(rows[-1]), flush=True)
                rows.append(row)
                if recipe == "lora":
                    print(json.dumps(row), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
