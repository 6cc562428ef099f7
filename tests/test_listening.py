"""Known-answer tests of evaluation.listening and evaluation.realism on hand-built scores."""

from __future__ import annotations

import numpy as np
import pytest
from symusic import Score

from conftest import make_score
from tunesmith.attributes import DRUMS, Attributes
from tunesmith.errors import InputError
from tunesmith.evaluation.listening import (
    asked_shares,
    bar_chroma,
    bar_lines,
    chord_agreement,
    draw_self_similarity,
    form,
    groove,
    harmony,
    listen,
    majmin,
    parts,
    pattern_similarity,
    self_similarity,
    sounding_bars,
)
from tunesmith.evaluation.realism import classifier_auc, kde_overlap, overlap_area, realism

Q = 480
BAR = 4 * Q


def rock_beat(bars: int = 8) -> list[tuple[int, int, int, int]]:
    """Kick on 1 and 3, snare on 2 and 4, closed hi-hat on every 8th."""
    hits = []
    for b in range(bars):
        s = b * BAR
        hits += [(s + i * Q // 2, 60, 42, 80) for i in range(8)]
        hits += [(s, 60, 36, 100), (s + 2 * Q, 60, 36, 100), (s + Q, 60, 38, 100), (s + 3 * Q, 60, 38, 100)]
    return hits


def random_hits(bars: int = 8, seed: int = 0) -> list[tuple[int, int, int, int]]:
    rng = np.random.default_rng(seed)
    n = 6 * bars
    times = rng.integers(0, bars * BAR, n)
    keys = rng.integers(35, 82, n)
    return [(int(t), 60, int(k), 90) for t, k in zip(times, keys, strict=True)]


def riff(bars: int = 8, seed: int = 3) -> list[tuple[int, int, int, int]]:
    """A 2-bar bass riff of random 8th notes, played over and over."""
    rng = np.random.default_rng(seed)
    pattern = [(i * Q // 2, Q // 2, int(p)) for i, p in enumerate(rng.integers(36, 48, 16))]
    return [(b * 2 * BAR + t, d, p, 90) for b in range(bars // 2) for t, d, p in pattern]


def drums(notes: list[tuple[int, int, int, int]], bars: int = 8) -> Score:
    return make_score([(0, True, notes)], ts=(4, 4))


# ---------------------------------------------------------------- parts


def test_one_note_part_sounds_in_one_bar_of_eight() -> None:
    score = make_score([(0, False, [(3 * BAR + Q, Q, 60, 80), (7 * BAR + 3 * Q, Q, 60, 80)]),
                        (73, False, [(2 * BAR, Q, 72, 80)])])
    [_, flute] = parts(score)
    assert flute.bars_share == 0.125
    assert flute.notes_per_bar == 0.125
    assert asked_shares(score, [73, 40, DRUMS]) == {73: 0.125, 40: 0.0, DRUMS: 0.0}


def test_held_note_sounds_in_the_bars_it_spans_but_a_short_tail_does_not() -> None:
    lines = np.arange(5) * BAR
    held = sounding_bars(np.array([0]), np.array([3 * BAR]), lines, Q // 4)
    tail = sounding_bars(np.array([BAR - Q]), np.array([Q + 10]), lines, Q // 4)
    assert held.tolist() == [True, True, True, False]
    assert tail.tolist() == [True, False, False, False]


def test_roles_from_family_register_and_polyphony() -> None:
    chords = [(b * BAR + i * Q, Q, p, 70) for b in range(4) for i in range(4) for p in (60, 64, 67)]
    pad = [(b * BAR, BAR, p, 70) for b in range(4) for p in (60, 64, 67)]
    melody = [(b * BAR + i * Q, Q, 72 + i, 80) for b in range(4) for i in range(4)]
    low_line = [(b * BAR + i * Q, Q, 36, 80) for b in range(4) for i in range(4)]
    score = make_score([(0, False, chords), (48, False, pad), (73, False, melody), (0, False, low_line),
                        (33, False, melody), (0, True, rock_beat(4))])
    assert [p.role for p in parts(score)] == ["chords", "pad", "lead", "bass", "bass", "drums"]
    assert parts(score)[0].polyphony == 3.0
    assert parts(score)[0].notes_per_bar == 12.0


def test_asked_shares_follow_the_bars_asked_for() -> None:
    # two bars of piano in a piece asked to be 8 bars long: 2/8, not 2/2
    score = make_score([(0, False, [(0, Q, 60, 80), (BAR, Q, 60, 80)])])
    assert asked_shares(score, [0]) == {0: 1.0}
    assert asked_shares(score, [0], n_bars=8) == {0: 0.25}


# ---------------------------------------------------------------- groove


def test_steady_rock_beat_is_on_grid_alike_from_bar_to_bar_and_keeps_time() -> None:
    g = groove(drums(rock_beat()))
    assert g is not None
    assert g.hits == 8 * 12
    assert g.on_grid == 1.0
    assert g.core_kit == 1.0
    assert g.gm_keys == 1.0
    assert g.pattern_similarity == 1.0
    assert g.time_keeper == 1.0


def test_random_hits_have_low_pattern_similarity_and_few_core_hits() -> None:
    g = groove(drums(random_hits()))
    assert g is not None
    assert g.pattern_similarity is not None and g.pattern_similarity < 0.1
    assert g.core_kit < 0.5
    assert g.on_grid < 0.8
    assert g.time_keeper < 0.6


def test_hits_between_grid_lines_are_off_grid_and_triplets_are_on() -> None:
    triplets = [(b * BAR + i * Q // 3, 30, 42, 80) for b in range(2) for i in range(12)]
    late = [(b * BAR + i * Q + Q // 8, 30, 42, 80) for b in range(2) for i in range(4)]  # a 32nd late
    assert groove(drums(triplets)).on_grid == 1.0  # type: ignore[union-attr]
    assert groove(drums(late)).on_grid == 0.0  # type: ignore[union-attr]


def test_a_slightly_early_hit_is_the_next_downbeat_and_kit_pieces_merge() -> None:
    exact = rock_beat(4)
    # humanised: hits 10 ticks early, snare 38 played as rimshot 40, hat 42 as pedal 44
    human = [(max(t - 10, 0), d, {38: 40, 42: 44}.get(p, p), v) for t, d, p, v in exact]
    assert groove(drums(human)).pattern_similarity == 1.0  # type: ignore[union-attr]


def test_two_bar_pattern_matches_at_lag_two() -> None:
    a, b = {(0, "kick"), (4, "snare")}, {(0, "kick"), (8, "kick")}
    # bar 2 has only bar 1 before it (Jaccard 1/3); bars 3..6 repeat at lag 2
    assert pattern_similarity([a, b, a, b, a, b]) == pytest.approx((1 / 3 + 4) / 5)
    assert pattern_similarity([a, a, a]) == 1.0
    assert pattern_similarity([a, set(), a]) == 1.0  # an empty bar is skipped, lag 2 still counts
    assert pattern_similarity([a]) is None


def test_ride_counts_as_time_keeper_but_crash_alone_does_not() -> None:
    ride = [(i * Q, 60, 51, 80) for i in range(8)]  # 2 bars of quarter-note ride
    crash = [(i * Q, 60, 49, 80) for i in range(8)]
    assert groove(drums(ride)).time_keeper == 1.0  # type: ignore[union-attr]
    assert groove(drums(crash)).time_keeper == 0.0  # type: ignore[union-attr]


def test_no_drums_no_groove_and_off_map_keys_count() -> None:
    assert groove(make_score([(0, False, [(0, Q, 60, 80)])])) is None
    g = groove(drums([(0, 60, 22, 80), (Q, 60, 36, 80)]))  # a Roland-only key
    assert g is not None and g.gm_keys == 0.5 and g.core_kit == 0.5


# ---------------------------------------------------------------- form


def test_repeated_two_bar_riff_repeats_from_bar_three() -> None:
    f = form(make_score([(33, False, riff(8))]))
    assert f.repeat == pytest.approx(6 / 8)
    assert f.near_repeat == pytest.approx(6 / 8)
    assert f.track_repeat == {0: pytest.approx(6 / 8)}


def test_a_played_repeat_with_timing_jitter_still_repeats() -> None:
    rng = np.random.default_rng(2)
    played = [(max(t + int(rng.integers(-25, 26)), 0), d, p, v) for t, d, p, v in riff(8)]
    assert form(make_score([(33, False, played)])).repeat == pytest.approx(6 / 8)


def test_random_melody_does_not_repeat() -> None:
    rng = np.random.default_rng(1)
    notes = [(i * Q // 2, Q // 2, int(p), 80) for i, p in enumerate(rng.integers(48, 84, 64))]
    f = form(make_score([(0, False, notes)]))
    assert f.repeat == 0.0
    assert f.near_repeat == 0.0


def test_one_changed_note_is_a_near_repeat_not_a_repeat() -> None:
    bar = [(i * Q // 2, Q // 2, 60 + i, 80) for i in range(8)]
    changed = [(t + BAR, d, p if i != 3 else 70, v) for i, (t, d, p, v) in enumerate(bar)]
    f = form(make_score([(0, False, bar + changed)]))
    assert f.repeat == 0.0  # Jaccard 7/9
    assert f.near_repeat == 0.5


def test_self_similarity_of_a_riff_has_period_two() -> None:
    m = self_similarity(make_score([(33, False, riff(8))]))
    assert m.shape == (8, 8)
    assert np.allclose(np.diag(m), 1.0)
    assert m[0, 2] == 1.0 and m[1, 7] == 1.0
    assert m[0, 1] < 0.5


def test_self_similarity_png_is_an_image(tmp_path) -> None:  # type: ignore[no-untyped-def]
    png = draw_self_similarity(np.eye(8), tmp_path / "ssm.png", title="riff")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "ssm.png").read_bytes() == png
    with pytest.raises(InputError, match="not square"):
        draw_self_similarity(np.zeros((2, 3)))


# ---------------------------------------------------------------- harmony


def test_c_major_triads_in_c_major_are_in_scale_and_fit() -> None:
    triads = [(b * BAR, BAR, p, 70) for b in range(4) for p in (48, 52, 55)]
    h = harmony(make_score([(0, False, triads)]), "C major")
    assert h.chords == ("C",) * 4
    assert h.out_of_scale == 0.0
    assert h.chord_fit == 1.0
    assert h.chord_change == 0.0


def test_out_of_key_chords_and_changes() -> None:
    progression = [(60, 64, 67), (61, 65, 68), (60, 64, 67), (62, 66, 69)]  # C, Db, C, D
    notes = [(b * BAR, BAR, p, 70) for b, chord in enumerate(progression) for p in chord]
    h = harmony(make_score([(0, False, notes)]), "C major")
    assert h.chords == ("C", "C#", "C", "D")
    assert h.chord_change == 1.0
    assert h.chord_fit == 0.5
    assert h.out_of_scale == pytest.approx(3 / 12)  # C# and G# of C#, F# of D


def test_majmin_reduces_sevenths_and_leaves_out_dim_aug_sus() -> None:
    names = ("C", "Am7", "C7", "Fmaj7", "Bb6", "a#min7")
    assert [majmin(c) for c in names] == ["C", "Am", "C", "F", "Bb", "Bbm"]
    assert [majmin(c) for c in ("Bdim", "Caug", "Dsus4", "Esus2")] == [None] * 4


def test_chord_agreement_scores_bars_against_the_asked_chords() -> None:
    # bar 1 C E G, bar 2 A C E, bar 3 drums only, bar 4 G B D, bar 5 A and E only (A or Am)
    pitched = [(0, BAR, p, 70) for p in (60, 64, 67)] + [(BAR, BAR, p, 70) for p in (45, 60, 64)]
    pitched += [(3 * BAR, BAR, p, 70) for p in (55, 59, 62)] + [(4 * BAR, BAR, p, 70) for p in (57, 64)]
    score = make_score([(0, False, pitched), (0, True, [(2 * BAR, 60, 36, 90)])])
    chroma, _ = bar_chroma(score, bar_lines(score, 5))
    assert chord_agreement(chroma, ["Cmaj7", "Am", "F", "G7", "Am7"]) == 1.0  # drum bar left out
    assert chord_agreement(chroma, ["C", "F", "C", "Em", "A"]) == pytest.approx(2 / 4)  # A fits bar 5 too
    assert chord_agreement(chroma, ["C", "C", None, "C", "C"]) == pytest.approx(1 / 4)
    assert chord_agreement(chroma, ["Bdim", "Csus4", None, "Gaug", "Eaug"]) is None
    assert chord_agreement(chroma, ["C"]) == 1.0  # fewer asked chords than bars: the rest is left out


def test_minor_scale_is_the_samplers_with_the_raised_seventh() -> None:
    # the sampler's key preference (generation.key_bias) and these metrics read theory.SCALES
    a_minor_notes = [(b * BAR + i * Q, Q, p, 70) for b in range(2) for i, p in enumerate((67, 68, 69, 71))]
    h = harmony(make_score([(0, False, a_minor_notes)]), "A minor")
    assert h.out_of_scale == 0.0  # G and G# both belong to A minor
    e_major = [(b * BAR, BAR, p, 70) for b in range(2) for p in (52, 56, 59)]  # V of A minor
    assert harmony(make_score([(0, False, e_major)]), "A minor").chord_fit == 1.0
    assert harmony(make_score([(0, False, e_major)]), "C major").chord_fit == 0.0


def test_listen_uses_the_asked_key_and_keeps_its_own_estimate() -> None:
    triads = [(b * BAR, BAR, p, 70) for b in range(4) for p in (48, 52, 55)]
    score = make_score([(0, False, triads), (0, True, rock_beat(4))])
    heard = listen(score, Attributes(key="D major", instruments=(0, DRUMS, 40)), n_bars=8)
    assert heard.bars == 8
    assert heard.asked == {0: 0.5, DRUMS: 0.5, 40: 0.0}
    assert heard.harmony.key == "D major" and heard.harmony.out_of_scale == pytest.approx(1 / 3)  # C
    assert heard.own_harmony.out_of_scale == 0.0
    feats = heard.features()
    assert feats["drum_similarity"] == 1.0 and feats["out_of_scale"] == 0.0
    assert np.isnan(listen(make_score([(0, False, triads)])).features()["time_keeper"])


# ---------------------------------------------------------------- realism


def test_overlap_area_of_identical_sets_is_high_and_of_disjoint_sets_zero() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(0.5, 0.1, 60)
    assert overlap_area(ref, ref) > 0.85  # type: ignore[operator]
    assert overlap_area(rng.normal(0.5, 0.1, 60), ref) > 0.8  # type: ignore[operator]
    assert overlap_area(ref + 5.0, ref) < 0.01  # type: ignore[operator]
    assert overlap_area([1.0], ref) is None


def test_kde_overlap_of_constant_samples() -> None:
    assert kde_overlap(np.zeros(10), np.zeros(10)) == pytest.approx(1.0, abs=1e-6)
    assert kde_overlap(np.zeros(10), np.ones(10)) < 0.01


def test_classifier_auc_is_chance_for_one_distribution_and_one_for_two() -> None:
    rng = np.random.default_rng(0)
    same = classifier_auc(rng.normal(size=(40, 3)), rng.normal(size=(40, 3)))
    apart = classifier_auc(rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + 4.0)
    assert same is not None and apart is not None
    assert abs(same[0] - 0.5) < 0.2
    assert apart[0] > 0.95


def test_realism_of_steady_beats_against_random_ones() -> None:
    steady = [listen(drums(rock_beat(8))).features() for _ in range(3)]
    rng = np.random.default_rng(0)
    random = [listen(drums(random_hits(8, int(s)))).features() for s in rng.integers(0, 1000, 6)]
    res = realism(random, steady + steady)
    assert res["oa"]["drum_similarity"] < 0.05
    assert res["auc"] > 0.9
    self = realism(steady, steady)
    assert self["oa"]["drum_similarity"] > 0.9
