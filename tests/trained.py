"""Tiny trained models of every task, for the tests of what uses a trained model (serve, export, report).

Each is the 2-layer random BERT of `tiny_bert_dir` trained a few steps on eight examples: enough for a real
saved run directory (weights, labeltune.json, metrics.json, train_log.jsonl, predictions), not for accuracy.
Trained once per test session and reused (the directory is the cache).
"""

from __future__ import annotations

import csv
import json
import os

import labeltune

CLASSIFICATION = [
    ("a wonderful, moving film", "positive"), ("dull and far too long", "negative"),
    ("the best performance of the year", "positive"), ("a tedious mess", "negative"),
    ("funny, warm and clever", "positive"), ("i walked out halfway", "negative"),
    ("a triumph of quiet acting", "positive"), ("lazy writing, awful jokes", "negative"),
]
NER = [
    (["John", "lives", "in", "Paris", "."], ["B-PER", "O", "O", "B-LOC", "O"]),
    (["Mary", "Smith", "visited", "Berlin"], ["B-PER", "I-PER", "O", "B-LOC"]),
    (["The", "river", "flows", "north"], ["O", "O", "O", "O"]),
    (["Anna", "met", "Peter"], ["B-PER", "O", "B-PER"]),
    (["Rome", "is", "old"], ["B-LOC", "O", "O"]),
    (["We", "flew", "to", "New", "York", "City"], ["O", "O", "O", "B-LOC", "I-LOC", "I-LOC"]),
]
QA = [
    ("Noah was the son of Lamech.", "Whose son was Noah?", "Lamech"),
    ("Adam named his wife Eve.", "What did Adam name his wife?", "Eve"),
    ("Cain was a tiller of the ground, and Abel was a keeper of sheep.", "Who was a keeper of sheep?", "Abel"),
    ("The ark rested on the mountains of Ararat.", "Where did the ark rest?", "the mountains of Ararat"),
]
TRANSLATION = [("el gato duerme", "the cat sleeps"), ("el perro corre", "the dog runs"),
               ("yo como pan", "i eat bread"), ("bebemos agua", "we drink water")]

# one input per task in the form `labeltune.load(...).predict` takes (and the serve API's JSON)
INPUTS = {
    "classification": ["a moving film", "awful jokes"],
    "ner": ["Anna lives in Rome", {"tokens": ["Peter", "visited", "Paris"]}],
    "qa": [{"question": q, "context": c} for c, q, _ in QA[:2]],
    "translation": ["el gato corre"],
}
OPTIONS = {  # fast settings; translation: greedy and short (a random decoder would run to the length limit)
    "classification": {}, "ner": {}, "qa": {"max_length": 64, "doc_stride": 16},
    "translation": {"num_beams": 1, "max_new_tokens": 6, "selection_examples": 2},
}


def write_data(directory: str, task: str) -> str:
    os.makedirs(directory, exist_ok=True)
    if task in ("classification", "translation"):
        path = os.path.join(directory, "train.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"] if task == "classification" else ["source", "target"])
            w.writerows(CLASSIFICATION if task == "classification" else TRANSLATION)
        return path
    path = os.path.join(directory, "train.jsonl")
    if task == "ner":
        rows = [{"tokens": t, "tags": g} for t, g in NER]
    else:
        rows = [{"id": f"q{i}", "question": q, "context": c, "answers": {"text": [a], "answer_start": [c.index(a)]}}
                for i, (c, q, a) in enumerate(QA)]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return path


def tiny_run(base_dir, model_dir: str, task: str, **options) -> str:
    """The output directory of a tiny training run of `task` (trained on first use)."""
    out = os.path.join(str(base_dir), f"tiny-run-{task}")
    if os.path.exists(os.path.join(out, "labeltune.json")) and not options:
        return out
    train = write_data(os.path.join(str(base_dir), f"tiny-data-{task}"), task)
    settings = dict(task=task, model=model_dir, train=train, validation=train, test=train, output=out, overwrite=True,
                    batch_size=4, epochs=4, lr=1e-2, warmup_ratio=0.0, precision="fp32", seed=0, quiet=True,
                    log_every=1, eval_every=2, threads=1)
    settings.update(OPTIONS[task])
    settings.update(options)
    labeltune.train(**settings)
    return out
