"""Music features of a score, the facts a MidiCaps caption is written from.

Consumes a symusic Score (plus optional genre/mood labels) and produces `Features`:
key (Krumhansl-Schmuckler), tempo, time signature, instruments, chord progression,
length. Follows the feature set of MidiCaps (Melechovsky et al., ISMIR 2024 LBD).
Key finding is hand-written (20 lines of numpy) because music21's is too slow per file.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from symusic import Score

from tunesmith import attributes as A
from tunesmith.captions.chords import progression
from tunesmith.errors import InputError
from tunesmith.theory import KEY_PROFILES, bar_starts

# Length words: MidiCaps has no fixed bins, so these follow its corpus (most pieces run
# 30 s to 3 min): below 15 s "very short", 15-30 "short", 30-90 "moderate", 90-180
# "long", 180 s and more "very long".
DURATION_EDGES = (15.0, 30.0, 90.0, 180.0)
DURATION_WORDS = ("very short", "short", "moderate", "long", "very long")
DEFAULT_TEMPO = 120.0
DEFAULT_TIME_SIGNATURE = "4/4"


def duration_word(seconds: float) -> str:
    return DURATION_WORDS[bisect.bisect_right(DURATION_EDGES, seconds)]


@dataclass(frozen=True)
class Features:
    """What a score has. `tempo_word`, `instruments` and `duration_word` are derived."""

    key: str | None = None
    tempo: float = DEFAULT_TEMPO
    time_signature: str = DEFAULT_TIME_SIGNATURE
    programs: tuple[int, ...] = ()
    chords: tuple[str, ...] = ()
    duration_s: float = 0.0
    bars: int = 0
    note_density: float = 0.0
    genre: str | None = None
    mood: str | None = None
    tempo_word: str = field(init=False)
    instruments: tuple[str, ...] = field(init=False)
    duration_word: str = field(init=False)

    def __post_init__(self) -> None:
        if self.key is not None and self.key not in A.KEYS:
            raise InputError(f"key {self.key!r} is unknown: allowed e.g. 'C major', 'F# minor'")
        if not self.tempo > 0:
            raise InputError(f"tempo {self.tempo!r} is not positive")
        if not _is_time_signature(self.time_signature):
            raise InputError(f"time signature {self.time_signature!r} is not of the form 'N/D'")
        if self.genre is not None and self.genre not in A.GENRES:
            raise InputError(f"genre {self.genre!r} is unknown: allowed {', '.join(A.GENRES)}")
        if self.mood is not None and self.mood not in A.MOODS:
            raise InputError(f"mood {self.mood!r} is unknown: allowed {', '.join(A.MOODS)}")
        if self.duration_s < 0 or self.bars < 0 or self.note_density < 0:
            raise InputError("duration_s, bars and note_density must be >= 0")
        object.__setattr__(self, "programs", tuple(self.programs))
        object.__setattr__(self, "chords", tuple(self.chords))
        object.__setattr__(self, "tempo_word", A.tempo_word(self.tempo))
        names = tuple(A.instrument_name(p) for p in self.programs)  # validates 0..128
        object.__setattr__(self, "instruments", names)
        object.__setattr__(self, "duration_word", duration_word(self.duration_s))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples become lists)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def to_attributes(self) -> A.Attributes:
        """The explicit targets this score satisfies, clamped to what a prompt may ask.

        Values outside the prompt ranges are clamped (a 500-bar piece becomes MAX_BARS)
        and only the MAX_INSTRUMENTS busiest instruments are kept, so that every score
        can be used as a conditioning example.
        """
        lo, hi = A.TEMPO_RANGE
        meter = self.time_signature if self.time_signature in A.TIME_SIGNATURES else None
        seconds = min(max(self.duration_s, 1.0), 600.0) if self.duration_s > 0 else None
        return A.Attributes(
            key=self.key,
            tempo=round(min(max(self.tempo, lo), hi), 2),
            time_signature=meter,
            instruments=self.programs[: A.MAX_INSTRUMENTS] or None,
            genre=self.genre,
            mood=self.mood,
            bars=min(self.bars, A.MAX_BARS) if self.bars > 0 else None,
            seconds=round(seconds, 2) if seconds is not None else None,
            chords=self.chords or None,
        )


def _is_time_signature(s: str) -> bool:
    num, _, den = s.partition("/")
    return num.isdigit() and den.isdigit() and int(num) > 0 and int(den) > 0


def features(score: Score, labels: Mapping[str, Any] | None = None) -> Features:
    """Extract the MidiCaps features of a score; genre and mood come from `labels`."""
    if str(score.ttype).rsplit(".", 1)[-1].lower() != "tick":
        score = score.to("tick")
    labels = labels or {}
    duration = float(score.to("second").end()) if score.end() > 0 else 0.0
    n_notes = sum(len(t.notes) for t in score.tracks)
    return Features(
        key=estimate_key(score),
        tempo=round(float(score.tempos[0].qpm), 2) if len(score.tempos) else DEFAULT_TEMPO,
        time_signature=time_signature(score),
        programs=programs(score),
        chords=progression(score),
        duration_s=round(duration, 3),
        bars=count_bars(score),
        note_density=round(n_notes / duration, 3) if duration > 0 else 0.0,
        genre=_label(labels.get("genre"), A.GENRES),
        mood=_label(labels.get("mood"), A.MOODS),
    )


def pitch_class_histogram(score: Score) -> np.ndarray:
    """Total duration (ticks) of each pitch class over pitched tracks; drums excluded."""
    hist = np.zeros(12)
    for track in score.tracks:
        if track.is_drum or len(track.notes) == 0:
            continue
        arr = track.notes.numpy()
        np.add.at(hist, arr["pitch"].astype(np.int64) % 12, arr["duration"].astype(np.float64))
    return hist


def key_correlations(score: Score) -> np.ndarray | None:
    """(24,) correlation of the duration-weighted pitch-class histogram with every key's
    profile, in KEYS order. None without pitched notes or when every pitch class is equal."""
    hist = pitch_class_histogram(score)
    if hist.sum() <= 0 or hist.std() == 0:
        return None
    return np.array([np.corrcoef(hist, p)[0, 1] for p in KEY_PROFILES])


def estimate_key(score: Score) -> str | None:
    """Krumhansl-Schmuckler key: the key whose rotated profile best correlates with the
    duration-weighted pitch-class histogram (the first on ties). None without pitched notes."""
    r = key_correlations(score)
    return None if r is None else A.KEYS[int(np.argmax(r))]


def time_signature(score: Score) -> str:
    if not len(score.time_signatures):
        return DEFAULT_TIME_SIGNATURE
    ts = score.time_signatures[0]
    return f"{ts.numerator}/{ts.denominator}"


def count_bars(score: Score) -> int:
    """Bars up to the score's end, on its bar grid (theory.bar_starts)."""
    return len(bar_starts(score)) if score.end() > 0 else 0


def programs(score: Score) -> tuple[int, ...]:
    """GM programs present (DRUMS for drum tracks), busiest first, ties by number."""
    counts: dict[int, int] = {}
    for track in score.tracks:
        if len(track.notes) == 0:
            continue
        p = A.DRUMS if track.is_drum else int(track.program)
        counts[p] = counts.get(p, 0) + len(track.notes)
    return tuple(sorted(counts, key=lambda p: (-counts[p], p)))


def _label(value: Any, allowed: Sequence[str]) -> str | None:
    """First label of a str or list of str that is in `allowed` (spaces/hyphens ignored)."""
    values = [value] if isinstance(value, str) else list(value or [])
    for v in values:
        if isinstance(v, str):
            norm = v.strip().lower().replace(" ", "").replace("-", "")
            if norm in allowed:
                return norm
    return None
