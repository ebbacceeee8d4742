"""Review 3: the core path of a new user (train / predict / evaluate / tune / debug-data / export) on files and
flags as users have them. Each test names what the user saw before the fix."""

from __future__ import annotations

import csv
import json
import os
import re

import pytest

from labeltune.errors import UserError

ROWS = [("a gripping, funny film", "positive"), ("a dull, boring mess", "negative"),
        ("wonderful acting; a great story", "positive"), ("terrible acting", "negative")]


def _write(path, text, encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as f:
        f.write(text)
    return str(path)


@pytest.mark.parametrize("sep, quoting", [(";", csv.QUOTE_MINIMAL), ("\t", csv.QUOTE_MINIMAL), (";", csv.QUOTE_ALL)])
def test_semicolon_or_tab_separated_csv_reads(tmp_path, sep, quoting):
    """Excel's ';'-separated "CSV" (many locales) and a TSV named .csv, with a ',' inside a text: was "line 2: 2
    fields but the header has 1; quote fields that contain ','" (the reader's own hint never showed); with every
    field quoted (LibreOffice's "quote all text cells"), "line 1: malformed header: ',' expected after '\"'"."""
    from labeltune.data.readers import read_table

    path = tmp_path / "rows.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as f:  # Excel also writes a BOM and CRLF
        csv.writer(f, delimiter=sep, lineterminator="\r\n", quoting=quoting).writerows([("text", "label"), *ROWS])
    table = read_table(str(path))
    assert table.columns == ["text", "label"]
    assert [(r["text"], r["label"]) for r in table.rows] == ROWS


def test_a_table_saved_as_txt_is_named_with_the_rename(tmp_path):
    """A tab-separated .txt (Excel's "Text (Tab delimited)"): the error says to rename it .tsv."""
    from labeltune.data.readers import read_table

    path = _write(tmp_path / "rows.txt", "text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in ROWS))
    with pytest.raises(UserError, match=r"rows\.txt: unknown file type '\.txt'.*tab-separated: rename it to \.tsv"):
        read_table(path)
    prose = _write(tmp_path / "notes.txt", "I loved it, really\n")  # a comma in a sentence: no "rename it to .csv"
    with pytest.raises(UserError, match=r"unknown file type '\.txt'; use one of .* or a datasets dir$"):
        read_table(prose)


@pytest.fixture(scope="module")
def clf_run(tmp_path_factory, tiny_bert_dir):
    from trained import tiny_run

    return tiny_run(tmp_path_factory.getbasetemp(), tiny_bert_dir, "classification")


def test_cli_output_into_a_closed_pipe_is_no_traceback(clf_run, tmp_path):
    """`labeltune evaluate ... | head -3`: when the reader left first, a BrokenPipeError traceback; now exit 141
    (128 + SIGPIPE, like a shell tool) and nothing on stderr."""
    import subprocess
    import sys

    from trained import write_data

    data = write_data(str(tmp_path), "classification")
    p = subprocess.Popen([sys.executable, "-m", "labeltune", "evaluate", "--model", clf_run, "--data", data],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    p.stdout.close()  # the reader is gone before the metrics are printed
    err = p.stderr.read().decode()
    assert p.wait() == 141, err
    assert "Traceback" not in err, err


def test_a_model_path_that_is_not_a_trained_model_says_what_it_is(clf_run, tmp_path, tiny_bert_dir):
    """predict/evaluate --model on a wrong path said "no labeltune.json there; is it a directory written by
    `labeltune train`?" for all of: a missing path, a file, a plain transformers model, the runs/ folder above the
    run; and train --model data.csv said "could not load a tokenizer (... 'data.csv' is not a valid JSON file)"."""
    import shutil

    import labeltune

    data = _write(tmp_path / "data.csv", "text,label\na,b\n")
    parent = tmp_path / "runs"
    shutil.copytree(clf_run, parent / "sentiment")
    for path, words in ((str(tmp_path / "nowhere"), "the path does not exist"), (data, "it is a file"),
                        (tiny_bert_dir, "a transformers model that labeltune has not fine-tuned"),
                        (str(parent), f"folders {parent / 'sentiment'}; give one of them")):
        with pytest.raises(UserError, match="^--model .*no labeltune.json there") as e:
            labeltune.load(path)
        assert words in str(e.value), str(e.value)
    with pytest.raises(UserError, match=r"^--model \(model=\) .*data\.csv is a file, not a model"):
        labeltune.train(task="classification", model=data, train=data, output=str(tmp_path / "out"))
    export = tmp_path / "export"  # train --model <a labeltune export>: "could not load the model (no file named
    export.mkdir()                # model.safetensors ...)"
    (export / "config.json").write_text("{}", encoding="utf-8")
    (export / "labeltune.json").write_text(json.dumps({"onnx": "model.onnx"}), encoding="utf-8")
    with pytest.raises(UserError, match=r"export: an ONNX export \(labeltune export\) holds no PyTorch weights"):
        labeltune.train(task="classification", model=str(export), train=data, output=str(tmp_path / "out"))


@pytest.mark.parametrize("header, column, words", [
    ("sentence,label", "text", "did you mean --text-column sentence?"),  # GLUE/SST-2's name
    ("text,labels", "label", "did you mean --label-column labels?"),
    ("review,sentiment", "label", "did you mean --label-column sentiment?"),  # IMDB-style CSVs
    ("txet,label", "text", "did you mean --text-column txet?"),  # a typo in the file
    ("TEXT,LABEL", "text", "did you mean --text-column TEXT?"),
    ("a gripping film,positive", "label", "the first line looks like data, not a header: add a first line naming the "
                                          "columns, one 'label'"),  # no header line
    ("Go.,Va !", "source", "the first line looks like data, not a header: add a first line naming the columns, one "
                           "'source'"),  # a Tatoeba/Anki pair file: its first line is a sentence pair
])
def test_a_missing_column_names_the_likely_fix(tmp_path, header, column, words):
    """The error listed the file's columns only; now it names the flag and value that fit, or says that the file
    has no header line."""
    from labeltune.data.readers import read_table

    path = _write(tmp_path / "rows.csv", f"{header}\na dull film,negative\na fine film,positive\n")
    with pytest.raises(UserError, match=f"no column '{column}'") as e:
        read_table(path).require(column, f"{column}_column")
    assert str(e.value).endswith(words), str(e.value)


def _fast(**kw):
    return dict(epochs=1, batch_size=4, precision="fp32", seed=0, quiet=True, threads=1, **kw)


def test_a_datasets_dir_keeps_class_names_and_ner_reads_it(tmp_path, tiny_bert_dir):
    """A directory from `ds.save_to_disk` (the Hugging Face user's own data): ClassLabel ids trained a model whose
    labels were "0"/"1" (the names lost); NER refused the directory ("is a directory, expected a file")."""
    import datasets

    import labeltune

    from trained import CLASSIFICATION, NER

    clf = datasets.Dataset.from_list(
        [{"text": t, "label": int(lab == "positive")} for t, lab in CLASSIFICATION],
        features=datasets.Features({"text": datasets.Value("string"),
                                    "label": datasets.ClassLabel(names=["negative", "positive"])}))
    clf.save_to_disk(str(tmp_path / "clf"))
    labeltune.train(task="classification", model=tiny_bert_dir, train=str(tmp_path / "clf"), validation_fraction=0,
                    output=str(tmp_path / "clf-run"), **_fast())
    assert labeltune.load(str(tmp_path / "clf-run")).rt.setup["labels"] == ["negative", "positive"]

    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    ner = datasets.Dataset.from_list(  # conll2003's shape: ner_tags, a list of ClassLabel
        [{"tokens": t, "ner_tags": [names.index(g) for g in tags]} for t, tags in NER],
        features=datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                                    "ner_tags": datasets.List(datasets.ClassLabel(names=names))}))
    ner.save_to_disk(str(tmp_path / "ner"))
    labeltune.train(task="ner", model=tiny_bert_dir, train=str(tmp_path / "ner"), validation_fraction=0,
                    output=str(tmp_path / "ner-run"), **_fast())
    assert set(labeltune.load(str(tmp_path / "ner-run")).rt.setup["labels"]) == set(names)


def test_ner_jsonl_in_the_datasets_shape_reads(tmp_path):
    """{"tokens": [...], "ner_tags": [...]} (datasets' column name) said "no 'tags' field"; integer tags name
    where their names are."""
    from labeltune.tasks import get_task

    from trained import NER

    task = get_task("ner")
    path = tmp_path / "ner.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "tokens": t, "pos_tags": [0] * len(t), "ner_tags": g}) + "\n"
                            for i, (t, g) in enumerate(NER)), encoding="utf-8")
    examples = task.read(str(path), task.Options())
    assert [e["tags"] for e in examples] == [g for _, g in NER]
    path.write_text(json.dumps({"tokens": ["Anna"], "ner_tags": [1]}) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"line 1: tag 0 is the integer 1; give --tag-names .*features\['ner_tags'\]"):
        task.read(str(path), task.Options())


def test_a_split_too_small_for_the_documents_says_documents(tmp_path, tiny_bert_dir):
    """CoNLL-2003 style: two -DOCSTART- documents and --validation-fraction 0.1 said "2 groups of rows (identical
    inputs stay together)": the groups are documents."""
    import labeltune

    from trained import NER

    lines = []
    for d in range(2):
        lines.append("-DOCSTART- -X- -X- O\n\n")
        lines += ["".join(f"{t} NNP B-NP {g}\n" for t, g in zip(*s)) + "\n" for s in NER]
    path = _write(tmp_path / "train.conll", "".join(lines))
    with pytest.raises(UserError, match=r"2 groups of rows \(by document: a group is never split\)"):
        labeltune.train(task="ner", model=tiny_bert_dir, train=path, output=str(tmp_path / "out"), **_fast())


def test_a_file_for_another_task_given_to_a_trained_model_says_so(clf_run, tmp_path, tmp_path_factory, tiny_bert_dir):
    """evaluate/predict with an NER model on a classification CSV said "line 1: 1 column(s), no tag column ... is
    this file tagged?"; a CoNLL file given to a classifier "unknown file type '.conll'". Now each also says what
    the file looks like and what the model is (train already said "did you mean --task")."""
    import labeltune

    from trained import tiny_run, write_data

    ner_dir = tiny_run(tmp_path_factory.getbasetemp(), tiny_bert_dir, "ner")
    ner = labeltune.load(ner_dir)
    csv_file = write_data(str(tmp_path / "clf"), "classification")
    hint = "the file looks like classification data, but --model is a ner model"
    with pytest.raises(UserError, match=f"^{csv_file}, line .*; {hint}"):
        ner.evaluate(csv_file)
    with pytest.raises(UserError, match=f"^{csv_file}, line .*; {hint}"):
        ner.predict_file(csv_file, str(tmp_path / "p.jsonl"))
    from labeltune.export import ExportOptions, _sample_inputs

    with pytest.raises(UserError, match=f"^{csv_file}, line .*; {hint}"):  # export --data
        _sample_inputs(ExportOptions(model=ner_dir, data=csv_file), ner)
    conll = _write(tmp_path / "train.conll", "John B-PER\nlives O\n\nAnna B-PER\n")
    with pytest.raises(UserError, match="unknown file type '.conll'.*looks like ner data, but --model is a "
                                        "classification model"):
        labeltune.load(clf_run).evaluate(conll)


def test_an_unanswerable_question_held_out_of_train_says_so(tmp_path, tiny_bert_dir):
    """SQuAD v2 data whose unanswerable questions share one context: the split put them all into validation and
    the error said only "the training data has none ...; add unanswerable training questions or remove it" (the
    training file had them). Now it names --version-2-with-negative and, in train, the split that held it out."""
    import labeltune

    qas = [{"id": f"q{i}", "question": "Whose son was Noah?", "answers": [{"text": "Lamech", "answer_start": 20}]}
           for i in range(3)]
    paragraphs = [{"context": f"Noah{i} was the son of Lamech.".replace(f"Noah{i}", "Noah" + " " * i),
                   "qas": [dict(q, id=f"{i}-{q['id']}", answers=[{"text": "Lamech", "answer_start": 20 + i}])
                           for q in qas]} for i in range(3)]
    paragraphs[0]["qas"].append({"id": "u", "question": "Who built the tower?", "answers": [], "is_impossible": True})
    path = _write(tmp_path / "train.json", json.dumps({"version": "v2.0", "data": [{"paragraphs": paragraphs}]}))
    from labeltune.data.split import grouped_stratified_split
    from labeltune.tasks import get_task

    task = get_task("qa")
    examples = task.read(path, task.Options())
    seed = next(s for s in range(20)  # a seed whose validation part is the paragraph with the unanswerable question
                if "u" in [examples[i]["id"] for i in grouped_stratified_split(*task.split_keys(examples), [0.34, 0], s)[0]])
    with pytest.raises(UserError, match=r"\(id u\): an unanswerable question.*--version-2-with-negative.*held out "
                                        r"from --train .*train\.json by the split"):
        labeltune.train(task="qa", model=tiny_bert_dir, train=path, validation_fraction=0.34, max_length=64,
                        doc_stride=16, output=str(tmp_path / "out"), **{**_fast(), "seed": seed})


def test_translation_reads_the_datasets_shape_and_language_columns(tmp_path):
    """{"translation": {"es": ..., "en": ...}} (Hugging Face datasets' translation sets, e.g. opus_books) said "no
    column 'source'; the file has columns: id, translation"; so did a CSV with columns es,en given --source-lang es
    --target-lang en. Now both read; without the languages the error says which flags to give."""
    from labeltune.tasks import get_task

    from trained import TRANSLATION

    task = get_task("translation")
    hf = tmp_path / "pairs.jsonl"
    hf.write_text("".join(json.dumps({"id": str(i), "translation": {"es": s, "en": t}}) + "\n"
                          for i, (s, t) in enumerate(TRANSLATION)) + "\n", encoding="utf-8")
    langs = task.Options(source_lang="es", target_lang="en")
    assert [(e["source"], e["target"]) for e in task.read(str(hf), langs)] == TRANSLATION
    assert [e["source"] for e in task.read(str(hf), task.Options(source_lang="es"), labelled=False)] == \
        [s for s, _ in TRANSLATION]
    with pytest.raises(UserError, match=r"pairs\.jsonl: rows hold translation pairs .*es/en.*give --source-lang"):
        task.read(str(hf), task.Options())
    with pytest.raises(UserError, match=r"pairs\.jsonl, line 1: no 'fr' in 'translation' \(it has es, en\)"):
        task.read(str(hf), task.Options(source_lang="fr", target_lang="en"))
    by_lang = tmp_path / "pairs.csv"
    with open(by_lang, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("es", "en"), *TRANSLATION])
    assert [(e["source"], e["target"]) for e in task.read(str(by_lang), langs)] == TRANSLATION
    with pytest.raises(UserError, match=r"pairs\.csv: no column 'source' .*; its columns es, en look like languages: "
                                        r"give --source-lang es --target-lang en"):
        task.read(str(by_lang), task.Options())


def test_an_empty_split_suggests_a_fraction_that_works(tmp_path, tiny_bert_dir):
    """Two distinct rows (one per class), each repeated: --validation-fraction 0.5 said "raise
    --validation-fraction to at least 0.25" (no fraction can: every class keeps a group for training). Now it says
    so; where a fraction does work, the one suggested is tried with the split itself."""
    import labeltune

    rows = "".join(f"{t},{lab}\n" for t, lab in [("a cat sat", "same"), ("a dog ran", "different")] * 6)
    path = _write(tmp_path / "pairs.csv", "text,label\n" + rows)
    with pytest.raises(UserError, match=r"no --validation-fraction up to 0\.5 holds any out, as every class keeps a "
                                        r"group for training \(2 groups, 2 classes\): add rows"):
        labeltune.train(task="classification", model=tiny_bert_dir, train=path, validation_fraction=0.5,
                        output=str(tmp_path / "out"), **_fast())
    rows = "".join(f"film {i},{'good' if i % 2 else 'bad'}\n" for i in range(6))
    path = _write(tmp_path / "six.csv", "text,label\n" + rows)
    with pytest.raises(UserError, match=r"raise --validation-fraction to at least (\S+),") as e:
        labeltune.train(task="classification", model=tiny_bert_dir, train=path, validation_fraction=0.05,
                        output=str(tmp_path / "out"), **_fast())
    from labeltune.data.split import grouped_stratified_split

    enough = float(str(e.value).split("at least ")[1].split(",")[0])
    groups, strata = [f"film {i}" for i in range(6)], ["good" if i % 2 else "bad" for i in range(6)]
    assert grouped_stratified_split(groups, strata, [enough, 0.0], 0)[0]  # the fraction suggested does hold rows
    assert not grouped_stratified_split(groups, strata, [enough - 0.01, 0.0], 0)[0]  # and is the smallest that does


def test_python_inputs_of_the_wrong_shape_are_refused(clf_run, tmp_path, tiny_bert_dir):
    """labeltune.load(...).predict: a pair model given a string (or a dict without the pair column: KeyError) and a
    one-text model given a (text, pair) tuple predicted on an input the model was never trained on, or crashed; a
    None or a number inside an input was a tokenizer ValueError; {"text": ""} was predicted ("" alone was refused)."""
    import labeltune

    rows = [(f"the cat sat {i}", "a cat was sitting", "same") for i in range(4)] + \
           [(f"a dog ran {i}", "the sky is blue", "different") for i in range(4)]
    with open(tmp_path / "pairs.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("s1", "s2", "label"), *rows])
    labeltune.train(task="classification", model=tiny_bert_dir, train=str(tmp_path / "pairs.csv"), text_column="s1",
                    text_pair_column="s2", validation_fraction=0, output=str(tmp_path / "pair"), **_fast())
    pair = labeltune.load(str(tmp_path / "pair"))
    assert len(pair.predict([("a", "b"), {"s1": "a", "s2": "b"}])) == 2
    for bad, words in (("a cat", "got a string; this model classifies sentence pairs ('s1', 's2')"),
                       ({"s1": "a cat"}, "got a dict with 's1'; this model classifies sentence pairs"),
                       (("a", None), "empty text in column 'text_pair'"),
                       (("a", "b", "c"), "got a sequence of 3")):
        with pytest.raises(UserError, match=f"^input 0: {re.escape(words)}"):
            pair.predict([bad])
    one = labeltune.load(clf_run)
    assert len(one.predict(["a fine film", {"text": "a fine film", "id": 3}])) == 2
    for bad, words in ((("a", "b"), "got a sequence of 2; this model classifies one text per input"),
                       ({"text": ""}, "empty text in column 'text'"), ({"text": 5}, "column 'text' holds int 5"),
                       (5, "got int")):
        with pytest.raises(UserError, match=f"^input 0: {re.escape(words)}"):
            one.predict([bad])


def test_an_output_named_like_a_file_of_the_model_is_refused(clf_run, tmp_path):
    """predict --output runs/x/config.json replaced the model's config with predictions (the model no longer
    loaded); evaluate --output runs/x/metrics.json replaced the run's training record. Now refused before any work,
    and the files are unchanged; another name in the model's folder is fine."""
    import shutil

    from labeltune.cli import main

    from trained import write_data

    model = str(tmp_path / "run")
    shutil.copytree(clf_run, model)
    data = write_data(str(tmp_path / "data"), "classification")
    before = {n: open(os.path.join(model, n), "rb").read() for n in ("config.json", "metrics.json")}
    for argv in (["predict", "--model", model, "--input", data, "--output", os.path.join(model, "config.json")],
                 ["evaluate", "--model", model, "--data", data, "--output", os.path.join(model, "metrics.json")],
                 ["evaluate", "--model", model, "--data", data, "--predictions", os.path.join(model, "config.json")]):
        assert main(argv) == 2
    assert {n: open(os.path.join(model, n), "rb").read() for n in before} == before
    assert main(["predict", "--model", model, "--input", data, "--output", os.path.join(model, "preds.csv")]) == 0


def test_label_names_given_for_labels_that_are_names_says_to_drop_it(tmp_path):
    """--label-names on a file whose labels are already names said "label 'positive' is not an index into
    --label-names (2 names)"; now it says that --label-names is for integer labels."""
    from labeltune.tasks import get_task

    task = get_task("classification")
    path = _write(tmp_path / "rows.csv", "text,label\na fine film,positive\na dull film,negative\n")
    with pytest.raises(UserError, match=r"line 2: label 'positive' is a name, not one of --label-names \(neg, pos\), "
                                        r"which names integer labels 0, 1, \.\.\.; drop --label-names"):
        task.read(path, task.Options(label_names="neg,pos"))


def test_debug_data_warns_when_train_s_default_split_would_be_empty(tmp_path, tiny_bert_dir, capsys):
    """debug-data said "problems: 0 (none found)" for a CoNLL file of two -DOCSTART- documents, which `train`
    then refused (--validation-fraction 0.1 of 2 documents is none). Now a warning with the fraction that works."""
    from labeltune.cli import main

    from trained import NER

    lines = []
    for d in range(2):
        lines.append("-DOCSTART- -X- -X- O\n\n")
        lines += ["".join(f"{t} NNP B-NP {g}\n" for t, g in zip(*s)) + "\n" for s in NER]
    path = _write(tmp_path / "train.conll", "".join(lines))
    assert main(["debug-data", "--task", "ner", "--train", path, "--model", tiny_bert_dir, "--json"]) == 0
    problems = [p["problem"] for p in json.loads(capsys.readouterr().out)["problems"]]
    assert any("--validation-fraction 0.1 (train's default) holds out none of its 2 groups of rows (by document)"
               in p and "--validation-fraction 0.25" in p for p in problems), problems


@pytest.mark.parametrize("content", [
    "text,label,,\r\na fine film,positive,,\r\na dull film,negative,,\r\n",  # unnamed empty columns (Excel)
    "sep=;\ntext;label\na fine film;positive\na dull film;negative\n",  # Excel's separator line
    "text,label\na fine film,positive\n,\na dull film,negative\n",  # a cleared row, saved as ","
])
def test_excel_csv_quirks_read(tmp_path, content):
    """Excel's CSV quirks: unnamed trailing columns said "duplicate column names ['']"; a "sep=;" line was read as
    the header ("no column 'text'; the file has columns: sep="); a cleared row "," said "empty text"."""
    from labeltune.data.readers import read_table

    table = read_table(_write(tmp_path / "rows.csv", content))
    assert table.columns == ["text", "label"]
    assert [r["text"] for r in table.rows] == ["a fine film", "a dull film"]
    assert table.where(1).endswith("line 4" if "sep=" in content or ",\n" in content else "line 3")


def test_an_unnamed_column_that_holds_data_is_refused(tmp_path):
    from labeltune.data.readers import read_table

    with pytest.raises(UserError, match=r"rows\.csv, line 3: column 2 has no name in the header \(line 1\) but holds "
                                        r"'x'; name it, or delete the column"):
        read_table(_write(tmp_path / "rows.csv", "text,,label\na,,positive\nb,x,negative\n"))


def test_conll_comment_lines_are_not_tokens(tmp_path):
    """MultiCoNER / CoNLL-U files start each sentence with "# id ..." or "# text = ..."; that said "line 2: 4
    column(s) but the first line has 2". A "#" token (a hashtag, tagged) is still a token."""
    from labeltune.tasks import get_task

    task = get_task("ner")
    path = _write(tmp_path / "train.conll", "# id 1\tdomain=en\nJohn _ _ B-PER\nlives _ _ O\n\n"
                                            "# text = Anna met #Peter\nAnna _ _ B-PER\nmet _ _ O\n#Peter _ _ B-PER\n"
                                            "# _ _ O\n")
    examples = task.read(path, task.Options())
    assert [(e["tokens"], e["tags"]) for e in examples] == [
        (["John", "lives"], ["B-PER", "O"]), (["Anna", "met", "#Peter", "#"], ["B-PER", "O", "B-PER", "O"])]
    assert [e["_where"] for e in examples] == [f"{path}, line 2", f"{path}, line 6"]
    assert [e["tokens"] for e in task.read(path, task.Options(), labelled=False)] == [e["tokens"] for e in examples]


def test_bilou_tags_read_as_bioes(tmp_path):
    """BILOU tags (U-PER, L-LOC, as spaCy's offsets_to_biluo_tags writes them) said "tag 'U-PER' is neither O nor
    a B-/I-/E-/S- prefix"; they are BIOES under other letters."""
    from labeltune.tasks import get_task

    task = get_task("ner")
    path = _write(tmp_path / "train.conll", "John U-PER\nflew O\nto O\nNew B-LOC\nYork L-LOC\n\n")
    for scheme in ("auto", "bilou"):
        [ex] = task.read(path, task.Options(scheme=scheme))
        assert ex["tags"] == ["B-PER", "O", "O", "B-LOC", "I-LOC"] and ex["_scheme"] == "BIOES"


def test_json_named_csv_and_csv_named_jsonl_say_to_rename(tmp_path):
    """JSON Lines saved as .csv said "line 2: 2 fields but the header has 3"; a CSV saved as .jsonl said only "line
    1: not valid JSON"."""
    from labeltune.data.readers import read_table

    rows = "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in ROWS)
    with pytest.raises(UserError, match=r"rows\.csv holds JSON, not CSV; rename it to \.jsonl"):
        read_table(_write(tmp_path / "rows.csv", rows))
    with pytest.raises(UserError, match=r"rows\.jsonl, line 1: not valid JSON .*comma-separated: rename it to \.csv"):
        read_table(_write(tmp_path / "rows.jsonl", "text,label\na fine film,positive\n"))


def test_ner_predict_on_a_text_per_line_file(tmp_path):
    """NER predict --input sentences.txt (a text per line) was read as CoNLL: one "sentence" made of the first word
    of each line, the other words dropped without a word. Now refused with the fix, and --data-format text reads
    each line as a text (a blank line is an error: row N of the output is line N)."""
    from labeltune.tasks import get_task

    task = get_task("ner")
    path = _write(tmp_path / "sentences.txt", "John lives in Paris\nAnna met Peter today\n")
    with pytest.raises(UserError, match=r"sentences\.txt: read as CoNLL this is one sentence whose tokens are the "
                                        r"first word of each of its 2 lines; if each line is a text, pass --data-format"):
        task.read(path, task.Options(), labelled=False)
    examples = task.read(path, task.Options(data_format="text"), labelled=False)
    assert [(e["text"], e["_where"]) for e in examples] == [("John lives in Paris", f"{path}, line 1"),
                                                           ("Anna met Peter today", f"{path}, line 2")]
    with pytest.raises(UserError, match=r"sentences\.txt, line 2: 3 column\(s\) but the first line has 4 \(if each "
                                        r"line is a text, pass --data-format"):
        task.read(_write(tmp_path / "sentences.txt", "John lives in Paris\nAnna met Peter\n"), task.Options(), False)
    with pytest.raises(UserError, match=r"line 2: empty line; with --data-format \(data_format=\) text"):
        task.read(_write(tmp_path / "gap.txt", "John lives\n\nAnna\n"), task.Options(data_format="text"), False)
    with pytest.raises(UserError, match=r"--data-format \(data_format=\) text: .* holds texts without entities"):
        task.read(path, task.Options(data_format="text"))


def test_resume_overwrite_without_a_checkpoint_starts_afresh(tmp_path, tiny_bert_dir):
    """--resume --overwrite on a finished run (no checkpoint) trained again over the old folder without removing
    its files: the old run's split.json, splits/ and predictions_test.jsonl stayed beside the new model, which had
    no test split. Now it starts afresh as --overwrite does (files labeltune did not write stay)."""
    import labeltune

    from trained import write_data

    data = write_data(str(tmp_path / "data"), "classification")
    out = tmp_path / "run"
    labeltune.train(task="classification", model=tiny_bert_dir, train=data, test_fraction=0.25, validation_fraction=0,
                    output=str(out), **_fast())
    assert (out / "predictions_test.jsonl").exists() and (out / "split.json").exists()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    labeltune.train(task="classification", model=tiny_bert_dir, train=data, validation=data, output=str(out),
                    resume=True, overwrite=True, **_fast())
    assert not (out / "predictions_test.jsonl").exists() and not (out / "split.json").exists()
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine" and (out / "labeltune.json").exists()


def test_qa_one_answer_as_one_object_reads(tmp_path):
    """{"answers": {"text": "Lamech", "answer_start": 20}} (one answer, not in lists) said "answers 'text' and
    'answer_start' must be lists of the same length"; a mismatch in lists is still refused."""
    from labeltune.tasks import get_task

    task = get_task("qa")
    context = "Noah was the son of Lamech."
    rows = [{"id": "a", "question": "Whose son?", "context": context, "answers": {"text": "Lamech", "answer_start": 20}}]
    [ex] = task.read(_write(tmp_path / "qa.jsonl", "".join(json.dumps(r) + "\n" for r in rows)), task.Options())
    assert ex["answers"] == [{"text": "Lamech", "answer_start": 20}]
    rows[0]["answers"] = {"text": ["Lamech"], "answer_start": [20, 3]}
    with pytest.raises(UserError, match="must be lists of the same length"):
        task.read(_write(tmp_path / "qa.jsonl", "".join(json.dumps(r) + "\n" for r in rows)), task.Options())


def test_a_windows_1252_file_names_the_conversion(tmp_path):
    """Excel's "CSV" on Windows is Windows-1252: "byte 0x93 is not valid UTF-8; re-save the file as UTF-8" did not say
    how; now it names the encoding and the iconv command."""
    from labeltune.data.readers import read_table

    path = tmp_path / "rows.csv"
    path.write_bytes("text,label\n\u201cgreat\u201d caf\u00e9,positive\n".encode("cp1252"))
    with pytest.raises(UserError, match=r"line 2: byte 0x93 is not valid UTF-8; .*Windows-1252.*iconv -f WINDOWS-1252"):
        read_table(str(path))


def test_predict_reads_json_lines_from_standard_input(clf_run, monkeypatch, capsys):
    """--output - writes standard output, but --input - said "-: unknown file type ''"; now it reads JSON Lines from
    standard input, and an error names standard input and the line."""
    import io

    from labeltune.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "a fine film", "id": 7}\n{"text": "a dull film", "id": 8}\n'))
    assert main(["predict", "--model", clf_run, "--input", "-", "--output", "-", "--keep-columns", "id"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["text"]) for r in rows] == [(7, "a fine film"), (8, "a dull film")] and "label" in rows[0]
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "a fine film"}\n{"txt": "oops"}\n'))
    assert main(["predict", "--model", clf_run, "--input", "-", "--output", "-"]) == 2
    assert "standard input (JSON Lines), line 2: no key 'text'" in capsys.readouterr().err


def test_a_split_fraction_beside_its_file_is_refused(tmp_path, tiny_bert_dir):
    """--validation FILE --validation-fraction 0.2 (or --test FILE --test-fraction 0.2) ignored the fraction in
    silence: the held-out rows the user asked for were trained on."""
    import labeltune

    from trained import write_data

    data = write_data(str(tmp_path / "data"), "classification")
    for name in ("validation", "test"):
        with pytest.raises(UserError, match=f"^--{name} .*train.csv and --{name}-fraction .* 0.2: the fraction is "
                                            f"carved from --train only when no --{name} file is given"):
            labeltune.train(task="classification", model=tiny_bert_dir, train=data, output=str(tmp_path / "out"),
                            **{name: data, f"{name}_fraction": 0.2}, **_fast())
        assert not (tmp_path / "out").exists()


def test_ner_spans_under_another_name_suggest_the_flag(tmp_path):
    """A Doccano export ({"text": ..., "label": [[0, 4, "PER"]]}) said "no 'entities' field (set by --spans-column)"
    without the row's fields; now it names them and the flag value, and --spans-column label reads it."""
    from labeltune.tasks import get_task

    task = get_task("ner")
    path = _write(tmp_path / "doccano.jsonl", json.dumps({"id": 1, "text": "John lives in Paris",
                                                          "label": [[0, 4, "PER"], [14, 19, "LOC"]]}) + "\n")
    with pytest.raises(UserError, match=r"line 1: no 'entities' field .*the row has id, text, label; did you mean "
                                        r"--spans-column label\?"):
        task.read(path, task.Options())
    [ex] = task.read(path, task.Options(spans_column="label"))
    assert ex["spans"] == [(0, 4, "PER"), (14, 19, "LOC")]


def test_load_with_an_unknown_option_names_it(clf_run):
    """labeltune.load(dir, text_colum="review") was a TypeError from the options dataclass; now a UserError with
    the nearest option (train already did this)."""
    import labeltune

    with pytest.raises(UserError, match=r"^labeltune.load\(\): unknown option 'text_colum' for a classification "
                                        r"model; did you mean 'text_column'\?"):
        labeltune.load(clf_run, text_colum="review")
    assert labeltune.load(clf_run, text_column="review").opts.text_column == "review"


def test_datasets_translation_rows_under_the_default_task_suggest_translation(tmp_path, tiny_bert_dir):
    """{"translation": {...}} rows given without --task said "no column 'text'; the file has columns: id,
    translation"; now it adds "did you mean --task translation?" as it does for source/target columns."""
    import labeltune

    path = _write(tmp_path / "pairs.jsonl", json.dumps({"id": "0", "translation": {"es": "hola", "en": "hi"}}) + "\n")
    with pytest.raises(UserError, match=r"no column 'text'.*did you mean --task translation\?"):
        labeltune.train(model=tiny_bert_dir, train=path, output=str(tmp_path / "out"), **_fast())


def test_a_task_flag_with_a_wrong_model_path_names_the_path(tmp_path, capsys):
    """predict --model <a path with no trained model> --data-format text said "unrecognized arguments:
    --data-format text" (the task's flags come from the model); now the model path's own error comes first."""
    from labeltune.cli import main

    missing = str(tmp_path / "no-run")
    assert main(["predict", "--model", missing, "--input", "x.txt", "--output", "-", "--data-format", "text"]) == 2
    err = capsys.readouterr().err
    assert f"--model {missing}: no labeltune.json there: the path does not exist" in err, err


def test_a_tsv_whose_quotes_are_text_reads(tmp_path):
    """GLUE-style TSV (SST-2, CoLA): quotes are part of the text, not quoting; '"quoted" words<TAB>1' said "malformed
    row: '\\t' expected after '\\"'". Now read as GLUE's readers do (no quoting) when quoted reading fails; a TSV
    that quotes its fields still reads with the quotes removed."""
    from labeltune.data.readers import read_table

    glue = _write(tmp_path / "train.tsv", 'sentence\tlabel\n"quoted" start\t1\nit \'s a " great " film\t1\nbad\t0\n')
    assert [r["sentence"] for r in read_table(glue).rows] == ['"quoted" start', 'it \'s a " great " film', "bad"]
    quoted = _write(tmp_path / "q.tsv", 'text\tlabel\n"a\ttab inside"\t1\n')
    assert read_table(quoted).rows == [{"text": "a\ttab inside", "label": "1"}]


def test_an_empty_label_in_multi_label_looking_data_names_multi_label(tmp_path):
    """'comedy|drama' rows and a row with no genre, without --multi-label: "line 4: empty label; every training and
    evaluation row needs one" (the multi-label hint was printed only after reading); now the error carries it."""
    from labeltune.tasks import get_task

    task = get_task("classification")
    path = _write(tmp_path / "genres.csv", "text,labels\nfunny and sad,comedy|drama\njust funny,comedy\nnothing,\n")
    with pytest.raises(UserError, match=r"line 4: empty label; .*pass --multi-label --label-delimiter '\|'"):
        task.read(path, task.Options(label_column="labels"))
    examples = task.read(path, task.Options(label_column="labels", multi_label=True, label_delimiter="|"))
    assert [e["labels"] for e in examples] == [["comedy", "drama"], ["comedy"], []]
