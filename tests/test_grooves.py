"""The groove index: mining, the grid, retrieval, looping and the shipped asset (no ../shared)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from tunesmith.errors import ConfigError, InputError
from tunesmith.retrieval.grooves import (
    STEPS_PER_QUARTER,
    Groove,
    GrooveTally,
    SkeletonTally,
    bar_hits,
    grid_text,
    groove_key,
    groove_reader,
    kit_class,
    load_grooves,
    loop_track,
    medoid,
    mine_grooves,
    pick_groove,
    save_grooves,
    skeleton,
    snap_bar,
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


def drum_score(bars: Sequence[Sequence[tuple[float, int, int]]], meter: tuple[int, int], bpm: float,
               tick: Callable[[float], int]) -> Score:
    """One drum track, one bar after another; `tick` places an onset within its bar."""
    score = Score(TPQ)
    score.tempos.append(Tempo(0, bpm))
    score.time_signatures.append(TimeSignature(0, *meter))
    track = Track(name="Drums", program=0, is_drum=True)
    length = meter[0] * TPQ * 4 // meter[1]
    for b, hits in enumerate(bars):
        for onset, key, vel in hits:
            track.notes.append(Note(b * length + tick(onset), 60, key, vel))
    score.tracks.append(track)
    return score


def piece(*bars: Hits, meter: tuple[int, int] = (4, 4)) -> Score:
    return drum_score(bars, meter, 120.0, lambda step: int(step) * TICKS_PER_STEP)


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
    with pytest.raises(InputError, match="min_pieces=0, min_hits=4, min_classes=2, min_bars=4"):
        mine_grooves([], min_pieces=0)
    with pytest.raises(InputError, match="min_bars=0"):
        SkeletonTally().grooves(min_bars=0)


# --- skeletons: human-timed performances ---------------------------------------------------
Played = list[tuple[float, int, int]]  # (onset in quarters from the bar start, GM key, velocity)


def performance(*bars: Played, meter: tuple[int, int] = (4, 4)) -> Score:
    """A drummer's take: onsets as played (ticks off the grid), one bar after another."""
    return drum_score(bars, meter, 100.0, lambda onset: round(onset * TPQ))


def funk(ghosts: tuple[float, ...], push: float = 0.0, open_hat: bool = False) -> Played:
    """Kick 1 and the and of 3, snare 2 and 4 (accents), hats on the 8ths, soft snare ghost
    notes at `ghosts`; every onset `push` quarters early (a drummer's timing)."""
    hats = [(i / 2, 46 if open_hat and i == 7 else 42, 80) for i in range(8)]
    hits = hats + [(0, 36, 105), (2.5, 36, 100), (1, 38, 115), (3, 38, 118)] + [(g, 38, 30) for g in ghosts]
    return sorted((max(0.0, t - push), k, v) for t, k, v in hits)


def test_performances_with_one_skeleton_and_other_ghost_notes_are_one_groove():
    takes = [performance(funk((0.75, 1.75)), funk((0.75, 3.25), push=0.02)),  # the same drummer
             performance(funk((1.25,), push=0.03), funk((1.75, 2.25), open_hat=True)),
             performance(funk((0.75, 1.75, 3.75), push=0.01))]
    [g] = mine_grooves([(t, "funk") for t in takes], skeletons=True)
    assert (g.meter, g.genre, g.pieces, g.bars) == ("4/4", "funk", 3, 5)
    played = [snap_bar([(t, k, v) for t, k, v in bar], "4/4") for bar in
              (funk((0.75, 1.75)), funk((0.75, 3.25)), funk((1.25,)), funk((1.75, 2.25), open_hat=True),
               funk((0.75, 1.75, 3.75)))]
    assert g.hits in played  # a real bar, as played: its ghost notes and velocities kept
    assert g.hits == played[0]  # the medoid: the ghost notes most takes share
    assert (9, 38, 30) in g.hits and (12, 38, 115) in g.hits
    # two performances are a groove only when they play it in MIN_BARS bars or more
    assert mine_grooves([(t, "funk") for t in takes[:2]], skeletons=True)[0].pieces == 2
    assert mine_grooves([(performance(funk(())), "funk")] * 2, skeletons=True) == []
    assert mine_grooves([(t, "funk") for t in takes[:2]], skeletons=True, min_bars=5) == []


def test_skeletons_split_by_genre_and_by_what_kick_and_snare_play():
    four = [(i, 36, 100) for i in range(4)] + [(i + 0.5, 42, 80) for i in range(4)]
    grooves = mine_grooves([(performance(funk(())), "funk")] * 3 + [(performance(funk(())), "rock")] * 3
                           + [(performance(sorted(four)), "funk")] * 2, skeletons=True)
    assert sorted((g.genre, g.pieces) for g in grooves) == [("funk", 3), ("rock", 3)]


def test_skeleton_leaves_out_ghosts_cymbals_and_what_the_time_keeper_plays():
    bar = snap_bar(funk((0.75,)), "4/4")
    cells, keepers = skeleton(bar)
    assert cells == {(0, 36), (30, 36), (12, 38), (36, 38)} and keepers == {42}
    sixteenths = snap_bar(sorted(funk(()) + [(i / 4, 42, 60) for i in range(1, 16, 2)] + [(0, 49, 120)]), "4/4")
    assert skeleton(sixteenths) == skeleton(bar) == skeleton(snap_bar(funk((), open_hat=True), "4/4"))
    ride = snap_bar([(t, 51 if k == 42 else k, v) for t, k, v in funk(())], "4/4")
    assert skeleton(ride) == (cells, frozenset({51}))


def test_a_fill_is_no_groove_of_a_performance():
    toms = [(i / 4, 45 if i < 8 else 41, 100) for i in range(16)]
    tally = SkeletonTally()
    for _ in range(3):
        tally.add(performance(toms, toms, funk(())), "rock")
    assert (tally.fill_bars, tally.drum_bars) == (6, 9)
    [g] = tally.grooves()
    assert (g.pieces, g.bars) == (3, 3) and not any(k in (41, 45) for _, k, _ in g.hits)


def swing(late: float) -> Played:
    """A jazz ride: quarters, the skip note a swung 8th (2/3 of the beat) on 2 and 4, played
    `late` quarters off; the hat's foot on 2 and 4; a feathered kick on 1."""
    ride = [(b + 0.0, 51, 95) for b in range(4)] + [(1 + 2 / 3 + late, 51, 75), (3 + 2 / 3 - late, 51, 75)]
    return sorted(ride + [(1.01, 42, 70), (3, 42, 70), (0.02, 36, 50)])


def test_a_swung_ride_keeps_its_triplets_and_a_straight_beat_its_sixteenths():
    assert snap_bar(swing(0.03), "4/4") == snap_bar(swing(-0.04), "4/4") == (
        (0, 36, 50), (0, 51, 95), (12, 42, 70), (12, 51, 95), (20, 51, 75), (24, 51, 95), (36, 42, 70),
        (36, 51, 95), (44, 51, 75))
    straight = snap_bar(funk((0.75, 1.25)), "4/4")
    assert all(step % 3 == 0 for step, _, _ in straight) and (9, 38, 30) in straight
    [g] = mine_grooves([(performance(swing(0.02), swing(0.0)), "jazz")] * 3, skeletons=True)
    assert {s for s, k, _ in g.hits if k == 51} == {0, 12, 20, 24, 36, 44}  # 20, 44: triplet steps
    # 6/8: a bar of three quarters; an early downbeat is the next bar's
    assert snap_bar([(-0.05, 36, 100), (1.5, 38, 100), (2.9, 36, 90)], "6/8") == ((0, 36, 100), (18, 38, 100))


def test_medoid_is_the_bar_nearest_the_others():
    a = ((0, 36, 100), (12, 38, 100), (24, 36, 100), (36, 38, 100))
    b, c = a + ((42, 38, 30),), ((0, 36, 90), (6, 38, 30), (12, 38, 100), (24, 36, 100), (36, 38, 100))
    assert medoid([b, c, a]) == a and medoid([c]) == c
    with pytest.raises(InputError, match="no bars"):
        medoid([])


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


def test_cli_mines_a_groove_folder_by_skeleton(tmp_path):
    """`tunesmith data grooves` on a Groove-like folder (info.csv and performances): the
    performances are matched by skeleton, the test split is not read."""
    import csv

    from typer.testing import CliRunner

    from tunesmith.cli import app

    rows = []
    for i, ghosts in enumerate([(0.75,), (1.75,), (0.75, 3.25), (1.25,)]):
        name = f"drummer1/session1/{i}_funk_100_beat_4-4.mid"
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        performance(funk(ghosts, push=0.01 * i), funk(ghosts)).dump_midi(str(tmp_path / name))
        rows.append({"drummer": "drummer1", "session": "drummer1/session1", "id": str(i), "style": "funk",
                     "bpm": "100", "beat_type": "beat", "time_signature": "4-4", "midi_filename": name,
                     "audio_filename": "", "duration": "4.8", "split": "test" if i == 3 else "train"})
    with (tmp_path / "info.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "grooves.json.gz"
    result = CliRunner().invoke(app, ["data", "grooves", "--corpus", f"groove:{tmp_path}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    [g] = load_grooves(out)
    assert (g.genre, g.pieces, g.bars) == ("funk", 3, 6) and (12, 38, 115) in g.hits
