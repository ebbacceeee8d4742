"""labeltune serve: the API for every task in-process, limits and bad input, dynamic batching, the API key,
a schemathesis run against the OpenAPI schema, and one real server process on a loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from contract import _close
from fastapi.testclient import TestClient
from trained import INPUTS, tiny_run

import labeltune
from labeltune.serve import ServeOptions, create_app

TASKS = ["classification", "ner", "qa", "translation"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_bert_dir):
    base = tmp_path_factory.getbasetemp()
    return {task: tiny_run(base, tiny_bert_dir, task) for task in TASKS}


def _client(model_dir: str, **options) -> TestClient:
    predictor = labeltune.load(model_dir, precision="fp32")
    return TestClient(create_app(predictor, ServeOptions(model=model_dir, **options), model_dir))


@pytest.mark.parametrize("task", TASKS)
def test_predict_matches_the_python_api(runs, task):
    expected = labeltune.load(runs[task], precision="fp32").predict(INPUTS[task])
    with _client(runs[task]) as client:
        many = client.post("/predict", json={"inputs": INPUTS[task]})
        one = client.post("/predict", json={"inputs": INPUTS[task][0]})
        meta = client.get("/metadata").json()
        schema = client.get("/openapi.json").json()
        assert client.get("/health").json() == {"status": "ok"}
    assert many.status_code == 200, many.text
    assert _close(many.json()["predictions"], expected, 1e-5)
    assert one.status_code == 200 and _close(one.json()["predictions"], expected[:1], 1e-5)
    assert meta["task"] == task and meta["labeltune_version"] == labeltune.__version__
    with open(os.path.join(runs[task], "metrics.json")) as f:
        assert meta["metrics"]["task"] == json.load(f)["task"]
    # the task's own request and prediction models are in the schema (api_schema hook)
    names = set(schema["components"]["schemas"])
    assert {"PredictRequest", "PredictResponse"} <= names
    assert any(n.endswith("Prediction") for n in names), names


def test_limits_and_bad_input_are_4xx_with_a_message(runs):
    with _client(runs["classification"], max_items=3, max_chars=40, max_body_bytes=400) as c:
        cases = [
            ({"inputs": ["a", "b", "c", "d"]}, 413, "max-items"),
            ({"inputs": "x" * 41}, 413, "max-chars"),
            ({"inputs": "x" * 500}, 413, "max-body-bytes"),
            ({"inputs": []}, 422, "empty"),
            ({"inputs": ""}, 422, "empty text"),
            ({"inputs": 3}, 422, "valid string"),
            ({"inputs": {"txt": "a"}}, 422, "text"),
            ({"wrong": "a"}, 422, "inputs"),
        ]
        for body, status, words in cases:
            r = c.post("/predict", json=body)
            assert r.status_code == status and words in r.text, (body, r.status_code, r.text)
        r = c.post("/predict", content=b'{"inputs": ["a"', headers={"content-type": "application/json"})
        assert r.status_code == 422 and "JSON" in r.text
        r = c.post("/predict", content=b"x" * 401, headers={"content-type": "application/json"})
        assert r.status_code == 413
        r = c.post("/predict", content='{"inputs": "\\ud800 lone surrogate"}', headers={"content-type": "application/json"})
        assert r.status_code == 422 and "surrogate" in r.text
        assert c.post("/predict", json={"inputs": ["fine", "good"]}).status_code == 200


def test_api_key(runs, monkeypatch):
    monkeypatch.setenv("LABELTUNE_API_KEY", "s3cret")
    with _client(runs["classification"]) as c:
        assert c.post("/predict", json={"inputs": "a film"}).status_code == 401
        assert c.post("/predict", json={"inputs": "a film"}, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/metadata").status_code == 401
        assert c.get("/health").status_code == 200  # a load balancer's probe needs no key
        assert c.post("/predict", json={"inputs": "a film"}, headers={"X-API-Key": "s3cret"}).status_code == 200


@pytest.mark.parametrize("max_batch", [1, 64])
def test_dynamic_batching_gathers_concurrent_requests(runs, max_batch):
    texts = [f"film number {i} was {'good' if i % 2 else 'bad'}" for i in range(16)]
    expected = labeltune.load(runs["classification"], precision="fp32").predict(texts)
    # a long --max-wait-ms, so that requests sent together surely meet in the queue
    with _client(runs["classification"], max_batch_size=max_batch, max_wait_ms=300) as c:
        with ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(lambda t: c.post("/predict", json={"inputs": t}), texts))
        passes = c.app.state.batcher["batcher"].forward_passes
    assert all(r.status_code == 200 for r in replies)
    assert _close([r.json()["predictions"][0] for r in replies], expected, 1e-5)  # each reply is its own input's
    if max_batch == 1:
        assert passes == 16
    else:
        assert passes < 8, passes  # 16 concurrent requests shared a few forward passes


@pytest.mark.parametrize("task", ["classification", "ner", "qa"])
def test_schemathesis_no_server_errors(runs, task):
    """Generated requests (valid and invalid) against the OpenAPI schema: never a 5xx, replies as documented."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import response_schema_conformance

    predictor = labeltune.load(runs[task], precision="fp32")
    app = create_app(predictor, ServeOptions(model=runs[task], max_items=8, max_chars=300), runs[task])
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/predict", "/health", "/metadata"}
    for op in operations:
        @settings(max_examples=25 if op.path == "/predict" else 5, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case):
            response = case.call()
            assert response.status_code < 500, (case.body, response.status_code, response.text[:300])
            # and a 2xx reply matches the documented response model (the task's api_schema)
            case.validate_response(response, checks=[response_schema_conformance])

        check()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serving(cmd: list[str], port: int):
    """A `labeltune serve` process, once its /health answers: yields (process, url), killed on the way out."""
    import httpx

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # start-up: imports and loading the model
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read())
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_real_server_process_and_graceful_shutdown(runs):
    """`labeltune serve` in its own process on a loopback port; SIGTERM while requests wait in the batcher
    (a long --max-wait-ms holds them): they still get their answers, then the process exits cleanly."""
    import httpx

    port = _free_port()
    model = runs["classification"]
    cmd = [sys.executable, "-m", "labeltune", "serve", "--model", model, "--port", str(port), "--max-wait-ms", "1500",
           "--precision", "fp32", "--threads", "1"]
    with _serving(cmd, port) as (proc, url):
        expected = labeltune.load(model, precision="fp32").predict(["a fine film", "a dull film"])
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(httpx.post, f"{url}/predict", json={"inputs": t}, timeout=30)
                       for t in ("a fine film", "a dull film")]
            time.sleep(0.5)  # the requests are queued, waiting for more to batch with
            proc.send_signal(signal.SIGTERM)
            replies = [f.result() for f in futures]
        assert [r.status_code for r in replies] == [200, 200]
        assert _close([r.json()["predictions"][0] for r in replies], expected, 1e-5)
        # uvicorn re-raises the signal after its graceful shutdown, so the exit status says SIGTERM
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in proc.stdout.read()


def test_several_worker_processes(runs):
    """--workers 2: uvicorn starts two processes, each loading the model from the options it is handed; both
    answer (several connections), with the Python API's predictions, and SIGTERM stops them all."""
    import httpx

    port = _free_port()
    model = runs["classification"]
    cmd = [sys.executable, "-m", "labeltune", "serve", "--model", model, "--port", str(port), "--workers", "2",
           "--precision", "fp32", "--threads", "1"]
    with _serving(cmd, port) as (proc, url):
        texts = ["a fine film", "a dull film", "so so", "great"] * 4
        expected = labeltune.load(model, precision="fp32").predict(texts)
        with ThreadPoolExecutor(4) as pool:  # new connections each time: the kernel spreads them over the workers
            replies = list(pool.map(lambda t: httpx.post(f"{url}/predict", json={"inputs": t}, timeout=60), texts))
        assert [r.status_code for r in replies] == [200] * len(texts)
        assert _close([r.json()["predictions"][0] for r in replies], expected, 1e-5)
        assert httpx.get(f"{url}/metadata", timeout=10).json()["task"] == "classification"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
