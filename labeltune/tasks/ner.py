"""Named-entity recognition: one tag per word, entities scored with seqeval in strict mode.

Inputs: CoNLL column files (blank line between sentences, `-DOCSTART-` starts a document), JSONL rows
with `tokens` and `tags` lists, or JSONL rows with raw `text` and character-offset entity spans.
Tags may be IOB1, IOB2 or BIOES (detected per file, or --scheme); everything is converted to IOB2
inside, so the saved model's id2label holds only O, B-X and I-X, which is what
`transformers.pipeline(..., aggregation_strategy="simple")` understands.

Sub-words: a word's label sits on its first sub-word (the others are -100 in the loss) unless
--label-all-subwords; predictions and metrics are always per word, never per sub-word.
Long inputs: the fast tokenizer cuts them into windows that overlap by --stride sub-words; each word's
prediction comes from the window where it sits farthest from a cut, so no word is dropped.
Raw text: words are the tokenizer's own pre-tokenized words (its word ids and offsets); an entity
span must start and end on word boundaries.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from ..batching import collate_encoder
from ..config import opt
from ..data.readers import read_table, read_text
from ..errors import UserError, flag, where
from ..inference import run_batches
from ..models import from_pretrained, prefix_space_for_words, strip_offsets

JSON_EXTENSIONS = (".jsonl", ".json", ".ndjson")
SCHEMES = ("auto", "iob1", "iob2", "bioes")
IGNORE = -100  # label of sub-words the loss skips
FAR = 10**9  # context "distance" at a real text boundary (not a window cut)


@dataclass
class NEROptions:
    data_format: str = opt("auto", "auto | conll | jsonl (auto: .jsonl/.json/.ndjson are JSON lines, else CoNLL)")
    conll_token_index: int = opt(0, "CoNLL: column of the token (0 = first)")
    conll_tag_index: int = opt(-1, "CoNLL: column of the tag (-1 = last)")
    tokens_column: str = opt("tokens", "JSONL: field holding the list of tokens (pre-tokenized input)")
    tags_column: str = opt("tags", "JSONL: field holding the list of tags, one per token")
    text_column: str = opt("text", "JSONL: field holding raw text (read when the tokens field is absent)")
    spans_column: str = opt("entities", "JSONL: raw text's entity spans, [{start, end, label}] or [start, end, label]")
    doc_column: str = opt("doc", "JSONL: field naming a row's document; a document never straddles a split")
    tag_names: str = opt("", "comma-separated names of integer tags 0,1,..., e.g. 'O,B-PER,I-PER'")
    scheme: str = opt("auto", "auto | iob1 | iob2 | bioes: the data's tag scheme (IOB2 is used inside)")
    strict_tags: bool = opt(False, "refuse invalid tag sequences instead of repairing them as conlleval does")
    label_all_subwords: bool = opt(False, "train on every sub-word of a word, not only the first one")
    stride: int = opt(64, "long inputs: sub-words shared by consecutive windows (capped at half a window)")

    def __post_init__(self):
        if self.scheme.lower() not in SCHEMES:
            raise UserError(f"{flag('scheme')} {self.scheme}: choose one of {', '.join(SCHEMES)}")
        if self.data_format not in ("auto", "conll", "jsonl"):
            raise UserError(f"{flag('data_format')} {self.data_format}: choose auto, conll or jsonl")
        if self.stride < 0:
            raise UserError(f"{flag('stride')} must be >= 0")


# --- tag schemes --------------------------------------------------------------------------------
def parse_tag(tag: str, loc: str) -> tuple[str, str | None]:
    """('O', None) or (prefix, type) for B-/I-/E-/S- tags; anything else is an error."""
    if tag == "O":
        return "O", None
    if len(tag) > 2 and tag[0] in "BIES" and tag[1] == "-":
        return tag[0], tag[2:]
    raise UserError(
        f"{loc}: tag '{tag}' is neither O nor a B-/I-/E-/S- prefix and a type (e.g. B-PER); "
        f"check {flag('conll_tag_index')} / {flag('tags_column')}, or {flag('tag_names')} for integer tags"
    )


def detect_scheme(sequences: list[list[tuple[str, str | None]]]) -> str:
    """BIOES if E-/S- occur; IOB1 if entities start with I- and B- only separates same-type neighbours."""
    if any(p in "ES" for seq in sequences for p, _ in seq):
        return "BIOES"
    i_starts = b_free = 0
    for seq in sequences:
        prev = None
        for p, t in seq:
            i_starts += p == "I" and prev != t
            b_free += p == "B" and prev != t
            prev = t
    return "IOB1" if i_starts and not b_free else "IOB2"


def to_iob2(seq: list[tuple[str, str | None]], scheme: str) -> tuple[list[str], list[tuple[int, str]]]:
    """IOB2 tags and the invalid spots found [(index, what)]; repairs follow conlleval (a stray I- starts
    an entity), so every tagged word keeps its type."""
    out, issues, open_type = [], [], None  # open_type: the entity a following I-/E- may continue
    for i, (p, t) in enumerate(seq):
        prev = f"{seq[i - 1][0]}-{seq[i - 1][1]}" if i and seq[i - 1][1] else ("O" if i else "the sentence start")
        if scheme == "BIOES" and open_type is not None and p in "OBS":
            issues.append((i - 1, f"{prev} is not closed by E-{open_type}"))
        if p == "O":
            out.append("O")
            open_type = None
        elif p == "B" or (p == "I" and scheme == "IOB1" and open_type != t):
            out.append(f"B-{t}")
            open_type = t
        elif p == "S":
            out.append(f"B-{t}")
            open_type = None
        else:  # I- or E-: must continue an entity of the same type
            if open_type == t:
                out.append(f"I-{t}")
            else:
                what = "a type change inside an entity" if open_type else "no entity to continue"
                issues.append((i, f"{p}-{t} follows {prev}: {what}"))
                out.append(f"B-{t}")
            open_type = t if p == "I" else None
    if scheme == "BIOES" and open_type is not None:
        issues.append((len(seq) - 1, f"{seq[-1][0]}-{open_type} ends the sentence without E-{open_type}"))
    return out, issues


def repair_iob2(tags: list[str]) -> list[str]:
    """Predicted tags made valid IOB2: an I-X that does not continue an X entity starts one (conlleval,
    and what pipeline's "simple" aggregation does)."""
    out = []
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (i == 0 or out[-1] == "O" or out[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


def entity_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first word, end word exclusive) of each entity in valid IOB2 tags."""
    spans = []
    for i, tag in enumerate(tags):
        if tag.startswith("B-"):
            spans.append([tag[2:], i, i + 1])
        elif tag.startswith("I-") and spans and spans[-1][2] == i and spans[-1][0] == tag[2:]:
            spans[-1][2] = i + 1
    return [tuple(s) for s in spans]


def entity_metrics(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """Entity precision/recall/F1 (micro and per type) with seqeval in strict IOB2 mode, plus word accuracy."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    report = classification_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0})
    words = sum(len(g) for g in gold)
    return {
        "entity_f1": float(micro["f1-score"]),
        "entity_precision": float(micro["precision"]),
        "entity_recall": float(micro["recall"]),
        "word_accuracy": sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p)) / max(words, 1),
        "per_type": {
            name: {"precision": float(r["precision"]), "recall": float(r["recall"]), "f1": float(r["f1-score"]),
                   "support": int(r["support"])}
            for name, r in report.items() if not name.endswith(" avg")
        },
        "entities": int(micro["support"]),
        "n": len(gold),
        "words": words,
    }


# --- reading ------------------------------------------------------------------------------------
def _is_jsonl(path: str, opts: NEROptions) -> bool:
    if opts.data_format != "auto":
        return opts.data_format == "jsonl"
    return str(path).lower().endswith(JSON_EXTENSIONS)


def _finish_tags(path: str, rows: list[dict], opts: NEROptions) -> None:
    """Detect the file's scheme, convert its tag rows to IOB2 and record (or refuse) invalid spots."""
    tagged = [r for r in rows if "_raw_tags" in r]
    if not tagged:
        return
    parsed = [[parse_tag(t, r["_locs"][i]) for i, t in enumerate(r["_raw_tags"])] for r in tagged]
    scheme = detect_scheme(parsed) if opts.scheme.lower() == "auto" else opts.scheme.upper()
    if scheme != "BIOES":
        for r, seq in zip(tagged, parsed):
            bad = next((i for i, (p, _) in enumerate(seq) if p in "ES"), None)
            if bad is not None:
                raise UserError(f"{r['_locs'][bad]}: tag '{r['_raw_tags'][bad]}' is not valid in {scheme}; "
                                "pass --scheme bioes (or auto)")
    repaired = 0
    for r, seq in zip(tagged, parsed):
        r["tags"], issues = to_iob2(seq, scheme)
        r["_issues"] = [f"{r['_locs'][i]}: {what}" for i, what in issues]
        if issues and opts.strict_tags:
            raise UserError(f"{r['_issues'][0]} (invalid {scheme}); fix the tags, or drop --strict-tags to "
                            "repair them as conlleval does")
        repaired += len(issues)
        r["_scheme"] = scheme
        del r["_raw_tags"], r["_locs"]
    if repaired:  # handled, and said: never a silent change of the data
        print(f"labeltune: {path}: {repaired} invalid {scheme} tag sequence(s) repaired (a stray I- starts an "
              "entity, as conlleval does); `labeltune debug-data` lists them, --strict-tags refuses them",
              file=sys.stderr)


def read_conll(path: str, opts: NEROptions, labelled: bool = True) -> list[dict]:
    """Sentences of a CoNLL column file; every line must have as many columns as the first one."""
    text = read_text(path)
    examples, tokens, locs, tags, first_line = [], [], [], [], None
    doc, n_columns = 0, None
    # without -DOCSTART- lines there are no documents to keep together: each sentence is its own split group
    # (else the whole file would be one group, and no validation part could be carved from it)
    has_docs = any(line.split()[:1] == ["-DOCSTART-"] for line in text.split("\n"))

    def flush():
        nonlocal tokens, locs, tags, first_line
        if tokens:
            ex = {"tokens": tokens, "_where": where(path, first_line)}
            if has_docs:
                ex["doc"] = f"{path}#{doc}"
            if labelled:
                ex["_raw_tags"], ex["_locs"] = tags, locs
            examples.append(ex)
        tokens, locs, tags, first_line = [], [], [], None

    for n, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")  # CRLF files
        if not line.strip():
            flush()
            continue
        fields = [f.strip() for f in line.split("\t")] if "\t" in line else line.split()
        if fields[0] == "-DOCSTART-":  # a document boundary (kept as the split group), whatever its columns
            flush()
            doc += 1
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
            missing = " (the tag column is missing?)" if len(fields) < n_columns else ""
            raise UserError(f"{where(path, n)}: {len(fields)} column(s) but the first line has {n_columns}"
                            f"{missing}; every token line needs the same columns")
        first_line = first_line or n
        tokens.append(fields[tok_i])
        locs.append(where(path, n))
        if labelled:
            tags.append(fields[tag_i])
    flush()
    if not examples:
        raise UserError(f"{path}: no sentences found (CoNLL: one token per line, a blank line between sentences)")
    _finish_tags(path, examples, opts)
    return examples


def read_jsonl(path: str, opts: NEROptions, labelled: bool = True) -> list[dict]:
    """Rows with a tokens list (and tags), or raw text (and character spans)."""
    table = read_table(path)
    names = [n.strip() for n in opts.tag_names.split(",")] if opts.tag_names else None
    examples = []
    for i, row in enumerate(table.rows):
        loc = table.where(i)
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
                    raise UserError(f"{loc}: no '{opts.spans_column}' field (set by {flag('spans_column')}) with the "
                                    "entity spans of the text ([] when it has none)")
                ex["spans"] = _spans(row[opts.spans_column], text, loc)
        else:
            raise UserError(f"{loc}: neither '{opts.tokens_column}' ({flag('tokens_column')}) nor '{opts.text_column}' "
                            f"({flag('text_column')}); the row has {', '.join(row) or 'no fields'}")
        examples.append(ex)
    if not examples:
        raise UserError(f"{path}: no rows")
    _finish_tags(path, examples, opts)
    return examples


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
                raise UserError(f"{loc}: tag {k} is the integer {t}; give {flag('tag_names')} to name integer tags")
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
        if isinstance(s, dict):
            s = (s.get("start"), s.get("end"), s.get("label", s.get("type")))
        if not (isinstance(s, (list, tuple)) and len(s) == 3):
            raise UserError(f"{loc}: span {k} is {s!r}; expected {{start, end, label}} or [start, end, label]")
        start, end, label = s
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(label, str) and label.strip()):
            raise UserError(f"{loc}: span {k} {list(s)}: start and end must be integers, label a non-empty string")
        if not 0 <= start < end <= len(text):
            raise UserError(f"{loc}: span {k} [{start}, {end}) falls outside the text (length {len(text)}) "
                            "or is empty; offsets count characters, end exclusive")
        spans.append((start, end, label.strip()))
    spans.sort()
    for a, b in zip(spans, spans[1:]):
        if b[0] < a[1]:
            raise UserError(f"{loc}: spans {list(a)} and {list(b)} overlap ({text[a[0]:a[1]]!r} / "
                            f"{text[b[0]:b[1]]!r}); NER tags one entity per word")
    return spans


def ensure_words(examples: list[dict], tokenizer) -> None:
    """Raw-text examples get words (the tokenizer's pre-tokenized words, with character offsets) and,
    when they carry spans, IOB2 tags; a span that cuts a word in half is an error."""
    raw = [e for e in examples if "text" in e and "tokens" not in e]
    if not raw:
        return
    prefix_space_for_words(tokenizer)  # split raw text as the words will be tokenized later
    enc = tokenizer([e["text"] for e in raw], add_special_tokens=False, return_offsets_mapping=True,
                    verbose=False)
    for j, e in enumerate(raw):
        offsets = {}
        for w, (s, t) in zip(enc.word_ids(j), enc["offset_mapping"][j]):
            if w is not None:
                a, b = offsets.get(w, (s, t))
                offsets[w] = (min(a, s), max(b, t))
        e["offsets"] = [strip_offsets(e["text"], *offsets[w]) for w in sorted(offsets)]
        e["tokens"] = [e["text"][s:t] for s, t in e["offsets"]]
        if "spans" in e:
            e["tags"] = _span_tags(e)


def _span_tags(e: dict) -> list[str]:
    tags = ["O"] * len(e["offsets"])
    for start, end, label in e["spans"]:
        inside = []
        for k, (s, t) in enumerate(e["offsets"]):
            if s < end and t > start:  # the word overlaps the span
                if s < start or t > end:
                    raise UserError(f"{e['_where']}: span [{start}, {end}) {e['text'][start:end]!r} cuts the word "
                                    f"{e['text'][s:t]!r} at [{s}, {t}); spans must start and end on word boundaries")
                inside.append(k)
        if not inside:
            raise UserError(f"{e['_where']}: span [{start}, {end}) {e['text'][start:end]!r} covers no word")
        for k in inside:
            tags[k] = ("B-" if k == inside[0] else "I-") + label
    return tags


# --- windows over sub-words ---------------------------------------------------------------------
def encode_windows(examples, tokenizer, max_length: int, stride: int, label_ids: dict | None = None,
                   all_subwords: bool = False) -> list[dict]:
    """Features for `examples` (with "tokens"): overlapping windows of at most `max_length` sub-words.

    Each feature has input_ids (+ token_type_ids), labels when `label_ids` is given, `_example` (its
    example's index) and `_words`: (position, word index, context) for each word whose first sub-word
    lies in the window; context is the distance to the nearest window cut, which picks the window a
    word's prediction is read from.
    """
    prefix_space_for_words(tokenizer)
    room = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if room < 2:
        raise UserError(f"--max-length {max_length} leaves no room for words next to the special tokens")
    stride = min(stride, room // 2)  # the tokenizer needs each window to move forward
    words = [list(e["tokens"]) for e in examples]
    enc = _tokenize(words, tokenizer, max_length, stride)
    empty = _words_without_subwords(enc, words)
    if empty:  # e.g. a zero-width space: stand in the unknown token, so no word goes untagged
        for i, k in empty:
            words[i][k] = tokenizer.unk_token or "?"
        enc = _tokenize(words, tokenizer, max_length, stride)

    # where each window sits in its example's full sub-word sequence (windows overlap by `stride`)
    sample, starts, next_start, first, at = enc["overflow_to_sample_mapping"], [], {}, {}, {}
    for j in range(len(enc["input_ids"])):
        i, wids = sample[j], enc.word_ids(j)
        content = [k for k, w in enumerate(wids) if w is not None]
        starts.append(next_start.get(i, 0))
        next_start[i] = starts[j] + len(content) - stride
        for r, k in enumerate(content):
            first.setdefault((i, wids[k]), starts[j] + r)  # windows come in order: the first is the earliest
            if at.setdefault((i, starts[j] + r), wids[k]) != wids[k]:  # guards the overlap arithmetic
                raise RuntimeError(f"{examples[i]['_where']}: windows do not overlap by {stride} sub-words")

    n_windows = Counter(sample)
    seen = Counter()
    features = []
    for j in range(len(enc["input_ids"])):
        i, wids = sample[j], enc.word_ids(j)
        seen[i] += 1
        is_first_window, is_last_window = seen[i] == 1, seen[i] == n_windows[i]
        content = [k for k, w in enumerate(wids) if w is not None]
        f = {"input_ids": enc["input_ids"][j], "_example": i, "_words": []}
        if "token_type_ids" in enc:
            f["token_type_ids"] = enc["token_type_ids"][j]
        labels = [IGNORE] * len(wids)
        tags = examples[i].get("tags") if label_ids is not None else None
        for r, k in enumerate(content):
            w = wids[k]
            is_first = starts[j] + r == first[(i, w)]
            if is_first:
                left = FAR if is_first_window else r
                right = FAR if is_last_window else len(content) - 1 - r
                f["_words"].append((k, w, min(left, right)))
            if tags is not None and (is_first or all_subwords):
                tag = tags[w] if is_first or not tags[w].startswith("B-") else "I-" + tags[w][2:]
                labels[k] = label_ids[tag]
        if tags is not None:
            f["labels"] = labels
        features.append(f)
    return features


def _tokenize(words, tokenizer, max_length: int, stride: int):
    return tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length, stride=stride,
                     return_overflowing_tokens=True)


def _words_without_subwords(enc, words) -> list[tuple[int, int]]:
    have = {(i, w) for j, i in enumerate(enc["overflow_to_sample_mapping"]) for w in enc.word_ids(j)}
    return [(i, k) for i, ws in enumerate(words) for k in range(len(ws)) if (i, k) not in have]


# --- the task -----------------------------------------------------------------------------------
class NERTask:
    name = "ner"
    group_description = "document (or sentence)"  # what split_keys groups on (split.json); set by split_keys
    Options = NEROptions
    metric_names = ("entity_f1", "entity_precision", "entity_recall", "word_accuracy")  # for --metric's help
    onnx_outputs = ("logits",)  # the model outputs inference reads (labeltune export)

    def default_metric(self, opts) -> str:
        return "entity_f1"

    def read(self, path: str, opts: NEROptions, labelled: bool = True) -> list[dict]:
        return read_jsonl(path, opts, labelled) if _is_jsonl(path, opts) else read_conll(path, opts, labelled)

    def as_examples(self, inputs, opts) -> list[dict]:
        """A string is raw text; a list of strings is one pre-tokenized sentence."""
        out = []
        for i, x in enumerate(inputs):
            loc = f"input {i}"
            if isinstance(x, dict):
                x = x.get(opts.tokens_column, x.get(opts.text_column))
            if isinstance(x, str):
                if not x.strip():
                    raise UserError(f"{loc}: empty text")
                out.append({"text": x, "_where": loc})
            elif isinstance(x, (list, tuple)):
                out.append({"tokens": _tokens(list(x), loc, "tokens"), "_where": loc})
            else:
                raise UserError(f"{loc}: expected a string, a list of tokens, or a dict with "
                                f"'{opts.tokens_column}' or '{opts.text_column}'")
        return out

    def api_schema(self, opts):
        """`labeltune serve`: raw text (a string, or {text}) or a pre-tokenized sentence ({tokens}); the entities."""
        from pydantic import BaseModel, create_model

        item = create_model("NERInput", **{opts.text_column: (str | None, None), opts.tokens_column: (list[str] | None, None)})

        class Entity(BaseModel):
            text: str
            type: str
            score: float
            start: int | None = None  # raw text: character offsets
            end: int | None = None
            token_start: int | None = None  # tokens: token offsets
            token_end: int | None = None
            entity_group: str | None = None  # the same type and text under transformers pipeline()'s names
            word: str | None = None

        class NERPrediction(BaseModel):
            entities: list[Entity]
            tags: list[str] | None = None  # tokens: one IOB2 tag per token

        return str | item, NERPrediction

    def split_keys(self, examples):
        # the document is the group, so a split or fold never cuts a document in two; without documents
        # (CoNLL without -DOCSTART-, JSONL without --doc-column) the sentence is
        groups = [e.get("doc") or _sentence_key(e) for e in examples]
        with_docs = sum("doc" in e for e in examples)
        # what the groups were, for split.json (run.prepare_data reads it right after this call)
        self.group_description = ("document" if with_docs == len(examples) else
                                  "sentence (the data has no document markers)" if not with_docs else
                                  "document where given, else sentence")
        return groups, ["entities" if _types(e) else "none" for e in examples]

    def duplicate_keys(self, examples):
        # a duplicate is the same sentence, whatever document it sits in (debug-data's duplicates and overlap)
        return [_sentence_key(e) for e in examples]

    def setup(self, train: list[dict], opts) -> dict:
        types = sorted({t for e in train for t in _types(e)})
        if not types:
            raise UserError(f"{train[0]['_where'].split(',')[0]}: no entity in the training data (every tag is O); "
                            f"check {flag('conll_tag_index')} / {flag('tags_column')} / {flag('spans_column')}")
        labels = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
        schemes = sorted({e["_scheme"] for e in train if "_scheme" in e})
        return {"labels": labels, "scheme": "IOB2", "source_scheme": ",".join(schemes) or "spans"}

    def check(self, examples, setup, opts) -> None:
        known = {label[2:] for label in setup["labels"] if label != "O"}
        for e in examples:
            for t in _types(e):
                if t not in known:
                    raise UserError(f"{e['_where']}: entity type '{t}' does not occur in the training data "
                                    f"(known: {', '.join(sorted(known))}); fix the tag or add training examples")

    # --- model ----------------------------------------------------------------------------------
    def build_model(self, model_path: str, setup: dict, opts, cfg):
        from transformers import AutoModelForTokenClassification

        labels = setup["labels"]
        return from_pretrained(AutoModelForTokenClassification, model_path, trust_remote_code=cfg.trust_remote_code,
                               num_labels=len(labels), id2label=dict(enumerate(labels)),
                               label2id={name: i for i, name in enumerate(labels)})

    def load_model(self, directory: str, setup: dict, opts):
        from transformers import AutoModelForTokenClassification

        return from_pretrained(AutoModelForTokenClassification, directory)

    def encode(self, examples, tokenizer, setup, opts, max_length: int) -> list[dict]:
        ensure_words(examples, tokenizer)
        label_ids = {name: i for i, name in enumerate(setup["labels"])}
        return encode_windows(examples, tokenizer, max_length, opts.stride, label_ids, opts.label_all_subwords)

    def input_lengths(self, examples, tokenizer, setup, opts) -> list[int]:
        ensure_words(examples, prefix_space_for_words(tokenizer))
        enc = tokenizer([e["tokens"] for e in examples], is_split_into_words=True, verbose=False)
        return [len(ids) for ids in enc["input_ids"]]

    def collate(self, features, tokenizer) -> dict:
        return collate_encoder(features, tokenizer.pad_token_id, label_pad=IGNORE)

    # --- inference and metrics ------------------------------------------------------------------
    def word_probabilities(self, rt, examples) -> list[np.ndarray]:
        """[words, labels] probabilities per example, each word read from its best window."""
        ensure_words(examples, rt.tokenizer)
        features = encode_windows(examples, rt.tokenizer, rt.max_length, rt.opts.stride)

        def outputs(out, batch):
            probs = torch.softmax(out.logits.float(), -1).cpu().numpy()
            return [p[: int(m.sum())] for p, m in zip(probs, batch["attention_mask"].cpu().numpy())]

        window_probs = run_batches(rt, features, lambda f: self.collate(f, rt.tokenizer), outputs)
        n_labels = len(rt.setup["labels"])
        result = [np.zeros((len(e["tokens"]), n_labels), dtype=np.float32) for e in examples]
        best = [np.full(len(e["tokens"]), -1) for e in examples]
        for f, probs in zip(features, window_probs):
            i = f["_example"]
            for k, w, context in f["_words"]:
                if context > best[i][w]:
                    best[i][w] = context
                    result[i][w] = probs[k]
        return result

    def active_outputs(self, rt, examples, embed) -> list[dict]:
        """Active learning (labeltune/active.py): one unit per word ("probs": words x labels, each word read from
        its best window as in word_probabilities); "embedding": "head_input" per word (words x hidden) and the
        mean of the example's windows' "pooled" vectors."""
        ensure_words(examples, rt.tokenizer)
        features = encode_windows(examples, rt.tokenizer, rt.max_length, rt.opts.stride)

        def outputs(out, batch):
            probs = torch.softmax(out.logits.float(), -1).cpu().numpy()
            return list(zip(probs, embed(out, batch)))

        windows = run_batches(rt, features, lambda f: self.collate(f, rt.tokenizer), outputs)
        out = [{"probs": np.zeros((len(e["tokens"]), len(rt.setup["labels"])), dtype=np.float32), "best": None,
                "head": None, "pooled": []} for e in examples]
        for f, (probs, emb) in zip(features, windows):
            o = out[f["_example"]]
            if o["head"] is None:
                o["head"] = np.zeros((len(o["probs"]), emb["head_input"].shape[-1]), dtype=np.float32)
                o["best"] = np.full(len(o["probs"]), -1)
            o["pooled"].append(emb["pooled"])
            for k, w, context in f["_words"]:
                if context > o["best"][w]:
                    o["best"][w], o["probs"][w], o["head"][w] = context, probs[k], emb["head_input"][k]
        return [{"probs": o["probs"], "embedding": {"head_input": o["head"], "pooled": np.mean(o["pooled"], 0)}}
                for o in out]

    def label_quality(self, rt, examples) -> list[list[dict]]:
        """`labeltune label-issues`: per example one unit per word: its tag probabilities and the given tag's index."""
        probs = self.word_probabilities(rt, examples)  # also gives raw-text examples their words and tags
        index = {name: i for i, name in enumerate(rt.setup["labels"])}
        return [[{"probs": p[w], "given": index[tag], "unit": f"word {w + 1}: {e['tokens'][w]}",
                  "text": " ".join(e["tokens"])} for w, tag in enumerate(e.get("tags", [])) if tag in index]
                for e, p in zip(examples, probs)]

    def _decode(self, rt, probs: list[np.ndarray]) -> list[tuple[list[str], list[float]]]:
        labels = rt.setup["labels"]
        out = []
        for p in probs:
            ids = p.argmax(-1)
            out.append((repair_iob2([labels[k] for k in ids]), [float(p[w, k]) for w, k in enumerate(ids)]))
        return out

    def _prediction(self, e: dict, tags: list[str], scores: list[float]) -> dict:
        entities = []
        for typ, a, b in entity_spans(tags):
            score = round(float(np.mean(scores[a:b])), 6)
            if "text" in e:  # raw text: character offsets into it
                start, end = e["offsets"][a][0], e["offsets"][b - 1][1]
                entities.append({"text": e["text"][start:end], "type": typ, "start": start, "end": end, "score": score})
            else:
                entities.append({"text": " ".join(e["tokens"][a:b]), "type": typ, "token_start": a, "token_end": b,
                                 "score": score})
            # the names transformers' token-classification pipeline uses, for code written against it
            entities[-1].update(entity_group=typ, word=entities[-1]["text"])
        if "text" in e:
            return {"entities": entities}
        return {"tags": tags, "entities": entities}

    def predict(self, rt, examples) -> list[dict]:
        decoded = self._decode(rt, self.word_probabilities(rt, examples))
        return [self._prediction(e, tags, scores) for e, (tags, scores) in zip(examples, decoded)]

    def evaluate(self, rt, examples) -> tuple[dict, list[dict]]:
        decoded = self._decode(rt, self.word_probabilities(rt, examples))
        metrics = entity_metrics([e["tags"] for e in examples], [tags for tags, _ in decoded])
        return metrics, [self._prediction(e, tags, scores) for e, (tags, scores) in zip(examples, decoded)]

    def report_view(self, rows, setup) -> dict:
        """The run report's worst errors (labeltune/report/views.py)."""
        from ..report.views import ner_view

        return ner_view(rows, setup)

    def report(self, train, validation, tokenizer, opts, max_length) -> dict:
        out = {"internal_scheme": "IOB2"}
        for split, examples in (("train", train), ("validation", validation)):
            if not examples:
                continue
            ensure_words(examples, tokenizer)
            out[f"{split}_tag_scheme"] = ",".join(sorted({e.get("_scheme", "spans") for e in examples}))
            counts = Counter(t for e in examples for t in _entity_types(e))
            out[f"{split}_entity_counts"] = dict(sorted(counts.items()))
            issues = [msg.split(": ", 1) for e in examples for msg in e.get("_issues", [])]
            out[f"{split}_invalid_tag_sequences"] = len(issues)
            if issues:  # every one, by file and line: they are what a user fixes
                out[f"{split}_invalid_tag_sequence_list"] = dict(issues)
            features = encode_windows(examples, tokenizer, max_length, opts.stride)
            windows = Counter(f["_example"] for f in features)
            out[f"{split}_split_into_windows"] = sum(n > 1 for n in windows.values())
            unk = _unk_words(examples, tokenizer)
            if unk:
                out[f"{split}_words_without_subwords"] = unk
        if validation:
            unseen = {t for e in validation for t in _types(e)} - {t for e in train for t in _types(e)}
            out["validation_types_unseen_in_train"] = sorted(unseen)
        return out

    def perturb(self, example, editor, rng) -> dict:
        """`labeltune robustness` and `train --augment`: words edited, tags follow their words, spans re-offset."""
        from ..robustness.probes import perturb_ner

        return perturb_ner(example, editor, rng)

    def extra_perturbations(self) -> list:
        """`labeltune robustness`: entities swapped for unseen names of the same type."""
        from ..robustness.probes import NER_SPECIALS

        return NER_SPECIALS

    def explain_probe(self, rt, example, prediction, target=None):
        """`labeltune explain`: model input, words and target scores of one example (labeltune/explain/targets.py)."""
        from ..explain.targets import ner_probe

        return ner_probe(rt, example, prediction, target)


def _sentence_key(e: dict) -> tuple:
    return tuple(e["tokens"]) if "tokens" in e else (e["text"].strip(),)


def _types(e: dict) -> set[str]:
    if "spans" in e:
        return {label for _, _, label in e["spans"]}
    return {t[2:] for t in e.get("tags", []) if t != "O"}


def _entity_types(e: dict) -> list[str]:
    return [t for t, _, _ in entity_spans(e["tags"])] if "tags" in e else [s[2] for s in e.get("spans", [])]


def _unk_words(examples, tokenizer) -> dict[str, str]:
    """Words the tokenizer turns into no sub-word at all (read as the unknown token), by location."""
    enc = prefix_space_for_words(tokenizer)([e["tokens"] for e in examples], is_split_into_words=True, verbose=False)
    out = {}
    for i, e in enumerate(examples):
        have = set(enc.word_ids(i))
        out.update({f"{e['_where']}, word {k}": repr(t) for k, t in enumerate(e["tokens"]) if k not in have})
    return out
