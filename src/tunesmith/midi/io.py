"""Read and write MIDI files with symusic, validating what comes in and what goes out.

Consumes paths or bytes, produces symusic Scores; writes type-1 MIDI files atomically with
one named track per instrument, its GM program, drums on channel 10, and a real tempo map
and time signature, so the file lines up on a DAW's bar grid.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from symusic import Score, Tempo, TimeSignature

from tunesmith.attributes import INSTRUMENT_NAMES
from tunesmith.errors import InputError, MidiError

MAX_TRACKS = 256
TEMPO_LIMITS = (10.0, 1000.0)  # bpm; beyond these a tempo event is a corrupt file, not music
MAX_FILE_BYTES = 64 * 1024 * 1024
WRITE_TPQ = 480


def load_score(src: str | Path | bytes, *, name: str | None = None) -> Score:
    """Load and validate a MIDI file (path or bytes); raise MidiError naming it on any problem."""
    label = name or (str(src) if not isinstance(src, bytes) else "uploaded MIDI")
    data = src if isinstance(src, bytes) else _read_bytes(Path(src), label)
    if len(data) == 0:
        raise MidiError(f"{label}: the file is empty")
    if not data.startswith(b"MThd"):
        raise MidiError(f"{label}: not a MIDI file (no MThd header)")
    try:
        score = Score.from_midi(data)
    except Exception as exc:  # symusic raises RuntimeError with its parser's message
        raise MidiError(f"{label}: corrupt or truncated MIDI file ({_short(exc)})") from exc
    validate_score(score, label)
    return score


def _read_bytes(path: Path, label: str) -> bytes:
    if not path.exists():
        raise MidiError(f"{label}: no such file")
    if path.is_dir():
        raise MidiError(f"{label}: is a folder, expected a MIDI file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise MidiError(f"{label}: {size} bytes is too large, allowed up to {MAX_FILE_BYTES} bytes")
    return path.read_bytes()


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


def validate_score(score: Score, label: str = "score") -> None:
    """Raise MidiError if a score has no notes, too many tracks or an impossible tempo."""
    if len(score.tracks) > MAX_TRACKS:
        raise MidiError(f"{label}: {len(score.tracks)} tracks, allowed at most {MAX_TRACKS}")
    if score.note_num() == 0:
        raise MidiError(f"{label}: the MIDI file has no notes")
    for tempo in score.tempos:
        qpm = tempo.qpm
        if not math.isfinite(qpm) or not TEMPO_LIMITS[0] <= qpm <= TEMPO_LIMITS[1]:
            raise MidiError(
                f"{label}: tempo {qpm:.6g} bpm at tick {tempo.time} is out of range, "
                f"allowed {TEMPO_LIMITS[0]:g}..{TEMPO_LIMITS[1]:g} bpm"
            )
    for ts in score.time_signatures:
        if ts.numerator <= 0 or ts.denominator <= 0:
            raise MidiError(f"{label}: time signature {ts.numerator}/{ts.denominator} is invalid")


def cut(score: Score, start: int, end: int) -> Score:
    """The notes starting in ticks [start, end), their durations truncated at `end`.
    (symusic's clip drops a note that rings past `end` instead of shortening it.)"""
    out = score.clip(start, end, clip_end=False)
    for track in out.tracks:
        for note in track.notes:
            if note.time + note.duration > end:
                note.duration = max(end - note.time, 1)
    return out


def prepare_for_writing(score: Score, default_tempo: float = 120.0) -> Score:
    """A copy ready for a DAW: standard resolution, tempo and time signature at tick 0,
    empty tracks dropped, every track named after its instrument."""
    out = score.copy()
    if out.ticks_per_quarter != WRITE_TPQ:
        out = out.resample(WRITE_TPQ, min_dur=1)
    if len(out.tempos) == 0 or out.tempos[0].time > 0:
        qpm = out.tempos[0].qpm if len(out.tempos) else default_tempo
        out.tempos.insert(0, Tempo(0, qpm))
    if len(out.time_signatures) == 0 or out.time_signatures[0].time > 0:
        out.time_signatures.insert(0, TimeSignature(0, 4, 4))
    empty = [i for i, t in enumerate(out.tracks) if len(t.notes) == 0]
    for i in reversed(empty):
        del out.tracks[i]
    for track in out.tracks:
        if not track.name:
            track.name = "Drums" if track.is_drum else INSTRUMENT_NAMES[track.program]
    return out


def save_midi(score: Score, path: str | Path) -> Path:
    """Write `score` as a type-1 MIDI file, atomically (no partial file on failure)."""
    path = Path(path)
    ready = prepare_for_writing(score)
    with atomic_path(path) as tmp:
        ready.dump_midi(str(tmp))
    return path


def midi_bytes(score: Score) -> bytes:
    """The type-1 MIDI file of `score` as bytes (for HTTP responses)."""
    return bytes(prepare_for_writing(score).dumps_midi())


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; move it into place only if the block succeeds."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{path}: the folder {parent} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes files 0600; give the result the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
