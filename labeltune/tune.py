"""`labeltune tune`: k-fold cross-validation over learning rates (and optionally epochs and batch sizes),
a choice by a stated rule, then one refit on all training data, tested on the held-out test set.

How it runs, top to bottom:
1. read the training data (and carve the test split as `train` does, with no validation split: the folds
   take its place) and cut k folds with `data.split.kfold` on the task's `split_keys` (stratified for
   classification, grouped so one document / context / duplicate text never straddles two folds);
2. an Optuna study in relational storage (SQLite in --output, or any SQLAlchemy URL shared by workers)
   with one trial per setting (lr, epochs, batch size). A trial trains the k folds one after another
   (`run.train` on in-memory examples, no model saved, fold directory deleted) and stores each fold's
   score as a user attribute and an intermediate value the moment it is known;
3. a fold score, once stored, is never recomputed: a trial for the same setting (a retry after a kill,
   a crash, or a worker that stopped sending heartbeats) takes the stored folds and trains only the rest;
4. the table of mean +- standard deviation per setting, a PNG plot, and the choice (best mean, or the
   largest rate within one standard error of the best: `--select one-se`);
5. the refit with the chosen setting in <output>/model, saved like `labeltune train`, and the report
   (tune_report.json, tune_report.md) naming the fold scores behind the decision.

Workers: run the same command (same data, flags, --storage and --study-name) on several machines; each
claims trials until none is left. Pass --no-refit to all but one: that one waits for the others' trials,
takes over those whose worker died (no heartbeat for 3 intervals), and does the refit.

Parts: tune_study.py (Optuna storage, study, worker loop, result rows), tune_report.py (the choice, plot and
markdown report); this file holds the options, the setting grid, one fold, the refit and the command.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import socket
import statistics
import time
import warnings
from dataclasses import dataclass

from .checkpoint import fingerprint
from .config import TrainConfig, opt, to_dict
from .data.split import kfold
from .errors import UserError, check, flag
# the parts are importable from here, as before the split (tests and tests/tune_worker.py use them)
from .tune_report import PLOT, REPORT_JSON, REPORT_MD, choose, markdown, plot, summarize  # noqa: F401
from .tune_study import (_GridSampler, _grid_sampler_class, _open_study, _params_of, _requeue_failed,  # noqa: F401
                         _safe_url, _storage, _stored_folds, config_key, result_rows, run_worker)

# Default learning-rate grids by model size (parameters), from the papers' own fine-tuning grids:
# small BERTs (Turc et al. 2019, google/bert_uncased_L-*_H-* cards) used {3e-4, 1e-4, 5e-5, 3e-5} and the
# smallest ones did best at the top of it; BERT-base (Devlin et al. 2019, A.3) {5e-5, 4e-5, 3e-5, 2e-5};
# large models (RoBERTa, Liu et al. 2019, Table 10) {1e-5, 2e-5, 3e-5}.
LR_GRIDS = [
    (50_000_000, [3e-5, 5e-5, 1e-4, 3e-4]),
    (200_000_000, [2e-5, 3e-5, 4e-5, 5e-5]),
    (float("inf"), [1e-5, 2e-5, 3e-5]),
]
# training settings that only change how a run is logged or stored, not its scores
_NOT_IN_SPEC = {"output", "resume", "overwrite", "quiet", "threads", "log_every", "keep_checkpoint", "save_every",
                "eval_every", "eval_batch_size", "patience", "validation", "validation_fraction", "storage",
                "study_name", "refit", "heartbeat", "max_retries", "train", "test", "test_fraction", "lr", "select", "n_trials",
                "report_to", "tracking_dir", "tracking_uri", "run_name", "find_label_issues"}  # the data fingerprint covers the rows


@dataclass
class TuneOptions:
    """The flags of `labeltune tune` (the data, model and training flags are those of `train`)."""

    folds: int = opt(5, "number of cross-validation folds (k)")
    lrs: str = opt("", "comma-separated learning rates to try (empty: a grid chosen by the model's size)")
    epochs_grid: str = opt("", "comma-separated epoch counts to try (empty: only --epochs)")
    batch_sizes: str = opt("", "comma-separated batch sizes to try (empty: only --batch-size)")
    search: str = opt("grid", "grid: every combination (Optuna GridSampler) | tpe: --n-trials settings drawn by "
                              "TPESampler, lr log-uniform between the smallest and largest of --lrs")
    n_trials: int = opt(8, "with --search tpe: how many settings to try")
    select: str = opt("best", "best: the setting with the best mean fold score | one-se: the largest rate whose "
                              "mean is within one standard error of the best")
    storage: str = opt("", "Optuna storage, an SQLAlchemy URL such as postgresql://user:pw@host/db "
                           "(default: the SQLite file tune.db in --output)")
    study_name: str = opt("labeltune-tune", "Optuna study name; workers with the same --storage and --study-name "
                                            "share the trials")
    refit: bool = opt(True, "after the CV, train on all training data with the chosen setting and test it; pass "
                            "--no-refit to extra workers")
    heartbeat: int = opt(30, "seconds between a worker's heartbeats; a trial silent for 3 of them is redone")
    max_retries: int = opt(3, "how often a setting whose trial failed is retried before tune stops with an error")
    find_label_issues: bool = opt(False, "then rank training rows whose label disagrees with out-of-fold predictions "
                                         "(confident learning, --folds folds, chosen setting): label_issues.csv")

    def __post_init__(self):
        checks = [
            (self.folds >= 2, f"{flag('folds')} must be at least 2"),
            (self.search in ("grid", "tpe"), f"{flag('search')} must be grid or tpe"),
            (self.select in ("best", "one-se"), f"{flag('select')} must be best or one-se"),
            (self.n_trials >= 1, f"{flag('n_trials')} must be at least 1"),
            (self.heartbeat >= 1, f"{flag('heartbeat')} must be at least 1 second"),
            (self.max_retries >= 0, f"{flag('max_retries')} must be >= 0"),
        ]
        check(checks)
        for name, value, kind in (("lrs", self.lrs, float), ("epochs_grid", self.epochs_grid, float),
                                  ("batch_sizes", self.batch_sizes, int)):
            values = parse_list(value, kind, flag(name))
            if any(v <= 0 for v in values):
                raise UserError(f"{flag(name)} {value}: every value must be positive")


def parse_list(value, kind, flag: str) -> list:
    """'1e-4, 3e-4' (a flag) or [1e-4, 3e-4] (YAML) -> [0.0001, 0.0003]."""
    items = value if isinstance(value, (list, tuple)) else [v for v in str(value or "").split(",") if v.strip()]
    try:
        return sorted({kind(v) for v in items})
    except ValueError:
        raise UserError(f"{flag} {value!r}: expected comma-separated numbers, e.g. 1e-4,3e-4") from None


# --- the setting grid -------------------------------------------------------------------------------
def count_model_parameters(model_path: str, trust_remote_code: bool = False) -> int | None:
    """Parameters of the model's body, counted on the meta device (no weights loaded); None if unknown."""
    import torch
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        with torch.device("meta"):
            model = AutoModel.from_config(config, trust_remote_code=trust_remote_code)
    except Exception:  # a GGUF file or an unusual repo: fall back to the base-size grid
        return None
    return sum(p.numel() for p in model.parameters())


def default_lrs(n_params: int | None) -> list[float]:
    if n_params is None:
        return LR_GRIDS[1][1]
    return next(grid for limit, grid in LR_GRIDS if n_params < limit)


def search_space(cfg: TrainConfig, topts: TuneOptions, model_path: str) -> tuple[dict, str]:
    """{"lr": [...], "epochs": [...], "batch_size": [...]} and a sentence saying where the rates came from."""
    lrs = parse_list(topts.lrs, float, "--lrs")
    if lrs:
        why = "given by --lrs"
    else:
        n = count_model_parameters(model_path, cfg.trust_remote_code)
        lrs = default_lrs(n)
        size = f"{n / 1e6:.1f}M parameters" if n else "unknown size"
        why = f"default grid for a model of {size} (see LR_GRIDS in labeltune/tune.py)"
    space = {
        "lr": lrs,
        "epochs": parse_list(topts.epochs_grid, float, "--epochs-grid") or [float(cfg.epochs)],
        "batch_size": parse_list(topts.batch_sizes, int, "--batch-sizes") or [cfg.batch_size],
    }
    if cfg.max_steps and len(space["epochs"]) > 1:  # every trial would stop at the same step: a grid of one
        raise UserError(f"--epochs-grid {topts.epochs_grid}: with --max-steps {cfg.max_steps} every trial stops after "
                        f"{cfg.max_steps} steps whatever its epochs; drop --max-steps to compare epoch counts")
    if topts.search == "tpe" and len(lrs) < 2:
        raise UserError("--search tpe draws lr between the smallest and largest of --lrs: give at least two rates")
    return space, why



def suggest(trial, space: dict, search: str) -> dict:
    if search == "tpe":
        lr = trial.suggest_float("lr", min(space["lr"]), max(space["lr"]), log=True)
    else:
        lr = trial.suggest_categorical("lr", space["lr"])
    return {
        "lr": lr,
        "epochs": trial.suggest_categorical("epochs", space["epochs"]),
        "batch_size": trial.suggest_categorical("batch_size", space["batch_size"]),
    }


# --- one fold ---------------------------------------------------------------------------------------
def run_fold(cfg: TrainConfig, opts, setup: dict, train_ex: list, fold: list[int], params: dict, work_dir: str,
             metric: str) -> dict:
    """Train on all rows but `fold`, score `fold`; nothing is left on disk."""
    from . import run

    held = set(fold)
    fold_train = [e for i, e in enumerate(train_ex) if i not in held]
    fold_eval = [train_ex[i] for i in fold]
    out = os.path.join(work_dir, f"fold-{socket.gethostname()}-{os.getpid()}")
    # no validation split: the last model is scored, as in the refit (picking the best epoch on the held-out
    # fold itself would make the CV score optimistic)
    fold_cfg = dataclasses.replace(cfg, **params, output=out, overwrite=True, resume=False, validation=None,
                                   test=None, validation_fraction=0.0, test_fraction=0.0)
    start = time.perf_counter()
    try:
        metrics = run.train(fold_cfg, opts, examples=(fold_train, None, fold_eval), setup=setup, save_model=False)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    scores = metrics["test"]
    if metric not in scores:
        raise UserError(f"--metric {metric}: not among the task's metrics {sorted(k for k in scores if k != 'n')}")
    headline = {k: v for k, v in scores.items() if isinstance(v, (int, float))}
    return {"score": float(scores[metric]), "metrics": headline, "n_train": len(fold_train), "n_eval": len(fold_eval),
            "seconds": round(time.perf_counter() - start, 1)}


def make_objective(cfg, opts, setup, train_ex, folds, space, topts, work_dir, metric):
    worker = f"{socket.gethostname()}:{os.getpid()}"
    k = len(folds)

    def objective(trial) -> float:
        params = suggest(trial, space, topts.search)
        key = config_key(params)
        trial.set_user_attr("config", key)
        trial.set_user_attr("worker", worker)
        stored = _stored_folds(trial.study, key)
        scores = []
        for i, fold in enumerate(folds):
            budget = f"max_steps={cfg.max_steps}" if cfg.max_steps else f"epochs={params['epochs']:g}"
            tag = f"[tune] trial {trial.number} lr={params['lr']:g} {budget} " \
                  f"batch={params['batch_size']}: fold {i + 1}/{k}"
            rec = stored.get(i)
            if rec is None:
                print(f"{tag} training on {len(train_ex) - len(fold)}, scoring {len(fold)} ...", flush=True)
                rec = run_fold(cfg, opts, setup, train_ex, fold, params, work_dir, metric)
                rec.update(trial=trial.number, worker=worker)
                print(f"{tag} {metric}={rec['score']:.4f} ({rec['seconds']:.0f} s)", flush=True)
            else:
                print(f"{tag} {metric}={rec['score']:.4f} (stored by trial {rec['trial']}, not recomputed)", flush=True)
            trial.set_user_attr(f"fold_{i}", rec)  # stored now: a kill after this line keeps the fold
            trial.report(rec["score"], i)
            scores.append(rec["score"])
        trial.set_user_attr("fold_scores", scores)
        return statistics.fmean(scores)

    return objective


# --- the command ---------------------------------------------------------------------------------------
def _refit(cfg, opts, train_ex, test_ex, params: dict, out: str) -> dict:
    from . import run

    model_dir = os.path.join(out, "model")
    marker = os.path.join(model_dir, "tune_choice.json")
    # the refit is reused only for the same setting, training rows and test rows (a rerun with another --test
    # must report that file's scores)
    choice = {**params, "train_data": fingerprint(train_ex), "test_data": fingerprint(test_ex)}
    if os.path.exists(marker) and os.path.exists(os.path.join(model_dir, "metrics.json")):
        with open(marker) as f:
            done = json.load(f)
        if done == choice:  # a rerun of a finished tune: the same refit is already there
            with open(os.path.join(model_dir, "metrics.json")) as f:
                print(f"[tune] refit with {config_key(params)} already in {model_dir}", flush=True)
                return json.load(f)
    print(f"[tune] refit on all {len(train_ex)} training examples with {config_key(params)} -> {model_dir}", flush=True)
    refit_cfg = dataclasses.replace(cfg, **params, output=model_dir, overwrite=True, resume=False, validation=None,
                                    validation_fraction=0.0)
    metrics = run.train(refit_cfg, opts, examples=(train_ex, None, test_ex))
    with open(marker, "w") as f:
        json.dump(choice, f)
    return metrics


def tune(cfg: TrainConfig, opts, topts: TuneOptions) -> dict:
    """Cross-validate the settings, choose, refit; returns the report (also tune_report.json / .md)."""
    from . import run
    from .models import resolve_model
    from .tasks import get_task

    task = get_task(cfg.task)
    if cfg.train is None:
        raise UserError("--train is required: the training data file")
    if cfg.validation:
        raise UserError(f"--validation {cfg.validation}: tune replaces the validation split by k-fold "
                        "cross-validation; add those rows to --train or leave the flag out")
    if not cfg.output:
        raise UserError("--output is required: the directory for the study, the report and the refit model")
    if os.path.exists(cfg.output) and not os.path.isdir(cfg.output):
        raise UserError(f"--output {cfg.output} is a file, expected a directory")
    if os.path.isfile(os.path.join(cfg.output, "labeltune.json")):  # its split.json / splits/ would be replaced
        raise UserError(f"--output {cfg.output} holds a trained model (labeltune.json); tune writes its study, folds "
                        "and report there and its refit model under model/: give a new directory")
    out = cfg.output
    os.makedirs(out, exist_ok=True)
    if cfg.report_to and not cfg.tracking_dir:  # one store for every fold and the refit (fold dirs are removed)
        cfg = dataclasses.replace(cfg, tracking_dir=out)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own progress lines say more
    # heartbeats and fail_stale_trials are marked experimental since Optuna 2.9; they are what makes workers safe
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    # 1. data and folds
    data_cfg = dataclasses.replace(cfg, validation_fraction=0.0)
    train_ex, _, test_ex = run.prepare_data(data_cfg, task, opts, out)
    if topts.find_label_issues:  # a task or data it cannot rank: refused now, not after the study and the refit
        from .label_issues import check_task

        check_task(task, train_ex, opts)
    groups, strata = task.split_keys(train_ex)
    folds = kfold(groups, strata, topts.folds, cfg.seed)
    metric = cfg.metric or task.default_metric(opts)
    setup = task.setup(train_ex, opts)  # from all training rows: a fold may lack a rare label
    model_path = resolve_model(cfg.model)
    from .defaults import for_folds  # unset --epochs/--batch-size: the small-data rule for a fold's size

    decoder_only = getattr(task, "decoder_only", None)  # optional task hook (translation): batch sizes as `train`'s
    causal = bool(decoder_only and decoder_only(model_path, opts, cfg))
    cfg = for_folds(cfg, len(train_ex) - max(len(f) for f in folds), causal=causal)
    space, lr_source = search_space(cfg, topts, model_path)
    target = math.prod(len(v) for v in space.values()) if topts.search == "grid" else topts.n_trials

    # 2. the study; its spec pins the data, folds and recipe so resumed and parallel workers agree
    spec = {k: v for k, v in to_dict(cfg, opts, topts).items() if k not in _NOT_IN_SPEC}
    spec.update(space={k: list(v) for k, v in space.items()}, data=fingerprint(train_ex),
                folds_fingerprint=hashlib.sha256(json.dumps(folds).encode()).hexdigest()[:16], metric=metric)
    url = topts.storage or f"sqlite:///{os.path.abspath(os.path.join(out, 'tune.db'))}"
    study = _open_study(topts, url, space, cfg.seed, spec)
    print(f"[tune] {cfg.task}: {len(train_ex)} training examples in {len(folds)} folds {[len(f) for f in folds]}, "
          f"{len(test_ex or [])} test; {target} setting(s) {space}; study '{topts.study_name}' in {_safe_url(url)}",
          flush=True)

    # 3. the trials
    work_dir = os.path.join(out, "folds")
    objective = make_objective(cfg, opts, setup, train_ex, folds, space, topts, work_dir, metric)
    run_worker(study, objective, topts, target)
    try:  # each fold removed its own folder; an empty work_dir goes, one holding anything else (a folder
        os.rmdir(work_dir)  # `folds` the user had in --output, another worker's fold) stays
    except OSError:
        pass
    if not topts.refit:
        print("[tune] --no-refit: this worker is done; the worker without --no-refit reports and refits", flush=True)
        return {"worker_done": True}

    # 4. the table, the choice, the plot
    rows, duplicates = result_rows(study, len(folds))
    chosen, best, why = choose(rows, topts.select)
    table = [{**r, **summarize(r["fold_scores"])} for r in rows]
    plot(table, chosen, best, topts.select, metric, os.path.join(out, PLOT))
    report = {
        "task": cfg.task, "model": cfg.model, "train_file": cfg.train, "train_examples": len(train_ex),
        "test_examples": len(test_ex or []), "metric": metric, "k": len(folds), "seed": cfg.seed,
        "folds": {"sizes": [len(f) for f in folds],
                  "how": "grouped and stratified by the task's split keys" if strata is not None and len(set(strata)) > 1
                  else "grouped by the task's split keys, not stratified"},
        "search": topts.search, "space": space, "lr_grid_source": lr_source, "select": topts.select,
        "study_name": topts.study_name, "storage": _safe_url(url), "table": table,
        "best_mean": {"params": best["params"], "mean": best["mean"], "se": best["se"]},
        "chosen": {"params": chosen["params"], "mean": chosen["mean"], "sd": chosen["sd"],
                   "fold_scores": chosen["fold_scores"], "fold_sources": chosen["fold_sources"]},
        "decision": why, "duplicate_trials": duplicates,
    }

    # 5. the refit, and the report
    metrics = _refit(cfg, opts, train_ex, test_ex, chosen["params"], out)
    report["refit"] = {"output": os.path.join(out, "model"), "test": _scalars(metrics.get("test")),
                       "wall_seconds": metrics.get("wall_seconds")}
    with open(os.path.join(out, REPORT_JSON), "w") as f:
        json.dump(report, f, indent=1)
    text = markdown(report)
    with open(os.path.join(out, REPORT_MD), "w") as f:
        f.write(text)
    print(text, flush=True)
    if topts.find_label_issues:  # labeltune/label_issues.py, with the setting just chosen
        from .label_issues import LabelIssueOptions, find_label_issues

        issues = find_label_issues(dataclasses.replace(cfg, **chosen["params"], output=out), opts,
                                   LabelIssueOptions(folds=topts.folds))
        report["label_issues"] = {k: issues[k] for k in ("csv", "issues", "examples_with_issues")}
    return report


def _scalars(metrics: dict | None) -> dict | None:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))} if metrics else None
