"""What each task shows in the run report, from its prediction rows (predictions_<split>.jsonl).

Each task's optional `report_view(rows, setup)` hook calls one of these. A view is
{"errors": [row, ...] worst first, "columns": [(key, header), ...], "calibration": {"probs", "gold"} (optional)}.
"""

from __future__ import annotations

import os

import numpy as np

MAX_TEXT = 300


def _short(text: str, n: int = MAX_TEXT) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def classification_view(rows: list[dict], setup: dict) -> dict:
    """Confident mistakes first (the predicted label's probability); calibration for single-label models."""
    labels = setup["labels"]
    view = {"columns": [("where", "Row"), ("text", "Text"), ("gold", "Gold"), ("predicted", "Predicted"),
                        ("confidence", "Confidence"), ("p_gold", "P(gold)")], "errors": []}
    if setup.get("multi_label"):
        view["columns"] = [("where", "Row"), ("text", "Text"), ("gold", "Gold"), ("predicted", "Predicted"), ("miss", "Wrong labels")]
        for r in rows:
            gold, pred = set(r.get("gold_labels", [])), set(r.get("labels", []))
            if gold != pred:
                view["errors"].append({"where": os.path.basename(r.get("where", "")), "text": _short(r.get("text", "")),
                                       "gold": ", ".join(sorted(gold)), "predicted": ", ".join(sorted(pred)),
                                       "miss": len(gold ^ pred)})
        view["errors"].sort(key=lambda e: -e["miss"])
        return view
    scored = [r for r in rows if "gold_label" in r and "scores" in r]
    for r in scored:
        if r["label"] != r["gold_label"]:
            view["errors"].append({"where": os.path.basename(r.get("where", "")), "text": _short(r.get("text", "")), "gold": r["gold_label"],
                                   "predicted": r["label"], "confidence": r["scores"][r["label"]],
                                   "p_gold": r["scores"].get(r["gold_label"], 0.0)})
    # a diverged run (NaN loss) writes its probabilities as null: such rows sort last and stay out of calibration
    view["errors"].sort(key=lambda e: -(e["confidence"] if e["confidence"] is not None else float("-inf")))
    scored = [r for r in scored if all(isinstance(r["scores"].get(name), (int, float)) for name in labels)]
    if scored:
        index = {name: i for i, name in enumerate(labels)}
        view["calibration"] = {"probs": np.array([[r["scores"][name] for name in labels] for r in scored], dtype=float),
                               "gold": np.array([index[r["gold_label"]] for r in scored])}
    return view


def _entities(items) -> list[str]:
    return [f"{e['text']} ({e['type']})" for e in items]


def _spans(items) -> set:
    return {(e["type"], e.get("start", e.get("token_start")), e.get("end", e.get("token_end"))) for e in items}


def ner_view(rows: list[dict], setup: dict) -> dict:
    """Sentences whose entities differ from the gold ones, the most wrong entities first."""
    errors = []
    for r in rows:
        if "gold_entities" not in r:
            continue
        gold, pred = _spans(r["gold_entities"]), _spans(r["entities"])
        if gold != pred:
            text = r.get("text") or " ".join(r.get("tokens", []))
            errors.append({"where": os.path.basename(r.get("where", "")), "text": _short(text), "gold": "; ".join(_entities(r["gold_entities"])),
                           "predicted": "; ".join(_entities(r["entities"])), "wrong": len(gold ^ pred)})
    errors.sort(key=lambda e: -e["wrong"])
    return {"errors": errors, "columns": [("where", "Row"), ("text", "Sentence"), ("gold", "Gold entities"),
                                          ("predicted", "Predicted entities"), ("wrong", "Wrong spans")]}


def qa_view(rows: list[dict], setup: dict) -> dict:
    """Answers that match no gold answer (SQuAD normalisation), the most confident first."""
    from ..tasks.qa import exact_match

    errors = []
    for r in rows:
        if "gold_answers" not in r:
            continue
        golds = r["gold_answers"] or [""]
        if not any(exact_match(r["answer"], g) for g in golds):
            errors.append({"where": os.path.basename(r.get("where", "")), "question": _short(r.get("question", "")),
                           "context": _short(r.get("context", ""), 200), "gold": " | ".join(golds) or "(no answer)",
                           "predicted": r["answer"] or "(no answer)", "score": r.get("score")})
    errors.sort(key=lambda e: -(e["score"] if e["score"] is not None else float("-inf")))
    return {"errors": errors, "columns": [("where", "Row"), ("question", "Question"), ("context", "Context"),
                                          ("gold", "Gold"), ("predicted", "Predicted"), ("score", "Score")]}


def translation_view(rows: list[dict], setup: dict) -> dict:
    """Translations furthest from their reference by sentence chrF."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    errors = []
    for r in rows:
        if "reference" not in r or r["translation"] == r["reference"]:
            continue
        errors.append({"where": os.path.basename(r.get("where", "")), "source": _short(r.get("source", "")), "reference": _short(r["reference"]),
                       "translation": _short(r["translation"]),
                       "chrf": round(chrf.sentence_score(r["translation"], [r["reference"]]).score, 2)})
    errors.sort(key=lambda e: e["chrf"])
    return {"errors": errors, "columns": [("where", "Row"), ("source", "Source"), ("reference", "Reference"),
                                          ("translation", "Translation"), ("chrf", "chrF")]}
