"""How well a generated piece follows its prompt: target Attributes vs detected Attributes.

Consumes two `Attributes` (asked by the prompt, found in the score), produces per-piece
metrics and set means, as in MidiCaps (Melechovsky et al. 2024) and text2midi (Bhandari et al.
2025): TB/TBT tempo bin, CK/CKD key, instrument P/R/F1, chord match, length. Key and chord
names are parsed here since detectors may spell pitch classes differently from attributes.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet

from tunesmith.attributes import PITCH_CLASSES, Attributes, family, relative_key, tempo_bin
from tunesmith.errors import InputError

_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"#": 1, "♯": 1, "b": -1, "♭": -1}
_ROOT = re.compile(r"^([A-Ga-g])([#♯b♭]*)(.*)$")

# Chord quality spellings -> one canonical name; matched case-sensitively first ("M7" is
# major seventh, "m7" minor seventh), then lower-cased.
_QUALITIES = {
    "": "maj", "maj": "maj", "M": "maj", "major": "maj",
    "m": "min", "min": "min", "-": "min", "minor": "min",
    "7": "7", "dom7": "7",
    "maj7": "maj7", "M7": "maj7", "Δ": "maj7", "Δ7": "maj7",
    "m7": "min7", "min7": "min7", "-7": "min7",
    "dim": "dim", "o": "dim", "°": "dim", "dim7": "dim7", "o7": "dim7", "°7": "dim7",
    "m7b5": "hdim7", "ø": "hdim7", "ø7": "hdim7", "hdim7": "hdim7",
    "aug": "aug", "+": "aug",
    "sus2": "sus2", "sus4": "sus4", "sus": "sus4",
    "6": "maj6", "maj6": "maj6", "m6": "min6", "min6": "min6",
    "9": "9", "maj9": "maj9", "m9": "min9", "min9": "min9",
}


def pitch_class(name: str) -> int:
    """Pitch class 0..11 of a note name with any accidentals ("C#" == "Db" == 1)."""
    m = _ROOT.match(name.strip())
    if not m or m.group(3):
        raise InputError(f"pitch name {name!r} is not understood: allowed e.g. 'C', 'F#', 'Bb'")
    return (_LETTERS[m.group(1).upper()] + sum(_ACCIDENTALS[c] for c in m.group(2))) % 12


def canonical_key(key: str) -> str:
    """A key in the shared spelling: "Db major" -> "C# major", "a minor" -> "A minor"."""
    parts = key.strip().split()
    if len(parts) != 2 or parts[1].lower() not in ("major", "minor"):
        raise InputError(f"key {key!r} is not understood: allowed e.g. 'C major', 'F# minor'")
    return f"{PITCH_CLASSES[pitch_class(parts[0])]} {parts[1].lower()}"


def canonical_chord(chord: str) -> tuple[int, str]:
    """(root pitch class, canonical quality) of a chord name; a slash bass is ignored.

    Accepts "C", "Am", "F#m7", "Dbmaj7", "C:min", "G7/B", "A minor".
    """
    m = _ROOT.match(chord.strip())
    if not m:
        raise InputError(f"chord {chord!r} is not understood: allowed e.g. 'C', 'Am', 'G7'")
    quality = m.group(3).split("/")[0].strip().lstrip(":").strip()
    canon = _QUALITIES.get(quality, _QUALITIES.get(quality.lower()))
    if canon is None:
        canon = quality.lower()  # unknown qualities still compare equal to themselves
    return pitch_class(m.group(1) + m.group(2)), canon


# ---------------------------------------------------------------- single metrics


def tempo_bin_match(target_bpm: float, detected_bpm: float) -> bool:
    """TB: both tempi fall in the same MidiCaps tempo bin."""
    return tempo_bin(target_bpm) == tempo_bin(detected_bpm)


def tempo_bin_tolerant(target_bpm: float, detected_bpm: float) -> bool:
    """TBT: the tempi fall in the same or adjacent MidiCaps tempo bins."""
    return abs(tempo_bin(target_bpm) - tempo_bin(detected_bpm)) <= 1


def key_match(target: str, detected: str) -> bool:
    """CK: same key, enharmonic spellings equal ("C# minor" == "Db minor")."""
    return canonical_key(target) == canonical_key(detected)


def key_match_relative(target: str, detected: str) -> bool:
    """CKD: same key, or the detected key is the target's relative major/minor."""
    t, d = canonical_key(target), canonical_key(detected)
    return d in (t, relative_key(t))


def time_signature_match(target: str, detected: str) -> bool:
    """Same written time signature ("6/8" != "3/4": the meter differs)."""
    def parse(ts: str) -> tuple[int, int]:
        parts = ts.replace(" ", "").split("/")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise InputError(f"time signature {ts!r} is not understood: allowed e.g. '4/4'")
        return int(parts[0]), int(parts[1])

    return parse(target) == parse(detected)


def _prf(target: AbstractSet[object], detected: AbstractSet[object]) -> tuple[float, float, float]:
    """Set precision, recall, F1; both empty gives 1s, one empty gives 0s."""
    if not target and not detected:
        return 1.0, 1.0, 1.0
    hits = len(target & detected)
    p = hits / len(detected) if detected else 0.0
    r = hits / len(target) if target else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def instrument_scores(
    target_programs: Iterable[int], detected_programs: Iterable[int]
) -> dict[str, float]:
    """Precision/recall/F1 of the detected instrument set, by exact GM program and by family.

    Programs are 0..127 with 128 for drums; drums form their own family. Duplicates count once.
    """
    target, detected = set(target_programs), set(detected_programs)
    p, r, f = _prf(target, detected)
    fp, fr, ff = _prf({family(x) for x in target}, {family(x) for x in detected})
    return {
        "precision": p, "recall": r, "f1": f,
        "family_precision": fp, "family_recall": fr, "family_f1": ff,
    }


def chord_match(target_chords: Sequence[str], detected_chords: Sequence[str]) -> float:
    """Share of distinct target chords (root + quality) found among the detected chords.

    Enharmonic roots are equal ("C#m" == "Dbmin"); order and repetition are ignored. An empty
    target asks for nothing and gives 1.0.
    """
    target = {canonical_chord(c) for c in target_chords}
    if not target:
        return 1.0
    detected = {canonical_chord(c) for c in detected_chords}
    return len(target & detected) / len(target)


def length_match(target_seconds: float, detected_seconds: float, tol: float = 0.2) -> bool:
    """The detected length is within `tol` (relative) of the target length."""
    if target_seconds <= 0 or tol < 0:
        raise InputError(
            f"length target {target_seconds:g} with tolerance {tol:g} is not allowed: "
            "need target > 0 and tolerance >= 0"
        )
    return abs(detected_seconds - target_seconds) <= tol * target_seconds


# ---------------------------------------------------------------- per piece and per set

ROW_METRICS = (
    "tempo_bin", "tempo_bin_tolerant", "key", "key_relative", "time_signature",
    "instrument_precision", "instrument_recall", "instrument_f1",
    "family_precision", "family_recall", "family_f1", "chords", "length", "bars",
)


def _pair_metrics(target: Attributes, detected: Attributes) -> dict[str, float | bool | None]:
    """Tempo, key, meter and length metrics; a target field set but not detected is a miss."""
    row: dict[str, float | bool | None] = {}
    t, d = target, detected
    if t.tempo is not None:
        row["tempo_bin"] = d.tempo is not None and tempo_bin_match(t.tempo, d.tempo)
        row["tempo_bin_tolerant"] = d.tempo is not None and tempo_bin_tolerant(t.tempo, d.tempo)
    if t.key is not None:
        row["key"] = d.key is not None and key_match(t.key, d.key)
        row["key_relative"] = d.key is not None and key_match_relative(t.key, d.key)
    if t.time_signature is not None:
        row["time_signature"] = d.time_signature is not None and time_signature_match(
            t.time_signature, d.time_signature
        )
    if t.seconds is not None:
        row["length"] = d.seconds is not None and length_match(t.seconds, d.seconds)
    if t.bars is not None:
        row["bars"] = d.bars is not None and length_match(t.bars, d.bars)
    return row


def adherence_row(target: Attributes, detected: Attributes) -> dict[str, float | bool | None]:
    """Every metric of ROW_METRICS for one piece; None where the target leaves the field unset.

    `bars` uses the same 20 % relative tolerance as `length`. Genre and mood are not scored:
    they cannot be read off a score without a classifier.
    """
    row: dict[str, float | bool | None] = dict.fromkeys(ROW_METRICS)
    row.update(_pair_metrics(target, detected))
    if target.instruments:
        scores = instrument_scores(target.instruments, detected.instruments or ())
        for name in ("precision", "recall", "f1"):
            row[f"instrument_{name}"] = scores[name]
            row[f"family_{name}"] = scores[f"family_{name}"]
    if target.chords:
        row["chords"] = chord_match(target.chords, detected.chords or ())
    return row


def aggregate(rows: Sequence[dict[str, float | bool | None]]) -> dict[str, dict[str, float | None]]:
    """Mean of each metric over the rows where it is defined (booleans as 0/1), and that count.

    Returns {metric: {"mean": float or None when no row defines it, "n": count}}.
    """
    names = list(ROW_METRICS) + sorted({k for r in rows for k in r} - set(ROW_METRICS))
    out: dict[str, dict[str, float | None]] = {}
    for name in names:
        values = [float(v) for r in rows if (v := r.get(name)) is not None]
        out[name] = {"mean": sum(values) / len(values) if values else None, "n": len(values)}
    return out


def recall_by_origin(
    pairs: Iterable[tuple[Iterable[int], Iterable[int]]], native: Iterable[int]
) -> dict[str, float | None]:
    """Instrument recall over (target, detected) program sets, pooled over all pairs and
    reported apart for `native` programs (ones the training corpora really contain) and the
    rest (learned only from re-voiced parts). None where no target falls in a group."""
    native_set = set(native)
    hits = {"native": 0, "revoiced": 0}
    asked = {"native": 0, "revoiced": 0}
    for target, detected in pairs:
        found = set(detected)
        for program in set(target):
            group = "native" if program in native_set else "revoiced"
            asked[group] += 1
            hits[group] += program in found
    return {f"instrument_recall_{g}": (hits[g] / asked[g] if asked[g] else None) for g in hits}
