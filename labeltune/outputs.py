"""Output files that read on their own: prediction rows with their input and gold answer, and held-out splits.

A prediction row is `{kept columns..., the input..., the prediction..., the gold answer...}`, so a file of
predictions can be read, filtered and joined without the input file beside it:

    input      text / text_pair (classification), tokens or text (NER), id / question / context (QA),
               source (translation)
    gold       gold_label(s), gold_entities, gold_answers, reference: only where the input had them
    kept       columns of the input file named by --keep-columns (an id, a date, ...), unchanged; one named
               like a prediction or gold field (e.g. `label`) is written as input_<name>

The file format follows the name: `.csv` / `.tsv` (nested values as JSON), `.json` (one JSON array), `.jsonl`
(also `.ndjson` or no extension), `.parquet` (nested values as Parquet structs and lists), and `-` for standard
output (JSONL). Parent folders are created.

Splits carved from --train are written to `<output>/splits/validation.<ext>` and `test.<ext>` in the input's
own format (CSV stays CSV with its columns; a SQuAD JSON file becomes SQuAD JSON; CoNLL becomes CoNLL), so
`labeltune evaluate --data <output>/splits/test.csv` scores exactly the held-out rows.

A task can replace the default mapping with an optional hook `echo(example) -> dict` (input and gold fields).
"""

from __future__ import annotations

import csv
import json
import os
import sys

from .data.readers import TABLE_FORMATS, read_table
from .errors import UserError
from .files import atomic_open, finite, writable_file, write_parquet

INPUT_KEYS = ("id", "text", "text_pair", "tokens", "question", "context", "source")


def echo(task, example: dict, prediction: dict | None = None) -> dict:
    """The example's input and gold fields, named for a reader of the output (see the module docstring)."""
    hook = getattr(task, "echo", None)
    if hook is not None:
        return hook(example)
    raw_text = "offsets" in example  # NER on raw text: its words ("tokens") are labeltune's, not the user's input
    out = {k: example[k] for k in INPUT_KEYS if example.get(k) is not None and not (raw_text and k == "tokens")}
    if "labels" in example:  # classification
        multi = prediction is not None and "labels" in prediction
        out.update({"gold_labels": example["labels"]} if multi or len(example["labels"]) != 1
                   else {"gold_label": example["labels"][0]})
    if "spans" in example and "text" in example:  # NER, raw text with character spans
        out["gold_entities"] = [{"text": example["text"][s:e], "type": t, "start": s, "end": e}
                                for s, e, t in example["spans"]]
    elif "tags" in example and "tokens" in example:  # NER, pre-tokenized
        from .tasks.ner import entity_spans

        tokens = example["tokens"]
        out["gold_entities"] = [{"text": " ".join(tokens[a:b]), "type": t, "token_start": a, "token_end": b}
                                for t, a, b in entity_spans(example["tags"])]
    if "answers" in example:  # QA
        out["gold_answers"] = [] if example.get("is_impossible") else [a["text"] for a in example["answers"]]
    if "target" in example:  # translation
        out["reference"] = example["target"]
    return out


def source_rows(path: str | None, examples: list[dict], keep: list[str]) -> list[dict]:
    """For each example, the input file's values of the `keep` columns (found again by the example's location)."""
    if not keep:
        return [{} for _ in examples]
    if not path or not (os.path.isdir(path) or os.path.splitext(path)[1].lower() in TABLE_FORMATS):
        raise UserError(f"--keep-columns needs a CSV, TSV or JSONL input; {path} is not one")
    if os.path.splitext(path)[1].lower() == ".json" and os.path.isfile(path) and _is_squad(path):
        raise UserError(f"--keep-columns needs a CSV, TSV or JSONL input; {path} is SQuAD JSON (each row already "
                        "holds the question's id): leave out --keep-columns")
    table = read_table(path)
    missing = [c for c in keep if c not in table.columns]
    if missing:
        raise UserError(f"--keep-columns: {path} has no column {', '.join(map(repr, missing))}; "
                        f"it has: {', '.join(table.columns)}")
    by_where = {table.where(i): row for i, row in enumerate(table.rows)}
    return [{c: by_where.get(e["_where"], {}).get(c) for c in keep} for e in examples]


def readable_rows(task, examples: list[dict], predictions: list[dict], kept: list[dict] | None = None) -> list[dict]:
    """Prediction rows that carry their input, the kept columns and the gold answer beside the prediction."""
    kept = kept or [{} for _ in examples]
    rows = []
    for e, p, k in zip(examples, predictions, kept):
        fields = echo(task, e, p)
        gold = {key: v for key, v in fields.items() if key.startswith("gold_") or key == "reference"}
        given = {key: v for key, v in fields.items() if key not in gold}
        # a kept column named like a prediction or gold field (`--keep-columns label` on labelled data) would be
        # overwritten without a word: it keeps its value as input_<name>
        k = {(f"input_{key}" if key in p or key in gold else key): v for key, v in k.items()}
        rows.append({**k, **given, **p, **gold})
    return rows


def parse_keep(value) -> list[str]:
    """--keep-columns 'id,date', or from Python a list or tuple of column names."""
    if isinstance(value, (list, tuple)) and all(isinstance(c, str) for c in value):
        return [c.strip() for c in value if c.strip()]
    if value is not None and not isinstance(value, str):
        raise UserError(f"keep_columns={value!r}: give the column names as a list of strings or 'id,date'")
    return [c.strip() for c in (value or "").split(",") if c.strip()]


def check_output_file(source: str | None, output: str | None, flag: str = "--output") -> None:
    """Before any work: UserError when `output` cannot be written (a folder, a file in the way of its folder) or
    would replace the input file `source` the results are computed from (the data would be lost)."""
    if not output or output == "-":
        return
    writable_file(output, flag)
    if source and os.path.exists(output) and os.path.exists(source) and os.path.samefile(source, output):
        raise UserError(f"{flag} {output} is the input file itself; writing there would replace your data with "
                        "the results: choose another file name")


RECORD_TYPES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet", "")  # what write_records writes, by the name


def check_records_name(path: str | None, flag: str = "--output") -> None:
    """Before any work: UserError for a prediction file whose name asks for a type write_records does not write
    (p.xlsx, p.feather would otherwise hold JSON Lines under that name)."""
    if not path or path == "-":
        return
    ext = os.path.splitext(path)[1].lower()
    if ext not in RECORD_TYPES:
        raise UserError(f"{flag} {path}: the file type follows the name, and '{ext}' is not one labeltune writes; "
                        "name it .csv, .tsv, .jsonl (JSON Lines; also .ndjson or no extension), .json (one JSON "
                        "array) or .parquet, or - for standard output (JSON Lines)")


def write_records(path: str, records: list[dict]) -> str:
    """Write rows as CSV/TSV/Parquet (by extension), JSONL otherwise; '-' is standard output. Returns where they
    went."""
    records = [finite(r) for r in records]  # inf/NaN -> null (empty in CSV): JSON has no such numbers
    if path == "-":
        for r in records:
            sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return "standard output"
    ext = os.path.splitext(path)[1].lower()
    if ext == ".parquet":
        return write_parquet(path, records)
    with atomic_open(path, newline="") as f:  # refuses a folder; creates missing folders
        if ext in (".csv", ".tsv"):
            columns = list(dict.fromkeys(k for r in records for k in r))
            w = csv.DictWriter(f, columns, delimiter="\t" if ext == ".tsv" else ",")
            w.writeheader()
            for r in records:
                w.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                            for k, v in r.items()})
        elif ext == ".json":
            json.dump(records, f, ensure_ascii=False, indent=1)
        else:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


# --- held-out splits as files ------------------------------------------------------------------------------
def write_split(source: str, examples: list[dict], out_dir: str, name: str, opts) -> str | None:
    """Write the held-out `examples` of the file `source` as `<out_dir>/<name>.<ext>`, in the source's format.

    Returns the path, or None when the format cannot be written back (the rows are still in split.json)."""
    os.makedirs(out_dir, exist_ok=True)
    ext = os.path.splitext(source)[1].lower() if os.path.isfile(source) else ""
    if ext in TABLE_FORMATS and not (ext == ".json" and _is_squad(source)):
        table = read_table(source)
        by_where = {table.where(i): row for i, row in enumerate(table.rows)}
        rows = [by_where[e["_where"]] for e in examples if e["_where"] in by_where]
        if len(rows) != len(examples):
            return None
        path = os.path.join(out_dir, name + (".jsonl" if ext == ".ndjson" else ext))
        if ext == ".parquet":
            return write_parquet(path, rows)
        if ext in (".csv", ".tsv"):
            with atomic_open(path, newline="") as f:
                w = csv.DictWriter(f, table.columns, delimiter="\t" if ext == ".tsv" else ",")
                w.writeheader()
                w.writerows(rows)
            return path
        return write_records(path, rows)
    if examples and "question" in examples[0]:  # SQuAD JSON
        return write_squad(examples, os.path.join(out_dir, name + ".json"))
    if examples and "tokens" in examples[0] and "tags" in examples[0]:  # CoNLL: token and IOB2 tag per line
        path = os.path.join(out_dir, name + ".conll")
        with atomic_open(path) as f:
            for e in examples:
                f.writelines(f"{t} {g}\n" for t, g in zip(e["tokens"], e["tags"]))
                f.write("\n")
        return path
    if examples and "source" in examples[0] and "target" in examples[0]:  # parallel text -> JSONL columns
        path = os.path.join(out_dir, name + ".jsonl")
        src, tgt = getattr(opts, "source_column", "source"), getattr(opts, "target_column", "target")
        return write_records(path, [{src: e["source"], tgt: e["target"]} for e in examples])
    return None


def write_squad(examples: list[dict], path: str) -> str:
    """QA examples as a SQuAD v2.0 JSON file (questions grouped by context), e.g. after --repair-answers."""
    paragraphs = {}
    for e in examples:
        qa = {"id": e["id"], "question": e["question"], "answers": e.get("answers", []),
              "is_impossible": bool(e.get("is_impossible"))}
        paragraphs.setdefault(e["context"], []).append(qa)
    doc = {"version": "v2.0", "data": [{"title": os.path.basename(path), "paragraphs": [
        {"context": c, "qas": q} for c, q in paragraphs.items()]}]}
    with atomic_open(path) as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
    return path


def _is_squad(path: str) -> bool:
    with open(path, encoding="utf-8-sig", errors="replace") as f:  # -sig: a byte-order mark is not the first character
        return f.read(4096).lstrip().startswith("{")
