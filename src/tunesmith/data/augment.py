"""Orchestration augmentation: the same notes played by other General MIDI instruments.

Consumes a symusic Score and a numpy Generator, produces new Scores whose pitched tracks
are re-voiced with instruments whose playable range holds the part (a part may move by
one octave to fit), or whose lowest part gives its bass line to a new bass track, with
track programs and names updated so that a caption computed from the result says
truthfully what plays. Drum tracks are left alone. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from symusic import Score, Track

from tunesmith.attributes import INSTRUMENT_NAMES, family
from tunesmith.errors import ConfigError

# Playable (sounding) range, lowest and highest MIDI pitch, of common GM instruments.
RANGES: dict[int, tuple[int, int]] = {
    0: (21, 108), 4: (28, 103), 6: (29, 89), 11: (53, 89), 12: (45, 96),  # keys, mallets
    16: (36, 96), 19: (24, 96), 21: (53, 93), 22: (60, 96),  # organs, accordion, harmonica
    24: (40, 83), 25: (40, 86), 26: (40, 86), 27: (40, 88),  # guitars
    32: (28, 60), 33: (28, 67), 34: (28, 67), 35: (28, 67), 38: (24, 72),  # basses
    40: (55, 103), 41: (48, 91), 42: (36, 76), 43: (28, 60), 46: (24, 103), 48: (28, 103),
    52: (40, 84),  # choir
    56: (52, 84), 57: (34, 75), 58: (28, 58), 60: (34, 77), 61: (36, 84),  # brass
    64: (56, 88), 65: (49, 81), 66: (44, 76), 67: (36, 69),  # saxophones
    68: (58, 91), 69: (52, 84), 70: (34, 75), 71: (50, 94),  # double reeds, clarinet
    72: (74, 108), 73: (60, 96), 74: (60, 91), 75: (60, 96), 78: (74, 98), 79: (60, 84),
    80: (36, 96), 81: (36, 96), 89: (36, 96),  # synth leads, pad
    105: (48, 81), 109: (67, 81), 110: (55, 103),  # banjo, bagpipe, fiddle
    # band instruments the role table (data/roles.py) can choose
    1: (21, 108), 2: (21, 108), 3: (21, 108), 5: (28, 103), 7: (41, 89), 17: (36, 96), 18: (36, 96),
    28: (40, 86), 29: (40, 86), 30: (40, 86), 31: (40, 86), 36: (28, 67), 37: (28, 67), 39: (24, 72),
    49: (28, 103), 50: (28, 103), 51: (28, 103), 62: (36, 96), 63: (36, 96),
    82: (36, 96), 83: (36, 96), 84: (36, 96), 85: (36, 96), 86: (36, 96), 87: (28, 96),
    88: (36, 96), 90: (36, 96), 91: (36, 96), 92: (36, 96), 93: (36, 96), 94: (36, 96), 95: (36, 96),
}
# Ensembles for several parts, roles from the top voice to the bass.
ENSEMBLES: dict[str, tuple[int, ...]] = {
    "string quartet": (40, 40, 41, 42),
    "strings with double bass": (40, 41, 42, 43),
    "brass": (56, 56, 60, 57),
    "brass with tuba": (56, 60, 57, 58),
    "woodwinds": (73, 68, 71, 70),
    "saxophones": (64, 65, 66, 67),
    "violin and piano": (40, 0),
    "flute and guitar": (73, 24),
    "saxophone and electric piano": (65, 4),
    "lead synth and pad": (81, 89),
    "jazz guitar and bass": (26, 33),
    "piano": (0,), "organ": (19,), "harpsichord": (6,), "choir": (52,), "harp": (46,),
    "string ensemble": (48,), "electric piano": (4,), "marimba": (12,),
}
# Basses a bass line is given to; "bass" in a caption means 33 (lexicon), so it comes up most.
BASSES = (33, 33, 33, 32, 34, 35, 38, 43)
# G3, the top of the bass staff: bass lines rarely climb above it, while a melody or the
# right hand of a piano rarely goes below it, so the lowest notes at or under it are the bass.
BASS_MAX = 55
MIN_BASS_NOTES = 4  # fewer is a stray low note, not a line
# Instruments for a single melody (a fiddle tune, a folk song).
SOLOISTS = (110, 40, 73, 21, 0, 71, 68, 22, 24, 56, 65, 75, 105, 11, 74, 79, 81, 109)


@dataclass(frozen=True)
class Orchestration:
    """A re-voicing: per pitched track (in score order), its new program and octave shift."""

    name: str
    programs: tuple[int, ...]
    shifts: tuple[int, ...]


def octave_shift(low: int, high: int, program: int) -> int | None:
    """Semitones (0, +12 or -12, in that order of preference) that put low..high inside
    the instrument's range, or None if no shift of at most an octave does."""
    lo, hi = RANGES[program]
    for shift in (0, 12, -12):
        if lo <= low + shift and high + shift <= hi:
            return shift
    return None


def roles(n_parts: int, n_roles: int) -> list[int]:
    """Role of each part, parts ordered top to bottom: the top part takes the first role,
    the bottom part the last, inner parts share the inner roles evenly."""
    if n_parts == 1 or n_roles == 1:
        return [0] * n_parts
    inner = [
        n_roles - 1 if n_roles <= 2 else 1 + round((i - 1) * (n_roles - 3) / max(n_parts - 3, 1))
        for i in range(1, n_parts - 1)
    ]
    return [0, *inner, n_roles - 1]


def pitched_tracks(score: Score) -> list[int]:
    return [i for i, t in enumerate(score.tracks) if not t.is_drum and len(t.notes)]


def orchestrations(score: Score) -> list[Orchestration]:
    """Every ensemble (several parts) or soloist (one part) that can play the score, each
    giving a program set other than the score's own."""
    tracks = pitched_tracks(score)
    if not tracks:
        return []
    pitches = [score.tracks[i].notes.numpy()["pitch"] for i in tracks]
    spans = [(int(p.min()), int(p.max())) for p in pitches]
    order = sorted(range(len(tracks)), key=lambda k: -float(pitches[k].mean()))  # top first
    current = tuple(int(score.tracks[i].program) for i in tracks)
    choices = (
        {INSTRUMENT_NAMES[p].lower(): (p,) for p in SOLOISTS} if len(tracks) == 1 else ENSEMBLES
    )
    out, seen = [], {current}
    for name, ensemble in choices.items():
        programs = [0] * len(tracks)
        for rank, role in zip(order, roles(len(tracks), len(ensemble)), strict=True):
            programs[rank] = ensemble[role]
        shifts = [octave_shift(lo, hi, p) for (lo, hi), p in zip(spans, programs, strict=True)]
        if any(s is None for s in shifts) or tuple(programs) in seen:
            continue
        seen.add(tuple(programs))
        out.append(Orchestration(name, tuple(programs), tuple(int(s or 0) for s in shifts)))
    return out


def apply(score: Score, orch: Orchestration) -> Score:
    """A copy of `score` with its pitched tracks re-voiced by `orch`."""
    out = score.copy()
    for i, program, shift in zip(pitched_tracks(out), orch.programs, orch.shifts, strict=True):
        track = out.tracks[i]
        if shift:
            track.shift_pitch(shift, inplace=True)
        track.program = program
        track.name = INSTRUMENT_NAMES[program]
    return out


def orchestrate(score: Score, rng: np.random.Generator, copies: int = 1) -> list[Score]:
    """Up to `copies` re-voicings of `score`, distinct, drawn at random from those that fit."""
    options = orchestrations(score)
    if not options or copies <= 0:
        return []
    picks = rng.choice(len(options), size=min(copies, len(options)), replace=False)
    return [apply(score, options[int(k)]) for k in picks]


def lowest_notes(time: np.ndarray, end: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Mask of the notes of a part that form its bass line: at each onset the lowest note
    starting there, unless a lower note still sounds (then it is an inner voice of a
    broken chord, e.g. the third over a held root)."""
    order = np.lexsort((pitch, time))  # by onset, then pitch: the first of each onset is lowest
    first = np.ones(len(order), dtype=bool)
    first[1:] = time[order][1:] != time[order][:-1]
    low = order[first]
    t, p = time[low][:, None], pitch[low][:, None]  # (onsets, 1) against (notes,)
    held = ((time < t) & (end > t) & (pitch < p)).any(axis=1)
    mask = np.zeros(len(time), dtype=bool)
    mask[low[~held]] = True
    return mask


def is_bass(program: int) -> bool:
    return family(program) == "bass" or program == 43  # a contrabass plays bass lines too


def one_voice(time: np.ndarray) -> bool:
    """Whether no two notes of a part start together (a melody, a chorale's bass voice)."""
    return len(np.unique(time)) == len(time)


def bass_line(notes: dict[str, np.ndarray]) -> np.ndarray:
    """Mask of the notes of a part (symusic's numpy columns) that a bass would play."""
    time, pitch = notes["time"], notes["pitch"]
    if one_voice(time):  # a single voice is the bass line as a whole, or not at all
        return np.full(len(time), float(np.median(pitch)) <= BASS_MAX)
    return lowest_notes(time, time + notes["duration"], pitch) & (pitch <= BASS_MAX)


def best_shift(pitches: np.ndarray, program: int) -> int:
    """Octave shift (0 first, then +12, -12) that puts the most of `pitches` in range."""
    lo, hi = RANGES[program]
    return max((0, 12, -12), key=lambda s: int(((lo <= pitches + s) & (pitches + s <= hi)).sum()))


def split_bass(score: Score, program: int) -> Score | None:
    """A copy of `score` whose lowest pitched track gives its bass line (see `bass_line`)
    to a new track played by bass `program`, moved by an octave if that fits the bass's
    range better (notes still out of range stay). None if the score already has a bass,
    is a single melody, or has fewer than MIN_BASS_NOTES bass notes."""
    if program not in set(BASSES):
        raise ConfigError(f"bass program {program} is not one of {sorted(set(BASSES))}")
    tracks = pitched_tracks(score)
    columns = {i: score.tracks[i].notes.numpy() for i in tracks}
    if not tracks or any(is_bass(int(score.tracks[i].program)) for i in tracks):
        return None
    if len(tracks) == 1 and one_voice(columns[tracks[0]]["time"]):
        return None
    source = min(tracks, key=lambda i: float(columns[i]["pitch"].mean()))
    pitch = columns[source]["pitch"].astype(np.int64)  # int8 would wrap when shifted
    take = bass_line(columns[source])
    shift = best_shift(pitch[take], program)
    lo, hi = RANGES[program]
    take &= (lo <= pitch + shift) & (pitch + shift <= hi)
    if take.sum() < MIN_BASS_NOTES:
        return None
    return moved(score, source, take, program, shift)


def moved(score: Score, source: int, take: np.ndarray, program: int, shift: int) -> Score:
    """A copy of `score` with the notes of track `source` under `take` moved, `shift`
    semitones up, to a new track for `program` (the source goes if nothing is left)."""
    out = score.copy()
    track = out.tracks[source]
    notes = list(track.notes)
    bass = Track(name=INSTRUMENT_NAMES[program], program=program, is_drum=False)
    for note in (n for n, t in zip(notes, take, strict=True) if t):
        low = note.copy()
        low.pitch = note.pitch + shift
        bass.notes.append(low)
    track.notes.clear()
    track.notes.extend([n for n, t in zip(notes, take, strict=True) if not t])
    out.tracks.append(bass)
    if len(track.notes) == 0:
        del out.tracks[source]
    return out
