"""Review 4: labeltune driven from scripts, notebooks and CI jobs (the Python API with odd argument types, --config
files, the report and model card, tracking, exit codes and output files read back by pandas / datasets)."""

from __future__ import annotations

import csv
import json
import pathlib

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
    """labeltune.train(train=Path(...)) was "'train' (--train) = PosixPath(...): expected a string"."""
    data = pathlib.Path(_rows(tmp_path / "train.csv"))
    out = tmp_path / "run"
    metrics = labeltune.train(model=pathlib.Path(tiny_bert_dir), train=data, validation=data, output=out, **_fast())
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
    with pytest.raises(UserError, match=r"learning_curve\(\): validation_fraction is not used by a curve"):
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
    assert main(["train", str(tmp_path / "a" / "config.yaml"), "--output", str(tmp_path / "b")]) == 0
    first = json.loads((tmp_path / "a" / "metrics.json").read_text())
    again = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert again["validation"] == first["validation"] and again["steps"] == first["steps"] == 1
    assert "auto_settings" not in again  # the values chosen the first time are given the second


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
