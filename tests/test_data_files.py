"""Data files as users bring them: Parquet (the Hugging Face hub's own format) read by every task as rows, class ids
become their names where the file carries `datasets` features, splits carved from one written back as Parquet, a
bad file named; a spreadsheet gets how to save it as CSV."""

from __future__ import annotations

import os

import pytest

import labeltune
from labeltune.errors import UserError
from labeltune.tasks import get_task


def _parquet(path, columns: dict, features=None) -> str:
    import datasets

    datasets.Dataset.from_dict(columns, features=features).to_parquet(str(path))
    return str(path)


def test_classification_parquet_with_class_names_trains_and_splits_back(tmp_path, tiny_bert_dir):
    import datasets

    texts = [f"{w} film number {i}" for i in range(10) for w in ("a fine", "a dull")]
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    path = _parquet(tmp_path / "train.parquet", {"text": texts, "label": [1, 0] * 10}, features)
    task = get_task("classification")
    rows = task.read(path, task.Options())
    assert [r["labels"] for r in rows[:2]] == [["positive"], ["negative"]]  # the names, not 1 / 0
    assert rows[3]["_where"] == f"{path}, row 3"

    out = str(tmp_path / "out")
    labeltune.train(model=tiny_bert_dir, train=path, output=out, epochs=1, batch_size=4, precision="fp32",
                    validation_fraction=0.2, test_fraction=0.2, seed=0, quiet=True)
    split = os.path.join(out, "splits", "test.parquet")
    assert os.path.isfile(split)
    back = task.read(split, task.Options())
    assert len(back) == 4 and {r["labels"][0] for r in back} <= {"negative", "positive"}
    metrics = labeltune.load(out, precision="fp32").evaluate(split)
    assert 0.0 <= metrics["accuracy"] <= 1.0


def test_ner_parquet_with_ner_tags_names(tmp_path):
    import datasets

    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"]))})
    path = _parquet(tmp_path / "ner.parquet", {"tokens": [["John", "Smith", "sings"], ["Mary", "left"]],
                                               "ner_tags": [[1, 2, 0], [1, 0]]}, features)
    task = get_task("ner")
    rows = task.read(path, task.Options())
    assert [r["tags"] for r in rows] == [["B-PER", "I-PER", "O"], ["B-PER", "O"]]


def test_a_parquet_file_of_another_task_gets_the_task_hint(tmp_path):
    from labeltune.cli import main as cli
    from labeltune.hints import guess_task

    path = _parquet(tmp_path / "ner.parquet", {"tokens": [["John", "sings"]], "ner_tags": [["B-PER", "O"]]})
    assert guess_task(path) == "ner"
    assert cli(["train", "--train", path, "--output", str(tmp_path / "o")]) == 2


def test_a_file_that_is_not_parquet_is_named(tmp_path):
    bad = tmp_path / "train.parquet"
    bad.write_text("text,label\ngood,pos\n")
    task = get_task("classification")
    with pytest.raises(UserError, match=r"train.parquet: not a readable Parquet file .*save the data as \.csv"):
        task.read(str(bad), task.Options())


def test_debug_data_reads_parquet_without_byte_complaints(tmp_path, capsys):
    """debug-data's line-by-line UTF-8 check is for text files; a Parquet file is binary."""
    from labeltune.cli import main as cli

    path = _parquet(tmp_path / "d.parquet", {"text": ["good film", "bad film", "fine film", "awful film"],
                                            "label": ["pos", "neg", "pos", "neg"]})
    assert cli(["debug-data", "--task", "classification", "--train", path]) == 0
    out = capsys.readouterr().out
    assert "UTF-8" not in out and "errors: 0" in out


def test_a_spreadsheet_gets_how_to_save_it(tmp_path):
    book = tmp_path / "labels.xlsx"
    book.write_bytes(b"PK\x03\x04 not really a workbook")
    task = get_task("classification")
    with pytest.raises(UserError, match=r"labels.xlsx: unknown file type '.xlsx'.*save it .* as CSV UTF-8"):
        task.read(str(book), task.Options())


@pytest.mark.parametrize("task_name", ["classification", "ner", "qa", "translation"])
def test_a_hub_data_set_id_gets_how_to_save_a_split(task_name, tmp_path, monkeypatch):
    """labeltune reads files, never the network: `--train user/name` says how to save a split with `datasets`; a
    missing file with an extension just does not exist."""
    monkeypatch.chdir(tmp_path)
    task = get_task(task_name)
    with pytest.raises(UserError, match=r"^someone/reviews does not exist; if 'someone/reviews' is a Hugging Face hub "
                                        r"data set, .*load_dataset\('someone/reviews', split='train'\)\.to_parquet"):
        task.read("someone/reviews", task.Options())
    with pytest.raises(UserError, match=r"^missing\.csv does not exist$"):
        task.read("missing.csv", task.Options())


def test_the_python_api_takes_rows_in_memory(tmp_path, tiny_bert_dir):
    """A notebook's data: a pandas DataFrame, a datasets.Dataset (its ClassLabel names kept) or a list of dicts as
    train= / validation=, and to evaluate(); a bad row is named by its position; no temporary file is left."""
    import glob
    import tempfile

    import datasets
    import pandas as pd

    texts = [f"{w} film number {i}" for i in range(8) for w in ("a fine", "a dull")]
    df = pd.DataFrame({"text": texts, "label": ["pos", "neg"] * 8}, index=range(100, 116))  # the index is not used
    ds = datasets.Dataset.from_dict({"text": texts[:6], "label": [1, 0] * 3}, features=datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}))
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "labeltune-data-*")))
    out = str(tmp_path / "out")
    metrics = labeltune.train(model=tiny_bert_dir, train=df, validation=ds, output=out, epochs=1, batch_size=4,
                              precision="fp32", quiet=True)
    assert "accuracy" in metrics["validation"]
    model = labeltune.load(out, precision="fp32")
    assert set(model.rt.setup["labels"]) == {"neg", "pos"}
    rows = [{"text": t, "label": lab} for t, lab in zip(texts[:4], ["pos", "neg", "pos", "neg"])]
    assert model.evaluate(rows)["n"] == 4 and model.evaluate(df)["n"] == 16
    chosen = labeltune.suggest(model=out, pool=df[["text"]], output=str(tmp_path / "next.csv"), n=3)
    assert len(chosen) == 3 and os.path.isfile(tmp_path / "next.csv")
    report = labeltune.measure_robustness(out, df, str(tmp_path / "rob"), perturbations="case", severities="0.5")
    assert os.path.isfile(tmp_path / "rob" / "robustness.json") and report
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "labeltune-data-*"))) == before

    bad = df.copy()
    bad.iloc[5, 0] = "   "
    with pytest.raises(UserError, match=r"train\.parquet, row 5: empty text"):
        labeltune.train(model=tiny_bert_dir, train=bad, output=str(tmp_path / "bad"), epochs=1, quiet=True)


def test_parquet_output_keeps_every_rows_columns_and_mixed_types(tmp_path):
    """pyarrow's from_pylist keeps the first row's keys only: a column that starts in a later row (a gold field,
    a kept id) was dropped in silence; a column of numbers and text could not be written at all."""
    import pandas as pd

    from labeltune.outputs import write_records

    path = write_records(str(tmp_path / "sub" / "p.parquet"), [
        {"text": "a", "entities": []},
        {"text": "b", "entities": [{"text": "J", "start": 0, "end": 1, "score": 0.5}], "gold": ["B-PER"]},
        {"text": "c", "id": 7}, {"text": "d", "id": "x-8"}])
    rows = pd.read_parquet(path)
    assert list(rows.columns) == ["text", "entities", "gold", "id"]
    assert list(rows["id"])[2:] == ["7", "x-8"] and rows["gold"][1].tolist() == ["B-PER"]
    assert [f for f in os.listdir(tmp_path / "sub")] == ["p.parquet"]  # no temporary file left
