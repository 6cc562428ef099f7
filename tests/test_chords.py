"""Chord progressions: parsed from text and flags, and followed bar by bar by the sampler."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.attributes import Attributes
from tunesmith.captions.parse import find_chords, parse, parse_fields
from tunesmith.errors import InputError, PromptError
from tunesmith.generation import SamplingConfig, generate
from tunesmith.theory import bar_starts, chord_name, chord_pitch_classes


def test_chord_spellings():
    assert [chord_name(c) for c in ("a#min7", "Gb", "Dsus", "F#-", "Bo", "CM7")] == \
        ["Bbm7", "F#", "Dsus4", "F#m", "Bdim", "Cmaj7"]
    assert list(np.flatnonzero(chord_pitch_classes("Am7"))) == [0, 4, 7, 9]
    with pytest.raises(InputError, match="not a chord"):
        chord_name("H7")


def test_chords_from_text_and_fields():
    assert parse("pop in B major with a chord progression of B, C#m, and E, at 120 bpm").chords == \
        ("B", "C#m", "E")
    assert find_chords("jazz trio, chords Dm7 G7 Cmaj7 then A7") == ("Dm7", "G7", "Cmaj7", "A7")
    assert parse("a calm piano piece in A minor").chords is None
    assert parse_fields({"chords": "Am F C G"}).chords == ("Am", "F", "C", "G")
    assert parse_fields({"chords": ["Am", "F"]}).chords == ("Am", "F")
    with pytest.raises(PromptError, match="'H' is not a chord"):
        parse_fields({"chords": "Am H"})


def test_sampler_follows_the_chords_bar_by_bar(debug_checkpoint):
    attrs = Attributes(instruments=(0,), bars=4, tempo=100, time_signature="4/4", chords=("C", "F#"))
    piece = generate("", attributes=attrs, seed=1, checkpoint=debug_checkpoint,
                     sampling=SamplingConfig(decoder="numpy", chord_strength=10.0, key_strength=0.0,
                                             key_profile=0.0))[0]
    score, starts = piece.score, bar_starts(piece.score, 5)
    hits = total = 0
    for track in score.tracks:
        for note in track.notes:
            bar = max(i for i, s in enumerate(starts[:4]) if s <= note.time)
            tones = chord_pitch_classes(("C", "F#")[bar % 2])
            hits += int(tones[note.pitch % 12])
            total += 1
    assert total > 0 and hits / total > 0.9  # a random model, pulled onto C then F# triads


def test_a_bass_line_is_pulled_to_the_chord_root_on_top_of_its_tones(debug_checkpoint):
    from tunesmith.generation.generate import chord_bias

    tok = debug_checkpoint.tokenizer
    plain, rooted = chord_bias(tok, ["Am"], 1, 4.0), chord_bias(tok, ["Am"], 1, 4.0, root=3.0)
    for pitch, tone, root in ((57, 4.0, 7.0), (60, 4.0, 4.0), (64, 4.0, 4.0), (62, 0.0, 0.0)):
        i = tok.vocab[f"Pitch_{pitch}"]
        assert (plain[0, i], rooted[0, i]) == (tone, root)


def test_asked_chords_cap_the_key_profile(monkeypatch):
    """Over asked chords the key profile pulls at most CHORD_KEY_PROFILE: at the default 2 its
    tonic-and-dominant pull fought the chords."""
    import importlib

    from tunesmith.generation.sampler import CHORD_KEY_PROFILE, under_chords

    assert under_chords(SamplingConfig()).key_profile == CHORD_KEY_PROFILE < SamplingConfig().key_profile
    assert under_chords(SamplingConfig(key_profile=0.5)).key_profile == 0.5
    gen_mod = importlib.import_module("tunesmith.generation.generate")  # the module, not the function
    seen = []
    real = gen_mod.key_bias
    monkeypatch.setattr(gen_mod, "key_bias", lambda tok, key, strength, profile: seen.append(profile)
                        or real(tok, key, strength, profile))
    for chords in (("C", "G"), None):
        attrs = Attributes(key="C major", bars=2, instruments=(0,), chords=chords)
        generate("", attributes=attrs, seed=1, sampling=SamplingConfig(decoder="numpy"))
    assert seen == [CHORD_KEY_PROFILE, SamplingConfig().key_profile]
