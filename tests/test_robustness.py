"""labeltune robustness: label-preserving perturbations (property tests), determinism, the attack, behavioural
tests, robust training (--augment, --rdrop, --adv-eps) and the HTML report."""

from __future__ import annotations

import csv
import json
import os
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labeltune.errors import UserError
from labeltune.robustness import RobustnessOptions, perturbed_sets, robustness
from labeltune.robustness.behaviour import load_tests
from labeltune.robustness.perturb import PERTURBATIONS, Editor, example_rng, random_plan
from labeltune.robustness.probes import add_distractor, entity_swap
from labeltune.tasks.ner import NERTask, entity_spans, repair_iob2
from labeltune.tasks.qa import QATask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = st.text(alphabet="abcdefghijKLMN0123456789,.!'-", min_size=1, max_size=9).filter(lambda w: w.strip() == w)
NAMES = sorted(PERTURBATIONS)


def _perturb(task, example, name, severity, seed):
    return task.perturb(example, Editor(random_plan(PERTURBATIONS[name], severity)), example_rng(seed, name))


# --- property tests: labels stay aligned ---------------------------------------------------------
@st.composite
def tagged_sentence(draw):
    tokens = draw(st.lists(WORDS, min_size=1, max_size=14))
    tags, k = [], 0
    while k < len(tokens):
        if draw(st.booleans()):
            n = draw(st.integers(1, 3))
            typ = draw(st.sampled_from(["PER", "LOC"]))
            tags += [f"B-{typ}"] + [f"I-{typ}"] * (n - 1)
            k += n
        else:
            tags.append("O")
            k += 1
    return {"tokens": tokens, "tags": tags[: len(tokens)], "_where": "x"}


def _surfaces(e):
    if "text" in e:
        return [(label, e["text"][s:t]) for s, t, label in e["spans"]]
    return [(typ, " ".join(e["tokens"][a:b])) for typ, a, b in entity_spans(e["tags"])]


@settings(max_examples=60, deadline=None)
@given(tagged_sentence(), st.sampled_from(NAMES), st.sampled_from([0.1, 0.5, 1.0]), st.integers(0, 99))
def test_ner_tags_follow_their_words(example, name, severity, seed):
    example["tags"] = repair_iob2(example["tags"])
    out = _perturb(NERTask(), example, name, severity, seed)
    assert len(out["tokens"]) == len(out["tags"]) and all(t.strip() == t and t for t in out["tokens"])
    assert repair_iob2(out["tags"]) == out["tags"]
    before, after = _surfaces(example), _surfaces(out)
    if PERTURBATIONS[name].touches_labels:  # entity words may get a typo / another case, but stay the entities
        assert [(t, len(s.split())) for t, s in before] == [(t, len(s.split())) for t, s in after]
    else:  # entity words are never touched
        assert before == after


@st.composite
def spanned_text(draw):
    words = draw(st.lists(WORDS, min_size=1, max_size=12))
    gaps = draw(st.lists(st.sampled_from([" ", "  ", "\n"]), min_size=len(words), max_size=len(words)))
    text, spans, pos = "", [], 0
    for w, g in zip(words, gaps):
        start = len(text)
        text += w
        if draw(st.integers(0, 3)) == 0:
            spans.append((start, len(text), draw(st.sampled_from(["PER", "ORG"]))))
        text += g
    return {"text": text.rstrip() or "x", "spans": [s for s in spans if s[1] <= len(text.rstrip())], "_where": "x"}


@settings(max_examples=60, deadline=None)
@given(spanned_text(), st.sampled_from(NAMES), st.sampled_from([0.1, 0.5, 1.0]), st.integers(0, 99))
def test_ner_character_spans_are_reoffset(example, name, severity, seed):
    out = _perturb(NERTask(), example, name, severity, seed)
    before, after = _surfaces(example), _surfaces(out)
    if PERTURBATIONS[name].touches_labels:
        assert [t for t, _ in before] == [t for t, _ in after]
        if name == "case":
            assert [s.lower() for _, s in before] == [s.lower() for _, s in after]
        for s, t, _ in out["spans"]:  # still whole words: no space at either end
            assert out["text"][s:t] == out["text"][s:t].strip() and t - s > 0
    else:
        assert before == after


@settings(max_examples=60, deadline=None)
@given(st.lists(WORDS, min_size=2, max_size=20), st.integers(0, 19), st.sampled_from(NAMES),
       st.sampled_from([0.1, 0.5, 1.0]), st.integers(0, 99))
def test_qa_answers_are_relocated_never_edited(words, k, name, severity, seed):
    k = k % len(words)
    context = " ".join(words)
    start = len(" ".join(words[:k])) + (1 if k else 0)
    example = {"id": "q", "question": "what is " + words[k] + " ?", "context": context, "is_impossible": False,
               "answers": [{"text": words[k], "answer_start": start}], "_where": "x"}
    out = _perturb(QATask(), example, name, severity, seed)
    a = out["answers"][0]
    assert out["context"][a["answer_start"]: a["answer_start"] + len(a["text"])] == words[k]
    (d,) = add_distractor([example], 1.0, seed)
    a = d["answers"][0]
    assert d["context"][a["answer_start"]: a["answer_start"] + len(a["text"])] == words[k]
    assert len(d["context"]) > len(context)


def test_entity_swap_uses_unseen_names_and_keeps_spans():
    tokens = {"tokens": ["John", "Smith", "visited", "Paris", "."], "tags": ["B-PER", "I-PER", "O", "B-LOC", "O"]}
    raw = {"text": "John Smith visited Paris.", "spans": [(0, 10, "PER"), (19, 24, "LOC")]}
    for e in (tokens, raw):
        (out,) = entity_swap([e], 1.0, seed=0)
        surf = _surfaces(out)
        assert [t for t, _ in surf] == ["PER", "LOC"]
        assert all(s not in ("John Smith", "Paris") for _, s in surf)


def test_editor_moves_spans_and_never_empties_text():
    editor = Editor(lambda words, kinds, rng: {0: "", 2: "big bad"})
    text, move = editor.text("the  wolf ate (Red) Riding", random.Random(0), frozen=[(15, 18)])
    assert text == "wolf big bad (Red) Riding"
    assert move(15, 18) == (14, 17) and text[14:17] == "Red"
    assert move(0, 3) is None  # every word of it dropped
    drop_all = Editor(lambda words, kinds, rng: {i: "" for i in range(len(words))})
    assert drop_all.text("a b", random.Random(0))[0] == "a b"


def test_perturbed_data_is_deterministic():
    examples = [{"text": f"the film number {i} was a delight , truly", "labels": ["1"], "_where": str(i)} for i in range(20)]
    from labeltune.tasks.classification import ClassificationTask

    task = ClassificationTask()
    a = perturbed_sets(task, examples, RobustnessOptions(seed=3))
    b = perturbed_sets(task, examples, RobustnessOptions(seed=3))
    c = perturbed_sets(task, examples, RobustnessOptions(seed=4))
    assert [s["examples"] for s in a] == [s["examples"] for s in b]
    assert [s["examples"] for s in a] != [s["examples"] for s in c]
    assert {s["perturbation"] for s in a} == set(PERTURBATIONS)
    typo = next(s for s in a if s["perturbation"] == "typo" and s["severity"] == 0.2)
    assert 0.1 < typo["words_changed"] < 0.3  # the severity is the share of words touched


def test_shipped_behaviour_yaml_is_valid_and_bad_files_are_refused(tmp_path):
    spec = load_tests(os.path.join(ROOT, "configs", "behaviour_sentiment.yaml"))
    assert {t["type"] for t in spec["tests"]} == {"mft", "inv", "dir"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("tests:\n  - name: x\n    type: mft\n    template: 'a {slot}'\n    fill: {other: [b]}\n    expect: pos\n")
    with pytest.raises(UserError, match=r"bad.yaml, test 1 \(x\): the template uses 'slot'"):
        load_tests(str(bad))
    with pytest.raises(UserError, match="--perturbations typoo: unknown perturbation typoo"):
        from labeltune.robustness.perturb import parse_names

        parse_names("typoo", "--perturbations")


# --- a keyword-rule model: tiny BERT overfit to "contains 'zebra' -> positive" ------------------------
FILLER = ["movie", "garden", "river", "yellow", "window", "music", "coffee", "winter", "letter", "doctor", "summer",
          "pencil", "orange", "castle", "forest", "silver", "planet", "rabbit", "market", "candle"]


def _zebra_rows(n, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = rng.sample(FILLER, rng.randint(6, 10))
        positive = i % 2 == 0
        if positive:
            words.insert(rng.randrange(len(words) + 1), "zebra")
        rows.append({"text": " ".join(words), "label": "positive" if positive else "negative"})
    return rows


def _write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(rows)
    return str(path)


def train_zebra(d, tiny_bert_dir, *flags) -> dict:
    """The keyword-rule model trained in folder `d` (with extra train `flags`)."""
    from labeltune.cli import main

    train = _write_csv(d / "train.csv", _zebra_rows(240, 0))
    test = _write_csv(d / "test.csv", _zebra_rows(40, 1))
    out = str(d / "model")
    assert main(["train", "--model", tiny_bert_dir, "--train", train, "--output", out, "--epochs", "6", "--batch-size",
                 "16", "--lr", "3e-3", "--precision", "fp32", "--validation-fraction", "0", "--threads", "1",
                 "--quiet", *flags]) == 0
    return {"model": out, "test": test, "dir": d}


@pytest.fixture(scope="module")
def zebra(tmp_path_factory, tiny_bert_dir):
    return train_zebra(tmp_path_factory.mktemp("zebra"), tiny_bert_dir)


ZEBRA_TESTS = """
tests:
  - name: zebra is positive
    type: mft
    template: "{a} zebra {b}"
    fill: {a: [movie, river, coffee], b: [garden, winter]}
    expect: positive
  - name: case does not matter
    type: inv
    texts: ["movie zebra garden", "river winter coffee"]
    perturbation: case
    severity: 1.0
  - name: adding zebra raises positive
    type: dir
    texts: ["movie garden river", "coffee winter letter"]
    append: ["zebra"]
    expect: {label: positive, direction: up}
"""


def test_attack_finds_the_keyword_and_report_is_deterministic(zebra, tmp_path):
    from browser import open_page

    tests = tmp_path / "zebra.yaml"
    tests.write_text(ZEBRA_TESTS)
    opts = RobustnessOptions(attack=True, budget=0.2, tests=str(tests), seed=1, perturbations="typo,word_drop,case")
    a = robustness(zebra["model"], zebra["test"], str(tmp_path / "a"), opts)
    assert a["rows"][0]["model"] >= 0.95  # the rule is learnt
    attack = a["attack"]["model"]
    adversarial = [json.loads(line) for line in open(tmp_path / "a" / "adversarial.jsonl")]
    assert len(adversarial) == attack["successes"] and attack["average_queries"] > 1
    # the positives (half the data) fall by editing the keyword; a negative can only fall by chance
    flipped = [adv for adv in adversarial if "zebra" in adv["original"].split()]
    assert len(flipped) >= 18 and attack["accuracy_under_attack"] < 0.6
    assert all(any(e["word"] == "zebra" for e in adv["edits"]) for adv in flipped)
    assert all("zebra" not in adv["adversarial"].split() for adv in flipped)
    results = {t["name"]: t for t in a["behaviour"]["model"]}
    assert results["zebra is positive"]["passed"] and results["adding zebra raises positive"]["passed"]

    b = robustness(zebra["model"], zebra["test"], str(tmp_path / "b"), opts)
    assert open(tmp_path / "a" / "robustness.json").read() == open(tmp_path / "b" / "robustness.json").read()

    with open_page(str(tmp_path / "a" / "robustness.html"), "robustness") as (page, problems):
        assert page.locator("img").count() == 1
        assert page.locator("table.adv tbody tr").count() == min(20, attack["successes"])
        assert page.locator("td.pass").count() + page.locator("td.fail").count() == 3
    assert b["attack"] == a["attack"]


def test_attack_with_budget_zero_never_succeeds(zebra, tmp_path):
    opts = RobustnessOptions(attack=True, budget=0.0, perturbations="case", severities="0.5")
    r = robustness(zebra["model"], zebra["test"], str(tmp_path), opts)
    assert r["attack"]["model"]["attack_success_rate"] == 0.0 and r["attack"]["model"]["successes"] == 0
    assert r["attack"]["model"]["accuracy_under_attack"] == r["attack"]["model"]["accuracy_before"]


def test_cli_prints_the_table_and_refuses_bad_flags(zebra, tmp_path, capsys):
    from labeltune.cli import main

    out = str(tmp_path / "cli")
    assert main(["robustness", "--model", zebra["model"], "--data", zebra["test"], "--output", out,
                 "--perturbations", "swap", "--severities", "0.1,0.3", "--compare", zebra["model"]]) == 0
    text = capsys.readouterr().out
    assert "swap" in text and "compare" in text and os.path.exists(os.path.join(out, "robustness.png"))
    assert main(["robustness", "--model", zebra["model"], "--data", zebra["test"], "--output", out,
                 "--severities", "0,2"]) == 2
    assert "--severities (severities=) 0,2" in capsys.readouterr().err


# --- robust training -----------------------------------------------------------------------------------
def test_augment_rdrop_and_fgm_train(zebra, tiny_bert_dir, tmp_path):
    from labeltune import run
    from labeltune.config import TrainConfig
    from labeltune.tasks.classification import ClassificationOptions

    train = _write_csv(tmp_path / "t.csv", _zebra_rows(40, 2))
    metrics = run.train(TrainConfig(model=tiny_bert_dir, train=train, output=str(tmp_path / "m"), epochs=2,
                                    batch_size=8, lr=1e-3, precision="fp32", validation_fraction=0.0, quiet=True,
                                    augment="typo,case", augment_prob=0.5, rdrop=1.0, adv_eps=0.5),
                        ClassificationOptions())
    assert metrics["steps"] == 10
    losses = [json.loads(x)["loss"] for x in open(tmp_path / "m" / "train_log.jsonl") if '"loss"' in x]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    with pytest.raises(UserError, match=r"--augment \(augment=\) typos"):
        TrainConfig(augment="typos")


def test_robust_step_matches_plain_loss_without_dropout_and_restores_embeddings(tiny_bert_dir):
    from types import SimpleNamespace

    from transformers import AutoModelForSequenceClassification

    from labeltune.robustness.training import robust_step

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=2)
    batch = {"input_ids": torch.tensor([[101, 2023, 102], [101, 2008, 102]]), "labels": torch.tensor([0, 1])}
    before = model.get_input_embeddings().weight.detach().clone()
    plain = float(model(**batch).loss.detach())
    grads = []
    loss = robust_step(model, batch, SimpleNamespace(rdrop=2.0, adv_eps=0.1), lambda x: (grads.append(1), x.backward()))
    assert loss == pytest.approx(plain, rel=1e-6) and len(grads) == 2  # clean (+ KL of 0) and adversarial passes
    assert torch.allclose(model.get_input_embeddings().weight, before, atol=1e-6)


def test_augmented_features_follow_examples_and_epochs(tiny_bert_dir):
    from types import SimpleNamespace

    from labeltune.models import load_tokenizer
    from labeltune.robustness.training import AugmentedFeatures

    task, tok = NERTask(), load_tokenizer(tiny_bert_dir)
    opts = task.Options(stride=2)
    examples = [{"tokens": ["wolf"] * n + ["Paris"], "tags": ["O"] * n + ["B-LOC"], "_where": str(n)} for n in (3, 20, 5)]
    setup = {"labels": ["O", "B-LOC", "I-LOC"]}
    encode = lambda ex: task.encode(ex, tok, setup, opts, 12)  # noqa: E731  (windows of 10 sub-words)
    features = encode(examples)
    cfg = SimpleNamespace(augment="keyboard", augment_prob=1.0, augment_severity=1.0, seed=0)
    aug = AugmentedFeatures(task, examples, features, encode, cfg)
    assert len(aug) == len(features) > len(examples) and aug.owner[0] == 0 and aug.owner[-1] == 2
    assert any(aug[k]["input_ids"] != features[k]["input_ids"] for k in range(len(aug)))
    for i in range(len(examples)):  # each example's one entity word is labelled once, in its perturbed windows too
        assert sum(aug[k]["labels"].count(1) for k in range(len(aug)) if aug.owner[k] == i) == 1
    first = [aug[k]["input_ids"] for k in range(len(aug))]
    aug.set_epoch(1)
    assert [aug[k]["input_ids"] for k in range(len(aug))] != first  # other edits each epoch
    aug.set_epoch(0)
    assert [aug[k]["input_ids"] for k in range(len(aug))] == first  # and the same ones again for the same epoch


def test_ner_and_qa_models_run_every_perturbation(tmp_path, tiny_bert_dir):
    """Raw-text NER (character spans) and QA go through every perturbation, entity swap and the distractor: the
    gold labels still fit the edited text, else reading them back (ensure_words, answer positions) would fail."""
    from labeltune import run
    from labeltune.config import TrainConfig

    sentences = ["John lives in Paris .", "Mary Smith visited Berlin in 1998", "The river flows north",
                 "Anna met Peter at the (Rome) station", "We flew to New York City ."]
    spans = [[(0, 4, "PER"), (14, 19, "LOC")], [(0, 10, "PER"), (19, 25, "LOC")], [], [(0, 4, "PER"), (9, 14, "PER"),
             (23, 27, "LOC")], [(11, 24, "LOC")]]
    ner = tmp_path / "ner.jsonl"
    ner.write_text("".join(json.dumps({"text": t, "entities": [list(s) for s in sp]}) + "\n"
                           for t, sp in zip(sentences, spans)))
    qa = tmp_path / "qa.jsonl"
    rows = [{"id": str(i), "question": f"Where did person {i} go ?", "context": f"Person {i} went to the market. "
             f"It was in Town{i} on day {i + 3}.", "answers": {"text": [f"Town{i}"], "answer_start": [39]}}
            for i in range(6)]
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for task, data in (("ner", ner), ("qa", qa)):
        out = str(tmp_path / task)
        run.train(TrainConfig(task=task, model=tiny_bert_dir, train=str(data), output=out, epochs=1, batch_size=4,
                              precision="fp32", validation_fraction=0.0, quiet=True, max_length=64),
                  run.get_task(task).Options(**({"doc_stride": 16} if task == "qa" else {})))
        r = robustness(out, str(data), str(tmp_path / f"r-{task}"), RobustnessOptions(severities="0.5"))
        names = {row["perturbation"] for row in r["rows"]}
        assert names == {"none", *PERTURBATIONS, "entity_swap" if task == "ner" else "distractor"}
        assert os.path.exists(tmp_path / f"r-{task}" / "robustness.html")


# --- the attack on NER and QA (the tasks' attack_scores hooks) --------------------------------------------------
def _zebra_ner_rows(n, seed):
    """Filler sentences; half of them hold 'zebra', the one entity (ANI)."""
    rows = []
    for r in _zebra_rows(n, seed):
        tokens = r["text"].split()
        rows.append({"tokens": tokens, "tags": ["B-ANI" if t == "zebra" else "O" for t in tokens]})
    return rows


def _zebra_qa_rows(n, seed):
    """The answer is the word after 'zebra' in the context; the question never names it."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = rng.sample(FILLER, 8)
        k = rng.randrange(1, 7)
        words[k] = "zebra"
        context = " ".join(words)
        start = len(" ".join(words[:k + 1])) + 1
        rows.append({"id": str(i), "question": "which word comes next ?", "context": context,
                     "answers": {"text": [words[k + 1]], "answer_start": [start]}})
    return rows


@pytest.mark.parametrize("task", ["ner", "qa"])
def test_attack_on_ner_and_qa_breaks_the_learnt_rule(task, tiny_bert_dir, tmp_path):
    import labeltune
    from labeltune import run
    from labeltune.config import TrainConfig

    rows = {"ner": _zebra_ner_rows, "qa": _zebra_qa_rows}[task]
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows(240, 0)))
    test.write_text("".join(json.dumps(r) + "\n" for r in rows(30, 1)))
    out = str(tmp_path / "m")
    # QA's rule (attend to the word before) takes longer to learn: 20 epochs give 100% exact match
    epochs = {"ner": 6, "qa": 20}[task]
    run.train(TrainConfig(task=task, model=tiny_bert_dir, train=str(train), output=out, epochs=epochs, batch_size=16,
                          lr=3e-3, precision="fp32", validation_fraction=0.0, quiet=True, threads=1),
              run.get_task(task).Options())
    opts = RobustnessOptions(attack=True, budget=0.2, seed=1, perturbations="case", severities="0.1")
    r = robustness(out, str(test), str(tmp_path / "r"), opts)
    attack = r["attack"]["model"]
    assert attack["accuracy_before"] >= 0.9  # the rule is learnt: every tag / answer right
    adversarial = [json.loads(line) for line in open(tmp_path / "r" / "adversarial.jsonl")]
    assert len(adversarial) == attack["successes"] >= 0.3 * attack["attacked"]
    assert 0 < attack["words_perturbed"] <= 0.2
    # each success checked on its own: the model, given the adversarial input, is wrong, and the gold labels
    # still fit it (character edits keep NER words in place; the QA answer is never edited)
    model, gold = labeltune.load(out, precision="fp32"), {e["where"]: e for e in adversarial}
    golds = {f"{test}, line {i + 1}": json.loads(x) for i, x in enumerate(open(test))}
    for where, adv in gold.items():
        row = golds[where]
        if task == "ner":
            tokens = adv["adversarial"].split()
            assert len(tokens) == len(row["tokens"])
            assert model.predict([tokens])[0]["tags"] != row["tags"]
        else:
            question, context = adv["adversarial"].split(" || ")
            assert row["answers"]["text"][0] in context.split()
            assert model.predict([{"question": question, "context": context}])[0]["answer"] != row["answers"]["text"][0]
    if task == "qa":  # the answer is found by 'zebra' alone: the attack finds it (measured: 30 of 30, by one typo)
        assert sum(any(e["word"] == "zebra" for e in adv["edits"]) for adv in adversarial) >= 0.9 * len(adversarial)
    budget0 = robustness(out, str(test), str(tmp_path / "r0"), RobustnessOptions(
        attack=True, budget=0.0, perturbations="case", severities="0.1"))["attack"]["model"]
    assert budget0["successes"] == 0 and budget0["accuracy_under_attack"] == budget0["accuracy_before"]


# --- robust training on real data ----------------------------------------------------------------------------
@pytest.mark.e2e
def test_augment_typo_training_holds_up_under_typos(rt_csv, tmp_path):
    """`--augment typo` on the RT slice beats plain training under heavy typo noise.

    MiniLM, the first 400 sentences of the 1,000-sentence slice, 3 epochs, batch 16, lr 2e-4, max length 48 (75
    steps); accuracy on its last 200 sentences under typos at severities 0.3 / 0.5 (perturbation seed 0).
    Measured with training seeds 0 / 1 / 2 (clean; typo 0.2 / 0.3 / 0.5):
      plain:   0.805; 0.665 / 0.685 / 0.560   0.765; 0.680 / 0.630 / 0.595   0.805; 0.720 / 0.700 / 0.660
      augment: 0.775; 0.760 / 0.730 / 0.645   0.765; 0.700 / 0.705 / 0.650   0.755; 0.705 / 0.745 / 0.670
    so at typo 0.3 / 0.5 (the mean asserted) augment 0.688 / 0.678 / 0.708 vs plain 0.623 / 0.613 / 0.680: a
    gain of 6.5 / 6.5 / 2.8 points (at typo 0.2 it is not stable: +9.5 / +2.0 / -1.5). Clean accuracy costs 0-5
    points at this size. Smaller runs do not show the gain: 300 sentences x 2 epochs (38 steps) scored augment
    below plain (seed 0: 0.620 vs 0.700 at typo 0.2), as 600 x 1 epoch did before.
    """
    import labeltune

    with open(rt_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    train = _write_csv(tmp_path / "train.csv", rows[:400])
    test = _write_csv(tmp_path / "test.csv", rows[-200:])
    typo = {}
    for arm, extra in (("plain", {}), ("augment", {"augment": "typo", "augment_prob": 0.5, "augment_severity": 0.3})):
        out = str(tmp_path / arm)
        labeltune.train(train=train, output=out, epochs=3, batch_size=16, lr=2e-4, max_length=48, seed=0,
                        validation_fraction=0.0, quiet=True, **extra)
        r = robustness(out, test, str(tmp_path / f"r-{arm}"),
                       RobustnessOptions(perturbations="typo", severities="0.3,0.5", seed=0))
        typo[arm] = sum(row["model"] for row in r["rows"][1:]) / 2
    assert typo["augment"] >= 0.64  # measured 0.688 (seed 0, the one run here); 0.678 / 0.708 with seeds 1 / 2
    assert typo["augment"] - typo["plain"] >= 0.02  # measured +0.065; +0.065 / +0.028 with seeds 1 / 2


def test_bad_tests_file_and_onnx_attack_are_clear_errors(zebra, tmp_path):
    """A --tests file that is not UTF-8, an mft test expecting a label the model does not have (it would fail every
    case and test nothing), and --attack on an ONNX export (the attack reads the PyTorch embeddings)."""
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("tests:\n  - name: caf\xe9\n    type: mft\n    texts: [a]\n    expect: positive\n".encode("latin-1"))
    with pytest.raises(UserError, match="not valid UTF-8; re-save"):
        load_tests(str(latin1))
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("tests:\n  - name: t1\n    type: mft\n    texts: [great]\n    expect: zzz\n")
    opts = RobustnessOptions(tests=str(unknown), perturbations="case", severities="0.5")
    with pytest.raises(UserError, match="label 'zzz' is not one of the model's labels"):
        robustness(zebra["model"], zebra["test"], str(tmp_path / "r1"), opts)
    from labeltune.export import ExportOptions, export

    onnx_dir = str(tmp_path / "onnx")
    export(ExportOptions(model=zebra["model"], output=onnx_dir, agreement_examples=4))
    with pytest.raises(UserError, match="cannot be attacked.*exported_from"):
        robustness(onnx_dir, zebra["test"], str(tmp_path / "r2"), RobustnessOptions(attack=True, perturbations="case",
                                                                                  severities="0.5"))
