"""Tests for tunesmith.midi.render: SoundFont rendering and atomic WAV writing."""

from __future__ import annotations

import importlib
import wave
from pathlib import Path

import numpy as np
import pytest
from symusic import Note, Score, Tempo, Track

from tunesmith.errors import InputError

# the module itself: `tunesmith.midi.render` as an attribute may be the re-exported function
r = importlib.import_module("tunesmith.midi.render")

SR = 22050  # half rate keeps the tests fast; the code path is the same


def score_of(*tracks: tuple[int, bool, list[tuple[int, int, int]]]) -> Score:
    """A 120 bpm score at tpq 480; each track is (program, is_drum, [(time, dur, pitch)])."""
    s = Score(480)
    s.tempos.append(Tempo(0, 120.0))
    for program, is_drum, notes in tracks:
        t = Track(program=program, is_drum=is_drum)
        for time, dur, pitch in notes:
            t.notes.append(Note(time, dur, pitch, 100))
        s.tracks.append(t)
    return s


def rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a)))) if a.size else 0.0


def test_one_piano_note_has_the_note_length_plus_a_release_tail():
    audio = r.render(score_of((0, False, [(0, 480, 60)])), sample_rate=SR)  # 0.5 s at 120 bpm
    assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[1] == 2
    assert 0.5 <= len(audio) / SR <= 0.5 + r.RELEASE_TAIL + 0.01
    assert rms(audio[: SR // 2]) > 0.01
    assert np.abs(audio).max() == pytest.approx(r.PEAK, rel=1e-4)  # normalised, never clips


def test_a_silent_gap_is_silent_and_the_note_after_it_sounds():
    # a staccato note, then three seconds of nothing, then a second note
    audio = r.render(score_of((0, False, [(0, 120, 72), (3840, 480, 72)])), sample_rate=SR)
    assert len(audio) / SR >= 4.5
    assert np.abs(audio[int(2.5 * SR) : int(3.9 * SR)]).max() < 1e-3
    assert rms(audio[int(4.0 * SR) : int(4.4 * SR)]) > 0.01


def test_drum_track_sounds_and_differs_from_the_same_keys_on_a_piano():
    hats = [(i * 240, 120, 42) for i in range(8)]  # closed hi-hat in GM drum map
    drums = r.render(score_of((0, True, hats)), sample_rate=SR, normalise=False)
    piano = r.render(score_of((0, False, hats)), sample_rate=SR, normalise=False)
    assert rms(drums) > 1e-3

    def centroid(a: np.ndarray) -> float:
        mag = np.abs(np.fft.rfft(a.mean(axis=1)))
        return float((mag * np.fft.rfftfreq(len(a), 1 / SR)).sum() / mag.sum())

    # a hi-hat is noise with energy far above F#2 (92 Hz) played on a piano
    assert centroid(drums) > 2 * centroid(piano)


def test_program_is_honoured():
    note = [(0, 960, 67)]
    piano = r.render(score_of((0, False, note)), sample_rate=SR)
    violin = r.render(score_of((40, False, note)), sample_rate=SR)
    n = min(len(piano), len(violin))
    assert not np.allclose(piano[:n], violin[:n], atol=1e-2)


def test_empty_score_renders_to_no_frames():
    assert r.render(score_of(), sample_rate=SR).shape == (0, 2)


def test_too_long_score_is_refused():
    score = score_of((0, False, [(0, 480, 60), (480 * 2 * 60 * 21, 480, 60)]))  # note at 21 min
    with pytest.raises(InputError, match="limited"):
        r.render(score, sample_rate=SR)


def test_missing_or_wrong_soundfont_names_the_path(tmp_path: Path):
    score = score_of((0, False, [(0, 480, 60)]))
    missing = tmp_path / "nope.sf2"
    with pytest.raises(InputError, match="nope.sf2"):
        r.render(score, sf2=missing)
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    with pytest.raises(InputError, match="fake.sf2.*not a SoundFont"):
        r.render(score, sf2=fake)


def test_default_soundfont_is_a_soundfont():
    assert r.check_soundfont(r.default_soundfont()).name == "TimGM6mb.sf2"


def test_wav_reads_back_with_rate_and_frame_count(tmp_path: Path):
    audio = r.render(score_of((0, False, [(0, 480, 60)])), sample_rate=SR)
    out = r.write_wav(audio, tmp_path / "a.wav", SR)
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnframes(), w.getnchannels(), w.getsampwidth()) == (
            SR, len(audio), 2, 2,
        )
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    assert np.abs(pcm / 32767.0 - audio).max() < 1e-4
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]  # no temp file left behind


def test_wav_bytes_equal_the_written_file(tmp_path: Path):
    audio = np.linspace(-1, 1, 100, dtype=np.float32)
    assert r.wav_bytes(audio, 8000) == r.write_wav(audio, tmp_path / "m.wav", 8000).read_bytes()


def test_write_wav_into_a_missing_folder_raises_and_writes_nothing(tmp_path: Path):
    target = tmp_path / "absent" / "a.wav"
    with pytest.raises(InputError, match="absent"):
        r.write_wav(np.zeros((10, 2), np.float32), target, SR)
    assert not target.parent.exists()


def test_failed_write_leaves_neither_partial_file_nor_temp(tmp_path: Path, monkeypatch):
    target = tmp_path / "a.wav"
    target.write_bytes(b"old")

    def crash(f, pcm, sample_rate):
        f.write(b"half a file")
        raise OSError("disk gone")

    monkeypatch.setattr(r, "_write_pcm", crash)
    with pytest.raises(OSError, match="disk gone"):
        r.write_wav(np.zeros((10, 2), np.float32), target, SR)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]


def test_bad_audio_is_refused_before_any_file_exists(tmp_path: Path):
    with pytest.raises(InputError, match="NaN"):
        r.write_wav(np.full((4, 2), np.nan, np.float32), tmp_path / "x.wav", SR)
    assert list(tmp_path.iterdir()) == []


def test_channels_put_drums_on_9_and_share_by_program_beyond_15():
    few = score_of((0, False, []), (0, True, []), (33, False, []))
    assert r.assign_channels(few.tracks) == [0, 9, 1]
    many = score_of(*[(i % 3, False, []) for i in range(20)])
    assert sorted(set(r.assign_channels(many.tracks))) == [0, 1, 2]
    too_many = score_of(*[(i, False, []) for i in range(20)])
    with pytest.raises(InputError, match="20 different"):
        r.assign_channels(too_many.tracks)
