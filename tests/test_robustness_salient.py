"""--augment-target salient / attack (labeltune/robustness/salient.py): the edits land on the words the model leans
on, labels stay aligned for classification, NER and QA, the same seed gives the same edits, and a task that cannot
rank its words is refused."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest
import torch

from labeltune.errors import UserError
from labeltune.robustness.perturb import PERTURBATIONS, Editor
from labeltune.robustness.salient import salient_edits, salient_plan
from labeltune.tasks.classification import ClassificationTask
from labeltune.tasks.ner import NERTask
from labeltune.tasks.qa import QATask
from labeltune.tasks.translation import TranslationTask
from test_robustness import FILLER
from test_robustness import _write_csv as _csv
from test_robustness import _zebra_rows as _rows

TYPO = PERTURBATIONS["typo"]


def _text(example) -> str:
    return " ".join(example["tokens"]) if "tokens" in example else \
        example.get("text") or example.get("question", "") + " " + example.get("context", "")


def keyword_rule(task, keyword="zebra"):
    """The task's own perturb hook with a keyword-rule 'model': the gold score is high only while the keyword is
    there (a little lower for every other word gone, so deleting any word costs something)."""

    def scores(rt, examples):
        out = []
        for e in examples:
            words = _text(e).split()
            s = (0.9 if keyword in words else 0.2) + 0.001 * len(words)
            out.append((s, keyword in words))
        return out

    return SimpleNamespace(name=task.name, perturb=task.perturb, attack_scores=scores)


def _fresh(seed=0):
    return lambda: random.Random(seed)


@pytest.mark.parametrize("target", ["salient", "attack"])
def test_edits_hit_the_word_the_rule_depends_on(target):
    task = keyword_rule(ClassificationTask())
    rng = random.Random(0)
    for n in range(20):
        words = rng.sample(FILLER, 9)
        words.insert(rng.randrange(10), "zebra")
        example = {"text": " ".join(words), "labels": ["positive"]}
        edits = salient_edits(task, None, example, TYPO, 0.1, target, random.Random(n), _fresh())
        assert len(edits) == 1  # ceil(0.1 x 10 words), the attack's budget
        (k, rep), = edits.items()
        assert words[k] == "zebra" and rep != "zebra"
        out = task.perturb(example, Editor(salient_plan(task, None, example, TYPO, 0.1, target, random.Random(n),
                                                        _fresh())), _fresh()())
        assert "zebra" not in out["text"].split() and out["labels"] == ["positive"]
        assert len(out["text"].split()) == len(words)


def test_ner_tags_follow_the_edited_entity_word():
    task = keyword_rule(NERTask())
    tokens = ["the", "zebra", "ran", "past", "a", "river", "in", "Paris", "last", "winter", "again"]
    tags = ["O", "B-ANI", "O", "O", "O", "O", "O", "B-LOC", "O", "O", "O"]
    example = {"tokens": tokens, "tags": tags}
    for seed in range(10):
        plan = salient_plan(task, None, example, TYPO, 0.1, "attack", random.Random(seed), _fresh(seed))
        out = task.perturb(example, Editor(plan), _fresh(seed)())
        assert len(out["tokens"]) == len(tokens) and out["tags"] == tags
        assert out["tokens"][1] != "zebra" and out["tokens"][7] == "Paris"  # the typo landed on the entity word
    # a perturbation that may not touch entity words leaves them alone even when they matter most
    plan = salient_plan(task, None, example, PERTURBATIONS["word_drop"], 0.1, "salient", random.Random(0), _fresh())
    out = task.perturb(example, Editor(plan), _fresh()())
    assert "zebra" in out["tokens"] and len(out["tokens"]) == len(tokens) - 2 and out["tags"].count("B-ANI") == 1


def test_qa_answer_is_never_edited_and_is_relocated():
    task = keyword_rule(QATask())
    context = "movie garden zebra river yellow window music coffee winter letter doctor"
    example = {"id": "0", "question": "which word comes next ?", "context": context,
               "answers": [{"text": "river", "answer_start": context.index("river")}]}  # the task's internal form
    for seed in range(10):
        plan = salient_plan(task, None, example, TYPO, 0.2, "salient", random.Random(seed), _fresh(seed))
        out = task.perturb(example, Editor(plan), _fresh(seed)())
        assert "zebra" not in out["context"].split()
        start = out["answers"][0]["answer_start"]
        assert out["context"][start:start + 5] == "river"


def test_task_without_attack_scores_and_bad_flags_are_refused():
    from labeltune.config import TrainConfig
    from labeltune.robustness.training import AugmentedFeatures

    cfg = SimpleNamespace(augment="typo", augment_prob=1.0, augment_severity=0.1, seed=0, augment_target="salient")
    examples = [{"source": "a b c", "target": "x"}]
    with pytest.raises(UserError, match="--augment-target salient: the task 'translation' has no attack_scores"):
        AugmentedFeatures(TranslationTask(), examples, [{}], lambda ex: [{}], cfg)
    with pytest.raises(UserError, match=r"--augment-target \(augment_target=\) must be random, salient or attack"):
        TrainConfig(augment="typo", augment_target="loud")
    with pytest.raises(UserError, match=r"--augment-target \(augment_target=\) needs --augment"):
        TrainConfig(augment_target="salient")


# --- with a real (tiny) model ----------------------------------------------------------------------------------
def test_training_with_salient_targets_and_the_learnt_keyword_is_what_gets_edited(tiny_bert_dir, tmp_path):
    """Train with --augment-target attack (the model ranks words while it trains), then, with the trained model,
    the salient edits of the positives fall on 'zebra', and the same seed gives the same augmented features."""
    import labeltune
    from labeltune import run
    from labeltune.config import TrainConfig
    from labeltune.robustness.training import AugmentedFeatures
    from labeltune.tasks.classification import ClassificationOptions

    train = _csv(tmp_path / "t.csv", _rows(240, 0))
    out = str(tmp_path / "m")
    metrics = run.train(TrainConfig(model=tiny_bert_dir, train=train, output=out, epochs=6, batch_size=16, lr=3e-3,
                                    precision="fp32", validation_fraction=0.0, quiet=True, threads=1,
                                    augment="typo", augment_prob=0.3, augment_target="attack"),
                        ClassificationOptions())
    assert metrics["steps"] == 90
    losses = [json.loads(x)["loss"] for x in open(tmp_path / "m" / "train_log.jsonl") if '"loss"' in x]
    assert all(torch.isfinite(torch.tensor(losses)))

    p = labeltune.load(out, precision="fp32")
    examples = p.task.read(_csv(tmp_path / "e.csv", _rows(20, 1)), p.opts)
    assert sum(ok for _, ok in p.task.attack_scores(p.rt, examples)) >= 18  # the rule is learnt (measured 20 of 20)
    positives = [e for e in examples if e["labels"] == ["positive"]]
    hit = 0
    for n, e in enumerate(positives):
        edits = salient_edits(p.task, p.rt, e, TYPO, 0.1, "salient", random.Random(n), _fresh(n))
        words = e["text"].split()
        hit += any(words[k] == "zebra" for k in edits)
    assert hit >= 0.8 * len(positives)  # measured: 10 of 10

    def augmented():
        encode = lambda ex: p.task.encode(ex, p.rt.tokenizer, p.rt.setup, p.opts, p.rt.max_length)  # noqa: E731
        cfg = SimpleNamespace(augment="typo", augment_prob=1.0, augment_severity=0.1, seed=3, augment_target="attack")
        aug = AugmentedFeatures(p.task, examples, encode(examples), encode, cfg)
        aug.bind(p.rt)
        return [aug[k]["input_ids"] for k in range(len(aug))]

    first = augmented()
    assert first == augmented() and first != [f["input_ids"] for f in
                                               p.task.encode(examples, p.rt.tokenizer, p.rt.setup, p.opts,
                                                             p.rt.max_length)]
