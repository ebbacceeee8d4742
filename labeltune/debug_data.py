"""`labeltune debug-data`: look at a data set before spending compute on it (as spaCy's `debug data`).

The shared part counts examples, duplicates inside train, train/validation overlap and the token-length
distribution with the share that would be truncated; each task adds its own part (label counts,
invalid tag sequences, answers that do not match their context, ...).
"""

from __future__ import annotations

import numpy as np

from .config import TrainConfig
from .models import load_tokenizer, resolve_model
from .tasks import get_task


def _group_key(g):
    return repr(g)


def report(cfg: TrainConfig, opts) -> dict:
    from transformers.utils import logging as hf_logging

    task = get_task(cfg.task)
    train = task.read(cfg.train, opts)
    validation = task.read(cfg.validation, opts) if cfg.validation else None
    tokenizer = load_tokenizer(resolve_model(cfg.model), cfg.trust_remote_code)
    max_length = cfg.max_length or min(512, tokenizer.model_max_length)
    out = {"task": cfg.task, "train_examples": len(train)}
    if validation is not None:
        out["validation_examples"] = len(validation)

    # what makes two examples "the same": the task's duplicate_keys if it has them (QA: question + context),
    # else the split groups (classification: the text)
    dup_keys = getattr(task, "duplicate_keys", None) or (lambda exs: task.split_keys(exs)[0])
    keys = [_group_key(g) for g in dup_keys(train)]
    out["train_duplicates"] = len(keys) - len(set(keys))
    if validation is not None:  # validation examples that also occur in train (each one counted)
        seen = set(keys)
        out["train_validation_overlap"] = sum(_group_key(g) in seen for g in dup_keys(validation))

    hf_logging.set_verbosity_error()  # untruncated lengths are measured on purpose; no "too long" warnings
    setup = task.setup(train, opts)
    lengths = np.array(task.input_lengths(train, tokenizer, setup, opts))
    out["token_length"] = {
        "min": int(lengths.min()), "median": float(np.median(lengths)), "p95": float(np.percentile(lengths, 95)),
        "max": int(lengths.max()), "max_length": max_length,
        "share_truncated": round(float((lengths > max_length).mean()), 4),
    }
    out.update(task.report(train, validation, tokenizer, opts, max_length))
    return out


def format_report(rep: dict) -> str:
    lines = []
    for key, value in rep.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines.extend(f"  {k}: {v}" for k, v in value.items())
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)
