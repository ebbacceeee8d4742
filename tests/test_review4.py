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
