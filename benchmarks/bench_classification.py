"""Side by side, in one run: labeltune vs the Hugging Face Trainer on the same model, data and epochs.

    .venv/bin/python benchmarks/bench_classification.py --n 2048 --epochs 1 --batch-size 32 --threads 2 --repeat 3

Contenders (each in its own subprocess, so peak memory is its own):
  labeltune     labeltune's defaults (bf16 autocast where the CPU has bf16 instructions, dynamic padding,
                length-grouped batches, ...)
  hf_default    HF Trainer as `run_classification.py` runs it by default: pad to 128, fp32
  hf_best       HF Trainer with its best flags: bf16, dynamic padding (DataCollatorWithPadding), group_by_length

Prints train samples/s, peak RSS and held-out accuracy per contender, and the ratios; also the peak of a plain
large bf16 matmul and labeltune's achieved training FLOP/s (model FLOPs utilisation, MFU).
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

HERE = os.path.dirname(os.path.abspath(__file__))


def make_data(n: int, n_eval: int, seed: int, out_dir: str) -> tuple[str, str]:
    """A balanced sample of n real Rotten Tomatoes sentences for training and n_eval others for evaluation."""
    import csv

    from labeltune.data.bundled import rotten_tomatoes

    full = rotten_tomatoes(os.path.join(out_dir, "all.csv"), limit=0)
    with open(full, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    import random

    rng = random.Random(seed)
    rng.shuffle(rows)
    paths = []
    for name, part in (("train", rows[:n]), ("eval", rows[n : n + n_eval])):
        p = os.path.join(out_dir, f"{name}.csv")
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, ["text", "label"])
            w.writeheader()
            w.writerows(part)
        paths.append(p)
    return paths[0], paths[1]


def run_labeltune(a, train_csv, eval_csv, out) -> dict:
    import labeltune

    m = labeltune.train(model=a.model, train=train_csv, validation=eval_csv, output=out, epochs=a.epochs,
                        batch_size=a.batch_size, lr=a.lr, seed=a.seed, quiet=True, overwrite=True,
                        max_length=128, **json.loads(a.labeltune_args))
    return {"samples_per_s": m["train_samples_per_s"], "accuracy": m["validation"]["accuracy"],
            "train_seconds": m["train_examples"] * a.epochs / m["train_samples_per_s"]}


def run_hf(a, train_csv, eval_csv, out, best: bool) -> dict:
    import numpy as np
    from datasets import load_dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments, default_data_collator)

    from labeltune.models import resolve_model

    path = resolve_model(a.model)
    tok = AutoTokenizer.from_pretrained(path)
    ds = load_dataset("csv", data_files={"train": train_csv, "eval": eval_csv})
    labels = sorted(set(ds["train"]["label"]))
    ds = ds.map(lambda b: {"labels": [labels.index(x) for x in b["label"]]}, batched=True, remove_columns=["label"])

    def tokenize(batch):  # run_classification: pad_to_max_length=True, max_seq_length=128
        return tok(batch["text"], truncation=True, max_length=128, padding=False if best else "max_length")

    ds = ds.map(tokenize, batched=True, remove_columns=["text"])
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    args = TrainingArguments(
        output_dir=out, per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=64,
        num_train_epochs=a.epochs, learning_rate=a.lr, seed=a.seed, save_strategy="no", report_to=[],
        logging_strategy="no", disable_tqdm=True, bf16=best, train_sampling_strategy="group_by_length" if best else "random", use_cpu=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=ds["train"], eval_dataset=ds["eval"],
                      data_collator=DataCollatorWithPadding(tok) if best else default_data_collator,
                      compute_metrics=lambda p: {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())})
    t = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t
    acc = trainer.evaluate()["eval_accuracy"]
    return {"samples_per_s": round(len(ds["train"]) * a.epochs / seconds, 2), "accuracy": acc,
            "hf_reported_samples_per_s": result.metrics["train_samples_per_second"], "train_seconds": seconds}


def matmul_peak(threads: int) -> float:
    """GFLOP/s of a plain large bf16 matmul on this machine (the ceiling for MFU)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    a = torch.randn(4096, 4096, dtype=torch.bfloat16)
    b = torch.randn(4096, 4096, dtype=torch.bfloat16)
    a @ b
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * 4096**3 / (time.perf_counter() - t) / 1e9)
    return best


def train_flops_per_sample(model_name: str, train_csv: str) -> float:
    """Model FLOPs of one training sample: 6 x non-embedding params x real tokens + attention (fwd+bwd)."""
    import csv

    from transformers import AutoConfig, AutoTokenizer

    from labeltune.models import resolve_model

    path = resolve_model(model_name)
    cfg = AutoConfig.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    with open(train_csv, newline="", encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    lengths = [min(128, len(x)) for x in tok(texts)["input_ids"]]
    h, L, inter = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    per_layer = 4 * h * h + 2 * h * inter  # q, k, v, o and the two feed-forward matrices
    dense = 6 * L * per_layer
    attn = 6 * L * 2 * h  # per token pair: scores and weighted sum, fwd + bwd (x3)
    return sum(dense * s + attn * s * s for s in lengths) / len(lengths)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=2048, help="training sentences")
    p.add_argument("--n-eval", type=int, default=1000, help="held-out sentences for accuracy")
    p.add_argument("--epochs", type=float, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--contenders", default="labeltune,hf_default,hf_best")
    p.add_argument("--labeltune-args", default="{}", help="JSON of extra labeltune.train options")
    p.add_argument("--threads", type=int, default=0, help="torch threads in every contender (0: PyTorch's default)")
    p.add_argument("--repeat", type=int, default=1, help="runs of labeltune and hf_best, taken in turns; the median is reported")
    p.add_argument("--only", help=argparse.SUPPRESS)
    p.add_argument("--data", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--json", help="also write the results to this file")
    a = p.parse_args()

    if a.only:  # child process: one contender
        if a.threads:
            import torch

            torch.set_num_threads(a.threads)
        with tempfile.TemporaryDirectory() as out:
            if a.only == "labeltune":
                r = run_labeltune(a, *a.data, out)
            else:
                r = run_hf(a, *a.data, out, best=a.only == "hf_best")
        r["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print("RESULT " + json.dumps(r))
        return

    work = tempfile.mkdtemp(prefix="bench-cls-")
    train_csv, eval_csv = make_data(a.n, a.n_eval, a.seed, work)
    runs = {}
    for r in range(a.repeat):  # contenders take turns, so a drift in the machine's speed hits all of them
        for name in a.contenders.split(","):
            if name == "hf_default" and r > 0:
                continue  # 7-8x slower than the others: one run resolves it
            cmd = [sys.executable, __file__, "--only", name, "--data", train_csv, eval_csv] + sys.argv[1:]
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                print(proc.stdout[-3000:], proc.stderr[-3000:])
                raise SystemExit(f"{name} failed")
            runs.setdefault(name, []).append(json.loads(line[7:]))
            print(f"{name:12s} {json.dumps(runs[name][-1])}", flush=True)
    results = {}
    for name, rs in runs.items():  # the median run by speed; peak memory is the highest seen
        rs = sorted(rs, key=lambda x: x["samples_per_s"])
        results[name] = {**rs[len(rs) // 2], "peak_rss_mb": max(x["peak_rss_mb"] for x in rs),
                         "all_samples_per_s": [x["samples_per_s"] for x in rs]}

    peak = matmul_peak(a.threads)
    flops = train_flops_per_sample(a.model, train_csv)
    print(f"\n{a.n} sentences, {a.epochs} epoch(s), batch {a.batch_size}, lr {a.lr}, model {a.model}")
    print(f"{'contender':12s} {'samples/s':>10s} {'peak MB':>9s} {'accuracy':>9s} {'GFLOP/s':>8s} {'MFU':>6s}")
    for name, r in results.items():
        achieved = r["samples_per_s"] * flops / 1e9
        r["achieved_gflops"], r["mfu_vs_bf16_matmul_peak"] = round(achieved, 1), round(achieved / peak, 3)
        print(f"{name:12s} {r['samples_per_s']:10.1f} {r['peak_rss_mb']:9.0f} {r['accuracy']:9.4f} "
              f"{achieved:8.1f} {achieved / peak:6.1%}")
    print(f"bf16 matmul peak (4096^3): {peak:.1f} GFLOP/s; model FLOPs per training sample: {flops / 1e9:.3f} G")
    if "labeltune" in results:
        for other in results:
            if other != "labeltune":
                ratio = results["labeltune"]["samples_per_s"] / results[other]["samples_per_s"]
                print(f"labeltune / {other}: {ratio:.2f}x samples/s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "matmul_peak_gflops": peak, "flops_per_sample": flops, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
