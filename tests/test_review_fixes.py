"""Regressions for bugs found by reviewing the commands as a new user would run them (bad output paths, an
output that is the input itself, half-written result files, a model fine-tuned for another task).

Every CLI case must end with exit status 2 and one line on stderr naming the path and the fix, never a traceback.
"""

from __future__ import annotations

import json
import os

import pytest
from trained import tiny_run

from labeltune.cli import main
from labeltune.errors import UserError
from labeltune.files import write_jsonl
from labeltune.outputs import write_records


@pytest.fixture(scope="module")
def clf(tmp_path_factory, tiny_bert_dir) -> str:
    return tiny_run(tmp_path_factory.mktemp("review-clf"), tiny_bert_dir, "classification")


@pytest.fixture()
def files(tmp_path):
    data = tmp_path / "in.csv"
    data.write_text("text,label\na moving film,positive\nawful jokes,negative\n", encoding="utf-8")
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder\n", encoding="utf-8")
    return data, blocker


def _run_cli(argv, capsys) -> str:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, f"exit status {code}, stderr:\n{err}"
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_predict_output_below_a_file_is_a_user_error(clf, files, capsys):
    data, blocker = files
    line = _run_cli(["predict", "--model", clf, "--input", data, "--output", blocker / "p.jsonl"], capsys)
    assert "afile is a file, not a folder" in line and "--output" in line
    assert blocker.read_text() == "not a folder\n"


@pytest.mark.parametrize("where", ["folder", "below-file"])
def test_evaluate_output_that_cannot_be_a_file(clf, files, tmp_path, capsys, where):
    data, blocker = files
    output = tmp_path if where == "folder" else blocker / "m.json"
    line = _run_cli(["evaluate", "--model", clf, "--data", data, "--output", output], capsys)
    assert str(output) in line and ("is a folder" in line or "is a file, not a folder" in line)


@pytest.mark.parametrize("command", ["predict", "evaluate-output", "evaluate-predictions"])
def test_output_that_is_the_input_is_refused_and_the_input_kept(clf, files, capsys, command):
    data, _ = files
    before = data.read_bytes()
    argv = {"predict": ["predict", "--model", clf, "--input", data, "--output", data],
            "evaluate-output": ["evaluate", "--model", clf, "--data", data, "--output", data],
            "evaluate-predictions": ["evaluate", "--model", clf, "--data", data, "--predictions", data]}[command]
    line = _run_cli(argv, capsys)
    assert "is the input file itself" in line
    assert data.read_bytes() == before


@pytest.mark.parametrize("error, expected", [
    (NotADirectoryError(20, "Not a directory", "afile/s.csv"), "afile/s.csv: a file stands where a folder is needed"),
    (FileExistsError(17, "File exists", "afile"), "afile: a file stands where a folder is needed"),
    (PermissionError(13, "Permission denied", "/root/x"), "/root/x: permission denied"),
    (OSError(28, "No space left on device", "big.bin"), "big.bin: no space left on the device"),
])
def test_os_error_of_a_command_is_one_line(monkeypatch, capsys, error, expected):
    """A command that lets a file-system error on a path escape (suggest, robustness did) gets one line, exit 2."""
    import labeltune.report

    def fails(argv):
        raise error

    monkeypatch.setattr(labeltune.report, "main", fails)
    line = _run_cli(["report", "--model", "m"], capsys)
    assert line.startswith("labeltune report: error: ") and expected in line


def test_os_error_without_a_path_is_not_hidden(monkeypatch):
    import labeltune.report

    def fails(argv):
        raise OSError("a bug, not the user's path")

    monkeypatch.setattr(labeltune.report, "main", fails)
    with pytest.raises(OSError):
        main(["report", "--model", "m"])


def test_train_from_a_model_fine_tuned_for_another_task(clf, tmp_path, capsys):
    conll = tmp_path / "n.conll"
    conll.write_text("John B-PER\nlives O\nin O\nParis B-LOC\n\nAnna B-PER\nmet O\nPeter B-PER\n", encoding="utf-8")
    line = _run_cli(["train", "--task", "ner", "--model", clf, "--train", conll, "--output", tmp_path / "o",
                     "--validation-fraction", "0", "--max-steps", "1"], capsys)
    assert "its saved head does not fit" in line and clf in line


@pytest.mark.parametrize("name", ["p.jsonl", "p.csv"])
def test_result_files_are_written_whole_or_not_at_all(tmp_path, name):
    path = tmp_path / name
    write_records(str(path), [{"a": 1}])
    old = path.read_bytes()
    with pytest.raises((TypeError, ValueError)):  # a value JSON cannot hold, in the second row
        write_records(str(path), [{"a": 2}, {"a": {"nested": object()}}])
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == [name]  # no temporary file left behind
    with pytest.raises(UserError, match="is a folder"):
        write_records(str(tmp_path), [{"a": 1}])


def test_write_jsonl_is_atomic(tmp_path):
    path = tmp_path / "sub" / "r.jsonl"
    write_jsonl(path, [{"a": "✓"}])
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": "✓"}

    def rows():
        yield {"a": 1}
        raise RuntimeError("the producer failed half-way")

    with pytest.raises(RuntimeError):
        write_jsonl(path, rows())
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": "✓"}
    assert os.listdir(tmp_path / "sub") == ["r.jsonl"]


@pytest.mark.parametrize("name, damage, expected", [
    ("metrics.json", b"{bad", "metrics.json: cannot be read"),
    ("train_log.jsonl", b"\ngarbage\n", "train_log.jsonl, line "),
    ("config.yaml", b"\xff\xfe", "config.yaml: cannot be read"),
])
def test_report_on_a_damaged_run_file_names_it(clf, tmp_path, capsys, name, damage, expected):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(clf, run)
    with open(run / name, "ab") as f:
        f.write(damage)
    line = _run_cli(["report", "--model", run], capsys)
    assert expected in line and "restore or delete this file" in line


@pytest.mark.parametrize("content, expected", [("{bad", "labeltune.json cannot be read"),
                                               ("[1]", "labeltune.json lacks task")])
@pytest.mark.parametrize("command", ["predict", "serve"])
def test_damaged_labeltune_json_is_a_user_error(clf, tmp_path, files, capsys, content, expected, command):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(clf, run)
    (run / "labeltune.json").write_text(content, encoding="utf-8")
    argv = (["predict", "--model", run, "--input", files[0], "--output", tmp_path / "p.jsonl"] if command == "predict"
            else ["serve", "--model", run, "--port", "1"])  # fails while loading, before it listens
    line = _run_cli(argv, capsys)
    assert expected in line and str(run) in line


def test_tune_keeps_a_folds_folder_the_user_had_in_output(tmp_path, tiny_bert_dir, capsys):
    """tune's fold runs live in <output>/folds; it used to rmtree that folder, with whatever the user kept there."""
    from trained import write_data

    data = write_data(str(tmp_path / "data"), "classification")
    out = tmp_path / "out"
    (out / "folds").mkdir(parents=True)
    (out / "folds" / "fold1.csv").write_text("mine\n", encoding="utf-8")
    assert main(["tune", "--model", tiny_bert_dir, "--train", data, "--output", str(out), "--folds", "2",
                 "--lrs", "1e-3", "--max-steps", "1", "--no-refit", "--precision", "fp32"]) == 0
    assert (out / "folds" / "fold1.csv").read_text(encoding="utf-8") == "mine\n"
    assert os.listdir(out / "folds") == ["fold1.csv"]  # tune's own fold folders are gone


def test_evaluate_predictions_to_stdout_still_shows_the_metrics(clf, files, capsys):
    """`--predictions -` fills standard output with rows; the metrics used to vanish when --output was not given."""
    capsys.readouterr()
    assert main(["evaluate", "--model", clf, "--data", str(files[0]), "--predictions", "-"]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["gold_label"] for line in out.splitlines()] == ["positive", "negative"]
    assert json.loads(err[err.index("{"):])["n"] == 2


@pytest.mark.parametrize("argv", [["train", "--train", "x.csv", "--lrr", "1"], ["evaluate", "--model", "m"],
                                  ["predict", "--model", "m", "--input", "x.csv", "--output", "p", "--batch-size", "x"]])
def test_a_flag_error_is_one_line(argv, capsys):
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and "--help" in err, err


def test_a_label_seen_once_is_never_carved_into_validation():
    """Largest remainders used to hand a singleton label's only row to validation; train then refused the data."""
    from labeltune.data.split import grouped_stratified_split

    strata = ["a"] * 5 + ["c", "d", "e"]
    for seed in range(20):
        validation, test, train = grouped_stratified_split(list(range(8)), strata, [0.2, 0.1], seed)
        assert {strata[i] for i in train} == {"a", "c", "d", "e"}, seed
        assert len(validation) >= 1 and sorted(validation + test + train) == list(range(8))


def test_training_with_singleton_labels_and_a_carved_validation_split(tmp_path, tiny_bert_dir):
    import labeltune

    data = tmp_path / "s.csv"
    data.write_text("text,label\n" + "".join(f"good {i},a\n" for i in range(5)) + "x one,c\ny two,d\nz three,e\n",
                    encoding="utf-8")
    metrics = labeltune.train(train=str(data), model=tiny_bert_dir, output=str(tmp_path / "o"),
                              validation_fraction=0.2, max_steps=1, precision="fp32", quiet=True)
    assert metrics["validation"]["n"] >= 1


def test_debug_data_lists_bad_rows_beside_bad_bytes(tmp_path, tiny_bert_dir):
    """A bad byte used to hide every other bad row of a NER/QA file until the bytes were fixed."""
    from labeltune.config import TrainConfig
    from labeltune.debug_data import report
    from labeltune.tasks import get_task

    path = tmp_path / "n.conll"
    path.write_bytes(b"John B-PER\nlives O\n\nAnna B-PER\nm\xffet O\n\nBad XX-YY\n\n")
    rep = report(TrainConfig(task="ner", model=tiny_bert_dir, train=str(path)), get_task("ner").Options())
    problems = [p["problem"] for p in rep["problems"]]
    assert rep["errors"] == 2, problems
    assert "line 5: byte 0xff is not valid UTF-8" in problems[0] and "line 7: tag 'XX-YY'" in problems[1]


def test_a_kept_column_named_like_the_prediction_is_not_overwritten(clf, files, tmp_path):
    """`--keep-columns label` on labelled input used to be replaced by the predicted label, without a word."""
    data, _ = files
    out = tmp_path / "p.jsonl"
    assert main(["predict", "--model", clf, "--input", str(data), "--output", str(out), "--keep-columns", "label,text"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["input_label"] for r in rows] == ["positive", "negative"]
    assert all(r["label"] in ("positive", "negative") and "score" in r for r in rows)
    assert [r["text"] for r in rows] == ["a moving film", "awful jokes"]


@pytest.mark.parametrize("flag_value", [["--epochs", "inf"], ["--lr", "inf"], ["--warmup-ratio", "nan"]])
def test_infinite_or_nan_numbers_are_refused(flag_value, tmp_path, capsys):
    """--epochs inf used to reach defaults.py as an OverflowError traceback; --lr inf trained to NaN weights."""
    data = tmp_path / "a.csv"
    data.write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    line = _run_cli(["train", "--train", data, "--output", tmp_path / "o", *flag_value], capsys)
    assert f"{flag_value[0]} " in line and "must be a finite number" in line


def test_evaluate_output_dash_is_standard_output_not_a_file_named_dash(clf, files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", "--model", clf, "--data", str(files[0]), "--output", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 2
    assert not os.path.exists(tmp_path / "-")
    line = _run_cli(["evaluate", "--model", clf, "--data", files[0], "--output", "-", "--predictions", "-"], capsys)
    assert "both write to standard output" in line


def test_unknown_selection_metric_is_a_user_error(tmp_path, tiny_bert_dir, capsys):
    """--metric zzz used to end training with a KeyError traceback at the first evaluation."""
    from trained import write_data

    data = write_data(str(tmp_path / "data"), "classification")
    line = _run_cli(["train", "--model", tiny_bert_dir, "--train", data, "--validation", data, "--output",
                     tmp_path / "o", "--metric", "zzz", "--max-steps", "1", "--precision", "fp32"], capsys)
    assert "--metric (metric=) zzz: not among the validation metrics" in line and "accuracy" in line
    assert not (tmp_path / "o").exists()  # a refused run leaves no folder


def test_resume_without_a_checkpoint_keeps_the_finished_model(clf, tmp_path, tiny_bert_dir, capsys):
    """--resume on a finished run without a checkpoint used to train afresh and replace the model, unasked."""
    import shutil

    from trained import write_data

    run = tmp_path / "run"
    shutil.copytree(clf, run)
    before = (run / "model.safetensors").read_bytes()
    data = write_data(str(tmp_path / "data"), "classification")
    config = json.loads((run / "labeltune.json").read_text())
    assert config["task"] == "classification" and not (run / "checkpoint").exists()
    line = _run_cli(["train", "--model", tiny_bert_dir, "--train", data, "--output", run, "--resume", "--max-steps", "1",
                     "--precision", "fp32"], capsys)
    assert "--resume" in line and "no checkpoint to continue from" in line and "--overwrite" in line
    assert (run / "model.safetensors").read_bytes() == before


def test_overwrite_never_deletes_the_data_the_run_reads(tmp_path, tiny_bert_dir, capsys):
    """`--train OUT/splits/test.csv --output OUT --overwrite`: the split file would go before it is read."""
    data = tmp_path / "in.csv"
    data.write_text("text,label\n" + "".join(f"film {i} moving,positive\nfilm {i} awful,negative\n" for i in range(10)))
    out = tmp_path / "run"
    assert main(["train", "--train", str(data), "--output", str(out), "--model", tiny_bert_dir, "--epochs", "1",
                 "--test-fraction", "0.3", "--validation-fraction", "0", "--precision", "fp32", "--quiet"]) == 0
    split = out / "splits" / "test.csv"
    kept = split.read_text()
    line = _run_cli(["train", "--train", split, "--output", out, "--model", tiny_bert_dir, "--epochs", "1",
                     "--overwrite", "--quiet"], capsys)
    assert "--train" in line and "--overwrite" in line
    assert split.read_text() == kept and (out / "labeltune.json").exists()  # nothing was removed
