"""Per-bar attribute controls (MIDI-RWKV): note density, onset polyphony, duration flags.

Consumes the notes of one track and the bar boundaries of its score; produces one
`BarControls` per bar and their tokens. Written here rather than taken from miditok 3.1.0,
whose bar controls skip bars with exactly one note and compute the first requested bar
over every note since the start of the track.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from symusic import Score

from tunesmith.errors import InputError
from tunesmith.theory import bar_starts
from tunesmith.tokenization.vocab import DENSITY_MAX, DURATION_CLASSES, POLY_MAX

# Duration classes in quarter notes; a note counts for the class nearest on a log scale.
_CLASS_QUARTERS = (4.0, 2.0, 1.0, 0.5, 0.25)


@dataclass(frozen=True)
class BarControls:
    density: int  # onsets in the bar, capped at DENSITY_MAX
    poly_min: int  # fewest notes starting together at an onset (0 for an empty bar)
    poly_max: int  # most notes starting together at an onset, capped at POLY_MAX
    durations: tuple[bool, ...]  # whole, half, quarter, eighth, sixteenth present

    def __post_init__(self) -> None:
        if not 0 <= self.density <= DENSITY_MAX:
            raise InputError(f"density {self.density} is out of range 0..{DENSITY_MAX}")
        for name, v in (("poly_min", self.poly_min), ("poly_max", self.poly_max)):
            if not 0 <= v <= POLY_MAX:
                raise InputError(f"{name} {v} is out of range 0..{POLY_MAX}")
        if self.poly_min > self.poly_max:
            raise InputError(f"poly_min {self.poly_min} is above poly_max {self.poly_max}")
        if len(self.durations) != len(DURATION_CLASSES):
            raise InputError(f"durations needs {len(DURATION_CLASSES)} flags, got {len(self.durations)}")

    def tokens(self) -> list[str]:
        toks = [f"Density_{self.density}", f"PolyMin_{self.poly_min}", f"PolyMax_{self.poly_max}"]
        toks += [f"Dur{n}_{int(f)}" for n, f in zip(DURATION_CLASSES, self.durations, strict=True)]
        return toks


def duration_class(duration_ticks: int, tpq: int) -> int:
    """Index in DURATION_CLASSES of the class nearest (log scale) to a duration."""
    q = max(duration_ticks, 1) / tpq
    return min(range(len(_CLASS_QUARTERS)), key=lambda i: abs(math.log2(q / _CLASS_QUARTERS[i])))


def bar_controls(notes: Sequence[tuple[int, int]], tpq: int) -> BarControls:
    """Controls of one bar from its notes as (onset tick, duration ticks) pairs."""
    if not notes:
        return BarControls(0, 0, 0, (False,) * len(DURATION_CLASSES))
    per_onset = Counter(onset for onset, _ in notes)
    present = {duration_class(d, tpq) for _, d in notes}
    return BarControls(
        density=min(len(notes), DENSITY_MAX),
        poly_min=min(min(per_onset.values()), POLY_MAX),
        poly_max=min(max(per_onset.values()), POLY_MAX),
        durations=tuple(i in present for i in range(len(DURATION_CLASSES))),
    )


def track_bar_controls(score: Score, track_index: int) -> list[BarControls]:
    """Controls of every bar of one track (the bars of the whole score)."""
    if not 0 <= track_index < len(score.tracks):
        raise InputError(f"track {track_index} does not exist: allowed 0..{len(score.tracks) - 1}")
    starts = bar_starts(score)
    bounds = [*starts, max(score.end(), starts[-1]) + 1]
    buckets: list[list[tuple[int, int]]] = [[] for _ in starts]
    j = 0
    for note in sorted(score.tracks[track_index].notes, key=lambda n: n.time):
        while j + 1 < len(starts) and note.time >= bounds[j + 1]:
            j += 1
        buckets[j].append((note.time, note.duration))
    return [bar_controls(b, score.ticks_per_quarter) for b in buckets]
