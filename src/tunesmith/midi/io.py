"""Read and write MIDI files with symusic, validating what comes in and what goes out.

Consumes paths or bytes, produces symusic Scores; writes type-1 MIDI files atomically with
one named track per instrument, its GM program, drums on channel 10, and a real tempo map
and time signature, so the file lines up on a DAW's bar grid.
"""

from __future__ import annotations

import math
import os
import stat
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from symusic import Score, Tempo, TextMeta, TimeSignature

from tunesmith.attributes import INSTRUMENT_NAMES
from tunesmith.errors import InputError, MidiError

# What any command may be asked to read. Every later stage (features, piano roll, render,
# tokens) costs at most linear time and memory in these quantities, so checking them on load
# bounds the work a hostile file can cause (a 170-byte file must not cost gigabytes).
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_TRACKS = 256
TPQ_RANGE = (1, 32767)  # ticks per quarter; the header field is 15 bits, 0 divides by zero
MAX_NOTES = 200_000
MAX_EVENTS = 1_000_000  # notes, controls, pitch bends, pedals, tempos, meters, lyrics...
MAX_SECONDS = 3600.0  # one hour of music
MAX_QUARTERS = 50_000  # beats: bounds per-beat arrays (chords) whatever the tempo map says
MAX_BARS = 10_000
MAX_NUMERATOR = 32
DENOMINATORS = (1, 2, 4, 8, 16, 32)
TEMPO_LIMITS = (10.0, 1000.0)  # bpm; beyond these a tempo event is a corrupt file, not music
WRITE_TPQ = 480


def load_score(src: str | Path | bytes, *, name: str | None = None) -> Score:
    """Load and validate a MIDI file (path or bytes); raise MidiError naming it on any problem.

    The one gate every command and the server use: the header is checked before parsing,
    then the parsed score's size, length and meters (`validate_score`), so nothing after
    this point can be asked for unbounded work."""
    label = name or (str(src) if not isinstance(src, bytes) else "uploaded MIDI")
    data = src if isinstance(src, bytes) else read_regular_file(Path(src), label, MAX_FILE_BYTES)
    if len(data) > MAX_FILE_BYTES:
        raise MidiError(f"{label}: {len(data)} bytes is too large, allowed up to {MAX_FILE_BYTES}")
    check_header(data, label)
    try:
        score = Score.from_midi(data)
    except Exception as exc:  # symusic raises RuntimeError with its parser's message
        raise MidiError(f"{label}: corrupt or truncated MIDI file ({_short(exc)})") from exc
    validate_score(score, label)
    return score


def read_regular_file(path: Path, label: str, limit: int, error: type[InputError] = MidiError) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; a FIFO, device or folder is
    refused before it is opened (reading a FIFO would wait forever)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"{label}: no such file") from None
    except OSError as e:
        raise error(f"{label}: cannot be read ({e.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{label}: is a folder, expected a file")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{label}: is not a regular file (a pipe or a device): give a file")
    if info.st_size > limit:
        raise error(f"{label}: {info.st_size} bytes is too large, allowed up to {limit} bytes")
    try:
        return path.read_bytes()
    except OSError as e:
        raise error(f"{label}: cannot be read ({e.strerror})") from None


def check_header(data: bytes, label: str) -> None:
    """The MThd chunk: present, with a sane track count and ticks per quarter (not SMPTE)."""
    if len(data) == 0:
        raise MidiError(f"{label}: the file is empty")
    if not data.startswith(b"MThd"):
        raise MidiError(f"{label}: not a MIDI file (no MThd header)")
    if len(data) < 14:
        raise MidiError(f"{label}: corrupt or truncated MIDI file (header of {len(data)} bytes, "
                        "expected 14)")
    length, fmt, ntrks, division = struct.unpack(">IHHH", data[4:14])
    if length < 6:
        raise MidiError(f"{label}: MIDI header length {length} is invalid, expected 6")
    if fmt > 2:
        raise MidiError(f"{label}: MIDI format {fmt} is unknown, allowed 0, 1 or 2")
    if ntrks > MAX_TRACKS:
        raise MidiError(f"{label}: header declares {ntrks} tracks, allowed at most {MAX_TRACKS}")
    if division & 0x8000:
        raise MidiError(f"{label}: SMPTE time division is not supported, only ticks per quarter")
    if not TPQ_RANGE[0] <= division <= TPQ_RANGE[1]:
        raise MidiError(f"{label}: {division} ticks per quarter is out of range, "
                        f"allowed {TPQ_RANGE[0]}..{TPQ_RANGE[1]}")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


def validate_score(score: Score, label: str = "score") -> None:
    """Raise MidiError naming the value and the limit if a score is empty or too costly:
    ticks per quarter, tracks, notes, events, tempi, meters, length in seconds, beats, bars."""
    tpq = score.ticks_per_quarter
    if not TPQ_RANGE[0] <= tpq <= TPQ_RANGE[1]:
        raise MidiError(f"{label}: {tpq} ticks per quarter is out of range, "
                        f"allowed {TPQ_RANGE[0]}..{TPQ_RANGE[1]}")
    _check_counts(score, label)
    _check_tempi(score, label)
    _check_meters(score, label)
    _check_length(score, label)


def _limit(label: str, what: str, value: float, limit: float) -> None:
    if value > limit:
        raise MidiError(f"{label}: {value:,.0f} {what}, allowed at most {limit:,.0f}")


def _check_counts(score: Score, label: str) -> None:
    _limit(label, "tracks", len(score.tracks), MAX_TRACKS)
    notes = score.note_num()
    if notes == 0:
        raise MidiError(f"{label}: the MIDI file has no notes")
    _limit(label, "notes", notes, MAX_NOTES)
    meta = (len(score.tempos) + len(score.time_signatures) + len(score.key_signatures)
            + len(score.markers))
    events = notes + meta + sum(len(t.controls) + len(t.pitch_bends) + len(t.pedals)
                                + len(t.lyrics) for t in score.tracks)
    _limit(label, "events", events, MAX_EVENTS)


def _check_tempi(score: Score, label: str) -> None:
    for tempo in score.tempos:
        qpm = tempo.qpm
        if not math.isfinite(qpm) or not TEMPO_LIMITS[0] <= qpm <= TEMPO_LIMITS[1]:
            raise MidiError(
                f"{label}: tempo {qpm:.6g} bpm at tick {tempo.time} is out of range, "
                f"allowed {TEMPO_LIMITS[0]:g}..{TEMPO_LIMITS[1]:g} bpm"
            )


def _check_meters(score: Score, label: str) -> None:
    for ts in score.time_signatures:
        if not 1 <= ts.numerator <= MAX_NUMERATOR or ts.denominator not in DENOMINATORS:
            raise MidiError(
                f"{label}: time signature {ts.numerator}/{ts.denominator} at tick {ts.time} is "
                f"out of range, allowed 1..{MAX_NUMERATOR} over "
                f"{'/'.join(map(str, DENOMINATORS))}"
            )
        if ts.numerator * score.ticks_per_quarter * 4 < ts.denominator:
            raise MidiError(
                f"{label}: time signature {ts.numerator}/{ts.denominator} at "
                f"{score.ticks_per_quarter} ticks per quarter makes bars shorter than a tick"
            )


def _check_length(score: Score, label: str) -> None:
    """Event times must not have wrapped around (huge delta times overflow 32 bits), and the
    score must fit in MAX_SECONDS, MAX_QUARTERS and MAX_BARS."""
    if score.start() < 0:
        raise MidiError(f"{label}: event times overflow (a delta time too large): "
                        f"first event at tick {score.start()}")
    end = score.end()
    tpq = score.ticks_per_quarter
    _limit(label, "beats (quarter notes) long", end / tpq, MAX_QUARTERS)
    seconds = seconds_at(score, end)
    if seconds > MAX_SECONDS:
        raise MidiError(f"{label}: lasts {seconds:,.0f} s, allowed at most {MAX_SECONDS:,.0f} s")
    _limit(label, "bars long", bars_at(score, end), MAX_BARS)


def seconds_at(score: Score, tick: int) -> float:
    """Seconds from tick 0 to `tick` through the tempo map (120 bpm before the first tempo)."""
    tpq = score.ticks_per_quarter
    marks = sorted((t.time, t.qpm) for t in score.tempos if t.time < tick)
    if not marks or marks[0][0] > 0:
        marks.insert(0, (0, 120.0))
    total = 0.0
    for (at, qpm), (nxt, _) in zip(marks, [*marks[1:], (tick, 0.0)], strict=True):
        total += (nxt - at) / tpq * 60.0 / qpm
    return total


def bars_at(score: Score, tick: int) -> float:
    """Bars from tick 0 to `tick` through the meter map (4/4 before the first meter); a meter
    starts a new bar where it stands. O(number of meters), not of bars."""
    tpq = score.ticks_per_quarter
    marks = sorted((t.time, t.numerator, t.denominator) for t in score.time_signatures
                   if t.time < tick)
    if not marks or marks[0][0] > 0:
        marks.insert(0, (0, 4, 4))
    total = 0.0
    for (at, num, den), (nxt, _, _) in zip(marks, [*marks[1:], (tick, 0, 0)], strict=True):
        total += math.ceil((nxt - at) / (tpq * 4 * num / max(den, 1)))
    return total


def cut(score: Score, start: int, end: int) -> Score:
    """The notes starting in ticks [start, end), their durations truncated at `end`.
    (symusic's clip drops a note that rings past `end` instead of shortening it.)"""
    out = score.clip(start, end, clip_end=False)
    for track in out.tracks:
        for note in track.notes:
            if note.time + note.duration > end:
                note.duration = max(end - note.time, 1)
    return out


END_MARKER = "end"


def fit_length(score: Score, end: int) -> Score:
    """`score` exactly `end` ticks long: notes ringing past `end` cut there (`cut`), and a
    piece whose last bars are silent given an "end" marker at `end`, so that the file, and a
    DAW's clip or loop of it, is as many bars long as asked."""
    out = cut(score, 0, end) if score.end() > end else score
    if out.end() < end:
        out = out.copy()
        out.markers.append(TextMeta(end, END_MARKER))
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
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes, *, parents: bool = False) -> Path:
    """Write `data` to `path` through a synced temporary file renamed into place: a reader,
    even after a crash, sees the old file or the whole new one. `parents` creates missing
    folders (a build's own layout); without it a missing folder is the caller's mistake."""
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return path


def check_writable(paths: list[Path]) -> None:
    """Before any work: every target can be created (not a folder, its nearest existing
    folder writable). Raises InputError naming the user's path."""
    for path in paths:
        if path.is_dir():
            raise InputError(f"output {path} is a folder: give a file name")
        if path.exists() and not os.access(path, os.W_OK):
            raise InputError(f"output {path} cannot be written (permission denied)")
        folder = path.parent if str(path.parent) else Path(".")
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise InputError(f"output {path}: {folder} is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"output {path}: the folder {folder} cannot be written "
                             "(permission denied)")


def write_files_atomic(files: dict[Path, bytes]) -> list[Path]:
    """Write several files so that they appear all together or not at all: every one goes
    to a temporary file beside its target first, and only when all are written are they
    renamed into place. A failure removes the temporary files and names the user's path."""
    temps: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part",
                                            dir=path.parent)
                temps[path] = Path(name)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.chmod(name, 0o666 & ~_umask())
            except OSError as e:
                raise InputError(f"output {path} cannot be written ({e.strerror or e})") from e
        for path, tmp in temps.items():
            try:
                os.replace(tmp, path)
            except OSError as e:
                raise InputError(f"output {path} cannot be written ({e.strerror or e})") from e
    finally:
        for tmp in temps.values():
            if tmp.exists():
                tmp.unlink()
    return list(files)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
