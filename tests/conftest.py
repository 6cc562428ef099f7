"""Shared fixtures: small real MIDI files made from the music21 corpus, and hand-made scores."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import torch
from symusic import Note, Score, Tempo, TimeSignature, Track

# The tests' models are tiny: one thread avoids oversubscription, the dominant cost on 2 cores.
torch.set_num_threads(1)

CHORALES = ("bach/bwv66.6", "bach/bwv7.7", "bach/bwv26.6", "bach/bwv40.8", "bach/bwv57.8")


def chorale_midi(name: str, folder: Path) -> Path:
    """Write a Bach chorale from music21's corpus as MIDI (music21's writer is fine for these)."""
    from music21 import corpus

    path = folder / (name.replace("/", "_") + ".mid")
    if not path.exists():
        corpus.parse(name).write("midi", fp=str(path))
    return path


@pytest.fixture(scope="session")
def chorale_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("chorales")
    return [chorale_midi(n, folder) for n in CHORALES]


def make_score(
    tracks: list[tuple[int, bool, list[tuple[int, int, int, int]]]],
    tempo: float = 120.0,
    ts: tuple[int, int] = (4, 4),
    tpq: int = 480,
) -> Score:
    """A score from (program, is_drum, [(time, duration, pitch, velocity), ...]) tracks."""
    score = Score(tpq)
    score.tempos.append(Tempo(0, tempo))
    score.time_signatures.append(TimeSignature(0, *ts))
    for program, is_drum, notes in tracks:
        track = Track(program=program, is_drum=is_drum)
        track.notes.extend([Note(t, d, p, v) for t, d, p, v in notes])
        score.tracks.append(track)
    return score


@pytest.fixture()
def band_score() -> Score:
    """Two bars of piano chords, a bass line and a drum beat at 96 bpm in 4/4."""
    q = 480
    piano = [(b * 4 * q + i * 2 * q, 2 * q, p, 70) for b in range(2) for i in range(2) for p in (60, 64, 67)]
    bass = [(i * q, q, 36 + (i % 2) * 7, 90) for i in range(8)]
    drums = [(i * q, q // 4, 36 if i % 2 == 0 else 38, 100) for i in range(8)]
    return make_score([(0, False, piano), (33, False, bass), (0, True, drums)], tempo=96.0)


@pytest.fixture(scope="session")
def debug_checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny (2 layers, width 32) randomly initialised checkpoint: the grammar still makes
    its output valid MIDI, so the whole generate API runs in tests in a second."""
    from tunesmith.model import PRESETS, Checkpoint, build_model, save_checkpoint
    from tunesmith.tokenization import Tokenizer

    tok = Tokenizer.default()
    cfg = PRESETS["debug"]
    folder = tmp_path_factory.mktemp("debug_model")
    save_checkpoint(Checkpoint(build_model(cfg, tok, seed=0).eval(), tok, cfg), folder)
    return folder


@pytest.fixture(scope="session")
def debug_checkpoint(debug_checkpoint_dir: Path):  # type: ignore[no-untyped-def]
    from tunesmith.model import load_checkpoint

    return load_checkpoint(debug_checkpoint_dir)


def wait_for(client: Any, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll a job of the HTTP API (a TestClient) until it is done or failed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")
