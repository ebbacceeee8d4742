"""A greedy black-box attack under a word budget, with TextAttack's metrics.

For each example the model gets right: rank the editable words by how much deleting each lowers the score the
task's `attack_scores` hook reports (the gold label's probability for classification), then, most important word
first, try character edits (DeepWordBug's keyboard / swap / drop / insert) and word substitutions (the nearest
neighbours of the word in the model's own input embedding matrix, filtered to keep the word's form: alphabetic,
the same case pattern, no stop word, whole-word tokens) and keep the edit that lowers the score most. It stops when
the prediction is wrong (a success) or when ceil(budget x words) words are edited (a failure).

Metrics as TextAttack reports them: attack success rate (successes / attacked), accuracy under attack (correct
after the attack / all examples), the share of words perturbed in successful attacks, the average number of model
queries per attacked example. Hand-written because TextAttack downloads NLTK data, TF-Hub encoders and
counter-fitted embeddings at run time (nothing reaches the network here), and it knows no task but classification.
"""

from __future__ import annotations

import math

import torch

from .perturb import CHAR_EDITS, FREE, FROZEN, Editor, example_rng, identity_plan, targeted_plan


class Neighbours:
    """Nearest whole-word tokens of a word in the model's input embeddings (cosine), in the word's case pattern."""

    def __init__(self, rt, k: int):
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        self.tok, self.k, self.stop = rt.tokenizer, k, ENGLISH_STOP_WORDS
        vocab = self.tok.get_vocab()
        marker = next((m for m in ("Ġ", "▁") if sum(t.startswith(m) for t in vocab) > len(vocab) // 10), None)
        self.marker = marker
        words, ids = [], []
        for token, i in vocab.items():
            word = token[len(marker):] if marker and token.startswith(marker) else (None if marker else token)
            # whole words only: WordPiece continuations start with ##, BPE words start with the marker
            if word and word.isalpha() and len(word) > 1 and word.lower() not in self.stop:
                words.append(word)
                ids.append(i)
        weight = rt.model.get_input_embeddings().weight.detach().float().cpu()
        self.words, self.ids = words, torch.tensor(ids)
        self.unit = torch.nn.functional.normalize(weight[self.ids], dim=-1)
        self.weight = weight

    def __call__(self, word: str) -> list[str]:
        if not word.isalpha() or word.lower() in self.stop:
            return []
        ids = self.tok((" " + word) if self.marker else word, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:  # a word split into sub-words has no vector of its own
            return []
        sims = self.unit @ torch.nn.functional.normalize(self.weight[ids[0]], dim=-1)
        out = []
        for j in sims.argsort(descending=True).tolist():
            cand = self.words[j]
            if cand.lower() != word.lower() and cand.lower() not in {c.lower() for c in out}:
                out.append(_case_like(cand, word))
            if len(out) >= self.k:
                break
        return out


def _case_like(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:].lower()
    return word.lower()


def char_candidates(word: str, rng, per_edit: int = 2) -> list[str]:
    out = []
    for edit in CHAR_EDITS:
        for _ in range(per_edit):
            cand = edit(word, rng)
            if cand and cand != word and cand not in out:
                out.append(cand)
    return out


def attack(task, rt, examples: list[dict], budget: float, edits: list[str], neighbours: int, seed: int):
    """(summary, adversarial examples, per-example records) of the greedy attack on `examples`."""
    score = task.attack_scores
    near = Neighbours(rt, neighbours) if "word" in edits else None

    def variant(e, i, plan_edits):
        return task.perturb(e, Editor(targeted_plan(plan_edits)), example_rng(seed, "attack", i))

    base = score(rt, examples)
    attacked = successes = queries = 0
    perturbed_shares, adversarial, correct_after = [], [], 0
    for i, (e, (s0, ok)) in enumerate(zip(examples, base)):
        if not ok:  # TextAttack's "skipped": already wrong
            continue
        attacked += 1
        queries += 1
        recorder = Editor(identity_plan)
        task.perturb(e, recorder, example_rng(seed, "attack", i))
        # labelled words (NER entity words) get character edits only: a neighbour could be another entity type
        words = [(k, w, kind) for k, (w, kind) in enumerate(recorder.seen) if kind != FROZEN]
        n_words = len(recorder.seen)
        allowed = math.ceil(budget * n_words - 1e-9)
        current, cur, still_ok = {}, s0, True
        if allowed and words:
            deleted = score(rt, [variant(e, i, {k: ""}) for k, _, _ in words])
            queries += len(words)
            order = sorted(range(len(words)), key=lambda j: (-(s0 - deleted[j][0]), j))
            rng = example_rng(seed, "attack-candidates", i)
            for j in order:
                if len(current) >= allowed or not still_ok:
                    break
                k, w, kind = words[j]
                cands = (char_candidates(w, rng) if "char" in edits else []) + \
                    (near(w) if near and kind == FREE else [])
                if not cands:
                    continue
                results = score(rt, [variant(e, i, {**current, k: c}) for c in cands])
                queries += len(cands)
                best = min(range(len(cands)), key=lambda c: (results[c][1], results[c][0], c))
                if results[best][0] < cur or not results[best][1]:
                    current[k] = cands[best]
                    cur, still_ok = results[best]
        if still_ok:
            correct_after += 1
            continue
        successes += 1
        perturbed_shares.append(len(current) / max(n_words, 1))
        adv = variant(e, i, current)
        adversarial.append({
            "where": e.get("_where"), "original": display(e), "adversarial": display(adv),
            "edits": [{"word": recorder.seen[k][0], "to": c, "index": k} for k, c in sorted(current.items())],
            "score_before": round(s0, 6), "score_after": round(cur, 6),
        })
    n = len(examples)
    summary = {
        "examples": n, "attacked": attacked, "skipped": n - attacked, "successes": successes,
        "attack_success_rate": successes / attacked if attacked else 0.0,
        "accuracy_before": attacked / n if n else 0.0,
        "accuracy_under_attack": correct_after / n if n else 0.0,
        "words_perturbed": sum(perturbed_shares) / len(perturbed_shares) if perturbed_shares else 0.0,
        "average_queries": queries / attacked if attacked else 0.0,
        "budget": budget, "edits": ",".join(edits),
    }
    return summary, adversarial


FIELDS = ("text", "text_pair", "question", "context", "source", "tokens")


def display(example: dict) -> str:
    """The example's input fields as one line (what a reader compares before and after)."""
    parts = []
    for key in FIELDS:
        if key in example and not (key == "tokens" and "text" in example):
            value = example[key]
            parts.append(" ".join(value) if isinstance(value, list) else value)
    return " || ".join(parts)
