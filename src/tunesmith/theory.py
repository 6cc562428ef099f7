"""Musical facts, defined once: the bar grid of a score, scales, key profiles, chord templates.

Consumes symusic Scores (for the bar grid) and key names ("A minor"); produces ticks, pitch-class
sets and (12,) arrays. The sampler's key preference, the metrics, the piano roll, the features
behind captions and the training windows all read these, so they cannot disagree. Key profiles
follow Krumhansl & Kessler (1982); chord templates Fujishima (1999).
"""

from __future__ import annotations

import numpy as np
from symusic import Score, Track

from tunesmith.attributes import KEYS, PITCH_CLASSES, family, voices
from tunesmith.errors import InputError

# --- bar grid -----------------------------------------------------------------------------
MAX_GRID_BARS = 100_000  # more bars than any file the loader accepts: a longer grid is a bug


def bar_starts(score: Score, n_bars: int | None = None, end: int | None = None) -> list[int]:
    """Tick of the start of every bar, from the score's time-signature map.

    Before the first time signature the meter is 4/4; a time signature starts a new bar where
    it stands (symusic's downbeats, a DAW's bar ruler). With `n_bars`, exactly that many bars
    (continuing past the score's end in the last meter); otherwise every bar that starts
    before `end` (default: the score's end), and at least one.
    """
    tpq = score.ticks_per_quarter
    sigs = _meters(score)
    stop = max(score.end() if end is None else end, 1)
    starts: list[int] = []
    tick, i = 0, 0
    while (len(starts) < n_bars) if n_bars is not None else (tick < stop):
        while i + 1 < len(sigs) and sigs[i + 1][0] <= tick:
            i += 1
        starts.append(tick)
        _, num, den = sigs[i]
        length = num * tpq * 4 // den if den > 0 else 0
        if length <= 0:
            raise InputError(f"time signature {num}/{den} at {tpq} ticks per quarter gives bars "
                             "of no length")
        if len(starts) > MAX_GRID_BARS:
            raise InputError(f"score is more than {MAX_GRID_BARS:,} bars long")
        # the next time signature (always after `tick`) cuts a bar short where it stands
        tick = min(tick + length, sigs[i + 1][0]) if i + 1 < len(sigs) else tick + length
    return starts


def key_signature(key: str) -> tuple[int, int]:
    """A key as MIDI's key signature: (sharps, negative for flats, -5..6; tonality 0 major,
    1 minor). "A minor" -> (0, 1), "Eb major" -> (-3, 0)."""
    tonic, mode = tonic_and_mode(key)
    major = tonic if mode == "major" else (tonic + 3) % 12
    sharps = (major * 7) % 12  # steps round the circle of fifths from C
    return (sharps - 12 if sharps > 6 else sharps), int(mode == "minor")


def key_of_signature(sharps: int, tonality: int) -> str:
    """The key a MIDI key signature names (the inverse of key_signature)."""
    major = (sharps * 7) % 12
    return f"{PITCH_CLASSES[major]} major" if tonality == 0 else f"{PITCH_CLASSES[(major - 3) % 12]} minor"


def lead_track(score: Score, first: int = 0, n: int | None = None) -> int | None:
    """Index of the lead track over bars [first, first + n) (all bars with n None): the
    pitched track with the highest mean pitch among those playing at least 2 notes there and
    at least a quarter as many as the busiest; a bass only when nothing else plays. None when
    no pitched track plays. One rule for a given melody file and for a section's lead."""
    starts = bar_starts(score, None if n is None else first + n + 1)
    lo, hi = starts[first] if first < len(starts) else 0, starts[first + n] if n is not None else None
    pitches: dict[int, np.ndarray] = {}
    for i, t in enumerate(score.tracks):
        if t.is_drum or not len(t.notes):
            continue
        arr = t.notes.numpy()
        inside = (arr["time"] >= lo) & (arr["time"] < hi if hi is not None else True)
        if inside.sum() >= 2:
            pitches[i] = arr["pitch"][inside]
    if not pitches:
        return None
    most = max(len(p) for p in pitches.values())
    busy = [i for i, p in pitches.items() if len(p) >= most / 4]
    upper = [i for i in busy if family(int(score.tracks[i].program)) != "bass"] or busy
    return max(upper, key=lambda i: float(np.mean(pitches[i])))


def _meters(score: Score) -> list[tuple[int, int, int]]:
    """(tick, numerator, denominator) of each time signature in order, 4/4 from tick 0 if none."""
    sigs = sorted((int(ts.time), ts.numerator, ts.denominator) for ts in score.time_signatures)
    if not sigs or sigs[0][0] > 0:
        sigs.insert(0, (0, 4, 4))
    return sigs


def meter_at(score: Score, tick: int = 0) -> str:
    """The time signature in force at `tick`, as "6/8" (4/4 where the score states none)."""
    _, num, den = [m for m in _meters(score) if m[0] <= tick][-1]
    return f"{num}/{den}"


def beat_length(tpq: int, numerator: int, denominator: int) -> int:
    """Ticks per beat of a meter: the denominator's note, a dotted quarter in 6/8, 9/8, 12/8."""
    beat = tpq * 4 // max(denominator, 1)
    compound = denominator == 8 and numerator % 3 == 0 and numerator > 3
    return max(beat * 3 if compound else beat, 1)


def beat_starts(score: Score, end: int | None = None) -> np.ndarray:
    """(B,) tick of every beat that starts before `end` (default: the score's end), bar by bar
    on the bar grid of `bar_starts`, each bar's beats in its own meter (`beat_length`)."""
    sigs, tpq = _meters(score), score.ticks_per_quarter
    stop = max(score.end() if end is None else end, 1)
    bars = bar_starts(score, end=stop)
    beats, i = [], 0
    for b, start in enumerate(bars):
        while i + 1 < len(sigs) and sigs[i + 1][0] <= start:
            i += 1
        bar_end = bars[b + 1] if b + 1 < len(bars) else stop
        beats.append(np.arange(start, bar_end, beat_length(tpq, sigs[i][1], sigs[i][2]), dtype=np.int64))
    return np.concatenate(beats)


# --- scales and keys ----------------------------------------------------------------------
# Pitch classes above the tonic. Minor is the natural minor plus the raised 7th (the leading
# tone of harmonic minor): music in a minor key uses both 7ths, so neither the sampler's scale
# preference nor the scale metrics count G or G# in A minor as out of the key.
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10, 11)}

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def tonic_and_mode(key: str) -> tuple[int, str]:
    """("A minor") -> (9, "minor"); raises InputError for a key not in KEYS."""
    if key not in KEYS:
        raise InputError(f"key {key!r} is unknown: allowed e.g. 'C major', 'F# minor'")
    pc, mode = key.split(" ")
    return PITCH_CLASSES.index(pc), mode


def scale_mask(key: str) -> np.ndarray:
    """(12,) bool, indexed by pitch class from C: the pitch classes of the key's scale."""
    root, mode = tonic_and_mode(key)
    mask = np.zeros(12, dtype=bool)
    mask[[(root + i) % 12 for i in SCALES[mode]]] = True
    return mask


def key_profile(key: str) -> np.ndarray:
    """(12,) probe-tone profile of a key, indexed by pitch class from C."""
    root, mode = tonic_and_mode(key)
    return np.roll(MAJOR_PROFILE if mode == "major" else MINOR_PROFILE, root)


# Every key's scale and profile, in the order of attributes.KEYS (12 major, then 12 minor).
SCALE_MASKS = np.stack([scale_mask(k) for k in KEYS])  # (24, 12)
KEY_PROFILES = np.stack([key_profile(k) for k in KEYS])  # (24, 12)

# --- chords -------------------------------------------------------------------------------
# (suffix, intervals above the root). Order is the tie-break: simpler chords first.
CHORD_TYPES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("", (0, 4, 7)),
    ("m", (0, 3, 7)),
    ("7", (0, 4, 7, 10)),
    ("maj7", (0, 4, 7, 11)),
    ("m7", (0, 3, 7, 10)),
    ("6", (0, 4, 7, 9)),
    ("dim", (0, 3, 6)),
    ("aug", (0, 4, 8)),
    ("sus4", (0, 5, 7)),
    ("sus2", (0, 2, 7)),
)

# Spellings users write for the chord types above ("Amin", "CM7", "F#-") -> our suffix.
CHORD_ALIASES = {"": "", "maj": "", "M": "", "m": "m", "min": "m", "-": "m", "7": "7", "dom7": "7",
                 "maj7": "maj7", "M7": "maj7", "m7": "m7", "min7": "m7", "-7": "m7", "6": "6",
                 "dim": "dim", "o": "dim", "aug": "aug", "+": "aug", "sus4": "sus4", "sus": "sus4",
                 "sus2": "sus2"}
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def chord_name(text: str) -> str:
    """A chord as the templates spell it ("Bbm7", "F#", "C#dim"), from what people write
    ("a#min7", "Gb", "Dsus"); raises InputError naming the chord otherwise."""
    t = text.strip()
    if not t or t[0].upper() not in _LETTERS:
        raise InputError(f"chord {text!r} is not a chord: write a root A-G, then e.g. m, 7, maj7, dim")
    cut = 2 if len(t) > 1 and t[1] in "#b" else 1  # root letter and its accidental
    root = (_LETTERS[t[0].upper()] + {"#": 1, "b": -1}.get(t[1:cut], 0)) % 12
    suffix = CHORD_ALIASES.get(t[cut:])
    if suffix is None:
        raise InputError(f"chord {text!r}: unknown type {t[cut:]!r}; allowed "
                         f"{', '.join(repr(s) for s in sorted(set(CHORD_ALIASES) - {''}))}")
    return PITCH_CLASSES[root] + suffix


def chord_root(name: str) -> int:
    """The root pitch class of a chord ("F#m7" -> 6)."""
    canon = chord_name(name)
    return PITCH_CLASSES.index(canon[:2] if len(canon) > 1 and canon[1] in "#b" else canon[:1])


def chord_pitch_classes(name: str) -> np.ndarray:
    """(12,) bool: the pitch classes of a chord ("Am7" -> A C E G)."""
    canon = chord_name(name)
    root = chord_root(canon)
    suffix = canon[len(PITCH_CLASSES[root]):]
    intervals = dict(CHORD_TYPES)[suffix]
    mask = np.zeros(12, dtype=bool)
    mask[[(root + i) % 12 for i in intervals]] = True
    return mask


# Chord labelling by template matching of chroma (Fujishima 1999): captions, the listening
# metrics and the stream's per-bar chord tokens share it.
MIN_SCORE = 0.8  # cosine similarity below which a beat has no clear chord (e.g. a lone melody)
BASS_BONUS = 0.05  # a root in the bass breaks ties such as C6 vs Am7 (same pitch classes)


def _templates() -> tuple[np.ndarray, list[str], np.ndarray]:
    """Unit-norm binary templates (T, 12), their names and root pitch classes."""
    rows, names, roots = [], [], []
    for suffix, intervals in CHORD_TYPES:
        for root in range(12):
            row = np.zeros(12)
            row[[(root + i) % 12 for i in intervals]] = 1.0
            rows.append(row / np.linalg.norm(row))
            names.append(PITCH_CLASSES[root] + suffix)
            roots.append(root)
    return np.stack(rows), names, np.array(roots)


TEMPLATES, TEMPLATE_NAMES, TEMPLATE_ROOTS = _templates()


def label(chroma: np.ndarray, lowest: np.ndarray, min_score: float = MIN_SCORE) -> list[str | None]:
    """Best template name per window, or None when none reaches cosine `min_score`."""
    norms = np.linalg.norm(chroma, axis=1, keepdims=True)
    unit = np.divide(chroma, norms, out=np.zeros_like(chroma), where=norms > 0)
    scores = unit @ TEMPLATES.T  # (W, T)
    bass_pc = np.where(lowest < 128, lowest % 12, -1)
    scores = scores + BASS_BONUS * (TEMPLATE_ROOTS[None, :] == bass_pc[:, None])
    best = scores.argmax(axis=1)
    # Subtract the bonus again so that the threshold is on the pure similarity.
    pure = (unit @ TEMPLATES.T)[np.arange(len(best)), best]
    return [TEMPLATE_NAMES[b] if s >= min_score else None for b, s in zip(best, pure, strict=True)]


# Triads on a key's scale degrees (semitones above the tonic, suffix), primary chords first
# (tonic, subdominant, dominant, then the relative): the order breaks ties when a bar's
# melody fits two chords equally. Minor keys take both the natural-minor v and the
# harmonic-minor V, as minor-key pop and folk harmony does.
DIATONIC_TRIADS = {
    "major": ((0, ""), (5, ""), (7, ""), (9, "m"), (2, "m"), (4, "m")),
    "minor": ((0, "m"), (5, "m"), (7, ""), (8, ""), (3, ""), (10, ""), (7, "m")),
}


def diatonic_chords(key: str) -> list[str]:
    """The key's triads, primary first: "A minor" -> Am Dm E F C G Em."""
    root, mode = tonic_and_mode(key)
    return [PITCH_CLASSES[(root + step) % 12] + suffix for step, suffix in DIATONIC_TRIADS[mode]]


# --- the drum kit -------------------------------------------------------------------------
# General MIDI drum keys by the part they play: the core kit a drummer keeps time with
KICK, SNARE, HAT_CLOSED, HAT_OPEN, RIDE, CRASH = (35, 36), (37, 38, 40), (42, 44), (46,), (51, 53, 59), (49, 57)
CORE_KIT = frozenset(KICK + SNARE + HAT_CLOSED + HAT_OPEN + RIDE + CRASH)
TIME_KEEPERS = frozenset(HAT_CLOSED + HAT_OPEN + RIDE)
TOMS = (41, 43, 45, 47, 48, 50)


def is_fill(hits: dict[int, set[int]]) -> bool:
    """Whether a bar of drums ({onset position: GM keys}) is a fill rather than a groove: toms
    at two or more onsets or a snare at six or more, with the time-keeper (hi-hat, ride) at
    four onsets or fewer, since a drummer leaves the hats to play the fill. On the Groove
    corpus's 4/4 bars this calls 64 % of the bars of its labelled fills a fill, and 20 % of
    the bars of its labelled beats (whose performances hold fills of their own)."""
    def onsets(keys: frozenset[int] | tuple[int, ...]) -> int:
        return sum(1 for hit in hits.values() if hit & set(keys))

    return (onsets(TOMS) >= 2 or onsets(SNARE) >= 6) and onsets(TIME_KEEPERS) <= 4


def one_line(score: Score) -> Score:
    """`score` with each one-voice instrument's notes (attributes.voices) ending where its
    next note starts: a sax or a flute cannot hold one note under the next."""
    for track in score.tracks:
        if track.is_drum or voices(int(track.program)) != 1 or len(track.notes) < 2:
            continue
        track.notes.sort()
        onsets = track.notes.numpy()["time"]
        for note, nxt in zip(track.notes, onsets[1:], strict=False):
            if nxt > note.time:
                note.duration = min(note.duration, int(nxt - note.time))
    return score


def track_chroma(track: Track, starts: list[int], end: int) -> np.ndarray:
    """(bars, 12): how long each pitch class sounds in each bar, a note sounding on the
    bar's downbeat counted twice (the downbeat note is the one a harmony must hold)."""
    bounds = [*starts, max(end, starts[-1] + 1)]
    out = np.zeros((len(starts), 12))
    for note in track.notes:
        lo, hi = note.time, note.time + max(note.duration, 1)
        for b in range(len(starts)):
            overlap = min(hi, bounds[b + 1]) - max(lo, bounds[b])
            if overlap > 0:
                out[b, note.pitch % 12] += overlap * (2 if lo <= bounds[b] < hi else 1)
    return out


def harmonize(chroma: np.ndarray, key: str) -> list[str]:
    """One chord a bar for a melody that came without chords, from its (bars, 12) chroma: the
    key's triad holding most of the bar's melody (theory.diatonic_chords; ties go to the
    primary chords), the previous chord over a bar without melody, the tonic where the last
    bar fits it as well as any. A harmonizer this small is enough to keep the accompaniment
    in the melody's key; no library we use harmonizes a melody."""
    names = diatonic_chords(key)
    tones = np.stack([chord_pitch_classes(c) for c in names]).astype(float)  # (chords, 12)
    chords: list[str] = []
    for b, weights in enumerate(chroma):
        if weights.sum() == 0:
            chords.append(chords[-1] if chords else names[0])
            continue
        fit = tones @ weights / weights.sum()
        last = b == len(chroma) - 1
        chords.append(names[0] if last and fit[0] >= fit.max() - 0.1 else names[int(np.argmax(fit))])
    return chords
