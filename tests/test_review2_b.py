"""Review (serving side and I/O): each test is a bug found by using serve / export / report / predict outputs /
the readers as an outside client would, and fails on the code before its fix."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from trained import tiny_run

import labeltune
from labeltune.serve import ServeOptions, create_app


@pytest.fixture(scope="module")
def clf_run(tmp_path_factory, tiny_bert_dir):
    return tiny_run(tmp_path_factory.getbasetemp(), tiny_bert_dir, "classification")


def _client(model_dir: str, **options) -> TestClient:
    predictor = labeltune.load(model_dir, precision="fp32")
    return TestClient(create_app(predictor, ServeOptions(model=model_dir, **options), model_dir))


def test_serve_refuses_keys_it_would_ignore(clf_run):
    """A text_pair sent to a single-text classifier, or a top-level option like "parameters", was dropped and the
    prediction made without it (200); now 422 naming the key."""
    with _client(clf_run) as c:
        r = c.post("/predict", json={"inputs": {"text": "a fine film", "text_pair": "but too long"}})
        assert r.status_code == 422 and "text_pair" in r.text and "Extra inputs" in r.text, r.text
        r = c.post("/predict", json={"inputs": "a fine film", "parameters": {"top_k": 1}})
        assert r.status_code == 422 and "parameters" in r.text, r.text
        assert c.post("/predict", json={"inputs": {"text": "a fine film"}}).status_code == 200
        schema = c.get("/openapi.json").json()["components"]["schemas"]
        assert schema["PredictRequest"].get("additionalProperties") is False
        assert schema["ClassificationInput"].get("additionalProperties") is False


def test_serve_non_json_content_type_is_415_saying_what_to_send(clf_run):
    """curl -d and urllib send application/x-www-form-urlencoded unless told; the answer was a 422 "Input should
    be a valid dictionary", which does not say the header is the problem."""
    with _client(clf_run) as c:
        for ctype in ("application/x-www-form-urlencoded", "text/plain"):
            r = c.post("/predict", content=b'{"inputs": "a fine film"}', headers={"content-type": ctype})
            assert r.status_code == 415 and "Content-Type: application/json" in r.text and ctype in r.text, r.text
        r = c.post("/predict", content=b'{"inputs": "a fine film"}',
                   headers={"content-type": "application/json; charset=utf-8"})
        assert r.status_code == 200, r.text


def test_serve_unparseable_body_says_what_is_wrong(clf_run):
    """A Latin-1 body, or JSON nested thousands deep, got FastAPI's bare 'There was an error parsing the body'."""
    with _client(clf_run) as c:
        for body in ('{"inputs": "caf\xe9"}'.encode("latin-1"), b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}"):
            r = c.post("/predict", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400 and "UTF-8" in r.json()["detail"], r.text
        assert c.post("/predict", json={"inputs": "café 😀"}).status_code == 200
        assert c.get("/nowhere").status_code == 404 and c.get("/predict").status_code == 405  # others unchanged


def test_an_export_given_where_pytorch_weights_are_needed_names_the_fix(clf_run, tmp_path):
    """`export --model <an export>` and `predict --backend torch` on an export said only "no file named
    model.safetensors"; now one line naming the export and what to give instead."""
    from labeltune.errors import UserError
    from labeltune.export import ExportOptions, export

    out = str(tmp_path / "exp")
    export(ExportOptions(model=clf_run, output=out, data=None))
    with pytest.raises(UserError, match="already an ONNX export"):
        export(ExportOptions(model=out, output=str(tmp_path / "exp2")))
    assert not (tmp_path / "exp2").exists()
    with pytest.raises(UserError, match=r"--backend torch: .* is an ONNX export .*--backend onnx"):
        labeltune.load(out, backend="torch")
    assert labeltune.load(out).predict(["a fine film"])[0]["label"] in ("positive", "negative")


@pytest.mark.parametrize("content, name, words", [
    ("[]\n", "rows.json", "empty list"),  # was: "no column 'text' ...; the file has columns: " (nothing)
    ('{\n  "rows": [{"text": "a"}]\n}\n', "rows.json", "one JSON object (keys 'rows')"),  # was: "line 1: not valid JSON"
    # a ';'- or tab-separated .csv reads since review 3 (test_review3.test_semicolon_or_tab_separated_csv_reads);
    # a one-column header holding two other separators is still named
    ("text;label|x\na;positive|1\n", "rows.csv", "holding ';'"),
])
def test_readers_say_what_the_file_is(tmp_path, content, name, words):
    from labeltune.data.readers import read_table
    from labeltune.errors import UserError

    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=f"^{path}") as e:
        read_table(str(path)).require("text", "text_column")
    assert words in str(e.value), str(e.value)


def test_readers_still_take_one_line_objects_and_lists(tmp_path):
    from labeltune.data.readers import read_table

    (tmp_path / "one.json").write_text('{"text": "a"}\n', encoding="utf-8")
    (tmp_path / "list.json").write_text('[\n {"text": "a"},\n {"text": "b"}\n]\n', encoding="utf-8")
    (tmp_path / "lines.json").write_text('{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    assert [len(read_table(str(tmp_path / n))) for n in ("one.json", "list.json", "lines.json")] == [1, 2, 2]


def test_serve_on_a_busy_port_is_one_line_naming_the_flag(clf_run, monkeypatch):
    """A port in use: uvicorn loaded the model, then logged "[Errno 98] ... address already in use" and exited 3;
    now a UserError naming --port before anything loads. An unknown --host likewise."""
    import socket

    import labeltune.run
    from labeltune.errors import UserError
    from labeltune.serve import serve

    monkeypatch.setattr(labeltune.run, "load", lambda *a, **k: pytest.fail("the model loaded before the check"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UserError, match=f"--port {port}: .*already in use"):
            serve(ServeOptions(model=clf_run, port=port))
    with pytest.raises(UserError, match="--host no-such-host.invalid"):
        serve(ServeOptions(model=clf_run, host="no-such-host.invalid", port=port))


def test_prediction_files_hold_no_infinity(tmp_path_factory, tiny_bert_dir, tmp_path):
    """A SQuAD v2 model on a context with no span to answer (zero-width characters) predicts null_score_diff inf;
    predict --output x.jsonl / - wrote `Infinity`, which is not JSON (jq, JavaScript and pandas refuse it)."""
    import json

    from labeltune.outputs import write_records

    qa = labeltune.load(tiny_run(tmp_path_factory.getbasetemp(), tiny_bert_dir, "qa"), precision="fp32")
    qa.rt.setup["version_2_with_negative"] = True  # as a model trained on SQuAD v2 data has it
    preds = qa.predict([{"question": "who?", "context": "\u200b\u200b"}, {"question": "who?", "context": "Noah was."}])
    assert preds[0]["null_score_diff"] == float("inf")  # what the task computes; the files must not say Infinity
    for name in ("p.jsonl", "p.json", "p.csv"):
        write_records(str(tmp_path / name), preds)
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert "Infinity" not in text and "inf" not in text, text
    rows = [json.loads(line, parse_constant=pytest.fail) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert rows[0]["null_score_diff"] is None and rows[1]["answer"] == preds[1]["answer"]


def test_evaluate_refuses_one_file_for_metrics_and_predictions(clf_run, tmp_path, capsys, monkeypatch):
    """`evaluate --output ev.csv --predictions ev.csv` wrote the predictions, then the metrics JSON over them."""
    from labeltune.cli import main

    data = tmp_path / "d.csv"
    data.write_text("text,label\na fine film,positive\na dull film,negative\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code = main(["evaluate", "--model", clf_run, "--data", str(data), "--output", "ev.csv",
                 "--predictions", str(tmp_path / "ev.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--output ev.csv and --predictions" in err and "one file" in err, err
    assert not (tmp_path / "ev.csv").exists()
    assert main(["evaluate", "--model", clf_run, "--data", str(data), "--output", "m.json", "--predictions", "p.csv"]) == 0
    assert (tmp_path / "p.csv").read_text(encoding="utf-8").startswith("text,label,score")


def test_report_of_a_run_without_config_yaml(clf_run, tmp_path):
    """A run folder without config.yaml (deleted, or copied without it): `labeltune report` died with a jinja2
    UndefinedError traceback ('dict object' has no attribute 'train'); the card now says what is unknown."""
    import shutil

    from labeltune.report import write_report

    run = shutil.copytree(clf_run, tmp_path / "run")
    (run / "config.yaml").unlink()
    paths = write_report(str(run))
    card = (run / "README.md").read_text(encoding="utf-8")
    assert paths["card"].endswith("README.md") and "Learning rate unknown" in card
    assert "Training data: `unknown`" in card and (run / "report.html").stat().st_size > 1000


def test_a_squad_file_with_a_byte_order_mark_is_seen_as_squad(tmp_path):
    """A SQuAD JSON file saved with a UTF-8 byte-order mark (Windows editors) was taken for rows: the held-out split
    carved from it was not written (a pretty-printed one: 'line 1: not valid JSON'), and --keep-columns gave a
    reader's error instead of saying the ids are already in every row."""
    import json

    from labeltune.errors import UserError
    from labeltune.outputs import source_rows, write_split

    doc = {"data": [{"paragraphs": [{"context": "Noah was here.", "qas": [
        {"id": "q1", "question": "Who?", "answers": [{"text": "Noah", "answer_start": 0}]}]}]}]}
    source = tmp_path / "squad.json"
    source.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc, indent=1).encode())
    examples = [{"id": "q1", "question": "Who?", "context": "Noah was here.",
                 "answers": [{"text": "Noah", "answer_start": 0}], "_where": f"{source}, line 1"}]
    path = write_split(str(source), examples, str(tmp_path / "splits"), "test", None)
    assert path is not None and path.endswith("test.json"), path
    assert json.loads(open(path, encoding="utf-8").read())["data"][0]["paragraphs"][0]["qas"][0]["id"] == "q1"
    with pytest.raises(UserError, match="SQuAD JSON .*leave out --keep-columns"):
        source_rows(str(source), examples, ["id"])


def test_task_guess_reads_past_a_byte_order_mark(tmp_path):
    """The did-you-mean --task hint did not recognise a SQuAD file or a CSV header saved with a byte-order mark."""
    from labeltune.hints import guess_task

    (tmp_path / "s.json").write_bytes(b'\xef\xbb\xbf{"data": [{"paragraphs": [{"context": "c", "qas": []}]}]}')
    (tmp_path / "q.csv").write_bytes(b"\xef\xbb\xbfquestion,context\nwho?,Noah\n")
    assert guess_task(str(tmp_path / "s.json")) == "qa" and guess_task(str(tmp_path / "q.csv")) == "qa"


def test_serve_api_key_beyond_ascii_and_one_no_client_could_send(clf_run, monkeypatch):
    """A non-ASCII --api-key matched only a client that sends the header in Latin-1 (requests, httpx): curl sends
    UTF-8 and got 401 with the right key. A key with spaces at its ends (HTTP strips them) was accepted and could
    never match; now refused at start."""
    from labeltune.errors import UserError

    predictor = labeltune.load(clf_run, precision="fp32")
    with pytest.raises(UserError, match="--api-key"):
        create_app(predictor, ServeOptions(model=clf_run, api_key=" padded "), clf_run)
    monkeypatch.setenv("LABELTUNE_API_KEY", "tab\tkey")
    with pytest.raises(UserError, match="LABELTUNE_API_KEY"):
        create_app(predictor, ServeOptions(model=clf_run), clf_run)
    with TestClient(create_app(predictor, ServeOptions(model=clf_run, api_key="clé-secrète"), clf_run)) as c:
        for sent, status in [("clé-secrète".encode("utf-8"), 200), ("clé-secrète".encode("latin-1"), 200),
                             (b"cle-secrete", 401), ("clé-secrète!".encode("utf-8"), 401)]:
            r = c.post("/predict", json={"inputs": "a"}, headers={"X-API-Key": sent})
            assert r.status_code == status, (sent, r.status_code, r.text)


def test_export_opset_out_of_range_or_unsupported_is_one_line_and_leaves_no_folder(clf_run, tmp_path):
    """--opset 99 / -1 was a RuntimeError traceback after the model loaded, --opset 11 a SymbolicValueError
    traceback (BERT's attention needs 14), each leaving an empty --output folder behind."""
    from labeltune.errors import UserError
    from labeltune.export import ExportOptions, export

    for opset in (99, -1):
        with pytest.raises(UserError, match=f"--opset .*{opset}: must be between 7 and"):
            ExportOptions(model=clf_run, opset=opset)
    out = tmp_path / "exp"
    with pytest.raises(UserError, match="--opset 11: torch.onnx.export failed .*default 17"):
        export(ExportOptions(model=clf_run, output=str(out), opset=11))
    assert not out.exists()


def test_bundled_data_command_keeps_other_data_and_errs_in_one_line(tmp_path, capsys):
    """`python -m labeltune.data.bundled --out FILE` replaced a FILE holding other data without a word, and a bad
    --limit or a folder as --out were tracebacks; rerunning the same command (as README's examples do) still works."""
    from labeltune.data.bundled import main

    out = tmp_path / "rt.csv"
    assert main(["--out", str(out), "--limit", "20"]) == 0
    first = out.read_bytes()
    assert main(["--out", str(out), "--limit", "20"]) == 0 and out.read_bytes() == first  # the same data again
    mine = tmp_path / "mine.csv"
    mine.write_text("text,label\nmy own row,positive\n", encoding="utf-8")
    capsys.readouterr()
    for argv in (["--out", str(mine)], ["--out", str(tmp_path)], ["--out", str(out), "--limit", "-3"],
                 ["--out", str(out), "--limit", "99999"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and ("--out" in err or "--limit" in err), err
    assert mine.read_text(encoding="utf-8") == "text,label\nmy own row,positive\n"
    assert main(["--out", str(mine), "--limit", "20", "--overwrite"]) == 0 and mine.read_bytes() == first


def test_metadata_of_a_run_with_a_damaged_metrics_file(clf_run, tmp_path):
    """GET /metadata read metrics.json on every call and answered 500 when it was cut short or edited badly."""
    import shutil

    run = shutil.copytree(clf_run, tmp_path / "run")
    (run / "metrics.json").write_text('{"task": "classif', encoding="utf-8")
    with _client(str(run)) as c:
        r = c.get("/metadata")
        assert r.status_code == 200 and "cannot be read" in r.json()["metrics"]["error"], r.text
        assert r.json()["task"] == "classification"


@pytest.mark.parametrize("name, content", [("metrics.json", "[]\n"), ("config.yaml", "- a\n"),
                                           ("train_log.jsonl", '{"step": 1}\n[1]\n')])
def test_report_of_a_run_file_holding_the_wrong_kind_of_json(clf_run, tmp_path, name, content):
    """A run file that parses but is not an object (a list, a YAML list) was an AttributeError traceback
    ('list' object has no attribute 'get'); now the UserError naming the file (and line) that damaged files get."""
    import shutil

    from labeltune.errors import UserError
    from labeltune.report import write_report

    run = shutil.copytree(clf_run, tmp_path / "run")
    (run / name).write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=f"{name}.*cannot be read .*a list where an object belongs"):
        write_report(str(run))


def test_docs_pages_need_no_internet(clf_run):
    """/docs loaded Swagger UI's script and CSS from cdn.jsdelivr.net: on a machine without internet (this
    project's) it was a blank page. Now every asset the page names is served by the server itself."""
    import re

    with _client(clf_run) as c:
        for page in ("/docs", "/redoc"):
            html = c.get(page).text
            assert "cdn." not in html and "https://" not in html.replace("https://fastapi.tiangolo.com", ""), html
            assets = re.findall(r'(?:src|href)="(/[^"]+\.(?:js|css|png))"', html)
            assert assets and all(c.get(a).status_code == 200 for a in assets), assets
        assert c.get("/openapi.json").json()["openapi"].startswith("3.")


def test_a_utf16_file_is_named_as_such(tmp_path):
    """A UTF-16 file (Excel's "Unicode text" export) got "byte 0xff is not valid UTF-8", which does not say what
    the file is or how to convert it."""
    from labeltune.data.readers import read_table
    from labeltune.errors import UserError

    path = tmp_path / "rows.csv"
    path.write_bytes("text,label\ncafé,positive\n".encode("utf-16"))
    with pytest.raises(UserError, match=f"^{path} is UTF-16 .*re-save it as UTF-8"):
        read_table(str(path))
