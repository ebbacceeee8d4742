"""`labeltune debug-data` lists every bad row of an NER or QA file in one pass (issue 12): the tasks' row_problems
hooks run read()'s own checks, recording each problem instead of stopping at the first."""

from __future__ import annotations

import json

import pytest

from labeltune.cli import main
from labeltune.errors import UserError
from labeltune.tasks import get_task

NER, QA = get_task("ner"), get_task("qa")

CLEAN_CONLL = "John B-PER\nlives O\nin O\nParis B-LOC\n\nMary B-PER\nleft O\n\nBob B-PER\nsaw O\nRome B-LOC\n"
CLEAN_NER_JSONL = [
    {"tokens": ["John", "left", "Paris"], "tags": ["B-PER", "O", "B-LOC"]},
    {"text": "Ann went to Rome", "entities": [{"start": 0, "end": 3, "label": "PER"}, [12, 16, "LOC"]]},
]
CLEAN_QA = [
    {"id": "q1", "question": "Who led them?", "context": "Moses led them out.",
     "answers": {"text": ["Moses"], "answer_start": [0]}},
    {"id": "q2", "question": "Whom did they follow?", "context": "They followed Moses.",
     "answers": {"text": ["Moses"], "answer_start": [14]}},
]


def _write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def _jsonl(rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def _debug(argv, capsys) -> tuple[int, list[str], dict]:
    code = main(["debug-data", *argv, "--json"])
    report = json.loads(capsys.readouterr().out)
    return code, [p["problem"] for p in report["problems"] if p["severity"] == "error"], report


def test_conll_every_bad_line_is_listed(tmp_path, tiny_bert_dir, capsys):
    # line 3: a column too many; line 4: an empty tag (tab-separated); line 7: a tag without a B-/I- prefix
    path = _write(tmp_path / "bad.conll", CLEAN_CONLL.replace("in O\n", "in O extra\n")
                  .replace("Paris B-LOC", "Paris\t").replace("left O", "left PER"))
    with pytest.raises(UserError, match="line 3: 3 column"):  # read() still stops at the first
        NER.read(path, NER.Options())
    listed = NER.row_problems(path, NER.Options())
    assert len(listed) == 3, listed
    assert "line 3: 3 column(s) but the first line has 2" in listed[0]
    assert "line 4: tag ''" in listed[1] and "line 7: tag 'PER'" in listed[2]
    code, problems, _ = _debug(["--task", "ner", "--train", path, "--model", tiny_bert_dir], capsys)
    assert code == 1
    assert [p.split(": ", 1)[1] for p in problems] == listed  # "train: " + each one


def test_ner_jsonl_every_bad_row_is_listed(tmp_path, tiny_bert_dir, capsys):
    rows = [CLEAN_NER_JSONL[0],
            {"tokens": ["a", "b"], "tags": ["O"]},  # line 2: one tag for two tokens
            '{"tokens": ["x"], "tags": [',  # line 3: not JSON
            {"text": "Ann went", "entities": [[0, 99, "PER"]]},  # line 4: a span past the end of the text
            CLEAN_NER_JSONL[1]]
    path = _write(tmp_path / "bad.jsonl", _jsonl(rows))
    listed = NER.row_problems(path, NER.Options())
    assert len(listed) == 3, listed
    assert any("line 2: 'tags' must be a list with one tag per token" in p for p in listed)
    assert any("line 3: not valid JSON" in p for p in listed)
    assert any("line 4: span 0 [0, 99) falls outside the text" in p for p in listed)
    code, problems, _ = _debug(["--task", "ner", "--train", path, "--model", tiny_bert_dir], capsys)
    assert code == 1 and len(problems) == 3


def test_qa_every_bad_row_is_listed(tmp_path, tiny_bert_dir, capsys):
    rows = [CLEAN_QA[0],
            {"id": "q2", "question": "Who?", "answers": {"text": ["Moses"], "answer_start": [0]}},  # no context
            {**CLEAN_QA[1], "id": "q3", "answers": {"text": ["Moses"], "answer_start": [2]}},  # wrong start
            '{"id": "q4", "question": "Who?"',  # line 4: not JSON
            CLEAN_QA[1]]
    path = _write(tmp_path / "bad.jsonl", _jsonl(rows))
    with pytest.raises(UserError, match="line 4: not valid JSON"):  # read() stops at a format error
        QA.read(path, QA.Options())
    listed = QA.row_problems(path, QA.Options())
    assert len(listed) == 3, listed
    assert any("line 2: no key 'context'" in p for p in listed)
    assert any("line 3 (id q3): answer_start 2 points at" in p and "occurs at [14]" in p for p in listed)
    assert any("line 4: not valid JSON" in p for p in listed)
    code, problems, _ = _debug(["--task", "qa", "--train", path, "--model", tiny_bert_dir], capsys)
    assert code == 1 and len(problems) == 3


def test_squad_json_every_bad_paragraph_and_question_is_listed(tmp_path):
    good = {"context": CLEAN_QA[0]["context"], "qas": [{k: v for k, v in CLEAN_QA[0].items() if k != "context"}]}
    doc = {"data": [{"paragraphs": [good, {"context": "No questions here."}, {"context": "x", "qas": ["q?"]}]},
                    {"title": "no paragraphs"}]}
    path = _write(tmp_path / "bad.json", json.dumps(doc))
    listed = QA.row_problems(path, QA.Options())
    assert len(listed) == 3, listed
    assert "data[0].paragraphs[1]: no key 'qas'" in listed[0]
    assert "data[0].paragraphs[2].qas[0]: expected an object" in listed[1]
    assert "data[1]: no key 'paragraphs'" in listed[2]


def test_clean_files_have_no_row_problems(tmp_path, tiny_bert_dir, capsys):
    conll = _write(tmp_path / "ok.conll", CLEAN_CONLL)
    ner_jsonl = _write(tmp_path / "ok.jsonl", _jsonl(CLEAN_NER_JSONL))
    qa = _write(tmp_path / "qa.jsonl", _jsonl(CLEAN_QA))
    assert NER.row_problems(conll, NER.Options()) == []
    assert NER.row_problems(ner_jsonl, NER.Options()) == []
    assert QA.row_problems(qa, QA.Options()) == []
    for task, path, n in (("ner", conll, 3), ("ner", ner_jsonl, 2), ("qa", qa, 2)):
        code, errors, report = _debug(["--task", task, "--train", path, "--model", tiny_bert_dir], capsys)
        assert code == 0 and errors == [] and report["errors"] == 0, errors
        assert report["train_examples"] == n  # the whole report was made, not cut short


def test_another_tasks_file_gives_one_error_with_the_hint(tmp_path, tiny_bert_dir, capsys):
    """No row reads at all: one error (read()'s first) with the did-you-mean hint, not one line per row."""
    path = _write(tmp_path / "cls.jsonl", _jsonl([{"text": "good film", "label": "pos"}] * 5))
    for task in ("qa", "ner"):
        code, problems, _ = _debug(["--task", task, "--train", path, "--model", tiny_bert_dir], capsys)
        assert code == 1 and len(problems) == 1 and "did you mean --task classification?" in problems[0], problems
