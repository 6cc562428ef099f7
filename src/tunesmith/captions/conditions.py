"""Condition token ids -> a short English caption (the text of a training window).

Consumes the condition ids a window keeps after attribute dropout; produces a caption that
states exactly those attributes and nothing else, so a soft text prefix (model/prefix.py)
never learns from an attribute the header dropped. Hand-written because training windows
carry condition ids only; wording varies with the caller's Generator, in two styles: one
line, and MidiCaps-like sentences (the style of the evaluation prompts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tunesmith.attributes import DRUMS, INSTRUMENT_NAMES, tempo_of_word
from tunesmith.captions.caption import GENRE_WORDS, NOUNS, _article, _join
from tunesmith.captions.lexicon import SPOKEN_NAMES
from tunesmith.tokenization import Tokenizer


@dataclass
class _Conds:
    key: str | None = None
    meter: str | None = None
    tempo_word: str | None = None
    genre: str | None = None
    mood: str | None = None
    bars: int | None = None
    programs: list[int] = field(default_factory=list)


def _read(tokens: Sequence[str]) -> _Conds:
    """Attributes of condition tokens (the inverse of vocab.header_tokens)."""
    c = _Conds()
    for t in tokens:
        kind, _, value = t.partition("_")
        if kind == "Key":
            c.key = f"{value[:-3]} {'major' if value.endswith('maj') else 'minor'}"
        elif kind == "TimeSigCond":
            c.meter = value
        elif kind == "TempoCond":
            c.tempo_word = value
        elif kind == "Genre":
            c.genre = GENRE_WORDS.get(value, value)
        elif kind == "Mood":
            c.mood = value
        elif kind == "Bars":
            c.bars = int(value)
        elif kind == "Inst":
            c.programs.append(DRUMS if value == "drums" else int(value))
    return c


def _instrument(program: int) -> str:
    if program == DRUMS:
        return "drums"
    return SPOKEN_NAMES.get(program, INSTRUMENT_NAMES[program].lower())


def _tempo(word: str, rng: np.random.Generator | None) -> str:
    bpm = round(tempo_of_word(word))
    options = (f"at about {bpm} bpm", f"at {_article(word.lower())} tempo", f"at {bpm} beats per minute")
    return options[_choice(rng, len(options))]


def _choice(rng: np.random.Generator | None, n: int) -> int:
    return 0 if rng is None else int(rng.integers(n))


def _one_line(c: _Conds, noun: str, rng: np.random.Generator | None) -> str:
    """'A pop piece in A minor at about 100 bpm in 4/4 for piano and drums, happy mood, 8 bars.'"""
    desc = " ".join(w for w in (c.genre, noun) if w)
    parts = [_article(desc)[:1].upper() + _article(desc)[1:]]
    if c.key:
        parts.append(f"in {c.key}")
    if c.tempo_word:
        parts.append(_tempo(c.tempo_word, rng))
    if c.meter:
        parts.append(f"in {c.meter}")
    if c.programs:
        parts.append("for " + _join([_instrument(p) for p in c.programs]))
    extras = [f"{c.mood} mood" if c.mood else "", f"{c.bars} bars" if c.bars else ""]
    return ", ".join([" ".join(parts), *[e for e in extras if e]]) + "."


def _sentences(c: _Conds, noun: str, rng: np.random.Generator | None) -> str:
    """'A happy pop song featuring piano and drums. The tempo is Allegro, at 125 bpm. ...'"""
    desc = " ".join(w for w in (c.mood, c.genre, noun) if w)
    first = _article(desc)
    if c.programs:
        first += " featuring " + _join([_instrument(p) for p in c.programs])
    out = [first[:1].upper() + first[1:] + "."]
    if c.tempo_word:
        out.append(f"The tempo is {c.tempo_word}, at {round(tempo_of_word(c.tempo_word))} bpm.")
    if c.key:
        out.append(f"The {noun} is in {c.key}.")
    if c.meter:
        out.append(f"The time signature is {c.meter}.")
    if c.bars:
        out.append(f"It lasts {c.bars} bars.")
    return " ".join(out)


def caption_for(tok: Tokenizer, cond_ids: Sequence[int], rng: np.random.Generator | None = None) -> str:
    """A caption stating the attributes of `cond_ids` only; "" when there are none. Without
    `rng` the wording is fixed (one line, "piece"), as for validation windows."""
    c = _read(tok.to_tokens(list(cond_ids)))
    if c == _Conds():
        return ""
    noun = "piece" if rng is None else NOUNS[_choice(rng, len(NOUNS))]
    style = _sentences if _choice(rng, 2) else _one_line
    return style(c, noun, rng)
