"""Find training rows whose given label looks wrong: `labeltune label-issues` and `labeltune tune --find-label-issues`.

Confident learning (Northcutt, Jiang & Chuang 2021, "Confident Learning: Estimating Uncertainty in Dataset
Labels"), on out-of-fold predictions:

1. k folds of the training data (data/split.py's `kfold`, grouped and stratified as `labeltune tune` does);
   a model trained on the other folds gives each held-out row's class probabilities;
2. the per-class threshold t_j is the mean probability of class j over the units labelled j (the class's
   average self-confidence);
3. a unit's confident label is the most probable class among those whose probability reaches their
   threshold; counting (given, confident) pairs gives the confident joint. Units off its diagonal (a
   confident label other than the given one) are label issues;
4. issues are ranked by self-confidence, the probability the model gives the given label (lowest first).

A unit is an example for classification and a word for NER (from the task's optional `label_quality`
hook), so one NER sentence may have several flagged words, each its own row in label_issues.csv.

Written here rather than taken from cleanlab: cleanlab is AGPL-3.0, which would bind labeltune's own
licence; the method is the ~20 lines of `confident_learning` below. (Installing cleanlab yourself and
feeding it `out_of_fold` results works too.)
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from .config import opt
from .cli_help import Parser
from .errors import UserError, flag
from .files import atomic_open, atomic_write_text

CSV_FILE, JSON_FILE = "label_issues.csv", "label_issues.json"


@dataclass
class LabelIssueOptions:
    """The flags of `labeltune label-issues` (the data, model and training flags are those of `train`)."""

    folds: int = opt(5, "cross-validation folds for the out-of-fold predictions (k models are trained)")

    def __post_init__(self):
        if self.folds < 2:
            raise UserError(f"{flag('folds')} must be at least 2")


def confident_learning(probs: np.ndarray, given: np.ndarray) -> dict:
    """Per unit: issue flag, confident (suggested) label, self-confidence; plus thresholds and confident joint.

    `probs`: [units, classes] out-of-fold probabilities; `given`: [units] given class indices."""
    n, k = probs.shape
    thresholds = np.array([probs[given == j, j].mean() if (given == j).any() else 1.0 for j in range(k)])
    above = probs >= thresholds[None, :]
    has = above.any(1)
    confident = np.where(above, probs, -1.0).argmax(1)
    joint = np.zeros((k, k), dtype=int)
    np.add.at(joint, (given[has], confident[has]), 1)
    self_confidence = probs[np.arange(n), given]
    suggested = np.where(has, confident, probs.argmax(1))
    return {"issue": has & (confident != given), "suggested": suggested, "self_confidence": self_confidence,
            "thresholds": thresholds, "joint": joint}


def check_task(task, train_ex: list[dict], opts):
    """The task's `label_quality` hook, after it has seen the data's setup with no examples: a task or data it
    cannot rank (QA, multi-label) is refused before any model is trained (also by `tune --find-label-issues`,
    before its cross-validation)."""
    hook = getattr(task, "label_quality", None)
    if hook is None:
        raise UserError(f"--task {task.name}: label issues are found for tasks with a label per example or per "
                        "token (classification, ner)")
    hook(SimpleNamespace(setup=task.setup(train_ex, opts), opts=opts), [])
    return hook


def out_of_fold(cfg, opts, task, train_ex: list[dict], k: int, work_dir: str) -> list[list[dict]]:
    """For every training example, its units from `task.label_quality` scored by the model of the fold that
    held it out."""
    from . import run
    from .data.split import kfold

    hook = check_task(task, train_ex, opts)
    groups, strata = task.split_keys(train_ex)
    folds = kfold(groups, strata, k, cfg.seed)
    setup = task.setup(train_ex, opts)  # from all rows: a fold may lack a rare label
    units: list = [None] * len(train_ex)
    for f, fold in enumerate(folds):
        held = set(fold)
        fold_train = [e for i, e in enumerate(train_ex) if i not in held]
        out = os.path.join(work_dir, f"fold-{f}")
        fold_cfg = dataclasses.replace(cfg, output=out, overwrite=True, resume=False, validation=None, test=None,
                                       validation_fraction=0.0, test_fraction=0.0, save_adapter=False)
        print(f"[label-issues] fold {f + 1}/{len(folds)}: train on {len(fold_train)}, score {len(fold)}", flush=True)
        try:
            run.train(fold_cfg, opts, examples=(fold_train, None, None), setup=dict(setup))
            model = run.Predictor(out, precision=cfg.precision)
            # the fold model's task: with --word-recognition, wrapped by its front end (rows scored as it reads them)
            scored = getattr(model.task, "label_quality", hook)
            for i, u in zip(fold, scored(model.rt, [train_ex[i] for i in fold])):
                units[i] = u
        finally:
            shutil.rmtree(out, ignore_errors=True)
    return units


def rank(train_ex: list[dict], units: list[list[dict]], labels: list[str]) -> tuple[list[dict], dict]:
    """(flagged rows ranked by self-confidence, summary) from every example's units."""
    flat = [(i, u) for i, us in enumerate(units) for u in us]
    if not flat:
        raise UserError("label issues: the training data has no labelled units to check")
    labels = flat[0][1].get("classes") or labels  # a unit may name its own columns (NER on IO tags: the bare types)
    probs = np.stack([np.asarray(u["probs"], dtype=np.float64) for _, u in flat])
    given = np.array([u["given"] for _, u in flat])
    cl = confident_learning(probs, given)
    rows = []
    for j in np.flatnonzero(cl["issue"]):
        i, u = flat[j]
        rows.append({"where": train_ex[i]["_where"], "unit": u.get("unit") or "", "text": u["text"],
                     "given_label": labels[given[j]], "suggested_label": labels[cl["suggested"][j]],
                     "self_confidence": round(float(cl["self_confidence"][j]), 6),
                     "suggested_probability": round(float(probs[j, cl["suggested"][j]]), 6), "example": i})
    rows.sort(key=lambda r: r["self_confidence"])
    for n, r in enumerate(rows, 1):
        r["rank"] = n
    summary = {"examples": len(train_ex), "units": len(flat), "issues": len(rows),
               "examples_with_issues": len({r["example"] for r in rows}),
               "thresholds": {labels[j]: round(float(t), 6) for j, t in enumerate(cl["thresholds"])},
               "confident_joint": {"labels": labels, "rows_given_cols_confident": cl["joint"].tolist()},
               "method": "confident learning (off-diagonal of the confident joint), ranked by self-confidence"}
    return rows, summary


def write(out: str, rows: list[dict], summary: dict) -> str:
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, CSV_FILE)
    fields = ["rank", "where", "unit", "text", "given_label", "suggested_label", "self_confidence",
              "suggested_probability"]
    with atomic_open(path, newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    atomic_write_text(os.path.join(out, JSON_FILE), json.dumps(summary, indent=1))
    return path


def find_label_issues(cfg, opts, lopts: LabelIssueOptions | None = None) -> dict:
    """Out-of-fold predictions -> confident learning -> <output>/label_issues.csv (+ .json). Returns the summary
    with "rows" (the ranked issues)."""
    from .tasks import get_task

    lopts = lopts or LabelIssueOptions()
    if cfg.train is None:
        raise UserError("--train is required: the labelled data to check")
    if not cfg.output:
        raise UserError("--output is required: the directory for label_issues.csv")
    if os.path.exists(cfg.output) and not os.path.isdir(cfg.output):
        raise UserError(f"--output {cfg.output} is a file, expected a directory")
    task = get_task(cfg.task)
    train_ex = task.read(cfg.train, opts)
    if len(train_ex) < lopts.folds:
        raise UserError(f"--folds {lopts.folds}: --train {cfg.train} has only {len(train_ex)} rows")
    units = out_of_fold(cfg, opts, task, train_ex, lopts.folds, os.path.join(cfg.output, "label-issues-folds"))
    with contextlib.suppress(OSError):  # each fold removed its own folder; one the user had, with files, stays
        os.rmdir(os.path.join(cfg.output, "label-issues-folds"))
    setup = task.setup(train_ex, opts)
    rows, summary = rank(train_ex, units, setup["labels"])
    summary.update(train_file=cfg.train, folds=lopts.folds, csv=os.path.join(cfg.output, CSV_FILE))
    # tags compared in the scheme the model reads (NER: IOB2), not the file's (IOB1, BIOES): said, not left to guess
    read_as, written = setup.get("scheme"), setup.get("source_scheme")
    if read_as and written not in (None, read_as, "spans") and summary["confident_joint"]["labels"] == setup["labels"]:
        summary["tag_scheme"] = f"{read_as} (the file's {written} tags converted)"
        print(f"[label-issues] note: {cfg.train} is tagged in {written}; its tags are compared as {read_as}, so "
              f"given_label and suggested_label are {read_as} tags (B- starts an entity, I- continues it)", flush=True)
    write(cfg.output, rows, summary)
    print(f"[label-issues] {summary['issues']} likely label errors in {summary['examples_with_issues']} of "
          f"{summary['examples']} rows -> {summary['csv']}", flush=True)
    return {**summary, "rows": rows}


def cli(argv: list[str]) -> int:
    """`labeltune label-issues [CONFIG.yaml] --task ... --train FILE --output DIR [--folds K] [training flags]`."""
    from .cli import _add_dataclass_flags, _config_file, _flags_given, _task_name
    from .config import TrainConfig, read_yaml, split_options
    from .tasks import get_task

    config_file = _config_file(argv)  # as train / tune / curve: a YAML file of the same names, flags win
    task = get_task(_task_name(argv, config_file))
    parser = Parser(prog="labeltune label-issues", description=__doc__.splitlines()[0])
    if config_file:
        parser.add_argument("config", help="YAML file with the same option names as the flags")
    _add_dataclass_flags(parser, TrainConfig)
    _add_dataclass_flags(parser, task.Options)
    _add_dataclass_flags(parser, LabelIssueOptions)
    ns = parser.parse_args(argv)
    classes = [TrainConfig, task.Options, LabelIssueOptions]
    values = read_yaml(config_file) if config_file else {}
    for cls in classes:
        values.update(_flags_given(ns, cls))
    # each fold's model is scored on the rows it held out and kept at its last step: a split flag would be ignored
    unused = [k for k in ("validation", "test", "validation_fraction", "test_fraction", "resume", "save_adapter")
              if values.get(k) not in (None, False)]
    if unused:
        given = ", ".join("--" + k.replace("_", "-") for k in unused)
        raise UserError(f"{given}: label-issues does not use {'this flag' if len(unused) == 1 else 'these flags'} "
                        f"(every row of --train is scored by the fold model that held it out); leave {'it' if len(unused) == 1 else 'them'} out")
    cfg, opts, lopts = split_options(values, classes, config_file or "command line")
    find_label_issues(cfg, opts, lopts)
    return 0
