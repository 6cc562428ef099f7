"""Hostile input everywhere (issue 13): bounded work on hostile MIDI, one-line errors with
exit 2, no silent half-results, batch lines that fail alone, jobs that survive a restart.
Every hostile file is forged here (tests/midi_forge.py), never copied from elsewhere."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from safetensors.numpy import load_file, save_file
from symusic import Score
from typer.testing import CliRunner

import midi_forge as forge
from tunesmith.cli import app
from tunesmith.errors import InputError, MidiError, ModelError, PromptError
from tunesmith.midi.io import MAX_NOTES, load_score, write_files_atomic
from tunesmith.midi.pianoroll import bar_lines
from tunesmith.server import ServerConfig, create_app

runner = CliRunner()
TESTS = Path(__file__).parent


def run(*args: str | Path) -> object:
    return runner.invoke(app, [str(a) for a in args])


def error_line(result: object, code: int = 2) -> str:
    """stderr must be exactly one `error: ...` line, and the exit code `code`."""
    assert result.exit_code == code, (result.exit_code, result.output)  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, result.stderr  # type: ignore[attr-defined]
    assert lines[0].startswith("error: ") and "Traceback" not in lines[0]
    return lines[0]


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (a FIFO opened for reading blocks forever)."""
    def fail(*_: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# --- bounded work on hostile MIDI ---------------------------------------------------------
CASES = forge.hostile_cases()


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_file_is_one_error_naming_the_limit(tmp_path: Path, name: str) -> None:
    data, phrase = CASES[name]
    with pytest.raises(MidiError) as err:
        load_score(data, name="x.mid")
    assert phrase in str(err.value) and "\n" not in str(err.value)
    path = tmp_path / "x.mid"
    path.write_bytes(data)
    with deadline(30):
        assert phrase in error_line(run("inspect", path))


@pytest.mark.parametrize("name", ["tpq 0", "huge delta", "meter 224/128", "overflowed times"])
@pytest.mark.parametrize("command", ["render", "pianoroll"])
def test_hostile_file_renders_and_draws_nothing(tmp_path: Path, name: str, command: str) -> None:
    path = tmp_path / "x.mid"
    path.write_bytes(CASES[name][0])
    with deadline(30):
        error_line(run(command, path))
    assert [p.name for p in tmp_path.iterdir()] == ["x.mid"]


def test_note_count_is_bounded() -> None:
    with pytest.raises(MidiError, match=f"allowed at most {MAX_NOTES:,}"):
        load_score(forge.many_notes(MAX_NOTES + 1))


def test_meter_and_ticks_are_checked_on_in_memory_scores_too() -> None:
    score = Score(480)
    from symusic import TimeSignature

    score.time_signatures.append(TimeSignature(0, 4, 0))
    with pytest.raises(InputError, match="no length"):
        bar_lines(score)


def test_fifo_paths_are_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    song = tmp_path / "song.mid"
    song.write_bytes(forge.song())
    with deadline(30):
        assert "not a regular file" in error_line(run("inspect", fifo))
        assert "not a regular file" in error_line(run("render", song, "--soundfont", fifo))
        line = error_line(run("generate", "--prompts", fifo, "--out-dir", tmp_path / "o"))
    assert "not a regular file" in line and "no such file" not in line


def _many_tracks(n: int) -> bytes:
    return forge.midi(*[forge.track(forge.program(i % 128, ch=i % 9), forge.note(40 + i % 50, ch=i % 9),
                                    forge.note(45 + i % 40, ch=i % 9)) for i in range(n)])


@pytest.mark.parametrize(("tracks", "width"), [(12, 400), (200, 1600), (256, 400)])
def test_pianoroll_many_tracks(tmp_path: Path, tracks: int, width: int) -> None:
    path = tmp_path / "band.mid"
    path.write_bytes(_many_tracks(tracks))
    result = run("pianoroll", path, "--width", str(width), "-o", tmp_path / "r.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_fuzzed_files_give_no_traceback_and_no_hang_under_a_memory_cap() -> None:
    """300 mutated small songs through load, features, render and piano roll in a child
    process limited to 3 GB of address space and 150 s."""
    code = (
        "import json, resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from midi_forge import fuzz_corpus, sweep\n"
        "print(json.dumps(sweep(fuzz_corpus(300, seed=13))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=150)
    assert out.returncode == 0, out.stderr[-2000:]
    counts = json.loads(out.stdout)
    assert counts["tracebacks"] == [], counts["tracebacks"][:3]
    assert counts["multi_line"] == 0
    assert counts["ok"] + counts["clean_errors"] == 300 and counts["ok"] >= 30


# --- one-line errors ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "needle"),
    [(["generate", "piano", "--tempo", "abc"], "--tempo"),
     (["serve", "--port", "0"], "--port"),
     (["inspect"], "Missing argument"),
     (["pianoroll", "x.mid", "--width", "wide"], "--width"),
     (["generate", "piano", "--seed", str(2**70)], "seed"),
     (["generate", "caf\udce9 au lait"], "UTF-8"),
     (["generate", "piano", "--instruments", "9" * 5000], "is unknown"),
     (["generate", "piano", "--bars", "4", "--seconds", "10"], "one length"),
     (["generate", "piano", "--seconds", "600"], "bars")],
    ids=["tempo-abc", "port-0", "missing-arg", "width-word", "seed-2^70", "non-utf8",
         "5000-digits", "bars-and-seconds", "600-seconds"],
)
def test_bad_values_are_one_line_exit_2(tmp_path: Path, debug_checkpoint_dir: Path,
                                        args: list[str], needle: str) -> None:
    extra = ["--model", str(debug_checkpoint_dir), "-o", str(tmp_path / "o.mid")]
    result = run(*args, *(extra if args[0] == "generate" else []))
    assert needle in error_line(result)
    assert not (tmp_path / "o.mid").exists()


def test_pianoroll_width_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "s.mid"
    path.write_bytes(forge.song())
    assert "400..8000" in error_line(run("pianoroll", path, "--width", "100"))


def test_port_in_use_is_one_line_before_the_model_loads(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = error_line(run("serve", "--port", str(port), "--data-dir", tmp_path,
                              "--model", tmp_path / "no-model"))
    assert f"port {port}" in line and "in use" in line


def test_serve_with_a_bad_model_says_no_serving_line(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run("serve", "--port", str(port), "--data-dir", tmp_path / "d", "--model", tmp_path)
    assert "serving on" not in result.stderr  # type: ignore[attr-defined]
    assert "not a tunesmith checkpoint" in error_line(result)


@pytest.fixture()
def model_copy(tmp_path: Path, debug_checkpoint_dir: Path) -> Path:
    import shutil

    return Path(shutil.copytree(debug_checkpoint_dir, tmp_path / "model"))


@pytest.mark.parametrize("damage", ["safetensors", "tokenizer", "tunesmith", "nan", "vocab"])
def test_damaged_checkpoint_is_refused_on_load(tmp_path: Path, model_copy: Path, damage: str) -> None:
    weights = model_copy / "model.safetensors"
    if damage == "safetensors":
        weights.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
    elif damage == "tokenizer":
        (model_copy / "tokenizer.json").write_text('{"not": "a tokenizer"')
    elif damage == "tunesmith":
        (model_copy / "tunesmith.json").write_text("[]")
    elif damage == "nan":
        tensors = load_file(str(weights))
        name = next(iter(tensors))
        tensors[name] = np.full_like(tensors[name], np.nan)
        save_file(tensors, str(weights), metadata={"format": "pt"})
    else:
        config = json.loads((model_copy / "config.json").read_text())
        config["vocab_size"] += 3
        (model_copy / "config.json").write_text(json.dumps(config))
    from tunesmith.model import load_checkpoint

    with pytest.raises(ModelError) as err:
        load_checkpoint(model_copy)
    assert "\n" not in str(err.value) and str(model_copy) in str(err.value)
    line = error_line(run("generate", "piano", "--model", model_copy, "-o", tmp_path / "o.mid"))
    assert str(model_copy) in line
    assert not (tmp_path / "o.mid").exists()


# --- batch mode ---------------------------------------------------------------------------
def test_batch_bad_lines_are_reported_by_number_and_skipped(tmp_path: Path,
                                                            debug_checkpoint_dir: Path) -> None:
    rows = [json.dumps({"prompt": "piano", "bars": 1}),
            json.dumps({"prompt": "piano", "bars": 1, "seed": 2**70}),
            "{not json",
            json.dumps({"prompt": "piano", "tempo": "fast"}),
            json.dumps({"prompt": "caf\udce9"}),
            json.dumps({"prompt": "violin", "bars": 1, "seed": 4})]
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    result = run("generate", "--prompts", prompts, "--out-dir", out, "--model", debug_checkpoint_dir)
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    errors = [ln for ln in result.stderr.splitlines() if ln.strip()]  # type: ignore[attr-defined]
    assert len(errors) == 4 and all(ln.startswith("error: line ") for ln in errors), errors
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [r["line"] for r in index] == [1, 2, 3, 4, 5, 6]
    assert "files" in index[0] and "files" in index[5]
    for row in index[1:5]:
        assert row["error"].startswith(f"line {row['line']}: ")
        assert "not supported between" not in row["error"]
    assert "seed" in index[1]["error"] and "tempo" in index[3]["error"]
    assert sorted(p.name for p in out.glob("*.mid")) == ["0001.mid", "0006.mid"]


# --- no silent half-results ---------------------------------------------------------------
def test_token_cap_is_an_error_not_a_shorter_piece(debug_checkpoint, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tunesmith.attributes import Attributes
    from tunesmith.generation import SamplingConfig, generate
    from tunesmith.generation import generate as gen_module

    with pytest.raises(PromptError, match="at most 2 bars"):  # refused up front
        generate("piano", attributes=Attributes(bars=8), sampling=SamplingConfig(max_tokens=100),
                 checkpoint=debug_checkpoint)
    # past the up-front estimate, the cap still never yields a shorter piece with success
    monkeypatch.setattr(sys.modules[gen_module.__module__], "TOKENS_PER_BAR", 1)
    with pytest.raises(PromptError, match="token limit at bar"):
        generate("piano", attributes=Attributes(bars=8), sampling=SamplingConfig(max_tokens=16),
                 checkpoint=debug_checkpoint)


def test_long_request_is_delivered_in_full_or_refused(tmp_path: Path,
                                                     debug_checkpoint_dir: Path) -> None:
    from tunesmith.captions import features

    out = tmp_path / "long.mid"
    result = run("generate", "piano, bass and drums", "--bars", "128", "--seed", "2",
                 "--model", debug_checkpoint_dir, "-o", out)
    if result.exit_code == 0:  # type: ignore[attr-defined]
        assert features(Score(str(out))).bars == 128
    else:
        error_line(result)
        assert not out.exists()


def test_outputs_blocked_are_refused_before_the_model_loads(tmp_path: Path) -> None:
    (tmp_path / "x-2.mid").mkdir()
    line = error_line(run("generate", "piano", "--num", "3", "-o", tmp_path / "x.mid",
                          "--model", tmp_path / "no-such-model"))
    assert str(tmp_path / "x-2.mid") in line
    (tmp_path / "y.png").mkdir()
    line = error_line(run("generate", "piano", "--wav", "--pianoroll", "-o", tmp_path / "y.mid",
                          "--model", tmp_path / "no-such-model"))
    assert str(tmp_path / "y.png") in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-2.mid", "y.png"]


def test_outputs_appear_all_together_or_not_at_all(tmp_path: Path) -> None:
    (tmp_path / "b").write_text("a file where a folder is needed")
    files = {tmp_path / "a.mid": b"1", tmp_path / "b" / "c.wav": b"2", tmp_path / "d.png": b"3"}
    with pytest.raises(InputError) as err:
        write_files_atomic(files)
    assert str(tmp_path / "b" / "c.wav") in str(err.value) and ".part" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_instrument_outside_general_midi_plays_the_nearest(tmp_path: Path,
                                                           debug_checkpoint_dir: Path) -> None:
    from tunesmith.captions import parse, parse_instruments

    assert parse("a lute ballad").instruments == (24,)
    assert parse_instruments(["ukulele, piano"]) == (24, 0)
    result = run("generate", "a lute ballad, 1 bar", "--model", debug_checkpoint_dir,
                 "-o", tmp_path / "l.mid", "--seed", "1")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "'lute' is not in General MIDI: playing it on Acoustic Guitar" in result.stderr  # type: ignore[attr-defined]
    score = Score(str(tmp_path / "l.mid"))
    assert {t.program for t in score.tracks if len(t.notes)} <= {24}


# --- server -------------------------------------------------------------------------------
def test_server_refuses_surrogates_and_huge_numbers_with_4xx(debug_checkpoint, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    application = create_app(checkpoint=debug_checkpoint,
                             config=ServerConfig(data_dir=str(tmp_path)))
    with TestClient(application) as c:
        surrogate = c.post("/api/generate", content=b'{"prompt": "caf\\ud800"}',
                           headers={"content-type": "application/json"})
        assert surrogate.status_code == 400 and "UTF-8" in surrogate.json()["detail"]
        digits = c.post("/api/generate", json={"prompt": "x", "instruments": ["9" * 5000]})
        assert 400 <= digits.status_code < 500 and len(digits.text) < 1000
        both = c.post("/api/generate", json={"prompt": "x", "bars": 4, "seconds": 10})
        assert both.status_code == 400 and "one length" in both.json()["detail"]  # as the CLI
        seed = c.post("/api/generate", json={"prompt": "x", "seed": 2**70})
        assert 400 <= seed.status_code < 500
        assert c.get("/api/docs").status_code == 404  # no page that needs a CDN
        assert c.get("/api/openapi.json").status_code == 200


def _fake_work(debug_checkpoint):  # type: ignore[no-untyped-def]
    from tunesmith.generation import generate

    def work(spec, on_step):  # type: ignore[no-untyped-def]
        return generate(spec.request, seed=spec.seed, checkpoint=debug_checkpoint, on_step=on_step)[0]

    return work


def test_jobs_survive_a_restart(debug_checkpoint, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = ServerConfig(data_dir=str(tmp_path), sample_rate=16000)
    with TestClient(create_app(config=config, work=_fake_work(debug_checkpoint))) as c:
        jid = c.post("/api/generate", json={"prompt": "piano", "bars": 1}).json()["job_id"]
        end = time.monotonic() + 60
        while c.get(f"/api/jobs/{jid}").json()["status"] != "done" and time.monotonic() < end:
            time.sleep(0.05)
        midi = c.get(f"/api/jobs/{jid}/midi").content
    # what kill -9 leaves behind: a job recorded as running and its half-written folder
    db = sqlite3.connect(tmp_path / "jobs.sqlite3")
    db.execute("INSERT INTO jobs VALUES ('cut', ?, 'running', 'p', '{}', '[]', NULL, NULL, NULL)",
               (time.time(),))
    db.commit()
    db.close()
    (tmp_path / "jobs" / "cut").mkdir()
    (tmp_path / "jobs" / "cut" / ".piece.mid.x.part").write_bytes(b"half")
    application = create_app(config=config, work=_fake_work(debug_checkpoint))
    with TestClient(application) as c:
        assert c.get(f"/api/jobs/{jid}").json()["status"] == "done"
        assert c.get(f"/api/jobs/{jid}/midi").content == midi
        cut = c.get("/api/jobs/cut").json()
        assert cut["status"] == "failed" and "interrupted" in cut["error"] and "resubmit" in cut["error"]
        assert application.state.jobs.restored == {"done": 1, "interrupted": 1, "swept": 1}
    assert not (tmp_path / "jobs" / "cut").exists()


def test_temporary_data_dirs_of_dead_servers_are_swept(tmp_path: Path) -> None:
    import tempfile

    from tunesmith.server.jobs import TEMP_PREFIX, sweep_temp_roots

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{dead}-"))
    mine = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
    try:
        assert sweep_temp_roots() >= 1
        assert not stale.exists() and mine.exists()
    finally:
        mine.rmdir()
