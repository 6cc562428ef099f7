"""Melody-guided generation with the tiny debug model: the melody survives, moved once."""

from __future__ import annotations

import pytest

from conftest import make_score
from tunesmith.attributes import DRUMS, Attributes
from tunesmith.errors import InputError
from tunesmith.generation import SamplingConfig
from tunesmith.infilling import arrange
from tunesmith.infilling.arrange import fill_order, key_shift, lead_program, melody_track

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
    assert fill_order([40, 33, DRUMS]) == [DRUMS, 33, 40]


def test_key_shift_takes_the_short_way():
    assert key_shift("C major", "A major") == -3
    assert key_shift("C major", "F# major") == -6
    assert key_shift(None, "C major") == 0


def test_melody_track_choice():
    low = [(i * Q, Q, 40, 80) for i in range(8)]
    high = [(i * Q, Q, 76, 80) for i in range(8)]
    score = make_score([(33, False, low), (0, False, high), (0, True, low)])
    assert melody_track(score) == 1
    assert melody_track(score, 1) == 0
    with pytest.raises(InputError, match="not a pitched track"):
        melody_track(score, 3)
