"""Prediction speed: `labeltune predict` against `transformers.pipeline` on the same sentences and model.

    .venv/bin/python benchmarks/bench_predict.py --model runs/demo --n 5000

--model is a directory written by `labeltune train` (e.g. by `make demo`); without it, a model is first
fine-tuned for a few steps on 512 sentences (speed does not depend on how well it is trained).
Prints sentences/s for: the pipeline as documented (batch_size 1), the pipeline with batch_size 64, labeltune
in fp32 and labeltune with its defaults (bf16 where fast, sorted-by-length batches), and label agreement.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="a labeltune output directory")
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()

    import torch
    from transformers import pipeline

    import labeltune
    from labeltune.data.bundled import rotten_tomatoes

    if a.threads:
        torch.set_num_threads(a.threads)
    work = tempfile.mkdtemp(prefix="bench-predict-")
    data = rotten_tomatoes(os.path.join(work, "rt.csv"))
    with open(data, newline="", encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)][: a.n]
    model_dir = a.model
    if not model_dir:
        model_dir = os.path.join(work, "model")
        small = rotten_tomatoes(os.path.join(work, "small.csv"), limit=512)
        labeltune.train(train=small, output=model_dir, max_steps=20, quiet=True, validation_fraction=0)

    results = {}

    def timed(name, fn):
        fn(texts[:64])  # warm-up: first calls build kernels
        t = time.perf_counter()
        out = fn(texts)
        results[name] = (len(texts) / (time.perf_counter() - t), [o["label"] for o in out])
        print(f"{name:28s} {results[name][0]:8.1f} sentences/s", flush=True)

    pipe = pipeline("text-classification", model=model_dir, device="cpu")
    timed("pipeline batch_size=1", lambda xs: pipe(xs))
    timed("pipeline batch_size=64", lambda xs: pipe(xs, batch_size=64))
    lt32 = labeltune.load(model_dir, precision="fp32")
    timed("labeltune fp32", lt32.predict)
    lt = labeltune.load(model_dir)
    timed(f"labeltune default ({lt.rt.precision})", lt.predict)

    ref = results["pipeline batch_size=1"]
    for name, (speed, labels) in results.items():
        agree = sum(x == y for x, y in zip(labels, ref[1])) / len(labels)
        print(f"{name:28s} {speed / ref[0]:6.2f}x pipeline(bs=1)  "
              f"{speed / results['pipeline batch_size=64'][0]:6.2f}x pipeline(bs=64)  label agreement {agree:.4f}")


if __name__ == "__main__":
    main()
