"""What the tasks' robustness hooks do: edits that move labels, and the task-specific perturbations.

The task files keep one-line hooks (`perturb`, `extra_perturbations`) that call these, as `explain_probe` calls
labeltune/explain/targets.py: the task decides which fields are edited and how labels move; the machinery lives here.

- NER: word tags follow their words (a dropped word takes its tag along, a split word's later pieces continue the
  entity); character spans of raw text are re-offset. `entity_swap` replaces entities with names of the same type
  the model is unlikely to have seen (a built-in list for person / place / organisation types, else names taken
  from other examples).
- QA: answers are frozen (never edited) and re-located in the edited context. `add_distractor` is AddSent-style
  (Jia & Liang 2017): a sentence that echoes the question with its entities changed and a fake answer, inserted at
  the end of the context farther from the answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from .perturb import example_rng, how_many, numbers

PERSONS = ["Anneliese Okonkwo", "Tomasz Varga", "Ingrid Castellanos", "Rafferty Lindqvist", "Mireille Abernathy",
           "Caspian Moreau", "Oyelaran Fitch", "Wilhelmina Zhao", "Desmond Quarrie", "Leocadia Brant"]
PLACES = ["Vellmora", "Quistbury", "Port Alvane", "Harrowgate Falls", "Ostrevik", "Lake Tamsin", "Corvadel",
          "Mount Ellery", "Saltmere", "Dunraith"]
ORGS = ["Brightwater Holdings", "Kestrel Dynamics", "Oakhurst Institute", "Veridian Mutual", "Halcyon Foundry",
        "Northgate Partners", "Lumen Cooperative", "Tidewell Group"]
NOUNS = ["lantern", "orchard", "compass", "ledger", "harbour", "violin", "glacier", "tapestry"]
BUILTIN = {"PER": PERSONS, "PERSON": PERSONS, "LOC": PLACES, "GPE": PLACES, "FAC": PLACES, "ORG": ORGS,
           "NORP": ["Vellmoran", "Quistburian", "Ostrevikian"]}


@dataclass(frozen=True)
class Special:
    """A task-specific perturbation: fn(examples, severity, seed) -> examples. `graded`: False when it has one
    setting only (the severity is ignored and it is reported once)."""

    name: str
    fn: Callable
    graded: bool
    help: str


# --- label movers ----------------------------------------------------------------------------------
def perturb_ner(example: dict, editor, rng: random.Random) -> dict:
    from ..tasks.ner import repair_iob2

    drop = ("tokens", "tags", "offsets", "text", "spans")  # tokens/offsets of raw text are derived again
    out = {k: v for k, v in example.items() if k not in drop}
    if "text" in example:  # raw text with character spans
        spans = example.get("spans") or []
        out["text"], move = editor.text(example["text"], rng, labelled=[(s, e) for s, e, _ in spans])
        if "spans" in example:
            out["spans"] = [(*moved, label) for s, e, label in spans if (moved := move(s, e)) is not None]
        return out
    tags = example.get("tags")
    labelled = [i for i, t in enumerate(tags) if t != "O"] if tags else []
    out["tokens"], origin = editor.tokens(example["tokens"], rng, labelled)
    if tags is not None:
        moved = [tags[i] if first or tags[i] == "O" else "I-" + tags[i][2:] for i, first in origin]
        out["tags"] = repair_iob2(moved)  # a dropped B- word: its entity's next word starts it
    return out


def perturb_qa(example: dict, editor, rng: random.Random) -> dict:
    out = dict(example, question=editor.text(example["question"], rng)[0])
    answers = example.get("answers") or []
    frozen = [(a["answer_start"], a["answer_start"] + len(a["text"])) for a in answers]
    out["context"], move = editor.text(example["context"], rng, frozen=frozen)
    if "answers" in example:
        out["answers"] = [_moved_answer(a, out["context"], move(s, e)) for a, (s, e) in zip(answers, frozen)]
    return out


def _moved_answer(answer: dict, context: str, span: tuple[int, int]) -> dict:
    """The answer at its new place; its text as given, unless an editor that edits frozen words (the front end of
    train --word-recognition corrects the answer's words as predict does) changed it: then as the context spells it."""
    start, end = span
    if context[start:start + len(answer["text"])] == answer["text"]:
        return {"text": answer["text"], "answer_start": start}
    return {"text": context[start:end], "answer_start": start}


# --- NER: entity swap ------------------------------------------------------------------------------
def _entities(example: dict) -> list[tuple[str, int, int]]:
    from ..tasks.ner import entity_spans

    if "text" in example and "spans" in example:
        return [(label, s, e) for s, e, label in example["spans"]]
    return entity_spans(example.get("tags") or [])


def _surface(example: dict, start: int, end: int) -> str:
    return example["text"][start:end] if "text" in example else " ".join(example["tokens"][start:end])


def entity_swap(examples: list[dict], severity: float, seed: int) -> list[dict]:
    """A share `severity` of each example's entities replaced by a name of the same type that the example does not
    contain. Built-in names for person/place/organisation types; other types draw from other examples' entities."""
    pool: dict[str, list[str]] = {}
    for e in examples:
        for typ, s, t in _entities(e):
            name = _surface(e, s, t)
            if name not in pool.setdefault(typ, []):
                pool[typ].append(name)
    out = []
    for i, e in enumerate(examples):
        rng = example_rng(seed, "entity_swap", severity, i)
        ents = _entities(e)
        chosen = sorted(rng.sample(range(len(ents)), how_many(severity, len(ents), rng))) if ents else []
        replace = {}
        for k in chosen:
            typ, s, t = ents[k]
            present = _surface(e, 0, len(e["text"]) if "text" in e else len(e["tokens"]))
            names = [n for n in BUILTIN.get(typ.upper(), pool.get(typ, [])) if n not in present]
            if names:
                replace[k] = rng.choice(names)
        out.append(_replace_entities(e, ents, replace))
    return out


def _replace_entities(e: dict, ents, replace: dict[int, str]) -> dict:
    if not replace:
        return e
    if "text" in e and "spans" in e:
        text, spans, shift, pos = [], [], 0, 0
        for k, (typ, s, t) in enumerate(ents):
            name = replace.get(k, e["text"][s:t])
            text.append(e["text"][pos:s] + name)
            spans.append((s + shift, s + shift + len(name), typ))
            shift += len(name) - (t - s)
            pos = t
        text.append(e["text"][pos:])
        keep = {k: v for k, v in e.items() if k not in ("tokens", "tags", "offsets", "text", "spans")}
        return {**keep, "text": "".join(text), "spans": spans}
    tokens, tags, pos = [], [], 0
    for k, (typ, s, t) in enumerate(ents):
        tokens += e["tokens"][pos:s]
        tags += e["tags"][pos:s]
        words = replace[k].split() if k in replace else e["tokens"][s:t]
        tokens += words
        tags += [f"B-{typ}"] + [f"I-{typ}"] * (len(words) - 1)
        pos = t
    return {**e, "tokens": tokens + e["tokens"][pos:], "tags": tags + e["tags"][pos:]}


# --- QA: AddSent-style distractor ------------------------------------------------------------------
_WH = {"what", "who", "whom", "whose", "when", "where", "which", "why", "how"}
_AUX = {"is", "was", "are", "were", "did", "does", "do", "has", "have", "had", "can", "could", "will", "would"}
_QUANT = {"many", "much", "long", "old", "far", "often"}


def distractor_sentence(question: str, answer: str, rng: random.Random) -> str:
    """The question turned into a statement with a fake answer and its names, numbers or a noun changed, so that
    it answers a different question. Rules in the spirit of AddSent; no parser, so the grammar is rough."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = question.strip().rstrip("?").split()
    lowered = [w.lower() for w in words]
    k = next((i for i, w in enumerate(lowered) if w in _WH), None)
    head = words[: k or 0]
    rest = words[(k + 1) if k is not None else 0:]
    unit = []
    if rest and rest[0].lower() in _QUANT:  # "how many days did ...": the fake answer takes the noun along
        rest = rest[1:]
        if len(rest) > 1 and rest[1].lower() in _AUX:
            unit, rest = [rest[0]], rest[1:]
    aux = bool(rest) and rest[0].lower() in _AUX
    if aux:
        rest = rest[1:]
    changed = False
    names = iter(rng.sample(PERSONS + PLACES, 6))
    for j, w in enumerate(rest):
        if any(c.isdigit() for c in w):
            rest[j], changed = numbers(w, rng), True
        elif w[:1].isupper() and w.isalpha():
            rest[j], changed = next(names, "Vellmora").split()[0], True
    if not changed:  # no entity to change: change the last content word, so the sentence answers another question
        content = [j for j, w in enumerate(rest) if w.isalpha() and w.lower() not in ENGLISH_STOP_WORDS]
        if content:
            rest[content[-1]] = rng.choice(NOUNS)
        else:
            rest.append("in " + rng.choice(PLACES))
    if any(c.isdigit() for c in answer):
        fake = numbers(answer, rng)
    elif answer[:1].isupper():
        fake = rng.choice([n for n in PERSONS + PLACES if n not in answer])
    else:
        fake = rng.choice(NOUNS)
    body = (rest + [fake] + unit) if aux else ([fake] + unit + rest)
    sentence = " ".join(head + body)
    return sentence[:1].upper() + sentence[1:] + "."


def add_distractor(examples: list[dict], severity: float, seed: int) -> list[dict]:
    out = []
    for i, e in enumerate(examples):
        rng = example_rng(seed, "distractor", i)
        answers = e.get("answers") or []
        first = answers[0]["text"] if answers else ""
        sentence = distractor_sentence(e["question"], first, rng)
        middle = len(e["context"]) / 2
        at_end = not answers or answers[0]["answer_start"] < middle  # away from the answer
        if at_end:
            context, shift = e["context"].rstrip() + " " + sentence, 0
        else:
            context, shift = sentence + " " + e["context"], len(sentence) + 1
        new = dict(e, context=context)
        if "answers" in e:
            new["answers"] = [{"text": a["text"], "answer_start": a["answer_start"] + shift} for a in answers]
        out.append(new)
    return out


NER_SPECIALS = [Special("entity_swap", entity_swap, True, "entities replaced by unseen names of the same type")]
QA_SPECIALS = [Special("distractor", add_distractor, False, "AddSent-style distractor sentence away from the answer")]
