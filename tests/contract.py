"""The contract every task passes (spaCy's and flair's habit): overfit a handful of examples, then

1. the training loss goes below 0.05;
2. save -> load gives the same predictions as the in-memory model had (predictions_validation.jsonl);
3. batched prediction equals one-at-a-time prediction.

A task's test calls `check_contract` with a tiny random model, 8 examples, and its own inputs.
"""

from __future__ import annotations

import csv
import json
import math
import os

import labeltune

# eight sentiment sentences: the classification contract's data, shared by the PEFT and few-shot tests
ROWS = [
    ("a wonderful, moving film", "positive"), ("dull and far too long", "negative"),
    ("the best performance of the year", "positive"), ("a tedious mess", "negative"),
    ("funny, warm and clever", "positive"), ("i walked out halfway", "negative"),
    ("a triumph of quiet acting", "positive"), ("lazy writing, awful jokes", "negative"),
]


def write_csv(path, header, rows) -> str:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def _close(a, b, tol: float) -> bool:
    """Equal structures, floats within `tol` (batching changes padding, hence float rounding)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, abs_tol=tol)
    return a == b


def strip_where(preds):
    return [{k: v for k, v in p.items() if k != "where"} for p in preds]


def check_contract(tmp_path, task: str, train_file: str, model_dir: str, inputs: list, options: dict,
                   tol: float = 1e-4) -> dict:
    out = str(tmp_path / f"contract-{task}")
    settings = dict(task=task, model=model_dir, train=train_file, validation=train_file, output=out,
                    batch_size=4, epochs=50, lr=1e-2, warmup_ratio=0.0, precision="fp32", seed=0, quiet=True,
                    log_every=1, eval_every=1000)
    settings.update(options)
    metrics = labeltune.train(**settings)

    # 1. overfit: the last logged training loss
    with open(os.path.join(out, "train_log.jsonl")) as f:
        losses = [r["loss"] for r in map(json.loads, f) if "loss" in r]
    assert losses[-1] < 0.05, f"{task}: could not overfit 8 examples, final loss {losses[-1]:.4f}"

    # 2. save -> load: the loaded model predicts what the in-memory model predicted before saving
    with open(os.path.join(out, "predictions_validation.jsonl")) as f:
        before = strip_where(map(json.loads, f))
    loaded = labeltune.load(out, precision="fp32")
    task_obj = loaded.task
    examples = task_obj.read(train_file, loaded.opts, labelled=False)
    after = task_obj.predict(loaded.rt, examples)
    # prediction files also carry each row's input and gold answer (README: outputs that read alone); the
    # prediction's own fields must all be there, with the values the loaded model gives
    before = list(before)
    assert len(before) == len(after), f"{task}: {len(before)} rows in the prediction file, {len(after)} predicted"
    assert all(set(a) <= set(b) for a, b in zip(after, before)), f"{task}: prediction fields missing from the file"
    before = [{k: b[k] for k in a} for a, b in zip(after, before)]
    assert _close(before, after, 1e-5), f"{task}: predictions changed across save/load"

    # 3. batched == one at a time
    batched = loaded.predict(inputs)
    single = labeltune.load(out, precision="fp32", batch_size=1)
    one_by_one = [single.predict([x])[0] for x in inputs]
    assert _close(batched, one_by_one, tol), f"{task}: batched predictions differ from one-at-a-time"
    return {"metrics": metrics, "output": out, "predictions": batched}
