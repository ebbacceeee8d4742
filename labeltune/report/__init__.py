"""`labeltune report --model <dir>`: the run report (report.html) and the model card (README.md) of a run.

Both are written at the end of `labeltune train` and rebuilt from the run's files by `labeltune report`:
train_log.jsonl (curves), metrics.json (scores, per-class / per-entity tables, the confusion matrix),
predictions_<split>.jsonl (worst errors and calibration), config.yaml and split.json (the recipe and the
data's provenance). report.html is one self-contained page (labeltune/html.py: inline CSS, plots as data
URIs, no network). What a task shows beyond the shared parts comes from its optional `report_view` hook.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

from ..errors import UserError, where

SPLITS = ("validation", "test")
MAX_ERRORS = 20


def read_run(directory: str) -> dict:
    """The files of a run directory that the report and the card use (missing ones are None / empty)."""
    from ..run import META_FILE, read_meta

    meta = read_meta(directory)  # what the directory is instead (an unfinished run, a plain model, ...); keys checked
    if isinstance(meta.get("adapter"), dict) and not os.path.exists(os.path.join(directory, "metrics.json")):
        if meta.get("onnx"):  # an export of an adapter directory that held no run files (export copies them)
            raise UserError(f"--model {directory} is an ONNX export of the adapter {meta.get('exported_from')}, "
                            "which was not inside its run (train --save-adapter writes RUN/adapter/), so it has no "
                            "run files to report; report the run the adapter was saved in")
        run = os.path.dirname(os.path.normpath(directory)) or "."  # (was a card of a model "from None", no scores)
        raise UserError(f"--model {directory} is the adapter alone (train --save-adapter), without the run's files; "
                        f"report the run it was saved in: labeltune report --model {run}")

    def load_json(name, default=None):
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            return default
        with _damaged(path):
            with open(path, encoding="utf-8") as f:
                return _object(json.load(f), path)

    def load_jsonl(name):
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            return []
        rows = []
        with _damaged(path), open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if line.strip():
                    with _damaged(path, n):
                        rows.append(_object(json.loads(line), path, n))
        return rows

    config = {}
    if os.path.exists(os.path.join(directory, "config.yaml")):
        import yaml

        with _damaged(os.path.join(directory, "config.yaml")):
            with open(os.path.join(directory, "config.yaml"), encoding="utf-8") as f:
                config = _object(yaml.safe_load(f) or {}, os.path.join(directory, "config.yaml"))
    metrics = load_json("metrics.json", {})
    for key, value in metrics.items():  # the scores and records the report reads are objects
        if key in (*SPLITS, *(f"{s}_before" for s in SPLITS), "calibration", "peft") and not isinstance(value, dict):
            raise UserError(f"{os.path.join(directory, 'metrics.json')}: cannot be read ('{key}' holds a "
                            f"{type(value).__name__} where an object belongs); restore or delete this file, or train again")
    return {
        "directory": directory, "meta": load_json(META_FILE), "metrics": metrics,
        "config": config, "split": load_json("split.json"), "log": load_jsonl("train_log.jsonl"),
        "predictions": {s: load_jsonl(f"predictions_{s}.jsonl") for s in SPLITS},
        "export": load_json(os.path.join("onnx", "export.json")),
    }


def _object(value, path: str, line: int | None = None):
    """`value` when it is a JSON object / YAML mapping, as every run file holds (a list or a string there was an
    AttributeError traceback further on)."""
    if not isinstance(value, dict):
        raise UserError(f"{where(path, line)}: cannot be read (a {type(value).__name__} where an object belongs); "
                        "restore or delete this file, or train again")
    return value


@contextlib.contextmanager
def _damaged(path: str, line: int | None = None):
    """A run file that does not parse (edited by hand, cut short by a full disk) is a UserError naming it."""
    try:
        yield
    except UserError:
        raise
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError; YAML's errors below
        raise UserError(f"{where(path, line)}: cannot be read ({_first_line(e)}); restore or delete this file, "
                        "or train again") from None
    except Exception as e:
        if type(e).__module__.startswith("yaml"):
            raise UserError(f"{where(path, line)}: cannot be read ({_first_line(e)}); restore or delete this file, "
                            "or train again") from None
        raise


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def scalar_metrics(scores: dict | None) -> dict:
    return {k: v for k, v in (scores or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


# numbers in a split's metrics that are no score: counts, decoding and decision settings (translation's num_beams,
# QA's null_threshold), translation's neg_loss (the loss, negated for selection)
NOT_SCORES = ("n", "words", "entities", "num_beams", "neg_loss", "null_threshold")


def score_metrics(scores: dict | None) -> dict:
    """The scores of a split's metrics, for the card, its model-index and the page. QA's `oracle_*` are left out
    too: tuned on the very data they score, an upper bound and never a result (tasks/qa.py); and its counts
    `HasAns_total` / `NoAns_total`."""
    return {k: v for k, v in scalar_metrics(scores).items()
            if k not in NOT_SCORES and not k.startswith("oracle_") and not k.endswith("_total")}


def write_report(directory: str, after_training: bool = False) -> dict:
    """Write <directory>/report.html and <directory>/README.md; returns their paths.

    After training a failure here must not lose the run: it is reported on stderr with the command that
    retries, and training's result stands."""
    from .card import write_card
    from .page import write_page_for

    try:
        run = read_run(directory)
        return {"report": write_page_for(run), "card": write_card(run)}
    except Exception as e:
        if not after_training:
            raise
        print(f"labeltune: the run report was not written ({type(e).__name__}: {e}); "
              f"retry with `labeltune report --model {directory}`", file=sys.stderr)
        return {}


def main(argv: list[str]) -> int:
    from ..cli_help import Parser

    parser = Parser(prog="labeltune report", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a directory written by `labeltune train`")
    ns = parser.parse_args(argv)
    paths = write_report(ns.model)
    print(f"wrote {paths['report']} and {paths['card']}")
    return 0
