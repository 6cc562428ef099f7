"""Cleaning of real MIDI files before they become training windows.

Consumes symusic Scores from any corpus; produces cleaned copies plus a `CleanReport` that
counts every fix, so a build can say what it changed. What real files get wrong: drum parts
off channel 10 (only their name says drums), empty or duplicate tracks, tempi no player
would keep, the Groove kit's Roland pitches (outside the General MIDI drum map), and onsets
off any grid the tokenizer can say. Pure functions: the input score is never modified.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from symusic import Score, Tempo

# The Groove MIDI dataset's own Roland TD-11 -> General MIDI map (dataset README):
# 22/26 are edge hi-hat strokes outside the GM map, 58 is a tom rim (GM's vibraslap).
ROLAND_TO_GM: dict[int, int] = {
    36: 36, 38: 38, 40: 38, 37: 38, 48: 50, 50: 50, 45: 47, 47: 47, 43: 43, 58: 43,
    46: 46, 26: 46, 42: 42, 22: 42, 44: 42, 49: 49, 55: 49, 57: 49, 52: 49,
    51: 51, 59: 51, 53: 51,
}
DRUM_WORDS = ("drum", "kit", "perc", "kick", "snare", "hihat", "hi-hat", "cymbal")
GM_DRUM_KEYS = range(35, 82)
TEMPO_OK = (40.0, 250.0)  # the tokenizer's tempo range; outside it a tempo is halved/doubled


@dataclass
class CleanReport:
    """Counts of every fix over a build (add reports with `+=`)."""

    counts: Counter = field(default_factory=Counter)
    notes: int = 0
    moved: int = 0  # notes whose onset moved onto the grid
    moved_ticks: float = 0.0  # summed |shift| in quarter notes

    def __iadd__(self, other: CleanReport) -> CleanReport:
        self.counts.update(other.counts)
        self.notes += other.notes
        self.moved += other.moved
        self.moved_ticks += other.moved_ticks
        return self

    def to_dict(self) -> dict:
        share = self.moved / self.notes if self.notes else 0.0
        mean = self.moved_ticks / self.moved if self.moved else 0.0
        return {**dict(sorted(self.counts.items())), "notes": self.notes, "notes_moved": self.moved,
                "share_moved": round(share, 4), "mean_shift_quarters": round(mean, 4)}


def groove_to_gm(score: Score) -> Score:
    """Groove's Roland kit pitches mapped to General MIDI (pitches outside the table kept)."""
    out = score.copy()
    for track in out.tracks:
        for note in track.notes:
            note.pitch = ROLAND_TO_GM.get(int(note.pitch), int(note.pitch))
    return out


def looks_like_drums(name: str, pitches: np.ndarray) -> bool:
    """A track named like a drum kit whose notes lie in the GM drum map."""
    named = any(w in name.lower() for w in DRUM_WORDS)
    in_map = len(pitches) > 0 and float(np.mean((pitches >= 35) & (pitches <= 81))) > 0.9
    return named and in_map


def clean_tracks(score: Score, report: CleanReport) -> Score:
    """Drums found by name, empty and duplicate tracks dropped, drums limited to GM keys."""
    out = score.copy()
    keep, seen = [], set()
    for track in out.tracks:
        if len(track.notes) == 0:
            report.counts["empty_tracks_dropped"] += 1
            continue
        arr = track.notes.numpy()
        if not track.is_drum and looks_like_drums(track.name, arr["pitch"]):
            track.is_drum = True
            report.counts["drums_off_channel_10"] += 1
        sig = (track.is_drum, int(track.program), arr["time"].tobytes(), arr["pitch"].tobytes())
        if sig in seen:
            report.counts["duplicate_tracks_dropped"] += 1
            continue
        seen.add(sig)
        if track.is_drum:
            before = len(track.notes)
            track.notes = track.notes.filter(lambda n: 35 <= n.pitch <= 81, inplace=False)
            report.counts["drum_hits_off_gm_dropped"] += before - len(track.notes)
        if len(arr) and len(set(arr["velocity"].tolist())) == 1 and len(arr) >= 16:
            report.counts["tracks_flat_velocity"] += 1  # kept; no condition speaks of dynamics
        keep.append(track)
    out.tracks = keep
    return out


def fold_tempi(score: Score, report: CleanReport) -> Score:
    """Tempo events outside the tokenizer's range halved or doubled into it (a 320-bpm
    marking is a 160-bpm song written in half notes), so no tempo is clipped silently."""
    out = score.copy()
    tempos = []
    for t in out.tempos:
        qpm = float(t.qpm)
        while qpm > TEMPO_OK[1]:
            qpm /= 2
        while qpm < TEMPO_OK[0]:
            qpm *= 2
        if qpm != float(t.qpm):
            report.counts["tempi_folded"] += 1
        tempos.append(Tempo(t.time, qpm))
    out.tempos = tempos
    return out


def quantize(score: Score, steps_per_beat: int, drum_steps_per_beat: int, report: CleanReport) -> Score:
    """Onsets snapped to the nearest grid step (pitched parts: the tokenizer's grid; drums: the
    16th grid), durations kept at least one step; the shifts are counted in `report`."""
    out = score.copy()
    tpq = out.ticks_per_quarter
    for track in out.tracks:
        steps = drum_steps_per_beat if track.is_drum else steps_per_beat
        grid = tpq / steps
        for note in track.notes:
            t = int(round(round(note.time / grid) * grid))
            if t != note.time:
                report.moved += 1
                report.moved_ticks += abs(t - note.time) / tpq
            note.time = t
            note.duration = max(int(round(round(note.duration / grid) * grid)), int(grid) or 1)
        report.notes += len(track.notes)
    return out


def clean(score: Score, report: CleanReport, steps_per_beat: int = 8, drum_steps_per_beat: int = 4) -> Score:
    """Every fix above, in order."""
    out = clean_tracks(score, report)
    out = fold_tempi(out, report)
    return quantize(out, steps_per_beat, drum_steps_per_beat, report)
