"""`--report-to tensorboard,mlflow`: the training log mirrored into TensorBoard and MLflow.

The loop already writes every record of train_log.jsonl through one `log` function; `Tracker.log` receives
the same records (loss, learning rate, samples/s; evaluation metrics), so the three never disagree. The run
configuration goes in as MLflow params (and a TensorBoard text summary), the final metrics at the end.
Both stores are local files by default: TensorBoard event files in <tracking dir>/tensorboard/<run>, MLflow
in a SQLite database <tracking dir>/mlruns/mlflow.db (MLflow 3 keeps its plain-file store in maintenance
mode). Nothing prompts and nothing goes over the network unless --tracking-uri names a server; MLflow's
usage telemetry is switched off.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import time

from .errors import UserError


def _scalars(record: dict, prefix: str = "") -> dict[str, float]:
    """Finite numbers of a (nested) record, keys joined with '/' (eval/accuracy, eval/per_class/pos/f1)."""
    out = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= _scalars(value, f"{name}/")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


# the import each backend needs, and the package that provides it (both labeltune dependencies in pyproject.toml)
PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow-skinny")}


def require_backends(report_to: str) -> None:
    """Before any work: a UserError naming the package to install for each --report-to backend whose library is
    missing (was a ModuleNotFoundError traceback once the model had been loaded)."""
    import importlib.util

    for name in [n.strip() for n in report_to.split(",") if n.strip()]:
        module, package = PACKAGES.get(name, (None, None))
        try:
            found = module is None or importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
            found = False
        if not found:
            raise UserError(f"--report-to {name}: the {package} package is not installed; `pip install {package}` "
                            f"(a labeltune dependency: reinstalling labeltune installs it), or drop {name}")


def _import_error(name: str, e: ImportError) -> UserError:
    package = PACKAGES[name][1]
    return UserError(f"--report-to {name}: {package} cannot be imported ({str(e).splitlines()[0]}); "
                     f"`pip install --force-reinstall {package}`, or drop {name}")


def check_server(uri: str, timeout: float = 5.0) -> None:
    """An http(s) tracking URI with no server behind it: a UserError within seconds (MLflow's own retries, with
    backoff, held a run for minutes before its error, a CI job until its time limit)."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(uri)
    if url.scheme not in ("http", "https") or not url.hostname:
        return
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as e:
        raise UserError(f"--tracking-uri {uri}: no server answers at {url.hostname}:{port} ({e.strerror or e}); start "
                        f"it (`mlflow server --host 127.0.0.1 --port {port}`), or leave --tracking-uri out for the "
                        "local store in the output folder") from None


def default_mlflow_uri(directory: str) -> str:
    path = os.path.abspath(os.path.join(directory, "mlruns", "mlflow.db"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return f"sqlite:///{path}"


class Tracker:
    """Mirrors training records into the backends named by --report-to; a no-op when it names none."""

    def __init__(self, cfg, params: dict):
        self.backends = [n.strip() for n in cfg.report_to.split(",") if n.strip()]
        self.writer = self.client = self.run_id = None
        if not self.backends:
            return
        base = cfg.tracking_dir or cfg.output
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.run_name = cfg.run_name or f"{os.path.basename(os.path.normpath(cfg.output))}-{stamp}"
        require_backends(cfg.report_to)
        if "tensorboard" in self.backends:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise _import_error("tensorboard", e) from None

            self.log_dir = os.path.join(base, "tensorboard", self.run_name)
            self.writer = SummaryWriter(log_dir=self.log_dir)
            self.writer.add_text("config", "```\n" + json.dumps(params, indent=1, default=str) + "\n```")
        if "mlflow" in self.backends:
            os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # offline: no usage pings
            try:
                from mlflow.entities import Param
                from mlflow.tracking import MlflowClient
            except ImportError as e:
                raise _import_error("mlflow", e) from None
            import logging

            logging.getLogger("mlflow").setLevel(logging.WARNING)  # "Creating initial MLflow database tables..."

            self.uri = cfg.tracking_uri or default_mlflow_uri(base)
            check_server(self.uri)
            try:
                self.client = MlflowClient(tracking_uri=self.uri)
                experiment = self.client.get_experiment_by_name("labeltune")
                if experiment is None:
                    artifacts = os.path.abspath(os.path.join(base, "mlruns", "artifacts"))
                    experiment_id = self.client.create_experiment("labeltune", artifact_location=f"file://{artifacts}")
                else:
                    experiment_id = experiment.experiment_id
                run = self.client.create_run(experiment_id, run_name=self.run_name,
                                             tags={"labeltune.output": os.path.abspath(cfg.output)})
            except Exception as e:  # a bad URI or an unreachable server: say which flag, not a traceback
                raise UserError(f"--tracking-uri {self.uri}: MLflow could not open it ({str(e).splitlines()[0]})") from None
            self.run_id = run.info.run_id
            params = [Param(k, str(v)[:500]) for k, v in sorted(params.items())]
            for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
                self.client.log_batch(self.run_id, params=params[i : i + 100])

        _OPEN.append(self)

    def log(self, record: dict) -> None:
        """One train_log.jsonl record: {"step", "loss", "lr", "samples_per_s", ...} or {"step", "eval": {...}}."""
        if not self.backends:
            return
        step = int(record.get("step", 0))
        values = {k: v for k, v in _scalars(record).items() if k not in ("step",)}
        values = {("train/" + k if "/" not in k else k): v for k, v in values.items()}
        self._write(values, step)

    def log_final(self, metrics: dict) -> None:
        """metrics.json: validation/test metrics under final/."""
        if not self.backends:
            return
        keep = {k: v for k, v in metrics.items() if k in ("validation", "test", "train_samples_per_s", "wall_seconds")}
        self._write({f"final/{k}": v for k, v in _scalars(keep).items()}, int(metrics.get("steps") or 0))

    def _write(self, values: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)
        if self.client is not None and values:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            # MLflow metric names allow '/', letters, digits, '_', '-', '.', ' '
            metrics = [Metric(_mlflow_key(k), v, now, step) for k, v in values.items()]
            for i in range(0, len(metrics), 1000):
                self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])

    def close(self, failed: bool = False) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.client is not None:
            self.client.set_terminated(self.run_id, "FAILED" if failed else "FINISHED")
        self.backends, self.writer, self.client = [], None, None
        if self in _OPEN:
            _OPEN.remove(self)


_OPEN: list[Tracker] = []  # trackers not closed yet: a crash anywhere in train() marks their runs FAILED


def close_open(failed: bool = True) -> None:
    """Close every tracker still open (train() calls it when the run fails after the loop: evaluation, save)."""
    while _OPEN:
        tracker = _OPEN.pop()
        try:
            tracker.close(failed=failed)
        except Exception:  # the run's own error is the one to report
            pass


def _mlflow_key(key: str) -> str:
    return "".join(c if c.isalnum() or c in "/_-. " else "_" for c in key)
