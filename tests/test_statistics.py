"""Tests of evaluation.statistics on hand-made scores whose feature values are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from symusic import Note, Score, TimeSignature, Track

from tunesmith.errors import InputError
from tunesmith.evaluation.statistics import (
    FEATURES,
    bar_boundaries,
    bar_count,
    empty_beat_rate,
    feature_distances,
    groove_consistency,
    kl_divergence,
    n_pitch_classes_used,
    note_density,
    overlap_area,
    pitch_class_entropy,
    pitch_in_scale_rate,
    pitch_range,
    polyphony,
    polyphony_rate,
    scale_consistency,
)

Q = 480  # ticks per quarter


def score_of(*tracks: list[tuple[int, int, int]], drums: tuple[int, ...] = (), ts=None) -> Score:
    """A score with one track per list of (time, duration, pitch); `drums` lists drum tracks."""
    s = Score(Q)
    for i, notes in enumerate(tracks):
        t = Track(name=f"t{i}", program=0, is_drum=i in drums)
        for time, dur, pitch in notes:
            t.notes.append(Note(time, dur, pitch, 80))
        s.tracks.append(t)
    for time, num, den in ts or ():
        s.time_signatures.append(TimeSignature(time, num, den))
    return s


def test_pitch_class_entropy_counts_notes_and_ignores_drums():
    # pitch classes C, E, G, C: p = (1/2, 1/4, 1/4) -> H = 1/2*1 + 2 * 1/4*2 = 1.5 bits
    melody = [(0, Q, 60), (Q, Q, 64), (2 * Q, Q, 67), (3 * Q, Q, 72)]
    drums = [(0, Q, 37), (Q, Q, 42)]
    assert pitch_class_entropy(score_of(melody, drums, drums=(1,))) == pytest.approx(1.5)


def test_scale_features_on_c_major_scale_plus_f_sharp():
    notes = [(i * Q, Q, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 66])]
    s = score_of(notes)
    assert scale_consistency(s) == pytest.approx(7 / 8)  # C major (or G major) holds 7 of 8
    assert pitch_in_scale_rate(s, "A minor") == pytest.approx(7 / 8)
    assert pitch_in_scale_rate(s, "C# major") == pytest.approx(3 / 8)  # only C, F, F#
    assert n_pitch_classes_used(s) == 8
    assert pitch_range(s) == 71 - 60
    with pytest.raises(InputError, match="H major"):
        pitch_in_scale_rate(s, "H major")


def test_pitch_range_ignores_drums():
    assert pitch_range(score_of([(0, Q, 60), (Q, Q, 67)], [(0, Q, 35)], drums=(1,))) == 7


def test_polyphony_and_rate_weight_by_time():
    # 0..960: C with E then G (2 pitches); 960..1920 silent; 1920..2400: D alone
    notes = [(0, 2 * Q, 60), (0, Q, 64), (Q, Q, 67), (4 * Q, Q, 62)]
    s = score_of(notes)
    assert polyphony(s) == pytest.approx((2 * 960 + 1 * 480) / (960 + 480))
    assert polyphony_rate(s) == pytest.approx(960 / 2400)  # silence counts in the total


def test_polyphony_counts_a_unison_on_two_tracks_once():
    s = score_of([(0, Q, 60)], [(0, Q, 60)])
    assert polyphony(s) == 1.0
    assert polyphony_rate(s) == 0.0


def test_empty_beat_rate_uses_sounding_notes_and_zero_length_notes():
    s = score_of([(0, Q, 60), (3 * Q, Q, 62)])
    assert empty_beat_rate(s) == pytest.approx(2 / 4)  # beats 1 and 2 are empty
    s = score_of([(0, Q, 60), (2 * Q, 0, 64), (3 * Q, Q, 62)])
    assert empty_beat_rate(s) == pytest.approx(1 / 4)  # the zero-length note fills beat 2
    s = score_of([(0, 2 * Q, 60), (3 * Q, Q, 62)])
    assert empty_beat_rate(s) == pytest.approx(1 / 4)  # a half note covers beats 0 and 1


def test_groove_consistency_hamming_between_consecutive_bars():
    bar = 4 * Q
    quarters = [(b * bar + k * Q, Q, 60) for b in (0, 1) for k in range(4)]
    halves = [(2 * bar + k * 2 * Q, Q, 60) for k in range(2)]
    # bars 0-1 equal; bars 1-2 differ at 2 of 16 cells -> 1 - (0 + 2) / (2 * 16)
    assert groove_consistency(score_of(quarters + halves)) == pytest.approx(1 - 2 / 32)


def test_groove_consistency_follows_the_time_signature():
    # one note per 3/4 downbeat: identical bars in 3/4, shifting bars if read as 4/4
    notes = [(k * 3 * Q, Q, 60) for k in range(4)]
    assert groove_consistency(score_of(notes, ts=[(0, 3, 4)])) == 1.0
    assert groove_consistency(score_of(notes)) < 1.0


def test_bar_boundaries_follow_time_signature_changes_and_continue_past_the_end():
    s = score_of([(0, Q, 60), (2000, Q, 60)], ts=[(0, 3, 4), (3 * Q, 6, 8)])
    # 3/4 bar = 1440 ticks, 6/8 bar = 6 eighths = 1440 ticks
    assert bar_boundaries(s, 5).tolist() == [0, 1440, 2880, 4320, 5760, 7200]
    assert bar_count(s) == 2
    s = score_of([(0, Q, 60)], ts=[(0, 2, 4)])
    assert bar_boundaries(s, 3).tolist() == [0, 960, 1920, 2880]


def test_note_density_is_notes_per_bar_with_drums():
    notes = [(k * Q, Q, 60) for k in range(6)]  # 6 notes over bars 0 and 1 of 4/4
    drums = [(0, Q, 36), (4 * Q, Q, 36)]
    assert note_density(score_of(notes, drums, drums=(1,))) == pytest.approx(8 / 2)


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_every_feature_is_zero_for_an_empty_score(name):
    assert FEATURES[name](Score(Q)) == 0.0


@pytest.mark.parametrize(
    "name", ["pitch_class_entropy", "scale_consistency", "pitch_range", "polyphony"]
)
def test_pitch_features_are_zero_for_a_drum_only_score(name):
    s = score_of([(0, Q, 36), (Q, Q, 38), (2 * Q, Q, 42)], drums=(0,))
    assert FEATURES[name](s) == 0.0


def test_rhythm_features_see_a_drum_only_score():
    s = score_of([(0, Q, 36), (2 * Q, Q, 38)], drums=(0,))
    assert empty_beat_rate(s) == pytest.approx(1 / 3)
    assert note_density(s) == 2.0


def test_features_accept_a_score_in_seconds():
    s = score_of([(0, Q, 60), (Q, Q, 64), (2 * Q, Q, 67), (3 * Q, Q, 72)])
    assert pitch_class_entropy(s.to("second")) == pytest.approx(1.5)
    assert groove_consistency(s.to("second")) == groove_consistency(s)


def test_overlap_area_by_hand():
    edges = [0.0, 0.5, 1.0]
    # a: (1/2, 1/2), b: (1/4, 3/4) -> min summed = 1/4 + 1/2
    assert overlap_area([0, 0, 1, 1], [0, 1, 1, 1], edges) == pytest.approx(0.75)
    assert overlap_area([1, 2, 3], [1, 2, 3], 5) == pytest.approx(1.0)
    assert overlap_area([0, 0], [10, 10], 4) == 0.0


def test_kl_divergence_by_hand_with_and_without_smoothing():
    a, b, edges = [0, 0, 1, 1], [0, 1, 1, 1], [0.0, 0.5, 1.0]
    exact = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence(a, b, edges, smoothing=0) == pytest.approx(exact)
    # pseudo-count 0.5 per bin: p = (2.5, 2.5) / 5, q = (1.5, 3.5) / 5
    smoothed = 0.5 * math.log(0.5 / 0.3) + 0.5 * math.log(0.5 / 0.7)
    assert kl_divergence(a, b, edges) == pytest.approx(smoothed)
    assert kl_divergence(a, a, edges) == 0.0
    assert math.isfinite(kl_divergence([0, 0], [10, 10], 4))
    assert kl_divergence([0, 0], [10, 10], 4, smoothing=0) == math.inf


def test_set_distances_reject_empty_sets():
    with pytest.raises(InputError, match="a_values"):
        overlap_area([], [1.0], 4)
    with pytest.raises(InputError, match="bins=0"):
        kl_divergence([1.0], [1.0], 0)


def test_feature_distances_of_a_set_with_itself_and_with_another():
    a = score_of([(k * Q, Q, 60 + 2 * k) for k in range(8)])
    b = score_of([(0, 4 * Q, 60), (0, 4 * Q, 64), (0, 4 * Q, 67)])
    same = feature_distances([a, b], [a, b])
    assert set(same) == set(FEATURES)
    for name, d in same.items():
        assert d["oa"] == pytest.approx(1.0), name
        assert d["kl"] == pytest.approx(0.0), name
        assert d["gen_mean"] == d["ref_mean"]
    diff = feature_distances([a], [b])
    assert diff["polyphony"]["gen_mean"] == 1.0 and diff["polyphony"]["ref_mean"] == 3.0
    assert diff["polyphony"]["oa"] == 0.0
    assert diff["polyphony"]["kl"] > 0.0
    with pytest.raises(InputError):
        feature_distances([], [a])


def test_bar_count_of_empty_score_and_onset_grid_shape():
    assert bar_count(Score(Q)) == 0
    assert isinstance(bar_boundaries(Score(Q), 2), np.ndarray)
