"""Extractive QA over World English Bible passages, in SQuAD v1.1 / v2.0 JSON.

No QA data set ships offline, so questions are generated from real text. Every
answer is a span of the context and every question restates words of the sentence
it comes from, so a reader model has a real, learnable signal:

* ``son_of``    "Joshua the son of Nun"           -> "Whose son was Joshua?"   Nun
* ``father_of`` "Boaz became the father of Obed"  -> "Who became the father of Obed?"  Boaz
* ``said_to``   "Yahweh said to Moses"            -> "Who did Yahweh speak to?"  Moses
* ``land_of``   "He lived in the land of Egypt."  -> "He lived in which land?"  Egypt
* ``cloze_*``   a sentence with one SILVER spaCy entity (see ``ner_silver``)
  replaced by who (PERSON), which place (GPE, LOC) or which people (NORP):
  "Then Joshua commanded the officers" -> "Then who commanded the officers?"

Templated questions are kept only when their answer is unique in the paragraph and
give at most half of a split; a paragraph gets at most 5 questions. spaCy (slow,
~400 verses/s) only annotates the paragraphs needed to reach the target size.
A context is a paragraph: consecutive verses of one chapter, about 100-320 words
(so some exceed 384 word-pieces and need a sliding window). Splits are by book
(``bible.VALID_BOOKS`` / ``bible.TEST_BOOKS``), so a paragraph's questions never
straddle splits. With ``with_impossible=True`` (SQuAD v2.0 style) a few percent of
questions are copied onto another paragraph of the same split that contains
neither the answer nor the question's names, with ``is_impossible: true`` and no
answers. Each question carries an extra ``type`` field (ignored by SQuAD readers).
"""

from __future__ import annotations

import json
import random
import re
import zlib
from collections import Counter
from pathlib import Path

from . import bible

NAME = r"[A-Z][a-z]+(?:-[A-Z][a-z]+)?"
# Capitalised words that start sentences or refer to no one in particular.
NOT_NAMES = set(
    "The He She It They We You I And Now Then But So Behold When After Before If "
    "His Her Their This That These Those There All Yes No Lord God Most One Son "
    "Father Therefore For Also Again Let Go Come Why What Who How".split()
)
TEMPLATES = {
    "son_of": (re.compile(rf"\b({NAME}),? (?:was )?the son of ({NAME})\b"),
               lambda x, y: (f"Whose son was {x}?", 2, 1)),
    "father_of": (re.compile(rf"\b({NAME}) (?:became the father of|begat) ({NAME})\b"),
                  lambda x, y: (f"Who became the father of {y}?", 1, 2)),
    # Not "Joshua the son of Nun said to ...": Nun is not the speaker.
    "said_to": (re.compile(rf"(?<!of )\b({NAME}) (?:said|spoke) to ({NAME})\b"),
                lambda x, y: (f"Who did {x} speak to?", 2, 1)),
}
LAND = re.compile(rf"\bin the land of ({NAME})\b")
CLOZE_WH = {"PERSON": "who", "GPE": "which place", "LOC": "which place", "NORP": "which people"}
_SENT = re.compile(r"[^.;?!]+[.;?!]*")  # clauses for land_of questions
_QUOTES = "“”‘’\"'"


def paragraphs(verses) -> list[dict]:
    """Group (ref, text) verses into paragraphs of consecutive verses per chapter.

    The target length is drawn per chapter from a CRC of its name, so paragraphs do
    not depend on the seed or on which books are read.
    """
    chapters: dict[str, list] = {}
    for ref, text in verses:
        chapters.setdefault(ref.split(":")[0], []).append((ref, text))
    out = []
    for chap, vs in chapters.items():
        rng = random.Random(zlib.crc32(chap.encode()))
        groups, cur, words, target = [], [], 0, rng.randint(100, 320)
        for ref, text in vs:
            cur.append((ref, text))
            words += len(text.split())
            if words >= target:
                groups.append(cur)
                cur, words, target = [], 0, rng.randint(100, 320)
        if cur and groups and words < 40:
            groups[-1].extend(cur)  # no tiny tail paragraph
        elif cur:
            groups.append(cur)
        for g in groups:
            offsets, pos = [], 0
            for _, text in g:
                offsets.append(pos)
                pos += len(text) + 1
            out.append({
                "id": f"{g[0][0]}-{g[-1][0].rsplit(':', 1)[1]}",
                "book": bible.book_of(g[0][0]),
                "context": " ".join(t for _, t in g),
                "verses": [t for _, t in g],
                "offsets": offsets,
            })
    return out


def _qa(qtype, question, text, start):
    return {"type": qtype, "question": question, "answers": [{"text": text, "answer_start": start}]}


def _as_question(clause: str) -> str:
    clause = clause.strip().strip(_QUOTES + " ,;:.!?").strip()
    return clause[:1].upper() + clause[1:] + "?"


def templated(par: dict) -> list[dict]:
    """Regex questions whose answer is unique in the paragraph."""
    ctx, out = par["context"], []
    for qtype, (pat, make) in TEMPLATES.items():
        found: dict[str, set] = {}
        spans = {}
        for m in pat.finditer(ctx):
            if m[1] in NOT_NAMES or m[2] in NOT_NAMES:
                continue
            question, ans, _ = make(m[1], m[2])
            found.setdefault(question, set()).add(m[ans])
            spans.setdefault(question, (m[ans], m.start(ans)))
        out += [_qa(qtype, q, *spans[q]) for q, answers in found.items() if len(answers) == 1]
    for m in LAND.finditer(ctx):  # cloze on the clause around "in the land of Z"
        clause = next(c for c in _SENT.finditer(ctx) if c.start() <= m.start() < c.end())
        q = clause[0].replace(m[0], "in which land", 1)
        if m[1] not in NOT_NAMES and 4 <= len(q.split()) <= 40:
            out.append(_qa("land_of", _as_question(q), m[1], m.start(1)))
    return out


def common_words(verses) -> set[str]:
    """Words written in lower case at least 3 times: "Behold", "Grace", "Lord" are no names."""
    counts = Counter(w for _, text in verses for w in re.findall(r"\b[a-z]+\b", text))
    return {w for w, c in counts.items() if c >= 3}


def _name_like(ent, common: set[str]) -> bool:
    """Filter the worst silver entities: "’s Kingdom", "Behold", "the Lord"."""
    words = ent.text.split()
    doc_text = ent.doc.text
    return (
        ent.label_ in CLOZE_WH
        and (ent.start_char == 0 or not doc_text[ent.start_char - 1].isalnum())
        and all(w[0].isupper() or w in ("of", "the") for w in words)
        and words[-1].lower() not in common
        and words[0] not in NOT_NAMES
    )


def _may_have_name(text: str, common: set[str]) -> bool:
    """Cheap pre-filter: spaCy only sees verses with a capitalised non-common word."""
    return any(w not in NOT_NAMES and w.lower() not in common for w in re.findall(NAME, text))


def cloze(verse_docs, rng: random.Random, limit: int, common: set[str]) -> list[dict]:
    """Questions from spaCy sentences with one entity replaced by a wh-word.

    ``verse_docs``: (offset of the verse in the context, spaCy Doc of the verse).
    """
    cands = []
    for offset, doc in verse_docs:
        for sent in doc.sents:
            ents = [e for e in sent.ents if _name_like(e, common)]
            if not 5 <= len(sent) <= 40:
                continue
            for e in ents:
                if sum(x.text == e.text for x in ents) > 1:
                    continue  # "who" would be ambiguous inside its own sentence
                s, t = e.start_char - sent.start_char, e.end_char - sent.start_char
                q = sent.text[:s] + CLOZE_WH[e.label_] + sent.text[t:]
                cands.append(_qa(f"cloze_{e.label_}", _as_question(q), e.text, offset + e.start_char))
    rng.shuffle(cands)
    seen, out = Counter(), []
    for c in cands:  # at most two questions per answer text, to spread them out
        if seen[c["answers"][0]["text"]] < 2 and len(out) < limit:
            seen[c["answers"][0]["text"]] += 1
            out.append(c)
    return out


def _impossible(pars: list[dict], qs: dict, frac: float, rng: random.Random) -> int:
    """Copy ~frac of the questions onto other paragraphs that cannot answer them."""
    pool = [(pi, q) for pi, lst in qs.items() for q in lst]
    made = 0
    for pi, q in rng.sample(pool, round(frac * len(pool))):
        names = set(re.findall(NAME, q["question"][1:])) | {q["answers"][0]["text"]}
        for _ in range(20):
            pj = rng.randrange(len(pars))
            ctx = pars[pj]["context"]
            if pars[pj]["id"].split(":")[0] != pars[pi]["id"].split(":")[0] and not any(
                    n in ctx for n in names):
                qs.setdefault(pj, []).append({"type": "impossible", "question": q["question"],
                                              "answers": [], "is_impossible": True})
                made += 1
                break
    return made


def build_split(pars, n_questions, nlp, rng, common=frozenset(), max_per_paragraph=5,
                with_impossible=False, impossible_frac=0.05) -> dict:
    """SQuAD-format dict for one split, plus counts in the returned ``stats``."""
    order = list(range(len(pars)))
    rng.shuffle(order)
    qs = {i: templated(pars[i])[:max_per_paragraph] for i in order}
    # Templates give at most half of the questions, so cloze stays the majority.
    budget = n_questions // 2
    for i in order:
        qs[i] = qs[i][:max(0, budget)]
        budget -= len(qs[i])
    total = sum(len(v) for v in qs.values())
    # spaCy is the slow part (~400 verses/s): annotate 32 paragraphs at a time, only
    # verses that may hold a name, only in paragraphs with room, until the target.
    for start in range(0, len(order), 32):
        if total >= n_questions:
            break
        batch = [i for i in order[start:start + 32] if len(qs[i]) < max_per_paragraph]
        todo = [(i, off, v) for i in batch for off, v in zip(pars[i]["offsets"], pars[i]["verses"])
                if _may_have_name(v, common)]
        docs = nlp.pipe((v for _, _, v in todo), batch_size=128)
        by_par: dict[int, list] = {i: [] for i in batch}
        for (i, off, _), doc in zip(todo, docs):
            by_par[i].append((off, doc))
        for i in batch:
            room = min(max_per_paragraph - len(qs[i]), n_questions - total)
            new = cloze(by_par[i], rng, max(0, room), common)
            qs[i] += new
            total += len(new)
    qs = {i: v for i, v in qs.items() if v}
    n_imp = _impossible(pars, qs, impossible_frac, rng) if with_impossible else 0
    data: dict[str, list] = {}
    for i in sorted(qs):  # reading order
        par = pars[i]
        for k, q in enumerate(qs[i]):
            q["id"] = f"{par['id']}#{k}"
            if with_impossible:
                q.setdefault("is_impossible", False)
            for a in q["answers"]:
                assert par["context"][a["answer_start"]:][:len(a["text"])] == a["text"], q
        data.setdefault(par["book"], []).append({"context": par["context"], "qas": qs[i]})
    return {
        "version": "v2.0" if with_impossible else "v1.1",
        "data": [{"title": book, "paragraphs": ps} for book, ps in data.items()],
        "stats": {"paragraphs": len(qs), "impossible": n_imp,
                  "types": dict(Counter(q["type"] for v in qs.values() for q in v))},
    }


def build_qa(out_dir, seed: int = 0, n_train: int = 3000, n_val: int = 400, n_test: int = 400,
             with_impossible: bool = False, impossible_frac: float = 0.05) -> dict:
    """Write train/validation/test.json (SQuAD format); return per-split stats."""
    from .ner_silver import load_nlp

    verses = bible.canon_verses(bible.WEB)
    common = common_words(verses)
    by_split = {s: [] for s in bible.SPLITS}
    for par in paragraphs(verses):
        by_split[bible.split_of_book(par["book"])].append(par)
    sizes = {"train": n_train, "validation": n_val, "test": n_test}
    nlp = load_nlp(sentences=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = {}
    for k, name in enumerate(bible.SPLITS):
        squad = build_split(by_split[name], sizes[name], nlp, random.Random(seed * 100 + k),
                            common, with_impossible=with_impossible, impossible_frac=impossible_frac)
        stats[name] = squad.pop("stats")
        stats[name]["questions"] = sum(stats[name]["types"].values())
        with open(out / f"{name}.json", "w", encoding="utf-8") as f:
            json.dump(squad, f, ensure_ascii=False)
    return stats
