"""Features -> a natural English caption in the style of MidiCaps (Melechovsky et al. 2024).

Template sentences with varied wording, each stating only what the features say; the
optional augmentation follows text2midi (Bhandari et al., AAAI 2025): with probability
0.5, drop 20-50 % of the sentences. All randomness comes from the caller's Generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tunesmith.attributes import DRUMS, family
from tunesmith.captions.features import Features
from tunesmith.captions.lexicon import SPOKEN_NAMES

NOUNS = ("song", "piece", "track", "composition", "tune")
GENRE_WORDS = {"hiphop": "hip hop"}

OPENINGS = (
    "{A} {desc} {noun} featuring {instr}.",
    "This {desc} {noun} features {instr}.",
    "Here is {a} {desc} {noun} performed by {instr}.",
    "The {noun} is {a} {desc} arrangement for {instr}.",
    "{A} {desc} {noun} with {instr}.",
    "{Plain} play{s} this {desc} {noun}.",
)
TEMPO = (
    "It is played at the pace of {bpm} beats per minute, {a_word} tempo.",
    "The tempo is {word}, at {bpm} bpm.",
    "It moves at {bpm} beats per minute ({word}).",
    "The {noun} keeps {a_word} pace of {bpm} bpm.",
)
KEY = (
    "The {noun} is in {key}.",
    "It is set in the key of {key}.",
    "Its key is {key}.",
    "The music is written in {key}.",
)
TEMPO_KEY = (
    "It is played at {bpm} beats per minute in the key of {key}.",
    "Set in {key}, it moves at {bpm} bpm, {a_word} pace.",
)
METER = (
    "The time signature is {ts}.",
    "It is in {ts} time.",
    "The rhythm follows a {ts} meter.",
)
CHORDS = (
    "It often revolves around the chords of {chords}.",
    "The chord progression {chords} recurs throughout.",
    "The harmony cycles through {chords}.",
    "Its main chord progression is {chords}.",
)
LENGTH = (
    "At {length}, it is a {dword} {noun}.",
    "The {noun} is {dword}, lasting {length}.",
    "It lasts {length}.",
)


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _join(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def instrument_phrase(program: int, name: str) -> str:
    """'a piano', 'an electric bass', 'drums', 'an atmosphere synth effect'.

    GM names that read as ordinary words ("Rain") take their spoken form, which is
    what the parser recognises."""
    if program == DRUMS:
        return "drums"
    return _article(SPOKEN_NAMES.get(program, name.lower()))


def _article(text: str) -> str:
    return ("an " if text[:1].lower() in ("a", "e", "i", "o", "u") else "a ") + text


def _instruments(f: Features, rng: np.random.Generator) -> str:
    phrases = [instrument_phrase(p, n) for p, n in zip(f.programs, f.instruments, strict=True)]
    if not phrases:
        return "no instruments"
    if DRUMS in f.programs and len(phrases) > 1 and rng.random() < 0.5:
        # MidiCaps often closes the list with the rhythm section.
        rhythm = [p for p, prog in zip(phrases, f.programs, strict=True)
                  if prog == DRUMS or family(prog) == "bass"]
        others = [p for p in phrases if p not in rhythm]
        if others:
            return _join(others) + ", with " + _join(rhythm) + " giving rhythm"
    return _join(phrases)


def _description(f: Features) -> str:
    words = [w for w in (f.mood, GENRE_WORDS.get(f.genre or "", f.genre)) if w]
    return " ".join(words) if words else "instrumental"


def _length(seconds: float, bars: int) -> str:
    s = round(seconds)
    if s < 60:
        text = f"about {s} seconds"
    else:
        m, rest = divmod(s, 60)
        text = f"about {m} minute{'s' if m > 1 else ''}"
        text += f" and {rest} seconds" if rest else ""
    return text + (f" ({bars} bars)" if bars > 0 else "")


def sentences(f: Features, rng: np.random.Generator) -> list[str]:
    """The caption's sentences: an opening, then tempo, key, meter, chords and length."""
    noun = _pick(rng, NOUNS)
    instr = _instruments(f, rng)
    plural = len(f.programs) != 1 or DRUMS in f.programs
    desc = _description(f)
    a = _article(desc).split(" ")[0]
    plain = _join([instrument_phrase(p, n) for p, n in zip(f.programs, f.instruments, strict=True)])
    plain = plain or "no instruments"
    opening = _pick(rng, OPENINGS).format(
        desc=desc, noun=noun, instr=instr, a=a, A=a.capitalize(),
        Plain=plain[:1].upper() + plain[1:], s="" if plural else "s",
    )
    values = {"bpm": round(f.tempo), "word": f.tempo_word, "a_word": _article(f.tempo_word),
              "key": f.key, "noun": noun,
              "ts": f.time_signature, "chords": _join(list(f.chords)),
              "length": _length(f.duration_s, f.bars), "dword": f.duration_word}
    body: list[str] = []
    if f.key is not None and rng.random() < 0.3:
        body.append(_pick(rng, TEMPO_KEY).format(**values))
    else:
        body.append(_pick(rng, TEMPO).format(**values))
        if f.key is not None:
            body.append(_pick(rng, KEY).format(**values))
    body.append(_pick(rng, METER).format(**values))
    if f.chords:
        body.append(_pick(rng, CHORDS).format(**values))
    if f.duration_s > 0:
        body.append(_pick(rng, LENGTH).format(**values))
    order = rng.permutation(len(body))
    return [opening] + [body[i] for i in order]


def augment_sentences(parts: list[str], rng: np.random.Generator) -> list[str]:
    """text2midi's caption augmentation: half of the time, drop 20-50 % of the sentences
    (at least one when dropping, never all), keeping the order of the rest."""
    if len(parts) < 2 or rng.random() >= 0.5:
        return parts
    n_drop = int(len(parts) * rng.uniform(0.2, 0.5))
    n_drop = min(max(n_drop, 1), len(parts) - 1)
    dropped = set(rng.choice(len(parts), size=n_drop, replace=False).tolist())
    return [p for i, p in enumerate(parts) if i not in dropped]


def caption(features: Features, rng: np.random.Generator, augment: bool = False) -> str:
    """A MidiCaps-style caption of `features`; `augment` drops sentences as text2midi does."""
    parts = sentences(features, rng)
    if augment:
        parts = augment_sentences(parts, rng)
    return " ".join(parts)
