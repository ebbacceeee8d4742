"""Which training-step levers pay on this machine: each variant's step time, measured interleaved.

    .venv/bin/python benchmarks/bench_levers.py --steps 30 --threads 2
    .venv/bin/python benchmarks/bench_levers.py --steps 10 --batch-size 8 --threads 2 \
        --model "$(.venv/bin/python -c 'from labeltune.gguf import smollm2_gguf; print(smollm2_gguf())')"

On a shared VM the speed of the same run drifts by 10-20% from minute to minute, so comparing separate runs
cannot resolve a 10% lever. Here every variant is a copy of the same model in one process, and the variants take
turns step by step on the same real, length-grouped Rotten Tomatoes batches (bf16 autocast, fused AdamW, as the
loop). Reported: the median step time of each variant and its speed relative to HF's defaults (sdpa attention,
torch dropout).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

VARIANTS = {  # name: (attention, fast dropout)
    "hf sdpa + torch dropout": ("sdpa", False),
    "hf eager + torch dropout": ("eager", False),
    "hf eager + fast dropout": ("eager", True),
    "labeltune attention + fast dropout": ("labeltune", True),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per variant (after 3 warm-up steps)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from labeltune import kernels
    from labeltune.batching import collate_encoder, make_batches
    from labeltune.data.bundled import rotten_tomatoes
    from labeltune.models import resolve_model

    import csv
    import tempfile

    path = resolve_model(a.model)  # a hub id, a directory or a .gguf file
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token_id is None:  # decoder-only LMs: any id will do, the attention mask hides it
        tok.pad_token = tok.eos_token
    with tempfile.TemporaryDirectory() as d, open(rotten_tomatoes(f"{d}/rt.csv", limit=0), newline="") as f:
        rows = list(csv.DictReader(f))
    ids = tok([r["text"] for r in rows], truncation=True, max_length=128)["input_ids"]
    features = [{"input_ids": x, "labels": int(r["label"] == "positive")} for x, r in zip(ids, rows)]
    order = make_batches([len(x) for x in ids], a.batch_size, seed=0, epoch=0)[: a.steps + 3]
    batches = [collate_encoder([features[i] for i in b], tok.pad_token_id) for b in order]

    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, pad_token_id=tok.pad_token_id)
    kernels.register()
    runs = {}
    for name, (attention, fast) in VARIANTS.items():
        model = copy.deepcopy(base).train()
        if fast:
            kernels.use_fast_dropout(model)
        model.set_attn_implementation(attention)
        runs[name] = (model, torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True), [])

    names = list(runs)
    for i, batch in enumerate(batches):
        # the variants take turns on the same batch, starting with a different one each step, so that none
        # is always the first to meet a new shape (oneDNN compiles a kernel per shape)
        for name in names[i % len(names) :] + names[: i % len(names)]:
            model, optimizer, times = runs[name]
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if i >= 3:
                times.append(time.perf_counter() - t)

    tokens = sum(b["input_ids"].numel() for b in batches[3:]) / len(batches[3:])
    print(f"{a.steps} steps of {a.batch_size} real sentences ({tokens:.0f} padded tokens per batch), {a.model}")
    ref = statistics.median(runs["hf sdpa + torch dropout"][2])
    for name, (_, _, times) in runs.items():
        med = statistics.median(times)
        print(f"{name:36s} {med * 1000:7.1f} ms/step  {a.batch_size / med:7.1f} samples/s  {ref / med:5.2f}x")


if __name__ == "__main__":
    main()
