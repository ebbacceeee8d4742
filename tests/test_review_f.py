"""Review F: data as users bring it to the Parquet, in-memory, IO-tag and text-only-answer paths: lists of dicts
with spans as lists and NaN, Parquet struct columns with nulls, tables without rows, spreadsheets and archives
given to every task."""

from __future__ import annotations

import pytest

import labeltune
from labeltune.data.memory import files_for
from labeltune.errors import UserError
from labeltune.tasks import get_task


def _read(task_name: str, rows, labelled: bool = True, **options) -> list[dict]:
    task = get_task(task_name)
    with files_for({"train": rows}) as given:
        return task.read(given["train"], task.Options(**options), labelled)


def test_a_list_of_dicts_keeps_spans_given_as_lists():
    """[start, end, label] spans (a form the JSONL reader takes) mix numbers and text: Parquet stored the column as
    JSON text, and the reader said "entity spans must be a list, got str"."""
    rows = [{"text": "John lives in Paris", "entities": [[0, 4, "PER"], [14, 19, "LOC"]]},
            {"text": "nothing here", "entities": []}]
    examples = _read("ner", rows)
    assert [e["spans"] for e in examples] == [[(0, 4, "PER"), (14, 19, "LOC")], []]


def test_a_list_of_dicts_keeps_a_dict_of_other_keys_per_row():
    """Parquet gives a dict column the keys of every row: a row of {en, de} read as {en, fr: None, de} and was
    refused as an "empty target" instead of "no 'fr'"."""
    rows = [{"translation": {"en": "Hi", "fr": "Salut"}}, {"translation": {"en": "No", "de": "Nein"}}]
    with pytest.raises(UserError, match=r"train\.json, row 1: no 'fr' in 'translation' \(it has en, de\)"):
        _read("translation", rows, source_lang="en", target_lang="fr")


def test_nan_in_a_list_of_dicts_is_a_missing_value():
    """A NaN label became the class "nan", a NaN text the text "NaN" (pandas' missing value, in rows built by hand
    or by df.to_dict('records'))."""
    with pytest.raises(UserError, match=r"train\.json, row 1: empty label"):
        _read("classification", [{"text": "a fine film", "label": 1.0}, {"text": "dull", "label": float("nan")}])
    with pytest.raises(UserError, match=r"train\.json, row 1: empty text in column 'text'"):
        _read("classification", [{"text": "a fine film", "label": 1}, {"text": float("nan"), "label": 0}])


def test_nan_in_a_parquet_float_label_column_is_a_missing_label(tmp_path):
    """pyarrow and polars keep NaN in a float column (pandas writes null): the row became class "nan"."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = str(tmp_path / "train.parquet")
    pq.write_table(pa.table({"text": ["good", "bad", "fine"], "label": pa.array([1.0, float("nan"), 0.0])}), path)
    task = get_task("classification")
    with pytest.raises(UserError, match=r"train\.parquet, row 1: empty label"):
        task.read(path, task.Options())


def test_qa_answers_struct_with_a_null_answer_start_is_located(tmp_path):
    """A Parquet struct column of rows with and without answer_start has the key in every row, null where it was
    left out: "answers 'text' and 'answer_start' must be lists of the same length"."""
    import pandas as pd

    from labeltune.tasks.qa_read import read_examples

    path = str(tmp_path / "qa.parquet")
    pd.DataFrame({"id": ["a", "b"], "question": ["Where?", "Which?"], "context": ["x France", "Spain y"],
                  "answers": [{"text": ["France"], "answer_start": [2]}, {"text": ["Spain"]}]}).to_parquet(path)
    examples, problems = read_examples(path, get_task("qa").Options())
    assert problems == []
    assert [e["answers"] for e in examples] == [[{"text": "France", "answer_start": 2}],
                                                [{"text": "Spain", "answer_start": 0}]]


def test_a_table_with_columns_and_no_rows_is_refused(tmp_path, tiny_bert_dir):
    """An empty DataFrame saved as Parquet read as no rows: predict and evaluate met an IndexError, train a
    "0 groups" split error; an empty list became the path "" (a hub data set named '')."""
    import pandas as pd

    path = str(tmp_path / "empty.parquet")
    pd.DataFrame({"text": pd.Series([], dtype=str), "label": pd.Series([], dtype=int)}).to_parquet(path)
    for name in ("classification", "ner", "qa", "translation"):
        task = get_task(name)
        with pytest.raises(UserError, match=r"empty\.parquet has columns \(text, label\) but no rows"):
            opts = task.Options(source_lang="en", target_lang="fr") if name == "translation" else task.Options()
            task.read(path, opts)
    with pytest.raises(UserError, match=r"^train=: an empty list: there are no rows"):
        labeltune.train(model=tiny_bert_dir, train=[], output=str(tmp_path / "out"), quiet=True)


@pytest.mark.parametrize("name", ["data.xlsx", "data.conll.gz"])
@pytest.mark.parametrize("task_name", ["ner", "translation"])
def test_a_spreadsheet_or_archive_is_named_by_every_task(tmp_path, task_name, name):
    """NER (CoNLL) and translation (plain text lines) read such a file as text: "line 1: byte 0xee is not valid
    UTF-8", or for labelled translation "a plain-text file holds sources only"."""
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04\xee\xff\x00 not text\n\x80\x81")
    task = get_task(task_name)
    opts = task.Options(source_lang="en", target_lang="fr") if task_name == "translation" else task.Options()
    what = r"it is a spreadsheet: save it" if name.endswith(".xlsx") else r"it is compressed: decompress it first"
    for labelled in (True, False):
        with pytest.raises(UserError, match=rf"{name}.*{what}") as caught:
            task.read(str(path), opts, labelled)
        assert "not valid UTF-8" not in str(caught.value) and "sources only" not in str(caught.value)


def test_debug_data_names_a_spreadsheet_once(tmp_path, capsys):
    """debug-data listed every line of a workbook (a zip) as "byte 0x.. is not valid UTF-8"."""
    from labeltune.cli import main as cli

    book = tmp_path / "labels.xlsx"
    book.write_bytes(b"PK\x03\x04\xee\n\x80\x81\n\xff\xfe\n")
    assert cli(["debug-data", "--task", "ner", "--train", str(book)]) != 0
    out = capsys.readouterr().out
    assert "errors: 1" in out and "it is a spreadsheet" in out and "not valid UTF-8" not in out


def test_a_json_list_of_another_tasks_shape_is_guessed(tmp_path):
    """Rows in memory are written as a JSON list: its first object tells the task, as a JSONL line does."""
    from labeltune.hints import guess_task

    with files_for({"train": [{"tokens": ["John", "sings"], "tags": ["B-PER", "O"]}]}) as given:
        assert guess_task(given["train"]) == "ner"
    path = tmp_path / "rows.json"
    path.write_text('[\n {"question": "q?", "context": "c", "id": "1"}\n]\n', encoding="utf-8")
    assert guess_task(str(path)) == "qa"


def test_an_answer_without_answer_start_that_overlaps_itself_is_ambiguous():
    """"ha ha" occurs at 0 and 3 in "ha ha ha"; non-overlapping matching found it once and took 0 without a word."""
    from labeltune.tasks.qa_read import read_examples

    rows = [{"id": "a", "question": "What did he say?", "context": "ha ha ha", "answers": {"text": ["ha ha"]}}]
    with files_for({"train": rows}) as given:
        examples, problems = read_examples(given["train"], get_task("qa").Options())
    assert examples[0]["answers"] == [] and len(problems) == 1
    assert "occurs 2 times in the context (at [0, 3])" in problems[0]


def test_a_multi_hot_label_vector_is_refused():
    """[0, 1, 0, 1] (a 0/1 per class) was read as the class ids 0 and 1: every row had the labels "0" and "1"."""
    import pandas as pd

    rows = pd.DataFrame({"text": ["a fine film", "dull"], "labels": [[0, 1, 0, 1], [1, 0, 0, 0]]})
    with pytest.raises(UserError, match=r"train\.parquet, row 0: label \[0, 1, 0, 1\] looks like a multi-hot vector"):
        _read("classification", rows, multi_label=True, label_column="labels")
    rows = [{"text": "a fine film", "labels": ["sad", "funny"]}, {"text": "dull", "labels": [0, 1]}]  # ids, once each
    assert [e["labels"] for e in _read("classification", rows, multi_label=True, label_column="labels")] == \
        [["funny", "sad"], ["0", "1"]]


def test_a_hub_test_split_with_label_minus_one_says_what_minus_one_is(tmp_path):
    """GLUE's test splits carry ClassLabel -1 ("no label"); the error said "empty label" of a row that shows -1."""
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    ds = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, -1, -1]}, features=features)
    with pytest.raises(UserError, match=r"train\.parquet, row 1: empty label.*it is -1, `datasets`' 'no label' "
                                        r"\(2 such row\(s\).*ds\.filter\(lambda r: r\['label'\] != -1\)"):
        _read("classification", ds)
    assert [e["text"] for e in _read("classification", ds, labelled=False)] == ["a", "b", "c"]


def test_a_dataset_dict_or_a_dict_of_columns_is_named(tmp_path, tiny_bert_dir):
    """load_dataset(...) without split= gives a DatasetDict, and a notebook's data is often a dict of columns: both
    were "'train' (--train) = a DatasetDict: expected a string"."""
    import datasets

    data = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"], "label": [1]}),
                                 "test": datasets.Dataset.from_dict({"text": ["b"], "label": [0]})})
    with pytest.raises(UserError, match=r"^train=: a dict of splits \(train, test\); give one of them, e.g. "
                                        r"train=data\['train'\]"):
        labeltune.train(model=tiny_bert_dir, train=data, output=str(tmp_path / "out"), quiet=True)
    with pytest.raises(UserError, match=r"^validation=: a dict of columns \(text, label\); give it as rows: "
                                        r"pandas\.DataFrame\(columns\)"):
        labeltune.train(model=tiny_bert_dir, train=data["train"], validation={"text": ["a"], "label": [1]},
                        output=str(tmp_path / "out"), quiet=True)


def test_a_csv_with_pandas_index_says_index_false(tmp_path):
    """df.to_csv(path) writes the index as an unnamed first column: say where it came from and how to leave it out."""
    import pandas as pd

    path = str(tmp_path / "train.csv")
    pd.DataFrame({"text": ["a fine film", "dull"], "label": ["pos", "neg"]}).to_csv(path)
    task = get_task("classification")
    with pytest.raises(UserError, match=r"train\.csv, line 2: column 1 has no name .* holds '0'; name it, or "
                                        r"delete the column \(pandas' index, as df\.to_csv writes it: save with "
                                        r"index=False\)"):
        task.read(path, task.Options())


def test_a_csv_given_to_ner_says_which_files_ner_reads(tmp_path):
    """Kaggle's "Sentence #,Word,POS,Tag" export read as CoNLL said "line 3: 1 column(s) but the first line has 2
    (the tag column is missing?)"; a CSV of texts to predict "4 column(s) but the first line has 1"."""
    task = get_task("ner")
    data = tmp_path / "ner_dataset.csv"
    data.write_text("Sentence #,Word,POS,Tag\nSentence: 1,Thousands,NNS,O\n,of,IN,O\n,London,NNP,B-geo\n")
    texts = tmp_path / "texts.csv"
    texts.write_text("text\nJohn lives in Paris\nMary sings\n")
    for path, labelled in ((data, True), (texts, False)):
        with pytest.raises(UserError, match=r"\.csv, line 1: NER reads CoNLL .* not CSV: save the tokens and tags "
                                            r"tab-separated as \.tsv, or the rows as \.jsonl"):
            task.read(str(path), task.Options(), labelled)


def _classlabel_parquet(path, labels, names=("neg", "pos")):
    """A Parquet file as `datasets` writes it (the ClassLabel feature in its schema), with `labels` as stored."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=list(names))})
    datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(len(labels))], "label": [0] * len(labels)},
                               features=features).to_parquet(str(path))
    schema = pq.read_schema(str(path))
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(len(labels))], "label": labels},
                            schema=schema), str(path))
    return str(path)


def test_a_classlabel_id_out_of_range_is_named(tmp_path):
    """Before: an id past the ClassLabel's names became None and was reported as an "empty label"."""
    path = _classlabel_parquet(tmp_path / "train.parquet", [0, 1, 5])
    task = get_task("classification")
    with pytest.raises(UserError, match=r"train\.parquet, row 2: column 'label' holds the class id 5, but its "
                                        r"ClassLabel feature names 2 classes"):
        task.read(path, task.Options(), True)
    from labeltune.data.readers import read_table

    ok = read_table(_classlabel_parquet(tmp_path / "ok.parquet", [0, 1, -1]))
    assert [r["label"] for r in ok.rows] == ["neg", "pos", None]
    from labeltune.data.arrow import named

    assert named("pos", ["neg", "pos"]) == "pos" and named([1, "neg"], ["neg", "pos"]) == ["pos", "neg"]


def test_spans_mixing_label_and_type_keys_keep_each_rows_type(tmp_path):
    """A Parquet struct of spans gives every row both keys; the null `label` of a row that said `type` won."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"text": "John lives here", "entities": [{"start": 0, "end": 4, "label": "PER"}]},
            {"text": "Ann is here", "entities": [{"start": 0, "end": 3, "type": "PER"}]}]
    path = str(tmp_path / "ner.parquet")
    pq.write_table(pa.Table.from_pylist(rows), path)
    task = get_task("ner")
    assert [e["spans"] for e in task.read(path, task.Options(), True)] == [[(0, 4, "PER")], [(0, 3, "PER")]]


@pytest.mark.parametrize("value, message", [
    ("series", r"train=: a pandas Series holds one column; give a DataFrame"),
    ([("good film", "pos")], r"train=: a list of tuple values, not dicts; give one dict per row"),
    ("generator", r"train=: an iterator \(generator\) can be read only once; give a list of dicts"),
    (({"text": "a", "label": "pos"},), r"train=: a tuple of dicts; give a list of them"),
])
def test_other_containers_of_rows_are_named(value, message, tmp_path):
    """Before: a Series was told to be saved as a file (out of date: DataFrames are taken), the others got
    "expected a string"."""
    import pandas as pd

    value = {"series": pd.Series(["good film", "bad film"]),
             "generator": (r for r in [{"text": "a", "label": "pos"}])}.get(value, value) if isinstance(value, str) \
        else value
    with pytest.raises(UserError, match=message):
        labeltune.train(train=value, output=str(tmp_path / "out"), quiet=True)


def test_text_of_only_invisible_characters_is_empty(tmp_path):
    """A zero-width space or a byte-order mark alone: tokenizers drop them, so the model read nothing (predict
    answered a guess, explain refused it). Now refused like an empty text, naming the characters."""
    clf = get_task("classification")
    path = tmp_path / "t.csv"
    path.write_text("text,label\ngood,pos\n\u200b,neg\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"t\.csv, line 3: text of invisible characters only \(U\+200B\)"):
        clf.read(str(path), clf.Options(), True)
    with pytest.raises(UserError, match=r"row 1: empty source"):
        _read("translation", [{"source": "hi", "target": "hola"}, {"source": "\ufeff", "target": "x"}])
