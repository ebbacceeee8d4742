"""train --word-recognition (labeltune/robustness/wordfix.py): typos of known words are corrected, everything else
passes through, labels stay aligned for NER and QA, the saved model applies the front end in predict and the
attack, `word_recognition=False` switches it off, and bad values are refused before training."""

from __future__ import annotations

import json
import os

import pytest

from labeltune.errors import UserError
from labeltune.robustness.wordfix import WordFixer
from labeltune.tasks.classification import ClassificationTask
from labeltune.tasks.ner import NERTask
from labeltune.tasks.qa import QATask
from test_robustness import train_zebra

TRAIN = [{"text": "a great film , truly great and a movie to see", "labels": ["positive"]},
         {"text": "The movie is dull", "labels": ["negative"]}]


def test_one_edit_typos_of_known_words_are_corrected_and_the_rest_passes_through():
    fixer = WordFixer.fit(ClassificationTask(), TRAIN, "en")
    assert fixer.counts["great"] == 2 and fixer.counts["movie"] == 2 and "," not in fixer.counts
    # the four edits of the attack: keyboard neighbour, swap, drop, insert; case and punctuation kept
    assert [fixer.correct(w) for w in ["grwat", "Taerg", "Moive", "flim.", "\"duull\"", "brillaint"]] == \
        ["great", None, "Movie", "film.", "\"dull\"", "brilliant"]  # "taerg" is 2 edits away: left alone
    # the training counts rank first: English alone ranks "get" above "great" for "gret"
    assert fixer.correct("gret") == "great"
    # known words (from the data or the language), short words and non-words pass through
    for word in ["great", "unwatchable", "Spielberg", "iz", "zzqxw", "1998", "it's"]:
        assert fixer.correct(word) is None, word
    # 'data': the training words alone; a real word it never saw is corrected only if one edit from a known one
    data_only = WordFixer.fit(ClassificationTask(), TRAIN, "data")
    assert data_only.correct("gret") == "great" and data_only.correct("brillaint") is None
    out = fixer.apply(ClassificationTask(), [{"text": "a gret flim, not dul", "labels": ["positive"]}])
    assert out == [{"text": "a great film, not dull", "labels": ["positive"]}]


def test_ner_tags_and_qa_answers_stay_aligned():
    ner = NERTask()
    fixer = WordFixer.fit(ner, [{"tokens": ["Abraham", "went", "to", "Egypt"], "tags": ["B-PER", "O", "O", "B-LOC"]}],
                          "data")
    out = fixer.apply(ner, [{"tokens": ["Abrahma", "wnet", "to", "Egpyt", "."], "tags": ["B-PER", "O", "O", "B-LOC", "O"]}])
    assert out[0]["tokens"] == ["Abraham", "went", "to", "Egypt", "."]
    assert out[0]["tags"] == ["B-PER", "O", "O", "B-LOC", "O"]

    qa = QATask()
    context = "the zebra ran passt the rivver in winter"
    example = {"id": "0", "question": "where did the zebar run ?", "context": context,
               "answers": [{"text": "in winter", "answer_start": context.index("in winter")}]}
    fixer = WordFixer.fit(qa, [{"id": "1", "question": "zebra", "context": "past river zebra", "answers": []}], "data")
    out = fixer.apply(qa, [example])[0]
    assert out["question"] == "where did the zebra run ?" and out["context"] == "the zebra ran past the river in winter"
    start = out["answers"][0]["answer_start"]
    assert out["context"][start:start + len("in winter")] == "in winter"


def test_bad_values_are_refused_before_training():
    from labeltune.config import TrainConfig

    with pytest.raises(UserError, match=r"--word-recognition \(word_recognition=\) must be a language"):
        TrainConfig(word_recognition="english")
    from labeltune.robustness.wordfix import check

    with pytest.raises(UserError, match="has no perturb hook"):
        check(type("T", (), {"name": "custom"})(), "en")


@pytest.fixture(scope="module")
def zebra_fixed(tmp_path_factory, tiny_bert_dir):
    """The keyword-rule model of test_robustness ("contains 'zebra' -> positive"), trained with the front end."""
    return train_zebra(tmp_path_factory.mktemp("zebra_wr"), tiny_bert_dir, "--word-recognition", "data")


def test_the_saved_model_corrects_typos_in_predict_and_the_attack(zebra_fixed, tmp_path):
    import labeltune
    from labeltune.robustness import RobustnessOptions, robustness

    model = zebra_fixed["model"]
    meta = json.load(open(os.path.join(model, "labeltune.json")))
    assert meta["word_recognition"]["file"] == "word_recognition.json" and "word_recognition.json" in meta["files"]
    assert json.load(open(os.path.join(model, "word_recognition.json")))["counts"]["zebra"] == 120

    typos = ["movie zebar garden river", "movie zbera garden river", "movie zebrra garden river"]
    fixed = labeltune.load(model, precision="fp32").predict(typos)
    bare = labeltune.load(model, precision="fp32", word_recognition=False).predict(typos)
    assert [p["label"] for p in fixed] == ["positive"] * 3  # read as "zebra"
    assert [p["label"] for p in bare] == ["negative"] * 3  # the network alone does not know the typos

    # the character attack that takes the plain zebra model's positives (test_robustness) now fails: every typo of
    # "zebra" is corrected back before the model reads it
    opts = RobustnessOptions(attack=True, budget=0.2, seed=1, perturbations="typo", attack_edits="char")
    report = robustness(model, zebra_fixed["test"], str(tmp_path / "r"), opts)
    assert report["rows"][0]["model"] >= 0.95
    attack = report["attack"]["model"]
    assert attack["attacked"] >= 38 and attack["attack_success_rate"] <= 0.05


def test_an_onnx_export_keeps_the_front_end(zebra_fixed, tmp_path):
    import labeltune
    from labeltune.export import ExportOptions, export

    out = str(tmp_path / "onnx")
    export(ExportOptions(model=zebra_fixed["model"], output=out))
    assert os.path.exists(os.path.join(out, "word_recognition.json"))
    onnx = labeltune.load(out)
    assert onnx.backend == "onnx" and onnx.predict("movie zebar garden river")[0]["label"] == "positive"


def test_the_model_card_says_what_reads_the_input(zebra_fixed):
    card = open(os.path.join(zebra_fixed["model"], "README.md")).read()
    assert "typo-correcting front end (`--word-recognition`, `word_recognition.json`" in card
    assert "the training words alone" in card and "load the network alone" in card
    # before: "a word known to neither the training words alone that is one edit ..." (neither without nor)
    assert "a word of 3 or more letters that is not a known word (known words: the training words alone)" in card


def test_span_back_maps_spans_of_the_corrected_text_to_the_users():
    from labeltune.robustness.wordfix import span_back

    text, fixed = "Noah was the sonn of (Lamec), a mann", "Noah was the son of (Lamech), a man"
    back = span_back(text, fixed)
    for word, mine in [("Noah", "Noah"), ("son of", "sonn of"), ("Lamech", "Lamec"), ("(Lamech),", "(Lamec),"),
                       ("of (Lamech), a man", "of (Lamec), a mann"), (")", ")")]:
        s = fixed.index(word)
        a, b = back(s, s + len(word))
        assert text[a:b] == mine, word
    assert back(fixed.index("ech"), len(fixed) - 2) == (text.index("Lamec"), len(text))  # never half a word


@pytest.fixture(scope="module")
def tiny_fixed(tmp_path_factory, tiny_bert_dir):
    """Tiny QA and NER runs (tests/trained.py) with the front end of the training words."""
    from trained import tiny_run

    return {task: tiny_run(tmp_path_factory.mktemp(f"wr-{task}"), tiny_bert_dir, task, word_recognition="data")
            for task in ("qa", "ner")}


def test_qa_and_ner_predictions_are_spans_of_the_users_text(tiny_fixed):
    """Before: the answer and the entities were spans of the corrected copy ("sonn" -> "son" moved "Lamech" one
    character left: context[start:end] was " Lamec"), and their texts were the corrected words."""
    import labeltune

    qa = labeltune.load(tiny_fixed["qa"], precision="fp32")
    contexts = ["Noah was the sonn of Lamech.", "The ark rested on the mountians of Ararat.",
                "Cain was a tiller of the grond, and Abel was a keeper of sheep."]
    questions = ["Whose son was Noah?", "Where did the ark rest?", "Who was a keeper of sheep?"]
    preds = qa.predict([{"question": q, "context": c} for q, c in zip(questions, contexts)])
    assert [p["answer"] for p in preds] == ["Lamech", "the mountians of Ararat", "Abel"]  # the user's words
    for p, c in zip(preds, contexts):
        assert c[p["start"]:p["end"]] == p["answer"]

    ner = labeltune.load(tiny_fixed["ner"], precision="fp32")
    text = "Anna livs in Rome , and Mary vistied Berlin"
    [raw, tokens] = ner.predict([text, {"tokens": ["Mary", "Smtih", "vistied", "Berlin"]}])
    assert raw["entities"] and all(text[e["start"]:e["end"]] == e["text"] == e["word"] for e in raw["entities"])
    assert "Mary" in [e["text"] for e in raw["entities"]]  # after the corrected "livs" (one letter shorter)
    assert [e["text"] for e in tokens["entities"] if e["token_start"] == 1] in ([], ["Smtih"])
    assert all(e["text"] == " ".join(["Mary", "Smtih", "vistied", "Berlin"][e["token_start"]:e["token_end"]])
               for e in tokens["entities"])

    # explain reads what the network read (the corrected words) and lists the corrections it made
    [row] = ner.explain(text, method="ig", n_steps=4)
    assert row["prediction"] == raw and row["info"]["word_recognition"] == {"livs": "lives", "vistied": "visited"}
    assert [w["text"] for w in row["words"]][:2] == ["Anna", "lives"]


def test_a_word_that_lacks_only_an_accent_gets_it_back():
    """Before: "cafe" became "came" (also one edit, and more frequent in English); unaccented words are the
    commonest misspelling of accented ones in es/fr, and they were the likeliest to be read as another word."""
    en = WordFixer.fit(ClassificationTask(), TRAIN, "en")
    assert [en.correct(w) for w in ["cafe", "Cafe", "cliche"]] == ["café", "Café", "cliché"]
    es = WordFixer.fit(ClassificationTask(), [{"text": "una canción muy bonita", "labels": ["p"]}], "es")
    assert [es.correct(w) for w in ["cancion", "Cancion", "pelicula", "bonnita", "canción"]] == \
        ["canción", "Canción", "película", "bonita", None]


def test_a_missing_or_damaged_front_end_is_named_with_what_to_do(zebra_fixed, tmp_path):
    """Before: the message said to restore the file or train again, not that the network runs without it."""
    import shutil

    import labeltune

    model = str(tmp_path / "model")
    shutil.copytree(zebra_fixed["model"], model)
    for damage in ("missing", '{"language": "en", "counts": {"a": "x"}}', "[1, 2]", '{"language": "xx", "counts": {}}'):
        path = os.path.join(model, "word_recognition.json")
        if damage == "missing":
            os.remove(path)
        else:
            open(path, "w").write(damage)
        with pytest.raises(UserError, match=r"word_recognition\.json cannot be read .*word_recognition=False\) runs "
                                            r"the network alone"):
            labeltune.load(model, precision="fp32")
    # and it does: the network alone reads the typo as it is
    bare = labeltune.load(model, precision="fp32", word_recognition=False)
    assert bare.predict("movie zebar garden river")[0]["label"] == "negative"


def test_serve_says_a_front_end_reads_the_inputs_and_answers_in_the_users_terms(tiny_fixed):
    """Before: /metadata did not say that a front end changes the inputs (a client saw only the network's options)."""
    from fastapi.testclient import TestClient

    import labeltune
    from labeltune.serve import ServeOptions, create_app

    model = tiny_fixed["qa"]
    context = "Noah was the sonn of Lamech."
    with TestClient(create_app(labeltune.load(model, precision="fp32"), ServeOptions(model=model), model)) as client:
        assert client.get("/metadata").json()["word_recognition"] == {"language": "data", "words": 31}
        answer = client.post("/predict", json={"inputs": {"question": "Whose son was Noah?", "context": context}})
    [p] = answer.json()["predictions"]
    assert p["answer"] == context[p["start"]:p["end"]] == "Lamech"
    plain = labeltune.load(model, precision="fp32", word_recognition=False)
    with TestClient(create_app(plain, ServeOptions(model=model), model)) as bare:
        assert bare.get("/metadata").json()["word_recognition"] is None


def test_words_in_capitals_pass_through():
    """Before: acronyms, seldom in the word lists, became the word one edit away: CIA -> VIA, DNA -> NA, USA -> US,
    HIV -> HIS, OPEC -> OPEN (a shouted typo, MOVEI, is not corrected now: acronyms are far more common)."""
    fixer = WordFixer.fit(ClassificationTask(), TRAIN, "en")
    for word in ["CIA", "DNA", "USA", "HIV", "OPEC", "NASA", "FBI", "MOVEI", "(CNN)."]:
        assert fixer.correct(word) is None, word
    assert fixer.correct("Grwat") == "Great" and fixer.correct("viaa") == "via"  # not in capitals: corrected


def test_names_inside_a_sentence_pass_through():
    """Before: unseen names one edit from an English word were "corrected" (Keanu -> Kean, Streep -> Street,
    Jolie -> Julie, Wes -> We). A capitalised word inside a sentence is taken for a name now, corrected only to a
    word of the training data (test_ner_tags_and_qa_answers_stay_aligned: Egpyt -> Egypt); the same word in lower
    case, or starting a sentence, is corrected as before."""
    fixer = WordFixer.fit(ClassificationTask(), TRAIN, "en")
    words = "I liked Keanu and Streep , but Jolie was grwat . Streep was too".split()
    plan = fixer.plan(words, None, None)
    assert plan == {words.index("grwat"): "great", 11: "Street"}, plan  # the name after "." starts a sentence
    assert fixer.plan(["Grwat", "film", "with", "keanu"], None, None) == {0: "Great", 3: "kean"}


def test_evaluate_corrects_the_words_of_a_gold_answer_as_predict_does(tiny_fixed, tmp_path):
    """Before: evaluate (and the final metrics of train) froze the gold answer's words, so the model read
    "mountians" there while predict reads "mountains": the answer was "mount" and EM 50 where predict is right."""
    import labeltune

    qa = labeltune.load(tiny_fixed["qa"], precision="fp32")
    rows = [("Whose son was Noah?", "Noah was the sonn of Lamech.", "Lamech"),
            ("Where did the ark rest?", "The ark rested on the mountians of Ararat.", "the mountians of Ararat")]
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "question": q, "context": c,
                                        "answers": {"text": [a], "answer_start": [c.index(a)]}}) + "\n"
                            for i, (q, c, a) in enumerate(rows)))
    predicted = [p["answer"] for p in qa.predict([{"question": q, "context": c} for q, c, _ in rows])]
    assert predicted == ["Lamech", "the mountians of Ararat"]
    metrics = qa.evaluate(str(data), predictions=str(tmp_path / "p.jsonl"))
    assert metrics["exact_match"] == 100.0
    written = [json.loads(line) for line in open(tmp_path / "p.jsonl")]
    assert [w["answer"] for w in written] == predicted


def test_a_word_list_of_another_language_than_the_data_is_warned_about(tmp_path, tiny_bert_dir, capsys):
    """Before: `--word-recognition en` on Spanish text (a translation's source) trained in silence, and the front
    end then rewrote unseen Spanish words one edit from English ones (perro -> perry, grande -> grand)."""
    from labeltune.robustness.wordfix import language_warning
    from labeltune.tasks.translation import TranslationTask
    from trained import tiny_run

    spanish = [{"source": "el gato duerme en la casa y el perro corre por el jardín", "target": "x"},
               {"source": "los niños juegan con una pelota roja cerca del río grande", "target": "x"}]
    warning = language_warning(TranslationTask(), spanish, "en")
    assert warning.startswith("warning: --word-recognition en: its word list knows only ") and "the source's" in warning
    assert language_warning(TranslationTask(), spanish, "es") is None
    assert language_warning(TranslationTask(), spanish, "data") is None
    assert language_warning(ClassificationTask(), TRAIN, "en") is None
    tiny_run(tmp_path, tiny_bert_dir, "translation", word_recognition="fr")  # Spanish sources
    assert "warning: --word-recognition fr: its word list knows only" in capsys.readouterr().out


def _without_front_end(model: str, tmp_path) -> str:
    """A directory whose labeltune.json is `model`'s without the front end (enough for the CLI to refuse a flag)."""
    plain = tmp_path / "plain"
    os.makedirs(plain)
    meta = json.load(open(os.path.join(model, "labeltune.json")))
    del meta["word_recognition"]
    (plain / "labeltune.json").write_text(json.dumps(meta))
    return str(plain)


def test_predict_and_evaluate_can_run_the_network_alone(zebra_fixed, tmp_path, capsys):
    """Before: only the Python API (word_recognition=False) could; the CLI had no way to compare."""
    from labeltune.cli import main

    inputs = tmp_path / "in.csv"
    inputs.write_text("text\nmovie zebar garden river\n")
    labels = []
    for flags in ([], ["--no-word-recognition"]):
        out = tmp_path / f"out{len(flags)}.jsonl"
        assert main(["predict", "--model", zebra_fixed["model"], "--input", str(inputs), "--output", str(out),
                     "--precision", "fp32", *flags]) == 0
        labels.append(json.loads(out.read_text())["label"])
    assert labels == ["positive", "negative"]  # the typo read as "zebra" by the front end; as it is without
    assert main(["evaluate", "--model", zebra_fixed["model"], "--data", zebra_fixed["test"], "--precision", "fp32",
                 "--no-word-recognition"]) == 0
    plain = _without_front_end(zebra_fixed["model"], tmp_path)
    capsys.readouterr()
    assert main(["predict", "--model", plain, "--input", str(inputs), "--output", str(tmp_path / "o.jsonl"),
                 "--no-word-recognition"]) == 2
    assert "--no-word-recognition: " in (err := capsys.readouterr().err) and "has no word-recognition front end" in err


def test_load_takes_word_recognition_as_a_boolean(zebra_fixed):
    """Before: word_recognition="false" was truthy: the front end stayed on, in silence."""
    import labeltune

    for value in ("false", "off", 0, None):
        with pytest.raises(UserError, match=r"word_recognition=.*must be True or False"):
            labeltune.load(zebra_fixed["model"], word_recognition=value)


def test_the_explain_page_says_which_words_the_front_end_corrected(tiny_fixed, tmp_path):
    """Before: explain.html showed "lives" where the input said "livs", without a word on why."""
    from labeltune.cli import main

    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"text": "Anna livs in Rome"}) + "\n")
    assert main(["explain", "--model", tiny_fixed["ner"], "--input", str(data), "--output", str(tmp_path / "x"),
                 "--method", "ig", "--n-steps", "4"]) == 0
    page = open(tmp_path / "x" / "explain.html", encoding="utf-8").read()
    assert "the --word-recognition front end corrected these words before the network read them): livs &rarr; lives" \
        in page


def test_serve_explain_and_robustness_can_run_the_network_alone(zebra_fixed, tmp_path, capsys):
    """Before: only predict/evaluate (and the Python API) could turn the front end off."""
    from labeltune.cli import main
    from labeltune.serve import ServeOptions, load_app

    from fastapi.testclient import TestClient

    with TestClient(load_app(ServeOptions(model=zebra_fixed["model"], word_recognition=False,
                                          precision="fp32"))) as client:
        assert client.get("/metadata").json()["word_recognition"] is None
        answer = client.post("/predict", json={"inputs": "movie zebar garden river"}).json()
    assert answer["predictions"][0]["label"] == "negative"  # the typo read as it is
    data = tmp_path / "in.csv"
    data.write_text("text,label\nmovie zebar garden river,positive\n")
    assert main(["explain", "--model", zebra_fixed["model"], "--input", str(data), "--output", str(tmp_path / "x"),
                 "--method", "ig", "--n-steps", "4", "--no-word-recognition"]) == 0
    row = json.loads(open(tmp_path / "x" / "attributions.jsonl").readline())
    assert [w["text"] for w in row["words"]] == ["movie", "zebar", "garden", "river"] and "info" not in row
    assert main(["robustness", "--model", zebra_fixed["model"], "--data", str(data), "--output", str(tmp_path / "r"),
                 "--perturbations", "case", "--no-word-recognition"]) == 0
    assert json.load(open(tmp_path / "r" / "robustness.json"))["rows"][0]["model"] == 0.0  # read as "zebar"
    plain = _without_front_end(zebra_fixed["model"], tmp_path)
    capsys.readouterr()
    assert main(["explain", "--model", plain, "--input", str(data), "--output", str(tmp_path / "y"),
                 "--no-word-recognition"]) == 2
    assert "has no word-recognition front end to turn off" in capsys.readouterr().err


def test_suggest_ranks_pool_rows_as_the_front_end_reads_them(zebra_fixed):
    """Active learning with a model trained with --word-recognition scores the corrected words: the typos of
    "zebra" get the probabilities of "zebra" (positive), not those the network alone gives them (negative)."""
    import labeltune

    typos = [{"text": t} for t in ["movie zebar garden river", "movie zbera garden river", "movie zebrra garden river"]]
    embed = lambda out, batch: [None] * len(out.logits)  # noqa: E731 (no embeddings needed here)
    for word_recognition in (True, False):
        pred = labeltune.load(zebra_fixed["model"], precision="fp32", word_recognition=word_recognition)
        positive = pred.rt.setup["labels"].index("positive")
        outs = pred.task.active_outputs(pred.rt, typos, embed)
        p_pos = [float(o["probs"][0][positive]) for o in outs]
        assert all((p > 0.5) == word_recognition for p in p_pos), (word_recognition, p_pos)


def test_label_issues_scores_rows_as_the_front_end_reads_them_and_shows_the_users_words(zebra_fixed):
    """label-issues' fold models trained with --word-recognition score the corrected words (typos of "zebra" get
    "positive" probabilities, as predict gives them) while the units keep the user's text."""
    import labeltune

    rows = ["movie zebar garden river", "movie zbera garden river", "movie zebrra garden river"]
    for word_recognition in (True, False):
        pred = labeltune.load(zebra_fixed["model"], precision="fp32", word_recognition=word_recognition)
        positive = pred.rt.setup["labels"].index("positive")
        examples = [{"text": t, "labels": ["negative"]} for t in rows]
        units = pred.task.label_quality(pred.rt, examples)
        assert [u[0]["text"] for u in units] == rows  # the user's words, not "zebra"
        p_pos = [float(u[0]["probs"][positive]) for u in units]
        assert all((p > 0.5) == word_recognition for p in p_pos), (word_recognition, p_pos)
