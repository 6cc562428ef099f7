"""Condition token ids -> a short English caption (the text of a training window).

Consumes the condition ids a window keeps after attribute dropout; produces a caption that
states exactly those attributes and nothing else, so a soft text prefix (model/prefix.py)
never learns from an attribute the header dropped. Hand-written because training windows
carry condition ids only; wording varies with the caller's Generator, in two styles: one
line, and MidiCaps-like sentences (the style of the evaluation prompts).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tunesmith.attributes import DRUMS, INSTRUMENT_NAMES, Attributes, tempo_word
from tunesmith.captions.caption import GENRE_WORDS, NOUNS, _article, _join
from tunesmith.captions.lexicon import SPOKEN_NAMES
from tunesmith.tokenization import Tokenizer


def _instrument(program: int) -> str:
    if program == DRUMS:
        return "drums"
    return SPOKEN_NAMES.get(program, INSTRUMENT_NAMES[program].lower())


def _tempo(tempo: float, rng: np.random.Generator | None) -> str:
    bpm, word = round(tempo), tempo_word(tempo)
    options = (f"at about {bpm} bpm", f"at {_article(word.lower())} tempo", f"at {bpm} beats per minute")
    return options[_choice(rng, len(options))]


def _choice(rng: np.random.Generator | None, n: int) -> int:
    return 0 if rng is None else int(rng.integers(n))


def _genre(a: Attributes) -> str | None:
    return GENRE_WORDS.get(a.genre, a.genre) if a.genre else None


def _one_line(c: Attributes, noun: str, rng: np.random.Generator | None) -> str:
    """'A pop piece in A minor at about 100 bpm in 4/4 for piano and drums, happy mood, 8 bars.'"""
    desc = " ".join(w for w in (_genre(c), noun) if w)
    parts = [_article(desc)[:1].upper() + _article(desc)[1:]]
    if c.key:
        parts.append(f"in {c.key}")
    if c.tempo is not None:
        parts.append(_tempo(c.tempo, rng))
    if c.time_signature:
        parts.append(f"in {c.time_signature}")
    if c.instruments:
        parts.append("for " + _join([_instrument(p) for p in c.instruments]))
    extras = [f"{c.mood} mood" if c.mood else "", f"{c.bars} bars" if c.bars else ""]
    return ", ".join([" ".join(parts), *[e for e in extras if e]]) + "."


def _sentences(c: Attributes, noun: str, rng: np.random.Generator | None) -> str:
    """'A happy pop song featuring piano and drums. The tempo is Allegro, at 125 bpm. ...'"""
    desc = " ".join(w for w in (c.mood, _genre(c), noun) if w)
    first = _article(desc)
    if c.instruments:
        first += " featuring " + _join([_instrument(p) for p in c.instruments])
    out = [first[:1].upper() + first[1:] + "."]
    if c.tempo is not None:
        out.append(f"The tempo is {tempo_word(c.tempo)}, at {round(c.tempo)} bpm.")
    if c.key:
        out.append(f"The {noun} is in {c.key}.")
    if c.time_signature:
        out.append(f"The time signature is {c.time_signature}.")
    if c.bars:
        out.append(f"It lasts {c.bars} bars.")
    return " ".join(out)


def caption_for(tok: Tokenizer, cond_ids: Sequence[int], rng: np.random.Generator | None = None) -> str:
    """A caption stating the attributes of `cond_ids` only; "" when there are none. Without
    `rng` the wording is fixed (one line, "piece"), as for validation windows."""
    c = tok.attributes(cond_ids)
    if c == Attributes():
        return ""
    noun = "piece" if rng is None else NOUNS[_choice(rng, len(NOUNS))]
    style = _sentences if _choice(rng, 2) else _one_line
    return style(c, noun, rng)
