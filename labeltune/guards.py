"""Checks of what a command was pointed at, made before any work, with errors that say what to give instead: a
--model that is not a trained model, an --output named like a file of the model, a split fraction that holds nothing.

(Split out of run.py, which calls them; debug-data and the CLI use them too.)
"""

from __future__ import annotations

import contextlib
import json
import os

from .data.split import grouped_stratified_split
from .errors import UserError


def smallest_fraction(groups: list, strata: list, fractions: list[float], part: int, seed: int) -> float | None:
    """The smallest fraction (in hundredths, up to 0.5) for split `part` that gives it rows and leaves training rows,
    tried with the split itself: strata change what a fraction gives (each keeps a group for training)."""
    for hundredths in range(1, 51):
        trial = list(fractions)
        trial[part] = max(trial[part], hundredths / 100)
        parts = grouped_stratified_split(groups, strata, trial, seed)
        if parts[part] and parts[-1]:
            return trial[part]
    return None


def not_a_run(directory: str) -> str:
    """Why `directory` is not a trained model, and what to give instead (for run.read_meta's error)."""
    from .run import META_FILE

    if not os.path.exists(directory):
        return ": the path does not exist; give the directory `labeltune train --output` wrote"
    if not os.path.isdir(directory):
        return ": it is a file; give the directory `labeltune train --output` wrote"
    if os.path.isdir(os.path.join(directory, "checkpoint")):
        return ": it holds an unfinished run; finish it with `labeltune train ... --resume` (the same flags)"
    if os.path.isfile(os.path.join(directory, "config.json")):
        return (": it is a transformers model that labeltune has not fine-tuned; fine-tune it first, "
                f"`labeltune train --model {directory} --train FILE --output DIR`, then give DIR")
    runs = sorted(d for d in os.listdir(directory) if os.path.isfile(os.path.join(directory, d, META_FILE)))
    if runs:
        shown = ", ".join(os.path.join(directory, d) for d in runs[:5]) + (" ..." if len(runs) > 5 else "")
        return f": the trained models are in its folders {shown}; give one of them"
    return "; is it a directory written by `labeltune train`?"


def check_model_file(model_dir: str, output: str | None, flag: str = "--output", instead: str = "predictions.jsonl") -> None:
    """Before any work: UserError when `output` is a file of the trained model in `model_dir` (its config.json,
    weights, metrics.json, ...): predict --output runs/x/config.json replaced the model's config with predictions."""
    from .run import HF_FILES, META_FILE, OWN_FILES

    if not output or output == "-" or not os.path.isdir(model_dir):
        return
    folder = os.path.dirname(os.path.abspath(output))
    if not (os.path.isdir(folder) and os.path.samefile(folder, model_dir)):
        return
    meta_files = []
    with contextlib.suppress(OSError, ValueError):
        with open(os.path.join(model_dir, META_FILE), encoding="utf-8") as f:
            meta_files = json.load(f).get("files", [])
    if os.path.basename(output) in (*OWN_FILES, *HF_FILES, *meta_files):
        raise UserError(f"{flag} {output} is a file of the model in {model_dir} (written by `labeltune train`); "
                        "writing there would damage the model or its record: choose another name, e.g. "
                        f"{os.path.join(model_dir, instead)}")


def api_inputs(inputs, method: str) -> list:
    """The inputs given to `Predictor.predict` / `explain` as a list: one string or dict is one input, a pandas
    DataFrame its rows as dicts (iterated, a DataFrame yields its column names, which were predicted as if they
    were texts), None or a number a UserError (was "'NoneType' object is not iterable")."""
    if isinstance(inputs, (str, dict)):
        return [inputs]
    if hasattr(inputs, "columns") and callable(getattr(inputs, "to_dict", None)):  # pandas.DataFrame
        return inputs.to_dict("records")
    if inputs is None or isinstance(inputs, (bytes, int, float)) or not hasattr(inputs, "__iter__"):
        raise UserError(f"{method}(): got {type(inputs).__name__}; give a list of inputs (strings, or the task's "
                        f"dicts, or a pandas DataFrame with the input columns), e.g. {method}([\"a gripping film\"])")
    return list(inputs)


def model_directory(directory, function: str = "labeltune.load()") -> str:
    """`labeltune.load`'s directory as a str (a pathlib.Path is fine); anything else a UserError saying what to give."""
    if isinstance(directory, os.PathLike):
        directory = os.fspath(directory)
    if not isinstance(directory, str) or not directory:
        raise UserError(f"{function}: got {type(directory).__name__} {directory!r} as the model directory; "
                        "give the path (str or pathlib.Path) of a directory written by `labeltune train --output`")
    return directory


def api_path(value, name: str, method: str, optional: bool = False):
    """A file argument of `Predictor.predict_file` / `evaluate` as a str (a pathlib.Path is fine); None (unless
    optional), a DataFrame or a list is a UserError naming the argument (was "stat: path should be string ...")."""
    if value is None and optional:
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, str) and value:
        return value
    what = f"a {type(value).__name__}" if value is not None else "None"
    hint = ("; for rows in memory use predict(df), or save them first, e.g. df.to_csv('data.csv', index=False)"
            if callable(getattr(value, "to_csv", None)) else "")
    raise UserError(f"{method}(): {name} is {what}; give a file path (str or pathlib.Path){hint}")
