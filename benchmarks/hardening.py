"""Hostile-user sweep of the CLI and the server (issue 13): how many cases per class got a
clean one-line error, a traceback, or a hang, with the peak memory of the worst files, and
the server's burst and kill -9 restart figures.

    python benchmarks/hardening.py [--fuzz 1000] [--cli-fuzz 40] [--no-server]

Every command runs as a real `tunesmith` process (exit code, stderr, peak RSS from wait4)
under a 4 GB address-space cap and a timeout; the large fuzz runs in-process (the same
library calls as inspect/render/pianoroll) in a capped child. Hostile files are forged by
tests/midi_forge.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import midi_forge as forge  # noqa: E402

EXE = str(Path(sys.executable).parent / "tunesmith")
MEMORY_CAP = 4 << 30
TIMEOUT = 120.0


@dataclass
class Outcome:
    code: int | None  # None: killed after TIMEOUT (a hang)
    stderr: str
    seconds: float
    peak_mb: float


@dataclass
class Tally:
    runs: int = 0
    ok: int = 0
    clean: int = 0  # one `error:` line
    tracebacks: int = 0
    hangs: int = 0
    other: list[str] = field(default_factory=list)
    worst: tuple[float, float, str] = (0.0, 0.0, "")  # peak MB, seconds, what
    rows: list[str] = field(default_factory=list)  # every run: what, exit, seconds, peak

    def add(self, what: str, out: Outcome, expect_ok: bool | None = None) -> None:
        self.runs += 1
        lines = [ln for ln in out.stderr.strip().splitlines() if not ln.startswith("note: ")]
        errors = [ln for ln in lines if ln.startswith("error: ")]
        if lines and len(errors) == len(lines) and all(e.startswith("error: line ") for e in errors):
            errors = errors[:1]  # batch mode: one line per failed prompt line
        self.rows.append(f"{what}: exit {out.code}, {out.seconds:.1f} s, {out.peak_mb:.0f} MB"
                         + (f", {errors[0][:90]}" if errors else ""))
        if out.code is None:
            self.hangs += 1
        elif "Traceback" in out.stderr or "╭" in out.stderr:
            self.tracebacks += 1
            self.other.append(f"{what}: traceback")
        elif out.code == 0:
            self.ok += 1
            if expect_ok is False:
                self.other.append(f"{what}: exit 0, expected an error")
        elif len(errors) == 1 and out.code == 2:
            self.clean += 1
            if expect_ok:
                self.other.append(f"{what}: {errors[0][:100]}")
        else:
            self.other.append(f"{what}: exit {out.code}, {len(lines)} stderr lines")
        if out.peak_mb > self.worst[0]:
            self.worst = (out.peak_mb, out.seconds, what)


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    os.setsid()


def cli(*args: str | Path, cwd: Path | None = None, timeout: float = TIMEOUT,
        env: dict[str, str] | None = None) -> Outcome:
    """One real `tunesmith` process; peak RSS of that process alone (wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen([EXE, *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=cwd, preexec_fn=_limit,
                            env={**os.environ, **(env or {})})
    chunks: list[bytes] = []
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    code: int | None = None
    while True:
        try:
            data = proc.stderr.read()
            if data:
                chunks.append(data)
        except BlockingIOError:
            pass
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            rest = proc.stderr.read()
            chunks.append(rest or b"")
            break
        if time.perf_counter() - start > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    proc.returncode = -1  # reaped by wait4 above
    text = b"".join(chunks).decode("utf-8", "replace")
    return Outcome(code, text, time.perf_counter() - start, usage.ru_maxrss / 1024)


# --- classes of cases ---------------------------------------------------------------------
def forged_files(tmp: Path) -> Tally:
    tally = Tally()
    for name, (data, _) in forge.hostile_cases().items():
        path = tmp / f"{name.replace(' ', '_').replace('/', '-')}.mid"
        path.write_bytes(data)
        for command in ("inspect", "render", "pianoroll"):
            out = tmp / "out"
            tally.add(f"{command} {name}", cli(command, path, *(("-o", out) if command != "inspect"
                                                              else ())), expect_ok=False)
    return tally


def cli_fuzz(tmp: Path, n: int) -> Tally:
    tally = Tally()
    for i, data in enumerate(forge.fuzz_corpus(n, seed=101)):
        path = tmp / f"fuzz{i}.mid"
        path.write_bytes(data)
        for command in ("inspect", "render", "pianoroll"):
            extra = () if command == "inspect" else ("-o", tmp / f"fuzz{i}.out")
            tally.add(f"{command} fuzz{i}", cli(command, path, *extra))
    return tally


def inprocess_fuzz(n: int) -> dict[str, object]:
    code = (
        "import json, resource, sys, time\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP}, {MEMORY_CAP}))\n"
        f"sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "from midi_forge import fuzz_corpus, sweep\n"
        "t = time.perf_counter()\n"
        f"c = sweep(fuzz_corpus({n}, seed=7))\n"
        "c['seconds'] = time.perf_counter() - t\n"
        "c['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "c['tracebacks'] = len(c['tracebacks'])\n"
        "print(json.dumps(c))\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=max(600, n))
    except subprocess.TimeoutExpired:
        return {"files": n, "hang": True}
    return json.loads(out.stdout) if out.returncode == 0 else {"files": n, "crash": out.stderr[-500:]}


def worst_allowed(tmp: Path) -> Tally:
    """Files at the loader's limits: the cost a file can still ask for."""
    tally = Tally()
    q = 480
    # 200,000 notes on 16 tracks over ~19 minutes at 120 bpm (just under render's 20 minutes)
    tracks = [forge.track(forge.program(i % 8 * 8, ch=i % 9),
                          *[forge.note(36 + (i * 5 + j) % 60, q // 8, delta=26, ch=i % 9)
                            for j in range(12_500)]) for i in range(16)]
    big = tmp / "worst_200k_notes.mid"
    big.write_bytes(forge.midi(forge.track(forge.tempo(120)), *tracks))
    # 10,000 bars of 1/32 meter with one note each: the most bar lines a file may ask for
    bars = tmp / "worst_10k_bars.mid"
    bars.write_bytes(forge.midi(forge.track(forge.meter(1, 5), *[forge.note(60, q // 8 - 1, delta=1)
                                                                 for _ in range(9_999)])))
    for path in (big, bars):
        for command in ("inspect", "pianoroll", "render"):
            extra = () if command == "inspect" else ("-o", tmp / f"{path.stem}.{command}")
            tally.add(f"{command} {path.name}", cli(command, path, *extra, timeout=600))
    return tally


def absurd_flags(tmp: Path, model_dir: Path) -> Tally:
    """Bad flags and paths: each must be one error line with exit 2, before any work."""
    tally = Tally()
    song = tmp / "song.mid"
    song.write_bytes(forge.song())
    band = tmp / "band12.mid"
    band.write_bytes(forge.midi(*[forge.track(forge.program(i * 9), forge.note(50 + i)) for i in range(12)]))
    fifo = tmp / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    bad = {name: tmp / f"model_{name}" for name in ("safetensors", "tokenizer", "nan")}
    for folder in bad.values():
        shutil.copytree(model_dir, folder, dirs_exist_ok=True)
    (bad["safetensors"] / "model.safetensors").write_bytes(b"\x08" + b"\x00" * 7 + b"{junk")
    (bad["tokenizer"] / "tokenizer.json").write_text('{"broken')
    _nan_weights(bad["nan"] / "model.safetensors")
    blocked = tmp / "blocked"
    blocked.mkdir(exist_ok=True)
    (blocked / "x-2.mid").mkdir(exist_ok=True)
    (blocked / "y.png").mkdir(exist_ok=True)
    gen = ("generate",)
    cases: list[tuple[str, tuple[str | Path, ...]]] = [
        ("--tempo abc", (*gen, "piano", "--tempo", "abc")),
        ("serve --port 0", ("serve", "--port", "0")),
        ("--seed 2**70", (*gen, "piano", "--seed", str(2**70))),
        ("--instruments 5000 digits", (*gen, "piano", "--instruments", "9" * 5000)),
        ("--bars and --seconds", (*gen, "piano", "--bars", "4", "--seconds", "9")),
        ("--seconds 600", (*gen, "piano", "--seconds", "600")),
        ("pianoroll --width 100", ("pianoroll", song, "--width", "100", "-o", tmp / "w.png")),
        ("inspect FIFO", ("inspect", fifo)),
        ("render --soundfont FIFO", ("render", song, "--soundfont", fifo, "-o", tmp / "f.wav")),
        ("--prompts FIFO", (*gen, "--prompts", fifo, "--out-dir", tmp / "fifo_out")),
        ("--model corrupt safetensors", (*gen, "piano", "--model", bad["safetensors"])),
        ("--model corrupt tokenizer", (*gen, "piano", "--model", bad["tokenizer"])),
        ("--model NaN weights", (*gen, "piano", "--model", bad["nan"])),
        ("serve --model corrupt", ("serve", "--port", str(_free_port()), "--model", bad["tokenizer"],
                                   "--data-dir", tmp / "serve_data")),
        ("--num 3, x-2.mid blocked", (*gen, "piano", "--num", "3", "-o", blocked / "x.mid")),
        ("--pianoroll, PNG blocked", (*gen, "piano", "--wav", "--pianoroll", "-o", blocked / "y.mid")),
        ("missing MIDI", ("inspect", tmp / "absent.mid")),
        ("folder as MIDI", ("inspect", tmp)),
    ]
    for what, args in cases:
        tally.add(what, cli(*args, cwd=tmp), expect_ok=False)
    surrogate = cli(*gen, b"caf\xe9 au lait".decode("utf-8", "surrogateescape"), cwd=tmp)
    tally.add("non-UTF-8 prompt", surrogate, expect_ok=False)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        tally.add("serve, port in use", cli("serve", "--port", str(busy.getsockname()[1]),
                                            "--data-dir", tmp / "serve_data"), expect_ok=False)
    for what, args in [("pianoroll --width 400, 12 tracks", ("pianoroll", band, "--width", "400",
                                                              "-o", tmp / "b.png")),
                       ("lute -> nylon guitar", (*gen, "a lute ballad, 2 bars", "-o", tmp / "lute.mid")),
                       ("--bars 128, 3 instruments (all 128 delivered)",
                        (*gen, "piano, bass and drums", "--bars", "128", "-o", tmp / "long.mid"))]:
        tally.add(what, cli(*args, cwd=tmp), expect_ok=True)
    return tally


def _nan_weights(path: Path) -> None:
    import numpy as np
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path))
    name = next(iter(tensors))
    tensors[name] = np.full_like(tensors[name], np.nan)
    save_file(tensors, str(path), metadata={"format": "pt"})


def batch(tmp: Path) -> tuple[Tally, dict[str, int]]:
    rows = [{"prompt": "piano, 2 bars"}, {"prompt": "piano", "seed": 2**70}, "{broken",
            {"prompt": "piano", "tempo": "fast"}, {"prompt": "piano", "instruments": ["9" * 5000]},
            {"prompt": "violin, 2 bars", "seed": 3}]
    prompts = tmp / "batch.jsonl"
    prompts.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    out = tmp / "batch_out"
    tally = Tally()
    tally.add("batch with 4 bad lines of 6", cli("generate", "--prompts", prompts, "--out-dir", out))
    index = [json.loads(x) for x in (out / "index.jsonl").read_text().splitlines()] \
        if (out / "index.jsonl").exists() else []
    return tally, {"lines": len(rows), "indexed": len(index),
                   "written": sum("files" in r for r in index),
                   "failed": sum("error" in r for r in index)}


# --- server -------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def _start_server(data: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([EXE, "serve", "--port", str(port), "--data-dir", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 120
    while time.monotonic() < end:
        if _request(f"http://127.0.0.1:{port}/api/health")[0] == 200:
            return proc
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the server did not start in 120 s")


def server(tmp: Path) -> dict[str, object]:
    data, port = tmp / "server_data", _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start_server(data, port)
    figures: dict[str, object] = {}
    try:
        body = json.dumps({"prompt": "a short piano piece", "bars": 2}).encode()
        with ThreadPoolExecutor(50) as pool:
            codes = list(pool.map(lambda _: _request(f"{base}/api/generate", body), range(50)))
        accepted = [json.loads(b)["job_id"] for c, b in codes if c == 202]
        figures["burst"] = {str(c): sum(1 for x, _ in codes if x == c) for c in sorted({c for c, _ in codes})}
        figures["hostile 4xx"] = [
            _request(f"{base}/api/generate", b'{"prompt": "caf\\ud800"}')[0],
            _request(f"{base}/api/generate",
                     json.dumps({"prompt": "x", "instruments": ["9" * 5000]}).encode())[0],
            _request(f"{base}/api/docs")[0]]
        end = time.monotonic() + 300
        while time.monotonic() < end:  # wait for the first to finish, then kill mid-queue
            states = [json.loads(_request(f"{base}/api/jobs/{j}")[1])["status"] for j in accepted]
            if "done" in states and ("queued" in states or "running" in states):
                break
            if all(s in ("done", "failed") for s in states):
                break
            time.sleep(0.3)
        before = {j: json.loads(_request(f"{base}/api/jobs/{j}")[1])["status"] for j in accepted}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (data / "jobs" / "stale-folder").mkdir(parents=True, exist_ok=True)
    proc = _start_server(data, port)
    try:
        after = {}
        for j in accepted:
            status = json.loads(_request(f"{base}/api/jobs/{j}")[1])
            midi = _request(f"{base}/api/jobs/{j}/midi")[0] if status["status"] == "done" else None
            after[j] = (status["status"], status.get("error"), midi)
        figures["killed with"] = {s: list(before.values()).count(s) for s in sorted(set(before.values()))}
        figures["after restart"] = {
            "done, MIDI served": sum(1 for s, _, m in after.values() if s == "done" and m == 200),
            "interrupted, resubmit": sum(1 for s, e, _ in after.values()
                                         if s == "failed" and e and "resubmit" in e),
            "unknown (404)": sum(1 for j in accepted
                                 if _request(f"{base}/api/jobs/{j}")[0] == 404),
            "stale folder swept": not (data / "jobs" / "stale-folder").exists(),
        }
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    return figures


# --- report -------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fuzz", type=int, default=1000, help="in-process fuzzed files")
    ap.add_argument("--cli-fuzz", type=int, default=40, help="fuzzed files run through the CLI")
    ap.add_argument("--no-server", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tunesmith-hardening-"))
    from tunesmith.model.decoder import DEFAULT_MODEL_DIR

    try:
        classes = {
            "forged hostile MIDI x inspect/render/pianoroll": forged_files(tmp),
            f"fuzzed MIDI via CLI ({args.cli_fuzz} files x 3)": cli_fuzz(tmp, args.cli_fuzz),
            "absurd flags and paths": absurd_flags(tmp, DEFAULT_MODEL_DIR),
            "files at the limits (200k notes; 10k bars)": worst_allowed(tmp),
        }
        batch_tally, batch_figures = batch(tmp)
        classes["batch mode"] = batch_tally
        print("| class | runs | ok | clean 1-line errors | tracebacks | hangs | worst peak RSS |")
        print("|---|---|---|---|---|---|---|")
        for name, t in classes.items():
            peak, secs, what = t.worst
            print(f"| {name} | {t.runs} | {t.ok} | {t.clean} | {t.tracebacks} | {t.hangs} | "
                  f"{peak:.0f} MB, {secs:.1f} s ({what}) |")
        for name, t in classes.items():
            for line in t.other:
                print(f"  note [{name}]: {line}")
        for line in classes["files at the limits (200k notes; 10k bars)"].rows:
            print(f"  limits: {line}")
        print(f"batch: {batch_figures}")
        fuzz = inprocess_fuzz(args.fuzz)
        print(f"in-process fuzz (load+features+render+pianoroll, 4 GB cap): {fuzz}")
        if not args.no_server:
            print(f"server: {server(tmp)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
