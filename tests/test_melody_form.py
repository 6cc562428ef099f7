"""A retrieved melody along a form (MG2 with sections): one phrase of the shipped melody index
per distinct section, fitted to its bars, moved into the key on its own, joined, and kept as
the lead; the CLI and the HTTP API make the same piece and report its plan."""

from __future__ import annotations

import re

import pytest
from symusic import Score, Track

from conftest import make_score, wait_for
from tunesmith.errors import InputError
from tunesmith.generation import SamplingConfig, resolve
from tunesmith.infilling.arrange import MAX_MELODY_BARS, arrange_pieces, fit_phrase, section_melody
from tunesmith.infilling.form import plan_for
from tunesmith.retrieval import MelodyIndex, phrase_melody
from tunesmith.theory import bar_starts, key_of_signature

PROMPT = "a cheerful folk tune in G major"
NUMPY = SamplingConfig(decoder="numpy")
BAR = 4 * 96  # a 4/4 bar at the index's 96 ticks per quarter


@pytest.fixture(scope="module")
def index() -> MelodyIndex:
    return MelodyIndex.open()


def _used(notes: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """'melody of A: pop909/... (id 12, score 0.31), moved -5 semitones ...' -> {A: (12, -5)}."""
    out = {}
    for note in notes:
        m = re.match(r"melody of (\w+): .* \(id (\d+), score [-\d.]+\)(?:, moved ([+-]\d+) semitones)?", note)
        assert m, note
        out[m[1]] = (int(m[2]), int(m[3] or 0))
    return out


def _span(score: Score, first: int, bars: int, bar: int = BAR) -> list[tuple[int, int, int]]:
    """(time from the span's start, pitch, duration) of the lead's notes in bars [first, first + bars)."""
    lo, hi = first * bar, (first + bars) * bar
    return [(n.time - lo, n.pitch, n.duration) for n in score.tracks[0].notes if lo <= n.time < hi]


def test_fit_phrase_cuts_at_a_bar_line_and_repeats_to_fill() -> None:
    q = BAR // 4
    # 3 bars; the second note holds two bars, the last rings on past the phrase's end
    notes = [(0, q, 60, 80), (BAR, 2 * BAR, 62, 80), (2 * BAR + 3 * q, 2 * q, 64, 80)]
    track = make_score([(0, False, notes)], tpq=96).tracks[0]
    cut = fit_phrase(track, 3, 2, BAR)
    assert [(n.time, n.pitch, n.duration) for n in cut.notes] == [(0, 60, q), (BAR, 62, BAR)]
    filled = fit_phrase(track, 3, 7, BAR)
    once = [(0, 60, q), (BAR, 62, 2 * BAR), (2 * BAR + 3 * q, 64, q)]
    assert [(n.time, n.pitch, n.duration) for n in filled.notes] == [
        *once, *[(t + 3 * BAR, p, d) for t, p, d in once], (6 * BAR, 60, q)]
    assert isinstance(filled, Track) and filled.program == track.program


def test_sections_get_their_own_phrases_moved_into_the_key(index: MelodyIndex) -> None:
    plan = plan_for(32, "AABA")
    guide = section_melody(PROMPT, plan, key="G major", index=index)
    melody = guide.score
    assert guide.plan == plan and len(bar_starts(melody)) == 32 and melody.end() <= 32 * BAR
    assert key_of_signature(melody.key_signatures[0].key, melody.key_signatures[0].tonality) == "G major"
    used = _used(guide.notes)
    assert set(used) == {"A", "B"} and used["A"][0] != used["B"][0]
    assert any(shift for _, shift in used.values())  # phrases from songs in other keys, moved
    a, b = (_span(melody, s.first, s.bars) for s in plan.sections[:3:2])
    assert a and b and a != b  # distinct letters, distinct phrases
    for s in plan.sections:
        phrase_id, shift = used[s.name]
        phrase, _ = phrase_melody(phrase_id, index)
        length = index.rows[phrase_id]["bars"][1] - index.rows[phrase_id]["bars"][0]
        got = _span(melody, s.first, s.bars)
        # the phrase as it is, moved by the stated shift, over its first bars (then repeated)
        want = [(n.time, n.pitch + shift) for n in phrase.tracks[0].notes if n.time < min(length, s.bars) * BAR]
        assert [(t, p) for t, p, _ in got if t < min(length, s.bars) * BAR] == want
        assert got == _span(melody, plan.sections[0 if s.name == "A" else 2].first, s.bars)  # A' is A


def test_without_a_key_later_phrases_move_into_the_first_ones_key(index: MelodyIndex) -> None:
    from tunesmith.infilling.arrange import melody_key

    plan = plan_for(16, "AB")
    guide = section_melody("a calm tune", plan, index=index)
    used = _used(guide.notes)
    first, _ = phrase_melody(used["A"][0], index)
    assert used["A"][1] == 0 and "moved" not in guide.notes[0]
    assert melody_key(guide.score, 0) == melody_key(first, 0)  # the piece's key is the first phrase's
    with pytest.raises(InputError, match=f"allows up to {MAX_MELODY_BARS}"):
        section_melody("a calm tune", plan_for(MAX_MELODY_BARS + 4, "AB"), index=index)


def test_the_lead_keeps_every_joined_note(index: MelodyIndex, debug_checkpoint) -> None:  # type: ignore[no-untyped-def]
    plan = plan_for(16, "AABA")
    request = resolve(PROMPT + " for flute and bass")
    guide = section_melody(request.prompt, plan, key=request.attributes.key, index=index)
    piece = arrange_pieces(request, guide.score, seed=2, sampling=NUMPY, checkpoint=debug_checkpoint,
                           plan=guide.plan)[0]
    lead = next(t for t in piece.score.tracks if t.program == 73)

    def quarters(notes, tpq):  # type: ignore[no-untyped-def]
        return [(n.time / tpq, n.pitch, n.duration / tpq) for n in notes]

    assert quarters(lead.notes, piece.score.ticks_per_quarter) == quarters(guide.score.tracks[0].notes, 96)
    assert piece.sections == (("A", 0, 4), ("A'", 4, 4), ("B", 8, 4), ("A'", 12, 4))
    assert f"plan: {plan.text()}" in piece.notes and piece.attributes.bars == 16
    assert not any("moved" in n for n in piece.notes)  # in key already: arrange moves nothing


def test_a_planned_melody_is_not_moved_and_spans_the_plan(debug_checkpoint) -> None:  # type: ignore[no-untyped-def]
    q = 480
    tune = [(i * q, q, p, 80) for i, p in enumerate([62, 64, 66, 67, 69, 71, 73, 74] * 2)]  # D major, 4 bars
    plan = plan_for(6, "AB")  # its last two bars without melody
    piece = arrange_pieces(resolve("a tune in E major"), make_score([(73, False, tune)]), seed=1,
                           sampling=NUMPY, checkpoint=debug_checkpoint, plan=plan)[0]
    lead = next(t for t in piece.score.tracks if t.program == 73)
    assert [(n.time, n.pitch) for n in lead.notes] == [(t, p) for t, _, p, _ in tune]  # not moved to E
    chords = next(n for n in piece.notes if n.startswith("chords from the melody: "))
    assert len(chords.split(": ")[1].split()) == 6  # one a bar, over the whole plan


def _cli(*args):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from tunesmith.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_and_http_arrange_a_retrieved_melody_along_a_form(tmp_path, debug_checkpoint_dir,  # type: ignore[no-untyped-def]
                                                               debug_checkpoint):

    from fastapi.testclient import TestClient

    from tunesmith.server import ServerConfig, create_app

    out = tmp_path / "form.mid"
    res = _cli("generate", PROMPT, "--melody", "retrieved", "--form", "AABA", "--bars", 16, "--instruments",
               "flute,bass", "--seed", 3, "--model", debug_checkpoint_dir, "--pianoroll", "-o", out)
    assert res.exit_code == 0, res.output
    assert "note: plan: A 1-4 A' 5-8 B 9-12 A' 13-16" in res.output
    assert "note: melody of A: pop909/" in res.output and "note: melody of B: pop909/" in res.output
    assert out.with_suffix(".png").stat().st_size > 0
    body = {"prompt": PROMPT, "form": "AABA", "bars": 16, "instruments": "flute,bass", "seed": 3,
            "melody": {"retrieved": True}}
    with TestClient(create_app(checkpoint=debug_checkpoint, config=ServerConfig(sample_rate=16000))) as c:
        job_id = c.post("/api/generate", json=body).json()["job_id"]
        job = wait_for(c, job_id, 120)
        assert job["status"] == "done", job["error"]
        assert c.get(f"/api/jobs/{job_id}/midi").content == out.read_bytes()  # the same piece
        plan = c.get(f"/api/jobs/{job_id}/features").json()["plan"]
        assert [(p["label"], p["first_bar"], p["bars"]) for p in plan] == [
            ("A", 1, 4), ("A'", 5, 4), ("B", 9, 4), ("A'", 13, 4)]
        assert sum(n.startswith("melody of ") for n in job["notes"]) == 2
        both = c.post("/api/generate", json={**body, "melody": {"retrieved": True, "id": 1}}).json()["detail"]
    assert "the melody is given 2 times" in both and "retrieved: true" in both


def test_a_melody_file_with_a_form_is_refused_with_what_to_do(tmp_path, debug_checkpoint_dir):  # type: ignore[no-untyped-def]
    tune = tmp_path / "tune.mid"
    make_score([(73, False, [(i * 480, 480, 62 + i % 5, 80) for i in range(16)])]).dump_midi(str(tune))
    res = _cli("generate", "x", "--melody", tune, "--form", "AABA", "--model", debug_checkpoint_dir,
               "-o", tmp_path / "out.mid")
    assert res.exit_code == 2
    assert "form 'AABA' does not go with a given melody" in res.output
    assert "cut the melody" in res.output and "retrieved melody" in res.output
    assert not (tmp_path / "out.mid").exists()
