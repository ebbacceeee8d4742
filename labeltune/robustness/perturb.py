"""Seeded, offline perturbations of text, and the editor that keeps labels aligned while it edits.

Every perturbation edits whole words: it picks a share of the words (the severity) and maps each picked word
to a replacement (a typo, another case, an extra comma, nothing for a drop, two words for a repetition). Edits
never run across word boundaries, so anything anchored in the text can be moved afterwards: `Editor.text`
returns the new text and a `move(start, end)` that maps a character span of the old text to the new one;
`Editor.tokens` edits a token list and says where every new token came from. A task's `perturb` hook calls these
on the fields it owns (see labeltune/tasks/__init__.py) and moves its labels with them.

Labelled words (inside an NER entity) are edited only by perturbations that keep a word a word of the same
entity (character noise, case); frozen words (a QA answer, a word an entity span only partly covers) are never
edited. Hand-written because nlpaug and TextAttack work on plain strings only (no offsets to move labels with),
and TextAttack fetches NLTK data and embeddings at run time.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Callable

# a word: a run of non-space characters, except that each CJK ideograph is a word of its own (Chinese has no
# spaces between words, and BERT's tokenizers cut each ideograph alike): else a whole Chinese sentence was one
# "word", which word_drop deleted and word_repeat doubled at any severity
_IDEOGRAPH = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_WORD = re.compile(f"[{_IDEOGRAPH}]|[^\\s{_IDEOGRAPH}]+")
_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


def _keyboard_neighbours() -> dict[str, str]:
    """Letters next to each letter on a QWERTY keyboard (same row and the rows above and below)."""
    pos = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    out = {}
    for c, (r, i) in pos.items():
        out[c] = "".join(d for d, (r2, i2) in pos.items() if d != c and abs(r2 - r) <= 1 and abs(i2 - i) <= 1)
    return out


NEIGHBOURS = _keyboard_neighbours()


def _match_case(letter: str, like: str) -> str:
    return letter.upper() if like.isupper() else letter


def _letter_positions(word: str) -> list[int]:
    return [i for i, c in enumerate(word) if c.isalpha()]


# --- word edits: (word, rng) -> replacement, or None where the edit does not apply ----------------
def keyboard(word: str, rng: random.Random) -> str | None:
    """One letter replaced by a key next to it (DeepWordBug's substitution)."""
    spots = [i for i in _letter_positions(word) if word[i].lower() in NEIGHBOURS]
    if not spots:
        return None
    i = rng.choice(spots)
    return word[:i] + _match_case(rng.choice(NEIGHBOURS[word[i].lower()]), word[i]) + word[i + 1:]


def swap(word: str, rng: random.Random) -> str | None:
    """Two neighbouring letters swapped (not both the same letter)."""
    spots = [i for i in range(len(word) - 1) if word[i].isalpha() and word[i + 1].isalpha()
             and word[i].lower() != word[i + 1].lower()]
    if not spots:
        return None
    i = rng.choice(spots)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def char_drop(word: str, rng: random.Random) -> str | None:
    """One letter deleted; words of fewer than 3 letters are left alone (they would vanish or be unreadable)."""
    spots = _letter_positions(word)
    if len(spots) < 3:
        return None
    i = rng.choice(spots)
    return word[:i] + word[i + 1:]


def char_insert(word: str, rng: random.Random) -> str | None:
    """A random letter inserted inside the word: a-z in a word of Latin letters (accents included), else one of the
    word's own letters (a Latin letter inside a Hindi or Chinese word is not a typo anyone makes)."""
    spots = _letter_positions(word)
    if not spots:
        return None
    i = rng.choice(spots)
    latin = all(word[k] < "\u0250" for k in spots)  # Basic Latin to Latin Extended-B
    letters = "abcdefghijklmnopqrstuvwxyz" if latin else [word[k] for k in spots]
    return word[:i] + _match_case(rng.choice(letters), word[i]) + word[i:]


CHAR_EDITS = (keyboard, swap, char_drop, char_insert)


def typo(word: str, rng: random.Random) -> str | None:
    """One of the four character edits, chosen at random (DeepWordBug's mix)."""
    edits = list(CHAR_EDITS)
    rng.shuffle(edits)
    for edit in edits:
        out = edit(word, rng)
        if out is not None:
            return out
    return None


def case(word: str, rng: random.Random) -> str | None:
    """UPPER, lower or Title case, whichever differs from the word."""
    if not any(c.isalpha() for c in word):
        return None
    options = [w for w in (word.upper(), word.lower(), word.capitalize()) if w != word]
    return rng.choice(options) if options else None


_PUNCT = ",.;:!?"


def punctuation(word: str, rng: random.Random) -> str | None:
    """Punctuation at the end of the word removed, or a mark added there."""
    core = word.rstrip(_PUNCT + "'\"")
    if core and core != word and rng.random() < 0.5:
        return core
    return word + rng.choice(_PUNCT)


def whitespace(word: str, rng: random.Random) -> str | None:
    """A space inside the word ("wonder ful"): missing and stray spaces are the common whitespace noise."""
    spots = [i for i in range(1, len(word)) if word[i - 1].isalnum() and word[i].isalnum()]
    if not spots:
        return None
    i = rng.choice(spots)
    return word[:i] + " " + word[i:]


def word_drop(word: str, rng: random.Random) -> str | None:
    return ""


def word_repeat(word: str, rng: random.Random) -> str | None:
    return word + " " + word


def numbers(word: str, rng: random.Random) -> str | None:
    """Every digit of a word that holds digits replaced by another digit (1998 -> 1938)."""
    if not any(c.isdigit() for c in word):
        return None
    out = "".join(rng.choice([d for d in "0123456789" if d != c]) if c.isdigit() else c for c in word)
    return out


@dataclass(frozen=True)
class Perturbation:
    name: str
    edit: Callable[[str, random.Random], str | None]
    touches_labels: bool  # may edit words inside an entity (the word stays one word of the same entity)
    help: str


PERTURBATIONS = {p.name: p for p in [
    Perturbation("typo", typo, True, "a random character edit per word (keyboard, swap, drop, insert)"),
    Perturbation("keyboard", keyboard, True, "a letter replaced by a neighbouring key"),
    Perturbation("swap", swap, True, "two neighbouring letters swapped"),
    Perturbation("char_drop", char_drop, True, "a letter deleted"),
    Perturbation("char_insert", char_insert, True, "a random letter inserted"),
    Perturbation("case", case, True, "UPPER, lower or Title case"),
    Perturbation("punctuation", punctuation, False, "trailing punctuation removed or added"),
    Perturbation("whitespace", whitespace, False, "a space inserted inside a word"),
    Perturbation("word_drop", word_drop, False, "the word deleted"),
    Perturbation("word_repeat", word_repeat, False, "the word repeated"),
    Perturbation("numbers", numbers, False, "its digits changed"),
]}


def parse_names(value: str, flag: str, extra: tuple[str, ...] = ()) -> list[str]:
    """Comma-separated perturbation names, checked; the error names the flag and the choices."""
    from ..errors import UserError

    names = [n.strip() for n in value.split(",") if n.strip()]
    known = list(PERTURBATIONS) + list(extra)
    bad = [n for n in names if n not in known]
    if bad:
        raise UserError(f"{flag} {value}: unknown perturbation {', '.join(bad)}; choose from {', '.join(known)}")
    return names


def how_many(share: float, n: int, rng: random.Random) -> int:
    """share x n, rounded up or down at random so that the expected count is exactly share x n."""
    exact = share * n
    k = math.floor(exact)
    return min(n, k + (rng.random() < exact - k))


# --- the editor ------------------------------------------------------------------------------------
FREE, LABELLED, FROZEN = 0, 1, 2


class Editor:
    """Edits the words a task hands it; a plan decides which words become what.

    `plan(words, kinds, rng) -> {index: replacement}` with kinds FREE / LABELLED / FROZEN per word. Words are
    numbered across all calls of one editor (a question, then its context), so a targeted plan (the attack) can
    address any word of the example; `seen` records every word handed in, with its kind.
    """

    def __init__(self, plan: Callable[[list[str], list[int], random.Random], dict[int, str]]):
        self.plan = plan
        self.seen: list[tuple[str, int]] = []
        self.changed = 0  # words edited so far

    def _edits(self, words: list[str], kinds: list[int], rng: random.Random) -> list[str | None]:
        self.seen += list(zip(words, kinds))
        local = self.plan(words, kinds, rng) if words else {}
        out = [None] * len(words)
        for i, rep in local.items():
            if kinds[i] != FROZEN:
                out[i] = rep
        self.changed += sum(rep is not None for rep in out)
        return out

    def tokens(self, tokens: list[str], rng: random.Random, labelled=()) -> tuple[list[str], list[tuple[int, bool]]]:
        """(new tokens, origin): origin[k] = (index of the old token it came from, whether it is that token's first
        piece). A dropped token has no new token; a split or repeated one has several."""
        labelled = set(labelled)
        edits = self._edits(list(tokens), [LABELLED if i in labelled else FREE for i in range(len(tokens))], rng)
        new, origin = [], []
        for i, (tok, rep) in enumerate(zip(tokens, edits)):
            pieces = [tok] if rep is None else rep.split()
            for j, piece in enumerate(pieces):
                new.append(piece)
                origin.append((i, j == 0))
        if not new:  # never an empty sentence: keep the input as it was
            return list(tokens), [(i, True) for i in range(len(tokens))]
        return new, origin

    def text(self, text: str, rng: random.Random, frozen=(), labelled=()):
        """(new text, move): move(start, end) maps a character span of `text` to the new text, or None when every
        word of it was dropped. Words overlapping a `frozen` span, or only partly inside a `labelled` span, are kept
        as they are; words wholly inside a `labelled` span are edited only by label-keeping perturbations."""
        spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        kinds = []
        for s, e in spans:
            kind = FREE
            if any(s < b and e > a for a, b in frozen):
                kind = FROZEN
            for a, b in labelled:
                if s < b and e > a:
                    kind = max(kind, LABELLED if a <= s and e <= b else FROZEN)
            kinds.append(kind)
        edits = self._edits([text[s:e] for s, e in spans], kinds, rng)
        if spans and all(rep == "" for rep in edits):
            edits = [None] * len(spans)  # never an empty text
        out, new_pos, pos, emitted = [text[: spans[0][0]] if spans else text], [], 0, False
        pos = len(out[0])
        for i, ((s, e), rep) in enumerate(zip(spans, edits)):
            if rep == "":
                new_pos.append(None)
                continue
            if emitted:
                gap = text[spans[i - 1][1] : s]
                out.append(gap)
                pos += len(gap)
            word = text[s:e] if rep is None else rep
            new_pos.append((pos, pos + len(word)))
            out.append(word)
            pos += len(word)
            emitted = True
        if spans:
            out.append(text[spans[-1][1]:])
        new_text = "".join(out)

        def move(start: int, end: int):
            inside = [i for i, (s, e) in enumerate(spans) if s < end and e > start and new_pos[i] is not None]
            if not inside:
                return None
            first, last = inside[0], inside[-1]
            # an unedited word keeps its characters, so a boundary inside it keeps its place in the word
            a = new_pos[first][0] + (max(0, start - spans[first][0]) if edits[first] is None else 0)
            b = new_pos[last][0] + (min(end, spans[last][1]) - spans[last][0]) if edits[last] is None else new_pos[last][1]
            return a, b

        return new_text, move


def random_plan(perturbation: Perturbation, severity: float) -> Callable:
    """A plan that edits `severity` x (number of words) words, chosen at random among those the edit applies to."""

    def plan(words, kinds, rng):
        allowed = {FREE, LABELLED} if perturbation.touches_labels else {FREE}
        candidates = [i for i, k in enumerate(kinds) if k in allowed]
        rng.shuffle(candidates)
        want = how_many(severity, len(words), rng)
        if perturbation.name == "word_drop":
            want = min(want, len(words) - 1)
        edits = {}
        for i in candidates:
            if len(edits) >= want:
                break
            rep = perturbation.edit(words[i], rng)
            if rep is not None and rep != words[i]:
                edits[i] = rep
        return edits

    return plan


def targeted_plan(replacements: dict[int, str]) -> Callable:
    """A plan that applies fixed replacements {word number across the example: new word} (the attack's)."""
    state = {"base": 0}

    def plan(words, kinds, rng):
        base = state["base"]
        state["base"] += len(words)
        return {i - base: rep for i, rep in replacements.items() if base <= i < base + len(words)}

    return plan


def identity_plan(words, kinds, rng):
    return {}


def example_rng(seed: int, *keys) -> random.Random:
    """A generator seeded by the run's seed and the example's keys: the same edits however examples are batched."""
    return random.Random("|".join(str(k) for k in (seed, *keys)))
