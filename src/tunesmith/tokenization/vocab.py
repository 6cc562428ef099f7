"""Conditioning, control and infilling tokens that extend miditok's REMI+ vocabulary.

They are miditok special tokens, so they sit at fixed ids at the start of the vocabulary
from day one (a later checkpoint never sees ids shift). Global attributes follow MIDI-LLM /
text2midi; per-bar controls and single-section infilling markers follow MIDI-RWKV.
"""

from __future__ import annotations

from collections.abc import Sequence

from tunesmith.attributes import (
    BAR_BINS,
    DENSITY_MAX,
    DRUMS,
    GENRES,
    KEYS,
    MOODS,
    PART_ROLES,
    TEMPO_WORDS,
    TIME_SIGNATURES,
    Attributes,
    bar_bin,
    tempo_of_word,
    tempo_word,
)
from tunesmith.theory import TEMPLATE_NAMES

BASE_SPECIALS = ("PAD", "BOS", "EOS", "CondEnd")
# Infilling: FillBar marks a bar of the context whose notes of the chosen track were moved
# out; FillStart <Program> <bars...> FillEnd holds them at the end, after the context.
FILL_TOKENS = ("FillBar", "FillStart", "FillEnd")
POLY_MAX = 6
DURATION_CLASSES = ("Whole", "Half", "Quarter", "Eighth", "Sixteenth")
NO_CHORD = "Chord_N"  # a bar with no clear chord (a lone melody, drums only)


def key_token(key: str) -> str:
    pc, mode = key.split(" ")
    return f"Key_{pc}{'maj' if mode == 'major' else 'min'}"


def _key_of_token(value: str) -> str:
    return f"{value[:-3]} {'major' if value.endswith('maj') else 'minor'}"


def inst_token(program: int) -> str:
    return "Inst_drums" if program == DRUMS else f"Inst_{program}"


def condition_tokens() -> list[str]:
    toks = [key_token(k) for k in KEYS]
    toks += [f"TimeSigCond_{ts}" for ts in TIME_SIGNATURES]
    toks += [f"TempoCond_{w}" for w in TEMPO_WORDS]
    toks += [f"Genre_{g}" for g in GENRES]
    toks += [f"Mood_{m}" for m in MOODS]
    toks += [f"Bars_{b}" for b in BAR_BINS]
    toks += [inst_token(p) for p in range(DRUMS + 1)]
    return toks


def control_tokens() -> list[str]:
    toks = [f"Density_{i}" for i in range(DENSITY_MAX + 1)]
    toks += [f"PolyMin_{i}" for i in range(POLY_MAX + 1)]  # 0 only for an empty bar
    toks += [f"PolyMax_{i}" for i in range(POLY_MAX + 1)]
    toks += [f"Dur{name}_{flag}" for name in DURATION_CLASSES for flag in (0, 1)]
    return toks


def chord_token(name: str | None) -> str:
    """The per-bar chord token of a chord as theory's templates spell it ("F#m7"), or NO_CHORD."""
    return NO_CHORD if name is None else f"Chord_{name}"


def chord_tokens() -> list[str]:
    """Every per-bar chord token: no chord, then each template (12 roots x CHORD_TYPES). They
    extend the vocabulary after miditok's tokens (tokenizer.py), so older ids keep their meaning."""
    return [NO_CHORD, *(chord_token(n) for n in TEMPLATE_NAMES)]


def role_token(role: str) -> str:
    return f"Role_{role}"


def role_tokens() -> list[str]:
    """A part's role, said after its Inst token in the header (attributes.PART_ROLES). They
    extend the vocabulary after the chord tokens, so older ids keep their meaning."""
    return [role_token(r) for r in PART_ROLES]


def special_tokens() -> list[str]:
    return [*BASE_SPECIALS, *FILL_TOKENS, *condition_tokens(), *control_tokens()]


def header_tokens(attrs: Attributes) -> list[str]:
    """The condition tokens of a set of attributes, in the fixed order the model sees them."""
    toks: list[str] = []
    if attrs.key:
        toks.append(key_token(attrs.key))
    if attrs.time_signature:
        toks.append(f"TimeSigCond_{attrs.time_signature}")
    if attrs.tempo is not None:
        toks.append(f"TempoCond_{tempo_word(attrs.tempo)}")
    if attrs.genre:
        toks.append(f"Genre_{attrs.genre}")
    if attrs.mood:
        toks.append(f"Mood_{attrs.mood}")
    if attrs.bars is not None:
        toks.append(f"Bars_{bar_bin(attrs.bars)}")
    if attrs.instruments:
        roles, densities = dict(attrs.roles or ()), dict(attrs.densities or ())
        for p in sorted(set(attrs.instruments)):
            toks.append(inst_token(p))
            if p in roles:
                toks.append(role_token(roles[p]))
            if p in densities:  # the per-bar control's token, here the part's notes a bar over the piece
                toks.append(f"Density_{densities[p]}")  # validated 0..DENSITY_MAX
    return toks


def header_attributes(tokens: Sequence[str]) -> Attributes:
    """The attributes condition tokens state: the inverse of `header_tokens` (other tokens
    are skipped). Bins come back as one value each: a tempo word as the middle of its bin
    (`tempo_of_word`), a bar bin as its upper bound; so header_tokens(header_attributes(t))
    gives `t` back."""
    fields: dict[str, object] = {}
    programs: list[int] = []
    roles: list[tuple[int, str]] = []
    densities: list[tuple[int, int]] = []
    for t in tokens:
        kind, _, value = t.partition("_")
        if kind == "Key":
            fields["key"] = _key_of_token(value)
        elif kind == "TimeSigCond":
            fields["time_signature"] = value
        elif kind == "TempoCond":
            fields["tempo"] = tempo_of_word(value)
        elif kind in ("Genre", "Mood"):
            fields[kind.lower()] = value
        elif kind == "Bars":
            fields["bars"] = int(value)
        elif kind == "Inst":
            programs.append(DRUMS if value == "drums" else int(value))
        elif kind == "Role" and programs:
            roles.append((programs[-1], value))
        elif kind == "Density" and programs:
            densities.append((programs[-1], int(value)))
    return Attributes(**fields, instruments=tuple(programs) or None,  # type: ignore[arg-type]
                      roles=tuple(roles) or None, densities=tuple(densities) or None)
