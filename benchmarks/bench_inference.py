"""Inference speed of one fine-tuned classifier four ways: PyTorch fp32, PyTorch bf16, ONNX Runtime fp32 and
ONNX Runtime int8 (dynamic quantisation), in sentences/s, with each one's agreement with PyTorch fp32.

    labeltune train --train data/rotten_tomatoes.csv --output runs/rt --test-fraction 0.1 --epochs 2 --lr 1e-4
    python benchmarks/bench_inference.py --model runs/rt            # the run's held-out test rows
    python benchmarks/bench_inference.py --model runs/rt --limit 64 --repeat 1   # a quick check

The ONNX models are exported into <model>/onnx unless --onnx-dir names an existing export. Each way runs
the task's own batched inference (`task.predict`, sorted-length batches of --batch-size) once to warm up,
then --repeat times timed; the best time counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

import labeltune  # noqa: E402
from labeltune.export import INT8_FILE, ONNX_FILE, ExportOptions, OnnxModel, compare, export  # noqa: E402


def test_inputs(model_dir: str, data: str | None, limit: int) -> list[dict]:
    """--data's rows, else the run's held-out test rows (found again through split.json)."""
    predictor = labeltune.load(model_dir, precision="fp32")
    if data:
        examples = predictor.task.read(data, predictor.opts, labelled=False)
    else:
        with open(os.path.join(model_dir, "split.json")) as f:
            split = json.load(f)
        wanted = set(split["test"] or split["validation"])
        examples = [e for e in predictor.task.read(split["source"], predictor.opts, labelled=False) if e["_where"] in wanted]
    return examples[:limit] if limit else examples


def timed(predictor, examples, repeat: int) -> tuple[list[dict], float]:
    predictor.task.predict(predictor.rt, [dict(e) for e in examples[:64]])  # warm-up (kernels, caches)
    best, preds = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        preds = predictor.task.predict(predictor.rt, [dict(e) for e in examples])
        best = min(best, time.perf_counter() - start)
    return preds, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a directory written by `labeltune train`")
    ap.add_argument("--data", help="inputs (default: the run's held-out test rows)")
    ap.add_argument("--onnx-dir", help="an existing `labeltune export --quantize int8` directory")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N inputs (0: all)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: the library default)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    examples = test_inputs(args.model, args.data, args.limit)
    onnx_dir = args.onnx_dir
    if not onnx_dir:
        onnx_dir = os.path.join(args.model, "onnx")
        export(ExportOptions(model=args.model, output=onnx_dir, quantize="int8", data=args.data, overwrite=True,
                             agreement_examples=64))

    results, reference = [], None
    ways = [("pytorch fp32", "fp32", None), ("pytorch bf16", "bf16", None),
            ("onnx fp32", "fp32", ONNX_FILE), ("onnx int8", "fp32", INT8_FILE)]
    for name, precision, onnx_file in ways:
        predictor = labeltune.load(args.model, precision=precision, batch_size=args.batch_size, backend="torch")
        if onnx_file:  # the same task code and batches, the model swapped for an ONNX Runtime session
            predictor.rt.model = OnnxModel(os.path.join(onnx_dir, onnx_file), threads=torch.get_num_threads())
        preds, seconds = timed(predictor, examples, args.repeat)
        reference = reference or preds
        agree = compare(reference, preds)
        results.append({"way": name, "sentences_per_s": round(len(examples) / seconds, 1), "seconds": round(seconds, 3),
                        "agreement_with_fp32": round(agree["agreement"], 4),
                        "max_abs_score_diff": float(f"{agree['max_abs_score_diff']:.3g}")})
        print(f"{name:13} {results[-1]['sentences_per_s']:9.1f} sentences/s  agreement {agree['agreement']:.2%}  "
              f"max |score diff| {agree['max_abs_score_diff']:.2e}", flush=True)
    summary = {"model": args.model, "inputs": len(examples), "batch_size": args.batch_size,
               "threads": torch.get_num_threads(), "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
