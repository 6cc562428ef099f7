"""Human feel: mining offsets from performances, humanize, the shipped table, and the option on
the CLI and the HTTP API (no ../shared: synthetic performances and the committed asset)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from symusic import Note, Score, Tempo, TimeSignature, Track
from typer.testing import CliRunner

from conftest import make_score, wait_for
from tunesmith.errors import ConfigError, InputError
from tunesmith.generation import Generated
from tunesmith.retrieval.feel import (
    ANY,
    POOLED,
    Cell,
    FeelConfig,
    FeelTable,
    Region,
    apply_feel,
    humanize,
    load_feel,
    mine_feel,
    save_feel,
    timing,
)

TPQ = 480
BAR = 4 * TPQ
SIXTEENTH = TPQ // 4


def performance(push: float, shift: float = 0.0, bars: int = 4, tempo: float = 100.0, seed: int = 0) -> Score:
    """A drummer's backbeat with the snare `push` quarters late, the whole take `shift` quarters
    off the click, and a little jitter; a silent count-in bar first (so no onset is before 0)."""
    rng = np.random.default_rng(seed)
    score = Score(TPQ)
    score.tempos.append(Tempo(0, tempo))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    kit = Track(name="Drums", is_drum=True)
    hits = [(s, 36, 100) for s in (0, 8)] + [(s, 38, 110) for s in (4, 12)]
    hits += [(s, 42, 70) for s in range(0, 16, 2)]
    for bar in range(1, bars + 1):
        for step, key, velocity in hits:
            late = shift + (push if key == 38 else 0.0) + rng.uniform(-0.004, 0.004)
            kit.notes.append(Note(bar * BAR + step * SIXTEENTH + round(late * TPQ), 60, key, velocity))
    score.tracks.append(kit)
    return score


# --- mining ---------------------------------------------------------------------------------
def test_mining_recovers_a_late_snare_from_the_bars_own_time() -> None:
    # takes ahead of and behind the click, at several tempos: the push is what stays
    pieces = [(performance(0.02, shift, tempo=tempo, seed=i), "funk")
              for i, (shift, tempo) in enumerate([(0.0, 80.0), (-0.03, 100.0), (0.015, 140.0)])]
    table = mine_feel(pieces, min_onsets=10)
    snare, kick, hat = (table.cell("funk", key, 0) for key in (38, 36, 42))
    assert snare is not None and kick is not None and hat is not None
    assert snare.offset == pytest.approx(0.02, abs=0.004)
    assert kick.offset == pytest.approx(0.0, abs=0.004) and hat.offset == pytest.approx(0.0, abs=0.004)
    assert snare.velocity == 110 and hat.velocity == 70 and snare.onsets == 3 * 4 * 2
    assert 0 < snare.spread < 0.01  # the jitter, not the takes' shifts
    assert table.cell("funk", 42, 2) is not None and table.cell("funk", 42, 1) is None  # no hat on 'e'
    assert table.cell(None, 38, 0) == table.cells[(POOLED, 38, 0)]  # no genre: the pool
    assert table.genres == ["funk"]


def test_triplets_and_thin_bars_are_not_counted() -> None:
    score = performance(0.0, bars=2)
    triplets = [BAR * 3 + round(i * TPQ / 3) for i in range(12) if i % 3]  # 8th triplets off the beat
    score.tracks[0].notes.extend([Note(t, 30, 42, 60) for t in triplets])
    score.tracks[0].notes.append(Note(BAR * 4, 30, 49, 90))  # a lone crash: a bar of one onset
    t = timing(score)
    assert t.triplets == len(triplets) and t.thin == 1
    assert len(t.offset) == 2 * 12 and set(t.position.tolist()) == {0, 2}


def test_genre_cells_need_enough_onsets() -> None:
    pieces = [(performance(0.02, seed=1), "funk"), (performance(0.0, seed=2), "rock")]
    table = mine_feel(pieces, min_onsets=100)
    assert table.genres == []  # 8 snares per genre: only the pooled cells (20 onsets) are kept
    assert table.cell("rock", 42, 0) == table.cells[(POOLED, 42, 0)]
    assert table.cell("rock", 56, 0) == table.cells[(POOLED, ANY, 0)]  # a cowbell: any sound
    with pytest.raises(InputError, match="min_onsets 0"):
        mine_feel(pieces, min_onsets=0)


# --- humanize -------------------------------------------------------------------------------
TABLE = FeelTable({
    (POOLED, 36, 0): Cell(0.0, 0.0, 100, 50), (POOLED, 38, 0): Cell(0.02, 0.0, 90, 50),
    (POOLED, 42, 0): Cell(-0.01, 0.0, 80, 50), (POOLED, 42, 2): Cell(0.01, 0.0, 50, 50),
    (POOLED, 42, 1): Cell(-0.03, 0.0, 40, 50), (POOLED, 42, 3): Cell(0.03, 0.0, 40, 50),
})
LOOSE = FeelTable({k: Cell(c.offset, 0.01, c.velocity, c.onsets) for k, c in TABLE.cells.items()})


def straight(bars: int = 4, velocity: int = 100, tpq: int = TPQ) -> Score:
    """Kick, snare and 8th hats on the grid, one velocity, under a piano chord a bar."""
    q = tpq
    drums = [(b * 4 * q + i * q, q // 4, 38 if i % 2 else 36, velocity) for b in range(bars) for i in range(4)]
    drums += [(b * 4 * q + i * q // 2, q // 4, 42, velocity) for b in range(bars) for i in range(8)]
    piano = [(b * 4 * q, 4 * q, p, 70) for b in range(bars) for p in (60, 64, 67)]
    return make_score([(0, False, piano), (0, True, sorted(drums))], tpq=tpq)


def notes(score: Score, drum: bool) -> list[tuple[int, int, int, int]]:
    track = next(t for t in score.tracks if t.is_drum == drum)
    return sorted((n.time, n.duration, n.pitch, n.velocity) for n in track.notes)


def by_slot(score: Score) -> dict[tuple[int, int], tuple[int, int]]:
    """Drum notes by (key, nearest 8th): (time, duration)."""
    return {(p, round(t / (TPQ // 2))): (t, d) for t, d, p, _ in notes(score, True)}


def test_humanize_moves_each_sound_by_its_median_and_leaves_pitched_parts() -> None:
    score = straight()
    out = humanize(score, TABLE, "funk", seed=0, velocities=False)
    before, after = by_slot(score), by_slot(out)
    shifts: dict[int, set[int]] = {}
    for slot, (t0, d0) in before.items():
        t1, d1 = after[slot]
        assert d1 == d0 and t1 >= 0  # durations kept, nothing before 0 (the first hat cannot be early)
        if t0 > 0:
            shifts.setdefault(slot[0], set()).add(t1 - t0)
    assert shifts[38] == {round(0.02 * TPQ)} and shifts[36] == {0}
    assert shifts[42] == {round(-0.01 * TPQ), round(0.01 * TPQ)}  # on the beat ahead, off it behind
    assert notes(out, False) == notes(score, False)  # pitched parts untouched by default
    assert out.note_num() == score.note_num()


def test_the_spread_draws_around_the_median_deterministically() -> None:
    score = straight(bars=64)
    snare_times = [t for t, _, p, _ in notes(score, True) if p == 38]

    def shifts(amount: float, seed: int) -> np.ndarray:
        out = humanize(score, LOOSE, None, amount, seed, velocities=False)
        moved = sorted(t for t, _, p, _ in notes(out, True) if p == 38)
        return (np.array(moved) - np.array(snare_times)) / TPQ

    loose = shifts(1.0, 3)  # 128 snares: the mean's standard error is 0.0009
    assert loose.mean() == pytest.approx(0.02, abs=0.003) and 0.006 < loose.std() < 0.012
    assert shifts(0.0, 3).std() < 0.002  # amount 0: the push alone
    assert np.array_equal(shifts(1.0, 3), loose) and not np.array_equal(shifts(1.0, 4), loose)


def test_straight_is_an_identity_and_human_uses_the_shipped_table() -> None:
    score = straight()
    assert apply_feel(score, FeelConfig(), "rock", 3) is score
    human = apply_feel(score, FeelConfig(feel="human"), "rock", 3)
    assert human.note_num() == score.note_num() and notes(human, True) != notes(score, True)
    assert notes(human, False) == notes(score, False)
    with pytest.raises(ConfigError, match="feel 'swing' is not one of straight, human"):
        FeelConfig(feel="swing")
    with pytest.raises(ConfigError, match="amount 2"):
        FeelConfig(feel="human", amount=2)


def test_a_coarse_score_is_resampled_and_pitched_parts_move_on_request() -> None:
    coarse = straight(tpq=8)
    out = humanize(coarse, TABLE, None, seed=1, pitched=True)
    assert out.ticks_per_quarter == 480
    snares = [t for t, _, p, _ in notes(out, True) if p == 38]
    assert snares[0] == TPQ + round(0.02 * TPQ)  # the offset shows at 480 ticks a quarter
    chords: dict[int, set[int]] = {}
    for t, _, p, _ in notes(out, False):
        chords.setdefault(p, set()).add(t)
    assert chords[60] == chords[64] == chords[67]  # a chord moves as one
    assert chords[60] != {b * BAR for b in range(4)}


def test_accents_only_for_one_velocity_drums_and_cut_only_runs_into_the_next_hit() -> None:
    flat = humanize(straight(), TABLE, None, seed=0)
    hats = {round(t / (TPQ // 2)) % 2: v for t, _, p, v in notes(flat, True) if p == 42}
    assert hats == {0: 100, 1: round(100 * 50 / 80)}  # the off-beat hat softer, the accent kept
    varied = straight()
    varied.tracks[1].notes[0].velocity = 90
    assert {v for *_, v in notes(humanize(varied, TABLE, None, seed=0), True)} == {90, 100}
    # the 'a' of one beat (pushed late) runs into the next downbeat (pulled early): cut there
    pair = make_score([(0, True, [(3 * SIXTEENTH, SIXTEENTH, 42, 80), (TPQ, SIXTEENTH, 42, 80)])])
    (t0, d0, _, _), (t1, d1, _, _) = notes(humanize(pair, TABLE, None, seed=0), True)
    assert (t0, t1) == (3 * SIXTEENTH + round(0.03 * TPQ), TPQ + round(-0.01 * TPQ))
    assert t0 + d0 == t1 and d1 == SIXTEENTH


def test_a_region_limits_what_moves() -> None:
    score = straight()
    out = humanize(score, TABLE, None, seed=0, region=Region(BAR * 2, BAR * 3, frozenset({128})))
    changed = set(notes(score, True)) - set(notes(out, True))
    assert changed and all(BAR * 2 <= t < BAR * 3 for t, *_ in changed)
    pitched_only = humanize(score, TABLE, None, region=Region(0, None, frozenset({0})))
    assert notes(pitched_only, True) == notes(score, True)  # the drums are not in the region
    with pytest.raises(InputError, match="region"):
        Region(10, 5)


# --- the asset ------------------------------------------------------------------------------
def test_save_and_load_round_trip(tmp_path: Path) -> None:
    save_feel(TABLE, tmp_path / "feel.json", {"command": "test"})
    loaded = load_feel(tmp_path / "feel.json")
    assert loaded.cells == TABLE.cells and loaded.provenance == {"command": "test"}
    with pytest.raises(ConfigError, match="tunesmith data feel"):
        load_feel(tmp_path / "missing.json")
    bad = {"format": "tunesmith-feel", "version": 1, "feels": {"*": {"36": [[0.5, 0.0, 90, 3]]}}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))  # an offset of half a quarter
    with pytest.raises(ConfigError, match="malformed"):
        load_feel(tmp_path / "bad.json")


def test_the_shipped_table() -> None:
    table = load_feel()
    for key in (36, 38, 42, 51):
        for pos in range(4):
            cell = table.cells[(POOLED, key, pos)]
            assert abs(cell.offset) < 0.04 and 0.01 < cell.spread < 0.1 and cell.onsets >= 200
    assert {"funk", "jazz", "latin", "rock"} <= set(table.genres)
    assert "tunesmith data feel --corpus groove:" in table.provenance["command"]
    assert (Path(__file__).parent.parent / "src/tunesmith/assets/feel.json").stat().st_size < 16_000


# --- the option on the front-ends -----------------------------------------------------------
runner = CliRunner()


@pytest.mark.parametrize("command", [["generate", "a rock song"], ["infill", "x.mid", "--bars", "1-2"],
                                     ["continue", "x.mid"]])
def test_cli_refuses_a_bad_feel_with_exit_2(command: list[str]) -> None:
    from tunesmith.cli import app

    result = runner.invoke(app, [*command, "--feel", "swing"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: feel 'swing' is not one of straight, human"


def fake_piece(attributes: Any, seed: int) -> Generated:
    return Generated(straight(bars=2), [], attributes, seed, 0.0, 0.0)


def test_cli_generate_writes_a_human_feel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tunesmith.cli as cli

    monkeypatch.setattr(cli, "_checkpoint", lambda model: None)
    monkeypatch.setattr(cli, "_generate", lambda request, num, seed, *a, **k: [
        fake_piece(request.attributes, seed) for _ in range(num)])
    written = {}
    for feel in ("straight", "human"):
        out = tmp_path / f"{feel}.mid"
        args = ["generate", "a funk groove", "-o", str(out), "--seed", "5", "--feel", feel]
        result = runner.invoke(cli.app, args)
        assert result.exit_code == 0, result.output
        written[feel] = Score(str(out))
    assert notes(written["straight"], True) == notes(straight(bars=2), True)
    assert notes(written["human"], True) != notes(written["straight"], True)
    assert notes(written["human"], False) == notes(written["straight"], False)


@pytest.fixture(scope="module")
def client() -> Any:
    from tunesmith.server import ServerConfig, create_app

    app = create_app(config=ServerConfig(sample_rate=8000),
                     work=lambda spec, on_step: fake_piece(spec.requested, spec.seed))
    with TestClient(app) as c:
        yield c


def test_http_feel_is_applied_and_a_bad_one_is_400(client: TestClient) -> None:
    scores = {}
    for feel in ("straight", "human"):
        res = client.post("/api/generate", json={"prompt": "a funk groove", "bars": 2, "seed": 4, "feel": feel})
        assert res.status_code == 202, res.text
        job = wait_for(client, res.json()["job_id"])
        assert job["status"] == "done", job["error"]
        scores[feel] = Score.from_midi(client.get(f"/api/jobs/{job['job_id']}/midi").content)
    assert notes(scores["straight"], True) == notes(straight(bars=2), True)
    assert notes(scores["human"], True) != notes(scores["straight"], True)
    res = client.post("/api/generate", json={"prompt": "x", "feel": "swing"})
    assert res.status_code == 400  # a bad value, as a bad drums or texture is
    assert "feel 'swing' is not one of straight, human" in res.text
