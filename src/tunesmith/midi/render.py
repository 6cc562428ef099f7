"""Score -> stereo audio through a General MIDI SoundFont, and 16-bit WAV files.

Consumes a symusic Score; produces float32 audio (n, 2) peak-normalised to -1 dBFS (the bench's
band peaks at 1.21 raw). Synth chosen by benchmarks/render.py (TimGM6mb, 44.1 kHz, 2 cores):
TinySoundFont, 71-76 s audio/s, GM kit on drums, per-track programs, stereo, release tails;
symusic 0.6.0's Synthesizer fails on every score; FluidSynth is absent. Hand-written event
loop: TinySoundFont's Sequencer only plays files. Figures in benchmarks/render.py's docstring.
"""

from __future__ import annotations

import io
import math
import stat
import wave
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import symusic

from tunesmith.errors import ConfigError, InputError
from tunesmith.midi.io import atomic_path

MAX_SECONDS = 20 * 60.0  # refuse longer renders: 20 min of stereo float32 is ~0.4 GB
RELEASE_TAIL = 2.0  # seconds rendered after the last note-off so releases ring out
SILENCE = 1e-4  # ~ -80 dBFS: below this the tail is trimmed
PEAK = 10 ** (-1 / 20)  # normalise to -1 dBFS
SAMPLE_RATES = (8000, 192000)
DRUM_CHANNEL = 9  # GM percussion channel (10 in 1-based numbering)
MELODIC_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)
SYNTHS = ("tinysoundfont", "symusic")

# Event kinds, in the order they apply when they fall on the same sample: a note-off before a
# note-on so that a repeated pitch re-strikes instead of being cut by its predecessor's end.
_CONTROL, _BEND, _OFF, _ON = range(4)


def default_soundfont() -> Path:
    """pretty_midi's bundled TimGM6mb.sf2 (a 6 MB General MIDI set), never downloaded."""
    return Path(str(resources.files("pretty_midi").joinpath("TimGM6mb.sf2")))


def check_soundfont(path: Path | str) -> Path:
    """The path itself if it is a readable SoundFont 2 file (RIFF ... sfbk), else InputError."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):  # a FIFO would block the open below forever
            raise InputError(f"SoundFont {path} is not a regular file: give an .sf2 file")
        with path.open("rb") as f:
            head = f.read(12)
    except OSError as e:
        msg = f"SoundFont {path} cannot be read ({e.strerror}): give an .sf2 file"
        raise InputError(msg) from e
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise InputError(f"{path} is not a SoundFont: expected an .sf2 file (RIFF/sfbk header)")
    return path


def render(
    score: symusic.Score,
    sf2: Path | None = None,
    sample_rate: int = 44100,
    *,
    synth: str = "tinysoundfont",
    normalise: bool = True,
) -> np.ndarray:
    """Render a score to float32 stereo audio (n, 2), peak-normalised to -1 dBFS.

    The audio lasts until the last note-off plus its release (at most RELEASE_TAIL seconds);
    a score with no notes gives an empty (0, 2) array. `normalise=False` keeps the
    synthesizer's own levels (which may exceed 1.0 on dense scores).
    """
    if synth not in SYNTHS:
        raise ConfigError(f"synthesizer {synth!r} is unknown: allowed {', '.join(SYNTHS)}")
    _check_rate(sample_rate)
    sf_path = check_soundfont(sf2) if sf2 is not None else default_soundfont()
    seconds = score.to("second")
    end = max((n.end for t in seconds.tracks for n in t.notes), default=0.0)
    if not math.isfinite(end) or end > MAX_SECONDS:
        raise InputError(f"score lasts {end:.0f} s: rendering is limited to {MAX_SECONDS:.0f} s")
    if end <= 0.0:
        return np.zeros((0, 2), np.float32)
    if synth == "symusic":
        audio = _render_symusic(score, sf_path, sample_rate)
    else:
        audio = _render_tsf(seconds, sf_path, sample_rate, end)
    audio = _trim_tail(audio, int(round(end * sample_rate)))
    return _normalise(audio) if normalise else audio


def _check_rate(sample_rate: int) -> None:
    if not SAMPLE_RATES[0] <= sample_rate <= SAMPLE_RATES[1]:
        raise InputError(f"sample rate {sample_rate} Hz is out of range: allowed {SAMPLE_RATES}")


def _render_symusic(score: symusic.Score, sf_path: Path, sample_rate: int) -> np.ndarray:
    try:
        raw = symusic.Synthesizer(str(sf_path), sample_rate, 0).render(score, stereo=True)
    except (TypeError, RuntimeError) as e:  # symusic 0.6.0 cannot return its buffer
        raise ConfigError(f"synthesizer 'symusic' failed ({e}): use 'tinysoundfont'") from e
    return np.ascontiguousarray(np.asarray(raw, np.float32).T)  # (2, n) -> (n, 2)


def _render_tsf(seconds: symusic.Score, sf_path: Path, sample_rate: int, end: float) -> np.ndarray:
    import tinysoundfont  # imported here so that the rest of the module works without it

    synth = tinysoundfont.Synth(samplerate=sample_rate)
    try:
        sfid = synth.sfload(str(sf_path))
    except RuntimeError as e:
        raise InputError(f"SoundFont {sf_path} cannot be loaded: {e}") from e
    channels = assign_channels(seconds.tracks)
    for track, chan in zip(seconds.tracks, channels, strict=True):
        _select_program(synth, sfid, chan, track.program, track.is_drum)
    out = np.zeros((int((end + RELEASE_TAIL) * sample_rate) + 1, 2), np.float32)  # (n, 2)
    pos = 0
    for at, kind, chan, a, b in _events(seconds, channels, sample_rate):
        if at > pos:
            synth.generate_simple(0, out[pos:at].data)  # fills the slice in place
            pos = at
        _send(synth, kind, chan, a, b)
    synth.generate_simple(0, out[pos:].data)
    return out


def assign_channels(tracks: Sequence[Any]) -> list[int]:
    """One MIDI channel per track: drums on channel 9, the rest one each (shared by program
    when there are more than 15 melodic tracks)."""
    melodic = [t for t in tracks if not t.is_drum]
    if len(melodic) <= len(MELODIC_CHANNELS):
        it = iter(MELODIC_CHANNELS)
        return [DRUM_CHANNEL if t.is_drum else next(it) for t in tracks]
    programs = sorted({t.program for t in melodic})
    if len(programs) > len(MELODIC_CHANNELS):
        raise InputError(
            f"score has {len(programs)} different melodic programs: at most "
            f"{len(MELODIC_CHANNELS)} can sound at once on 16 MIDI channels"
        )
    by_program = dict(zip(programs, MELODIC_CHANNELS, strict=False))
    return [DRUM_CHANNEL if t.is_drum else by_program[t.program] for t in tracks]


def _select_program(synth: Any, sfid: int, chan: int, program: int, is_drum: bool) -> None:
    bank = 128 if is_drum else 0  # SF2 keeps drum kits in bank 128
    try:
        synth.program_select(chan, sfid, bank, program, is_drum)
    except RuntimeError:  # kit or program missing from this SoundFont: use its first one
        synth.program_select(chan, sfid, bank, 0, is_drum)


def _events(
    seconds: symusic.Score, channels: list[int], sample_rate: int
) -> Iterator[tuple[int, int, int, int, int]]:
    """(sample, kind, channel, a, b) for every note, control change and pitch bend, in order."""
    events: list[tuple[int, int, int, int, int]] = []
    for track, chan in zip(seconds.tracks, channels, strict=True):
        for n in track.notes:
            events.append((round(n.time * sample_rate), _ON, chan, n.pitch, n.velocity))
            events.append((round(n.end * sample_rate), _OFF, chan, n.pitch, 0))
        for c in track.controls:
            events.append((round(c.time * sample_rate), _CONTROL, chan, c.number, c.value))
        for p in track.pitch_bends:
            events.append((round(p.time * sample_rate), _BEND, chan, p.value + 8192, 0))
    events.sort()
    return iter(events)


def _send(synth: Any, kind: int, chan: int, a: int, b: int) -> None:
    if kind == _ON:
        synth.noteon(chan, a, max(1, b))  # velocity 0 would mean note-off
    elif kind == _OFF:
        synth.noteoff(chan, a)
    elif kind == _CONTROL:
        synth.control_change(chan, a, b)
    else:
        synth.pitchbend(chan, min(max(a, 0), 16383))


def _trim_tail(audio: np.ndarray, last_off: int) -> np.ndarray:
    """Cut the silence after the last audible sample, but never before the last note-off."""
    tail = audio[last_off:]  # only the release tail can be trimmed: look at it alone
    loud = np.flatnonzero(np.abs(tail).max(axis=1) > SILENCE) if len(tail) else tail[:0, 0]
    stop = last_off + (int(loud[-1]) + 1 if loud.size else 0)
    return audio[: min(stop, len(audio))]


def _normalise(audio: np.ndarray) -> np.ndarray:
    """Scale to PEAK in place (a 20-minute render is 0.4 GB: no second copy)."""
    audio = audio.astype(np.float32, copy=False)
    peak = max(float(audio.max()), -float(audio.min())) if audio.size else 0.0
    if peak > 0.0:
        audio *= np.float32(PEAK / peak)
    return audio


PCM_CHUNK = 1 << 18  # frames converted at a time: a 20-minute render needs no second copy


def _frames(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio, np.float32)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or not 1 <= a.shape[1] <= 8:
        raise InputError(f"audio shape {a.shape} is not (frames,) or (frames, channels)")
    return a


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """float audio in [-1, 1], shape (n,) or (n, c) -> int16 of shape (n, c); clips beyond."""
    a = _frames(audio)
    if not np.isfinite(a).all():
        raise InputError("audio holds NaN or infinite samples: cannot write them as PCM")
    return np.round(np.clip(a, -1.0, 1.0) * 32767.0).astype("<i2")


def write_wav(audio: np.ndarray, path: Path | str, sample_rate: int = 44100) -> Path:
    """Write float audio as a 16-bit PCM WAV file, atomically (never a partial file)."""
    a = _frames(audio)
    _check_rate(sample_rate)
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        _write_pcm(f, a, sample_rate)
    return path


def wav_bytes(audio: np.ndarray, sample_rate: int = 44100) -> bytes:
    """The 16-bit PCM WAV file of `audio`, in memory (for the HTTP server)."""
    a = _frames(audio)
    _check_rate(sample_rate)
    buf = io.BytesIO()
    _write_pcm(buf, a, sample_rate)
    return buf.getvalue()


def _write_pcm(f: BinaryIO, audio: np.ndarray, sample_rate: int) -> None:
    """(n, c) float frames -> 16-bit PCM, converted chunk by chunk (bounded extra memory)."""
    with wave.open(f, "wb") as w:
        w.setnchannels(audio.shape[1])
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        for i in range(0, max(len(audio), 1), PCM_CHUNK):
            w.writeframes(to_pcm16(audio[i : i + PCM_CHUNK]).tobytes())
