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
