"""Melody phrases: the lead line of a score, cut into phrases of 4-8 bars with their facts.

Consumes symusic Scores (and the corpus they come from); produces `Phrase`s: a monophonic
melody of 4-8 bars starting at tick 0, with key, meter, tempo, genre and where it came from
(source id and bar range). The lead is POP909's MELODY track, Nottingham's first track, a
band song's lead part (`data.roles.track_role`), else the top line of the highest part
(MG2, Ding et al. 2024, indexes melodies the same way). Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from symusic import Score, Tempo, TimeSignature, Track

from tunesmith.captions.features import DEFAULT_TEMPO, estimate_key
from tunesmith.data.roles import MIN_NOTES, track_role
from tunesmith.errors import InputError
from tunesmith.midi.io import cut
from tunesmith.retrieval.clmp import melody as skyline
from tunesmith.theory import bar_starts

MIN_BARS, MAX_BARS = 4, 8
MIN_PHRASE_NOTES = 4  # fewer notes in 4+ bars is a fragment, not a phrase
# Words in a track name that mark the tune (collectors often name the sung line's track)
LEAD_NAMES = ("melody", "vocal", "voice", "vox", "lead", "sing")


@dataclass(frozen=True)
class Phrase:
    """A melody phrase: `score` holds one monophonic track from tick 0 with the tempo and
    meter of its place in the source; bars are [bar_start, bar_end) of the source's grid."""

    source: str
    corpus: str
    bar_start: int
    bar_end: int
    key: str | None
    meter: str
    tempo: float
    genre: str | None
    score: Score = field(repr=False, compare=False)

    @property
    def bars(self) -> int:
        return self.bar_end - self.bar_start

    def meta(self) -> dict[str, Any]:
        """The JSON-serialisable facts (no notes)."""
        return {"source": self.source, "corpus": self.corpus, "bars": [self.bar_start, self.bar_end],
                "key": self.key, "meter": self.meter, "tempo": self.tempo, "genre": self.genre}


# ---------------------------------------------------------------- the lead line


def _ticks(score: Score) -> Score:
    return score if "Tick" in str(score.ttype) else score.to("tick")


def _median_pitch(track: Track) -> float:
    arr = track.notes.numpy()
    return float(np.median(arr["pitch"])) if len(arr) else -1.0


def _sounding_bars(track: Track, starts: np.ndarray) -> int:
    """How many bars of the grid hold an onset of the track."""
    return len(np.unique(np.searchsorted(starts, track.notes.numpy()["time"], side="right")))


def lead_track(score: Score, corpus: str = "") -> Track | None:
    """The track that carries the tune: POP909's MELODY, Nottingham's first track, else a
    lead-role track named like a tune (`LEAD_NAMES`), else the lead-role track that sounds
    in most bars (a sung line runs through the song, a solo or a fill does not; ties: the
    higher one), else the highest-pitched non-drum track. None without pitched notes."""
    tracks = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    if not tracks:
        return None
    named = [t for t in tracks if t.name.strip().upper() == "MELODY"]
    if corpus == "pop909" or named:
        return named[0] if named else None
    if corpus == "nottingham":
        return tracks[0]
    big = [t for t in tracks if len(t.notes) >= MIN_NOTES] or tracks
    leads = [t for t in big if track_role(t, score.ticks_per_quarter) == "lead"]
    leads = [t for t in leads if any(w in t.name.lower() for w in LEAD_NAMES)] or leads
    if not leads:
        return max(big, key=_median_pitch)
    starts = np.asarray(bar_starts(score))
    return max(leads, key=lambda t: (_sounding_bars(t, starts), _median_pitch(t)))


def lead_line(score: Score, corpus: str = "") -> Score:
    """The lead track's top line (monophonic) with the score's tempi and meters."""
    score = _ticks(score)
    track = lead_track(score, corpus)
    one = Score(score.ticks_per_quarter)
    one.tempos = score.tempos.copy()
    one.time_signatures = score.time_signatures.copy()
    if track is not None:
        one.tracks.append(track.copy())
    return skyline(one)


# ---------------------------------------------------------------- phrases


def split_run(n: int) -> list[int]:
    """Phrase lengths for a run of n sounding bars: 8-bar phrases from the start, and a rest
    of fewer than 4 bars shared with the last 8 (8 + 2 -> 5 + 5). Runs under 4 bars: none."""
    if n < MIN_BARS:
        return []
    sizes = [MAX_BARS] * (n // MAX_BARS)
    rest = n % MAX_BARS
    if rest == 0 or rest >= MIN_BARS or not sizes:
        return sizes + ([rest] if rest else [])
    last = MAX_BARS + rest
    return sizes[:-1] + [last // 2, last - last // 2]


def phrase_spans(line: Score) -> list[tuple[int, int]]:
    """[first, last) bar ranges of the phrases of a melody: runs of bars with an onset,
    broken at silent bars, each cut by `split_run`. A run's first bar that only holds notes
    in its second half is a pickup (anacrusis): it is left out, so phrases keep to the
    tune's own 4- and 8-bar grid instead of ending a bar early."""
    starts = np.asarray(bar_starts(line) + [bar_starts(line, n_bars=len(bar_starts(line)) + 1)[-1]])
    times = line.tracks[0].notes.numpy()["time"] if line.tracks else np.zeros(0, np.int64)
    n = len(starts) - 1
    bar = np.searchsorted(starts, times, side="right") - 1
    sounding = np.bincount(bar, minlength=n)[:n] > 0
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, bar[bar < n], times[bar < n])
    pickup = first - starts[:-1] >= (starts[1:] - starts[:-1]) // 2
    spans, b = [], 0
    while b < n:
        if not sounding[b]:
            b += 1
            continue
        e = b
        while e < n and sounding[e]:
            e += 1
        b += int(pickup[b] and e - b > MIN_BARS)
        for size in split_run(e - b):
            spans.append((b, b + size))
            b += size
        b = e
    return spans


def _at(events: Any, tick: int) -> Any:
    """The last event (tempo or time signature) at or before `tick`, or None."""
    before = [e for e in events if e.time <= tick]
    return before[-1] if before else None


def _window(score: Score, start: int, end: int) -> Score:
    """Ticks [start, end) of a score shifted to 0, with the tempo and meter in force at start."""
    out = cut(score, start, end).shift_time(-start)
    tempo, ts = _at(score.tempos, start), _at(score.time_signatures, start)
    out.tempos = [Tempo(0, tempo.qpm if tempo is not None else DEFAULT_TEMPO)]
    out.time_signatures = [TimeSignature(0, ts.numerator, ts.denominator) if ts is not None
                           else TimeSignature(0, 4, 4)]
    return out


def extract_phrases(score: Score, source: str, corpus: str = "",
                    labels: dict[str, Any] | None = None) -> list[Phrase]:
    """The phrases of a score's lead line; key is estimated on all pitched parts over the
    phrase's bars (a chord part says more about the key than 8 bars of tune)."""
    score = _ticks(score)
    line = lead_line(score, corpus)
    if not line.tracks:
        return []
    starts = bar_starts(line, end=max(line.end(), 1))
    starts.append(bar_starts(line, n_bars=len(starts) + 1)[-1])
    genre = (labels or {}).get("genre")
    out = []
    for b, e in phrase_spans(line):
        mel = _window(line, starts[b], starts[e])
        if mel.note_num() < MIN_PHRASE_NOTES:
            continue
        ts = mel.time_signatures[0]
        out.append(Phrase(source, corpus, b, e, estimate_key(_window(score, starts[b], starts[e])),
                          f"{ts.numerator}/{ts.denominator}", round(float(mel.tempos[0].qpm), 2),
                          genre, mel))
    return out


def fingerprint(phrase: Phrase) -> str:
    """A hash of the phrase's notes relative to its first onset and pitch: repeats of a
    section (and transposed copies) share it."""
    arr = phrase.score.tracks[0].notes.numpy()
    tpq = phrase.score.ticks_per_quarter
    rel = np.stack([(arr["time"] - arr["time"][0]) * 96 // tpq, arr["duration"] * 96 // tpq,
                    arr["pitch"].astype(np.int64) - int(arr["pitch"][0])])
    return hashlib.sha1(rel.astype(np.int64).tobytes()).hexdigest()[:16]


def unique_phrases(phrases: list[Phrase]) -> list[Phrase]:
    """The phrases minus repeats (same `fingerprint`), first occurrence kept."""
    seen: set[str] = set()
    out = []
    for p in phrases:
        h = fingerprint(p)
        if h not in seen:
            seen.add(h)
            out.append(p)
    return out


# ---------------------------------------------------------------- notes as plain data


def notes_of(phrase_score: Score, tpq: int = 96) -> list[list[int]]:
    """[[time, duration, pitch, velocity], ...] at `tpq` ticks per quarter (the sidecar's)."""
    arr = _ticks(phrase_score).resample(tpq, min_dur=1).tracks[0].notes.numpy()
    return np.stack([arr["time"], arr["duration"], arr["pitch"], arr["velocity"]], 1).tolist()


def phrase_score(notes: list[list[int]], tempo: float, meter: str, tpq: int = 96,
                 program: int = 0) -> Score:
    """The inverse of `notes_of`: a one-track Score with its tempo and meter."""
    from symusic import Note

    num, _, den = meter.partition("/")
    if not (num.isdigit() and den.isdigit()):
        raise InputError(f"meter {meter!r} is not of the form 'N/D'")
    out = Score(tpq)
    out.tempos = [Tempo(0, float(tempo))]
    out.time_signatures = [TimeSignature(0, int(num), int(den))]
    track = Track(name="Melody", program=program)
    track.notes.extend([Note(int(t), int(d), int(p), int(v)) for t, d, p, v in notes])
    out.tracks.append(track)
    return out
