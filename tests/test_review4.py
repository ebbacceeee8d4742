"""Review 4: labeltune driven from scripts, notebooks and CI jobs (the Python API with odd argument types, --config
files, the report and model card, tracking, exit codes and output files read back by pandas / datasets)."""

from __future__ import annotations

import csv
import json
import pathlib
import re

import pytest

import labeltune
from labeltune.errors import UserError


@pytest.fixture(scope="module")
def clf_run(tmp_path_factory, tiny_bert_dir):
    from trained import tiny_run

    return tiny_run(tmp_path_factory.getbasetemp(), tiny_bert_dir, "classification")


def _fast(**kw):
    return dict(batch_size=4, epochs=1, lr=1e-3, precision="fp32", seed=0, quiet=True, threads=1, **kw)


def _rows(path, rows=None, header=("text", "label")):
    rows = rows or [(f"a wonderful film {i}", "positive") if i % 2 else (f"a dull mess {i}", "negative") for i in range(8)]
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return str(path)


def test_pathlib_paths_are_taken_everywhere(tmp_path, tiny_bert_dir):
    """labeltune.train(train=Path(...)) was "'train' (--train) = PosixPath(...): expected a string"; threads=1 left
    torch on one thread after the call."""
    import torch

    data = pathlib.Path(_rows(tmp_path / "train.csv"))
    out = tmp_path / "run"
    torch.set_num_threads(2)
    metrics = labeltune.train(model=pathlib.Path(tiny_bert_dir), train=data, validation=data, output=out, **_fast())
    assert torch.get_num_threads() == 2  # threads=1 was for the call (the notebook stayed on 1 thread after it)
    json.dumps(metrics)
    predictor = labeltune.load(out)
    assert predictor.predict_file(data, tmp_path / "preds.csv", keep_columns=("label",)) == 8  # a tuple was an AttributeError
    assert "accuracy" in predictor.evaluate(data, predictions=tmp_path / "ev.jsonl")


def test_predict_takes_a_dataframe_and_refuses_none(clf_run):
    """A pandas DataFrame was iterated as its column names: predict(df) predicted the string 'text' in silence;
    predict(None) / load(None) were bare TypeErrors from deep inside."""
    import numpy as np
    import pandas as pd

    predictor = labeltune.load(clf_run)
    texts = ["a moving film", "awful jokes"]
    expected = predictor.predict(texts)
    assert predictor.predict(pd.DataFrame({"text": texts, "id": [1, 2]})) == expected
    assert predictor.predict(pd.Series(texts)) == expected
    assert predictor.predict(np.array(texts)) == expected
    assert predictor.predict(tuple(texts)) == expected
    import datasets

    rows = datasets.Dataset.from_dict({"text": texts, "label": ["positive", "negative"]})
    assert predictor.predict(rows) == expected and predictor.predict(rows["text"]) == expected
    for bad in (None, 5):
        with pytest.raises(UserError, match=r"^predict\(\): got (NoneType|int); give a list of inputs"):
            predictor.predict(bad)
    with pytest.raises(UserError, match=r"^labeltune.load\(\): got NoneType None as the model directory"):
        labeltune.load(None)
    with pytest.raises(UserError, match=r"keep_columns=5: give the column names"):
        predictor.predict_file(clf_run + "/splits/none.csv", "x.csv", keep_columns=5)


def test_learning_curve_takes_compare_as_a_dict_and_refuses_unused_options(tmp_path, tiny_bert_dir):
    """The docstring's compare={"full": {}, "fast": {"lr": 3e-4}} was "'compare' (--compare) = {...}: expected a
    string"; validation_fraction=0.2 (refused by `labeltune curve`) was ignored in silence from Python."""
    data = _rows(tmp_path / "train.csv", [(f"a wonderful film {i}", "positive") if i % 2 else (f"a dull mess {i}",
                                                                                                "negative") for i in range(12)])
    common = dict(model=tiny_bert_dir, train=data, test_fraction=0.34, sizes=[4], seeds=1, max_steps=1,
                  **_fast())
    with pytest.raises(UserError, match=r"learning_curve\(\): validation_fraction is not used here"):
        labeltune.learning_curve(output=str(tmp_path / "c0"), validation_fraction=0.2, **common)
    report = labeltune.learning_curve(output=tmp_path / "c1", compare={"full": {}, "fast": {"lr": 3e-4}}, **common)
    assert report["recipes"] == {"full": {}, "fast": {"lr": 3e-4}}
    assert sorted(p.name for p in (tmp_path / "c1" / "runs").iterdir()) == ["fast", "full"]
    json.dumps(report)


def test_suggest_takes_the_model_s_input_options(clf_run, tmp_path):
    """`labeltune suggest --text-column review` works, labeltune.suggest(text_column="review") was "unknown option
    'text_column'; known keys: batch_size, ..." (the Python API had no way to name the pool's text column)."""
    pool = _rows(tmp_path / "pool.csv", [(f"film number {i}", f"{i:03d}") for i in range(6)], header=("review", "id"))
    chosen = labeltune.suggest(model=pathlib.Path(clf_run), pool=pool, output=str(tmp_path / "next.csv"), n=2,
                               text_column="review")
    assert [r["rank"] for r in chosen] == [1, 2] and all(r["review"].startswith("film number") for r in chosen)
    assert all(isinstance(r["id"], str) and len(r["id"]) == 3 for r in chosen)  # '000' kept as text
    with pytest.raises(UserError, match=r"suggest\(\): unknown option 'text_colum'; did you mean 'text_column'"):
        labeltune.suggest(model=clf_run, pool=pool, output=str(tmp_path / "x.csv"), text_colum="review")


def test_a_run_s_config_yaml_repeats_the_run(tmp_path, tiny_bert_dir, capsys):
    """defaults.py: config.yaml is written "so the run can be repeated"; `labeltune train runs/x/config.yaml` was
    "unknown option 'resolved_model_path'" (and auto_settings, precision_used: what the run resolved)."""
    from labeltune.cli import main

    data = _rows(tmp_path / "train.csv")
    labeltune.train(model=tiny_bert_dir, train=data, validation=data, output=str(tmp_path / "a"), max_steps=1,
                    precision="fp32", quiet=True, threads=1)  # lr, batch size: auto, so recorded in config.yaml
    assert "auto_settings" in (tmp_path / "a" / "config.yaml").read_text()
    assert main(["train", str(tmp_path / "a" / "config.yaml"), "--output", str(tmp_path / "b"), "--overwrite"]) == 0
    first = json.loads((tmp_path / "a" / "metrics.json").read_text())
    again = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert again["validation"] == first["validation"] and again["steps"] == first["steps"] == 1
    assert "auto_settings" not in again  # the values chosen the first time are given the second
    # that run's overwrite=True is not replayed: the run the file came from is not trained over
    config = tmp_path / "b" / "config.yaml"
    assert "overwrite: true" in config.read_text()
    assert main(["train", str(config)]) == 2
    assert "already holds a trained model; pass --overwrite" in capsys.readouterr().err


def test_config_files_by_flag_json_and_their_mistakes(tmp_path, capsys):
    """`--config FILE` (many tools' spelling) was "unrecognized arguments"; a .json config was not read; `task: [a]`
    was a TypeError traceback; a key given twice kept the last value in silence."""
    from labeltune.cli import main

    data = _rows(tmp_path / "train.csv")
    (tmp_path / "c.yaml").write_text(f"train: {data}\n")
    (tmp_path / "c.json").write_text(json.dumps({"train": data, "task": "classification"}))
    for argv in (["--config", str(tmp_path / "c.yaml")], [f"--config={tmp_path / 'c.json'}"], [str(tmp_path / "c.json")]):
        assert main(["debug-data", *argv]) == 0, argv
    for text, words in (("task: [a]\n", "--task ['a']: unknown task"),
                        (f"train: {data}\nepochs: 1\nlr: 1e-4\nepochs: 20\n",
                         "line 4, column 1: not valid YAML ('epochs' is given twice (first on line 2); keep one)")):
        (tmp_path / "bad.yaml").write_text(text)
        capsys.readouterr()
        assert main(["train", "--config", str(tmp_path / "bad.yaml"), "--output", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err


def _copy_run(src, dst, edit_metrics=None, edit_meta=None):
    import shutil

    shutil.copytree(src, dst)
    for name, edit in (("metrics.json", edit_metrics), ("labeltune.json", edit_meta)):
        if edit:
            path = pathlib.Path(dst) / name
            data = json.loads(path.read_text())
            edit(data)
            path.write_text(json.dumps(data))
    return str(dst)


def test_model_card_lists_scores_not_settings_and_says_how_it_was_trained(clf_run, tmp_path):
    """The card's Results and its model-index listed translation's num_beams and neg_loss, QA's null_threshold and
    oracle_* (an upper bound tuned on the data it scores) as metrics; a --peft run's card never said that only
    adapters were trained; a --few-shot card read "Learning rate None"; translation's before-fine-tuning scores and
    sacreBLEU signatures were left out; a validation file that is the training file was not pointed out."""
    from huggingface_hub import ModelCard

    from labeltune.report import main as report

    def scores(m):
        m["validation"].update(num_beams=4, neg_loss=-1.5, null_threshold=0.0, oracle_best_f1=99.0, HasAns_total=5,
                               HasAns_f1=50.0, bleu_signature="nrefs:1|tok:13a")
        m["validation_before"] = {"accuracy": 0.25, "n": 8}
        m["peft"] = {"method": "lora", "r": 8, "lora_alpha": 16.0, "lora_dropout": 0.1, "target_modules": ["query"],
                     "modules_to_save": ["classifier"], "trainable_parameters": 3170, "total_parameters": 1014596,
                     "trainable_percent": 0.3124, "merged": True}

    run = _copy_run(clf_run, tmp_path / "run", edit_metrics=scores)
    assert report(["--model", run]) == 0
    card = ModelCard.load(pathlib.Path(run) / "README.md")
    listed = {r.metric_type for r in card.data.eval_results}
    assert {"accuracy", "HasAns_f1"} <= listed
    assert not listed & {"num_beams", "neg_loss", "null_threshold", "oracle_best_f1", "n", "HasAns_total"}
    results = card.text.split("## Results")[1].split("## Data")[0]
    assert "num_beams" not in results and "oracle" not in results and "null_threshold" not in results
    assert "validation, before fine-tuning (the pretrained model): accuracy 0.25" in results
    assert "`nrefs:1|tok:13a`" in results
    assert "LoRA (r 8, alpha 16.0, dropout 0.1) adapters on query and the head (classifier): 3,170 of 1,014,596" in card.text
    assert "The validation and test data is the training file itself" in card.text  # tiny_run scores on train

    def few_shot(meta):
        meta["setup"]["few_shot"] = {"pooling": "mean", "normalize": False, "iterations": 20, "template": None,
                                     "lr": 2e-05, "epochs": 1, "batch_size": 16, "library": "setfit"}

    run = _copy_run(clf_run, tmp_path / "few", edit_meta=few_shot)
    config = pathlib.Path(run) / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.01", "lr: null"))
    assert report(["--model", run]) == 0
    text = (pathlib.Path(run) / "README.md").read_text()
    assert "Few-shot (setfit's recipe)" in text and "learning rate 2e-05" in text and "Learning rate None" not in text


def test_report_on_a_damaged_or_unfinished_run(clf_run, tmp_path, capsys):
    """An unfinished run (a checkpoint, no labeltune.json) was "is it a directory written by `labeltune train`?";
    labeltune.json without 'setup' was a KeyError traceback, metrics.json's validation as a string an
    AttributeError; without metrics.json the card said "No held-out data was scored" and "None optimizer steps"."""
    import shutil

    from labeltune.cli import main

    unfinished = _copy_run(clf_run, tmp_path / "unfinished")
    (pathlib.Path(unfinished) / "labeltune.json").unlink()
    (pathlib.Path(unfinished) / "checkpoint").mkdir()
    no_setup = _copy_run(clf_run, tmp_path / "no_setup", edit_meta=lambda m: m.pop("setup"))
    text_scores = _copy_run(clf_run, tmp_path / "text_scores", edit_metrics=lambda m: m.update(validation="oops"))
    for run, words in ((unfinished, "it holds an unfinished run; finish it with `labeltune train ... --resume`"),
                       (no_setup, "labeltune.json lacks setup"),
                       (text_scores, "metrics.json: cannot be read ('validation' holds a str where an object belongs)")):
        assert main(["report", "--model", run]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
    no_metrics = _copy_run(clf_run, tmp_path / "no_metrics")
    (pathlib.Path(no_metrics) / "metrics.json").unlink()
    shutil.rmtree(pathlib.Path(no_metrics) / "splits", ignore_errors=True)
    assert main(["report", "--model", no_metrics]) == 0
    card = (pathlib.Path(no_metrics) / "README.md").read_text()
    assert "`metrics.json` is missing, so its scores are unknown" in card
    assert "None" not in card.split("---")[-1] and "No held-out data was scored" not in card


def test_report_to_names_a_missing_package_first_and_mlflow_is_quiet(tmp_path, tiny_bert_dir, monkeypatch, capfd):
    """--report-to mlflow without MLflow installed was a ModuleNotFoundError traceback after the data was read and
    the model loaded; a first MLflow run printed "INFO mlflow.store.db.utils: Creating initial MLflow database
    tables..." on stderr of a quiet Python API call."""
    import sys

    data = _rows(tmp_path / "train.csv")
    with monkeypatch.context() as m:
        for name in ("mlflow", "mlflow.entities", "mlflow.tracking"):
            m.setitem(sys.modules, name, None)  # as if it were not installed
        with pytest.raises(UserError, match=r"^--report-to mlflow: the mlflow-skinny package is not installed; "
                                            r"`pip install mlflow-skinny`"):
            labeltune.train(model=tiny_bert_dir, train=data, output=str(tmp_path / "no"), report_to="mlflow", **_fast())
    assert not (tmp_path / "no").exists()  # refused before any work
    capfd.readouterr()
    labeltune.train(model=tiny_bert_dir, train=data, validation=data, output=str(tmp_path / "run"),
                    report_to="mlflow", max_steps=1, **_fast())
    err = capfd.readouterr().err
    assert "INFO mlflow" not in err and "database tables" not in err, err
    assert (tmp_path / "run" / "mlruns" / "mlflow.db").is_file()


def test_train_takes_a_config_file_or_dict_and_data_frames_are_named(tmp_path, tiny_bert_dir, clf_run):
    """`labeltune train config.yaml --lr X` had no Python twin (labeltune.train("config.yaml") was "takes 0
    positional arguments"); train=df printed the DataFrame's rows as the value; evaluate(df) and predict_file(path,
    None) were TypeErrors from os.stat."""
    import pandas as pd

    data = _rows(tmp_path / "train.csv")
    (tmp_path / "c.yaml").write_text(f"train: {data}\nmodel: {tiny_bert_dir}\nlr: 1e-3\nmax_steps: 1\n")
    labeltune.train(tmp_path / "c.yaml", output=str(tmp_path / "a"), lr=2e-3, validation_fraction=0, quiet=True,
                    precision="fp32", threads=1)
    config = (tmp_path / "a" / "config.yaml").read_text()
    assert "lr: 0.002\n" in config and "max_steps: 1\n" in config  # the file's options, the keywords win
    with pytest.raises(UserError, match=r"positional argument is a config file .* not '.*train.csv'; give the rest "
                                        r"by name, e.g. train=\"data.csv\""):
        labeltune.train(data)
    df = pd.read_csv(data)  # (train= and evaluate() take a DataFrame: tests/test_data_files.py)
    with pytest.raises(UserError, match=r"^labeltune.train\(\): 'model' \(--model\) = a DataFrame: expected a string; "
                                        r"this option takes a path or a name, not rows"):
        labeltune.train(train=data, model=df, output=str(tmp_path / "b"))
    predictor = labeltune.load(clf_run)
    with pytest.raises(UserError, match=r"^predict_file\(\): path is a DataFrame; give a file path .* use predict\(df\)"):
        predictor.predict_file(df, str(tmp_path / "p.jsonl"))
    with pytest.raises(UserError, match=r"^predict_file\(\): output is None; give a file path"):
        predictor.predict_file(data, None)


def test_every_command_has_a_python_function(clf_run, tmp_path, tiny_bert_dir):
    """label-issues, robustness, export and report had no Python API (a notebook had to build the options
    dataclasses from labeltune's internals); `labeltune.robustness` is the subpackage, hence the names."""
    from trained import write_data

    data = write_data(str(tmp_path / "data"), "classification")
    paths = labeltune.write_report(pathlib.Path(clf_run))
    assert paths["card"].endswith("README.md") and pathlib.Path(paths["report"]).is_file()
    rob = labeltune.measure_robustness(pathlib.Path(clf_run), data, tmp_path / "rob", perturbations="case",
                                       severities="0.5", text_column="text")
    assert rob["examples"] == 8 and (tmp_path / "rob" / "robustness.json").is_file()
    issues = labeltune.find_label_issues(model=tiny_bert_dir, train=data, output=tmp_path / "li", folds=2, max_steps=1,
                                         **{k: v for k, v in _fast().items() if k != "epochs"})
    assert issues["examples"] == 8 and (tmp_path / "li" / "label_issues.csv").is_file()
    with pytest.raises(UserError, match=r"find_label_issues\(\): validation_fraction is not used here"):
        labeltune.find_label_issues(train=data, output=str(tmp_path / "li2"), validation_fraction=0.2)
    exported = labeltune.export_onnx(model=pathlib.Path(clf_run), output=tmp_path / "onnx", agreement_examples=4)
    assert exported["onnx"] and (tmp_path / "onnx" / "model.onnx").is_file()
    json.dumps([paths, rob, issues, exported])
    assert {"find_label_issues", "measure_robustness", "export_onnx", "write_report"} <= set(labeltune.__all__)


@pytest.mark.parametrize("key, words, flag_words", [
    ("eval_steps", "did you mean 'eval_every'?", "calls it --eval-every"),  # was "did you mean 'max_steps'?"
    ("save_steps", "did you mean 'save_every'?", "calls it --save-every"),
    ("metric_for_best_model", "did you mean 'metric'?", "calls it --metric"),
    ("fp16", "here: precision: fp16 (--precision fp16)", "here: precision: fp16"),
    ("do_train", "here: train always trains; leave it out", "here: train always trains"),  # was 'train'
    ("evaluation_strategy", "here: eval_every", "here: eval_every"),  # was "did you mean 'validation_fraction'?"
])
def test_hugging_face_trainer_names_get_the_right_hint(tmp_path, capsys, key, words, flag_words):
    from labeltune.cli import main

    (tmp_path / "c.yaml").write_text(f"train: {_rows(tmp_path / 'train.csv')}\n{key}: 1\n")
    assert main(["debug-data", str(tmp_path / "c.yaml")]) == 2
    assert words in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--train", "x.csv", f"--{key}"])
    assert flag_words in capsys.readouterr().err


def test_report_of_a_diverged_run_with_null_probabilities(clf_run, tmp_path):
    """A run whose loss went NaN writes its probabilities as null; the report after training then failed
    ("bad operand type for unary -: 'NoneType'") and `labeltune report` was a traceback."""
    from labeltune.cli import main

    run = _copy_run(clf_run, tmp_path / "nan")
    path = pathlib.Path(run) / "predictions_validation.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        r.update(label="negative", score=None, scores={k: None for k in r["scores"]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["report", "--model", run]) == 0
    assert "Errors" in (pathlib.Path(run) / "report.html").read_text()


def test_a_tracking_server_that_is_not_there_fails_fast(tmp_path, tiny_bert_dir):
    """--tracking-uri http://127.0.0.1:PORT with no server: MLflow retried with backoff for minutes (a CI job hung
    until its limit); now the error names the URI and how to start the server."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = _rows(tmp_path / "train.csv")
    with pytest.raises(UserError, match=rf"^--tracking-uri http://127.0.0.1:{port}: no server answers at "
                                        rf"127.0.0.1:{port} .*mlflow server --host 127.0.0.1 --port {port}"):
        labeltune.train(model=tiny_bert_dir, train=data, validation_fraction=0, output=str(tmp_path / "run"),
                        report_to="mlflow", tracking_uri=f"http://127.0.0.1:{port}", max_steps=1, **_fast())


def test_model_card_base_model_is_a_hub_repository(clf_run, tmp_path):
    """A run from the default model carried `base_model: all-MiniLM-L6-v2`, which names no Hub repository (the Hub
    checks it); a relative local path was given as one too."""
    from huggingface_hub import ModelCard

    from labeltune.cli import main

    for model, expected in (("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
                            ("SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"),
                            ("bert-base-uncased", "bert-base-uncased"), (str(tmp_path), None)):
        run = _copy_run(clf_run, tmp_path / f"run-{model.replace('/', '_')}")
        config = pathlib.Path(run) / "config.yaml"
        config.write_text("".join(f"model: {model}\n" if line.startswith("model:") else line + "\n"
                                  for line in config.read_text().splitlines()))
        assert main(["report", "--model", run]) == 0
        assert ModelCard.load(pathlib.Path(run) / "README.md").data.base_model == expected


def test_report_on_the_adapter_folder_points_to_its_run(clf_run, tmp_path, capsys):
    """`labeltune report --model runs/x/adapter` wrote a card "fine-tuned from `None` (unknown)" with no scores
    into the adapter folder; now it names the run to report."""
    from labeltune.cli import main

    run = _copy_run(clf_run, tmp_path / "run")
    adapter = pathlib.Path(run) / "adapter"
    adapter.mkdir()
    meta = json.loads((pathlib.Path(run) / "labeltune.json").read_text())
    (adapter / "labeltune.json").write_text(json.dumps({**meta, "adapter": {"base_model": "x", "seed": 0}}))
    assert main(["report", "--model", str(adapter)]) == 2
    assert f"is the adapter alone (train --save-adapter), without the run's files; report the run it was saved in: " \
           f"labeltune report --model {run}" in capsys.readouterr().err
    assert not (adapter / "README.md").exists()


def test_model_card_of_an_onnx_export_says_so(clf_run, tmp_path):
    """The card of a `labeltune export` folder suggested exporting it again and claimed plain transformers loads it."""
    from huggingface_hub import ModelCard

    from labeltune.cli import main

    run = _copy_run(clf_run, tmp_path / "onnx", edit_meta=lambda m: m.update(onnx="model.onnx", exported_from="runs/x"))
    assert main(["report", "--model", run]) == 0
    card = ModelCard.load(pathlib.Path(run) / "README.md")
    assert card.data.library_name == "onnx" and "an ONNX export (`model.onnx`) of `runs/x`" in card.text
    assert "labeltune export --model" not in card.text


def test_evaluate_keep_columns_without_predictions_is_refused(clf_run, capsys):
    """`labeltune evaluate --keep-columns id` without --predictions was ignored in silence."""
    from labeltune.cli import main

    assert main(["evaluate", "--model", clf_run, "--data", clf_run.replace("tiny-run", "tiny-data") + "/train.csv",
                 "--keep-columns", "text"]) == 2
    assert "--keep-columns copies input columns into the prediction rows: it needs --predictions FILE" in \
        capsys.readouterr().err


def test_numpy_numbers_are_taken_as_options(tmp_path, tiny_bert_dir):
    """`for bs in np.array([8, 16]): labeltune.train(batch_size=bs, ...)` was "'batch_size' (--batch-size) =
    np.int64(8): expected a whole number" (numpy's scalars are no Python int / bool / float32 float)."""
    import numpy as np

    data = _rows(tmp_path / "train.csv")
    settings = dict(_fast(), batch_size=np.array([4, 8])[0], lr=np.float32(1e-3), quiet=np.bool_(True),
                    seed=np.int32(3))
    labeltune.train(model=tiny_bert_dir, train=data, validation_fraction=0, output=str(tmp_path / "run"), **settings)
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "batch_size: 4\n" in config and "seed: 3\n" in config and "quiet: true\n" in config


def test_load_options_are_converted_like_train_s(tmp_path, tiny_bert_dir):
    """labeltune.load(qa_dir, doc_stride="16") was "'<' not supported between 'str' and 'int'" at predict time, and
    num_beams=2.0 a torch TypeError; train converts the same values ("16", 2.0) from a notebook or the environment."""
    from trained import tiny_run

    qa = tiny_run(tmp_path, tiny_bert_dir, "qa")
    predictor = labeltune.load(qa, doc_stride="16", max_answer_length=30.0)
    assert predictor.opts.doc_stride == 16 and predictor.opts.max_answer_length == 30
    assert predictor.predict({"question": "Whose son was Noah?", "context": "Noah was the son of Lamech."})[0]["answer"]
    with pytest.raises(UserError, match=r"^labeltune.load\(\): 'doc_stride' \(--doc-stride\) = 'x': expected a whole"):
        labeltune.load(qa, doc_stride="x")


def test_a_run_with_damaged_weights_or_no_tokenizer_vocabulary_is_named(clf_run, tmp_path):
    """A model.safetensors cut short (a killed save, a full disk) was a SafetensorError traceback; a run without
    tokenizer.json loaded an empty tokenizer (transformers 5 builds one from tokenizer_config.json alone) and
    predicted every word as [UNK], in silence."""
    cut = _copy_run(clf_run, tmp_path / "cut")
    weights = pathlib.Path(cut) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(UserError, match=r"its weights file cannot be read \(.*\): it was cut short or damaged"):
        labeltune.load(cut)
    no_vocab = _copy_run(clf_run, tmp_path / "no_vocab")
    (pathlib.Path(no_vocab) / "tokenizer.json").unlink()
    with pytest.raises(UserError, match=r"its tokenizer has no vocabulary \(tokenizer.json, or vocab.txt, is missing\)"):
        labeltune.load(no_vocab)


def test_yaml_booleans_where_a_string_belongs_say_to_quote(tmp_path, capsys):
    """`label_names: [yes, no]` in a config (YAML 1.1 reads them as booleans) became the label names "True,False"."""
    from labeltune.cli import main

    data = _rows(tmp_path / "train.csv", [("fine", "yes"), ("bad", "no")] * 4)
    (tmp_path / "c.yaml").write_text(f"train: {data}\nlabel_names: [yes, no]\n")
    assert main(["debug-data", str(tmp_path / "c.yaml")]) == 2
    assert "'label_names' (--label-names) = [True, False]: expected a string; YAML reads yes, no, on, off, true and " \
           "false as booleans: quote them ('yes')" in capsys.readouterr().err
    (tmp_path / "c.yaml").write_text(f"train: {data}\nlabel_names: ['yes', 'no']\n")
    assert main(["debug-data", str(tmp_path / "c.yaml")]) == 0


def test_json_output_is_one_array_as_the_error_now_says(clf_run, tmp_path):
    """The refusal of p.parquet said .json is JSON Lines; a .json output is one JSON array (pandas.read_json reads
    it without lines=True)."""
    import pandas as pd

    data = clf_run.replace("tiny-run", "tiny-data") + "/train.csv"
    predictor = labeltune.load(clf_run)
    assert predictor.predict_file(data, str(tmp_path / "p.json")) == 8
    assert len(pd.read_json(tmp_path / "p.json")) == 8 and isinstance(json.loads((tmp_path / "p.json").read_text()), list)
    with pytest.raises(UserError, match=r"\.jsonl \(JSON Lines; also \.ndjson or no extension\), \.json \(one JSON "
                                        r"array\) or \.parquet"):
        predictor.predict_file(data, str(tmp_path / "p.feather"))
    assert predictor.predict_file(data, str(tmp_path / "p.parquet")) == 8  # Parquet is written too (outputs.write_records)
    rows = pd.read_parquet(tmp_path / "p.parquet")
    assert len(rows) == 8 and {"text", "label", "score"} <= set(rows.columns)


def test_tracking_settings_without_report_to_are_refused():
    """--run-name / --tracking-uri / --tracking-dir without --report-to (or --tracking-uri with tensorboard only)
    were ignored in silence: nothing was tracked and nothing said so."""
    from labeltune.config import TrainConfig

    for settings, words in ((dict(run_name="exp1"), "need --report-to (report_to=) tensorboard and/or mlflow"),
                            (dict(tracking_uri="http://127.0.0.1:5000"), "need --report-to"),
                            (dict(report_to="tensorboard", tracking_uri="sqlite:///x.db"),
                             "--tracking-uri (tracking_uri=) is MLflow's: it needs --report-to (report_to=) mlflow")):
        with pytest.raises(UserError, match=re.escape(words)):
            TrainConfig(train="a.csv", **settings)
    assert TrainConfig(train="a.csv", report_to="mlflow", tracking_uri="sqlite:///x.db", run_name="r").run_name == "r"


def test_an_edited_model_card_is_not_replaced(clf_run, tmp_path, capsys):
    """The card asks its owner to fill in the license; `labeltune report` (e.g. after an export) then replaced the
    edited README.md in silence. An unedited card is still rebuilt."""
    from huggingface_hub import ModelCard

    from labeltune.cli import main

    run = _copy_run(clf_run, tmp_path / "run")
    card = pathlib.Path(run) / "README.md"
    assert main(["report", "--model", run]) == 0  # unedited: rebuilt
    assert ModelCard.load(card).data.pipeline_tag == "text-classification"
    edited = card.read_text().replace("to be filled in by the model's owner", "Apache-2.0")
    card.write_text(edited)
    assert main(["report", "--model", run]) == 2
    assert "README.md was edited since labeltune wrote it; it is kept" in capsys.readouterr().err
    assert card.read_text() == edited


def test_a_compressed_data_file_says_how_to_decompress_it(tmp_path):
    """`--train data.csv.gz` (CI caches keep data compressed) was only "unknown file type '.gz'"."""
    import gzip

    from labeltune.data.readers import read_table

    path = tmp_path / "data.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("text,label\ngood,pos\n")
    with pytest.raises(UserError, match=r"unknown file type '\.gz'.*it is compressed: decompress it first "
                                        r"\(gunzip -k .*data\.csv\.gz\) and give the file inside"):
        read_table(str(path))
