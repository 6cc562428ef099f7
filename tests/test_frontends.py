"""One request, one meaning: the CLI, batch JSONL, the HTTP API and evaluation rows read the
same fields the same way, refuse the same values with the same message, and give the same MIDI."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tunesmith.attributes import Attributes
from tunesmith.captions import parse_fields
from tunesmith.cli import app as cli_app
from tunesmith.server import ServerConfig, create_app

PROMPT = "a playful jazz tune for piano and bass"
FIELDS: dict[str, Any] = {"key": "D minor", "tempo": 100, "time_signature": "3/4",
                          "instruments": "piano,acoustic bass,drums", "genre": "jazz",
                          "mood": "happy", "bars": 2, "chords": "Dm A7"}
SAMPLING: dict[str, Any] = {"temperature": 0.9, "top_p": 0.9, "top_k": 40, "guidance": 1.5,
                            "key_strength": 2.0, "key_profile": 0.5, "candidates": 2}
SEED = 5


def _flags(values: dict[str, Any]) -> list[str]:
    return [x for k, v in values.items() for x in (f"--{k.replace('_', '-')}", str(v))]


def _cli(*args: object) -> Any:
    return CliRunner().invoke(cli_app, [str(a) for a in args])


@pytest.fixture(scope="module")
def client(debug_checkpoint) -> Any:  # type: ignore[no-untyped-def]
    with TestClient(create_app(checkpoint=debug_checkpoint, config=ServerConfig(sample_rate=16000))) as c:
        yield c


def _http_midi(client: TestClient, body: dict[str, Any]) -> bytes:
    res = client.post("/api/generate", json=body)
    assert res.status_code == 202, res.text
    job_id, end = res.json()["job_id"], time.monotonic() + 120
    while (job := client.get(f"/api/jobs/{job_id}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < end
        time.sleep(0.05)
    assert job["status"] == "done", job["error"]
    return client.get(f"/api/jobs/{job_id}/midi").content


def test_cli_batch_and_http_give_the_same_midi(tmp_path: Path, debug_checkpoint_dir: Path,
                                               client: TestClient) -> None:
    model = ["--model", debug_checkpoint_dir, "--seed", SEED, *_flags(SAMPLING)]
    one = _cli("generate", PROMPT, "-o", tmp_path / "cli.mid", *_flags(FIELDS), *model)
    assert one.exit_code == 0, one.output
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": PROMPT, **FIELDS}) + "\n")
    batch = _cli("generate", "--prompts", rows, "--out-dir", tmp_path / "batch", *model)
    assert batch.exit_code == 0, batch.output
    http = _http_midi(client, {"prompt": PROMPT, **FIELDS, **SAMPLING, "seed": SEED})
    cli_bytes = (tmp_path / "cli.mid").read_bytes()
    assert cli_bytes == (tmp_path / "batch" / "0001.mid").read_bytes()
    assert cli_bytes == http


BAD = [
    ({"bars": 4, "seconds": 10}, "give one length"),
    ({"tempo": 0}, "tempo 0 bpm is out of range"),
    ({"genre": "polka"}, "genre 'polka' is unknown"),
    ({"mood": "grumpy"}, "mood 'grumpy' is unknown"),
    ({"key": "H major"}, "key 'H major' is unknown"),
    ({"time_signature": "5/8"}, "time signature '5/8' is not supported"),
    ({"instruments": "qwxzv"}, "instrument 'qwxzv' is unknown"),
    ({"bars": 400}, "400 bars is out of range"),
    ({"top_p": 0}, "top_p 0"),
    ({"chords": "Am H"}, "chord 'H' is not a chord"),
]


@pytest.mark.parametrize(("fields", "message"), BAD)
def test_every_front_end_refuses_alike(tmp_path: Path, debug_checkpoint_dir: Path,
                                       client: TestClient, fields: dict[str, Any],
                                       message: str) -> None:
    one = _cli("generate", "piano", "-o", tmp_path / "x.mid", "--model", debug_checkpoint_dir,
               *_flags(fields))
    assert one.exit_code == 2 and message in one.stderr, one.output
    res = client.post("/api/generate", json={"prompt": "piano", **fields})
    assert res.status_code == 400 and message in res.json()["detail"], res.text
    attrs = {k: v for k, v in fields.items() if k != "top_p"}
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": "piano", **attrs}) + "\n")
    sampling = ["--top-p", str(fields["top_p"])] if "top_p" in fields else []
    batch = _cli("generate", "--prompts", rows, "--out-dir", tmp_path / "b", "--model",
                 debug_checkpoint_dir, *sampling)
    assert batch.exit_code == 2 and message in batch.stderr, batch.output


def test_evaluation_rows_read_fields_like_the_other_front_ends(tmp_path: Path) -> None:
    from tunesmith.evaluation.report import prompt_from_row

    row = {"caption": "a calm piece", "key": "d minor", "tempo": 100, "time_signature": "3/4",
           "instrument_summary": ["Piano", "Acoustic Bass", "Drums"], "bars": 2}
    explicit = prompt_from_row(row, 0, tmp_path).explicit
    assert explicit == parse_fields({"key": "d minor", "tempo": 100, "time_signature": "3/4",
                                     "instruments": ["Piano", "Acoustic Bass", "Drums"],
                                     "bars": 2})
    assert explicit == Attributes(key="D minor", tempo=100.0, time_signature="3/4",
                                  instruments=(0, 32, 128), bars=2)


def test_a_planned_piece_is_the_same_through_cli_and_http(tmp_path: Path, debug_checkpoint_dir: Path,
                                                          client: TestClient) -> None:
    fields = {"instruments": "piano,drums", "tempo": 100, "time_signature": "4/4", "bars": 4}
    one = _cli("generate", "piano", "-o", tmp_path / "cli.mid", "--model", debug_checkpoint_dir, "--seed", "2",
               "--form", "AB", *_flags(fields))
    assert one.exit_code == 0, one.output
    assert "plan: A 1-2 B 3-4" in one.stderr
    body = {"prompt": "piano", **fields, "form": "AB", "seed": 2}
    assert _http_midi(client, body) == (tmp_path / "cli.mid").read_bytes()
    job = client.post("/api/generate", json=body).json()["job_id"]
    end = time.monotonic() + 120
    while client.get(f"/api/jobs/{job}").json()["status"] != "done":
        assert time.monotonic() < end
        time.sleep(0.05)
    plan = client.get(f"/api/jobs/{job}/features").json()["plan"]
    assert [p["label"] for p in plan] == ["A", "B"]
    bad = client.post("/api/generate", json={"prompt": "piano", "form": "intro drop"})
    assert bad.status_code == 400 and "form section 'drop' is unknown" in bad.json()["detail"]
