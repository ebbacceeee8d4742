"""What the audit found around a run: --overwrite, the output folder of a refused run, empty splits, option
types from YAML and Python, --max-length and --precision limits, YAML with flags, tune's refit reuse."""

from __future__ import annotations

import collections
import csv
import json
import os

import pytest
import yaml

import labeltune
from labeltune.cli import main, parse_train_like
from labeltune.data.split import grouped_stratified_split
from labeltune.errors import UserError


def _rows(rt_csv, path, n: int) -> str:
    with open(rt_csv, newline="") as f:
        rows = list(csv.reader(f))[: n + 1]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return str(path)


def _quick(model, train, out, **extra):
    return dict(model=model, train=train, output=str(out), max_steps=2, batch_size=8, precision="fp32", quiet=True,
                threads=1, max_length=32, **extra)


# --- --overwrite ----------------------------------------------------------------------------------------
def test_overwrite_removes_only_labeltune_files(tmp_path, tiny_bert_dir, rt_csv):
    train = _rows(rt_csv, tmp_path / "t.csv", 60)
    out = tmp_path / "run"
    labeltune.train(**_quick(tiny_bert_dir, train, out, validation_fraction=0.2, test_fraction=0.2))
    assert (out / "predictions_test.jsonl").exists()
    (out / "notes.txt").write_text("my notes")  # the user's own file in the output folder
    with pytest.raises(UserError, match="--overwrite"):
        labeltune.train(**_quick(tiny_bert_dir, train, out, validation_fraction=0.2))
    labeltune.train(**_quick(tiny_bert_dir, train, out, validation_fraction=0.2, overwrite=True))
    assert (out / "notes.txt").read_text() == "my notes"
    assert not (out / "predictions_test.jsonl").exists(), "a stale file of the replaced run is left"
    assert (out / "model.safetensors").exists() and (out / "labeltune.json").exists()
    with open(out / "labeltune.json") as f:
        assert "model.safetensors" in json.load(f)["files"]


def test_overwrite_refuses_a_folder_labeltune_did_not_write(tmp_path, tiny_bert_dir, rt_csv):
    train = _rows(rt_csv, tmp_path / "t.csv", 60)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="not labeltune's output .*thesis.tex"):
        labeltune.train(**_quick(tiny_bert_dir, train, foreign, overwrite=True))
    assert os.listdir(foreign) == ["thesis.tex"]
    # a folder with a file of a name train writes (a user's config.yaml) is never written into
    (foreign / "config.yaml").write_text("lr: 1\n")
    assert main(["train", "--model", tiny_bert_dir, "--train", train, "--output", str(foreign), "--max-steps", "1",
                 "--quiet"]) == 2
    assert (foreign / "config.yaml").read_text() == "lr: 1\n"


def test_a_refused_run_leaves_no_output_folder(tmp_path, tiny_bert_dir, rt_csv):
    train = _rows(rt_csv, tmp_path / "t.csv", 60)
    out = tmp_path / "never"
    with pytest.raises(UserError, match="review"):
        labeltune.train(**_quick(tiny_bert_dir, train, out, text_column="review"))
    assert not out.exists()
    kept = tmp_path / "existing"
    kept.mkdir()
    with pytest.raises(UserError):
        labeltune.train(**_quick(tiny_bert_dir, train, kept, text_column="review"))
    assert kept.exists() and os.listdir(kept) == []  # made by the user: kept, and empty again


# --- splits ----------------------------------------------------------------------------------------------
def test_small_strata_still_give_the_requested_share():
    groups = list(range(30))
    strata = [i % 7 for i in range(30)]  # 7 labels of 4-5 rows: rounding per label gave 0 validation rows
    val, test, train = grouped_stratified_split(groups, strata, [0.1, 0.2], seed=0)
    assert (len(val), len(test), len(train)) == (3, 6, 21)
    assert sorted(val + test + train) == list(range(30))
    # larger data: totals follow the fractions, label shares hold
    rows = [f"t{i // 2}" for i in range(1000)]
    labels = [("a", "b", "c")[(i // 2) % 3 % 2 + (i // 2 % 11 == 0)] for i in range(1000)]
    val, test, train = grouped_stratified_split(rows, labels, [0.15, 0.1], seed=1)
    assert (len(val) // 2, len(test) // 2) == (75, 50)
    overall = collections.Counter(labels[i] for i in range(0, 1000, 2))
    for part in (val, test):
        share = collections.Counter(labels[i] for i in part)
        for label, n in overall.items():
            assert abs(share[label] / len(part) - n / 500) < 0.02


def test_an_empty_requested_split_is_an_error(tmp_path, tiny_bert_dir):
    train = tmp_path / "tiny.csv"
    train.write_text("text,label\n" + "".join(f"sentence {i},{'pos' if i % 2 else 'neg'}\n" for i in range(4)))
    with pytest.raises(UserError, match=r"--validation-fraction 0\.1 .*empty validation split.*0\.13.*--validation"):
        labeltune.train(**_quick(tiny_bert_dir, str(train), tmp_path / "o", validation_fraction=0.1))
    with pytest.raises(UserError, match=r"--test-fraction"):
        labeltune.train(**_quick(tiny_bert_dir, str(train), tmp_path / "o", validation_fraction=0.25,
                                 test_fraction=0.05))


# --- option types and limits ------------------------------------------------------------------------------
def test_yaml_values_are_coerced_and_bad_ones_named(tmp_path):
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("lr: 3e-5\nbatch_size: '16'\nepochs: 2\nmulti_label: 'no'\nlabel_names: [neg, pos]\n")
    (cfg, opts), _ = parse_train_like("train", [str(cfg_file)])
    assert cfg.lr == 3e-5 and isinstance(cfg.lr, float) and cfg.batch_size == 16 and cfg.epochs == 2.0
    assert opts.multi_label is False and opts.label_names == "neg,pos"
    cfg_file.write_text("lr: fast\n")
    with pytest.raises(UserError, match=r"run\.yaml: 'lr' \(--lr\) = 'fast': expected a number"):
        parse_train_like("train", [str(cfg_file)])
    cfg_file.write_text("batch_size: 2.5\n")
    with pytest.raises(UserError, match=r"'batch_size' \(--batch-size\) = 2.5: expected a whole number"):
        parse_train_like("train", [str(cfg_file)])


def test_api_values_are_coerced_and_checked(tmp_path):
    with pytest.raises(UserError, match=r"labeltune\.train\(\): 'epochs' \(--epochs\) = 'three'"):
        labeltune.train(train="x.csv", output=str(tmp_path / "o"), epochs="three")
    with pytest.raises(UserError, match="--log-every"):
        labeltune.train(train="x.csv", output=str(tmp_path / "o"), log_every=0)
    with pytest.raises(UserError, match="--quiet"):
        labeltune.train(train="x.csv", output=str(tmp_path / "o"), quiet="maybe")


def test_max_length_beyond_the_position_embeddings_is_refused(tmp_path, tiny_bert_dir, rt_csv):
    train = _rows(rt_csv, tmp_path / "t.csv", 40)
    code = main(["train", "--model", tiny_bert_dir, "--train", train, "--output", str(tmp_path / "o"),
                 "--max-length", "600", "--max-steps", "1", "--quiet"])
    assert code == 2 and not (tmp_path / "o").exists()
    with pytest.raises(UserError, match=r"--max-length 600: the model has position embeddings for 512 tokens"):
        labeltune.train(**{**_quick(tiny_bert_dir, train, tmp_path / "o"), "max_length": 600})


def test_yaml_with_flags_that_win(tmp_path, tiny_bert_dir, rt_csv, capsys):
    """`labeltune train config.yaml --lr 3e-5`: the flag replaces the YAML key; the other keys hold."""
    train = _rows(rt_csv, tmp_path / "t.csv", 60)
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(yaml.safe_dump({"model": tiny_bert_dir, "train": train, "lr": 1e-3, "batch_size": 4,
                                        "max_steps": 2, "max_length": 24, "precision": "fp32", "quiet": True}))
    out = tmp_path / "o"
    assert main(["train", str(cfg_file), "--lr", "3e-5", "--output", str(out)]) == 0
    with open(out / "config.yaml") as f:
        used = yaml.safe_load(f)
    assert used["lr"] == 3e-5 and used["batch_size"] == 4 and used["max_length"] == 24
    with open(out / "metrics.json") as f:
        assert json.load(f)["steps"] == 2
    # evaluate / predict: an unknown precision is one clear error, not a traceback
    assert main(["predict", "--model", str(out), "--input", train, "--output", str(tmp_path / "p.jsonl"),
                 "--precision", "fp8"]) == 2
    assert "--precision fp8: must be auto, bf16, fp16 or fp32" in capsys.readouterr().err


# --- tune: the refit is reused only for the same data ---------------------------------------------------
def test_tune_refits_again_for_another_test_file(rt_csv, tiny_bert_dir, tmp_path, monkeypatch):
    import sys

    import labeltune.tune as tune_mod
    from labeltune import run

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tune_worker

    with open(rt_csv, newline="") as f:
        header, *rows = list(csv.reader(f))
    files = {}
    for name, part in (("train", rows[:100]), ("a", rows[100:120]), ("b", rows[120:150])):
        files[name] = str(tmp_path / f"{name}.csv")
        with open(files[name], "w", newline="") as f:
            csv.writer(f).writerows([header, *part])
    refits = []

    def fake_train(cfg, opts, examples=None, setup=None, save_model=True):  # the refit, without training
        os.makedirs(cfg.output, exist_ok=True)
        metrics = {"test": {"accuracy": 0.5, "n": len(examples[2])}, "wall_seconds": 0.0}
        with open(os.path.join(cfg.output, "metrics.json"), "w") as f:
            json.dump(metrics, f)
        refits.append(len(examples[2]))
        return metrics

    monkeypatch.setattr(tune_mod, "run_fold", tune_worker.fake_run_fold)
    monkeypatch.setattr(run, "train", fake_train)
    out = str(tmp_path / "tune")

    def tune(test):
        (cfg, opts, topts), _ = parse_train_like("tune", ["--train", files["train"], "--test", test, "--output", out,
                                                          "--model", tiny_bert_dir, "--folds", "2", "--lrs", "1e-4",
                                                          "--epochs", "1", "--quiet"])
        return tune_mod.tune(cfg, opts, topts)

    assert tune(files["a"])["refit"]["test"]["n"] == 20
    assert tune(files["b"])["refit"]["test"]["n"] == 30, "the refit of the first --test file was reported"
    assert tune(files["b"])["refit"]["test"]["n"] == 30 and refits == [20, 30]  # same data: reused


# --- a missing set-up step fails `make test` -----------------------------------------------------------
def test_missing_setup_fails_unless_skipping_is_allowed(tmp_path):
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    (tmp_path / "test_needs.py").write_text(
        "import pytest\nfrom setup_check import missing, requires\n\n"
        "@requires(False, 'run scripts/install_thing.sh')\n@pytest.mark.parametrize('x', [1])\n"
        "def test_decorated(tmp_path, x):\n    pass\n\n"
        "def test_called():\n    missing('run scripts/install_other.sh')\n\n"
        "@requires(True, 'never shown')\ndef test_present():\n    pass\n")

    def run(allow: str) -> str:
        env = {**os.environ, "PYTHONPATH": here, "LABELTUNE_ALLOW_SKIP": allow}
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider", str(tmp_path)],
                              capture_output=True, text=True, env=env, cwd=tmp_path).stdout

    strict = run("0")
    assert "2 failed, 1 passed" in strict and "install_thing.sh" in strict and "install_other.sh" in strict
    assert "1 passed, 2 skipped" in run("1")
