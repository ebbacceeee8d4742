"""A corpus of malformed inputs, each run through the CLI in-process (`labeltune.cli.main`).

Every case must end with exit status 2 and exactly ONE line on stderr that names the file (and the line,
where the file has lines) and says what to fix; never a traceback. The cases cover every reader (CSV, TSV,
JSONL, JSON lists, CoNLL, SQuAD JSON, parallel text files, YAML configs) and every task, for training data
and for prediction inputs. None needs a training run to finish: errors come at read or validation time
(the models below are trained once, for one step, only so that `predict` / `evaluate` have something to load).

A case is (id, files, argv, expected): `files` maps a file name to its text (bytes for bytes); in argv and
in the expected substrings, {d} is the folder holding the files, {model} a tiny random BERT, {clf} {ner}
{qa} {mt} tiny models trained for each task.
"""

from __future__ import annotations

import json

import pytest

import labeltune
from labeltune.cli import main

CLF = "text,label\ngood film,pos\nbad film,neg\nfine film,pos\ndull film,neg\n"
NER = "John B-PER\nlives O\nin O\nParis B-LOC\n\nAnna B-PER\nmet O\nPeter B-PER\n"
NER_JSONL = json.dumps({"tokens": ["John", "saw", "Rome"], "tags": ["B-PER", "O", "B-LOC"]}) + "\n"
CTX = "In the beginning, God created the heavens and the earth."


def _squad(qas, context=CTX):
    return json.dumps({"version": "v1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]},
                      indent=1)


def _qa_row(**kw):
    row = {"id": "q1", "question": "What did God create?", "context": CTX,
           "answers": {"text": ["the heavens"], "answer_start": [CTX.index("the heavens")]}}
    row.update(kw)
    return json.dumps({k: v for k, v in row.items() if v is not None}) + "\n"


GOOD_QA = _qa_row() + _qa_row(id="q2", question="Who created?", answers={"text": ["God"], "answer_start": [18]})
MT = "source,target\nhello,hola\ngood morning,buenos dias\nthank you,gracias\nthe cat,el gato\n"


def train(task, data, *more):
    # no carved validation split: the tiny files below are too small for one, and that is not what is tested
    return ["train", "--task", task, "--model", "{model}", "--train", "{d}/" + data, "--output", "{d}/out",
            "--validation-fraction", "0", *more]


# (id, files, argv, expected substrings of the one stderr line)
CASES = [
    # --- classification: CSV / TSV / JSONL / JSON list / datasets dir ---------------------------------------
    ("csv-missing-file", {}, train("classification", "nope.csv"), ["nope.csv does not exist"]),
    ("csv-empty", {"e.csv": ""}, train("classification", "e.csv"), ["e.csv is empty"]),
    ("csv-header-only", {"h.csv": "text,label\n"}, train("classification", "h.csv"), ["h.csv has a header but no rows"]),
    ("csv-no-text-column", {"a.csv": "review,label\ngood,pos\n"}, train("classification", "a.csv"),
     ["a.csv: no column 'text'", "--text-column"]),
    ("csv-empty-text", {"a.csv": CLF + "  ,neg\n"}, train("classification", "a.csv"), ["a.csv, line 6", "empty text"]),
    ("csv-empty-label", {"a.csv": CLF + "ok film,\n"}, train("classification", "a.csv"), ["a.csv, line 6", "empty label"]),
    ("csv-latin1", {"a.csv": CLF.encode() + b"caf\xe9,pos\n"}, train("classification", "a.csv"),
     ["a.csv, line 6", "not valid UTF-8"]),
    ("csv-extra-field", {"a.csv": CLF + "bad,neg,extra\n"}, train("classification", "a.csv"),
     ["a.csv, line 6", "3 fields but the header has 2"]),
    ("csv-open-quote", {"a.csv": CLF + '"never closed,neg\n'}, train("classification", "a.csv"), ["a.csv, line 6"]),
    ("csv-duplicate-columns", {"a.csv": "text,text\na,b\n"}, train("classification", "a.csv"),
     ["a.csv, line 1", "duplicate column names"]),
    ("tsv-extra-field", {"a.tsv": CLF.replace(",", "\t") + "x\ty\tz\n"}, train("classification", "a.tsv"),
     ["a.tsv, line 6", "3 fields"]),
    ("jsonl-bad-json", {"a.jsonl": '{"text": "a", "label": "x"}\n{"text": "b", label: "y"}\n'},
     train("classification", "a.jsonl"), ["a.jsonl, line 2", "not valid JSON"]),
    ("jsonl-not-object", {"a.jsonl": '{"text": "a", "label": "x"}\n["b", "y"]\n'}, train("classification", "a.jsonl"),
     ["a.jsonl, line 2", "expected a JSON object"]),
    ("jsonl-row-lacks-label", {"a.jsonl": '{"text": "a", "label": "x"}\n{"text": "b"}\n'},
     train("classification", "a.jsonl"), ["a.jsonl, line 2", "no key 'label'", "--label-column"]),
    ("jsonl-row-lacks-text", {"a.jsonl": '{"text": "a", "label": "x"}\n\n{"label": "y"}\n'},
     train("classification", "a.jsonl"), ["a.jsonl, line 3", "no key 'text'"]),
    ("jsonl-text-not-string", {"a.jsonl": '{"text": "a", "label": "x"}\n{"text": 5, "label": "y"}\n'},
     train("classification", "a.jsonl"), ["a.jsonl, line 2", "text"]),
    ("json-list-item", {"a.json": '[{"text": "a", "label": "x"}, 7]'}, train("classification", "a.json"),
     ["a.json, item 1", "expected a JSON object"]),
    ("unknown-extension", {"a.xlsx": "x"}, train("classification", "a.xlsx"), ["a.xlsx: unknown file type"]),
    ("one-class", {"a.csv": "text,label\ngood,pos\nfine,pos\n"}, train("classification", "a.csv"),
     ["a.csv", "at least two classes"]),
    ("validation-unseen-label", {"t.csv": CLF, "v.csv": "text,label\nok,pos\nmeh,neutral\n"},
     train("classification", "t.csv", "--validation", "{d}/v.csv"), ["v.csv, line 3", "label 'neutral'"]),
    ("label-index-out-of-names", {"a.jsonl": '{"text": "a", "label": 0}\n{"text": "b", "label": 5}\n'},
     train("classification", "a.jsonl", "--label-names", "neg,pos"), ["a.jsonl, line 2", "--label-names"]),
    ("label-list-not-multilabel", {"a.jsonl": '{"text": "a", "label": ["x", "y"]}\n{"text": "b", "label": "y"}\n'},
     train("classification", "a.jsonl"), ["a.jsonl, line 1", "--multi-label"]),
    ("not-a-datasets-dir", {"ds/readme.txt": "hello"}, train("classification", "ds"), ["ds: not a directory saved by"]),
    # --- NER: CoNLL ------------------------------------------------------------------------------------
    ("conll-missing-tag", {"a.conll": "John NNP B-PER\nsaw VBD O\nParis NNP\n"}, train("ner", "a.conll"),
     ["a.conll, line 3", "the tag column is missing"]),
    ("conll-one-column", {"a.conll": "John\nsaw\n"}, train("ner", "a.conll"), ["a.conll, line 1", "no tag column"]),
    # (bare types alone are IO tags, read as such: tests/test_ner.py; beside prefixed ones they are an error)
    ("conll-bad-tag", {"a.conll": "John PER\nParis B-LOC\nsaw O\n"}, train("ner", "a.conll"),
     ["a.conll, line 1", "tag 'PER' is neither O nor"]),
    ("conll-bioes-as-iob2", {"a.conll": "John B-PER\nSmith E-PER\n"}, train("ner", "a.conll", "--scheme", "iob2"),
     ["a.conll, line 2", "not valid in IOB2", "--scheme"]),
    ("conll-strict-tags", {"a.conll": "John I-PER\nsaw O\n\nMary B-PER\n"}, train("ner", "a.conll", "--strict-tags"),
     ["a.conll, line 1", "I-PER follows the sentence start", "--strict-tags"]),
    ("conll-no-sentences", {"a.conll": "-DOCSTART- O\n\n\n"}, train("ner", "a.conll"), ["a.conll: no sentences found"]),
    ("conll-token-index", {"a.conll": NER}, train("ner", "a.conll", "--conll-token-index", "5"),
     ["a.conll, line 1", "--conll-token-index 5"]),
    ("conll-no-entities", {"a.conll": "a O\nb O\n\nc O\n"}, train("ner", "a.conll"), ["a.conll", "no entity"]),
    ("conll-validation-unseen-type", {"t.conll": NER, "v.conll": "Acme B-ORG\nsells O\n"},
     train("ner", "t.conll", "--validation", "{d}/v.conll"), ["v.conll, line 1", "entity type 'ORG'"]),
    ("conll-latin1", {"a.conll": NER.encode() + b"\ncaf\xe9 O\n"}, train("ner", "a.conll"),
     ["a.conll, line 10", "not valid UTF-8"]),
    # --- NER: token JSONL and span JSONL ----------------------------------------------------------------
    ("ner-jsonl-tag-count", {"a.jsonl": NER_JSONL + '{"tokens": ["a", "b"], "tags": ["O"]}\n'}, train("ner", "a.jsonl"),
     ["a.jsonl, line 2", "one tag per token: 2 tokens, 1 tags"]),
    ("ner-jsonl-empty-tokens", {"a.jsonl": '{"tokens": [], "tags": []}\n'}, train("ner", "a.jsonl"),
     ["a.jsonl, line 1", "non-empty list"]),
    ("ner-jsonl-blank-token", {"a.jsonl": NER_JSONL + '{"tokens": ["a", " "], "tags": ["O", "O"]}\n'},
     train("ner", "a.jsonl"), ["a.jsonl, line 2", "token 1"]),
    ("ner-jsonl-no-tags", {"a.jsonl": NER_JSONL + '{"tokens": ["a"]}\n'}, train("ner", "a.jsonl"),
     ["a.jsonl, line 2", "no 'tags' field", "--tags-column"]),
    ("ner-jsonl-int-tags", {"a.jsonl": '{"tokens": ["a"], "tags": [1]}\n'}, train("ner", "a.jsonl"),
     ["a.jsonl, line 1", "--tag-names"]),
    ("ner-jsonl-neither", {"a.jsonl": NER_JSONL + '{"words": ["a"]}\n'}, train("ner", "a.jsonl"),
     ["a.jsonl, line 2", "neither 'tokens'", "--tokens-column"]),
    ("ner-jsonl-bad-json", {"a.jsonl": NER_JSONL + '{"tokens": ["a"\n'}, train("ner", "a.jsonl"),
     ["a.jsonl, line 2", "not valid JSON"]),
    ("ner-spans-overlap", {"a.jsonl": '{"text": "Paris and Rome", "entities": [[0, 5, "LOC"], [3, 9, "LOC"]]}\n'},
     train("ner", "a.jsonl"), ["a.jsonl, line 1", "overlap"]),
    ("ner-span-outside", {"a.jsonl": '{"text": "Paris", "entities": [[0, 9, "LOC"]]}\n'}, train("ner", "a.jsonl"),
     ["a.jsonl, line 1", "falls outside the text"]),
    ("ner-span-shape", {"a.jsonl": '{"text": "Paris", "entities": [[0, "LOC"]]}\n'}, train("ner", "a.jsonl"),
     ["a.jsonl, line 1", "span 0"]),
    ("ner-spans-not-list", {"a.jsonl": '{"text": "Paris", "entities": "LOC"}\n'}, train("ner", "a.jsonl"),
     ["a.jsonl, line 1", "must be a list"]),
    ("ner-no-spans", {"a.jsonl": '{"text": "Paris"}\n'}, train("ner", "a.jsonl"),
     ["a.jsonl, line 1", "no 'entities' field", "--spans-column"]),
    ("ner-empty-text", {"a.jsonl": '{"text": " ", "entities": []}\n'}, train("ner", "a.jsonl"),
     ["a.jsonl, line 1", "empty or non-string 'text'"]),
    ("ner-span-cuts-word", {"a.jsonl": '{"text": "He saw Jerusalem.", "entities": [[7, 11, "LOC"]]}\n'},
     train("ner", "a.jsonl", "--validation", "{d}/a.jsonl"), ["a.jsonl, line 1", "cuts the word"]),
    # --- QA: SQuAD JSON and flat JSONL -------------------------------------------------------------------
    ("squad-bad-json", {"s.json": '{"data": [\n{"title": "x",}\n]}'}, train("qa", "s.json"),
     ["s.json, line 2", "not valid JSON"]),
    ("squad-no-data", {"s.json": '{"version": "1.1"}'}, train("qa", "s.json"), ["s.json", "top-level 'data' list"]),
    ("squad-no-context", {"s.json": json.dumps({"data": [{"paragraphs": [{"qas": []}]}]})}, train("qa", "s.json"),
     ["s.json, data[0].paragraphs[0]", "no key 'context'"]),
    ("squad-qas-not-list", {"s.json": json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": {}}]}]})},
     train("qa", "s.json"), ["s.json", "'qas' is dict, expected list"]),
    ("squad-no-id", {"s.json": _squad([{"question": "What?", "answers": []}])}, train("qa", "s.json"),
     ["s.json", "qas[0]", "no key 'id'"]),
    ("squad-answer-not-in-context", {"s.json": _squad([{"id": "a", "question": "Who?",
                                                        "answers": [{"text": "Moses", "answer_start": 0}]}])},
     train("qa", "s.json"), ["s.json, line", "id a", "does not occur in the context"]),
    ("squad-misaligned-start", {"s.json": _squad([{"id": "a", "question": "Who?",
                                                   "answers": [{"text": "God", "answer_start": 3}]}])},
     train("qa", "s.json"), ["s.json, line", "answer_start 3", "--repair-answers"]),
    ("squad-unanswerable-v1", {"s.json": _squad([{"id": "a", "question": "Who?", "answers": [],
                                                  "is_impossible": True}])},
     train("qa", "s.json", "--no-version-2-with-negative"), ["s.json, line", "--version-2-with-negative"]),
    ("squad-duplicate-id", {"s.json": _squad([{"id": "a", "question": "Who?", "answers": [{"text": "God", "answer_start": 18}]},
                                              {"id": "a", "question": "What?", "answers": [{"text": "God", "answer_start": 18}]}])},
     train("qa", "s.json"), ["s.json, line", "duplicate id 'a'"]),
    ("qa-jsonl-no-question", {"q.jsonl": GOOD_QA + _qa_row(id="q3", question=None)}, train("qa", "q.jsonl"),
     ["q.jsonl, line 3", "no key 'question'"]),
    ("qa-jsonl-answers-type", {"q.jsonl": _qa_row(answers="God")}, train("qa", "q.jsonl"),
     ["q.jsonl, line 1", "'answers' is str"]),
    ("qa-jsonl-start-not-int", {"q.jsonl": _qa_row(answers={"text": ["God"], "answer_start": ["18"]})},
     train("qa", "q.jsonl"), ["q.jsonl, line 1", "answer_start '18'"]),
    ("qa-jsonl-empty-question", {"q.jsonl": _qa_row(question="  ")}, train("qa", "q.jsonl"),
     ["q.jsonl, line 1", "empty question"]),
    ("qa-jsonl-impossible-type", {"q.jsonl": _qa_row(is_impossible="no")}, train("qa", "q.jsonl"),
     ["q.jsonl, line 1", "'is_impossible'"]),
    ("qa-doc-stride-too-large", {"q.jsonl": GOOD_QA},
     train("qa", "q.jsonl", "--validation", "{d}/q.jsonl", "--max-length", "24", "--doc-stride", "128"),
     ["q.jsonl, line 1", "--doc-stride"]),
    # --- translation: parallel text files, CSV / TSV / JSONL ---------------------------------------------
    ("parallel-lengths", {"a.en": "hello\nbye\n", "a.es": "hola\n"}, train("translation", "a.en,{d}/a.es"),
     ["a.en has 2 lines", "a.es has 1"]),
    ("parallel-blank-line", {"a.en": "hello\n\nbye\n", "a.es": "hola\nx\nadios\n"}, train("translation", "a.en,{d}/a.es"),
     ["a.en, line 2", "empty line"]),
    ("parallel-three-files", {"a.en": "x\n"}, train("translation", "a.en,{d}/b,{d}/c"), ["exactly two files"]),
    ("parallel-missing-file", {"a.en": "hello\n"}, train("translation", "a.en,{d}/a.es"), ["a.es does not exist"]),
    ("plain-text-for-training", {"a.txt": "hello\n"}, train("translation", "a.txt"),
     ["a.txt: a plain-text file holds sources only"]),
    ("mt-tsv-no-target", {"a.tsv": "source\tes\nhello\thola\n"}, train("translation", "a.tsv"),
     ["a.tsv: no column 'target'", "--target-column"]),
    ("mt-jsonl-row-no-target", {"a.jsonl": '{"source": "hi", "target": "hola"}\n{"source": "bye"}\n'},
     train("translation", "a.jsonl"), ["a.jsonl, line 2", "no key 'target'"]),
    ("mt-csv-empty-source", {"a.csv": MT + " ,nada\n"}, train("translation", "a.csv"), ["a.csv, line 6", "empty source"]),
    ("mt-jsonl-source-number", {"a.jsonl": '{"source": 3, "target": "tres"}\n'}, train("translation", "a.jsonl"),
     ["a.jsonl, line 1", "expected a string"]),
    # --- YAML configs --------------------------------------------------------------------------------------
    ("yaml-syntax", {"c.yaml": "task: classification\nlr: [0.1\nepochs: 2\n"}, ["train", "{d}/c.yaml"],
     ["c.yaml, line", "not valid YAML"]),
    ("yaml-unknown-key", {"c.yaml": "learning_rat: 0.1\n"}, ["train", "{d}/c.yaml"],
     ["c.yaml", "unknown option 'learning_rat'"]),
    ("yaml-not-mapping", {"c.yaml": "- lr: 0.1\n"}, ["train", "{d}/c.yaml"], ["c.yaml", "expected a mapping"]),
    ("yaml-missing", {}, ["train", "{d}/none.yaml"], ["none.yaml does not exist"]),
    ("yaml-latin1", {"c.yaml": b"text_column: caf\xe9\n"}, ["train", "{d}/c.yaml"], ["c.yaml", "not valid UTF-8"]),
    ("yaml-unknown-task", {"c.yaml": "task: parsing\n"}, ["train", "{d}/c.yaml"], ["--task parsing", "unknown task"]),
    ("yaml-bad-value", {"c.yaml": "task: ner\nscheme: bioul\n", "a.conll": NER}, ["train", "{d}/c.yaml"],
     ["--scheme (scheme=) bioul"]),
    # --- models --------------------------------------------------------------------------------------------
    ("model-empty-dir", {"m/.keep": ""}, ["train", "--model", "{d}/m", "--train", "{d}/a.csv", "--output", "{d}/o"],
     ["{d}/m", "no config.json", "--model"]),
    ("model-dir-without-config", {"m/vocab.txt": "a\n", "a.csv": CLF},
     ["train", "--model", "{d}/m", "--train", "{d}/a.csv", "--output", "{d}/o"], ["{d}/m", "no config.json"]),
    ("predict-model-not-labeltune", {"a.csv": CLF}, ["predict", "--model", "{model}", "--input", "{d}/a.csv",
                                                     "--output", "{d}/p.jsonl"], ["labeltune.json"]),
    # --- prediction and evaluation inputs ------------------------------------------------------------------
    ("clf-predict-missing-file", {}, ["predict", "--model", "{clf}", "--input", "{d}/in.csv", "--output", "{d}/p.jsonl"],
     ["in.csv does not exist"]),
    ("clf-predict-jsonl-no-text", {"in.jsonl": '{"text": "fine"}\n{"review": "dull"}\n'},
     ["predict", "--model", "{clf}", "--input", "{d}/in.jsonl", "--output", "{d}/p.jsonl"],
     ["in.jsonl, line 2", "no key 'text'", "--text-column"]),
    ("clf-predict-output-type-not-written", {"in.csv": "text\nfine\n"},
     ["predict", "--model", "{clf}", "--input", "{d}/in.csv", "--output", "{d}/p.feather"],
     ["p.feather", "'.feather'", "name it .csv, .tsv, .jsonl"]),
    ("clf-evaluate-predictions-type-not-written", {"v.csv": "text,label\nok,pos\n"},
     ["evaluate", "--model", "{clf}", "--data", "{d}/v.csv", "--predictions", "{d}/p.xlsx"],
     ["--predictions", "p.xlsx", "'.xlsx'"]),
    ("clf-predict-empty-text", {"in.csv": "text\nfine\n \n"},
     ["predict", "--model", "{clf}", "--input", "{d}/in.csv", "--output", "{d}/p.jsonl"], ["in.csv, line 3", "empty text"]),
    ("clf-evaluate-unseen-label", {"v.csv": "text,label\nok,pos\nmeh,neutral\n"},
     ["evaluate", "--model", "{clf}", "--data", "{d}/v.csv"], ["v.csv, line 3", "label 'neutral'"]),
    ("ner-predict-neither", {"in.jsonl": '{"text": "John saw Rome"}\n{"words": ["a"]}\n'},
     ["predict", "--model", "{ner}", "--input", "{d}/in.jsonl", "--output", "{d}/p.jsonl"], ["in.jsonl, line 2", "neither"]),
    ("ner-predict-conll-columns", {"in.conll": "John NNP\nsaw\n"},
     ["predict", "--model", "{ner}", "--input", "{d}/in.conll", "--output", "{d}/p.jsonl"], ["in.conll, line 2", "column"]),
    ("ner-evaluate-bad-tag", {"v.conll": "John B-PER\nsaw X\n"}, ["evaluate", "--model", "{ner}", "--data", "{d}/v.conll"],
     ["v.conll, line 2", "tag 'X'"]),
    ("qa-predict-no-context", {"in.jsonl": '{"question": "Who?"}\n'},
     ["predict", "--model", "{qa}", "--input", "{d}/in.jsonl", "--output", "{d}/p.jsonl"], ["in.jsonl, line 1", "'context'"]),
    ("qa-predict-squad-not-json", {"in.json": "{not json"},
     ["predict", "--model", "{qa}", "--input", "{d}/in.json", "--output", "{d}/p.jsonl"], ["in.json, line 1", "not valid JSON"]),
    ("mt-predict-blank-line", {"in.txt": "hello\n\nbye\n"},
     ["predict", "--model", "{mt}", "--input", "{d}/in.txt", "--output", "{d}/p.jsonl"], ["in.txt, line 2", "empty line"]),
    ("mt-predict-csv-no-source", {"in.csv": "text\nhello\n"},
     ["predict", "--model", "{mt}", "--input", "{d}/in.csv", "--output", "{d}/p.jsonl"],
     ["in.csv: no column 'source'", "--source-column"]),
    ("mt-evaluate-parallel-lengths", {"v.en": "a\nb\n", "v.es": "a\n"},
     ["evaluate", "--model", "{mt}", "--data", "{d}/v.en,{d}/v.es"], ["v.en has 2 lines"]),
    ("seed-out-of-range", {"a.csv": "text,label\ngood,pos\nbad,neg\n"},
     ["train", "--model", "{model}", "--train", "{d}/a.csv", "--output", "{d}/o", "--seed", "-1"],
     ["--seed", "[0, 2**32)"]),
    ("tune-into-a-trained-run", {"a.csv": "text,label\ngood,pos\nbad,neg\n"},
     ["tune", "--model", "{model}", "--train", "{d}/a.csv", "--output", "{clf}", "--test-fraction", "0.2"],
     ["--output {clf} holds a trained model", "give a new directory"]),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bert_dir) -> dict:
    """A tiny model per task, trained for one step (enough to be loaded by predict / evaluate)."""
    root = tmp_path_factory.mktemp("bad-input-models")
    data = {"classification": ("c.csv", CLF), "ner": ("n.conll", NER), "qa": ("q.jsonl", GOOD_QA),
            "translation": ("t.csv", MT)}
    extra = {"translation": dict(num_beams=1, max_new_tokens=4, selection_examples=0)}
    out = {}
    for task, (name, text) in data.items():
        (root / name).write_text(text, encoding="utf-8")
        out[task] = str(root / task)
        labeltune.train(task=task, model=tiny_bert_dir, train=str(root / name), validation=str(root / name),
                        output=out[task], max_steps=1, precision="fp32", quiet=True, **extra.get(task, {}))
    return out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tmp_path, tiny_bert_dir, request, capsys):
    name, files, argv, expected = case
    d = tmp_path / "d"
    d.mkdir()
    for fname, content in files.items():
        (d / fname).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (d / fname).write_bytes(content)
        else:
            (d / fname).write_text(content, encoding="utf-8")
    values = {"d": str(d), "model": tiny_bert_dir}
    if any(k in " ".join(argv) for k in ("{clf}", "{ner}", "{qa}", "{mt}")):
        models = request.getfixturevalue("trained")
        values |= {"clf": models["classification"], "ner": models["ner"], "qa": models["qa"], "mt": models["translation"]}
    capsys.readouterr()
    code = main([a.format(**values) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, f"{name}: exit status {code}, stderr:\n{err}"
    assert len(lines) == 1, f"{name}: expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    for want in expected:
        assert want.format(**values) in lines[0], f"{name}: {want!r} not in {lines[0]!r}"


def test_corpus_size():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)


# --- the Python API --------------------------------------------------------------------------------------
def test_predict_one_string_and_nothing(trained):
    predictor = labeltune.load(trained["classification"], precision="fp32")
    one = predictor.predict("a gripping film")
    assert isinstance(one, list) and len(one) == 1 and one == predictor.predict(["a gripping film"])
    assert predictor.predict([]) == []


def test_api_errors_name_the_python_option_too(tmp_path, tiny_bert_dir):
    (tmp_path / "a.csv").write_text("review,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    with pytest.raises(labeltune.UserError, match=r"--text-column \(text_column=\)"):
        labeltune.train(train=str(tmp_path / "a.csv"), model=tiny_bert_dir, output=str(tmp_path / "o"))


def test_csv_cell_of_megabytes_loads_and_is_truncated(tmp_path, tiny_bert_dir):
    """A long document in one CSV cell (over the csv module's 128 KiB default) is data like any other."""
    from labeltune.data.readers import read_table
    from labeltune.models import load_tokenizer
    from labeltune.tasks import get_task

    long_text = "word " * 200_000  # 1 MB
    path = tmp_path / "long.csv"
    path.write_text(f'text,label\n"{long_text}",pos\nshort,neg\n', encoding="utf-8")
    assert len(read_table(str(path)).rows[0]["text"]) == len(long_text)
    task = get_task("classification")
    opts = task.Options()
    examples = task.read(str(path), opts)
    features = task.encode(examples, load_tokenizer(tiny_bert_dir), task.setup(examples, opts), opts, 32)
    assert len(features[0]["input_ids"]) == 32
