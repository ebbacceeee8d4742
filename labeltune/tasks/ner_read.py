"""NER data files: CoNLL column files and JSONL rows (tokens and tags, or raw text and character spans),
validated line by line; tags converted to IOB2 with the file's scheme (ner_tags.py).

Split out of tasks/ner.py (NERTask.read calls `read_conll` / `read_jsonl`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import TYPE_CHECKING

from ..data.readers import canonical_text, raise_or_record, read_lines, read_table, read_text, recorded
from ..errors import UserError, flag, where
from .ner_tags import detect_scheme, is_io, parse_io_tag, parse_tag, to_iob2

if TYPE_CHECKING:
    from .ner import NEROptions

JSON_EXTENSIONS = (".jsonl", ".json", ".ndjson")


def _is_jsonl(path: str, opts: NEROptions) -> bool:
    if opts.data_format != "auto":
        return opts.data_format == "jsonl"
    # a datasets.save_to_disk dir and a Parquet file hold rows too
    return str(path).lower().endswith(JSON_EXTENSIONS + (".parquet",)) or os.path.isdir(path)


def _finish_tags(path: str, rows: list[dict], opts: NEROptions, problems: list[str] | None = None) -> None:
    """Detect the file's scheme, convert its tag rows to IOB2 and record (or refuse) invalid spots.
    `problems` (row_problems): every refusal is appended there instead of raised."""
    tagged = [r for r in rows if "_raw_tags" in r]
    if not tagged:
        return
    given = opts.scheme.lower()
    io = given == "io" or (given == "auto" and is_io([r["_raw_tags"] for r in tagged]))
    parse = parse_io_tag if io else parse_tag
    parsed = [[recorded(problems, parse, t, r["_locs"][i]) for i, t in enumerate(r["_raw_tags"])] for r in tagged]
    if problems is not None:  # a row with an unreadable tag is recorded; the scheme comes from the others
        kept = [k for k, seq in enumerate(parsed) if None not in seq]
        tagged, parsed = [tagged[k] for k in kept], [parsed[k] for k in kept]
    scheme = "IO" if io else detect_scheme(parsed) if given == "auto" else opts.scheme.upper()
    if io and given == "auto" and problems is None:  # a reading of the data, said where it is made
        print(f"labeltune: {path}: tags without B-/I- prefixes, read as IO tags: a run of words of one type is one "
              "entity (two neighbouring entities of the same type become one); --scheme io says so and hides this "
              "note", file=sys.stderr)
    if scheme not in ("BIOES", "IO"):
        for r, seq in zip(tagged, parsed):
            bad = next((i for i, (p, _) in enumerate(seq) if p in "ES"), None)
            if bad is not None:
                raise_or_record(problems, f"{r['_locs'][bad]}: tag '{r['_raw_tags'][bad]}' is not valid in {scheme}; "
                                "pass --scheme bioes (or auto)")
    repaired = 0
    for r, seq in zip(tagged, parsed):
        r["tags"], issues = to_iob2(seq, "IOB1" if io else scheme)  # IO is IOB1 without B-
        r["_issues"] = [f"{r['_locs'][i]}: {what}" for i, what in issues]
        if issues and opts.strict_tags:
            raise_or_record(problems, f"{r['_issues'][0]} (invalid {scheme}); fix the tags, or drop --strict-tags to "
                            "repair them as conlleval does")
        repaired += len(issues)
        r["_scheme"] = scheme
        del r["_raw_tags"], r["_locs"]
    if repaired and problems is None:  # handled, and said: never a silent change of the data (read() says it)
        print(f"labeltune: {path}: {repaired} invalid {scheme} tag sequence(s) repaired (a stray I- starts an "
              "entity, as conlleval does); `labeltune debug-data` lists them, --strict-tags refuses them",
              file=sys.stderr)


def read_conll(path: str, opts: NEROptions, labelled: bool = True, problems: list[str] | None = None) -> list[dict]:
    """Sentences of a CoNLL column file; every line must have as many columns as the first one.
    `problems` (row_problems): a bad line is appended there and skipped instead of raised."""
    if opts.data_format == "auto" and str(path).lower().endswith(".csv") and os.path.isfile(path):  # read as CoNLL,
        # a CSV said "the tag column is missing?" of a "Sentence #,Word,POS,Tag" export or a column of texts
        raise UserError(f"{where(path, 1)}: NER reads CoNLL (a token and its tag per line, separated by a tab or "
                        "spaces, a blank line between sentences), JSON Lines or Parquet rows (tokens and tags, or text "
                        "and entity spans), not CSV: save the tokens and tags tab-separated as .tsv, or the rows as "
                        f".jsonl; texts to predict one per line with {flag('data_format')} text")
    text = read_text(path)
    examples, tokens, locs, tags, first_line = [], [], [], [], None
    others: dict[int, list[str]] = {}  # unlabelled: the columns besides the token's, kept for what writes rows back
    doc, n_columns = 0, None
    # without -DOCSTART- lines there are no documents to keep together: each sentence is its own split group
    # (else the whole file would be one group, and no validation part could be carved from it)
    has_docs = any(line.split()[:1] == ["-DOCSTART-"] for line in text.split("\n"))

    def flush():
        nonlocal tokens, locs, tags, first_line, others
        if tokens:
            # (suggest writes the pool's sentences back: a tag or POS column of the pool was lost there)
            ex = {"tokens": tokens, **{f"column_{i}": values for i, values in others.items()},
                  "_where": where(path, first_line)}
            if has_docs:
                ex["doc"] = f"{path}#{doc}"
            if labelled:
                ex["_raw_tags"], ex["_locs"] = tags, locs
            examples.append(ex)
        tokens, locs, tags, first_line, others = [], [], [], None, {}

    for n, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")  # CRLF files
        if not line.strip():
            flush()
            continue
        # columns are cut at tabs, else at ASCII spaces only (as conlleval does): a no-break or thin space is a
        # token's own character ("10\u00a0000"), which str.split() would also cut at
        fields = [f.strip() for f in line.split("\t")] if "\t" in line else [f for f in line.split(" ") if f]
        if fields[0] == "-DOCSTART-":  # a document boundary (kept as the split group), whatever its columns
            flush()
            doc += 1
            continue
        if not tokens and _comment(line, fields, n_columns, opts, labelled):
            continue
        if n_columns is None:
            n_columns = len(fields)
            tok_i, tag_i = opts.conll_token_index % max(n_columns, 1), opts.conll_tag_index % max(n_columns, 1)
            if not -n_columns <= opts.conll_token_index < n_columns:
                raise UserError(f"{where(path, n)}: --conll-token-index {opts.conll_token_index} but the line has "
                                f"{n_columns} column(s)")
            if labelled and (n_columns < 2 or tok_i == tag_i or not -n_columns <= opts.conll_tag_index < n_columns):
                raise UserError(f"{where(path, n)}: {n_columns} column(s), no tag column at --conll-tag-index "
                                f"{opts.conll_tag_index} apart from the token column; is this file tagged?")
        if len(fields) != n_columns:
            missing = " (the tag column is missing?)" if len(fields) < n_columns and labelled else ""
            missing = missing or ("" if labelled else f" (if each line is a text, pass {flag('data_format')} text)")
            raise_or_record(problems, f"{where(path, n)}: {len(fields)} column(s) but the first line has {n_columns}"
                            f"{missing}; every token line needs the same columns")
            continue
        first_line = first_line or n
        tokens.append(fields[tok_i])
        locs.append(where(path, n))
        if labelled:
            tags.append(fields[tag_i])
        else:
            for i, value in enumerate(fields):
                if i != tok_i:
                    others.setdefault(i, []).append(value)
    flush()
    if not examples and not problems:  # (row_problems: every line was bad, and each one is listed)
        raise UserError(f"{path}: no sentences found (CoNLL: one token per line, a blank line between sentences)")
    if not labelled and opts.data_format == "auto" and len(examples) == 1 and n_columns > 1 and len(examples[0]["tokens"]) > 1:
        # one "sentence" of several lines of several words: a text per line, read as CoNLL, would keep only
        # each line's first word
        raise UserError(f"{path}: read as CoNLL this is one sentence whose tokens are the first word of each of its "
                        f"{len(examples[0]['tokens'])} lines; if each line is a text, pass {flag('data_format')} text "
                        "(or give JSON Lines {\"text\": ...}); if it is one CoNLL sentence, pass --data-format conll")
    _finish_tags(path, examples, opts, problems)
    return examples


def _comment(line: str, fields: list[str], n_columns: int | None, opts: NEROptions, labelled: bool) -> bool:
    """A sentence's "# id ..." / "# text = ..." line (CoNLL-U, MultiCoNER), not a "#" token: where tags are read,
    one whose tag column holds no tag ("# O" stays a token); else one that does not have the token lines' columns."""
    if not line.startswith("#"):
        return False
    if labelled and len(fields) > 1 and -len(fields) <= opts.conll_tag_index < len(fields):
        tag = fields[opts.conll_tag_index]
        return not (tag == "O" or (len(tag) > 2 and tag[0] in "BIESLU" and tag[1] == "-"))
    return line.startswith("# ") and (n_columns is None or len(fields) != n_columns)


def read_text_lines(path: str, labelled: bool) -> list[dict]:
    """--data-format text: one raw text per line (prediction inputs); a blank line is an error, never skipped, so
    output row N is input line N."""
    if labelled:
        raise UserError(f"{flag('data_format')} text: {path} holds texts without entities; train and evaluate read "
                        "CoNLL or JSON Lines (tokens and tags, or text and entity spans)")
    return [{"text": line, "_where": loc}
            for line, loc in read_lines(path, f"with {flag('data_format')} text every line is a text")]


def read_jsonl(path: str, opts: NEROptions, labelled: bool = True, problems: list[str] | None = None) -> list[dict]:
    """Rows with a tokens list (and tags), or raw text (and character spans).
    `problems` (row_problems): a bad row is appended there and skipped instead of raised."""
    table = read_table(path, problems)
    if opts.tags_column == "tags" and "tags" not in table.columns and "ner_tags" in table.columns:
        opts = dataclasses.replace(opts, tags_column="ner_tags")  # Hugging Face datasets' name (conll2003, wnut_17)
    names = [n.strip() for n in opts.tag_names.split(",")] if opts.tag_names else None
    examples = []
    for i, row in enumerate(table.rows):
        ex = recorded(problems, _jsonl_example, row, table.where(i), path, opts, labelled, names)
        if ex is not None:
            examples.append(ex)
    if not examples and not problems:  # (row_problems: every row was bad, and each one is listed)
        raise UserError(f"{path}: no rows")
    _finish_tags(path, examples, opts, problems)
    return examples


def _jsonl_example(row: dict, loc: str, path: str, opts: NEROptions, labelled: bool, names: list[str] | None) -> dict:
    """One validated JSONL row (tokens and raw tags, or text and spans); the first problem raises."""
    ex = {"_where": loc}
    if opts.doc_column in row and row[opts.doc_column] is not None:
        ex["doc"] = f"{path}#{row[opts.doc_column]}"
    if opts.tokens_column in row:
        ex["tokens"] = _tokens(row[opts.tokens_column], loc, opts.tokens_column)
        if labelled:
            if opts.tags_column not in row:
                raise UserError(f"{loc}: no '{opts.tags_column}' field (set by {flag('tags_column')}) next to the tokens")
            ex["_raw_tags"] = _tags(row[opts.tags_column], len(ex["tokens"]), loc, opts.tags_column, names)
            ex["_locs"] = [f"{loc}, token {k} ({t!r})" for k, t in enumerate(ex["tokens"])]
    elif opts.text_column in row:
        text = row[opts.text_column]
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"{loc}: empty or non-string '{opts.text_column}'; remove the row or fill in the text")
        ex["text"] = text
        if labelled:
            if opts.spans_column not in row:
                lists = [k for k, v in row.items() if isinstance(v, list)]  # Doccano exports spans as "label"
                hint = f"; did you mean {flag('spans_column').split()[0]} {lists[0]}?" if len(lists) == 1 else ""
                raise UserError(f"{loc}: no '{opts.spans_column}' field (set by {flag('spans_column')}) with the "
                                f"entity spans of the text ([] when it has none); the row has {', '.join(row)}{hint}")
            ex["spans"] = _spans(row[opts.spans_column], text, loc)
    else:
        raise UserError(f"{loc}: neither '{opts.tokens_column}' ({flag('tokens_column')}) nor '{opts.text_column}' "
                        f"({flag('text_column')}); the row has {', '.join(row) or 'no fields'}")
    return ex


def _tokens(value, loc: str, column: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise UserError(f"{loc}: '{column}' must be a non-empty list of strings (an empty sentence has nothing "
                        "to tag; remove the row)")
    for k, t in enumerate(value):
        if not isinstance(t, str) or not t.strip():
            raise UserError(f"{loc}: token {k} of '{column}' is {t!r}; tokens must be non-blank strings")
    return value


def _tags(value, n: int, loc: str, column: str, names: list[str] | None) -> list[str]:
    if not isinstance(value, list) or len(value) != n:
        got = f"{len(value)} tags" if isinstance(value, list) else type(value).__name__
        raise UserError(f"{loc}: '{column}' must be a list with one tag per token: {n} tokens, {got}")
    out = []
    for k, t in enumerate(value):
        if isinstance(t, int) and not isinstance(t, bool):
            if names is None or not 0 <= t < len(names):
                raise UserError(f"{loc}: tag {k} is the integer {t}; give {flag('tag_names')} to name integer tags "
                                "(the names of a Hugging Face dataset: ds.features['ner_tags'].feature.names; a "
                                "directory written by ds.save_to_disk keeps them)")
            t = names[t]
        if not isinstance(t, str):
            raise UserError(f"{loc}: tag {k} is {t!r}, expected a string")
        out.append(t.strip())
    return out


def _spans(value, text: str, loc: str) -> list[tuple[int, int, str]]:
    """Sorted (start, end, type) spans; overlapping spans or spans outside the text are errors."""
    if not isinstance(value, list):
        raise UserError(f"{loc}: entity spans must be a list, got {type(value).__name__}")
    spans = []
    for k, s in enumerate(value):
        given = None  # the span's own text, where the export writes it (Label Studio, spaCy's JSON)
        if isinstance(s, dict):
            given = s.get("text")
            # a Parquet struct gives every row both keys, null where a row had the other one
            s = (s.get("start"), s.get("end"), s.get("label") if s.get("label") is not None else s.get("type"))
        if not (isinstance(s, (list, tuple)) and len(s) == 3):
            raise UserError(f"{loc}: span {k} is {s!r}; expected {{start, end, label}} or [start, end, label]")
        start, end, label = s
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(label, str) and label.strip()):
            raise UserError(f"{loc}: span {k} {list(s)}: start and end must be integers, label a non-empty string")
        if not 0 <= start < end <= len(text):
            raise UserError(f"{loc}: span {k} [{start}, {end}) falls outside the text (length {len(text)}) "
                            f"or is empty; offsets count characters, end exclusive{utf16_hint(text)}")
        if isinstance(given, str) and canonical_text(text[start:end]) != canonical_text(given):
            raise UserError(f"{loc}: span {k} [{start}, {end}) holds {text[start:end]!r}, not its text {given!r}; "
                            f"offsets count characters, end exclusive{utf16_hint(text)}")
        spans.append((start, end, label.strip()))
    spans.sort()
    for a, b in zip(spans, spans[1:]):
        if b[0] < a[1]:
            raise UserError(f"{loc}: spans {list(a)} and {list(b)} overlap ({text[a[0]:a[1]]!r} / "
                            f"{text[b[0]:b[1]]!r}); NER tags one entity per word")
    return spans


def utf16_hint(text: str) -> str:
    """How to read wrong offsets into a text with characters outside the BMP (emoji), which JavaScript tools
    (Label Studio, most web annotators) count as 2 UTF-16 code units where Python counts 1."""
    astral = sum(ord(c) > 0xFFFF for c in text)
    return (f"; the text holds {astral} character(s) such as emoji that JavaScript tools (Label Studio) count as two: "
            "if the offsets count UTF-16 code units, convert them to characters" if astral else "")
