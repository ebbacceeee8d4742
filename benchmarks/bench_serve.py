"""Load test of `labeltune serve` on loopback: many concurrent clients, one sentence per request.

Three servers, each in its own process, get the same load (--concurrency async clients in one process,
--requests requests in all, each a Rotten Tomatoes sentence):

    batched     labeltune serve --max-batch-size 32 --max-wait-ms 5   (dynamic batching, serve's defaults;
                `batched:N` in --modes: a cap of N, so caps are compared in one interleaved run)
    unbatched   labeltune serve --max-batch-size 1                     (one forward pass per request)
    pipeline    transformers.pipeline("text-classification") called per request in a plain FastAPI app

and the script prints throughput (requests/s), p50/p99 latency and errors for each (target: batched >= 3x
unbatched). The load generator shares the machine with the server, so its own CPU cost counts: measured per
request on this 2-core VM against a trivial FastAPI app, an httpx AsyncClient spends 3.1 ms of CPU and aiohttp
0.16-0.19 ms, so aiohttp is the default (`--client httpx` for the other). Run it on an otherwise idle machine:

    labeltune train --train data/rotten_tomatoes.csv --output runs/rt --test-fraction 0.1 --epochs 2 --lr 1e-4
    python benchmarks/bench_serve.py --model runs/rt --data data/rotten_tomatoes.csv
    python benchmarks/bench_serve.py --model runs/rt --data data/rotten_tomatoes.csv --requests 200   # quick check
    python benchmarks/bench_serve.py --model runs/rt --requests 4000 --repeat 3 --modes batched:16,batched:32,unbatched

Measured (idle, 2 cores): batched 198.8 vs one-per-request 63.0 requests/s, 3.16x (median of 3 alternating
turns; 2.66-3.24 by turn); one turn of 10,000: 235.2 vs 58.6, 4.01x; pipeline() 45.8. 0 errors.
"""

# no `from __future__ import annotations`: FastAPI must see the pipeline app's request model itself
import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def pipeline_app(model_dir: str):
    """The baseline: a plain FastAPI app calling a transformers pipeline once per request."""
    from fastapi import FastAPI
    from pydantic import BaseModel
    from transformers import pipeline

    classify = pipeline("text-classification", model=model_dir, tokenizer=model_dir, device="cpu")
    app = FastAPI()

    class Request(BaseModel):
        inputs: str

    @app.post("/predict")
    def predict(body: Request) -> dict:  # a sync endpoint: FastAPI runs it in its thread pool
        return {"predictions": classify([body.inputs])}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def batch_cap(mode: str, default: int) -> int:
    """--max-batch-size of a mode: `batched` uses --max-batch-size, `batched:N` N, `unbatched` 1."""
    if mode == "unbatched":
        return 1
    return int(mode.split(":", 1)[1]) if ":" in mode else default


def start_server(mode: str, args, port: int) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if mode == "pipeline":
        cmd = [sys.executable, __file__, "--pipeline-server", "--model", args.model, "--port", str(port),
               "--threads", str(args.threads)]
    else:
        cmd = [sys.executable, "-m", "labeltune", "serve", "--model", args.model, "--port", str(port),
               "--max-batch-size", str(batch_cap(mode, args.max_batch_size)), "--max-wait-ms",
               str(args.max_wait_ms), "--max-items", "1000"]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


async def wait_ready(url: str, proc: subprocess.Popen) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {proc.stderr.read()[-2000:]}")
            try:
                if (await client.get(f"{url}/health", timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("server did not start in 120 s")


async def load(url: str, texts: list[str], n_requests: int, concurrency: int, client: str = "aiohttp") -> dict:
    """--concurrency clients each send their next request when the last one is answered, until n_requests."""
    latencies, errors, counter = [], 0, iter(range(n_requests))
    post = _aiohttp_post if client == "aiohttp" else _httpx_post

    async def client_loop(send):
        nonlocal errors
        for i in counter:
            start = time.perf_counter()
            ok = await send({"inputs": texts[i % len(texts)]})
            latencies.append(time.perf_counter() - start)
            errors += not ok

    async with post(f"{url}/predict", concurrency) as send:
        await send({"inputs": texts[0]})  # warm-up
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(send) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {"client": client, "requests": n_requests, "errors": errors, "seconds": round(wall, 2),
            "requests_per_s": round(n_requests / wall, 1), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1)}


@contextlib.asynccontextmanager
async def _aiohttp_post(url: str, concurrency: int):
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency),
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def send(payload) -> bool:
            try:
                async with session.post(url, json=payload) as r:
                    await r.read()
                    return r.status == 200
            except (aiohttp.ClientError, asyncio.TimeoutError):
                return False

        yield send


@contextlib.asynccontextmanager
async def _httpx_post(url: str, concurrency: int):
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        async def send(payload) -> bool:
            try:
                return (await client.post(url, json=payload)).status_code == 200
            except httpx.HTTPError:
                return False

        yield send


def read_texts(path: str, limit: int = 5000) -> list[str]:
    from labeltune.data.readers import read_table

    return [row["text"] for row in read_table(path).rows[:limit]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a classification run directory (labeltune train)")
    ap.add_argument("--data", default="data/rotten_tomatoes.csv", help="CSV with a text column (the request texts)")
    ap.add_argument("--requests", type=int, default=10_000, help="per mode and turn")
    ap.add_argument("--repeat", type=int, default=1, help="turns; the modes alternate and the median turn counts")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--max-batch-size", type=int, default=32, help="of the batched server (serve's default)")
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=0, help="server CPU threads (0: default)")
    ap.add_argument("--modes", default="batched,unbatched,pipeline",
                    help="of batched (--max-batch-size), batched:N (a cap of N, to compare caps in one run), "
                         "unbatched, pipeline")
    ap.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp", help="the load generator's HTTP client")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--pipeline-server", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pipeline_server:
        import torch
        import uvicorn

        if args.threads:
            torch.set_num_threads(args.threads)
        uvicorn.run(pipeline_app(args.model), host="127.0.0.1", port=args.port, log_level="warning")
        return

    texts = read_texts(args.data)
    runs: dict[str, list[dict]] = {}
    for turn in range(args.repeat):  # the modes take turns, so a slow minute of the machine hits them alike
        for mode in args.modes.split(","):
            port = free_port()
            proc = start_server(mode, args, port)
            try:
                url = f"http://127.0.0.1:{port}"
                asyncio.run(wait_ready(url, proc))
                r = asyncio.run(load(url, texts, args.requests, args.concurrency, args.client))
            finally:
                proc.terminate()
                proc.wait(timeout=60)
            runs.setdefault(mode, []).append(r)
            print(f"[{turn + 1}/{args.repeat}] {mode:10} {r['requests_per_s']:8.1f} req/s  p50 {r['p50_ms']:7.1f} ms  "
                  f"p99 {r['p99_ms']:7.1f} ms  errors {r['errors']}/{r['requests']}", flush=True)
    results = {}
    for mode, rs in runs.items():  # the median turn by throughput
        results[mode] = {**sorted(rs, key=lambda r: r["requests_per_s"])[len(rs) // 2],
                         "all_requests_per_s": [r["requests_per_s"] for r in rs],
                         "errors_all": sum(r["errors"] for r in rs)}
        r = results[mode]
        print(f"median     {mode:10} {r['requests_per_s']:8.1f} req/s  p50 {r['p50_ms']:7.1f} ms  "
              f"p99 {r['p99_ms']:7.1f} ms  errors in all turns {r['errors_all']}", flush=True)
    for mode in [m for m in results if m.startswith("batched") and "unbatched" in results]:
        speedup = results[mode]["requests_per_s"] / results["unbatched"]["requests_per_s"]
        print(f"dynamic batching ({mode}): {speedup:.2f}x the one-forward-per-request throughput (medians; target >= 3x)")
        results[f"speedup_{mode}_vs_unbatched"] = round(speedup, 2)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
