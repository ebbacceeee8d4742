"""Issue 12, a newcomer's path: defaults that fit small data, outputs that read alone, messages that point to the fix."""

from __future__ import annotations

import csv
import json
import os

import pytest
import yaml

import labeltune
from labeltune import defaults
from labeltune.cli import main


def _write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


@pytest.fixture
def small_csv(tmp_path):
    words = ["good", "great", "fine", "nice", "bad", "awful", "poor", "sad"]
    rows = [(f"a {w} film number {i}", "pos" if k < 4 else "neg") for i in range(6) for k, w in enumerate(words)]
    return _write_csv(tmp_path / "small.csv", rows)


# --- 1. defaults that fit small data ---------------------------------------------------------------
def test_a_decoder_only_lm_gets_batch_8_at_any_size():
    """Translation at 3,000 pairs with SmolLM2: batch 16 (564 steps) scored 9.95 BLEU, batch 8 (1,125) 11.83, the
    example scripts' recipe 12.09 (benchmarks/results/small_data.jsonl); an encoder keeps batch 16 there."""
    import torch

    from labeltune.config import TrainConfig

    class TinyForCausalLM(torch.nn.Linear):  # the rule reads the class name, as run.train's models have it
        pass

    class TinyForSequenceClassification(torch.nn.Linear):
        pass

    cfg = TrainConfig()
    _, causal = defaults.resolve(cfg, 3000, TinyForCausalLM(4, 4))
    _, encoder = defaults.resolve(cfg, 3000, TinyForSequenceClassification(4, 4))
    assert (causal["batch_size"], causal["epochs"]) == (8, 3.0) and causal["lr"] == 5e-5
    assert (encoder["batch_size"], encoder["epochs"]) == (16, 3.0) and encoder["lr"] == 1e-4


def test_small_data_rule_picks_enough_steps():
    assert defaults.batch_and_epochs(90, None, None) == (8, 20.0)       # 12 steps/epoch: epochs capped at 20
    assert defaults.batch_and_epochs(300, None, None) == (8, 8.0)       # 38 steps/epoch x 8 = 304
    assert defaults.batch_and_epochs(1000, None, None) == (8, 3.0)      # 125 x 3 = 375
    assert defaults.batch_and_epochs(3000, None, None) == (16, 3.0)     # 188 x 3 = 564
    assert defaults.batch_and_epochs(20000, None, None) == (16, 3.0)    # 32 is not tried (QA at 3,000: see defaults)
    assert defaults.batch_and_epochs(300, 32, None) == (32, 20.0)       # an explicit batch size is kept
    assert defaults.batch_and_epochs(3000, None, None, sizes=defaults.CAUSAL_BATCH_SIZES) == (8, 3.0)  # 375 x 3
    assert defaults.batch_and_epochs(300, None, 2.0) == (8, 2.0)        # explicit epochs are kept
    assert defaults.learning_rate(22_700_000, causal=False) == 1e-4     # MiniLM
    assert defaults.learning_rate(110_000_000, causal=False) == 5e-5    # BERT-base
    assert defaults.learning_rate(135_000_000, causal=True) == 5e-5     # SmolLM2-135M
    assert defaults.learning_rate(1_500_000_000, causal=True) == 1e-5


def test_train_without_flags_chooses_and_records(small_csv, tiny_bert_dir, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--model", tiny_bert_dir, "--train", small_csv, "--output", out, "--quiet",
                 "--precision", "fp32"]) == 0
    console = capsys.readouterr().out
    assert "auto settings: batch size 8, epochs 20, lr 0.0001" in console
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["auto_settings"]["batch_size"] == 8 and metrics["auto_settings"]["epochs"] == 20
    assert metrics["steps"] == 20 * 6  # 44 training rows in batches of 8
    with open(os.path.join(out, "config.yaml")) as f:
        saved = yaml.safe_load(f)
    assert (saved["batch_size"], saved["epochs"], saved["lr"]) == (8, 20.0, 1e-4)


def test_explicit_flags_win(small_csv, tiny_bert_dir, tmp_path):
    m = labeltune.train(model=tiny_bert_dir, train=small_csv, output=str(tmp_path / "o"), epochs=1, batch_size=4,
                        lr=1e-3, quiet=True, precision="fp32")
    assert "auto_settings" not in m and m["steps"] == 11


def test_max_steps_sets_the_length_and_the_auto_line_says_so(small_csv, tiny_bert_dir, tmp_path, capsys):
    """With --max-steps the epochs do not count: the auto line must not announce an epoch count."""
    out = str(tmp_path / "steps")
    assert main(["train", "--model", tiny_bert_dir, "--train", small_csv, "--output", out, "--quiet",
                 "--precision", "fp32", "--max-steps", "7"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("auto settings"))
    assert "batch size 8" in line and "--max-steps 7 sets the length" in line and "epochs" not in line
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["steps"] == 7 and "epochs" not in metrics["auto_settings"]


def test_resume_with_nothing_to_resume_says_it_starts_afresh(small_csv, tiny_bert_dir, tmp_path, capsys):
    out = str(tmp_path / "fresh")
    assert main(["train", "--model", tiny_bert_dir, "--train", small_csv, "--output", out, "--quiet",
                 "--precision", "fp32", "--max-steps", "1", "--resume"]) == 0
    assert f"--resume: no checkpoint in {out} to continue from; training from the start" in capsys.readouterr().out
    assert os.path.exists(os.path.join(out, "labeltune.json"))


def test_validation_file_that_is_the_train_file_is_warned_about(small_csv, tiny_bert_dir, tmp_path, capsys):
    assert main(["train", "--model", tiny_bert_dir, "--train", small_csv, "--validation", small_csv, "--output",
                 str(tmp_path / "same"), "--quiet", "--precision", "fp32", "--max-steps", "1"]) == 0
    assert f"warning: --validation {small_csv} is the --train file" in capsys.readouterr().out


# --- 2. QA: unanswerable questions switch SQuAD v2 handling on ----------------------------------------------
def _squad(path, n=8, impossible=(1, 5)):
    ctx = "In the beginning God created the heavens and the earth. The earth was formless and empty."
    qas = []
    for i in range(n):
        answers = [] if i in impossible else [{"text": "the earth", "answer_start": ctx.index("the earth")}]
        qas.append({"id": f"q{i}", "question": f"What was created {i}?", "answers": answers,
                    "is_impossible": i in impossible})
    with open(path, "w") as f:
        json.dump({"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": ctx, "qas": qas}]}]}, f)
    return str(path)


def test_qa_unanswerable_turns_v2_on_and_tunes_threshold(tmp_path, tiny_bert_dir, capsys):
    data = _squad(tmp_path / "v2.json")
    out = str(tmp_path / "qa")
    assert main(["train", "--task", "qa", "--model", tiny_bert_dir, "--train", data, "--validation", data,
                 "--output", out, "--epochs", "1", "--batch-size", "4", "--max-length", "64", "--doc-stride", "16",
                 "--quiet"]) == 0
    assert "SQuAD v2.0 handling on" in capsys.readouterr().err
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert "null_threshold" in metrics["calibration"] and metrics["validation"]["NoAns_total"] == 2
    with open(os.path.join(out, "labeltune.json")) as f:
        assert json.load(f)["setup"]["version_2_with_negative"] is True


# --- 3. translation: default model, one-line outputs, WordPiece detokenisation --------------------------------
def test_translation_defaults_to_smollm2_and_task_is_case_insensitive():
    from labeltune.config import TrainConfig

    assert TrainConfig(task="translation").model == "SmolLM2-135M-Instruct"
    assert TrainConfig(task="NER").model == "all-MiniLM-L6-v2" and TrainConfig(task="NER").task == "ner"
    assert TrainConfig(task="translation", model="x/y").model == "x/y"
    with pytest.raises(labeltune.UserError, match="did you mean --task ner"):
        labeltune.train(task="nre", train="x.csv", output="o")


def test_wordpiece_output_is_detokenised():
    from labeltune.tasks.translation import detokenize_wordpiece

    assert detokenize_wordpiece("the u. s. - based firm said it ' s fine .") == "the u.s.-based firm said it's fine."
    assert detokenize_wordpiece("a ( small ) test , ok ?") == "a (small) test, ok?"


@pytest.mark.e2e
def test_causal_lm_stops_at_line_break_when_targets_are_one_line():
    """The pretrained SmolLM2 (shipped) goes on writing after its first line; with one-line training targets
    the output (and so the "before" score) ends at the first line break."""
    import torch

    from labeltune.models import load_tokenizer, resolve_model
    from labeltune.tasks import Runtime, get_task
    from transformers import AutoModelForCausalLM

    path = resolve_model("SmolLM2-135M-Instruct")
    task = get_task("translation")
    opts = task.Options(num_beams=1)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    examples = [{"source": "In the beginning God created the heavens and the earth.", "_where": "x"},
                {"source": "The earth was formless and empty.", "_where": "y"}]
    outputs = {}
    for one_line in (False, True):
        setup = {"architecture": "causal", "max_new_tokens": 40, "single_line": one_line}
        rt = Runtime(model, load_tokenizer(path), setup, opts, 256, "fp32", 8, torch.device("cpu"))
        outputs[one_line] = [r["translation"] for r in task.generate(rt, examples)]
    assert any("\n" in t for t in outputs[False]), outputs  # the rule matters for this model
    assert all("\n" not in t and t for t in outputs[True]), outputs
    assert [t.split("\n")[0].strip() for t in outputs[False]] == outputs[True]


# --- 4. in-training selection scores are labelled; the last line says which weights were kept ------------------
def test_selection_scores_labelled_and_kept_step_named(small_csv, tiny_bert_dir, tmp_path, capsys):
    labeltune.train(model=tiny_bert_dir, train=small_csv, output=str(tmp_path / "o"), epochs=2, batch_size=8,
                    lr=1e-3, quiet=True, precision="fp32")
    out = capsys.readouterr().out
    assert "step 6: selection score accuracy=" in out and "(validation)" in out
    assert "kept the weights of step " in out and " of 12 (best selection score accuracy=" in out


# --- 5. outputs that read alone -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_small(tmp_path_factory, tiny_bert_dir):
    tmp = tmp_path_factory.mktemp("trained")
    rows = [(f"a {w} film {i}", "pos" if k < 2 else "neg", f"id{i}-{k}") for i in range(8)
            for k, w in enumerate(["good", "great", "bad", "awful"])]
    data = _write_csv(tmp / "d.csv", rows, header=("text", "label", "id"))
    out = str(tmp / "model")
    assert main(["train", "--model", tiny_bert_dir, "--train", data, "--output", out, "--test-fraction", "0.25",
                 "--epochs", "1", "--batch-size", "8", "--quiet", "--precision", "fp32"]) == 0
    return out, data


def test_splits_written_as_files_that_evaluate_reads(trained_small, capsys):
    out, data = trained_small
    with open(os.path.join(out, "split.json")) as f:
        split = json.load(f)
    test_csv = os.path.join(out, "splits", "test.csv")
    assert split["files"]["test"] == test_csv and os.path.exists(os.path.join(out, "splits", "validation.csv"))
    with open(test_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(split["test"]) and set(rows[0]) == {"text", "label", "id"}
    capsys.readouterr()
    assert main(["evaluate", "--model", out, "--data", test_csv, "--output", os.path.join(out, "new", "dir", "m.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    with open(os.path.join(out, "metrics.json")) as f:
        assert printed["n"] == json.load(f)["test"]["n"] == len(rows)
    assert os.path.exists(os.path.join(out, "new", "dir", "m.json"))


def test_prediction_rows_carry_input_kept_columns_and_gold(trained_small, tmp_path, capsys):
    out, data = trained_small
    with open(os.path.join(out, "predictions_test.jsonl")) as f:
        row = json.loads(f.readline())
    assert {"where", "text", "label", "score", "gold_label"} <= set(row)
    assert row["score"] == round(row["score"], 6)  # rounded like every task's scores
    dest = str(tmp_path / "not" / "yet" / "p.csv")
    assert main(["predict", "--model", out, "--input", data, "--output", dest, "--keep-columns", "id"]) == 0
    with open(dest, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 32 and list(rows[0])[:3] == ["id", "text", "label"] and rows[0]["id"] == "id0-0"
    assert json.loads(rows[0]["scores"]).keys() == {"pos", "neg"}
    capsys.readouterr()
    assert main(["predict", "--model", out, "--input", data, "--output", "-"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(x) for x in captured.out.splitlines()]
    assert len(lines) == 32 and lines[0]["text"] == "a good film 0" and "wrote 32" in captured.err
    # a labelled input: each row has its gold label beside the prediction (the input had one); unlabelled: none
    assert rows[0]["gold_label"] == lines[0]["gold_label"] and lines[0]["gold_label"] in ("pos", "neg")
    unlabelled = str(tmp_path / "u.csv")
    with open(unlabelled, "w") as f:
        f.write("text\na good film\n")
    assert main(["predict", "--model", out, "--input", unlabelled, "--output", "-"]) == 0
    assert "gold_label" not in json.loads(capsys.readouterr().out.splitlines()[0])
    assert main(["predict", "--model", out, "--input", data, "--output", dest, "--keep-columns", "nope"]) == 2
    assert "has no column 'nope'" in capsys.readouterr().err
    # the Python API: the same rows
    labeltune.load(out).predict_file(data, str(tmp_path / "p.jsonl"), keep_columns=["id"])
    with open(tmp_path / "p.jsonl") as f:
        assert json.loads(f.readline())["id"] == "id0-0"


def test_echo_and_hf_entity_names_for_every_task():
    from labeltune.outputs import echo
    from labeltune.tasks import get_task

    ner = get_task("ner")
    e = {"tokens": ["Angela", "Merkel", "spoke"], "tags": ["B-PER", "I-PER", "O"], "_where": "f, line 1"}
    pred = ner._prediction(e, ["B-PER", "I-PER", "O"], [0.9, 0.8, 0.99])
    assert pred["entities"][0]["entity_group"] == "PER" and pred["entities"][0]["word"] == "Angela Merkel"
    assert echo(ner, e)["gold_entities"] == [{"text": "Angela Merkel", "type": "PER", "token_start": 0, "token_end": 2}]
    qa = {"id": "q1", "question": "Who?", "context": "Moses spoke.", "answers": [{"text": "Moses", "answer_start": 0}],
          "is_impossible": False, "_where": "x"}
    assert echo(get_task("qa"), qa) == {"id": "q1", "question": "Who?", "context": "Moses spoke.", "gold_answers": ["Moses"]}
    assert echo(get_task("translation"), {"source": "hola", "target": "hello", "_where": "x"}) == \
        {"source": "hola", "reference": "hello"}


# --- 6. messages that point to the fix ----------------------------------------------------------------------
def test_flag_suggestions_and_hf_names(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--train", "x.csv", "--lrr", "1e-4"])
    assert e.value.code == 2 and "did you mean --lr" in capsys.readouterr().err
    for hf, ours in (("--learning_rate", "--lr"), ("--model_name_or_path", "--model"), ("--output_dir", "--output"),
                     ("--num_train_epochs", "--epochs")):
        with pytest.raises(SystemExit):
            main(["train", "--train", "x.csv", hf, "1"])
        assert f"labeltune calls it {ours}" in capsys.readouterr().err


def test_commands_listed_version_and_nearest_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "  train " in out and "fine-tune a model" in out and "  debug-data " in out
    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"labeltune {labeltune.__version__}"
    assert main(["trian"]) == 2 and "did you mean 'train'?" in capsys.readouterr().err


def test_help_pages_read_as_user_pages(capsys, trained_small):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    page = capsys.readouterr().out
    assert "Training (unset: chosen from the data size" in page and "Classification options:" in page
    assert "one of: accuracy, macro_f1" in page and "TrainConfig" not in page
    with pytest.raises(SystemExit):
        main(["debug-data", "--help"])
    page = capsys.readouterr().out
    assert "--train" in page and "--epochs" not in page and "--lr " not in page
    out, _ = trained_small
    with pytest.raises(SystemExit):
        main(["predict", "--model", out, "--help"])
    page = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--text-column" in page and "(this model: 'text')" in page and "--multi-label" not in page


def test_flags_that_do_nothing_on_predict_are_refused(trained_small, tmp_path, capsys):
    out, data = trained_small
    for flag in (["--multi-label"], ["--label-names", "a,b"]):
        assert main(["predict", "--model", out, "--input", data, "--output", str(tmp_path / "p.jsonl"), *flag]) == 2
        assert f"{flag[0]} does nothing on `predict`" in capsys.readouterr().err


def test_file_of_another_task_gets_did_you_mean(tmp_path, capsys):
    conll = tmp_path / "d.conll"
    conll.write_text("John B-PER\nsmiled O\n\nMary B-PER\nleft O\n")
    assert main(["train", "--train", str(conll), "--output", str(tmp_path / "o")]) == 2
    assert "did you mean --task ner?" in capsys.readouterr().err
    csv_path = _write_csv(tmp_path / "c.csv", [("good film", "pos"), ("bad film", "neg")])
    with pytest.raises(labeltune.UserError, match="did you mean --task classification"):
        labeltune.train(task="ner", train=csv_path, output=str(tmp_path / "o2"))


def test_joined_labels_without_multi_label_get_a_hint(tmp_path, capsys):
    from labeltune.tasks import get_task

    task = get_task("classification")
    examples = [{"labels": ["sports|politics"], "_where": "x"}, {"labels": ["sports"], "_where": "y"}]
    task.setup(examples, task.Options())
    assert "pass --multi-label --label-delimiter '|'" in capsys.readouterr().err
    task.setup(examples, task.Options(multi_label=True, label_delimiter="|"))
    assert capsys.readouterr().err == ""


def test_debug_data_reports_every_problem_and_exits_nonzero(tmp_path, tiny_bert_dir, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"text,label\ngood film,pos\n,neg\nok film,\ncaf\xe9,pos\nfine,neg\n")
    assert main(["debug-data", "--train", str(bad), "--model", tiny_bert_dir, "--json"]) == 1
    rep = json.loads(capsys.readouterr().out)
    found = " | ".join(p["problem"] for p in rep["problems"])
    assert "line 5: byte 0xe9 is not valid UTF-8" in found
    assert rep["errors"] >= 1
    fixed = _write_csv(tmp_path / "ok.csv", [("good film", "Pos"), ("bad film", "neg"), ("nice", "pos")] * 3)
    assert main(["debug-data", "--train", fixed, "--model", tiny_bert_dir, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert any("differ only in case" in p["problem"] for p in rep["problems"]) and rep["errors"] == 0
    empty = _write_csv(tmp_path / "e.csv", [("good film", "pos"), ("", "neg"), ("ok", ""), ("fine", "neg")])
    assert main(["debug-data", "--train", empty, "--model", tiny_bert_dir]) == 1
    text = capsys.readouterr().out
    assert "line 3: empty text" in text and "line 4: empty label" in text and "would refuse this data" in text


def test_debug_data_repair_answers_writes_the_file(tmp_path, tiny_bert_dir, capsys):
    path = _squad(tmp_path / "qa.json", impossible=())
    doc = json.load(open(path))
    doc["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 3  # wrong
    json.dump(doc, open(path, "w"))
    assert main(["debug-data", "--task", "qa", "--train", path, "--model", tiny_bert_dir, "--repair-answers"]) == 0
    out = capsys.readouterr().out
    repaired = str(tmp_path / "qa.repaired.json")
    assert repaired in out and os.path.exists(repaired)
    ctx = doc["data"][0]["paragraphs"][0]["context"]
    assert json.load(open(repaired))["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] == \
        ctx.index("the earth")


def test_python_api_is_quiet(small_csv, tiny_bert_dir, tmp_path, capfd):
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_warning()  # as in a fresh Python session (an earlier CLI test may have quieted it)
    hf_logging.enable_progress_bar()
    out = str(tmp_path / "api")
    labeltune.train(model=tiny_bert_dir, train=small_csv, output=out, epochs=1, batch_size=8, lr=1e-3, quiet=True)
    labeltune.load(out).predict(["a good film"])
    err = capfd.readouterr().err
    assert "LOAD REPORT" not in err and "Loading weights" not in err and "Writing model shards" not in err, err
    for fn in (labeltune.train, labeltune.load, labeltune.tune_model, labeltune.Predictor.predict,
               labeltune.Predictor.predict_file, labeltune.Predictor.evaluate):
        assert fn.__doc__, fn


def test_uncased_vocabulary_against_cased_references_is_warned(tiny_bert_dir, capsys):
    import torch

    from labeltune.models import load_tokenizer
    from labeltune.tasks import Runtime, get_task
    from labeltune.tasks.translation import warn_uncased

    task = get_task("translation")
    rt = Runtime(None, load_tokenizer(tiny_bert_dir), {}, task.Options(), 64, "fp32", 8, torch.device("cpu"))
    warn_uncased(rt, [{"source": "hola", "target": "Hello there", "_where": "x"}])
    assert "--metric-lowercase" in capsys.readouterr().err
    rt.opts = task.Options(metric_lowercase=True)
    warn_uncased(rt, [{"source": "hola", "target": "Hello", "_where": "x"}])
    assert capsys.readouterr().err == ""


def test_debug_data_lists_each_wrong_answer_start(tmp_path, tiny_bert_dir, capsys):
    path = _squad(tmp_path / "qa.json", impossible=())
    doc = json.load(open(path))
    for q in doc["data"][0]["paragraphs"][0]["qas"][:2]:
        q["answers"][0]["text"] = "Moses"  # not in the context
    json.dump(doc, open(path, "w"))
    assert main(["debug-data", "--task", "qa", "--train", path, "--model", tiny_bert_dir, "--json"]) == 1
    rep = json.loads(capsys.readouterr().out)
    assert rep["errors"] == 2 and all("'Moses' does not occur" in p["problem"] for p in rep["problems"])


def test_every_command_help_renders(capsys):
    """`labeltune COMMAND --help` exits 0 for every command (a '%' in a help line once broke argparse)."""
    from labeltune.cli import COMMANDS, main

    for command in COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        assert e.value.code == 0, command
        assert "usage:" in capsys.readouterr().out, command


def test_classification_predicts_a_txt_of_one_text_per_line(small_csv, tiny_bert_dir, tmp_path):
    """predict --input texts.txt: each line one input, output row N = line N; a .txt that cannot be that is refused."""
    from labeltune.tasks.classification import ClassificationTask

    out = str(tmp_path / "clf")
    labeltune.train(model=tiny_bert_dir, train=small_csv, output=out, max_steps=1, quiet=True, precision="fp32")
    texts = tmp_path / "texts.txt"
    texts.write_text("a good film, really\r\nan awful film\nfine\n", encoding="utf-8")
    assert main(["predict", "--model", out, "--input", str(texts), "--output", str(tmp_path / "p.jsonl")]) == 0
    rows = [json.loads(x) for x in open(tmp_path / "p.jsonl", encoding="utf-8")]
    assert [r["text"] for r in rows] == ["a good film, really", "an awful film", "fine"]
    assert all(r["label"] in ("pos", "neg") for r in rows)
    task, opts = ClassificationTask(), ClassificationTask.Options()
    cases = {"gap.txt": ("good\n\nbad\n", r"gap\.txt, line 2: empty line"),
             "head.txt": ("text\ngood\n", r"head\.txt, line 1: 'text' is a column name"),
             "tab.txt": ("text\tlabel\ngood\tpos\n", r"tab-separated column names.*rename the file to \.tsv")}
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        with pytest.raises(labeltune.UserError, match=message):
            task.read(str(tmp_path / name), opts, labelled=False)
    with pytest.raises(labeltune.UserError, match=r"a \.txt holds texts only.*'text' and a 'label' column"):
        task.read(str(texts), opts)  # train / evaluate
