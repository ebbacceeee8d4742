"""The Optuna side of `labeltune tune`: a setting's key, the relational storage (SQLite or any SQLAlchemy URL),
the study pinned to one data set and recipe, the worker loop that claims trials and re-queues those of dead
workers, the fold scores already stored for a setting, and one result row per finished setting.

Split out of tune.py (whose `tune` and `make_objective` call these).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import TYPE_CHECKING

from .errors import UserError

if TYPE_CHECKING:
    from .tune import TuneOptions


def config_key(params: dict) -> str:
    return json.dumps({k: params[k] for k in ("lr", "epochs", "batch_size")}, sort_keys=True)


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
