"""`labeltune debug-data`: look at a data set before spending compute on it (as spaCy's `debug data`).

The shared part counts examples, duplicates inside train, train/validation overlap and the token-length
distribution with the share that would be truncated; each task adds its own part (label counts,
invalid tag sequences, answers that do not match their context, ...).
"""

from __future__ import annotations

import os

import numpy as np

from .config import TrainConfig
from .errors import UserError
from .models import load_tokenizer, resolve_model
from .tasks import get_task


def _group_key(g):
    return repr(g)


def report(cfg: TrainConfig, opts) -> dict:
    """The report; `problems` lists every problem found, each "error" (train would refuse the data) or
    "warning" (train runs, but look). `labeltune debug-data` exits 1 when there is an error."""

    task = get_task(cfg.task)
    problems = []
    train = _read(task, cfg.train, opts, problems, "train")
    validation = _read(task, cfg.validation, opts, problems, "validation") if cfg.validation else None
    if train is None or (cfg.validation and validation is None):
        return {"task": cfg.task, "problems": problems, "errors": len(problems)}
    out = _checked(cfg, task, opts, train, validation, problems)
    out["problems"] = problems
    out["errors"] = sum(p["severity"] == "error" for p in problems)
    return _rounded(out)


def _checked(cfg, task, opts, train, validation, problems) -> dict:
    from transformers.utils import logging as hf_logging

    try:
        setup = task.setup(train, opts)
        if validation:
            task.check(validation, setup, opts)
    except UserError as e:  # a single class; a validation label unseen in training
        problems.append({"severity": "error", "problem": str(e)})
        setup = None
    labels = (setup or {}).get("labels") or []
    folded = {}
    for label in labels:  # near-duplicates: the same label in another case or spacing ("Pos" and "pos")
        folded.setdefault(" ".join(str(label).lower().split()), []).append(label)
    for same in folded.values():
        if len(same) > 1:
            problems.append({"severity": "warning", "problem": f"labels {same} differ only in case or spaces; "
                             "they are different classes now: make them one spelling if they mean the same"})
    for e in train + (validation or []):
        for issue in e.get("_issues", []):  # NER: invalid tag sequences that train repairs
            problems.append({"severity": "warning", "problem": issue + " (repaired as conlleval does)"})
    if opts is not None and getattr(opts, "repair_answers", False):
        from .outputs import write_squad

        path = os.path.splitext(cfg.train)[0] + ".repaired.json"
        write_squad(train, path)
        problems.append({"severity": "note", "problem": f"--repair-answers: the repaired training data is in {path} "
                         f"({sum(e.get('_repaired', 0) for e in train)} answer_start value(s) moved)"})
    if setup is None:  # the counts below need the label set
        return {"task": cfg.task, "train_examples": len(train)}
    if not validation:
        _check_default_split(cfg, task, train, problems)
    tokenizer = load_tokenizer(resolve_model(cfg.model), cfg.trust_remote_code, getattr(task, "needs_offsets", True))
    out = _base_report(cfg, task, opts, train, validation, tokenizer, setup, hf_logging)
    share = out["token_length"]["share_truncated"]
    if share:
        windows = getattr(task, "long_inputs", None)  # optional: how the task reads an input over --max-length
        problems.append({"severity": "note" if windows else "warning", "problem": f"{share:.1%} of training inputs "
                         f"are longer than {out['token_length']['max_length']} tokens and will be "
                         f"{windows or 'truncated (--max-length)'}"})
    return out


def _check_default_split(cfg, task, train, problems) -> None:
    """Without --validation, train carves --validation-fraction (0.1) of the groups: say when that holds out
    nothing, which train refuses (a few CoNLL documents, a few distinct texts per class)."""
    from .data.split import grouped_stratified_split
    from .guards import smallest_fraction

    frac = cfg.validation_fraction
    groups, strata = task.split_keys(train)
    if not frac or grouped_stratified_split(groups, strata, [frac, 0.0], cfg.seed)[0]:
        return
    enough = smallest_fraction(groups, strata, [frac, 0.0], 0, cfg.seed)
    unit = getattr(task, "group_description", "identical input")
    fix = f"--validation-fraction {enough:g}" if enough else "more rows"
    problems.append({"severity": "warning", "problem": f"train: --validation-fraction {frac:g} (train's default) "
                     f"holds out none of its {len(set(groups))} groups of rows (by {unit}), so `labeltune train` "
                     f"refuses it as it is: give --validation FILE, {fix}, or --validation-fraction 0"})


def _read(task, path, opts, problems: list, split: str):
    """The examples of `path`, or None with the problems recorded (every bad byte, every bad row where the
    reader can list them; else the first problem the reader found)."""
    byte_problems = bad_bytes(path)
    problems.extend({"severity": "error", "problem": f"{split}: {msg}"} for msg in byte_problems)
    row_problems = getattr(task, "row_problems", None)  # optional hook: every bad row, not only the first
    if row_problems is not None:
        from .data.readers import bad_bytes_replaced

        try:
            with bad_bytes_replaced():  # the bytes are listed above; the rows around them are checked too
                listed = row_problems(path, opts)
        except UserError:
            listed = []
        if byte_problems and not listed:  # the rows read, but train would still stop at the first bad byte
            return None
        problems.extend({"severity": "error", "problem": f"{split}: {msg}"} for msg in listed)
        if listed:
            return None
    try:
        return task.read(path, opts)
    except UserError as e:
        from .hints import with_task_hint

        message = str(with_task_hint(e, path, task.name))
        head, sep, listed = message.partition(" problem(s) in the data: ")  # a reader that lists them all (QA)
        for msg in (listed.split("; ") if sep else [message]):
            if not any(msg.endswith(p["problem"].split(": ", 1)[-1]) for p in problems):
                problems.append({"severity": "error", "problem": f"{split}: {msg}"})
        return None


def bad_bytes(path) -> list[str]:
    """Every line of a text file that is not valid UTF-8 (the reader stops at the first); a Parquet file, a
    spreadsheet, an archive are binary (their reader checks or refuses them: each line of a workbook was listed)."""
    from .data.readers import is_binary_name

    if not path or not os.path.isfile(path) or str(path).lower().endswith(".parquet") or is_binary_name(path):
        return []
    out = []
    with open(path, "rb") as f:
        for n, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                out.append(f"{path}, line {n}: byte {line[e.start]:#x} is not valid UTF-8; re-save the file as UTF-8")
                if len(out) >= 50:
                    break
    if out:  # the conversion, said once
        from .data.readers import legacy_hint

        with open(path, "rb") as f:
            out[0] += legacy_hint(f.read())
    return out


def _rounded(value):
    """Floats to 4 significant decimals, everywhere in the report."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _base_report(cfg, task, opts, train, validation, tokenizer, setup, hf_logging) -> dict:
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
    lengths = np.array(task.input_lengths(train, tokenizer, setup, opts))
    out["token_length"] = {
        "min": int(lengths.min()), "median": round(float(np.median(lengths)), 1),
        "p95": round(float(np.percentile(lengths, 95)), 1),
        "max": int(lengths.max()), "max_length": max_length,
        "share_truncated": round(float((lengths > max_length).mean()), 4),
    }
    out.update(task.report(train, validation, tokenizer, opts, max_length))
    return out


def format_report(rep: dict) -> str:
    lines = []
    for key, value in rep.items():
        if key == "problems":
            continue
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines.extend(f"  {k}: {v}" for k, v in value.items())
        else:
            lines.append(f"{key}: {value}")
    problems = rep.get("problems", [])
    lines.append(f"problems: {len(problems)}" + (" (none found)" if not problems else ""))
    lines.extend(f"  {p['severity']}: {p['problem']}" for p in problems)
    if rep.get("errors"):
        lines.append(f"{rep['errors']} error(s): `labeltune train` would refuse this data; fix them first")
    return "\n".join(lines)
