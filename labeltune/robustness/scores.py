"""What `labeltune robustness --attack` drives down for NER and QA (the tasks' `attack_scores` hooks).

The greedy attack (attack.py) is task-agnostic: it needs, per example, a score that falls as the model's answer
gets worse and whether the answer is still right. Classification's hook gives the gold label's probability.

- NER: the mean, over the example's words, of the probability the model gives the word's gold tag; right while
  every word's decoded tag equals the gold tag (the example's entities are all found, with no extra one).
- QA: the answer's token F1 against the gold answers (max over them, the official SQuAD measure); right while the
  answer is an exact match. A span model's start/end logits are not a probability of the gold answer across
  windows, so the attack is decision-based here: deleting a word ranks it by the F1 it costs, ties in text order.
"""

from __future__ import annotations

import numpy as np


def ner_scores(task, rt, examples: list[dict]) -> list[tuple[float, bool]]:
    probs = task.word_probabilities(rt, examples)  # also gives raw-text examples their words and tags
    index = {name: i for i, name in enumerate(rt.setup["labels"])}
    out = []
    for e, p, (tags, _) in zip(examples, probs, task._decode(rt, probs)):
        gold = e["tags"]
        known = [(w, index[t]) for w, t in enumerate(gold) if t in index]
        score = float(np.mean([p[w, k] for w, k in known])) if known else 0.0
        out.append((score, list(tags) == list(gold)))
    return out


def qa_scores(task, rt, examples: list[dict]) -> list[tuple[float, bool]]:
    from ..tasks.qa_metrics import exact_match, f1_score, gold_answers

    out = []
    for e, pred in zip(examples, task.predict(rt, examples)):
        golds = gold_answers(e)
        out.append((max(f1_score(pred["answer"], g) for g in golds),
                    max(exact_match(pred["answer"], g) for g in golds) == 1))
    return out
