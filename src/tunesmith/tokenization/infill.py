"""Single-section infilling on REMI+ token lists (MIDI-RWKV / MIDI-GPT style).

Consumes the music ids of a piece (one REMI+ stream: Bar, TimeSig, Position, Tempo, and
notes as Program Pitch Velocity Duration) and a gap: one track's notes in bars
[first, first + n). Produces the context, with that track's notes of the gap taken out and
each emptied bar marked FillBar, and the fill: FillStart Program_p, then for each gap bar
Bar TimeSig [Chord] [controls] and the notes of that track, then FillEnd. The model reads the
context (before and after the gap) and writes the fill. Pure functions on plain lists, in
the style of anticipation's ops; written here because miditok's infilling works on scores
with its own attribute controls (see controls.py for why ours differ).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tunesmith.tokenization.controls import bar_controls
from tunesmith.tokenization.tokenizer import Tokenizer

NOTE_LEN = 4  # Program, Pitch|PitchDrum, Velocity, Duration
POSITIONS_PER_BEAT = 8  # the tokenizer's grid, for controls measured on tokens


@dataclass(frozen=True)
class Gap:
    """One track (its Program token's value: a GM program, -1 for drums) over bars
    [first, first + n) of a token stream."""

    program: int
    first: int
    n: int


@dataclass(frozen=True)
class Bar:
    """A bar of a stream: its opening tokens (Bar, TimeSig, and its Chord when the stream
    says chords) and its position groups, each
    (Position and Tempo tokens, [notes of 4 ids])."""

    head: list[int]
    groups: list[tuple[list[int], list[list[int]]]]

    def ids(self) -> list[int]:
        out = list(self.head)
        for lead, notes in self.groups:
            if notes or len(lead) > 1:  # a Position with neither notes nor tempo says nothing
                out += lead
                for n in notes:
                    out += n
        return out


def split_bars(ids: Sequence[int], tok: Tokenizer) -> list[Bar]:
    """The bars of a music stream (tokens before the first Bar are dropped: REMI+ has none)."""
    kind = [tok.tokens[i].split("_", 1)[0] for i in ids]
    bars: list[Bar] = []
    i = 0
    while i < len(ids):
        if kind[i] == "Bar":
            bars.append(Bar([ids[i]], []))
        elif not bars:
            pass
        elif kind[i] in ("TimeSig", "Chord") and not bars[-1].groups:
            bars[-1].head.append(ids[i])
        elif kind[i] == "Position":
            bars[-1].groups.append(([ids[i]], []))
        elif kind[i] == "Tempo" and bars[-1].groups:
            bars[-1].groups[-1][0].append(ids[i])
        elif kind[i] == "Program" and bars[-1].groups and i + NOTE_LEN <= len(ids):
            bars[-1].groups[-1][1].append(list(ids[i:i + NOTE_LEN]))
            i += NOTE_LEN
            continue
        i += 1
    return bars


def programs_of(bars: Sequence[Bar], tok: Tokenizer) -> list[int]:
    """Program values (GM program, -1 drums) that play in the bars, in order of first note."""
    seen: dict[int, None] = {}
    for bar in bars:
        for _, notes in bar.groups:
            for n in notes:
                seen.setdefault(int(tok.tokens[n[0]].split("_")[1]), None)
    return list(seen)


def plays_in(bars: Sequence[Bar], program: int, tok: Tokenizer) -> int:
    """How many of the bars hold a note of one track (its Program value)."""
    prog_id = tok.vocab[f"Program_{program}"]
    return sum(any(n[0] == prog_id for _, notes in b.groups for n in notes) for b in bars)


def keep_track(bars: Sequence[Bar], program: int, tok: Tokenizer) -> list[int]:
    """The music stream of `bars` (split_bars) with only one track's notes (its Program value:
    GM program, -1 drums); every bar stays, with its head (TimeSig, Chord), so the length and
    harmony are kept."""
    prog_id = tok.vocab[f"Program_{program}"]
    kept = [Bar(b.head, [(lead, [n for n in notes if n[0] == prog_id]) for lead, notes in b.groups])
            for b in bars]
    return [i for b in kept for i in b.ids()]


def controls_of(notes: Sequence[list[int]], positions: Sequence[int], tok: Tokenizer) -> list[str]:
    """Per-bar control tokens (density, polyphony, duration classes) of one track's notes,
    measured on the token grid (positions_per_beat ticks per quarter)."""
    pairs = [(pos, duration_ticks(tok.tokens[n[3]])) for n, pos in zip(notes, positions, strict=True)]
    return bar_controls(pairs, POSITIONS_PER_BEAT).tokens()


def duration_ticks(token: str) -> int:
    """Ticks of a Duration token on the token grid (POSITIONS_PER_BEAT a beat): "Duration_1.4.8" -> 12."""
    beats, pos, res = (int(x) for x in token.split("_")[1].split("."))
    return beats * POSITIONS_PER_BEAT + pos * POSITIONS_PER_BEAT // res


def make_infill(ids: Sequence[int], gap: Gap, tok: Tokenizer, controls: float = 0.0,
                rng: np.random.Generator | None = None) -> tuple[list[int], list[int]]:
    """(context, fill) of a music stream for one gap. `controls` is the chance that a fill
    bar states its controls (each bar drawn apart, so "no preference" is learned too)."""
    bars = split_bars(ids, tok)
    if not 0 <= gap.first < gap.first + gap.n <= len(bars):
        raise ValueError(f"gap bars {gap.first}..{gap.first + gap.n - 1} outside 0..{len(bars) - 1}")
    prog_id = tok.vocab[f"Program_{gap.program}"]
    fill = [tok.id("FillStart"), prog_id]
    context: list[int] = []
    for b, bar in enumerate(bars):
        if not gap.first <= b < gap.first + gap.n:
            context += bar.ids()
            continue
        # a gap bar's chord is said in the fill, not the context: the fill decides the harmony
        # of bars it writes (or is held to asked chords), and a continuation has none to read
        head = [i for i in bar.head if i not in tok.chord_ids]
        kept = Bar(head + [tok.id("FillBar")], [(lead, [n for n in notes if n[0] != prog_id])
                                                for lead, notes in bar.groups])
        context += kept.ids()
        fill += bar.head  # Bar and its TimeSig (and Chord), as every bar of the stream opens
        moved = [(lead[0], [n for n in notes if n[0] == prog_id]) for lead, notes in bar.groups]
        if rng is not None and rng.random() < controls:
            notes = [n for _, ns in moved for n in ns]
            positions = [int(tok.tokens[p].split("_")[1]) for p, ns in moved for _ in ns]
            fill += tok.ids(controls_of(notes, positions, tok))
        for pos, notes in moved:
            if notes:
                fill.append(pos)
                for n in notes:
                    fill += n
    fill.append(tok.id("FillEnd"))
    return context, fill


def random_gap(bars: Sequence[Bar], tok: Tokenizer, rng: np.random.Generator,
               track_prob: float = 0.25, max_bars: int = 4) -> Gap | None:
    """A gap as MIDI-RWKV samples them: a whole track with chance `track_prob`, else 1 to
    `max_bars` bars of one track; None when nothing plays."""
    programs = programs_of(bars, tok)
    if not programs or not bars:
        return None
    program = programs[int(rng.integers(len(programs)))]
    if rng.random() < track_prob:
        return Gap(program, 0, len(bars))
    n = int(rng.integers(1, min(max_bars, len(bars)) + 1))
    return Gap(program, int(rng.integers(0, len(bars) - n + 1)), n)


def fill_bars(fill: Sequence[int], tok: Tokenizer) -> list[int]:
    """The music of a fill (FillStart Program ... FillEnd) as a REMI+ stream of its bars
    (controls dropped), ready for the tokenizer's decoder."""
    body = list(fill)
    if body and body[0] == tok.id("FillStart"):
        body = body[2:]
    end = tok.id("FillEnd")
    body = body[: body.index(end)] if end in body else body
    return [i for i in body if tok.is_music(i)]
