"""Seconds per explained sentence and peak memory: labeltune explain vs the plain captum recipe.

    .venv/bin/python benchmarks/bench_explain.py --model runs/rt --input data/rotten_tomatoes.csv --n 50 --threads 2

--model: a classification model saved by labeltune (e.g. MiniLM fine-tuned on Rotten Tomatoes:
`labeltune train --train data/rotten_tomatoes.csv --output runs/rt --epochs 1`); --input: a CSV with a text column.
Every contender explains the same first --n texts (predicted class, fp32), each in its own subprocess so that
its peak memory (ru_maxrss) is its own; one warm-up sentence is not timed.

  labeltune_ig50      labeltune explain --method ig --n-steps 50 (steps in batches of --internal-batch-size, words)
  labeltune_ig_auto   --n-steps auto (16, 32, ... until IG's completeness error < 5%)
  labeltune_gxi       --method gxi
  labeltune_occlusion --method occlusion (leave one word out, all words in one batch)
  captum_ig50         the recipe a user writes from captum's BERT tutorial: LayerIntegratedGradients on the
                      embedding layer, 50 steps, all steps in one forward pass (no internal_batch_size), tokens
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CONTENDERS = ("labeltune_ig50", "labeltune_ig_auto", "labeltune_gxi", "labeltune_occlusion", "captum_ig50")


def _texts(path: str, n: int) -> list[str]:
    from labeltune.data.readers import read_table

    return [r["text"] for r in read_table(path).rows[: n + 1]]


def run_one(name: str, model: str, texts: list[str], batch: int) -> dict:
    import torch

    import labeltune

    p = labeltune.load(model, precision="fp32")
    if name.startswith("labeltune"):
        method, steps = {"labeltune_ig50": ("ig", "50"), "labeltune_ig_auto": ("ig", "auto"),
                         "labeltune_gxi": ("gxi", "auto"), "labeltune_occlusion": ("occlusion", "auto")}[name]
        run = lambda t: p.explain([t], method=method, n_steps=steps, internal_batch_size=batch)  # noqa: E731
    else:
        from captum.attr import LayerIntegratedGradients

        model_, tok = p.rt.model.eval(), p.rt.tokenizer

        def forward(input_ids, attention_mask):
            return torch.softmax(model_(input_ids=input_ids, attention_mask=attention_mask).logits, -1)

        lig = LayerIntegratedGradients(forward, model_.get_input_embeddings())

        def run(t):
            enc = tok(t, return_tensors="pt", truncation=True, max_length=p.rt.max_length)
            ids, mask = enc["input_ids"], enc["attention_mask"]
            ref = torch.full_like(ids, tok.pad_token_id)
            ref[0, 0], ref[0, -1] = ids[0, 0], ids[0, -1]  # keep [CLS] and [SEP]
            target = int(forward(ids, mask).argmax())
            attr, delta = lig.attribute(ids, baselines=ref, additional_forward_args=(mask,), target=target,
                                        n_steps=50, return_convergence_delta=True)
            return attr.sum(-1)

    run(texts[0])  # warm-up
    start = time.perf_counter()
    for t in texts[1:]:
        run(t)
    seconds = time.perf_counter() - start
    return {"contender": name, "sentences": len(texts) - 1, "s_per_sentence": round(seconds / (len(texts) - 1), 4),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--internal-batch-size", type=int, default=16)
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(run_one(args.one, args.model, _texts(args.input, args.n), args.internal_batch_size)))
        return 0
    rows = []
    for name in args.contenders.split(","):
        cmd = [sys.executable, __file__, "--model", args.model, "--input", args.input, "--n", str(args.n),
               "--threads", str(args.threads), "--internal-batch-size", str(args.internal_batch_size), "--one", name]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
        print(json.dumps(rows[-1]), file=sys.stderr)
    print("| contender | s / sentence | peak RSS MB |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['contender']} | {r['s_per_sentence']} | {r['peak_rss_mb']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
