"""Features of hand-made scores and a Bach chorale; captions and their round trip via parse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from tunesmith.attributes import DRUMS, GM_NAMES, MAX_INSTRUMENTS, Attributes
from tunesmith.captions import Features, caption, features, parse
from tunesmith.captions.caption import augment_sentences, sentences
from tunesmith.captions.chords import label, most_common_progression, progression
from tunesmith.captions.lexicon import SPOKEN_NAMES
from tunesmith.errors import InputError
from tunesmith.theory import beat_starts

TPQ = 480
BAR = 4 * TPQ


def make_score(
    chords: list[list[int]],
    ticks_per_chord: int = BAR,
    program: int = 0,
    tempo: float | None = None,
    meter: tuple[int, int] | None = None,
) -> Score:
    """One track holding each chord (a list of MIDI pitches) for `ticks_per_chord`."""
    score = Score(TPQ)
    track = Track(program=program, is_drum=False)
    for i, chord in enumerate(chords):
        for pitch in chord:
            track.notes.append(Note(i * ticks_per_chord, ticks_per_chord, pitch, 80))
    score.tracks.append(track)
    if tempo is not None:
        score.tempos.append(Tempo(0, tempo))
    if meter is not None:
        score.time_signatures.append(TimeSignature(0, *meter))
    return score


def add_drums(score: Score, n: int = 64, length: int = 4 * TPQ, is_drum: bool = True) -> Score:
    drums = Track(program=0, is_drum=is_drum)
    for i in range(n):  # kick / snare / hi-hat: C, D, F# pitch classes
        drums.notes.append(Note(i * TPQ // 2, length, (36, 38, 42)[i % 3], 100))
    score.tracks.append(drums)
    return score


C_MAJOR = [[60], [62], [64], [65], [67], [69], [71], [72],  # scale, then I-IV-V7-I
           [48, 64, 67, 72], [53, 65, 69, 72], [43, 65, 67, 71], [48, 64, 67, 72]]
A_MINOR = [[57], [59], [60], [62], [64], [65], [68], [69],  # harmonic minor, i-iv-V-i
           [45, 60, 64, 69], [50, 62, 65, 69], [52, 59, 64, 68], [45, 60, 64, 69]]
I_IV_V_I = [[48, 64, 67, 72], [53, 65, 69, 72], [55, 62, 67, 71], [48, 64, 67, 72]] * 2


def test_key_of_c_major_scale_and_cadence() -> None:
    assert features(make_score(C_MAJOR, TPQ)).key == "C major"


def test_key_of_a_minor_piece() -> None:
    assert features(make_score(A_MINOR, TPQ)).key == "A minor"


def test_drums_excluded_from_key_but_listed() -> None:
    f = features(add_drums(make_score(A_MINOR, TPQ)))
    assert f.key == "A minor"
    # The same notes on a pitched track would move the key: the exclusion matters.
    assert features(add_drums(make_score(A_MINOR, TPQ), is_drum=False)).key != "A minor"
    assert f.programs == (DRUMS, 0)  # 64 drum notes outnumber the piano's
    assert f.instruments == ("Drums", "Piano")


def test_no_pitched_notes_has_no_key() -> None:
    f = features(add_drums(Score(TPQ)))
    assert f.key is None and f.chords == () and f.programs == (DRUMS,)


def test_bach_chorale_key(tmp_path: Path) -> None:
    music21 = pytest.importorskip("music21")
    path = tmp_path / "bwv66.6.mid"
    music21.corpus.parse("bach/bwv66.6").write("midi", fp=str(path))
    f = features(Score(str(path)))
    assert f.key == "F# minor"
    assert f.time_signature == "4/4"
    assert 0 < f.duration_s < 60 and f.bars >= 8


def test_tempo_and_meter_read_back_from_file(tmp_path: Path) -> None:
    path = tmp_path / "t.mid"
    make_score(C_MAJOR, 3 * TPQ, tempo=93.0, meter=(3, 4)).dump_midi(str(path))
    f = features(Score(str(path)))
    assert f.tempo == pytest.approx(93.0, abs=0.01)
    assert f.tempo_word == "Moderato"
    assert f.time_signature == "3/4"
    assert f.bars == 12  # twelve 3/4 bars, one chord each
    assert f.duration_s == pytest.approx(12 * 3 * 60 / 93, rel=1e-3)
    assert f.note_density == pytest.approx(24 / f.duration_s, rel=1e-3)  # 8 + 16 notes


def test_defaults_without_tempo_or_meter() -> None:
    f = features(make_score(C_MAJOR))
    assert (f.tempo, f.time_signature, f.bars) == (120.0, "4/4", 12)
    assert f.duration_s == pytest.approx(24.0)
    assert f.note_density == pytest.approx(24 / 24.0)  # 8 + 16 notes in 24 s
    assert f.duration_word == "short"


def test_chords_of_i_iv_v_i() -> None:
    assert features(make_score(I_IV_V_I)).chords == ("C", "F", "G")


def test_chord_qualities() -> None:
    def name(pitches: list[int]) -> str | None:
        chroma = np.zeros((1, 12))
        chroma[0, [p % 12 for p in pitches]] = 1.0
        return label(chroma, np.array([min(pitches)]))[0]

    assert name([43, 59, 62, 64]) == "G6"
    assert name([48, 64, 67, 71]) == "Cmaj7"
    assert name([50, 66, 69, 72]) == "D7"
    assert name([45, 60, 64]) == "Am"
    assert name([57, 60, 64, 67]) == "Am7"  # same notes as C6, A in the bass
    assert name([47, 62, 65]) == "Bdim"
    assert name([60]) is None  # a lone note is no chord



def test_chord_beats_follow_the_time_signature_map() -> None:
    """After a 4/4 bar, 6/8 bars have two dotted-quarter beats: C and F alternate per beat."""
    q = 480
    score = Score(q)
    score.time_signatures.extend([TimeSignature(0, 4, 4), TimeSignature(4 * q, 6, 8)])
    track = Track("keys", 0)
    beats = [4 * q, 11 * q // 2, 7 * q, 17 * q // 2]
    assert list(beat_starts(score, end=10 * q)) == [0, q, 2 * q, 3 * q, *beats]
    for start, chord in zip(beats, ([48, 52, 55], [53, 57, 60]) * 2, strict=True):
        track.notes.extend(Note(start, 3 * q // 2, p, 80) for p in chord)
    score.tracks.append(track)
    assert progression(score) == ("C", "F")


def test_most_common_progression() -> None:
    seq = ["Am", "F", "C", "G"] * 3 + ["E"]
    assert most_common_progression(seq) == ("Am", "F", "C", "G")
    assert most_common_progression(["C", "F", "C"]) == ("C", "F")
    assert most_common_progression([]) == ()


def test_labels_validated() -> None:
    s = make_score(C_MAJOR)
    assert features(s, {"genre": "Hip-Hop", "mood": ["film", "happy"]}).genre == "hiphop"
    assert features(s, {"genre": "polka", "mood": "film"}).mood is None
    assert features(s, {"mood": ["film", "happy"]}).mood == "happy"


def test_to_attributes_and_dict() -> None:
    f = features(add_drums(make_score(I_IV_V_I, tempo=500.0), length=TPQ // 4), {"genre": "rock"})
    a = f.to_attributes()
    assert a == Attributes(key="C major", tempo=300.0, time_signature="4/4",
                           instruments=(DRUMS, 0), genre="rock", bars=8, seconds=a.seconds)
    assert a.chords == ("C", "F", "G")
    d = json.loads(json.dumps(f.to_dict()))
    assert d["instruments"] == ["Drums", "Piano"] and d["key"] == "C major"


def test_features_validate() -> None:
    with pytest.raises(InputError, match="H major"):
        Features(key="H major")
    with pytest.raises(InputError, match="polka"):
        Features(genre="polka")


FEATURES = [
    Features(key="G major", tempo=114, programs=(29, 0, 33, DRUMS), chords=("G6", "D6"),
             duration_s=75.3, bars=36, genre="blues", mood="happy"),
    Features(key="C# minor", tempo=93, time_signature="6/8", programs=(87, 99, 48),
             chords=("C#m", "A", "E"), duration_s=20, bars=8, genre="hiphop"),
    Features(key="Bb minor", tempo=40, programs=(42,), duration_s=200, bars=33, mood="sad"),
    Features(key="Eb major", tempo=250, time_signature="3/4", programs=(DRUMS,)),
    Features(key="F# major", tempo=121.6, programs=(97, 96, 3, 66, 32, 119, 52, 11),
             chords=("F#", "C#7", "Bmaj7", "D#m7"), duration_s=30, bars=16, genre="soundtrack"),
]


@pytest.mark.parametrize("f", FEATURES)
def test_caption_states_instruments_key_tempo(f: Features) -> None:
    for seed in range(10):
        text = caption(f, np.random.default_rng(seed)).lower()
        for program, name in zip(f.programs, f.instruments, strict=True):
            spoken = "drums" if program == DRUMS else SPOKEN_NAMES.get(program, name.lower())
            assert spoken in text
        assert f.key is not None and f.key.lower() in text
        assert f"{round(f.tempo)} b" in text
        for word in (f.genre, f.mood, *f.chords):
            assert word is None or word.lower() in text.replace("hip hop", "hiphop")


@pytest.mark.parametrize("f", FEATURES)
def test_caption_round_trip(f: Features) -> None:
    for seed in range(10):
        a = parse(caption(f, np.random.default_rng(seed)))
        assert (a.key, a.tempo, a.instruments) == (f.key, float(round(f.tempo)), f.programs)
        assert (a.genre, a.mood, a.time_signature) == (f.genre, f.mood, f.time_signature)


def test_every_gm_program_round_trips() -> None:
    programs = list(range(len(GM_NAMES))) + [DRUMS]
    for start in range(0, len(programs), MAX_INSTRUMENTS):
        group = tuple(programs[start:start + MAX_INSTRUMENTS])
        f = Features(key="D minor", tempo=100, programs=group)
        assert parse(caption(f, np.random.default_rng(start))).instruments == group


def test_caption_is_deterministic_and_varied() -> None:
    f = FEATURES[0]
    assert caption(f, np.random.default_rng(7)) == caption(f, np.random.default_rng(7))
    texts = {caption(f, np.random.default_rng(seed)) for seed in range(10)}
    assert len(texts) >= 8
    openings = {t.split(".")[0].split()[0] for t in texts}
    assert len(openings) >= 3


def test_caption_never_invents_instruments() -> None:
    f = Features(key="A minor", tempo=80, programs=(73,), duration_s=10, bars=4)
    for seed in range(10):
        assert parse(caption(f, np.random.default_rng(seed))).instruments == (73,)


def test_augmentation_drops_sentences_keeps_one() -> None:
    f = FEATURES[0]
    dropped = 0
    for seed in range(40):
        full = sentences(f, np.random.default_rng(seed))
        text = caption(f, np.random.default_rng(seed), augment=True)
        kept = [s for s in full if s in text]
        assert 1 <= len(kept) <= len(full)
        assert len(text) == len(" ".join(kept))  # only whole sentences, in order
        dropped += len(kept) < len(full)
    assert 8 <= dropped <= 32  # about half the time


def test_augment_sentences_fraction() -> None:
    parts = [f"Sentence {i}." for i in range(10)]
    counts = {len(augment_sentences(parts, np.random.default_rng(s))) for s in range(60)}
    assert counts - {10} and min(counts) >= 5 and max(counts) == 10
    assert augment_sentences(["Only one."], np.random.default_rng(0)) == ["Only one."]
