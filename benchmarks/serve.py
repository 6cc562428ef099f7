"""Load test of the HTTP server on loopback: N generation requests from C concurrent clients.

Starts `tunesmith.server.serve` in a subprocess on a free 127.0.0.1 port (with --model, or a
tiny random debug checkpoint made on the fly), then each client submits a job, polls it and
downloads the MIDI. Reports throughput, p50/p95 end-to-end and per-request latency, and the
count of 429 and 5xx answers. Bounded in count and time; stops the server it started.

    python benchmarks/serve.py --requests 16 --concurrency 4 [--model PATH] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEADLINE_S = 600.0  # the whole run stops by itself after this


def debug_checkpoint(folder: Path) -> Path:
    """A tiny random checkpoint (2 layers): exercises the server without the trained model."""
    from tunesmith.model import PRESETS, Checkpoint, build_model, save_checkpoint
    from tunesmith.tokenization import Tokenizer

    tok = Tokenizer.default()
    cfg = PRESETS["debug"]
    save_checkpoint(Checkpoint(build_model(cfg, tok, seed=0).eval(), tok, cfg), folder)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: Path | None, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`tunesmith.server.serve` in a subprocess (model None = the shipped default model)."""
    arg = repr(str(model)) if model is not None else "None"
    code = f"from tunesmith.server import serve; serve('127.0.0.1', {port}, {arg})"
    with log.open("wb") as f:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=f, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 120
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with code {proc.returncode}: see {log}")
        try:
            with urllib.request.urlopen(f"{base}/api/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not start within 120 s")


@dataclass
class Stats:
    request_s: list[float] = field(default_factory=list)  # every HTTP request
    job_s: list[float] = field(default_factory=list)  # submit -> MIDI downloaded
    codes: dict[int, int] = field(default_factory=dict)
    failed_jobs: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, code: int, seconds: float) -> None:
        with self.lock:
            self.codes[code] = self.codes.get(code, 0) + 1
            self.request_s.append(seconds)


def call(base: str, path: str, stats: Stats, body: dict[str, Any] | None = None
         ) -> tuple[int, bytes, dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data,
                                 headers={"content-type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            code, payload, headers = res.status, res.read(), dict(res.headers)
    except urllib.error.HTTPError as err:
        code, payload, headers = err.code, err.read(), dict(err.headers)
    stats.record(code, time.perf_counter() - start)
    return code, payload, headers


def one_job(base: str, i: int, bars: int, stats: Stats, deadline: float) -> None:
    start = time.perf_counter()
    body = {"prompt": "an upbeat pop song with piano, bass and drums", "bars": bars, "seed": i}
    while time.monotonic() < deadline:
        code, payload, headers = call(base, "/api/generate", stats, body)
        if code != 429:
            break
        time.sleep(min(2.0, float(headers.get("retry-after", "1"))))  # bounded back-off
    if code != 202:
        stats.failed_jobs += 1
        return
    job_id = json.loads(payload)["job_id"]
    while time.monotonic() < deadline:
        code, payload, _ = call(base, f"/api/jobs/{job_id}", stats)
        status = json.loads(payload).get("status") if code == 200 else "failed"
        if status in ("done", "failed"):
            break
        time.sleep(0.1)
    if status != "done" or call(base, f"/api/jobs/{job_id}/midi", stats)[0] != 200:
        stats.failed_jobs += 1
        return
    stats.job_s.append(time.perf_counter() - start)


def run(base: str, requests: int, concurrency: int, bars: int) -> dict[str, Any]:
    stats = Stats()
    deadline = time.monotonic() + DEADLINE_S
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for f in [pool.submit(one_job, base, i, bars, stats, deadline) for i in range(requests)]:
            f.result()
    wall = time.perf_counter() - start
    jobs, reqs = np.array(stats.job_s or [np.nan]), np.array(stats.request_s)
    return {
        "requests": requests, "concurrency": concurrency, "bars": bars,
        "wall_s": round(wall, 2),
        "throughput_jobs_per_s": round(len(stats.job_s) / wall, 3),
        "job_latency_s": {"p50": round(float(np.percentile(jobs, 50)), 3),
                          "p95": round(float(np.percentile(jobs, 95)), 3)},
        "http_latency_ms": {"p50": round(float(np.percentile(reqs, 50)) * 1000, 1),
                            "p95": round(float(np.percentile(reqs, 95)) * 1000, 1)},
        "http_requests": len(stats.request_s),
        "answers_429": stats.codes.get(429, 0),
        "answers_5xx": sum(n for c, n in stats.codes.items() if c >= 500),
        "failed_jobs": stats.failed_jobs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="checkpoint folder (default: a debug checkpoint)")
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--bars", type=int, default=2)
    ap.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tunesmith-bench-") as tmp:
        model = args.model or debug_checkpoint(Path(tmp) / "debug_model")
        port = free_port()
        proc = start_server(model, port, Path(tmp) / "server.log")
        try:
            report = run(f"http://127.0.0.1:{port}", args.requests, args.concurrency, args.bars)
        finally:
            proc.terminate()
            proc.wait(15)
    report["model"] = str(args.model or "debug (random, 2 layers)")
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
