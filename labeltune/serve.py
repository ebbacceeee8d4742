"""`labeltune serve`: a fine-tuned model behind a JSON API (FastAPI + uvicorn), for every task.

    POST /predict   {"inputs": <one input> | [<inputs>]} -> {"predictions": [...]}; the input and prediction
                    models come from the task's optional `api_schema(opts)` hook (else a generic JSON shape)
    GET  /health    {"status": "ok"}
    GET  /metadata  task, labels, metrics.json, labeltune version, backend, limits, word-recognition front end
    GET  /openapi.json, /docs, /redoc (pages served from files in the fastapi-offline package: no CDN)

Dynamic batching: each request's inputs go into an asyncio queue; one consumer takes what has queued up
(up to --max-batch-size inputs, waiting at most --max-wait-ms after the first for more) and runs them as one
`task.predict` in a worker thread, so concurrent clients share forward passes while the event loop keeps
accepting requests. Hand-written because no library batches across HTTP requests inside one process (the
serving frameworks that do, e.g. Triton or TorchServe, are whole servers).

Bad input is never a 500: over --max-body-bytes -> 413, over --max-items or --max-chars -> 413, malformed
JSON, a wrong shape or a key the model does not take -> 422, a body not sent as JSON (Content-Type) -> 415, an
input the task refuses (a UserError) -> 422, each with a message. The optional
API key (--api-key or $LABELTUNE_API_KEY, header X-API-Key) is compared in constant time. On SIGTERM/SIGINT
uvicorn stops accepting and lets in-flight requests finish before the batcher stops.
"""

# no `from __future__ import annotations`: FastAPI reads the handler's annotation (a model built at run time)
import asyncio
import contextlib
import hmac
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from .config import opt
from .errors import UserError, check, flag
from .files import finite

KEY_ENV = "LABELTUNE_API_KEY"
CONFIG_ENV = "LABELTUNE_SERVE_OPTIONS"  # how --workers > 1 hands the options to each worker process


@dataclass
class ServeOptions:
    model: str | None = opt(None, "a directory written by `labeltune train` or `labeltune export`")
    host: str = opt("127.0.0.1", "interface to listen on (default: this machine only; 0.0.0.0 for all)")
    port: int = opt(8000, "TCP port")
    workers: int = opt(1, "server processes, each with its own copy of the model")
    # 32: the gathered inputs are sorted by length and cut where a second pass costs less than the padding
    # (inference.run_batches), so a larger gathering pads less. Measured with bench_serve.py, 32 clients, 2 cores,
    # 3 alternating turns: 198.8 requests/s at 32, 169.2 at 16 (before the cut: 150 at 32, 186 at 16).
    max_batch_size: int = opt(32, "most inputs gathered for one predict call; it runs them in length-sorted "
                                  "forward passes (1: no batching across requests)")
    max_wait_ms: float = opt(5.0, "after the first queued input, wait at most this long for more to batch")
    api_key: str | None = opt(None, f"require this key in the X-API-Key header (default: ${KEY_ENV}, else none)")
    max_items: int = opt(256, "most inputs in one request (more: 413)")
    max_chars: int = opt(20_000, "most characters in one text of an input (more: 413)")
    max_body_bytes: int = opt(2_000_000, "largest request body in bytes (more: 413)")
    backend: str = opt("auto", "auto | torch | onnx (auto: onnx for a `labeltune export` directory)")
    precision: str = opt("auto", "auto | bf16 | fp16 | fp32 (torch backend)")
    threads: int = opt(0, "CPU threads for inference (0: the library's default)")
    word_recognition: bool = opt(True, "a model trained with --word-recognition: its typo-correcting front end reads "
                                       "the inputs (--no-word-recognition: the network alone)")

    def __post_init__(self):
        checks = [
            (self.workers >= 1, f"{flag('workers')} must be at least 1"),
            (self.max_batch_size >= 1, f"{flag('max_batch_size')} must be at least 1"),
            (0 <= self.max_wait_ms <= 60_000, f"{flag('max_wait_ms')} must be between 0 and 60000 (a minute)"),
            (self.max_items >= 1, f"{flag('max_items')} must be at least 1"),
            (self.max_chars >= 1, f"{flag('max_chars')} must be at least 1"),
            (self.max_body_bytes >= 64, f"{flag('max_body_bytes')} must be at least 64"),
            (0 < self.port < 65536, f"{flag('port')} must be in 1..65535"),
            (self.backend in ("auto", "torch", "onnx"), f"{flag('backend')} must be auto, torch or onnx"),
        ]
        check(checks)


# --- dynamic batching ---------------------------------------------------------------------------
class Batcher:
    """Gathers the examples of concurrent requests into batches for one `predict(examples) -> predictions`."""

    def __init__(self, predict, max_batch_size: int, max_wait_ms: float):
        self.predict, self.max_batch, self.max_wait = predict, max_batch_size, max_wait_ms / 1000
        self.queue: asyncio.Queue = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labeltune-model")
        self.forward_passes = 0
        self._task = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._consume())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.executor.shutdown(wait=True)

    async def submit(self, examples: list[dict]) -> list[dict]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((examples, future))
        return await future

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            pending = [await self.queue.get()]
            size, deadline = len(pending[0][0]), loop.time() + self.max_wait
            while size < self.max_batch:
                try:  # whatever queued while the last batch ran is taken at once; then wait for more
                    item = self.queue.get_nowait() if not self.queue.empty() else \
                        await asyncio.wait_for(self.queue.get(), max(deadline - loop.time(), 0))
                except (asyncio.TimeoutError, TimeoutError):
                    break
                pending.append(item)
                size += len(item[0])
            await self._run(pending)

    async def _run(self, pending: list) -> None:
        loop = asyncio.get_running_loop()
        pending = [(ex, fut) for ex, fut in pending if not fut.cancelled()]  # clients that went away
        if not pending:
            return
        examples = [e for ex, _ in pending for e in ex]
        try:
            self.forward_passes += 1
            preds = await loop.run_in_executor(self.executor, self.predict, examples)
        except Exception as e:  # a UserError becomes a 422 in the request's handler, anything else a 500
            if len(pending) > 1:  # one request's input broke the batch: run each alone, so only it fails
                for one in pending:
                    await self._run([one])
            elif not pending[0][1].done():
                pending[0][1].set_exception(e)
            return
        start = 0
        for ex, fut in pending:
            if not fut.done():
                fut.set_result(preds[start : start + len(ex)])
            start += len(ex)


# --- request checks -----------------------------------------------------------------------------
class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413 before anything parses it."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _send_json(send, 413, {"detail": f"request body over --max-body-bytes {self.limit}"})
        body, more = b"", True
        while more:  # read the whole (bounded) body here, then replay it to the app
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await _send_json(send, 413, {"detail": f"request body over --max-body-bytes {self.limit}"})
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


async def _send_json(send, status: int, payload: dict) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def _strings(value, path: str):
    """(path, string) for every string inside a JSON value."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def _strict(tp):
    """`tp` with each pydantic model in it refusing keys it does not know (422 naming the key): a `text_pair`
    sent to a single-text model, or a misspelt optional field, would otherwise be dropped without a word and
    the prediction made on less than the client sent."""
    import functools
    import operator
    import types
    import typing

    from pydantic import BaseModel, ConfigDict

    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, [_strict(a) for a in typing.get_args(tp)])
    if isinstance(tp, type) and issubclass(tp, BaseModel) and "extra" not in tp.model_config:
        return type(tp.__name__, (tp,), {"model_config": ConfigDict(extra="forbid"), "__module__": tp.__module__,
                                         "__qualname__": tp.__qualname__, "__doc__": tp.__doc__})
    return tp


def _is_json(content_type: str) -> bool:
    """FastAPI parses a body as JSON only under these media types (else it validates the raw bytes)."""
    media = content_type.split(";")[0].strip().lower()
    return media.startswith("application/") and (media.endswith("/json") or media.endswith("+json"))


def _generic_schema():
    """For a task without `api_schema`: any JSON input `as_examples` accepts, any JSON prediction."""
    return str | dict[str, Any], dict[str, Any]


# --- the app ------------------------------------------------------------------------------------
def create_app(predictor, opts: ServeOptions, model_dir: str = ""):
    """The FastAPI app serving `predictor` (a `labeltune.load(...)` result)."""
    from fastapi import Depends, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import JSONResponse
    from fastapi.security import APIKeyHeader
    from pydantic import ConfigDict, Field, create_model
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from . import __version__

    task = predictor.task
    hook = getattr(task, "api_schema", None)  # optional: the task's input and prediction models
    item, prediction = hook(predictor.opts) if hook else _generic_schema()
    item = _strict(item)
    request_model = create_model(
        "PredictRequest", __config__=ConfigDict(extra="forbid"),
        inputs=(item | list[item], Field(description=f"one input or a list of at most {opts.max_items}")),
    )
    response_model = create_model("PredictResponse", predictions=(list[prediction], ...))
    api_key = opts.api_key if opts.api_key is not None else os.environ.get(KEY_ENV) or None
    if api_key is not None and not (api_key.isprintable() and api_key.strip() == api_key and api_key):
        # HTTP strips spaces at a header value's ends and carries no control characters: such a key never matches
        raise UserError(f"--api-key (or ${KEY_ENV}): no spaces at either end and no control characters; a client "
                        "could never send this key in a header")
    # a header arrives as bytes, which starlette decodes as Latin-1: curl sends a non-ASCII key in UTF-8, Python's
    # requests and httpx in Latin-1, so both byte forms of the key are accepted
    key_bytes = [api_key.encode("utf-8")] if api_key is not None else []
    with contextlib.suppress(UnicodeEncodeError):
        key_bytes += [api_key.encode("latin-1")] if api_key is not None and not api_key.isascii() else []
    batcher_box = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher = Batcher(lambda examples: task.predict(predictor.rt, examples), opts.max_batch_size, opts.max_wait_ms)
        batcher.start()
        batcher_box["batcher"] = batcher
        yield
        await batcher.stop()  # uvicorn calls this after in-flight requests have finished

    # /docs and /redoc from the Swagger UI / ReDoc files inside the fastapi-offline package: FastAPI's own pages
    # load them from cdn.jsdelivr.net, so on a machine without internet /docs was a blank page
    from fastapi_offline import FastAPIOffline

    app = FastAPIOffline(title=f"labeltune {task.name}", version=__version__, lifespan=lifespan,
                  description=f"Predictions of a fine-tuned {task.name} model ({os.path.basename(os.path.abspath(model_dir))})")
    app.add_middleware(BodyLimit, limit=opts.max_body_bytes)
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="required when the server has an API key")

    def check_key(key: str | None = Depends(header)) -> None:
        if api_key is None:
            return
        sent = key.encode("latin-1", "replace") if key is not None else None
        if sent is None or not any([hmac.compare_digest(sent, k) for k in key_bytes]):  # a list: compare them all
            raise HTTPException(401, "missing or wrong API key (send it in the X-API-Key header)")

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError):
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's words for a body json.loads raises on without a JSONDecodeError: bytes that are not
            # UTF-8, nesting past the recursion limit, an integer of over 4300 digits
            exc = StarletteHTTPException(400, "the body could not be read as JSON: send UTF-8 text, with arrays and "
                                              "objects nested at most a few hundred levels and numbers of at most "
                                              "4300 digits")
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        content_type = request.headers.get("content-type", "")
        if content_type and not _is_json(content_type) and any(tuple(e.get("loc", ())) == ("body",) for e in exc.errors()):
            # curl -d and urllib send application/x-www-form-urlencoded unless told: say so, not "not a dictionary"
            return JSONResponse(status_code=415, content={
                "detail": f"the body must be JSON sent with the header Content-Type: application/json "
                          f"(this request has Content-Type: {content_type})"})
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/metadata", dependencies=[Depends(check_key)])
    async def metadata() -> dict:
        metrics_path = os.path.join(model_dir, "metrics.json")
        metrics = None
        if os.path.exists(metrics_path):
            try:
                with open(metrics_path, encoding="utf-8") as f:
                    metrics = json.load(f)
            except (OSError, ValueError) as e:  # damaged or unreadable: the metadata still answers (was a 500)
                metrics = {"error": f"metrics.json cannot be read ({str(e).splitlines()[0]})"}
        return finite({
            "task": task.name, "labels": predictor.rt.setup.get("labels"), "labeltune_version": __version__,
            "backend": getattr(predictor, "backend", "torch"), "max_length": predictor.rt.max_length,
            "options": asdict(predictor.opts), "metrics": metrics,
            # train --word-recognition: a typo-correcting front end reads the inputs (null: the network alone)
            "word_recognition": ({"language": fixer.language, "words": len(fixer.counts)}
                                 if (fixer := getattr(task, "fixer", None)) is not None else None),
            "limits": {"max_items": opts.max_items, "max_chars": opts.max_chars, "max_body_bytes": opts.max_body_bytes,
                       "max_batch_size": opts.max_batch_size, "max_wait_ms": opts.max_wait_ms},
        })

    @app.post("/predict", response_model=response_model, dependencies=[Depends(check_key)],
              responses={413: {"description": "over a size limit"}, 422: {"description": "an input the model refuses"}})
    async def predict(body: request_model):
        inputs = body.inputs if isinstance(body.inputs, list) else [body.inputs]
        if not inputs:
            raise HTTPException(422, "inputs is an empty list")
        if len(inputs) > opts.max_items:
            raise HTTPException(413, f"{len(inputs)} inputs in one request; at most --max-items {opts.max_items}")
        plain = [x.model_dump(exclude_none=True) if hasattr(x, "model_dump") else x for x in inputs]
        for path, text in _strings(plain, "inputs"):
            if len(text) > opts.max_chars:
                raise HTTPException(413, f"{path}: {len(text)} characters; at most --max-chars {opts.max_chars}")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise HTTPException(422, f"{path}: not valid Unicode text (an unpaired surrogate)") from None
        examples = task.as_examples(plain, predictor.opts)
        predictions = await batcher_box["batcher"].submit(examples)
        return JSONResponse({"predictions": finite(predictions)})

    app.state.batcher = batcher_box
    return app


# --- running it ---------------------------------------------------------------------------------
def load_app(opts: ServeOptions):
    from .run import load

    if not opts.model:
        raise UserError("--model is required: a directory written by `labeltune train` or `labeltune export`")
    if opts.threads:
        import torch

        torch.set_num_threads(opts.threads)
    from .robustness.wordfix import switch_off

    predictor = load(opts.model, precision=opts.precision, batch_size=opts.max_batch_size, backend=opts.backend,
                     **switch_off(not opts.word_recognition, opts.model))
    return create_app(predictor, opts, opts.model)


def app_from_env():
    """uvicorn's factory for --workers > 1: each worker process builds its app from the options in the env."""
    return load_app(ServeOptions(**json.loads(os.environ[CONFIG_ENV])))


def check_address(host: str, port: int) -> None:
    """UserError naming --host / --port when the server could not listen there, before the model loads (uvicorn
    would load it first, then log "[Errno 98] ... address already in use" and exit 3)."""
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise UserError(f"--host {host}: not an address to listen on ({getattr(e, 'strerror', None) or e}); "
                        "e.g. 127.0.0.1 (this machine) or 0.0.0.0 (every interface)") from None
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a port in TIME_WAIT is free
        try:
            s.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UserError(f"--port {port}: {host}:{port} is already in use (another server?); choose another "
                                "--port") from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise UserError(f"--host {host}: not an address of this machine; e.g. 127.0.0.1 or 0.0.0.0") from None
            raise UserError(f"--port {port}: cannot listen on {host}:{port} ({e.strerror}); ports below 1024 need "
                            "root: choose another --port") from None


def serve(opts: ServeOptions) -> None:
    import uvicorn

    check_address(opts.host, opts.port)
    settings = dict(host=opts.host, port=opts.port, log_level="info", timeout_graceful_shutdown=None)
    if opts.workers == 1:
        uvicorn.run(load_app(opts), **settings)
    else:
        load_app(opts)  # fail here, once, with a clear message, rather than in every worker
        os.environ[CONFIG_ENV] = json.dumps(asdict(opts))
        # a worker answers uvicorn's health pings from a thread, slowly while it imports torch and loads the
        # model: uvicorn's default 5 s kills and restarts workers in a loop on a busy machine
        uvicorn.run("labeltune.serve:app_from_env", factory=True, workers=opts.workers, timeout_worker_healthcheck=120,
                    **settings)


def main(argv: list[str]) -> int:
    from .cli import _add_dataclass_flags, _flags_given
    from .cli_help import Parser

    parser = Parser(prog="labeltune serve", description=__doc__.splitlines()[0])
    _add_dataclass_flags(parser, ServeOptions)
    ns = parser.parse_args(argv)
    serve(ServeOptions(**_flags_given(ns, ServeOptions)))
    return 0
