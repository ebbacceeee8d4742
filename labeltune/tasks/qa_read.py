"""QA data files: SQuAD JSON (data / paragraphs / qas) or flat JSONL rows, each question validated into an
example; format errors raise at once, data problems (a wrong answer_start, an empty answer) are collected.

Split out of tasks/qa.py (QATask.read and row_problems call `read_examples`, as_examples `make_example`).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from ..data.readers import raise_or_record, read_table, read_text, recorded
from ..errors import UserError, flag, where

if TYPE_CHECKING:
    from .qa import QAOptions


# --- reading ------------------------------------------------------------------------------------
def read_examples(path: str, opts: QAOptions, labelled: bool = True,
                  every_row: bool = False) -> tuple[list[dict], list[str]]:
    """The examples of `path` and the data problems found in them (a wrong answer_start, an empty answer, a
    repeated id). A format error (invalid JSON, a missing key, a wrong type) raises at once, unless `every_row`
    (debug-data's row_problems): then it is listed with the others and its row skipped."""
    problems, examples = [], []
    format_errors = problems if every_row else None
    for raw, loc in read_rows(path, format_errors):
        ex = recorded(format_errors, make_example, raw, loc, labelled, opts, problems)
        if ex is not None:
            examples.append(ex)
    if labelled:
        _duplicate_ids(examples, problems)
    return examples, problems


def read_rows(path: str, problems: list[str] | None = None) -> list[tuple[dict, str]]:
    """(raw question dict, location) for each question of a SQuAD JSON or a JSONL / JSON-list file.
    `problems`: a bad JSONL line or SQuAD paragraph is appended there and skipped instead of raised."""
    if path is None:
        raise UserError("no data file given")
    if path.lower().endswith(".json"):
        text = read_text(path)
        if text.lstrip().startswith("{"):
            return _squad_rows(path, text, problems)
    table = read_table(path, problems)
    return [(row, table.where(i)) for i, row in enumerate(table.rows)]


def _squad_rows(path: str, text: str, problems: list[str] | None = None) -> list[tuple[dict, str]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{where(path, e.lineno)}, column {e.colno}: not valid JSON ({e.msg})") from None
    if not isinstance(doc.get("data"), list):
        raise UserError(f"{path}: a SQuAD file needs a top-level 'data' list (of articles with 'paragraphs')")
    id_lines = _id_lines(text)
    rows = []
    for a, article in enumerate(doc["data"]):
        paragraphs = recorded(problems, _field, article, "paragraphs", list, f"{path}, data[{a}]")
        for p, par in enumerate(paragraphs or []):
            loc = f"{path}, data[{a}].paragraphs[{p}]"
            context = recorded(problems, _field, par, "context", str, loc)
            qas = recorded(problems, _field, par, "qas", list, loc) if context is not None else None
            for q, qa in enumerate(qas or []):
                qloc = f"{loc}.qas[{q}]"
                if not isinstance(qa, dict):
                    raise_or_record(problems, f"{qloc}: expected an object with id, question, answers")
                    continue
                line = id_lines.get(str(qa.get("id")))
                rows.append(({**qa, "context": context}, f"{where(path, line)} ({qloc[len(path) + 2:]})" if line else qloc))
    return rows


def _id_lines(text: str) -> dict[str, int]:
    """The line of each `"id": "..."` in the file, so errors can point at a line of nested JSON."""
    out = {}
    for m in re.finditer(r'"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)', text):
        out.setdefault(str(json.loads(m[1])), text.count("\n", 0, m.start()) + 1)
    return out


def _field(obj, key: str, kind: type, loc: str):
    if not isinstance(obj, dict):
        raise UserError(f"{loc}: expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise UserError(f"{loc}: no key '{key}'; the keys there are {sorted(obj)}")
    if not isinstance(obj[key], kind):
        raise UserError(f"{loc}: '{key}' is {type(obj[key]).__name__}, expected {kind.__name__}")
    return obj[key]


def make_example(raw: dict, loc: str, labelled: bool, opts: QAOptions, problems: list[str]) -> dict | None:
    """One validated example. Format errors raise at once; data problems are collected into `problems`."""
    ex = {"_where": loc}
    for key in ("question", "context"):
        if key not in raw:
            raise UserError(f"{loc}: no key '{key}'; the keys there are {sorted(raw)}")
        if not isinstance(raw[key], str):
            raise UserError(f"{loc}: '{key}' is {type(raw[key]).__name__} {raw[key]!r:.60}, expected a string")
        ex[key] = raw[key]
    if "id" in raw:
        if not isinstance(raw["id"], (str, int)) or isinstance(raw["id"], bool):
            raise UserError(f"{loc}: 'id' is {type(raw['id']).__name__}, expected a string")
        ex["id"] = str(raw["id"])
    elif labelled:
        raise UserError(f"{loc}: no key 'id'; every labelled question needs a unique id")
    else:
        ex["id"] = loc
    label = f"{loc} (id {ex['id']})"
    for key in ("question", "context"):
        if not ex[key].strip():
            problems.append(f"{label}: empty {key}; fill it in or remove the row")
    if not labelled:
        return ex
    answers = _answers(raw, label)
    impossible = raw.get("is_impossible", not answers)
    if not isinstance(impossible, bool):
        raise UserError(f"{label}: 'is_impossible' is {impossible!r}, expected true or false")
    if impossible and answers:
        problems.append(f"{label}: is_impossible is true but it has answers; empty one or the other")
    if not impossible and not answers:
        problems.append(f"{label}: no answers (give at least one, or set is_impossible: true for SQuAD v2.0)")
    if impossible and opts.version_2_with_negative is False:  # None (auto) accepts them: setup() switches v2 on
        problems.append(f"{label}: an unanswerable question; pass {flag('version_2_with_negative')} for SQuAD v2.0 data")
    ex["answers"], ex["is_impossible"] = [], impossible
    for text, start in answers:
        fixed = _align(ex["context"], text, start, label, opts, problems)
        if fixed is not None:
            ex["answers"].append({"text": text, "answer_start": fixed})
            if start is None:  # no answer_start given: located (its only place, or the first with --repair-answers)
                ex["_located"] = ex.get("_located", 0) + 1
            else:
                ex["_repaired"] = ex.get("_repaired", 0) + (fixed != start)
    return ex


def _answers(raw: dict, label: str) -> list[tuple[str, int | None]]:
    """(text, answer_start) pairs from SQuAD's list of objects or the flat {text: [...], answer_start: [...]}; an
    answer given without answer_start, or with -1, has None there (`_align` finds it in the context)."""
    if "answers" not in raw:
        hint = next((f"; the row has '{k}': give it as \"answers\": {{\"text\": [...]}}" for k in ("answer", "answer_text")
                     if k in raw), "")
        raise UserError(f"{label}: no key 'answers' (use [] or {{\"text\": [], \"answer_start\": []}} for no "
                        f"answer{hint})")
    value = raw["answers"]
    if isinstance(value, dict):
        if "text" not in value:
            raise UserError(f"{label}: 'answers' needs the key 'text' (and 'answer_start', or the answer is looked up in "
                            f"the context), has {sorted(value)}")
        texts = value["text"]
        # a null answer_start: a Parquet struct column of rows with and without it (pandas, pyarrow) has the key
        starts = value["answer_start"] if value.get("answer_start") is not None else (
            [None] * len(texts) if isinstance(texts, list) else None)
        if isinstance(texts, str) and not isinstance(starts, list):  # one answer as one object (SQuAD's, unlisted)
            texts, starts = [texts], [starts]
        if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
            raise UserError(f"{label}: answers 'text' and 'answer_start' must be lists of the same length")
        pairs = list(zip(texts, starts))
    elif isinstance(value, list):
        pairs = []
        for a in value:
            if not isinstance(a, dict) or "text" not in a:
                raise UserError(f"{label}: each answer needs 'text' (and 'answer_start'), got {a!r:.80}")
            pairs.append((a["text"], a.get("answer_start")))
    else:
        raise UserError(f"{label}: 'answers' is {type(value).__name__}, expected a list or a dict of lists")
    for text, start in pairs:
        if not isinstance(text, str):
            raise UserError(f"{label}: answer text {text!r:.60} is {type(text).__name__}, expected a string")
        if start is not None and (not isinstance(start, int) or isinstance(start, bool)):
            raise UserError(f"{label}: answer_start {start!r:.60} is {type(start).__name__}, expected an integer")
    # -1: "position not known" in several hub sets (answers kept from another source): looked up like a missing one
    return [(text, None if start == -1 else start) for text, start in pairs]


def _align(context: str, text: str, start: int | None, label: str, opts: QAOptions,
           problems: list[str]) -> int | None:
    """answer_start if it points at `text`; else (with --repair-answers) the nearest place the text occurs. Without
    answer_start (None): the one place the text occurs; where it occurs more than once, the first with
    --repair-answers, else a problem (which occurrence is the answer is the user's call)."""
    if not text.strip():
        problems.append(f"{label}: empty answer text")
        return None
    if start is not None and 0 <= start and context[start : start + len(text)] == text:
        return start
    # every place, overlapping ones too ("ha ha" occurs twice in "ha ha ha"; finditer's matches do not overlap, so
    # an ambiguous answer read as one found once)
    found = [m.start() for m in re.finditer(f"(?={re.escape(text)})", context)]
    if not found:
        problems.append(f"{label}: answer {text!r:.60} does not occur in the context")
        return None
    if start is None:
        if len(found) == 1 or opts.repair_answers:
            return found[0]
        problems.append(f"{label}: answer {text!r:.60} has no answer_start and occurs {len(found)} times in the "
                        f"context (at {found[:3]}); give answer_start, or pass {flag('repair_answers')} to take the first")
        return None
    units = _counted_in_units(context, found, start)
    if opts.repair_answers:
        return units[0] if units else min(found, key=lambda s: (abs(s - start), s))
    at = context[max(start, 0) : max(start, 0) + len(text)]
    why = (f"; {start} is where it occurs counted in {units[1]}, not characters: pass {flag('repair_answers')} to "
           "convert such offsets" if units else f" (which occurs at {found[:3]}); fix it or pass {flag('repair_answers')}")
    problems.append(f"{label}: answer_start {start} points at {at!r:.60}, not at the answer {text!r:.60}{why}")
    return None


def _counted_in_units(context: str, found: list[int], start: int) -> tuple[int, str] | None:
    """(place, unit) where `start` is one of the answer's places `found` counted in UTF-16 code units (JavaScript's
    string offsets: Label Studio and other web tools; an emoji counts 2) or UTF-8 bytes, else None."""
    for unit, codec, width in (("UTF-16 code units (as JavaScript tools write them)", "utf-16-le", 2),
                               ("UTF-8 bytes", "utf-8", 1)):
        for place in found:
            if len(context[:place].encode(codec, "surrogatepass")) // width == start:
                return place, unit
    return None


def _duplicate_ids(examples: list[dict], problems: list[str]) -> None:
    first = {}
    for e in examples:
        if e["id"] in first:
            problems.append(f"{e['_where']}: duplicate id {e['id']!r} (first at {first[e['id']]})")
        else:
            first[e["id"]] = e["_where"]

