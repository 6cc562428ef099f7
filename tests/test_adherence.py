"""Tests of evaluation.adherence: MidiCaps / text2midi prompt-adherence metrics."""

from __future__ import annotations

import pytest

from tunesmith.attributes import Attributes
from tunesmith.errors import InputError
from tunesmith.evaluation.adherence import (
    ROW_METRICS,
    adherence_row,
    aggregate,
    canonical_chord,
    chord_match,
    instrument_scores,
    key_match,
    key_match_relative,
    length_match,
    tempo_bin_match,
    tempo_bin_tolerant,
    time_signature_match,
)


def test_tempo_bins_use_midicaps_edges():
    assert tempo_bin_match(100, 105)  # both Andante, 90..110
    assert not tempo_bin_match(100, 115)  # Andante vs Moderato
    assert not tempo_bin_match(109, 110)  # an edge starts the next bin
    assert tempo_bin_tolerant(109, 110)
    assert tempo_bin_tolerant(100, 115)
    assert not tempo_bin_tolerant(100, 150)  # Andante vs Allegro: two bins apart


def test_key_match_exact_enharmonic_and_relative():
    assert key_match("C# minor", "Db minor")
    assert key_match("A minor", "a minor")
    assert not key_match("C major", "A minor")
    assert key_match_relative("C major", "A minor")
    assert key_match_relative("A minor", "C major")
    assert key_match_relative("Eb major", "C minor")
    assert not key_match_relative("C major", "E minor")
    assert not key_match_relative("C major", "C minor")  # parallel is not relative
    with pytest.raises(InputError, match="C dorian"):
        key_match("C dorian", "C major")


def test_time_signature_match():
    assert time_signature_match("4/4", " 4/4")
    assert not time_signature_match("6/8", "3/4")
    with pytest.raises(InputError, match="four"):
        time_signature_match("four", "4/4")


def test_instrument_scores_exact_and_by_family():
    # exact: {0} shared of 3 and 3 -> 1/3 each; families piano, strings shared; drums vs bass not
    s = instrument_scores([0, 40, 128], [0, 41, 33])
    assert s["precision"] == pytest.approx(1 / 3)
    assert s["recall"] == pytest.approx(1 / 3)
    assert s["f1"] == pytest.approx(1 / 3)
    assert s["family_precision"] == pytest.approx(2 / 3)
    assert s["family_recall"] == pytest.approx(2 / 3)


def test_instrument_scores_drums_are_their_own_family_and_empty_sets():
    s = instrument_scores([128], [118])  # drum kit vs Synth Drum (percussive family)
    assert s["family_f1"] == 0.0
    s = instrument_scores([0, 1], [])
    assert s["precision"] == 0.0 and s["recall"] == 0.0 and s["f1"] == 0.0
    s = instrument_scores([0, 0, 1], [1])  # duplicates count once
    assert s["precision"] == 1.0 and s["recall"] == 0.5
    assert s["f1"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)


def test_chord_names_are_parsed_to_root_and_quality():
    assert canonical_chord("C") == canonical_chord("C:maj") == canonical_chord("CM") == (0, "maj")
    assert canonical_chord("Dbm") == canonical_chord("C#min") == (1, "min")
    assert canonical_chord("G7/B") == (7, "7")
    assert canonical_chord("Bbmaj7") == canonical_chord("A#M7") == (10, "maj7")
    assert canonical_chord("Cm7") != canonical_chord("CM7")
    with pytest.raises(InputError, match="H7"):
        canonical_chord("H7")


def test_chord_match_share_of_distinct_target_chords():
    assert chord_match(["C", "Am", "F", "G"], ["C", "A:min", "F", "G7"]) == pytest.approx(3 / 4)
    assert chord_match(["C#m", "C#m"], ["Dbmin"]) == 1.0
    assert chord_match(["C", "G"], []) == 0.0
    assert chord_match([], ["C"]) == 1.0


def test_length_match_relative_tolerance():
    assert length_match(100, 119)
    assert length_match(100, 80)
    assert not length_match(100, 121)
    assert length_match(100, 105, tol=0.05)
    assert not length_match(100, 106, tol=0.05)
    with pytest.raises(InputError, match="0"):
        length_match(0, 10)


def test_adherence_row_scores_set_fields_and_leaves_others_none():
    target = Attributes(key="C major", tempo=120, instruments=(0,), chords=("C", "G"))
    detected = Attributes(key="A minor", tempo=118, instruments=(0, 25), chords=("C", "Em"))
    row = adherence_row(target, detected)
    assert set(row) == set(ROW_METRICS)
    assert row["tempo_bin"] is True and row["tempo_bin_tolerant"] is True
    assert row["key"] is False and row["key_relative"] is True
    assert row["instrument_precision"] == 0.5 and row["instrument_recall"] == 1.0
    assert row["family_precision"] == 0.5  # piano and guitar detected, piano asked
    assert row["chords"] == 0.5
    for unset in ("time_signature", "length", "bars"):
        assert row[unset] is None


def test_adherence_row_counts_an_undetected_field_as_a_miss():
    target = Attributes(key="C major", time_signature="3/4", seconds=30, bars=16)
    row = adherence_row(target, Attributes(seconds=33, bars=20))
    assert row["key"] is False and row["key_relative"] is False
    assert row["time_signature"] is False
    assert row["length"] is True  # 33 s is within 20 % of 30 s
    assert row["bars"] is False  # 20 bars is 25 % over 16
    assert row["tempo_bin"] is None and row["instrument_f1"] is None


def test_aggregate_means_over_defined_rows_with_counts():
    rows = [
        {"tempo_bin": True, "key": None, "instrument_f1": 0.5},
        {"tempo_bin": False, "key": True, "instrument_f1": 1.0},
        {"tempo_bin": True, "key": False, "instrument_f1": None},
    ]
    agg = aggregate(rows)
    assert agg["tempo_bin"] == {"mean": pytest.approx(2 / 3), "n": 3}
    assert agg["key"] == {"mean": 0.5, "n": 2}
    assert agg["instrument_f1"] == {"mean": 0.75, "n": 2}
    assert agg["chords"] == {"mean": None, "n": 0}
    assert aggregate([])["tempo_bin"] == {"mean": None, "n": 0}


def test_recall_by_origin_pools_and_splits() -> None:
    from tunesmith.evaluation.adherence import recall_by_origin

    pairs = [((0, 40, 71), (0, 71)), ((128, 46), (128,)), ((73,), ())]
    # native asked: 0, 40, 128, 73 -> found 0, 128 = 2/4; re-voiced asked: 71, 46 -> found 71 = 1/2
    assert recall_by_origin(pairs, (0, 40, 73, 128)) == {
        "instrument_recall_native": 0.5, "instrument_recall_revoiced": 0.5}
    assert recall_by_origin([((0,), (0,))], (0,))["instrument_recall_revoiced"] is None
