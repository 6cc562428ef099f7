"""Chord recognition on symbolic notes: pitched tracks -> per-beat chord names -> progression.

Template matching of chroma vectors (Fujishima 1999, "Realtime chord recognition"),
applied per beat to duration-weighted pitch classes, as MidiCaps' captions describe
chords of each beat. Hand-written because no well-kept library does symbolic chord
labelling from a symusic Score (music21's chordify is far too slow for a dataset).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from symusic import Score

from tunesmith.theory import (  # noqa: F401  (re-exported for callers of captions.chords)
    MIN_SCORE,
    TEMPLATE_NAMES,
    TEMPLATES,
    beat_starts,
    label,
)

MAX_PROGRESSION = 4


def beat_chroma(score: Score, beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Duration-weighted pitch-class energy per beat (B, 12) and lowest pitch per beat, for
    the beats starting at ticks `beats` (theory.beat_starts: 0 first; the last runs on)."""
    lo = np.asarray(beats, dtype=np.int64)  # (B,) beat w spans [lo[w], hi[w])
    hi = np.append(lo[1:], np.iinfo(np.int64).max)
    chroma = np.zeros((len(lo), 12))
    lowest = np.full(len(lo), 128)
    for track in score.tracks:
        if track.is_drum or len(track.notes) == 0:
            continue
        arr = track.notes.numpy()
        start = arr["time"].astype(np.int64)
        end = start + np.maximum(arr["duration"].astype(np.int64), 1)
        pitch = arr["pitch"].astype(np.int64)
        first = np.maximum(np.searchsorted(lo, start, side="right") - 1, 0)
        last = np.maximum(np.searchsorted(lo, end - 1, side="right") - 1, 0)
        for k in range(int((last - first).max()) + 1):
            w = first + k
            ok = w <= last
            w_ok, s_ok, e_ok = w[ok], start[ok], end[ok]
            overlap = np.minimum(e_ok, hi[w_ok]) - np.maximum(s_ok, lo[w_ok])
            np.add.at(chroma, (w_ok, pitch[ok] % 12), overlap)
            np.minimum.at(lowest, w_ok, pitch[ok])
    return chroma, lowest


def collapse(labels: Sequence[str | None]) -> list[str]:
    """Drop unlabelled windows and merge repeats: [C, C, None, F, F, C] -> [C, F, C]."""
    out: list[str] = []
    for name in labels:
        if name is not None and (not out or out[-1] != name):
            out.append(name)
    return out


def most_common_progression(
    chords: Sequence[str], max_len: int = MAX_PROGRESSION
) -> tuple[str, ...]:
    """The most frequent run of up to `max_len` consecutive, pairwise distinct chords.

    Longer runs win when they recur at least twice; ties go to the earliest run. When
    nothing recurs, the opening run of distinct chords stands for the piece.
    """
    for n in range(max_len, 1, -1):
        runs = [tuple(chords[i:i + n]) for i in range(len(chords) - n + 1)]
        counts = Counter(r for r in runs if len(set(r)) == n)
        if counts and max(counts.values()) >= 2:
            top = max(counts.values())
            return next(r for r in runs if counts.get(r) == top)
    opening: list[str] = []
    for name in chords:
        if name in opening or len(opening) == max_len:
            break
        opening.append(name)
    return tuple(opening)


def progression(score: Score) -> tuple[str, ...]:
    """The most common chord progression of a score's pitched tracks (empty if none)."""
    if score.end() <= 0:
        return ()
    chroma, lowest = beat_chroma(score, beat_starts(score))
    return most_common_progression(collapse(label(chroma, lowest)))
