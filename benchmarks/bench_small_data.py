"""Scores at small data sizes: labeltune's defaults against the Hugging Face example scripts' defaults.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_small_data.py --tasks classification,ner --sizes 100,300,1000
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_small_data.py --tasks ner --sizes 100 --seed 0,1,2
    .venv/bin/python benchmarks/bench_small_data.py --summarize results.jsonl   # means of --json lines

A metric benchmark (held-out scores, not speed). For each task and training-set size:

  labeltune   `labeltune.train` with no --epochs/--batch-size/--lr: the small-data rule of labeltune/defaults.py
              picks them (recorded in the row). No validation split (--validation-fraction 0), so the last model
              is scored, as the Trainer's is.
  hf          the Hugging Face Trainer as run_glue.py / run_ner.py / run_qa.py run it by default
              (per_device_train_batch_size 8, learning_rate 5e-5, no warmup, no weight decay), for the SAME
              number of epochs labeltune chose ("at equal epochs"); the Trainer code is the one of
              bench_classification.py, bench_ner.py and bench_qa.py.
  hf_3ep      (optional, --contenders) the same Trainer at its own default of 3 epochs.
  old         (optional) labeltune's earlier fixed recipe: batch 32, 3 epochs, lr 5e-5.
  alt_lr      (optional) labeltune's automatic batch size and epochs at --alt-lr (default 5e-5) instead of its lr.
  alt_batch   (optional) labeltune's automatic epochs and lr at --alt-batch (default 16) instead of its batch size.

Translation has no Trainer contender here for a causal LM (bench_translation.py compares BERT2BERT with the
Seq2SeqTrainer); its `hf` row is the example scripts' recipe (batch 8, lr 5e-5, no warmup, equal epochs) run
through labeltune's loop, labelled `hf_recipe`.

Data (real, shipped): classification: Rotten Tomatoes sentences; NER: the SILVER Bible NER set
(`python -m labeltune.corpora ner`, spaCy's tags, so F1 is agreement with spaCy); QA: the Bible cloze QA set;
translation: World English Bible -> Reina-Valera 1909 verses (held-out books). Every size is scored on the same
held-out rows (--n-eval).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

HF_BATCH, HF_LR = 8, 5e-5  # transformers' TrainingArguments defaults, which the example scripts keep


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _labeltune(task: str, train: str, test: str, out: str, seed: int, recipe: dict, **extra) -> dict:
    import labeltune

    m = labeltune.train(task=task, train=train, test=test, output=out, validation_fraction=0.0, seed=seed,
                        quiet=True, overwrite=True, **recipe, **extra)
    auto = m.get("auto_settings", {})
    return {"metrics": m["test"], "steps": m["steps"], "epochs": auto.get("epochs", recipe.get("epochs")),
            "batch_size": auto.get("batch_size", recipe.get("batch_size")), "lr": auto.get("lr", recipe.get("lr"))}


# --- per task: data, the score's name, the Trainer contender ------------------------------------------------
def classification(a, n: int, work: str):
    bc = _bench("bench_classification")
    train, test = bc.make_data(n, a.n_eval, a.seed, work)

    def hf(epochs: float) -> dict:
        args = SimpleNamespace(model=a.model, batch_size=HF_BATCH, epochs=epochs, lr=HF_LR, seed=a.seed)
        return {"accuracy": bc.run_hf(args, train, test, os.path.join(work, "hf"), best=a.hf_fast)["accuracy"]}

    return "classification", train, test, "accuracy", hf, {"max_length": 128}


def ner(a, n: int, work: str):
    bn = _bench("bench_ner")
    args = SimpleNamespace(data=a.ner_data, n=n, n_eval=a.n_eval, seed=a.seed, model=a.model, threads=a.threads)
    train, test = bn.make_data(args, work)

    def hf(epochs: float) -> dict:
        run = SimpleNamespace(**vars(args), batch_size=HF_BATCH, epochs=epochs, lr=HF_LR)
        return {"entity_f1": bn.run_hf(run, train, test, os.path.join(work, "hf"), best=False)["entity_f1"]}

    return "ner", train, test, "entity_f1", hf, {}


def qa(a, n: int, work: str):
    bq = _bench("bench_qa")
    data = a.qa_data or os.path.expanduser("~/.cache/labeltune/bench_qa")
    if not os.path.exists(os.path.join(data, "train.json")):
        from labeltune.corpora.qa_bible import build_qa

        build_qa(data, seed=0)
    train = bq.subset(os.path.join(data, "train.json"), n, a.seed, os.path.join(work, "train.json"))
    test = bq.subset(os.path.join(data, "validation.json"), a.n_eval, a.seed, os.path.join(work, "test.json"))

    def hf(epochs: float) -> dict:
        from labeltune.models import resolve_model
        from labeltune.tasks import get_task

        task = get_task("qa")
        args = SimpleNamespace(max_length=384, doc_stride=128, seed=a.seed, batch_size=HF_BATCH, lr=HF_LR, epochs=epochs)
        model, tok, _ = bq.run_hf(args, resolve_model(a.model), task.read(train, task.Options()), os.path.join(work, "hf"))
        return bq.score(model, tok, task.read(test, task.Options()), args)

    return "qa", train, test, "f1", hf, {"max_length": 384}


def translation(a, n: int, work: str):
    from labeltune.corpora.bible import build_translation

    src = os.path.join(work, "bible")
    build_translation(src)
    paths = []
    for split, count in (("train", n), ("validation", a.n_eval)):
        with open(os.path.join(src, f"{split}.jsonl"), encoding="utf-8") as f:
            rows = [json.loads(x) for x in f]
        rows = [r for r in rows if len(r["source"]) <= 80 and len(r["target"]) <= 80][:count]
        p = os.path.join(work, f"{split}.jsonl")
        with open(p, "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"source": r["source"], "target": r["target"]}, ensure_ascii=False) + "\n" for r in rows)
        paths.append(p)
    train, test = paths
    extra = {"num_beams": 1, "prompt_template": "Translate English to Spanish:\n{source}\nSpanish:\n"}

    def hf(epochs: float) -> dict:  # the example scripts' recipe through labeltune's loop (see the docstring)
        recipe = {"batch_size": HF_BATCH, "lr": HF_LR, "epochs": epochs, "warmup_ratio": 0.0, "weight_decay": 0.0}
        return _labeltune("translation", train, test, os.path.join(work, "hfr"), a.seed, recipe, **extra)["metrics"]

    return "translation", train, test, "bleu", hf, extra


TASKS = {"classification": classification, "ner": ner, "qa": qa, "translation": translation}


COLUMNS = ("labeltune", "hf", "hf_recipe", "hf_3ep", "old", "labeltune_alt_lr", "labeltune_alt_batch")


def table(rows: list[dict]) -> str:
    """A Markdown table with one line per (task, size): each contender's mean over the seeds run."""
    merged: list[dict] = []  # rows of one cell and seed from separate processes (--contenders) become one
    for r in rows:
        same = [m for m in merged if (m["task"], m["n"], m.get("seed", 0)) == (r["task"], r["n"], r.get("seed", 0))
                and not set(COLUMNS) & set(m) & set(r)]
        if same:
            same[0].update(r)
        else:
            merged.append(dict(r))
    groups: dict[tuple, list[dict]] = {}
    for r in merged:
        groups.setdefault((r["task"], r["n"]), []).append(r)
    cols = [c for c in COLUMNS if any(c in r for r in rows)]
    lines = ["| task | n | metric | seeds | labeltune recipe (batch, epochs, lr, steps) | " + " | ".join(cols) + " |",
             "|---|---|---|---|---|" + "---|" * len(cols)]
    for (task, n), rs in groups.items():
        rc = next((r["labeltune_recipe"] for r in rs if "labeltune_recipe" in r), None)
        seeds = ",".join(sorted({str(r.get("seed", 0)) for r in rs}))
        means = []
        for c in cols:
            vals = [r[c] for r in rs if c in r]
            means.append(f"{sum(vals) / len(vals):.4f}" + (f" ({len(vals)})" if len(vals) != len(rs) else "")
                         if vals else "")
        recipe = f"{rc['batch_size']}, {rc['epochs']:g}, {rc['lr']:g}, {rc['steps']}" if rc else "not run"
        lines.append(f"| {task} | {n} | {rs[0]['metric']} | {seeds} | {recipe} | " + " | ".join(means) + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default="classification,ner,qa,translation")
    p.add_argument("--sizes", default="100,300,1000,3000", help="training-set sizes (examples)")
    p.add_argument("--n-eval", type=int, default=300, help="held-out examples every size is scored on")
    p.add_argument("--contenders", default="labeltune,hf", help="labeltune, hf, hf_3ep, old, alt_lr, alt_batch (leave out "
                   "labeltune to run the others in a second process beside it: give --hf-epochs then)")
    p.add_argument("--hf-epochs", type=float, help="without the labeltune contender: the epochs labeltune chose for "
                   "this cell (its labeltune_recipe), for hf / hf_recipe")
    p.add_argument("--alt-lr", type=float, default=5e-5, help="alt_lr: labeltune's automatic batch size and epochs "
                   "at this learning rate (does the automatic lr help?)")
    p.add_argument("--alt-batch", type=int, default=16, help="alt_batch: labeltune's automatic epochs and lr at "
                   "this batch size (would more, smaller steps help?)")
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="model for classification, NER and QA "
                   "(translation uses labeltune's default, SmolLM2-135M-Instruct)")
    p.add_argument("--seed", default="0", help="seed, or a comma list (0,1,2): each seed draws its own training "
                   "sample and held-out rows (translation: the same rows) and trains every contender once; the "
                   "table gives the mean over the seeds")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    p.add_argument("--ner-data", help="directory with the silver NER train.jsonl/validation.jsonl (default: build)")
    p.add_argument("--qa-data", help="directory with the Bible QA train.json/validation.json (default: build)")
    p.add_argument("--hf-fast", action=argparse.BooleanOptionalAction, default=True,
                   help="classification's Trainer with dynamic padding, bf16 and length grouping (bench_classification's "
                        "hf_best) instead of run_classification's padding to 128 in fp32: the same recipe and scores "
                        "within noise, several times cheaper on a CPU")
    p.add_argument("--json", help="append one JSON line per result to this file")
    p.add_argument("--summarize", metavar="FILE", help="print the table of the JSON lines in FILE (from --json) "
                   "and exit: runs made one seed at a time are averaged here")
    a = p.parse_args()
    if a.summarize:
        with open(a.summarize, encoding="utf-8") as f:
            print(table([json.loads(line) for line in f if line.strip()]))
        return 0
    import torch

    torch.set_num_threads(a.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    contenders = a.contenders.split(",")
    if "labeltune" not in contenders and a.hf_epochs is None and {"hf"} & set(contenders):
        p.error("--contenders without labeltune: give --hf-epochs (the epochs labeltune chose for the cell)")
    rows = []
    for task_name in a.tasks.split(","):
        for n in [int(x) for x in a.sizes.split(",")]:
            for seed in [int(x) for x in a.seed.split(",")]:
                rows.append(run_cell(SimpleNamespace(**{**vars(a), "seed": seed}), task_name, n, contenders))
    print()
    print(table(rows))
    return 0


def run_cell(a, task_name: str, n: int, contenders: list[str]) -> dict:
    """Every contender once on one task, size and seed; the row is printed and appended to --json."""
    with tempfile.TemporaryDirectory(prefix=f"small-{task_name}-{n}-") as work:
        task, train, test, metric, hf, extra = TASKS[task_name](a, n, work)
        model = {} if task == "translation" else {"model": a.model}
        row = {"task": task, "n": n, "seed": a.seed, "metric": metric}
        t = time.perf_counter()
        epochs = a.hf_epochs
        if "labeltune" in contenders:
            lt = _labeltune(task, train, test, os.path.join(work, "lt"), a.seed, model, **extra)
            row["labeltune"] = round(lt["metrics"][metric], 4)
            row["labeltune_recipe"] = {k: lt[k] for k in ("batch_size", "epochs", "lr", "steps")}
            epochs = lt["epochs"]
        if "hf" in contenders:
            row["hf" if task != "translation" else "hf_recipe"] = round(hf(epochs)[metric], 4)
            row["hf_epochs"] = epochs
        if "hf_3ep" in contenders:
            row["hf_3ep"] = round(hf(3.0)[metric], 4)
        if "alt_lr" in contenders:  # labeltune's automatic batch size and epochs at another lr (--alt-lr)
            alt = {**model, "lr": a.alt_lr}
            row["alt_lr"] = a.alt_lr
            row["labeltune_alt_lr"] = round(_labeltune(task, train, test, os.path.join(work, "alt"), a.seed, alt,
                                                       **extra)["metrics"][metric], 4)
        if "alt_batch" in contenders:  # labeltune's automatic epochs and lr at another batch size (--alt-batch)
            alt = {**model, "batch_size": a.alt_batch}
            lt = _labeltune(task, train, test, os.path.join(work, "altb"), a.seed, alt, **extra)
            row["labeltune_alt_batch"] = round(lt["metrics"][metric], 4)
            row["alt_batch_recipe"] = {"batch_size": a.alt_batch, **{k: lt[k] for k in ("epochs", "lr", "steps")}}
        if "old" in contenders:
            old = {"batch_size": 32, "epochs": 3.0, "lr": 5e-5, **model}
            row["old"] = round(_labeltune(task, train, test, os.path.join(work, "old"), a.seed, old, **extra)
                               ["metrics"][metric], 4)
        row["seconds"] = round(time.perf_counter() - t, 1)
    print(json.dumps(row), flush=True)
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(row) + "\n")
    return row


if __name__ == "__main__":
    sys.exit(main())
