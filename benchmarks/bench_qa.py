"""Extractive QA: labeltune against the Hugging Face Trainer in the `run_qa.py` setup, side by side.

Both fine-tune the same model on the same SQuAD-format questions for the same epochs, batch size and
learning rate (warmup 0, weight decay 0: the Trainer's defaults), in fp32:

* HF: `prepare_train_features` as in transformers' examples/pytorch/question-answering/run_qa.py (question +
  context, truncation only_second, every window padded to --max-length, --doc-stride overlap), `Trainer` with
  its defaults (fused AdamW, linear schedule, no length grouping).
* labeltune: `labeltune.train(task="qa", ...)`: the same windows, padded per batch, batches grouped by length.

Train speed is windows (features) per second of training steps. Both trained models are then scored by the
same code (labeltune's n-best postprocessing over all windows and the official SQuAD EM/F1), so the EM/F1 gap
reflects training only. Data: --data DIR with train.json and validation.json (SQuAD format); default: the
World English Bible QA set from `labeltune.corpora.qa_bible` (built once into --cache).

    .venv/bin/python benchmarks/bench_qa.py --n-train 400 --n-eval 150 --epochs 1 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import labeltune  # noqa: E402
from labeltune.models import resolve_model  # noqa: E402
from labeltune.tasks import Runtime, get_task  # noqa: E402


def subset(path: str, n: int, seed: int, out: str) -> str:
    """The first n questions of a seeded paragraph order (whole paragraphs, so contexts stay together)."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    pars = [p for art in doc["data"] for p in art["paragraphs"]]
    random.Random(seed).shuffle(pars)
    kept, count = [], 0
    for p in pars:
        if count >= n:
            break
        qas = p["qas"][: n - count]
        kept.append({"context": p["context"], "qas": qas})
        count += len(qas)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"version": doc.get("version", "v1.1"), "data": [{"title": "subset", "paragraphs": kept}]}, f)
    return out


def prepare_train_features(examples, tokenizer, max_length: int, doc_stride: int):
    """run_qa.py's prepare_train_features (pad_on_right, pad to max_length), on labeltune's example dicts."""
    enc = tokenizer([e["question"].lstrip() for e in examples], [e["context"] for e in examples],
                    truncation="only_second", max_length=max_length, stride=doc_stride,
                    return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")
    features = []
    for i, offsets in enumerate(enc["offset_mapping"]):
        input_ids = enc["input_ids"][i]
        cls_index = input_ids.index(tokenizer.cls_token_id)
        seq = enc.sequence_ids(i)
        ex = examples[enc["overflow_to_sample_mapping"][i]]
        start_char = ex["answers"][0]["answer_start"]
        end_char = start_char + len(ex["answers"][0]["text"])
        tok_start = 0
        while seq[tok_start] != 1:
            tok_start += 1
        tok_end = len(input_ids) - 1
        while seq[tok_end] != 1:
            tok_end -= 1
        if not (offsets[tok_start][0] <= start_char and offsets[tok_end][1] >= end_char):
            start_pos = end_pos = cls_index
        else:
            while tok_start < len(offsets) and offsets[tok_start][0] <= start_char:
                tok_start += 1
            start_pos = tok_start - 1
            while offsets[tok_end][1] >= end_char:
                tok_end -= 1
            end_pos = tok_end + 1
        f = {"input_ids": input_ids, "attention_mask": enc["attention_mask"][i],
             "start_positions": start_pos, "end_positions": end_pos}
        if "token_type_ids" in enc:
            f["token_type_ids"] = enc["token_type_ids"][i]
        features.append(f)
    return features


def run_hf(args, model_path, train_ex, out_dir):
    from datasets import Dataset
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, Trainer, TrainingArguments, set_seed

    tok = AutoTokenizer.from_pretrained(model_path)
    set_seed(args.seed)
    model = AutoModelForQuestionAnswering.from_pretrained(model_path)
    train_ds = Dataset.from_list(prepare_train_features(train_ex, tok, args.max_length, args.doc_stride))
    targs = TrainingArguments(
        output_dir=out_dir, per_device_train_batch_size=args.batch_size, learning_rate=args.lr,
        num_train_epochs=args.epochs, seed=args.seed, use_cpu=not torch.cuda.is_available(),
        save_strategy="no", eval_strategy="no", report_to=[], disable_tqdm=True, logging_strategy="no",
    )
    trainer = Trainer(model=model, args=targs, train_dataset=train_ds)
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    return model, tok, {"train_features": len(train_ds), "train_seconds": round(seconds, 1),
                        "train_samples_per_s": round(result.metrics["train_samples_per_second"], 2)}


def score(model, tokenizer, examples, args) -> dict:
    """labeltune's postprocessing and official SQuAD metrics, for any QA model."""
    task = get_task("qa")
    opts = task.Options(doc_stride=args.doc_stride)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rt = Runtime(model.to(device), tokenizer, {"version_2_with_negative": False}, opts, args.max_length, "fp32",
                 64, device)
    metrics, _ = task.evaluate(rt, examples)
    return {"exact_match": round(metrics["exact_match"], 2), "f1": round(metrics["f1"], 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="directory with train.json and validation.json (SQuAD format)")
    p.add_argument("--cache", default=os.path.expanduser("~/.cache/labeltune/bench_qa"), help="where the Bible QA set is built")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--n-train", type=int, default=400)
    p.add_argument("--n-eval", type=int, default=150)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--max-length", type=int, default=384)
    p.add_argument("--doc-stride", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--labeltune-precision", default="auto", help="labeltune's --precision (HF stays fp32 as run_qa)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    data = args.data
    if data is None:
        data = args.cache
        if not os.path.exists(os.path.join(data, "train.json")):
            from labeltune.corpora.qa_bible import build_qa

            build_qa(data, seed=0)
    work = tempfile.mkdtemp(prefix="bench_qa_")
    train_file = subset(os.path.join(data, "train.json"), args.n_train, args.seed, os.path.join(work, "train.json"))
    eval_file = subset(os.path.join(data, "validation.json"), args.n_eval, args.seed, os.path.join(work, "val.json"))
    model_path = resolve_model(args.model)
    task = get_task("qa")
    train_ex = task.read(train_file, task.Options())
    eval_ex = task.read(eval_file, task.Options())

    # labeltune: its own loop; validation only at the end, scored below by the shared code
    out = os.path.join(work, "labeltune")
    m = labeltune.train(task="qa", model=model_path, train=train_file, validation=eval_file, output=out,
                        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_length=args.max_length,
                        doc_stride=args.doc_stride, warmup_ratio=0.0, weight_decay=0.0, precision=args.labeltune_precision,
                        seed=args.seed, quiet=True)
    lt = labeltune.load(out, precision="fp32")
    lt_row = {"train_samples_per_s": m["train_samples_per_s"], **score(lt.rt.model, lt.rt.tokenizer, eval_ex, args)}

    hf_model, hf_tok, hf_stats = run_hf(args, model_path, train_ex, os.path.join(work, "hf"))
    hf_row = {"train_samples_per_s": hf_stats["train_samples_per_s"], **score(hf_model, hf_tok, eval_ex, args)}

    result = {"setup": {k: v for k, v in vars(args).items() if k not in ("json", "cache")},
              "train_questions": len(train_ex), "eval_questions": len(eval_ex),
              "train_features_hf": hf_stats["train_features"], "labeltune": lt_row, "hf_trainer": hf_row,
              "threads": torch.get_num_threads()}
    print(f"labeltune precision: {m['precision']}; HF Trainer: fp32 (run_qa defaults)")
    print(f"{'':12} {'train samples/s':>16} {'EM':>7} {'F1':>7}")
    for name, row in (("labeltune", lt_row), ("HF Trainer", hf_row)):
        print(f"{name:12} {row['train_samples_per_s']:>16.2f} {row['exact_match']:>7.2f} {row['f1']:>7.2f}")
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
