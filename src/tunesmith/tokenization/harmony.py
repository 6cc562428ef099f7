"""Per-bar chord tokens in a REMI+ stream: each bar says its harmony before its notes.

Consumes the music ids of a piece (split into bars by tokenization/infill.py) and either
the chords asked for each bar or nothing; produces the same stream with one Chord token
after each bar's Bar and TimeSig: the asked chord, or the one its notes sound (template
matching of the bar's duration-weighted pitch classes, theory.label), or Chord_N. The model
then writes a bar's notes knowing its harmony, and a progression can be given or planned
by forcing those tokens (generation/grammar.py). Pure functions on plain lists, as the
rest of tokenization; written here because miditok's chord tokens name a quality at an
onset, not a bar's root and quality.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tunesmith.theory import chord_name, label
from tunesmith.tokenization.infill import POSITIONS_PER_BEAT, Bar, duration_ticks, split_bars
from tunesmith.tokenization.tokenizer import Tokenizer
from tunesmith.tokenization.vocab import chord_token

# A whole bar's pitch classes carry passing notes and a melody a beat's do not: 0.75 of
# cosine keeps the bars a listener hears as one chord (the beat-level 0.8 left more bars of
# folk and pop tunes unlabelled; see tests/test_harmony.py for the fixtures).
BAR_MIN_SCORE = 0.75


def bar_chroma(bar: Bar, tok: Tokenizer) -> tuple[np.ndarray, int]:
    """Duration-weighted pitch classes (12,) of a bar's pitched notes, cut at the bar's end
    (token ticks: POSITIONS_PER_BEAT a beat), and its lowest pitch (128 if none)."""
    meter = next((tok.tokens[i] for i in bar.head if tok.tokens[i].startswith("TimeSig_")), "TimeSig_4/4")
    length = int(meter.split("_")[1].split("/")[0]) * POSITIONS_PER_BEAT
    chroma, lowest = np.zeros(12), 128
    for lead, notes in bar.groups:
        pos = int(tok.tokens[lead[0]].split("_")[1])
        for n in notes:
            kind, _, value = tok.tokens[n[1]].partition("_")
            if kind != "Pitch":  # PitchDrum: drums sound no harmony
                continue
            pitch = int(value)
            chroma[pitch % 12] += max(min(duration_ticks(tok.tokens[n[3]]), length - pos), 1)
            lowest = min(lowest, pitch)
    return chroma, lowest


def bar_chords(bars: Sequence[Bar], tok: Tokenizer) -> list[str | None]:
    """The chord each bar's notes sound, or None where no template fits (BAR_MIN_SCORE)."""
    if not bars:
        return []
    pairs = [bar_chroma(b, tok) for b in bars]
    chroma = np.stack([c for c, _ in pairs])
    lowest = np.array([lo for _, lo in pairs])
    return label(chroma, lowest, BAR_MIN_SCORE)


def chord_id(tok: Tokenizer, name: str | None) -> int:
    """Id of the chord token of a chord as people write it ("a#min7"), or of Chord_N."""
    return tok.vocab[chord_token(None if name is None else chord_name(name))]


def with_chords(bars: Sequence[Bar], tok: Tokenizer, chords: Sequence[str | None] | None = None) -> list[Bar]:
    """The bars, each with one Chord token after its Bar and TimeSig (any earlier one
    replaced): `chords` gives one per bar (None: no chord), else they are detected."""
    names = list(chords) if chords is not None else bar_chords(bars, tok)
    if len(names) != len(bars):
        raise ValueError(f"{len(names)} chords for {len(bars)} bars")
    out = []
    for bar, name in zip(bars, names, strict=True):
        head = [i for i in bar.head if i not in tok.chord_ids]
        out.append(Bar([*head, chord_id(tok, name)], bar.groups))
    return out


def add_chords(ids: Sequence[int], tok: Tokenizer) -> list[int]:
    """A music stream with each bar's detected chord token (the training layout)."""
    return [i for b in with_chords(split_bars(ids, tok), tok) for i in b.ids()]


def strip_chords(ids: Sequence[int], tok: Tokenizer) -> list[int]:
    """A stream without its chord tokens."""
    return [i for i in ids if i not in tok.chord_ids]
