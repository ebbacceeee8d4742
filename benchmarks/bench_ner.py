"""Side by side, in one run: labeltune NER vs the Hugging Face Trainer in the `run_ner.py` setup.

    .venv/bin/python benchmarks/bench_ner.py --n 1000 --n-eval 300 --epochs 1 --batch-size 16 --lr 1e-4

Data: the SILVER English NER set (World English Bible verses tagged by spaCy's en_core_web_sm, see
labeltune/corpora/ner_silver.py), built into a temporary directory unless --data DIR holds
train.jsonl/validation.jsonl. Scores are agreement with spaCy's silver tags, not NER accuracy.

Contenders (each in its own subprocess: Accelerate's state and peak memory stay their own):
  labeltune_fp32  labeltune with --precision fp32 (its other defaults: length-grouped batches, warmup 6%)
  labeltune       labeltune's defaults (bf16 autocast where the CPU has bf16 instructions)
  hf_default      HF Trainer as run_ner.py runs it: AutoModelForTokenClassification, label on the first
                  sub-word, DataCollatorForTokenClassification, Trainer defaults (fp32, random order)
  hf_best         the same with bf16 and group_by_length
Every contender gets the same model, data, epochs, batch size and learning rate. Entity F1 is computed the
same way for all: per word (first sub-word), stray I- repaired as conlleval does, seqeval strict IOB2.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def make_data(a, work: str) -> tuple[str, str]:
    """The first n training rows and n_eval validation rows of the silver set (built once if needed)."""
    src = a.data
    if not src:
        from labeltune.corpora.ner_silver import build_ner

        src = os.path.join(work, "silver")
        build_ner(src, n_train=max(a.n, 1), n_val=max(a.n_eval, 1), n_test=1, seed=a.seed)
    paths = []
    for name, n in (("train", a.n), ("validation", a.n_eval)):
        with open(os.path.join(src, f"{name}.jsonl"), encoding="utf-8") as f:
            rows = [line for line in f if line.strip()][:n]
        p = os.path.join(work, f"{name}.jsonl")
        with open(p, "w", encoding="utf-8") as f:
            f.writelines(rows)
        paths.append(p)
    return paths[0], paths[1]


def run_labeltune(a, train, val, out, precision: str) -> dict:
    import labeltune

    t = time.perf_counter()
    m = labeltune.train(task="ner", model=a.model, train=train, validation=val, output=out, epochs=a.epochs,
                        batch_size=a.batch_size, lr=a.lr, seed=a.seed, quiet=True, overwrite=True,
                        precision=precision, threads=a.threads)
    return {"samples_per_s": m["train_samples_per_s"], "entity_f1": m["validation"]["entity_f1"],
            "train_seconds": round(m["train_examples"] * a.epochs / m["train_samples_per_s"], 1),
            "wall_seconds_with_eval_and_save": round(time.perf_counter() - t, 1)}


def run_hf(a, train, val, out, best: bool) -> dict:
    import numpy as np
    import torch
    from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                              Trainer, TrainingArguments)

    from labeltune.models import resolve_model
    from labeltune.tasks.ner import entity_metrics, repair_iob2

    torch.set_num_threads(a.threads)
    path = resolve_model(a.model)
    tok = AutoTokenizer.from_pretrained(path)
    rows = {k: [json.loads(x) for x in open(p, encoding="utf-8")] for k, p in (("train", train), ("eval", val))}
    types = sorted({t[2:] for r in rows["train"] for t in r["tags"] if t != "O"})
    labels = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
    index = {name: i for i, name in enumerate(labels)}

    def features(part):  # run_ner.py's tokenize_and_align_labels, label_all_tokens=False
        enc = tok([r["tokens"] for r in part], is_split_into_words=True, truncation=True, max_length=512)
        out = []
        for i, r in enumerate(part):
            prev, lab = None, []
            for w in enc.word_ids(i):
                lab.append(-100 if w is None or w == prev else index[r["tags"][w]])
                prev = w
            out.append({"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                        "token_type_ids": enc["token_type_ids"][i], "labels": lab})
        return out

    train_ds, eval_ds = features(rows["train"]), features(rows["eval"])
    model = AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=index)
    args = TrainingArguments(
        output_dir=out, per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=64,
        num_train_epochs=a.epochs, learning_rate=a.lr, seed=a.seed, save_strategy="no", report_to=[],
        logging_strategy="no", disable_tqdm=True, bf16=best, use_cpu=True,
        train_sampling_strategy="group_by_length" if best else "random",
    )
    trainer = Trainer(model=model, args=args, train_dataset=train_ds,
                      data_collator=DataCollatorForTokenClassification(tok))
    t = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t
    # predict in the data's order: with group_by_length, transformers 5 also sorts the evaluation batches
    plain = TrainingArguments(output_dir=out, per_device_eval_batch_size=64, bf16=best, use_cpu=True, report_to=[],
                              disable_tqdm=True)
    pred = Trainer(model=trainer.model, args=plain, data_collator=DataCollatorForTokenClassification(tok)).predict(eval_ds)
    gold_tags, pred_tags = [], []
    for r, logits, lab in zip(rows["eval"], pred.predictions, pred.label_ids):
        keep = lab != -100
        pred_tags.append(repair_iob2([labels[k] for k in np.argmax(logits, -1)[keep]]))
        gold_tags.append(r["tags"][: len(pred_tags[-1])])
    return {"samples_per_s": round(len(train_ds) * a.epochs / seconds, 2),
            "entity_f1": entity_metrics(gold_tags, pred_tags)["entity_f1"],
            "hf_reported_samples_per_s": result.metrics["train_samples_per_second"],
            "train_seconds": round(seconds, 1)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1000, help="training sentences")
    p.add_argument("--n-eval", type=int, default=300, help="validation sentences for entity F1")
    p.add_argument("--epochs", type=float, default=1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--data", help="a directory with train.jsonl and validation.jsonl (default: build the silver set)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per contender (1: on a shared 2-core machine, 2 threads spin and run 5x slower)")
    p.add_argument("--contenders", default="labeltune_fp32,labeltune,hf_default,hf_best")
    p.add_argument("--only", help=argparse.SUPPRESS)
    p.add_argument("--files", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--json", help="also write the results to this file")
    a = p.parse_args()

    if a.only:  # child process: one contender
        with tempfile.TemporaryDirectory() as out:
            if a.only.startswith("labeltune"):
                r = run_labeltune(a, *a.files, out, "fp32" if a.only == "labeltune_fp32" else "auto")
            else:
                r = run_hf(a, *a.files, out, best=a.only == "hf_best")
        r["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print("RESULT " + json.dumps(r))
        return

    work = tempfile.mkdtemp(prefix="bench-ner-")
    train, val = make_data(a, work)
    results = {}
    for name in a.contenders.split(","):
        cmd = [sys.executable, __file__, "--only", name, "--files", train, val] + sys.argv[1:]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
            raise SystemExit(f"{name} failed")
        results[name] = json.loads(line[7:])
        print(f"{name:15s} {json.dumps(results[name])}", flush=True)

    print(f"\nSILVER NER: {a.n} train / {a.n_eval} validation sentences, {a.epochs} epoch(s), batch {a.batch_size}, "
          f"lr {a.lr}, model {a.model}, {a.threads} thread(s) on {os.cpu_count()} CPU(s)")
    print(f"{'contender':15s} {'samples/s':>10s} {'train s':>8s} {'peak MB':>8s} {'entity F1':>10s}")
    for name, r in results.items():
        print(f"{name:15s} {r['samples_per_s']:10.1f} {r['train_seconds']:8.1f} {r['peak_rss_mb']:8.0f} "
              f"{r['entity_f1']:10.4f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
