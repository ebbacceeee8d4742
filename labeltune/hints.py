"""Hints for data that fits another task's shape: a .conll file under classification, a CSV under --task ner.

`guess_task(path)` looks at the file name and its first lines only (cheap, never raises); `with_task_hint`
adds "did you mean --task X?" to the error a task's reader raised, when the file looks like X's data.
"""

from __future__ import annotations

import json
import os
import re

from .errors import UserError

_CONLL_EXT = (".conll", ".conllu", ".iob", ".iob2", ".bio", ".bioes", ".txt")
_TAG = re.compile(r"^(?:[BIESL]-\S+|O)$")


def guess_task(path: str | None) -> str | None:
    """The task whose data `path` looks like, or None when it cannot tell."""
    if not path or not os.path.isfile(path):
        return None
    ext = os.path.splitext(path)[1].lower()
    if ext == ".parquet":  # binary: its column names from the schema
        try:
            import pyarrow.parquet as pq

            return _by_keys(set(pq.read_schema(path).names))
        except Exception:  # not readable as Parquet: the reader's own error says so
            return None
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            head = f.read(20000)
    except OSError:
        return None
    lines = [line for line in head.splitlines() if line.strip()][:50]
    if not lines:
        return None
    if ext in _CONLL_EXT:
        tagged = [line for line in lines if _TAG.match(line.split()[-1]) and len(line.split()) >= 2]
        if len(tagged) >= 0.8 * len(lines):
            return "ner"
    stripped = head.lstrip()
    if stripped.startswith("{") and '"paragraphs"' in head and '"qas"' in head:
        return "qa"
    keys = set()
    if ext in (".jsonl", ".ndjson", ".json"):
        try:  # a JSON list (rows in memory are written as one): its first object
            first = (json.loads(lines[0]) if ext != ".json" or not stripped.startswith("[") else
                     json.JSONDecoder().raw_decode(stripped[1:].lstrip())[0])
        except json.JSONDecodeError:
            first = None
        if isinstance(first, dict):
            keys = set(first)
    elif ext in (".csv", ".tsv"):
        keys = {k.strip().strip('"') for k in lines[0].split("\t" if ext == ".tsv" else ",")}
    return _by_keys(keys)


def _by_keys(keys: set) -> str | None:
    """The task whose columns (or JSON keys) these are, or None."""
    if {"question", "context"} <= keys:
        return "qa"
    if {"tokens", "tags"} <= keys or {"tokens", "ner_tags"} <= keys or ("text" in keys and "spans" in keys):
        return "ner"
    if {"source", "target"} <= keys or "translation" in keys:  # (the latter: Hugging Face datasets' shape)
        return "translation"
    if "text" in keys and ("label" in keys or "labels" in keys):
        return "classification"
    return None


def with_task_hint(error: UserError, path: str | None, task: str) -> UserError:
    """`error`, with "did you mean --task X?" when the file looks like another task's data."""
    guess = guess_task(path)
    if guess is None or guess == task:
        return error
    return UserError(f"{error}; the file looks like {guess} data: did you mean --task {guess}?")


def with_model_hint(error: UserError, path: str | None, task: str) -> UserError:
    """`error` (a file refused by a trained model's task, in predict / evaluate), with "the file looks like X data,
    but --model is a Y model" when the file looks like another task's data."""
    guess = guess_task(path)
    if guess is None or guess == task:
        return error
    return UserError(f"{error}; the file looks like {guess} data, but --model is a {task} model: give a {guess} "
                     f"model, or {task} data")
