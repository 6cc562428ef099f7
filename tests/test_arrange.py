"""Melody-guided generation with the tiny debug model: the melody survives, moved once; the CLI
and the HTTP API arrange it through one library function and refuse bad melodies alike."""

from __future__ import annotations

import pytest

from conftest import make_score, wait_for
from tunesmith.attributes import DRUMS, Attributes
from tunesmith.errors import InputError
from tunesmith.generation import SamplingConfig
from tunesmith.infilling import arrange
from tunesmith.infilling.arrange import key_shift, lead_program, melody_track
from tunesmith.infilling.form import track_order

Q = 480
NUMPY = SamplingConfig(decoder="numpy")
# a D major tune (D E F# G A B C# D ...) on a flute, four bars
PITCHES = [62, 64, 66, 67, 69, 71, 73, 74, 74, 73, 71, 69, 67, 66, 64, 62]
TUNE = [(i * Q, Q, p, 80) for i, p in enumerate(PITCHES)]


def test_melody_kept_and_moved_to_the_asked_key(debug_checkpoint):
    melody = make_score([(73, False, TUNE)])
    attrs = Attributes(key="E major", instruments=(73, 33, DRUMS))
    got = arrange(melody, attrs, seed=1, sampling=NUMPY, checkpoint=debug_checkpoint)
    assert got.transposed == 2 and got.melody_program == 73
    lead = next(t for t in got.score.tracks if t.program == 73 and not t.is_drum)
    assert [(n.time, n.pitch, n.duration) for n in lead.notes] == [(t, p + 2, d) for t, d, p, _ in TUNE]
    assert {(t.is_drum, t.program) for t in got.score.tracks} >= {(False, 73), (False, 33), (True, 0)}
    assert any("moved +2" in n for n in got.notes)


def test_lead_takes_an_asked_melodic_instrument():
    assert lead_program(0, (33, DRUMS, 40)) == 40
    assert lead_program(0, ()) == 0
    assert lead_program(73, (73, 33)) == 73
    assert track_order([40, 33, DRUMS, 0]) == [DRUMS, 40, 0, 33]  # drums, the harmony, the bass last


def test_key_shift_takes_the_short_way():
    assert key_shift("C major", "A major") == -3
    assert key_shift("C major", "F# major") == -6
    assert key_shift(None, "C major") == 0
    # across modes: to the asked key's relative, so the notes stay in the asked scale
    assert key_shift("A minor", "C major") == 0
    assert key_shift("C major", "A minor") == 0
    assert key_shift("E minor", "C major") == 5  # E minor -> A minor, C major's relative
    assert key_shift("G major", "D minor") == -2  # G major -> F major, D minor's relative


def test_melody_track_choice():
    low = [(i * Q, Q, 40, 80) for i in range(8)]
    high = [(i * Q, Q, 76, 80) for i in range(8)]
    score = make_score([(33, False, low), (0, False, high), (0, True, low)])
    assert melody_track(score) == 1
    assert melody_track(score, 1) == 0
    with pytest.raises(InputError, match="not a pitched track"):
        melody_track(score, 3)


# --- the front-ends: CLI and HTTP arrange through one library function ----------------------
def _two_tracks(tmp_path):  # a high piano line over the tune: --melody-track 2 picks the tune
    high = [(i * 2 * Q, 2 * Q, 84, 60) for i in range(8)]
    path = tmp_path / "tune.mid"
    make_score([(0, False, high), (73, False, TUNE)]).dump_midi(str(path))
    return path


def _cli(*args):
    from typer.testing import CliRunner

    from tunesmith.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_and_http_arrange_a_melody_alike(tmp_path, debug_checkpoint_dir, debug_checkpoint):
    import base64

    from fastapi.testclient import TestClient
    from symusic import Score

    from tunesmith.server import ServerConfig, create_app

    tune = _two_tracks(tmp_path)
    res = _cli("generate", "a tune", "--melody", tune, "--melody-track", 2, "--key", "E major",
               "--seed", 4, "--model", debug_checkpoint_dir, "-o", tmp_path / "cli.mid")
    assert res.exit_code == 0, res.output
    cli = (tmp_path / "cli.mid").read_bytes()
    lead = next(t for t in Score.from_midi(cli).tracks if t.program == 73)
    assert [(n.time, n.pitch, n.duration) for n in lead.notes] == [(t, p + 2, d) for t, d, p, _ in TUNE]
    body = {"prompt": "a tune", "key": "E major", "seed": 4, "melody_track": 2,
            "melody": {"midi": base64.b64encode(tune.read_bytes()).decode()}}
    with TestClient(create_app(checkpoint=debug_checkpoint, config=ServerConfig(sample_rate=16000))) as c:
        job_id = c.post("/api/generate", json=body).json()["job_id"]
        job = wait_for(c, job_id, 60)
        assert job["status"] == "done", job["error"]
        assert c.get(f"/api/jobs/{job_id}/midi").content == cli  # the same piece, byte for byte
        bad = c.post("/api/generate", json={**body, "melody_track": 3}).json()["detail"]
    res = _cli("generate", "a tune", "--melody", tune, "--melody-track", 3, "--model", debug_checkpoint_dir,
               "-o", tmp_path / "bad.mid")
    assert res.exit_code == 2 and res.output.strip() == f"error: {bad}"  # refused alike
    assert not (tmp_path / "bad.mid").exists()


def test_cli_arranges_the_retrieved_melody(tmp_path, debug_checkpoint_dir):
    from symusic import Score

    from tunesmith.retrieval import best_melody

    hit = best_melody("a cheerful pop melody")
    res = _cli("generate", "a cheerful pop melody", "--melody", "retrieved", "--instruments", "flute,bass",
               "--bars", 6, "--seed", 1, "--model", debug_checkpoint_dir, "-o", tmp_path / "out.mid")
    assert res.exit_code == 0, res.output  # under 8 bars and without a form: one phrase, as it is
    assert f"melody: {hit.label}" in res.output and "bars are kept (asked 6)" in res.output
    out = Score.from_midi((tmp_path / "out.mid").read_bytes())
    lead = next(t for t in out.tracks if t.program == 73)

    def quarters(notes, tpq):  # the file keeps its own resolution: compare in quarter notes
        return [(n.time / tpq, n.pitch, n.duration / tpq) for n in notes]

    assert quarters(lead.notes, out.ticks_per_quarter) == quarters(hit.melody.tracks[0].notes,
                                                                   hit.melody.ticks_per_quarter)
    # a given melody refuses a form (a retrieved one takes it: test_melody_form)
    res = _cli("generate", "x", "--melody", _two_tracks(tmp_path), "--form", "AABA", "--model",
               debug_checkpoint_dir, "-o", tmp_path / "form.mid")
    assert res.exit_code == 2 and "form 'AABA' does not go with a given melody" in res.output


def test_melody_key_reads_a_key_signature_before_estimating():
    from symusic import KeySignature

    from tunesmith.infilling.arrange import melody_key
    from tunesmith.theory import KEYS, key_of_signature, key_signature

    assert all(key_of_signature(*key_signature(k)) == k for k in KEYS)
    assert key_signature("A minor") == (0, 1) and key_signature("Eb major") == (-3, 0)
    d_major = (62, 64, 66, 67, 69, 71, 73, 74)
    tune = make_score([(73, False, [(i * Q, Q, p, 80) for i, p in enumerate(d_major)])])
    assert melody_key(tune, 0) == "D major"  # estimated from the notes
    tune.key_signatures.append(KeySignature(0, *key_signature("B minor")))
    assert melody_key(tune, 0) == "B minor"  # the file says so


def _chroma(bars: list[dict[int, float]]):  # type: ignore[no-untyped-def]
    import numpy as np

    out = np.zeros((len(bars), 12))
    for b, weights in enumerate(bars):
        for pc, w in weights.items():
            out[b, pc] = w
    return out


def test_a_melody_without_chords_is_harmonized_in_its_key():
    from tunesmith.theory import diatonic_chords, harmonize

    assert diatonic_chords("A minor") == ["Am", "Dm", "E", "F", "C", "G", "Em"]
    bars = [{0: 2, 4: 1, 7: 1}, {5: 2, 9: 2}, {7: 1, 11: 1, 2: 2}, {}, {9: 2, 0: 1, 4: 1}]
    assert harmonize(_chroma(bars), "C major") == ["C", "F", "G", "G", "Am"]
    assert harmonize(_chroma([{0: 1}, {4: 1, 0: 1}]), "C major") == ["C", "C"]  # ties: the tonic
    assert harmonize(_chroma([{8: 2, 11: 1}]), "A minor") == ["E"]  # the leading tone: V, not v


def test_a_melody_moves_to_where_it_sounds_in_the_asked_key():
    from tunesmith.infilling.arrange import fitting_shift

    g_major = _chroma([{7: 2, 11: 1, 2: 1}, {6: 2, 9: 1, 2: 1}, {4: 1, 7: 2, 11: 1}, {2: 1, 6: 1, 7: 2}])
    # filed as C major (a wrong key signature), it is moved a fourth up, into C: no F# left
    assert fitting_shift(g_major, "C major", preferred=0) == 5
    c_major = _chroma([{0: 2, 4: 1, 7: 1}, {5: 2, 9: 1, 0: 1}, {7: 2, 11: 1, 2: 1}, {0: 2, 4: 1, 7: 1}])
    assert fitting_shift(c_major, "C major", preferred=0) == 0
    assert fitting_shift(c_major, "D major", preferred=2) == 2
