"""Bad input gets a clear error naming the file, the row and the fix; nothing is dropped silently."""

import json

import pytest

from labeltune.cli import main
from labeltune.config import TrainConfig
from labeltune.data.readers import read_table
from labeltune.errors import UserError
from labeltune.tasks.classification import ClassificationOptions, ClassificationTask

TASK = ClassificationTask()
OPTS = ClassificationOptions()


def write(tmp_path, name, content, mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return str(p)


def read(path, **kw):
    return TASK.read(path, ClassificationOptions(**kw))


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read(str(tmp_path / "nope.csv"))


def test_empty_file(tmp_path):
    with pytest.raises(UserError, match="is empty"):
        read(write(tmp_path, "e.csv", ""))
    with pytest.raises(UserError, match="header but no rows"):
        read(write(tmp_path, "h.csv", "text,label\n"))


def test_missing_column_lists_existing_ones(tmp_path):
    p = write(tmp_path, "a.csv", "review,sentiment\ngood,pos\n")
    with pytest.raises(UserError, match=r"no column 'text' \(set by --text-column \(text_column=\)\).*review, sentiment"):
        read(p)


def test_empty_text_names_line(tmp_path):
    p = write(tmp_path, "a.csv", "text,label\ngood,pos\n   ,neg\n")
    with pytest.raises(UserError, match=r"a\.csv, line 3: empty text"):
        read(p)


def test_empty_label_names_line(tmp_path):
    p = write(tmp_path, "a.csv", "text,label\ngood,pos\nbad,\n")
    with pytest.raises(UserError, match=r"line 3: empty label"):
        read(p)


def test_unseen_label_in_validation(tmp_path):
    train = read(write(tmp_path, "t.csv", "text,label\ngood,pos\nbad,neg\n"))
    val = read(write(tmp_path, "v.csv", "text,label\nok,pos\nmeh,neutral\n"))
    setup = TASK.setup(train, OPTS)
    with pytest.raises(UserError, match=r"v\.csv, line 3: label 'neutral' does not occur in the training data"):
        TASK.check(val, setup, OPTS)


def test_single_class(tmp_path):
    train = read(write(tmp_path, "t.csv", "text,label\ngood,pos\nfine,pos\n"))
    with pytest.raises(UserError, match="at least two classes"):
        TASK.setup(train, OPTS)


def test_non_utf8_names_line(tmp_path):
    p = write(tmp_path, "l.csv", b"text,label\ngood,pos\ncaf\xe9,neg\n", mode="wb")
    with pytest.raises(UserError, match=r"l\.csv, line 3: byte 0xe9 is not valid UTF-8"):
        read(p)


def test_malformed_csv_row(tmp_path):
    p = write(tmp_path, "m.csv", "text,label\ngood,pos\nbad,neg,extra\n")
    with pytest.raises(UserError, match=r"m\.csv, line 3: 3 fields but the header has 2"):
        read(p)


def test_malformed_jsonl_line(tmp_path):
    p = write(tmp_path, "m.jsonl", '{"text": "good", "label": "pos"}\n{"text": "bad", label: "neg"}\n')
    with pytest.raises(UserError, match=r"m\.jsonl, line 2: not valid JSON"):
        read(p)


def test_no_rows_dropped_and_unicode_line_breaks_kept(tmp_path):
    # U+0085 inside a field must not split the row (str.splitlines would)
    p = write(tmp_path, "u.csv", 'text,label\n"a\u0085b",pos\n"multi\nline",neg\nplain,pos\n')
    t = read_table(p)
    assert [r["text"] for r in t.rows] == ["a\u0085b", "multi\nline", "plain"]
    assert t.lines == [2, 3, 5]


def test_formats_agree(tmp_path):
    rows = [("good film", "pos"), ("bad film", "neg")]
    csv_p = write(tmp_path, "a.csv", "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    tsv_p = write(tmp_path, "a.tsv", "text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows))
    jsonl_p = write(tmp_path, "a.jsonl", "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    import datasets

    ds_p = str(tmp_path / "ds")
    datasets.Dataset.from_dict({"text": [r[0] for r in rows], "label": [r[1] for r in rows]}).save_to_disk(ds_p)
    outs = [[(e["text"], e["labels"]) for e in read(p)] for p in (csv_p, tsv_p, jsonl_p, ds_p)]
    assert all(o == outs[0] for o in outs)


def test_integer_labels_and_names(tmp_path):
    p = write(tmp_path, "i.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": 0}\n')
    assert [e["labels"] for e in read(p)] == [["1"], ["0"]]
    named = read(p, label_names="negative,positive")
    assert [e["labels"] for e in named] == [["positive"], ["negative"]]
    assert TASK.setup(named, ClassificationOptions(label_names="negative,positive"))["labels"] == ["negative", "positive"]
    with pytest.raises(UserError, match="not an index into --label-names"):
        read(write(tmp_path, "j.jsonl", '{"text": "a", "label": 5}\n'), label_names="negative,positive")


def test_multilabel_list_and_delimited(tmp_path):
    p = write(tmp_path, "m.jsonl", '{"text": "a", "label": ["x", "y"]}\n{"text": "b", "label": "y|z"}\n')
    with pytest.raises(UserError, match="--label-delimiter"):
        read(p, multi_label=True)
    ex = read(p, multi_label=True, label_delimiter="|")
    assert [e["labels"] for e in ex] == [["x", "y"], ["y", "z"]]
    with pytest.raises(UserError, match="--multi-label"):
        read(p)


def test_unknown_config_key_suggests(tmp_path, capsys):
    cfg = write(tmp_path, "c.yaml", "task: classification\nlearning_rate: 0.1\n")
    assert main(["train", cfg]) == 2
    err = capsys.readouterr().err
    assert "unknown option 'learning_rate'" in err and "did you mean" in err


def test_typo_in_yaml_suggests_nearest(tmp_path, capsys):
    cfg = write(tmp_path, "c.yaml", "text_colum: review\n")
    assert main(["train", cfg]) == 2
    assert "did you mean 'text_column'" in capsys.readouterr().err


def test_model_path_that_does_not_exist(tmp_path, capsys):
    train = write(tmp_path, "t.csv", "text,label\ngood,pos\nbad,neg\n")
    code = main(["train", "--train", train, "--model", str(tmp_path / "no-model"), "--output", str(tmp_path / "o")])
    assert code == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_missing_train_flag_is_clear(capsys):
    assert main(["train", "--output", "/tmp/x-labeltune"]) == 2
    assert "--train is required" in capsys.readouterr().err


def test_config_checks_name_the_flag():
    with pytest.raises(UserError, match="--batch-size"):
        TrainConfig(batch_size=0)
    with pytest.raises(UserError, match="--precision"):
        TrainConfig(precision="fp8")
