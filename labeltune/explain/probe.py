"""What every attribution method works on: one model input, its words, and the scalars to explain.

A task's optional hook `explain_probe(rt, example, prediction, target)` returns a `Probe`; everything in
`labeltune.explain` after that is task-independent. A probe holds

* `input_ids` (1 x L): the exact model input (one window of a long text);
* `outside`: the input's words the model does not see in this window (a text cut as predict cuts it, or
  the other windows of a long text): they get no attribution from this probe and are marked in the output.
  A hook may return several probes for one input (NER: one per window that holds an explained entity);
* `words`: the words that may be erased or credited, each with its sub-word positions in `input_ids` and
  its character offsets in the text it came from (`part` names that text: "text", "question", "source", ...).
  Special tokens, prompt templates and generated tokens belong to no word: they are never erased;
* `forward(ids: B x L) -> B x T`: the T target scores for a batch of (perturbed) inputs. Every target score
  is a log-probability (of the predicted class, of an entity's tags, of the answer's start or end position,
  of one generated token), so exp(score) is the probability that ERASER's faithfulness metrics compare;
* `targets`: T dicts naming each score (`name`, `group` for the global view, and task details);
* `baseline_id`: the token that replaces an erased word (pad, else unk, else eos), and the integrated-
  gradients baseline: erasure and IG measure the same counterfactual.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..errors import UserError
from ..models import autocast, joins_word, strip_offsets


@dataclass
class Word:
    text: str
    start: int  # character offsets in the text named by `part`
    end: int
    part: str
    positions: list[int]  # sub-word positions in the probe's input_ids


@dataclass
class Probe:
    input_ids: torch.Tensor
    words: list[Word]
    forward: Callable[[torch.Tensor], torch.Tensor]
    targets: list[dict]
    baseline_id: int
    info: dict = field(default_factory=dict)  # what the page shows besides words (QA answer, MT output)
    where: str = ""
    outside: list[Word] = field(default_factory=list)  # words of the input not in this window (no positions)

    def baseline_ids(self) -> torch.Tensor:
        """input_ids with every word's sub-words replaced by the baseline token."""
        return self.erase([range(len(self.words))])[0:1]

    def erase(self, word_sets) -> torch.Tensor:
        """One input row per set of word indices, those words replaced by the baseline token."""
        rows = self.input_ids.repeat(len(word_sets), 1)
        for r, words in enumerate(word_sets):
            pos = [p for w in words for p in self.words[w].positions]
            if pos:
                rows[r, pos] = self.baseline_id
        return rows

    def scores(self, ids: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """Target scores (rows x T, float32) for rows of input ids, without gradients, in batches."""
        with torch.no_grad():
            return torch.cat([self.forward(ids[i:i + batch_size]).float() for i in range(0, len(ids), batch_size)])


def baseline_token(tokenizer) -> int:
    for tid in (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return tid
    raise UserError("the tokenizer has no pad, unk or eos token to stand in for an erased word")


def group_words(enc, j: int, parts: dict, texts: dict, shift: dict | None = None) -> list[Word]:
    """Words of sequence `j` of a fast-tokenizer encoding: sub-words sharing (sequence id, word id) form one
    word. `parts` maps a sequence id (0, 1; None never) to the part's name, `texts` the name to its text;
    `shift` subtracts a prefix length from that part's character offsets (a source prefix).

    A word's span never holds the space before it (byte-level BPE without trimmed offsets, DeBERTa-v2's and
    Llama's SentencePiece: "▁loved" spans " loved"), and a sub-word after a space starts a new word even where the
    tokenizer gave it the same word id (Llama and Mistral have no pre-tokenizer: every sub-word is word 0); a
    sub-word that is only a space ("▁" alone) goes with the word after it."""
    shift = shift or {}
    words: list = []  # [part, start, end, positions]
    current: dict = {}  # (sequence id, word id) -> index in words of the word it continues
    pending: list = []  # (sequence id, position) of space-only sub-words waiting for their word
    seq_ids = enc.sequence_ids(j)
    for pos, (w, s) in enumerate(zip(enc.word_ids(j), seq_ids)):
        if w is None or s not in parts:
            continue
        part = parts[s]
        text, k = texts[part], shift.get(part, 0)
        a, b = enc["offset_mapping"][j][pos]
        a, b = max(a - k, 0), b - k
        if b <= 0:  # inside the prefix, not the user's text
            continue
        if not text[a:b].strip():
            pending.append((s, pos))
            continue
        a, b = strip_offsets(text, a, b)
        i = current.get((s, w))
        if i is None and words and words[-1][0] == part and joins_word(text, words[-1][2], a):
            i = current[(s, w)] = len(words) - 1  # byte-level BPE cut the word at a combining mark: "राम" is र | ा | म
        if i is None or any(c.isspace() for c in text[words[i][2]:a]):
            words.append([part, a, b, []])
            i = current[(s, w)] = len(words) - 1
        words[i][1], words[i][2] = min(words[i][1], a), max(words[i][2], b)
        words[i][3].extend([p for q, p in pending if q == s] + [pos])
        pending = []
    return [Word(texts[part][a:b], a, b, part, positions) for part, a, b, positions in words]


def complete_words(window: list[Word], full: list[Word]) -> tuple[list[Word], list[Word]]:
    """(window words, outside words) against `full`, every word of the untruncated input: a window word cut
    at the window's edge (some of its sub-words in the next window) takes its whole word's text and offsets,
    so one word has one span in every window; a word of `full` that no window word overlaps is outside."""
    from bisect import bisect_right

    by_part: dict = {}  # part -> (starts, indices into full), in text order
    for k, f in sorted(enumerate(full), key=lambda kf: (kf[1].part, kf[1].start)):
        by_part.setdefault(f.part, ([], []))
        by_part[f.part][0].append(f.start)
        by_part[f.part][1].append(k)
    kept, used = [], set()
    for w in window:
        starts, index = by_part.get(w.part, ([], []))
        r = bisect_right(starts, w.start) - 1  # the last full word starting at or before this one
        whole = index[r] if r >= 0 and full[index[r]].end > w.start else None
        if whole is not None:
            f = full[whole]
            w = Word(f.text, f.start, f.end, f.part, w.positions)
            used.add(whole)
        kept.append(w)
    return kept, [Word(f.text, f.start, f.end, f.part, []) for k, f in enumerate(full) if k not in used]


def warn_truncated(where: str, kept: int, total: int, what: str) -> None:
    """Said, never silent: the words past the model's limit get no attribution (null in the output)."""
    if kept < total:
        print(f"labeltune explain: {where}: {total} tokens, more than the model's limit; explaining the first "
              f"{kept} ({what}; the words after them are marked outside the window)", file=sys.stderr)


def run_model(rt, **kwargs):
    """The model's output under the runtime's precision (gradients allowed: attribution needs them)."""
    with autocast(rt.device, rt.precision):
        return rt.model(**kwargs)


def expand(t: torch.Tensor | None, n: int):
    """A 1 x L tensor repeated for a batch of n rows (captum batches the integration steps)."""
    return None if t is None else t.expand(n, *t.shape[1:])
