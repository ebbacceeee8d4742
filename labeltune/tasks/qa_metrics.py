"""The official SQuAD v1.1 / v2.0 metrics: answer normalisation, exact match and F1 (max over gold answers),
and the v2.0 script's best null threshold.

Split out of tasks/qa.py (QATask.evaluate and calibrate call these).
"""

from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np


# --- official SQuAD metrics ---------------------------------------------------------------------
_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """Lower case, remove punctuation, articles and extra whitespace (the official SQuAD script)."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:  # no-answer: right only when both are empty (official v2.0 script)
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def gold_answers(example: dict) -> list[str]:
    """Gold texts; [""] for an unanswerable question (official v2.0 script)."""
    return [a["text"] for a in example["answers"] if normalize_answer(a["text"])] or [""]


def squad_metrics(golds: list[list[str]], preds: list[str]) -> dict:
    """EM and F1 in percent (max over gold answers), with the HasAns / NoAns breakdown when both occur."""
    em = np.array([max(exact_match(p, g) for g in gs) for p, gs in zip(preds, golds)])
    f1 = np.array([max(f1_score(p, g) for g in gs) for p, gs in zip(preds, golds)])
    out = {"exact_match": 100 * float(em.mean()), "f1": 100 * float(f1.mean()), "n": len(preds)}
    has = np.array([gs != [""] for gs in golds])
    if not has.all():
        for name, mask in (("HasAns", has), ("NoAns", ~has)):
            out[f"{name}_total"] = int(mask.sum())
            if mask.any():
                out[f"{name}_exact_match"] = 100 * float(em[mask].mean())
                out[f"{name}_f1"] = 100 * float(f1[mask].mean())
    return out


def best_threshold(examples: list[dict], spans: list[dict]) -> dict:
    """The null threshold that maximises EM and F1 (the official v2.0 script's best_exact / best_f1).

    An example answers when its null_diff <= threshold. Sorting by null_diff, each cut point is one threshold;
    the score at a cut is (answer scores of those below) + (no-answer scores of those above).
    """
    golds = [gold_answers(e) for e in examples]
    order = np.argsort([s["null_diff"] for s in spans], kind="stable")
    diffs = np.array([spans[i]["null_diff"] for i in order])
    out = {}
    for name, fn in (("exact_match", exact_match), ("f1", f1_score)):
        answer = np.array([max(fn(spans[i]["text"], g) for g in golds[i]) for i in order])
        null = np.array([float(golds[i] == [""]) for i in order])
        # total[k] = answer[:k] + null[k:], for k = 0 (all null) .. n (all answer)
        total = np.concatenate([[0.0], np.cumsum(answer)]) + np.concatenate([np.cumsum(null[::-1])[::-1], [0.0]])
        total[1:][np.append(diffs[1:] == diffs[:-1], False)] = -1  # ties cannot be cut between
        k = int(total.argmax())
        thresh = float(diffs[k - 1]) if k > 0 else float(diffs[0]) - 1.0
        out[f"best_{name}"] = 100 * float(total[k]) / len(examples)
        out[f"best_{name}_thresh"] = thresh if np.isfinite(thresh) else 0.0
    return out
