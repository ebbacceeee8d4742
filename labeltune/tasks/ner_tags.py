"""NER tags: the schemes (IO, IOB1, IOB2, BIOES) read and converted to IOB2, entities of IOB2 tags, and the
entity metrics (seqeval, strict IOB2).

Split out of tasks/ner.py (the task class there composes these functions).
"""

from __future__ import annotations

from ..errors import UserError, flag


# --- tag schemes --------------------------------------------------------------------------------
def parse_tag(tag: str, loc: str) -> tuple[str, str | None]:
    """('O', None) or (prefix, type) for B-/I-/E-/S- tags (BILOU's L-/U-, as spaCy writes them, are BIOES's
    E-/S-); anything else is an error."""
    if tag == "O":
        return "O", None
    if _prefixed(tag):
        return {"L": "E", "U": "S"}.get(tag[0], tag[0]), tag[2:]
    raise UserError(
        f"{loc}: tag '{tag}' is neither O nor a B-/I-/E-/S- (or L-/U-) prefix and a type (e.g. B-PER); "
        f"check {flag('conll_tag_index')} / {flag('tags_column')}, or {flag('tag_names')} for integer tags"
    )


def _prefixed(tag: str) -> bool:
    return len(tag) > 2 and tag[0] in "BIESLU" and tag[1] == "-"


def is_io(raw: list[list[str]]) -> bool:
    """IO tags (a bare type per word, no B-/I- prefix: Few-NERD's files, many spreadsheet exports): O occurs, and
    every other tag is a type with no prefix and not an integer (integer tags need --tag-names)."""
    tags = {t for seq in raw for t in seq}
    types = tags - {"O"}
    return "O" in tags and bool(types) and not any(_prefixed(t) or t.strip().lstrip("-").isdigit() for t in types)


def parse_io_tag(tag: str, loc: str) -> tuple[str, str | None]:
    """An IO tag as the IOB1 reading of it: ('O', None) or ('I', type); IOB1's conversion then starts an entity
    wherever the type changes, so a run of words of one type is one entity."""
    if tag == "O":
        return "O", None
    if _prefixed(tag):
        raise UserError(f"{loc}: tag '{tag}' has a B-/I-/E-/S- prefix, but {flag('scheme')} io reads bare types "
                        f"(PER, LOC, O); pass {flag('scheme')} auto")
    return "I", tag


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


def from_iob2(tags: list[str], scheme: str) -> list[str]:
    """Valid IOB2 tags written in `scheme`, the training file's: IO (bare types), IOB1 (B- only between
    neighbours of one type), BIOES; IOB2 and anything else as they are. Predictions come back in the tags the
    user's data used, so a file predicted and a file labelled compare tag by tag."""
    if scheme not in ("IO", "IOB1", "BIOES"):
        return list(tags)
    spans = entity_spans(tags)
    out = ["O"] * len(tags)
    for k, (typ, a, b) in enumerate(spans):
        if scheme == "IO":
            out[a:b] = [typ] * (b - a)
        elif scheme == "IOB1":
            after_same = k > 0 and spans[k - 1][2] == a and spans[k - 1][0] == typ
            out[a:b] = [f"{'B' if after_same else 'I'}-{typ}"] + [f"I-{typ}"] * (b - a - 1)
        else:
            out[a:b] = [f"S-{typ}"] if b - a == 1 else [f"B-{typ}"] + [f"I-{typ}"] * (b - a - 2) + [f"E-{typ}"]
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

