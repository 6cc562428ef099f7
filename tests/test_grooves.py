"""The groove index: mining, the grid, retrieval, looping and the shipped asset (no ../shared)."""

from __future__ import annotations

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from tunesmith.errors import ConfigError, InputError
from tunesmith.retrieval.grooves import (
    STEPS_PER_QUARTER,
    Groove,
    GrooveTally,
    bar_hits,
    grid_text,
    groove_key,
    groove_reader,
    kit_class,
    load_grooves,
    loop_track,
    mine_grooves,
    pick_groove,
    save_grooves,
)

TPQ = 480
TICKS_PER_STEP = TPQ // STEPS_PER_QUARTER  # 40
BAR = 4 * TPQ

Hits = list[tuple[int, int, int]]


def backbeat(kick: int = 36, velocity: int = 100) -> Hits:
    """Kick on 1 and 3, snare on 2 and 4, closed hats on the 8ths."""
    hits = [(s, 42, 70) for s in range(0, 48, 6)]
    return sorted(hits + [(0, kick, velocity), (24, kick, velocity), (12, 38, 110), (36, 38, 110)])


def four_on_floor() -> Hits:
    return sorted([(s, 36, 100) for s in (0, 12, 24, 36)] + [(s, 46, 80) for s in (6, 18, 30, 42)])


def fill() -> Hits:
    return [(s, 45 if s < 24 else 41, 100) for s in range(0, 48, 3)]  # toms on every 16th, no hats


def piece(*bars: Hits, meter: tuple[int, int] = (4, 4)) -> Score:
    score = Score(TPQ)
    score.tempos.append(Tempo(0, 120.0))
    score.time_signatures.append(TimeSignature(0, *meter))
    track = Track(name="Drums", program=0, is_drum=True)
    length = meter[0] * TPQ * 4 // meter[1]
    for b, hits in enumerate(bars):
        for step, key, vel in hits:
            track.notes.append(Note(b * length + step * TICKS_PER_STEP, 60, key, vel))
    score.tracks.append(track)
    return score


# --- mining ---------------------------------------------------------------------------------
def test_mining_keeps_a_groove_of_three_pieces_and_drops_one_of_two():
    pieces = [
        (piece(backbeat(36, 100), backbeat(36, 100), four_on_floor(), fill()), "rock"),
        (piece(backbeat(35, 70), four_on_floor(), fill()), "rock"),
        (piece(backbeat(36, 90), fill()), "pop"),
    ]
    grooves = mine_grooves(pieces)
    assert len(grooves) == 1  # four-on-the-floor: 2 pieces; the fill: skipped
    g = grooves[0]
    assert (g.meter, g.genre, g.pieces, g.bars) == ("4/4", "rock", 3, 4)
    assert groove_key(g.hits) == groove_key(backbeat())
    kick = [h for h in g.hits if kit_class(h[1]) == 36]
    assert [h[1] for h in kick] == [36, 36]  # 35 and 36 merged; 36 played in 3 of 4 bars
    assert {h[2] for h in kick} == {round((100 + 100 + 70 + 90) / 4)}  # velocity averaged


def test_tally_skips_fills_sparse_bars_and_one_sound_bars():
    count_in = [(s, 42, 80) for s in (0, 12, 24, 36)]  # hats on the beats: a count-in, no groove
    tally = GrooveTally(min_hits=4)
    tally.add(piece(count_in, fill(), [(0, 36, 100), (24, 38, 100)], backbeat()), None)
    assert (tally.drum_bars, tally.fill_bars, tally.sparse_bars, tally.one_sound_bars) == (4, 1, 1, 1)
    assert [g.hits for g in tally.grooves(min_pieces=1)] == [tuple(backbeat())]


def test_mining_counts_a_piece_once_and_merges_its_drum_tracks():
    split = piece(backbeat(), backbeat())
    hats = Track(name="Hats", program=0, is_drum=True)
    for note in split.tracks[0].notes.filter(lambda n: n.pitch == 42, inplace=False):
        hats.notes.append(note)
    split.tracks[0].notes = split.tracks[0].notes.filter(lambda n: n.pitch != 42, inplace=False)
    split.tracks.append(hats)
    [g] = mine_grooves([(split, "rock")], min_pieces=1)
    assert (g.pieces, g.bars) == (1, 2)
    assert groove_key(g.hits) == groove_key(backbeat())


def test_mining_keys_grooves_by_meter():
    waltz = sorted([(0, 36, 100), (12, 38, 90), (24, 38, 90)] + [(s, 42, 70) for s in range(0, 36, 6)])
    grooves = mine_grooves([(piece(waltz, meter=(3, 4)), "folk")] * 3 + [(piece(backbeat()), "rock")] * 3)
    assert sorted(g.meter for g in grooves) == ["3/4", "4/4"]


def test_mining_refuses_bad_thresholds():
    with pytest.raises(InputError, match="min_pieces=0, min_hits=4, min_classes=2"):
        mine_grooves([], min_pieces=0)


# --- the grid -------------------------------------------------------------------------------
def test_bar_hits_puts_sixteenths_and_triplets_on_their_steps():
    track = Track(name="Drums", program=0, is_drum=True)
    for tick, key in [(0, 36), (120, 42), (160, 38), (330, 42), (BAR - 10, 36), (BAR + 5, 38)]:
        track.notes.append(Note(tick, 30, key, 90))
    # 120 = a 16th (step 3), 160 = a 16th triplet (step 4), 330 rounds to the 8th (step 8);
    # a downbeat played 10 ticks early belongs to the next bar
    assert bar_hits(track, 0, BAR, TPQ) == ((0, 36, 90), (3, 42, 90), (4, 38, 90), (8, 42, 90))
    assert bar_hits(track, BAR, 2 * BAR, TPQ) == ((0, 36, 90), (0, 38, 90))


def test_kit_classes_merge_what_a_drummer_plays_as_one_sound():
    assert [kit_class(k) for k in (35, 36, 38, 40, 42, 44, 46, 49, 57, 51, 59, 37)] == [
        36, 36, 38, 38, 42, 42, 46, 49, 49, 51, 51, 37]
    assert groove_key([(0, 35, 10)]) == groove_key([(0, 36, 127)]) == frozenset({(0, 36)})


# --- retrieval ------------------------------------------------------------------------------
def groove(meter: str, genre: str | None, pieces: int, kick_step: int = 0) -> Groove:
    return Groove(meter, genre, ((kick_step, 36, 100), (12, 38, 100)), pieces, pieces * 2)


def library() -> list[Groove]:
    return ([groove("4/4", "rock", 5 + i, i) for i in range(5)] + [groove("4/4", "jazz", 9, 6),
            groove("4/4", "jazz", 9, 7)] + [groove("3/4", "folk", 3)])


def test_pick_groove_keeps_meter_and_genre():
    rng = np.random.default_rng(0)
    picks = [pick_groove(library(), "4/4", "rock", rng) for _ in range(50)]
    assert all(p is not None and (p.meter, p.genre) == ("4/4", "rock") for p in picks)
    assert len({p.hits for p in picks if p is not None}) > 1
    waltz = pick_groove(library(), "3/4", "rock", rng)
    assert waltz is not None and waltz.meter == "3/4"


def test_pick_groove_falls_back_to_any_genre_when_a_genre_has_few():
    rng = np.random.default_rng(1)
    picks = [pick_groove(library(), "4/4", "jazz", rng) for _ in range(50)]
    assert {p.genre for p in picks if p is not None} == {"rock", "jazz"}
    assert all(p is not None and p.meter == "4/4" for p in picks)


def test_pick_groove_none_for_unknown_meter_and_deterministic_per_seed():
    assert pick_groove(library(), "7/8", "rock", np.random.default_rng(0)) is None
    assert pick_groove([], "4/4", None, np.random.default_rng(0)) is None
    draws = [[pick_groove(library(), "4/4", None, np.random.default_rng(s)) for _ in range(3)] for s in (7, 7)]
    assert draws[0] == draws[1]


# --- writing a loop -------------------------------------------------------------------------
def test_loop_track_writes_the_groove_in_every_bar_and_nowhere_else():
    g = Groove("4/4", "rock", tuple(backbeat()), 3, 3)
    starts = [0, BAR, 2 * BAR, 3 * BAR]
    track = loop_track(g, starts, TPQ)
    assert (track.is_drum, track.name) == (True, "Drums")
    notes = [(n.time, n.duration, n.pitch, n.velocity) for n in track.notes]
    want = [(b * BAR + s * TICKS_PER_STEP, TPQ // 4, k, v) for b in range(3) for s, k, v in backbeat()]
    assert sorted(notes) == sorted(want)
    assert all(0 <= n.time < 3 * BAR for n in track.notes)


def test_loop_track_cuts_hits_past_a_short_bar():
    g = Groove("4/4", None, tuple(backbeat()), 3, 3)
    track = loop_track(g, [0, 2 * TPQ], TPQ)  # a 2/4 bar: only the first half of the groove
    assert max(n.time for n in track.notes) < 2 * TPQ
    assert len(track.notes) == sum(1 for s, _, _ in backbeat() if s < 24)
    assert len(loop_track(g, [0], TPQ).notes) == 0
    with pytest.raises(InputError, match="not increasing"):
        loop_track(g, [0, BAR, BAR], TPQ)


# --- the asset format -----------------------------------------------------------------------
def test_save_and_load_round_trip(tmp_path):
    path = tmp_path / "grooves.json.gz"
    save_grooves(library(), path, {"command": "test"})
    assert load_grooves(path) == library()
    first = path.read_bytes()
    save_grooves(library(), path, {"command": "test"})
    assert path.read_bytes() == first  # reproducible bytes


def test_load_refuses_other_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_grooves(tmp_path / "none.json.gz")
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(ConfigError, match="not gzipped JSON"):
        load_grooves(bad)


def test_groove_validates_its_hits():
    with pytest.raises(ConfigError, match="step 0-47"):
        Groove("4/4", None, ((48, 36, 100),), 1, 1)
    with pytest.raises(ConfigError, match="not sorted"):
        Groove("4/4", None, ((12, 38, 100), (0, 36, 100)), 1, 1)


def test_held_out_corpora_are_refused(tmp_path):
    (tmp_path / "freedoom").mkdir()
    with pytest.raises(ConfigError, match="held out"):
        groove_reader(f"folder:{tmp_path / 'freedoom'}")


def test_grid_text_shows_a_backbeat():
    rows = grid_text(Groove("4/4", None, tuple(backbeat()), 3, 3))
    assert rows == ["      kick X.......X.......", "     snare ....X.......X...",
                    "       hat x.x.x.x.x.x.x.x."]


# --- the shipped asset ----------------------------------------------------------------------
def test_shipped_asset_has_a_real_backbeat_first():
    grooves = load_grooves()
    four = [g for g in grooves if g.meter == "4/4"]
    assert four, "the asset has no 4/4 groove"
    classes = {kit_class(k) for _, k, _ in four[0].hits}
    assert {36, 38} <= classes and classes & {42, 46, 51}
    assert four[0].pieces == max(g.pieces for g in four)
