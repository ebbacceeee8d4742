"""Attention kernels at long sequences: time and peak memory of a MiniLM training step per kernel.

    .venv/bin/python benchmarks/bench_attention.py --batch-size 16 --length 384 --threads 2

Each kernel runs in its own subprocess (peak RSS is per process): HF's eager and sdpa, and labeltune's
(kernels.py), all with labeltune's CPU dropout swap, bf16 autocast, forward + backward of random token ids.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def one(a) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification

    from labeltune.models import resolve_model, set_attention

    if a.threads:
        torch.set_num_threads(a.threads)
    model = AutoModelForSequenceClassification.from_pretrained(resolve_model(a.model), num_labels=2)
    set_attention(model, a.only, torch.device("cpu"))
    model.train()
    batch = {"input_ids": torch.randint(1000, 20000, (a.batch_size, a.length)),
             "labels": torch.zeros(a.batch_size, dtype=torch.long)}
    times = []
    for _ in range(a.steps):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        model.zero_grad(set_to_none=True)
        times.append(round(time.perf_counter() - t, 2))
    return {"seconds_per_step": times, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--length", type=int, default=384)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--only", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.only:
        print("RESULT " + json.dumps(one(a)))
        return
    print(f"{a.model}, batch {a.batch_size} x {a.length} tokens, {a.steps} steps (forward + backward)")
    for kernel in ("sdpa", "eager", "labeltune"):
        out = subprocess.run([sys.executable, __file__, "--only", kernel] + sys.argv[1:], capture_output=True, text=True)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"{kernel} failed:\n{out.stderr[-3000:]}")
        r = json.loads(line[7:])
        print(f"{kernel:10s} s/step {r['seconds_per_step']}  peak {r['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
