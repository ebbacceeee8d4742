"""Label issues (labeltune/label_issues.py): confident learning on out-of-fold predictions."""

import csv
import json
import os
import random

import numpy as np
import pytest

from labeltune.cli import main as cli
from labeltune.label_issues import confident_learning, rank


def test_confident_learning_flags_the_off_diagonal():
    # 3 classes; rows 0-8 are confidently their given class; row 9 is labelled 0 but confidently class 2;
    # row 10 is labelled 1 and unsure (no class reaches its threshold confidently elsewhere: not flagged)
    probs = np.array([[0.9, 0.05, 0.05]] * 3 + [[0.05, 0.9, 0.05]] * 3 + [[0.05, 0.05, 0.9]] * 3
                     + [[0.02, 0.03, 0.95], [0.3, 0.4, 0.3]])
    given = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 1])
    cl = confident_learning(probs, given)
    assert cl["thresholds"][0] == pytest.approx((0.9 * 3 + 0.02) / 4)  # mean self-confidence of class 0
    assert list(np.flatnonzero(cl["issue"])) == [9]
    assert cl["suggested"][9] == 2
    assert cl["joint"][0, 2] == 1 and cl["joint"].trace() == 9


def test_rank_orders_by_self_confidence_and_names_units():
    examples = [{"_where": f"f.csv, line {i + 2}"} for i in range(4)]
    units = [[{"probs": [0.9, 0.1], "given": 0, "text": "a"}], [{"probs": [0.08, 0.92], "given": 0, "text": "b"}],
             [{"probs": [0.05, 0.95], "given": 0, "text": "c", "unit": "word 1: c"}],
             [{"probs": [0.1, 0.9], "given": 1, "text": "d"}]]
    rows, summary = rank(examples, units, ["neg", "pos"])
    assert [r["text"] for r in rows] == ["c", "b"]  # lowest self-confidence first
    assert rows[0]["unit"] == "word 1: c" and rows[0]["suggested_label"] == "pos" and rows[0]["rank"] == 1
    assert summary["issues"] == 2 and summary["examples"] == 4


def _flipped_slice(rt_csv, tmp_path, n, seed=0):
    with open(rt_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:n]
    rng = random.Random(seed)
    flipped = set(rng.sample(range(len(rows)), len(rows) // 20))  # 5% of the labels flipped
    for i in flipped:
        rows[i]["label"] = "positive" if rows[i]["label"] == "negative" else "negative"
    path = tmp_path / "noisy.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(rows)
    return str(path), flipped


def _flagged_rows(out):
    with open(os.path.join(out, "label_issues.csv"), newline="", encoding="utf-8") as f:
        return [int(r["where"].rsplit(" ", 1)[1]) - 2 for r in csv.DictReader(f)]  # "file, line N": row N - 2


def test_cli_classification_and_ner_on_tiny_model(tmp_path, tiny_bert_dir, rt_csv):
    noisy, _ = _flipped_slice(rt_csv, tmp_path, 40)
    out = str(tmp_path / "issues")
    kept = tmp_path / "issues" / "label-issues-folds" / "mine.txt"  # a user's folder of that name stays
    kept.parent.mkdir(parents=True)
    kept.write_text("keep me")
    assert cli(["label-issues", "--task", "classification", "--train", noisy, "--output", out, "--folds", "2",
                "--model", tiny_bert_dir, "--epochs", "1", "--batch-size", "8", "--precision", "fp32", "--quiet"]) == 0
    with open(os.path.join(out, "label_issues.csv"), newline="") as f:
        header = next(csv.reader(f))
    assert header == ["rank", "where", "unit", "text", "given_label", "suggested_label", "self_confidence",
                      "suggested_probability"]
    with open(os.path.join(out, "label_issues.json")) as f:
        summary = json.load(f)
    assert summary["examples"] == 40 and summary["folds"] == 2 and kept.read_text() == "keep me"
    assert os.listdir(os.path.join(out, "label-issues-folds")) == ["mine.txt"]  # the folds' own folders are gone

    from test_ner import _tagged

    ner_out = str(tmp_path / "ner-issues")
    assert cli(["label-issues", "--task", "ner", "--train", _tagged(tmp_path / "ner.jsonl"), "--output", ner_out,
                "--folds", "2", "--model", tiny_bert_dir, "--epochs", "1", "--precision", "fp32", "--quiet"]) == 0
    with open(os.path.join(ner_out, "label_issues.json")) as f:
        assert json.load(f)["units"] > 8  # one unit per word
    assert cli(["label-issues", "--task", "qa", "--train", noisy, "--output", str(tmp_path / "qa")]) == 2


def test_tune_find_label_issues(tmp_path, tiny_bert_dir, rt_csv):
    noisy, _ = _flipped_slice(rt_csv, tmp_path, 40)
    out = str(tmp_path / "tune")
    assert cli(["tune", "--train", noisy, "--output", out, "--model", tiny_bert_dir, "--folds", "2", "--lrs", "1e-3",
                "--epochs", "1", "--batch-size", "8", "--precision", "fp32", "--quiet", "--find-label-issues"]) == 0
    with open(os.path.join(out, "label_issues.json")) as f:
        summary = json.load(f)
    assert summary["folds"] == 2 and summary["examples"] == 40
    assert os.path.exists(os.path.join(out, "label_issues.csv")) and os.path.exists(os.path.join(out, "tune_report.json"))


def test_flipped_labels_rank_at_the_top_synthetic(tmp_path, tiny_bert_dir):
    """200 sentences whose label is given by one word ('good' / 'awful' among random filler words), 10 labels (5%)
    flipped; a tiny random BERT learns the rule in each of 3 folds, and the flipped rows lead the ranking.
    Measured (seed 0): precision at 10 = 1.0, exactly the 10 flipped rows flagged. The Rotten Tomatoes version of
    this test (real MiniLM) is not here: its run did not finish on the shared machine."""
    rng = random.Random(0)
    filler = "the a film plot actor scene story music camera script ending cast".split()
    rows = []
    for i in range(200):
        word, label = ("good", "positive") if i % 2 == 0 else ("awful", "negative")
        words = rng.sample(filler, 5)
        words.insert(rng.randrange(6), word)
        rows.append({"text": " ".join(words), "label": label})
    flipped = set(rng.sample(range(200), 10))
    for i in flipped:
        rows[i]["label"] = "positive" if rows[i]["label"] == "negative" else "negative"
    path = tmp_path / "synthetic.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(rows)
    out = str(tmp_path / "issues")
    assert cli(["label-issues", "--train", str(path), "--output", out, "--folds", "3", "--model", tiny_bert_dir,
                "--epochs", "10", "--batch-size", "16", "--lr", "3e-3", "--precision", "fp32", "--threads", "1",
                "--quiet"]) == 0
    ranked = _flagged_rows(out)
    precision_at_k = sum(i in flipped for i in ranked[:10]) / 10
    assert precision_at_k >= 0.9 and len(ranked) <= 15


def test_multi_label_is_refused_before_any_fold_trains(tmp_path, tiny_bert_dir, capsys):
    data = tmp_path / "ml.csv"
    data.write_text("text,label\n" + "".join(f"film {i},a|b\nplay {i},b\n" for i in range(6)))
    out = tmp_path / "li"
    assert cli(["label-issues", "--task", "classification", "--train", str(data), "--output", str(out), "--folds", "2",
                "--multi-label", "--label-delimiter", "|", "--model", tiny_bert_dir, "--epochs", "1",
                "--precision", "fp32", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "multi-label data is not supported" in captured.err and "fold 1/" not in captured.out


def test_tune_find_label_issues_refuses_qa_before_the_study(tmp_path, tiny_bert_dir, capsys):
    """tune --find-label-issues on a task without label issues (QA) stops before the cross-validation (it used to
    run every fold and the refit first)."""
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "question": f"Where did person {i} go ?",
                                        "context": f"Person {i} went to the market. It was in Town{i}.",
                                        "answers": {"text": [f"Town{i}"], "answer_start": [39]}}) + "\n"
                            for i in range(6)))
    assert cli(["tune", "--task", "qa", "--train", str(data), "--output", str(tmp_path / "t"), "--folds", "2",
                "--model", tiny_bert_dir, "--epochs", "1", "--precision", "fp32", "--quiet", "--lrs", "1e-4",
                "--find-label-issues", "--max-length", "64", "--doc-stride", "16"]) == 2
    captured = capsys.readouterr()
    assert "--task qa: label issues are found for tasks with a label per example" in captured.err
    assert "fold" not in captured.out.lower() and "trial" not in captured.out.lower()


@pytest.mark.parametrize("how", ["positional", "flag"])
def test_a_config_file_is_read_like_train_s(tmp_path, tiny_bert_dir, capsys, how):
    """`labeltune label-issues cfg.yaml` / `--config cfg.yaml` were "unrecognized arguments"."""
    data = tmp_path / "ml.csv"
    data.write_text("text,label\n" + "".join(f"film {i},a|b\nplay {i},b\n" for i in range(6)))
    config = tmp_path / "li.yaml"
    config.write_text(f"task: classification\ntrain: {data}\noutput: {tmp_path / 'li'}\nfolds: 2\nmulti_label: true\n"
                      f"label_delimiter: '|'\nmodel: {tiny_bert_dir}\nepochs: 1\n")
    argv = [str(config)] if how == "positional" else ["--config", str(config)]
    assert cli(["label-issues", *argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "multi-label data is not supported" in err  # the config's multi_label reached the check
