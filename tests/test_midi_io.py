from __future__ import annotations

from pathlib import Path

import mido
import pytest
from symusic import Score, Tempo

from tunesmith.errors import InputError, MidiError
from tunesmith.midi import load_score, save_midi


def test_save_writes_type1_named_tracks_drums_on_channel_10(band_score: Score, tmp_path: Path) -> None:
    path = save_midi(band_score, tmp_path / "band.mid")
    mid = mido.MidiFile(path)
    assert mid.type == 1
    names = [m.name for tr in mid.tracks for m in tr if m.type == "track_name"]
    assert {"Piano", "Electric Bass", "Drums"} <= set(names)
    channels = {m.channel for tr in mid.tracks for m in tr if m.type == "note_on"}
    assert 9 in channels  # channel 10, 1-based
    tempos = [m.tempo for tr in mid.tracks for m in tr if m.type == "set_tempo"]
    assert tempos and abs(mido.tempo2bpm(tempos[0]) - 96.0) < 0.01
    sigs = [(m.numerator, m.denominator) for tr in mid.tracks for m in tr if m.type == "time_signature"]
    assert sigs == [(4, 4)]
    velocities = {m.velocity for tr in mid.tracks for m in tr if m.type == "note_on" and m.velocity}
    assert len(velocities) == 3  # velocities kept, not flattened


def test_load_round_trip_keeps_notes(band_score: Score, tmp_path: Path) -> None:
    path = save_midi(band_score, tmp_path / "band.mid")
    back = load_score(path)
    assert back.note_num() == band_score.note_num()
    assert load_score(path.read_bytes()).note_num() == band_score.note_num()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"RIFF0000WAVEfmt ", "not a MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x01\x00\x90", "corrupt or truncated"),
    ],
)
def test_bad_files_get_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(MidiError, match=message) as info:
        load_score(path)
    assert "\n" not in str(info.value) and "bad.mid" in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(MidiError, match="no such file"):
        load_score(tmp_path / "nope.mid")
    with pytest.raises(MidiError, match="is a folder"):
        load_score(tmp_path)


def test_no_notes_and_bad_tempo(band_score: Score, tmp_path: Path) -> None:
    empty = Score(480)
    empty.dump_midi(str(tmp_path / "empty.mid"))
    with pytest.raises(MidiError, match="no notes"):
        load_score(tmp_path / "empty.mid")
    for qpm in (10_000.0, 2.0):
        fast = band_score.copy()
        fast.tempos[0] = Tempo(0, qpm)
        fast.dump_midi(str(tmp_path / "fast.mid"))
        with pytest.raises(MidiError, match="out of range"):
            load_score(tmp_path / "fast.mid")


def test_thousands_of_tracks_rejected(band_score: Score, tmp_path: Path) -> None:
    many = band_score.copy()
    for _ in range(300):
        many.tracks.append(band_score.tracks[0].copy())
    many.dump_midi(str(tmp_path / "many.mid"))
    with pytest.raises(MidiError, match="allowed at most 256"):
        load_score(tmp_path / "many.mid")


def test_atomic_save_leaves_nothing_on_failure(
    band_score: Score, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InputError, match="does not exist"):
        save_midi(band_score, tmp_path / "missing" / "x.mid")
    target = tmp_path / "keep.mid"
    target.write_bytes(b"old")

    class Crashing:
        def dump_midi(self, path: str) -> None:
            Path(path).write_bytes(b"MThd partial")
            raise OSError("disk full")

    monkeypatch.setattr("tunesmith.midi.io.prepare_for_writing", lambda s: Crashing())
    with pytest.raises(OSError):
        save_midi(band_score, target)
    assert target.read_bytes() == b"old"
    assert not list(tmp_path.glob(".*.part"))


def test_cut_keeps_and_shortens_notes_that_ring_past_the_end(band_score: Score) -> None:
    from tunesmith.midi import cut

    q = band_score.ticks_per_quarter
    out = cut(band_score, 0, 4 * q)  # the first bar
    piano = out.tracks[0].notes
    assert len(piano) == 6  # two chords of three notes start in bar 1
    assert max(n.time + n.duration for t in out.tracks for n in t.notes) <= 4 * q
    long = cut(band_score, 0, 3 * q)  # cuts the second chord's half note
    assert sorted({n.duration for n in long.tracks[0].notes}) == [q, 2 * q]


def test_fit_length_cuts_at_the_end_and_marks_silent_last_bars(tmp_path: Path) -> None:
    from conftest import make_score
    from tunesmith.captions import features
    from tunesmith.midi.io import fit_length

    bar = 4 * 480
    short = make_score([(0, False, [(0, bar, 60, 80), (bar, bar // 2, 62, 80)])])  # 2 bars of 4 sound
    out = save_midi(fit_length(short, 4 * bar), tmp_path / "short.mid")
    assert features(Score(str(out))).bars == 4  # a DAW's clip is 4 bars long, as asked
    assert Score(str(out)).note_num() == 2
    ringing = make_score([(0, False, [(0, bar, 60, 80), (bar, 3 * bar, 62, 80)])])
    fitted = fit_length(ringing, 2 * bar)
    assert fitted.end() == 2 * bar and len(fitted.markers) == 0
    assert fitted.tracks[0].notes[1].duration == bar
