"""Review 2 (helper A): user-facing bugs found by running explain, robustness, suggest, curve, label-issues,
--few-shot and --peft from the command line on small, unusual inputs. One test per fix; tiny models only."""

from __future__ import annotations

import os

import pytest

from labeltune.errors import UserError
from tests.trained import tiny_run


@pytest.fixture(scope="module")
def clf(tmp_path_factory, tiny_bert_dir) -> str:
    return tiny_run(tmp_path_factory.mktemp("review2a"), tiny_bert_dir, "classification")


def _yaml(tmp_path, body: str) -> str:
    path = tmp_path / "tests.yaml"
    path.write_text("tests:\n  - " + body + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("body, says", [
    ("{name: a, type: mft, texts: [], expect: positive}", "'texts' must be a non-empty list"),
    ('{name: a, type: mft, texts: "great film", expect: positive}', "'texts' must be a non-empty list"),
    ('{name: a, type: mft, texts: [""], expect: positive}', "'texts' item 1"),
    ("{name: a, type: mft, texts: [null], expect: positive}", "'texts' item 1 (None)"),
    ("{name: a, type: mft, texts: [great], expect: positive, max_failure_rate: abc}", "'max_failure_rate' is 'abc'"),
    ("{name: a, type: mft, texts: [great], expect: positive, max_cases: 0}", "'max_cases' is 0"),
    ("{name: a, type: inv, texts: [great], perturbation: case, severity: 5}", "'severity' is 5"),
    ("{name: a, type: dir, texts: [great], expect: {label: positive, direction: up}, append: [x], tolerance: abc}",
     "'tolerance' is 'abc'"),
    ('{name: a, type: dir, texts: [great], expect: {label: positive, direction: up}, append: "bad"}',
     "'append' must be a non-empty list"),
    ('{name: a, type: mft, template: "the { is {x}", fill: {x: [a]}, expect: positive}', "does not parse"),
    ("{name: a, type: mft, template: 5, fill: {x: [a]}, expect: positive}", "'template' must be"),
])
def test_behaviour_yaml_bad_values_are_refused_naming_the_test(tmp_path, body, says):
    """Before: a string `texts`/`append` was read letter by letter (or as 'input 5: empty text'), an empty list
    passed with 0 cases, and bad numbers / an unbalanced template brace were ValueError tracebacks."""
    from labeltune.robustness.behaviour import load_tests

    path = _yaml(tmp_path, body)
    with pytest.raises(UserError) as e:
        load_tests(path)
    assert says in str(e.value) and "test 1 (a)" in str(e.value)


def test_behaviour_yaml_good_values_still_load(tmp_path):
    from labeltune.robustness.behaviour import load_tests

    spec = load_tests(_yaml(tmp_path, "{name: a, type: mft, texts: [great, 5], expect: positive, "
                                      "max_failure_rate: 1, max_cases: 3}"))
    assert spec["tests"][0]["max_cases"] == 3
    load_tests(os.path.join(os.path.dirname(__file__), "..", "configs", "behaviour_sentiment.yaml"))


def test_robustness_checks_tests_file_and_compare_before_scoring(clf, tmp_path, monkeypatch):
    """A broken --tests file is refused before any scoring (it was read only after the perturbations and the
    attack had run), and a bad --compare directory is named as --compare (it said --model)."""
    from labeltune import robustness as rb

    data = os.path.join(os.path.dirname(clf), "tiny-data-classification", "train.csv")
    calls = []
    monkeypatch.setattr(rb, "perturbed_sets", lambda *a: calls.append(1) or [])
    bad = _yaml(tmp_path, "{name: a, type: mft, texts: [great], expect: positive, max_cases: abc}")
    with pytest.raises(UserError, match="max_cases"):
        rb.robustness(clf, data, str(tmp_path / "out"), rb.RobustnessOptions(tests=bad, perturbations="case"))
    assert calls == []
    with pytest.raises(UserError, match=r"^--compare .*nowhere: no labeltune.json"):
        rb.robustness(clf, data, str(tmp_path / "out"), rb.RobustnessOptions(compare=str(tmp_path / "nowhere")))


def test_suggest_keeps_pool_columns_named_rank_and_score(clf, tmp_path):
    """Before: a pool with its own `rank`/`score` columns overwrote the suggested order and score in the output."""
    import csv

    from labeltune.active import SuggestOptions, suggest

    pool = tmp_path / "pool.csv"
    pool.write_text("text,rank,score\na fine film,a,b\nawful jokes,c,d\nso-so,e,f\n", encoding="utf-8")
    out = tmp_path / "next.csv"
    suggest(SuggestOptions(model=clf, pool=str(pool), output=str(out), n=2, strategy="entropy"))
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert [r["rank"] for r in rows] == ["1", "2"]
    assert all(float(r["score"]) >= 0 for r in rows)
    assert {(r["input_rank"], r["input_score"]) for r in rows} <= {("a", "b"), ("c", "d"), ("e", "f")}


def test_label_issues_refuses_split_flags_it_would_ignore(tmp_path, monkeypatch):
    """Before: `label-issues --validation dev.csv` (or --test-fraction) was accepted and silently ignored."""
    from labeltune import label_issues

    monkeypatch.setattr(label_issues, "find_label_issues", lambda *a: pytest.fail("should refuse first"))
    base = ["--train", "x.csv", "--output", str(tmp_path / "li")]
    with pytest.raises(UserError, match=r"^--validation: label-issues does not use this flag.*leave it out"):
        label_issues.cli(base + ["--validation", "dev.csv"])
    with pytest.raises(UserError, match=r"^--test-fraction, --save-adapter: .* these flags"):
        label_issues.cli(base + ["--test-fraction", "0.1", "--save-adapter"])


def test_adapter_of_a_relative_base_model_loads_from_another_directory(tiny_bert_dir, tmp_path, monkeypatch):
    """Before: `train --model tiny --peft lora --save-adapter` recorded the base as 'tiny', so `predict --model
    RUN/adapter` from any other working directory failed ("needs its base model 'tiny', which is not there")."""
    import json

    import labeltune
    from tests.trained import write_data

    data = write_data(str(tmp_path / "data"), "classification")
    monkeypatch.chdir(os.path.dirname(tiny_bert_dir))
    out = str(tmp_path / "lora")
    labeltune.train(task="classification", model=os.path.basename(tiny_bert_dir), train=data, output=out,
                    peft="lora", save_adapter=True, max_steps=2, batch_size=4, validation_fraction=0.0,
                    precision="fp32", quiet=True, threads=1)
    meta = json.load(open(os.path.join(out, "adapter", "labeltune.json")))
    assert meta["adapter"]["base_model"] == os.path.abspath(tiny_bert_dir)
    assert "peft" in json.load(open(os.path.join(out, "labeltune.json")))
    monkeypatch.chdir(tmp_path)
    merged = labeltune.load(out).predict(["a moving film"])[0]
    adapted = labeltune.load(os.path.join(out, "adapter")).predict(["a moving film"])[0]
    assert adapted["label"] == merged["label"] and abs(adapted["score"] - merged["score"]) < 1e-3


@pytest.mark.parametrize("given, says", [
    ({"lora_r": 4}, "--lora-r"), ({"peft": "ia3", "lora_dropout": 0.0}, "they need --peft (peft=) lora"),
    ({"target_modules": "query"}, "--target-modules (target_modules=) needs --peft"),
    ({"few_shot_iterations": 3}, "--few-shot-iterations (few_shot_iterations=) needs --few-shot"),
])
def test_peft_and_few_shot_settings_without_their_mode_are_refused(given, says):
    """Before: `train --lora-r 4` (no --peft), `--peft ia3 --lora-dropout 0`, `--target-modules` without --peft
    and `--few-shot-iterations` without --few-shot trained as if the flag had not been given."""
    from labeltune.config import TrainConfig

    with pytest.raises(UserError) as e:
        TrainConfig(**given)
    assert says in str(e.value)
    TrainConfig(peft="lora", lora_r=4, target_modules="query")  # with their mode they are fine
    TrainConfig(few_shot=True, few_shot_iterations=3)


def test_strategy_and_attack_settings_without_their_mode_are_refused():
    """Before: `suggest --strategy entropy --mc-passes 5` / `--candidates 3`, `robustness --budget 0.3` without
    --attack and `curve --no-baseline` without --strategy ran as if the flag had not been given."""
    from labeltune.active import SuggestOptions
    from labeltune.curve import CurveOptions
    from labeltune.robustness import RobustnessOptions

    with pytest.raises(UserError, match=r"^--mc-passes \(mc_passes=\) is for --strategy bald"):
        SuggestOptions(strategy="entropy", mc_passes=5)
    with pytest.raises(UserError, match=r"^--candidates \(candidates=\) is for --strategy diverse"):
        SuggestOptions(strategy="badge", candidates=3)
    SuggestOptions(strategy="bald", mc_passes=5), SuggestOptions(strategy="diverse", candidates=3)
    with pytest.raises(UserError, match=r"^--budget \(budget=\), --neighbours \(neighbours=\): attack settings; add --attack"):
        RobustnessOptions(budget=0.3, neighbours=4)
    RobustnessOptions(attack=True, budget=0.3, neighbours=4, attack_edits="char")
    with pytest.raises(UserError, match="--no-baseline is for --strategy runs"):
        CurveOptions(baseline=False)
    CurveOptions(baseline=False, strategy="entropy")


def test_explain_settings_of_a_part_that_does_not_run_are_refused():
    """Before: `explain --method gxi --n-steps 64` and `--seed 3` without --faithfulness were ignored."""
    from labeltune.explain.core import ExplainOptions

    with pytest.raises(UserError, match=r"^--n-steps \(n_steps=\) is for integrated gradients"):
        ExplainOptions(method="occlusion", n_steps="64")
    with pytest.raises(UserError, match=r"^--seed \(seed=\) seeds the random baseline of --faithfulness"):
        ExplainOptions(seed=3)
    ExplainOptions(method="all", n_steps="64", seed=3, faithfulness=True)


@pytest.mark.parametrize("given, says", [
    ({"epochs": 0.5}, "--epochs (epochs=) 0.5: --few-shot trains whole epochs"),
    ({"max_steps": 3}, "no --max-steps (max_steps=); leave it out"),
    ({"warmup_ratio": 0.0, "rdrop": 1.0}, "--warmup-ratio (warmup_ratio=), --rdrop (rdrop=); leave them out"),
])
def test_few_shot_refuses_loop_settings_it_cannot_honour(given, says):
    """Before: `train --few-shot --epochs 0.5` trained the encoder for int(0.5) = 0 epochs, and --max-steps,
    --warmup-ratio, --rdrop, ... were ignored in silence (SetFit's trainer has its own loop)."""
    from labeltune.config import TrainConfig
    from labeltune.fewshot import check_config

    with pytest.raises(UserError) as e:
        check_config(TrainConfig(few_shot=True, **given))
    assert says in str(e.value)
    check_config(TrainConfig(few_shot=True, epochs=2, lr=1e-4, batch_size=4))


def test_robustness_compare_model_with_other_labels_is_a_clear_error(clf, tiny_bert_dir, tmp_path):
    """Before: `robustness --compare M2` with M2 trained on labels 0/1 (the data says negative/positive) was a
    KeyError traceback from inside the scoring."""
    import labeltune
    from labeltune import robustness as rb

    numeric = tmp_path / "numeric.csv"
    numeric.write_text("text,label\na fine film,1\nawful jokes,0\nso good,1\nso bad,0\n", encoding="utf-8")
    other = str(tmp_path / "other")
    labeltune.train(task="classification", model=tiny_bert_dir, train=str(numeric), output=other, max_steps=1,
                    batch_size=4, validation_fraction=0.0, precision="fp32", quiet=True, threads=1)
    data = os.path.join(os.path.dirname(clf), "tiny-data-classification", "train.csv")
    with pytest.raises(UserError, match=r"^--compare .*other: .*train.csv, line 2: label '(positive|negative)'"):
        rb.robustness(clf, data, str(tmp_path / "out"), rb.RobustnessOptions(compare=other, perturbations="case"))


def test_mft_test_on_a_multi_label_model_checks_membership(tmp_path):
    """Before: a multi-label prediction has "labels", not "label", so every mft case failed ("got": null)."""
    from types import SimpleNamespace

    from labeltune.robustness.behaviour import run_tests

    preds = {"great fun": {"labels": ["fun", "pos"], "scores": {"fun": 0.9, "neg": 0.1, "pos": 0.8}}}
    predictor = SimpleNamespace(task=None, opts=None, rt=SimpleNamespace(setup={"labels": ["fun", "neg", "pos"]}),
                                predict=lambda texts: [preds[t] for t in texts])
    path = tmp_path / "t.yaml"
    path.write_text("tests:\n  - {name: a, type: mft, texts: [great fun], expect: pos}\n"
                    "  - {name: b, type: mft, texts: [great fun], expect: neg}\n", encoding="utf-8")
    a, b = run_tests(str(path), predictor, 0)
    assert a["passed"] and a["failed"] == 0
    assert not b["passed"] and b["failures"] == [{"input": "great fun", "got": ["fun", "pos"], "expected": "neg"}]


def test_curve_recipe_cannot_override_what_curve_sets_itself():
    """Before: `curve --compare "a:seed=1;b:seed=2"` (or train=, output=) was accepted and ignored: every recipe
    ran on the same seeds, data and folders."""
    from labeltune.config import TrainConfig
    from labeltune.curve import parse_recipes

    with pytest.raises(UserError, match=r"^--compare recipe 'b': output, seed cannot differ between recipes"):
        parse_recipes("a:lr=1e-3;b:seed=2,output=x", [TrainConfig])
    with pytest.raises(UserError, match=r"recipe 'a': train cannot differ"):
        parse_recipes({"a": {"train": "other.csv"}}, [TrainConfig])
    assert parse_recipes("full:;lora:peft=lora,lr=5e-4", [TrainConfig]) == [("full", {}),
                                                                           ("lora", {"peft": "lora", "lr": 5e-4})]


def test_curve_refuses_flags_it_would_ignore():
    """Before: `curve --validation-fraction 0.3`, `--resume`, `--save-adapter`, `--overwrite` were accepted and
    ignored (only --validation was refused)."""
    from labeltune.curve import parse_args

    base = ["--train", "x.csv", "--test", "y.csv", "--output", "out"]
    with pytest.raises(UserError, match=r"^--validation-fraction: curve does not use this flag.*leave it out"):
        parse_args(base + ["--validation-fraction", "0.3"])
    with pytest.raises(UserError, match=r"^--resume, --overwrite: curve does not use these flags"):
        parse_args(base + ["--resume", "--overwrite"])
    cfg, _, copts = parse_args(base + ["--sizes", "4,8"])
    assert cfg.train == "x.csv" and copts.sizes == "4,8"


def test_behaviour_tests_a_model_cannot_answer_are_refused_naming_the_test(tmp_path):
    """Before: an mft test on an NER model failed every case ("got": null), and a QA model's "input 0: expected a
    dict" did not say which test of which file."""
    from types import SimpleNamespace

    from labeltune.robustness.behaviour import run_tests

    path = tmp_path / "t.yaml"
    path.write_text("tests:\n  - {name: a, type: mft, texts: [John lives in Rome], expect: B-PER}\n", encoding="utf-8")
    ner = SimpleNamespace(task=SimpleNamespace(name="ner"), opts=None, rt=SimpleNamespace(setup={"labels": ["O", "B-PER"]}),
                          predict=lambda texts: [{"tokens": t.split(), "tags": ["O"] * 4, "entities": []} for t in texts])
    with pytest.raises(UserError, match=r"t.yaml, test 1 \(a\): mft tests check a predicted label .* ner model"):
        run_tests(str(path), ner, 0)

    def refuse(texts):
        raise UserError("input 0: expected a dict with 'question' and 'context' (or a pair), got str")

    qa = SimpleNamespace(task=SimpleNamespace(name="qa"), opts=None, rt=SimpleNamespace(setup={}), predict=refuse)
    with pytest.raises(UserError, match=r"t.yaml, test 1 \(a\): input 0: expected a dict"):
        run_tests(str(path), qa, 0)


@pytest.mark.parametrize("template", ["This is {} and {0}", "{x} is {}", "a { b {}"])
def test_few_shot_template_that_does_not_format_is_refused(template):
    """Before: SetFit's template.format(label) raised ValueError / KeyError tracebacks on these."""
    from labeltune.config import TrainConfig
    from labeltune.fewshot import check_config

    with pytest.raises(UserError, match=r"^--few-shot-template \(few_shot_template=\) .*write a literal brace"):
        check_config(TrainConfig(few_shot=True, few_shot_template=template))
    check_config(TrainConfig(few_shot=True, few_shot_template="It is {}!"))


def test_curve_strategy_on_a_task_without_uncertainty_fails_before_training(tmp_path, tiny_bert_dir, monkeypatch):
    """Before: `curve --task qa --strategy entropy` trained the random baseline and the seed set, then failed."""
    import labeltune.run
    from labeltune.curve import curve, parse_args
    from tests.trained import write_data

    data = write_data(str(tmp_path / "qa"), "qa")
    monkeypatch.setattr(labeltune.run, "train", lambda *a, **k: pytest.fail("trained before refusing"))
    args = parse_args(["--task", "qa", "--model", tiny_bert_dir, "--train", data, "--test", data, "--sizes", "2,3",
                       "--seeds", "1", "--output", str(tmp_path / "out"), "--strategy", "entropy"])
    with pytest.raises(UserError, match="the qa task has no per-row model outputs .*; use --strategy random for qa"):
        curve(*args)


def test_behaviour_yaml_unknown_top_level_key_is_refused(tmp_path):
    """Before: a misspelt 'lables:' mapping was ignored in silence."""
    from labeltune.robustness.behaviour import load_tests

    path = tmp_path / "t.yaml"
    path.write_text("lables: {pos: positive}\ntests:\n  - {name: a, type: mft, texts: [x], expect: pos}\n")
    with pytest.raises(UserError, match=r"unknown top-level key\(s\) lables; known: labels, tests"):
        load_tests(str(path))


def test_adapter_whose_base_is_a_hub_id_is_loaded_through_from_pretrained(clf, tiny_bert_dir, tmp_path, monkeypatch):
    """Before: a base recorded as a hub id (`train --model org/name --peft lora --save-adapter`, the model in the
    Hugging Face cache) was refused because no such path exists, although from_pretrained would find it."""
    import json
    import shutil

    import labeltune
    from labeltune.tasks import get_task

    out = str(tmp_path / "lora")
    data = os.path.join(os.path.dirname(clf), "tiny-data-classification", "train.csv")
    labeltune.train(task="classification", model=tiny_bert_dir, train=data, output=out, peft="lora",
                    save_adapter=True, max_steps=1, batch_size=4, validation_fraction=0.0, precision="fp32",
                    quiet=True, threads=1)
    adapter = str(tmp_path / "adapter")
    shutil.copytree(os.path.join(out, "adapter"), adapter)
    meta = json.load(open(os.path.join(adapter, "labeltune.json")))
    meta["adapter"]["base_model"] = "some-org/tiny-base"
    json.dump(meta, open(os.path.join(adapter, "labeltune.json"), "w"))
    cls = type(get_task("classification"))
    build = cls.build_model
    asked = []
    monkeypatch.setattr(cls, "build_model", lambda self, base, *a: asked.append(base) or build(
        self, tiny_bert_dir if base == "some-org/tiny-base" else base, *a))
    adapted = labeltune.load(adapter).predict(["a moving film"])[0]
    merged = labeltune.load(out).predict(["a moving film"])[0]
    assert asked == ["some-org/tiny-base"] and adapted["label"] == merged["label"]
    meta["adapter"]["base_model"] = str(tmp_path / "gone")
    json.dump(meta, open(os.path.join(adapter, "labeltune.json"), "w"))
    with pytest.raises(UserError, match="needs its base model .*gone', which is not there"):
        labeltune.load(adapter)


def test_kmeans_picks_n_rows_from_a_pool_with_duplicates():
    """Before: `suggest --strategy kmeans --n 4` on a pool of 5 identical rows + 1 other wrote 2 rows (one per
    distinct cluster) and printed sklearn's ConvergenceWarning."""
    import warnings

    import numpy as np

    from labeltune.active import kmeans_picks

    x = np.array([[1.0, 0.0]] * 5 + [[0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning
        picks = kmeans_picks(x, 4, seed=0)
    assert len(picks) == 4 and len({i for i, _ in picks}) == 4 and 5 in {i for i, _ in picks}


def test_explain_says_when_nothing_was_explained(clf, tmp_path, monkeypatch, capsys):
    """Before: `explain --target PER` on inputs with no PER entity wrote an empty page and an empty faithfulness
    table with no word of why (summary "targets": 0)."""
    from labeltune.explain import cli as explain_cli
    from labeltune.explain import core

    monkeypatch.setattr(core, "explain_file", lambda *a, **k: {"task": "ner", "inputs": 1, "targets": 0})
    argv = ["--model", clf, "--input", "x.jsonl", "--output", str(tmp_path / "ex"), "--target", "PER"]
    assert explain_cli.main(argv) == 0
    assert "nothing was explained: no input has a PER prediction" in capsys.readouterr().err
