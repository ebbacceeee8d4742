"""LoRA (`--peft lora`) against full fine-tuning: trained parameters, samples/s, peak memory, held-out metric.

    # the metric (issue 15's target: LoRA within 1 point of full fine-tuning, <= 1% of the parameters trained)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_peft.py --tasks classification --threads 1
    # samples/s and memory: run it ALONE on the machine (timings are meaningless while other jobs share the cores)

Protocol. Three disjoint slices of the data: --n training rows, --n-val validation rows, --n-eval test rows.
Each recipe trains at every learning rate of its grid (--full-lrs, --lora-lrs) and every --epochs budget (the
same budgets for both recipes), with the same batch size, rows and seed; labeltune evaluates on the validation
rows after each epoch and keeps the best epoch (what a user with a validation set gets). Per recipe, the
(epochs, lr) with the best validation score is chosen, and only its test score counts: nothing is chosen on the
test rows. Every run's test score is printed too (one line of JSON each). LoRA is labeltune's
`--peft lora` defaults unless --lora-args overrides them (JSON of training options, e.g.
'{"lora_r": 4, "target_modules": "query,key,value"}'); its head (classifier, and the pooler it reads) trains in
full. Each run trains in its own process, so its peak resident memory (ru_maxrss of that process, os.wait4) is its
own.

Data: classification: real Rotten Tomatoes sentences (shuffled with --seed; train, test, validation in that
order, so the test rows are those of benchmarks/bench_classification.make_data); NER: the SILVER Bible NER set
built by `python -m labeltune.corpora ner` (spaCy's tags; F1 is agreement with spaCy): its validation file gives
the test rows, then the validation rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

CHILD = """
import json, sys
import labeltune
settings = json.loads(sys.argv[1])
metrics = labeltune.train(**settings)
print("METRICS " + json.dumps(metrics))
"""


def _write_csv(path: str, rows: list[dict]) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["text", "label"])
        w.writeheader()
        w.writerows({"text": r["text"], "label": r["label"]} for r in rows)
    return path


def _write_lines(path: str, lines: list[str]) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)
    return path


def data(task: str, a, work: str) -> tuple[str, str, str, str]:
    """(train, validation, test, metric) files for `task`."""
    if task == "classification":
        from labeltune.data.bundled import rotten_tomatoes

        with open(rotten_tomatoes(os.path.join(work, "all.csv")), newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        random.Random(a.seed).shuffle(rows)
        n, t = a.n, a.n + a.n_eval
        return (_write_csv(os.path.join(work, "train.csv"), rows[:n]), _write_csv(os.path.join(work, "val.csv"), rows[t:t + a.n_val]),
                _write_csv(os.path.join(work, "test.csv"), rows[n:t]), "accuracy")
    src = a.ner_data
    if not src:
        from labeltune.corpora.ner_silver import build_ner

        src = os.path.join(work, "silver")
        build_ner(src, n_train=a.n, n_val=a.n_eval + a.n_val, n_test=1, seed=a.seed)
    with open(os.path.join(src, "train.jsonl"), encoding="utf-8") as f:
        train = [line for line in f if line.strip()][:a.n]
    with open(os.path.join(src, "validation.jsonl"), encoding="utf-8") as f:
        held = [line for line in f if line.strip()]
    if len(held) < a.n_eval + a.n_val:
        sys.exit(f"--ner-data {src}: validation.jsonl has {len(held)} rows, --n-eval + --n-val need {a.n_eval + a.n_val}")
    return (_write_lines(os.path.join(work, "train.jsonl"), train),
            _write_lines(os.path.join(work, "val.jsonl"), held[a.n_eval:a.n_eval + a.n_val]),
            _write_lines(os.path.join(work, "test.jsonl"), held[:a.n_eval]), "entity_f1")


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
    p.add_argument("--tasks", default="classification")
    p.add_argument("--n", type=int, default=1000, help="training rows")
    p.add_argument("--n-val", type=int, default=500, help="validation rows: choose the epoch and the learning rate")
    p.add_argument("--n-eval", type=int, default=500, help="test rows: scored once, for the chosen setting")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--epochs", default="5,10", help="epoch budgets tried for both recipes, comma-separated")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--full-lrs", default="1e-4", help="learning rates tried for full fine-tuning")
    p.add_argument("--lora-lrs", default="2e-3", help="learning rates tried for LoRA")
    p.add_argument("--lora-args", default="{}", help="JSON of training options for the LoRA recipe")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--ner-data", default="", help="a directory from `python -m labeltune.corpora ner` (default: build)")
    p.add_argument("--recipes", default="full,lora")
    p.add_argument("--out", default="")
    a = p.parse_args()

    recipes = {"full": ([float(x) for x in a.full_lrs.split(",")], {}),
               "lora": ([float(x) for x in a.lora_lrs.split(",")], {"peft": "lora", **json.loads(a.lora_args)})}
    rows, chosen = [], []
    with tempfile.TemporaryDirectory() as work:
        for task in a.tasks.split(","):
            os.makedirs(os.path.join(work, task), exist_ok=True)
            train, val, test, metric = data(task, a, os.path.join(work, task))
            for recipe in a.recipes.split(","):
                lrs, extra = recipes[recipe]
                mine = []
                for epochs, lr in ((float(e), lr) for e in a.epochs.split(",") for lr in lrs):
                    settings = dict(task=task, model=a.model, train=train, validation=val, test=test,
                                    output=os.path.join(work, f"{task}-{recipe}"), epochs=epochs,
                                    batch_size=a.batch_size, lr=lr, seed=a.seed, threads=a.threads, quiet=True,
                                    overwrite=True, **extra)
                    r = run_one(settings)
                    m, peft = r["metrics"], r["metrics"].get("peft") or {}
                    row = {"task": task, "recipe": recipe, "epochs": epochs, "lr": lr, **{k: v for k, v in extra.items() if k != "peft"},
                           "validation": round(100 * m["validation"][metric], 2), "test": round(100 * m["test"][metric], 2),
                           "metric": metric, "best_step": m.get("best_step"), "steps": m["steps"],
                           "trainable_percent": peft.get("trainable_percent", 100.0),
                           "trainable_parameters": peft.get("trainable_parameters"),
                           "train_samples_per_s": m["train_samples_per_s"], "peak_rss_mb": r["peak_rss_mb"],
                           "wall_seconds": m["wall_seconds"]}
                    print(json.dumps(row), flush=True)
                    mine.append(row)
                rows += mine
                chosen.append(max(mine, key=lambda r: r["validation"]))  # chosen on validation, never on test
    print("\ntask            recipe  epochs, lr (chosen on validation)  validation  test  trainable %")
    for r in chosen:
        print(f"{r['task']:15} {r['recipe']:7} {r['epochs']:g}, {r['lr']:<29g} {r['validation']:10.2f} {r['test']:5.2f}  "
              f"{r['trainable_percent']:g}")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"runs": rows, "chosen": chosen}, f, indent=1)


if __name__ == "__main__":
    main()
