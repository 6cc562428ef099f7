"""Tests of evaluation.infilling on hand-made original / infilled score pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from tunesmith.errors import InputError
from tunesmith.evaluation.infilling import (
    BarRegion,
    content_preservation,
    groove_similarity,
    onset_f1,
    pitch_class_entropy_difference,
    region_onsets,
)

Q = 480
BAR = 4 * Q


def score_of(*tracks: list[tuple[int, int, int]], tpq: int = Q, ts=None) -> Score:
    """One track per list of (time, duration, pitch), all in `tpq` ticks."""
    s = Score(tpq)
    for i, notes in enumerate(tracks):
        t = Track(name=f"t{i}", program=0)
        for time, dur, pitch in notes:
            t.notes.append(Note(time, dur, pitch, 80))
        s.tracks.append(t)
    for time, num, den in ts or ():
        s.time_signatures.append(TimeSignature(time, num, den))
    return s


def whole_bars(pitches: list[int], bars: range) -> list[tuple[int, int, int]]:
    return [(b * BAR, BAR, p) for b in bars for p in pitches]


def test_bar_region_validates():
    with pytest.raises(InputError, match="2..2"):
        BarRegion(2, 2)
    with pytest.raises(InputError, match="-1"):
        BarRegion(0, 1, track=-1)
    assert BarRegion(1, 4, track=0).n_bars == 3


def test_content_preservation_by_hand():
    region = BarRegion(0, 2, track=0)
    original = score_of(whole_bars([60], range(2)))
    assert content_preservation(original, original, region) == pytest.approx(1.0)
    tritone = score_of(whole_bars([66], range(2)))
    assert content_preservation(original, tritone, region) == pytest.approx(0.0)
    # C alone vs C + G: every frame compares (1, 0) with (1, 1) / sqrt 2
    fifth = score_of(whole_bars([60, 67], range(2)))
    assert content_preservation(original, fifth, region) == pytest.approx(1 / math.sqrt(2))


def test_content_preservation_of_silence():
    region = BarRegion(0, 1, track=0)
    silent = score_of([])
    assert content_preservation(silent, silent, region) == 1.0
    assert content_preservation(silent, score_of(whole_bars([60], range(1))), region) == 0.0


def test_content_preservation_looks_only_at_the_region_and_track():
    original = score_of(whole_bars([60], range(3)), whole_bars([62], range(3)))
    changed = score_of(
        whole_bars([61], range(1)) + whole_bars([60], range(1, 3)), whole_bars([70], range(3))
    )
    assert content_preservation(original, changed, BarRegion(1, 3, track=0)) == 1.0
    assert content_preservation(original, changed, BarRegion(0, 1, track=0)) == 0.0
    assert content_preservation(original, changed, BarRegion(1, 3, track=1)) == 0.0
    with pytest.raises(InputError, match="track index 5"):
        content_preservation(original, changed, BarRegion(0, 1, track=5))


def test_metrics_do_not_depend_on_ticks_per_quarter():
    notes = [(0, Q, 60), (Q, Q // 2, 64), (3 * Q, Q, 67), (BAR + Q, Q, 72)]
    original = score_of(notes)
    coarse = score_of([(t // 5, d // 5, p) for t, d, p in notes], tpq=Q // 5)
    region = BarRegion(0, 2, track=0)
    assert content_preservation(original, coarse, region) == pytest.approx(1.0)
    assert groove_similarity(original, coarse, region) == 1.0


def test_groove_similarity_averages_over_bar_pairs():
    quarters = [(b * BAR + k * Q, Q, 60) for b in range(2) for k in range(4)]
    halves = [(k * 2 * Q, Q, 60) for k in range(2)] + [(BAR + k * Q, Q, 60) for k in range(4)]
    region = BarRegion(0, 2, track=0)
    # bar 0 differs at 2 of 16 cells, bar 1 is equal: (14/16 + 1) / 2 bar pairs
    assert groove_similarity(score_of(quarters), score_of(halves), region) == pytest.approx(
        (14 / 16 + 1) / 2
    )


def test_groove_similarity_past_the_generated_end_compares_with_an_empty_bar():
    original = score_of([(3 * BAR + k * Q, Q, 60) for k in range(4)] + [(0, Q, 60)])
    generated = score_of([(0, Q, 60)])
    assert groove_similarity(original, generated, BarRegion(3, 4, track=0)) == 1 - 4 / 16


def test_groove_similarity_follows_the_time_signature():
    # a 3/4 bar 1 with onsets on its three beats; read as 4/4 they would fall elsewhere
    three = [(3 * Q + k * Q, Q // 2, 60) for k in range(3)]
    a = score_of(three, ts=[(0, 3, 4)])
    b = score_of([(3 * Q, Q // 2, 62), (4 * Q, Q // 2, 62), (5 * Q, Q // 2, 62)], ts=[(0, 3, 4)])
    assert groove_similarity(a, b, BarRegion(1, 2, track=0)) == 1.0
    # 16 cells of a 3/4 bar: beats at cells 0, 5 (16/3 floored) and 10 (32/3 floored)
    c = score_of([(3 * Q, Q // 2, 60)], ts=[(0, 3, 4)])
    assert groove_similarity(a, c, BarRegion(1, 2, track=0)) == 1 - 2 / 16


def test_pitch_class_entropy_difference():
    a = score_of([(0, Q, 60), (Q, Q, 64)])  # 2 equally likely classes: 1 bit
    b = score_of([(0, Q, 60), (Q, Q, 64), (2 * Q, Q, 67), (3 * Q, Q, 71)])  # 4: 2 bits
    assert pitch_class_entropy_difference(a, b) == pytest.approx(1.0)
    assert pitch_class_entropy_difference(b, a) == pytest.approx(1.0)
    # bar 0 holds every note of both scores
    assert pitch_class_entropy_difference(a, b, BarRegion(0, 1, track=0)) == pytest.approx(1.0)
    later = score_of([(BAR, Q, 60)] + [(0, Q, p) for p in (60, 62, 64, 65)])
    assert pitch_class_entropy_difference(
        later, score_of([(BAR, Q, 61)]), BarRegion(1, 2, track=0)
    ) == pytest.approx(0.0)
    assert pitch_class_entropy_difference(score_of([]), a) == pytest.approx(1.0)


def test_onset_f1_by_hand():
    ref = np.array([(0.0, 60), (1.0, 62), (2.0, 64)])
    est = np.array([(0.02, 60), (1.2, 62), (2.0, 65), (2.0, 64)])
    # matches: 60 at 0.02 and 64 at 2.0; 62 is 0.2 s late, 65 is the wrong pitch
    s = onset_f1(ref, est, onset_tolerance=0.05)
    assert s["precision"] == pytest.approx(2 / 4)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(4 / 7)


def test_onset_f1_matches_one_to_one_and_maximally():
    # two reference notes within reach of one estimate: only one may match
    s = onset_f1(np.array([(0.0, 60), (0.01, 60)]), np.array([(0.005, 60)]))
    assert s["precision"] == 1.0 and s["recall"] == 0.5
    # greedy r0 -> e0 would strand r1; the maximum matching pairs r0-e1 and r1-e0
    ref = np.array([(0.0, 60), (0.1, 60)])
    est = np.array([(0.05, 60), (0.0, 60)])
    assert onset_f1(ref, est, onset_tolerance=0.06)["f1"] == 1.0


def test_onset_f1_empty_sides():
    empty = np.zeros((0, 2))
    assert onset_f1(empty, empty) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert onset_f1(empty, np.array([(0.0, 60)]))["f1"] == 0.0
    assert onset_f1(np.array([(0.0, 60)]), empty)["recall"] == 0.0


def test_region_onsets_in_seconds_through_tempo_changes():
    s = score_of([(Q, Q, 60), (3 * Q, Q, 62), (BAR, Q, 64)])
    s.tempos.append(Tempo(0, 120.0))
    s.tempos.append(Tempo(2 * Q, 60.0))
    onsets = region_onsets(s, BarRegion(0, 1, track=0))
    # tick 480 at 120 qpm = 0.5 s; tick 1440 = 960 ticks at 120 qpm (1 s) + 480 at 60 qpm (1 s)
    assert onsets.tolist() == [[0.5, 60.0], [2.0, 62.0]]
