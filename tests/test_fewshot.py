"""--few-shot (labeltune/fewshot.py): SetFit's recipe, folded into a model labeltune saves and loads."""

import json
import os

import pytest
from contract import ROWS, _close, strip_where
from contract import write_csv as _write

import labeltune
from labeltune.errors import UserError


def test_few_shot_saves_loads_and_predicts_the_same(tmp_path, tiny_bert_dir):
    train = _write(tmp_path / "train.csv", ["text", "label"], ROWS)
    out = str(tmp_path / "fs")
    metrics = labeltune.train(model=tiny_bert_dir, train=train, validation=train, output=out, few_shot=True,
                              few_shot_iterations=4, lr=1e-3, precision="fp32", seed=0, quiet=True)
    assert "auto_settings" not in metrics  # the loop's rule did not choose anything
    files = set(os.listdir(out))
    assert {"few_shot_head.safetensors", "model.safetensors", "labeltune.json"} <= files
    assert not any(f.endswith((".pkl", ".pt", ".bin")) for f in files)  # no pickle
    with open(os.path.join(out, "labeltune.json")) as f:
        meta = json.load(f)
    assert meta["setup"]["few_shot"]["pooling"] == "mean" and meta["setup"]["few_shot"]["iterations"] == 4

    with open(os.path.join(out, "predictions_validation.jsonl")) as f:
        before = strip_where(map(json.loads, f))
    loaded = labeltune.load(out, precision="fp32")
    after = loaded.task.predict(loaded.rt, loaded.task.read(train, loaded.opts, labelled=False))
    keys = ("label", "score", "scores")  # the file also holds the text and the gold label
    assert _close([{k: p[k] for k in keys} for p in before], [{k: p[k] for k in keys} for p in after], 1e-5)
    single = labeltune.load(out, precision="fp32", batch_size=1)
    texts = [r[0] for r in ROWS]
    assert _close(loaded.predict(texts), [single.predict([t])[0] for t in texts], 1e-4)
    assert metrics["validation"]["accuracy"] >= 0.75  # 8 training sentences, scored on themselves


def test_few_shot_refuses_what_it_cannot_do(tmp_path, tiny_bert_dir):
    train = _write(tmp_path / "train.csv", ["text", "label"], ROWS)
    pairs = _write(tmp_path / "pairs.csv", ["a", "b", "label"], [(t, t, lab) for t, lab in ROWS])
    common = dict(model=tiny_bert_dir, few_shot=True, quiet=True, validation_fraction=0.0)
    with pytest.raises(UserError, match="--few-shot: multi-label"):
        labeltune.train(train=train, output=str(tmp_path / "a"), multi_label=True, label_delimiter="|", **common)
    with pytest.raises(UserError, match="--few-shot: sentence pairs"):
        labeltune.train(train=pairs, output=str(tmp_path / "b"), text_column="a", text_pair_column="b", **common)
    with pytest.raises(UserError, match="trains the whole encoder"):
        labeltune.train(train=train, output=str(tmp_path / "c"), peft="lora", **common)
    assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")


def test_few_shot_template_adds_label_examples(tmp_path, tiny_bert_dir, monkeypatch):
    import setfit

    seen = []

    class Recording(setfit.Trainer):  # the data SetFit trains on, as labeltune hands it over
        def __init__(self, *args, **kwargs):
            seen.extend(zip(kwargs["train_dataset"]["text"], kwargs["train_dataset"]["label"]))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(setfit, "Trainer", Recording)
    train = _write(tmp_path / "train.csv", ["text", "label"], ROWS)
    out = str(tmp_path / "fs")
    labeltune.train(model=tiny_bert_dir, train=train, output=out, few_shot=True, few_shot_iterations=2,
                    few_shot_template="This sentence is {}", validation_fraction=0.0, precision="fp32", seed=0,
                    quiet=True)
    with open(os.path.join(out, "labeltune.json")) as f:
        setup = json.load(f)["setup"]
    labels = setup["labels"]
    assert setup["few_shot"]["template"] == "This sentence is {}"
    assert len(seen) == len(ROWS) + 8 * len(labels)
    for i, name in enumerate(labels):  # 8 synthetic rows per label, with that label's index
        assert seen.count((f"This sentence is {name}", i)) == 8
    with pytest.raises(UserError, match="--few-shot-template"):
        labeltune.train(model=tiny_bert_dir, train=train, output=str(tmp_path / "b"), few_shot=True,
                        few_shot_template="no slot", quiet=True)
    with pytest.raises(UserError, match="--few-shot-template"):
        labeltune.train(model=tiny_bert_dir, train=train, output=str(tmp_path / "c"), few_shot_template="a {}", quiet=True)


def test_suggest_and_explain_work_on_a_few_shot_model(tmp_path, tiny_bert_dir):
    """suggest reads hidden states and explain the input embeddings; the few-shot classifier hands over its
    encoder's."""
    train = _write(tmp_path / "train.csv", ["text", "label"], ROWS)
    out = str(tmp_path / "fs")
    labeltune.train(model=tiny_bert_dir, train=train, output=out, few_shot=True, few_shot_iterations=4, lr=1e-3,
                    precision="fp32", seed=0, quiet=True, validation_fraction=0)
    from labeltune.cli import main as cli

    for strategy in ("entropy", "badge", "kmeans"):  # suggest reads the hidden states the classifier hands over
        ranked = tmp_path / f"{strategy}.csv"
        assert cli(["suggest", "--model", out, "--pool", train, "--n", "2", "--strategy", strategy,
                    "--output", str(ranked)]) == 0
        assert len(ranked.read_text().strip().splitlines()) == 3  # header + 2 rows
    predictor = labeltune.load(out, precision="fp32")
    [row] = predictor.explain(["a fine film"])
    [target] = row["targets"]
    assert target["label"] == predictor.predict(["a fine film"])[0]["label"]
    assert len(target["attributions"]["ig"]) == 3 and target["completeness_error"] < 0.05


def test_few_shot_is_quiet_and_names_its_own_recipe(tmp_path, tiny_bert_dir, capfd):
    """SetFit's chatter (its INFO logging, datasets' bars, the log dicts, torch's pin_memory warning) stays out of
    the console, and the small-data rule's "auto settings" line, which SetFit does not follow, is not printed."""
    train = _write(tmp_path / "train.csv", ["text", "label"], ROWS)
    capfd.readouterr()
    labeltune.train(model=tiny_bert_dir, train=train, output=str(tmp_path / "fs"), few_shot=True,
                    few_shot_iterations=2, precision="fp32", seed=0, quiet=True, validation_fraction=0)
    out, err = capfd.readouterr()
    console = out + err
    for chatter in ("Running training", "model_head.pkl", "Map", "embedding_loss", "pin_memory", "auto settings"):
        assert chatter not in console, console
    assert "few-shot (setfit): 2 pair iterations, batch size 16, 1 epoch(s)" in console
