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
from collections import defaultdict
from dataclasses import dataclass

from .checkpoint import fingerprint
from .config import TrainConfig, opt, to_dict
from .data.split import kfold
from .errors import UserError, check, flag

REPORT_JSON, REPORT_MD, PLOT = "tune_report.json", "tune_report.md", "tune_cv.png"

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
    if topts.search == "tpe" and len(lrs) < 2:
        raise UserError("--search tpe draws lr between the smallest and largest of --lrs: give at least two rates")
    return space, why


def config_key(params: dict) -> str:
    return json.dumps({k: params[k] for k in ("lr", "epochs", "batch_size")}, sort_keys=True)


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


# --- the choice --------------------------------------------------------------------------------------
def summarize(fold_scores: list[float]) -> dict:
    """Mean, sample standard deviation and standard error of the mean of one setting's fold scores."""
    mean = statistics.fmean(fold_scores)
    sd = statistics.stdev(fold_scores) if len(fold_scores) > 1 else 0.0
    return {"mean": mean, "sd": sd, "se": sd / math.sqrt(len(fold_scores))}


def choose(rows: list[dict], rule: str) -> tuple[dict, dict, str]:
    """(chosen row, best-mean row, one sentence why) from rows with params and fold_scores.

    best: the highest mean (ties: the smaller rate, then fewer epochs). one-se (Hastie, Tibshirani and
    Friedman, ESL 7.10): among the settings whose mean is at least best mean - best SE, the largest rate
    (a larger rate reaches the same score in fewer steps; ties: the higher mean).
    """
    if not rows:
        raise UserError("no finished trials to choose from")
    rows = [{**r, **summarize(r["fold_scores"])} for r in rows]
    best = max(rows, key=lambda r: (r["mean"], -r["params"]["lr"], -r["params"]["epochs"]))
    if rule == "best":
        return best, best, f"best mean {best['mean']:.4f} (+- {best['sd']:.4f} sd over {len(best['fold_scores'])} folds)"
    floor = best["mean"] - best["se"]
    within = [r for r in rows if r["mean"] >= floor]
    chosen = max(within, key=lambda r: (r["params"]["lr"], r["mean"]))
    why = (f"one-SE rule: best mean {best['mean']:.4f} at lr {best['params']['lr']:g}, SE {best['se']:.4f}, floor "
           f"{floor:.4f}; the largest rate with a mean at or above the floor is {chosen['params']['lr']:g} "
           f"(mean {chosen['mean']:.4f})")
    return chosen, best, why


# --- the study ---------------------------------------------------------------------------------------
def _storage(url: str, heartbeat: int):
    import optuna

    from sqlalchemy.exc import SQLAlchemyError

    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                                              grace_period=3 * heartbeat)
        except ImportError as e:  # e.g. postgresql:// without a driver
            raise UserError(f"--storage {_safe_url(url)}: a database driver is missing ({e}); for PostgreSQL "
                            "`pip install psycopg2-binary`") from None
        except SQLAlchemyError as e:
            # workers started together on an empty database race to create Optuna's tables (PostgreSQL
            # raises a duplicate-key error for the loser): wait for the winner, then try again
            if attempt == 4:
                raise UserError(f"--storage {_safe_url(url)}: cannot open the Optuna storage "
                                f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
            time.sleep(1 + attempt)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<storage url>"


def _grid_sampler_class():
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        """Optuna's GridSampler, except that finishing a re-queued trial (which has no grid_id) does not raise
        KeyError in `after_trial` (Optuna 5.0 looks the id up when one grid point is left)."""

        def after_trial(self, study, trial, state, values):
            if "grid_id" in trial.system_attrs:
                super().after_trial(study, trial, state, values)

    return GridSampler


def _GridSampler(space: dict, seed: int):
    return _grid_sampler_class()(space, seed=seed)


def _open_study(topts: TuneOptions, url: str, space: dict, seed: int, spec: dict):
    import optuna

    sampler = (_GridSampler(space, seed=seed) if topts.search == "grid"
               else optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(4, topts.n_trials)))
    study = optuna.create_study(study_name=topts.study_name, storage=_storage(url, topts.heartbeat), sampler=sampler,
                                direction="maximize", load_if_exists=True)
    # a study holds fold scores of one data set, fold cut and training recipe; mixing two would be silent nonsense
    old = study.user_attrs.get("spec")
    if old is None:
        study.set_user_attr("spec", spec)
    elif old != spec:
        differ = sorted(k for k in set(old) | set(spec) if old.get(k) != spec.get(k))
        raise UserError(f"--study-name {topts.study_name} in {_safe_url(url)} was run with other settings "
                        f"({', '.join(differ)} differ); use the same settings to resume, or another --study-name")
    return study


def _params_of(trial) -> dict:
    # a queued (WAITING) trial has no params yet, only the fixed ones it was enqueued with
    return trial.params or trial.system_attrs.get("fixed_params") or {}


def _stored_folds(study, key: str) -> dict[int, dict]:
    """Fold results already stored for this setting by any trial, finished, failed or running."""
    found = {}
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("config") == key:
            for name, rec in t.user_attrs.items():
                if name.startswith("fold_") and name[5:].isdigit():
                    found.setdefault(int(name[5:]), rec)
    return found


def _requeue_failed(study, topts: TuneOptions, requeued: set) -> None:
    """A setting whose every trial failed (a killed, crashed or silent worker) is queued again."""
    from optuna.trial import TrialState

    by_key = defaultdict(list)
    for t in study.get_trials(deepcopy=False):
        params = _params_of(t)
        # another worker's trial that is still drawing its parameters has only some of them: skip it
        if all(k in params for k in ("lr", "epochs", "batch_size")):
            by_key[config_key(params)].append(t)
    for key, trials in by_key.items():
        if any(t.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING) for t in trials):
            continue
        failed = [t for t in trials if t.state == TrialState.FAIL]
        if len(failed) > topts.max_retries:
            raise UserError(f"setting {key} failed {len(failed)} times (trials {[t.number for t in failed]}); "
                            f"see the error above or raise --max-retries")
        if (key, len(failed)) not in requeued:  # once per failure, so this worker does not queue it twice
            requeued.add((key, len(failed)))
            study.enqueue_trial(json.loads(key), user_attrs={"retry_of": [t.number for t in failed]})
            print(f"[tune] setting {key}: queued again after {len(failed)} failed trial(s); its stored folds are kept",
                  flush=True)


def run_worker(study, objective, topts: TuneOptions, target: int) -> None:
    """Claim and run trials until every setting has a finished trial (or, with --no-refit, none is left)."""
    import optuna
    from optuna.trial import TrialState

    requeued, said_waiting = set(), False
    while True:
        optuna.storages.fail_stale_trials(study)  # trials of dead workers -> FAIL, then queued again below
        _requeue_failed(study, topts, requeued)
        trials = study.get_trials(deepcopy=False)
        waiting = [t for t in trials if t.state == TrialState.WAITING]
        fresh = [t for t in trials if "fixed_params" not in t.system_attrs]  # settings drawn by the sampler
        if waiting or len(fresh) < target:
            study.optimize(objective, n_trials=1)  # optimize (not ask/tell) runs the heartbeat thread
            said_waiting = False
            continue
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if not running:
            return
        if not topts.refit:
            print(f"[tune] nothing left to claim; {len(running)} trial(s) still run in other workers", flush=True)
            return
        if not said_waiting:
            print(f"[tune] waiting for trial(s) {[t.number for t in running]} running in other workers", flush=True)
            said_waiting = True
        time.sleep(topts.heartbeat)


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
            tag = f"[tune] trial {trial.number} lr={params['lr']:g} epochs={params['epochs']:g} " \
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


# --- results, plot, report ----------------------------------------------------------------------------
def result_rows(study, k: int) -> tuple[list[dict], list[int]]:
    """One row per setting from its first finished trial; also the numbers of duplicate finished trials."""
    from optuna.trial import TrialState

    rows, seen, duplicates = [], set(), []
    for t in sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number):
        key = config_key(t.params)
        if key in seen:
            duplicates.append(t.number)
            continue
        seen.add(key)
        folds = [t.user_attrs[f"fold_{i}"] for i in range(k)]
        rows.append({"params": {k_: t.params[k_] for k_ in ("lr", "epochs", "batch_size")}, "trial": t.number,
                     "fold_scores": [f["score"] for f in folds],
                     "fold_sources": [{"fold": i, "computed_in_trial": f["trial"], "worker": f["worker"],
                                       "seconds": f["seconds"]} for i, f in enumerate(folds)]})
    rows.sort(key=lambda r: (r["params"]["lr"], r["params"]["epochs"], r["params"]["batch_size"]))
    return rows, duplicates


def plot(rows: list[dict], chosen: dict, best: dict, rule: str, metric: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    lines = defaultdict(list)
    for r in rows:
        lines[(r["params"]["epochs"], r["params"]["batch_size"])].append(r)
    for (epochs, batch), rs in sorted(lines.items()):
        rs = sorted(rs, key=lambda r: r["params"]["lr"])
        ax.errorbar([r["params"]["lr"] for r in rs], [r["mean"] for r in rs], yerr=[r["sd"] for r in rs],
                    marker="o", capsize=4, label=f"{epochs:g} epochs, batch {batch}")
    ax.plot([chosen["params"]["lr"]], [chosen["mean"]], "r*", markersize=15, label="chosen", zorder=5)
    if rule == "one-se":
        ax.axhline(best["mean"] - best["se"], color="grey", linestyle="--", linewidth=1, label="best mean - 1 SE")
    ax.set_xscale("log")
    lrs = sorted({r["params"]["lr"] for r in rows})
    ax.minorticks_off()  # label the tried rates themselves, not log decades
    ax.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"{metric} (mean +- sd over folds)")
    ax.set_title("k-fold cross-validation")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(report: dict) -> str:
    m = report["metric"]
    lines = [f"# labeltune tune: {report['task']} on {report['train_file']}", "",
             f"{report['k']}-fold cross-validation ({report['folds']['how']}), fold sizes {report['folds']['sizes']}, "
             f"seed {report['seed']}; {report['train_examples']} training examples; learning rates "
             f"{report['lr_grid_source']}. Study `{report['study_name']}` in `{report['storage']}`.", "",
             f"| lr | epochs | batch | {m} per fold | mean +- sd | SE | trial |", "|---|---|---|---|---|---|---|"]
    for r in report["table"]:
        mark = " **(chosen)**" if r["params"] == report["chosen"]["params"] else ""
        lines.append(f"| {r['params']['lr']:g}{mark} | {r['params']['epochs']:g} | {r['params']['batch_size']} | "
                     f"{', '.join(f'{s:.4f}' for s in r['fold_scores'])} | {r['mean']:.4f} +- {r['sd']:.4f} | "
                     f"{r['se']:.4f} | {r['trial']} |")
    c = report["chosen"]
    lines += ["", f"Rule `{report['select']}`: {report['decision']}.", "",
              f"Chosen: lr {c['params']['lr']:g}, {c['params']['epochs']:g} epochs, batch {c['params']['batch_size']}; "
              f"its fold scores {', '.join(f'{s:.4f}' for s in c['fold_scores'])} come from trial(s) "
              f"{sorted({s['computed_in_trial'] for s in c['fold_sources']})}.", ""]
    if report.get("refit"):
        rf = report["refit"]
        test = rf.get("test")
        lines.append(f"Refit on all {report['train_examples']} training examples -> `{rf['output']}`: "
                     + (f"test {m} {test[m]:.4f} on {test.get('n', '?')} examples." if test and m in test
                        else f"test metrics {test}." if test else "no test set."))
    lines.append(f"\nPlot: {PLOT}")
    return "\n".join(lines) + "\n"


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
    groups, strata = task.split_keys(train_ex)
    folds = kfold(groups, strata, topts.folds, cfg.seed)
    metric = cfg.metric or task.default_metric(opts)
    setup = task.setup(train_ex, opts)  # from all training rows: a fold may lack a rare label
    model_path = resolve_model(cfg.model)
    from .defaults import for_folds  # unset --epochs/--batch-size: the small-data rule for a fold's size

    cfg = for_folds(cfg, len(train_ex) - max(len(f) for f in folds))
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
    shutil.rmtree(work_dir, ignore_errors=True)
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
