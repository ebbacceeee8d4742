"""Review G: the capability commands (explain, robustness, suggest, label-issues, curve, report, export, serve) on
the least exercised tasks and shapes: NER on IO tags, LoRA adapter directories, ONNX exports of them, tasks a
command does not support."""

from __future__ import annotations

import csv
import json
import os

from trained import NER

from labeltune.cli import main as cli


def _io_file(path) -> str:
    """trained.NER with its tags written as IO (bare types beside O, as Few-NERD writes them)."""
    with open(path, "w", encoding="utf-8") as f:
        for tokens, tags in NER:
            f.write(json.dumps({"tokens": tokens, "tags": [t.split("-")[-1] for t in tags]}) + "\n")
    return str(path)


def test_label_issues_on_io_tags_speak_the_files_tags(tmp_path, tiny_bert_dir):
    """NER data in IO tags is read as IOB2 inside; label_issues.csv used to give the given and suggested labels
    as B-PER / I-LOC, tags the file never had (and flag a B-X vs I-X split that IO cannot express)."""
    data = _io_file(tmp_path / "io.jsonl")
    out = str(tmp_path / "li")
    assert cli(["label-issues", "--task", "ner", "--train", data, "--output", out, "--folds", "2", "--model",
                tiny_bert_dir, "--epochs", "1", "--batch-size", "4", "--precision", "fp32", "--threads", "1",
                "--quiet"]) == 0
    with open(os.path.join(out, "label_issues.json"), encoding="utf-8") as f:
        summary = json.load(f)
    assert sorted(summary["thresholds"]) == ["LOC", "O", "PER"]
    assert summary["confident_joint"]["labels"] == ["O", "LOC", "PER"]
    file_tags = [t.split("-")[-1] for _, tags in NER for t in tags]
    assert summary["units"] == len(file_tags)
    with open(os.path.join(out, "label_issues.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:  # the given label is the file's tag of that word
        line = int(row["where"].rsplit("line ", 1)[1])
        word = int(row["unit"].split(":")[0].split()[1])
        assert row["given_label"] == NER[line - 1][1][word - 1].split("-")[-1]
        assert row["suggested_label"] in ("O", "PER", "LOC") and row["suggested_label"] != row["given_label"]


def test_export_and_report_of_a_lora_adapter_directory(tmp_path, tiny_bert_dir, capsys):
    """`export --model RUN/adapter` (train --peft lora --save-adapter): the agreement data and the run's files
    (metrics.json, config.yaml, the model card) come from the run the adapter was saved in, so `report` of the
    export works. It used to ask for --data, and report of the export then called it "the adapter alone"."""
    from trained import tiny_run

    run = tiny_run(tmp_path, tiny_bert_dir, "classification", peft="lora", save_adapter=True, epochs=1)
    out = str(tmp_path / "onnx")
    assert cli(["export", "--model", os.path.join(run, "adapter"), "--output", out]) == 0, capsys.readouterr().err
    for name in ("metrics.json", "config.yaml", "README.md"):
        with open(os.path.join(run, name), encoding="utf-8") as a, open(os.path.join(out, name), encoding="utf-8") as b:
            assert a.read() == b.read(), name
    with open(os.path.join(out, "export.json"), encoding="utf-8") as f:
        assert json.load(f)["examples"] == 8  # the run's validation file (trained.CLASSIFICATION's 8 rows)
    capsys.readouterr()
    assert cli(["report", "--model", out]) == 0, capsys.readouterr().err
    assert os.path.exists(os.path.join(out, "report.html"))

    # an adapter copied out of its run has no run files to take: the export is refused nothing, its report is
    # refused with what it is (it was called "the adapter alone (train --save-adapter)")
    import shutil

    alone = str(tmp_path / "elsewhere" / "adapter")
    shutil.copytree(os.path.join(run, "adapter"), alone)
    assert cli(["export", "--model", alone, "--output", str(tmp_path / "onnx2"), "--data",
                os.path.join(str(tmp_path), "tiny-data-classification", "train.csv")]) == 0
    capsys.readouterr()
    assert cli(["report", "--model", str(tmp_path / "onnx2")]) == 2
    err = capsys.readouterr().err
    assert "an ONNX export of the adapter" in err and alone in err and "Traceback" not in err


def test_suggest_says_which_strategies_a_task_supports(tmp_path, tiny_bert_dir, capsys):
    """QA has no per-row outputs to rank by: every strategy but random is refused naming the strategy, the task and
    what works (kmeans and typiclust were refused as "cannot score uncertainty", which they do not score)."""
    from trained import INPUTS, tiny_run

    run = tiny_run(tmp_path, tiny_bert_dir, "qa")
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(x) + "\n" for x in INPUTS["qa"]), encoding="utf-8")
    for strategy in ("kmeans", "entropy"):
        assert cli(["suggest", "--model", run, "--pool", str(pool), "--n", "1", "--strategy", strategy,
                    "--output", str(tmp_path / "s.csv")]) == 2
        err = capsys.readouterr().err
        assert f"--strategy {strategy}" in err and "qa" in err and "--strategy random" in err
        assert "classification and NER" in err and "uncertainty" not in err
    assert cli(["suggest", "--model", run, "--pool", str(pool), "--n", "1", "--strategy", "random",
                "--output", str(tmp_path / "s.csv")]) == 0


def test_suggest_random_from_an_onnx_export(tmp_path, tiny_bert_dir, capsys):
    """Random picks read no layer: an ONNX export can make them (it was refused with "no layers for the strategies
    to read"); the others still name the directory it was exported from."""
    from trained import tiny_run

    run = tiny_run(tmp_path, tiny_bert_dir, "classification", epochs=1)
    onnx = str(tmp_path / "onnx")
    assert cli(["export", "--model", run, "--output", onnx]) == 0
    pool = tmp_path / "pool.csv"
    pool.write_text("text\nfine\nПривет 😀\nok\n", encoding="utf-8")
    out = str(tmp_path / "s.csv")
    assert cli(["suggest", "--model", onnx, "--pool", str(pool), "--n", "2", "--strategy", "random",
                "--output", out]) == 0, capsys.readouterr().err
    with open(out, encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == 2
    capsys.readouterr()
    assert cli(["suggest", "--model", onnx, "--pool", str(pool), "--n", "2", "--output", out]) == 2
    assert os.path.abspath(run) in capsys.readouterr().err


def test_label_issues_refuses_multi_label_naming_the_flag(tmp_path, tiny_bert_dir, capsys):
    """Multi-label data: refused before any fold trains, naming --multi-label and what to do (the message named
    neither)."""
    data = tmp_path / "ml.jsonl"
    data.write_text("".join(json.dumps({"text": f"film {i} 😀", "label": ["a", "b"][: 1 + i % 2]}) + "\n"
                            for i in range(6)), encoding="utf-8")
    assert cli(["label-issues", "--train", str(data), "--multi-label", "--output", str(tmp_path / "li"), "--folds",
                "2", "--model", tiny_bert_dir, "--epochs", "1", "--precision", "fp32", "--quiet"]) == 2
    out = capsys.readouterr()
    assert out.err.startswith("labeltune label-issues: error: --multi-label") and "one label per row" in out.err
    assert "fold 1/" not in out.out



def test_explain_global_view_draws_any_word(tmp_path, capsys):
    """The global view's PNG labels are the data's words (one word a whitespace run where the tokenizer splits on
    spaces only, as SentencePiece does): a word holding two '$' ("x$^$y", LaTeX) was read as matplotlib mathtext
    and crashed explain at its end with a ParseSyntaxException; characters the plot's font lacks (CJK) gave one
    UserWarning per glyph instead of one note."""
    import warnings

    from labeltune.explain.globalview import plot_global_view

    view = {"pos$^$": [{"word": w, "mean": m, "count": 3} for w, m in [("x$^$y", 0.2), ("$\\frac$", 0.1),
                                                                        ("这部电影", -0.1), ("$5-$10", 0.05)]]}
    path = str(tmp_path / "global_ig.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert plot_global_view(view, path, "ig") == path
    assert not [w for w in caught if "Glyph" in str(w.message)]
    assert os.path.getsize(path) > 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "global_ig.png" in err and "explain.html" in err


def test_one_text_model_refuses_a_text_pair_as_serve_does(tmp_path, tiny_bert_dir):
    """`serve` answers 422 to {"text", "text_pair"} for a model trained on one text; labeltune.load().predict, which
    serve promises to match, predicted on the text alone and dropped the pair in silence."""
    import pytest

    import labeltune
    from labeltune.errors import UserError
    from trained import tiny_run

    predictor = labeltune.load(tiny_run(tmp_path, tiny_bert_dir, "classification", epochs=1), precision="fp32")
    with pytest.raises(UserError, match=r"input 1: .*'text_pair'.*one text per input"):
        predictor.predict(["fine", {"text": "a", "text_pair": "b"}])
    assert len(predictor.predict([{"text": "a", "id": 7}])) == 1  # another key (an id) is still the caller's own


def _bioes(tags: list[str]) -> list[str]:
    out = []
    for i, t in enumerate(tags):
        nxt = tags[i + 1] if i + 1 < len(tags) else "O"
        ends = not nxt.startswith("I-")
        out.append(t if t == "O" else ("S-" if ends else "B-") + t[2:] if t.startswith("B-") else
                   ("E-" if ends else "I-") + t[2:])
    return out


def test_label_issues_on_bioes_tags_say_they_are_compared_as_iob2(tmp_path, tiny_bert_dir, capsys):
    """BIOES (or IOB1) data: labels are compared in IOB2, the scheme the model reads, so label_issues.csv holds
    tags the file does not (B-PER for its S-PER); that was not said anywhere."""
    data = tmp_path / "bioes.jsonl"
    data.write_text("".join(json.dumps({"tokens": t, "tags": _bioes(g)}) + "\n" for t, g in NER), encoding="utf-8")
    out = str(tmp_path / "li")
    assert cli(["label-issues", "--task", "ner", "--train", str(data), "--output", out, "--folds", "2", "--model",
                tiny_bert_dir, "--epochs", "1", "--batch-size", "4", "--precision", "fp32", "--threads", "1",
                "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "tagged in BIOES" in printed and "given_label and suggested_label are IOB2 tags" in printed
    with open(os.path.join(out, "label_issues.json"), encoding="utf-8") as f:
        assert json.load(f)["tag_scheme"] == "IOB2 (the file's BIOES tags converted)"


def test_calibrate_with_multi_label_is_refused_before_training(tmp_path, tiny_bert_dir, capsys):
    """`train --multi-label --calibrate` (the report's reliability diagram): refused only after the whole training
    run, at calibration, leaving an unfinished run in --output that report then could not read."""
    data = tmp_path / "ml.jsonl"
    data.write_text("".join(json.dumps({"text": f"film {i}", "label": ["a", "b"][: 1 + i % 2]}) + "\n"
                            for i in range(8)), encoding="utf-8")
    out = tmp_path / "run"
    assert cli(["train", "--train", str(data), "--validation", str(data), "--multi-label", "--calibrate", "--output",
                str(out), "--model", tiny_bert_dir, "--epochs", "1", "--precision", "fp32", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "--calibrate" in captured.err and "--multi-label" in captured.err
    assert "step" not in captured.out + captured.err and not out.exists()
