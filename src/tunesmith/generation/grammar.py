"""The REMI+ token grammar as a state machine, so sampling can only produce valid MIDI.

Consumes the tokenizer's vocabulary and the requested constraints; for each sequence it
tracks bar, position, time signature and program, and gives the boolean mask of tokens
allowed next: no note without a position, time never runs backwards, only the requested
programs, one time signature and tempo as requested, EOS exactly at the requested bar
count, and (with a chord vocabulary) each bar's asked chord after its TimeSig.
Hand-written because miditok validates sequences after the fact, not during sampling.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from tunesmith.attributes import DENSITY_MAX, DRUMS, told_density, voices
from tunesmith.theory import is_fill
from tunesmith.tokenization import Tokenizer

MAX_ONSETS_PER_POSITION = 16  # more notes starting together is noise, not music
DEFAULT_BPM = 120.0  # what a piece without a Tempo token decodes to (miditok's default)


@dataclass(frozen=True)
class Constraints:
    programs: tuple[int, ...] | None = None  # GM programs (DRUMS for the kit); None = any
    time_signature: str | None = None  # "3/4"; None = the model chooses, then keeps it
    tempo: float | None = None  # bpm, sampled as the nearest Tempo token; None = the model chooses
    bars: int | None = None  # stop after exactly this many bars
    max_bars: int = 128
    # asked length in seconds with a tempo the model picks: `bars` is then re-derived from
    # the sampled tempo, so a slow piece gets fewer bars and the length still holds
    seconds: float | None = None
    # chord token ids a bar, cycling (tokenization/harmony.chord_id); None = the model's choice
    chords: tuple[int, ...] | None = None
    # (program, notes a bar) a part is held near under texture "held" (Attributes.densities:
    # a lead at most 5, a lone chord part its family's and a lead's); others keep their family's
    densities: tuple[tuple[int, int], ...] | None = None


class Vocab:
    """Precomputed masks and token facts for one tokenizer (one per tokenizer: `Vocab.of`)."""

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def of(tok: Tokenizer) -> Vocab:
        return Vocab(tok)

    def __init__(self, tok: Tokenizer) -> None:
        self.tok = tok
        self.size = len(tok)
        self.type_of = [t.split("_", 1)[0] for t in tok.tokens]
        self.value_of = [t.split("_", 1)[1] if "_" in t else "" for t in tok.tokens]
        self.type_mask = {
            typ: self.mask(tok.ids_of_type(typ))
            for typ in ("Bar", "TimeSig", "Chord", "Position", "Tempo", "Program", "Pitch", "PitchDrum",
                        "Velocity", "Duration")
        }
        self.has_chords = bool(tok.chord_ids)
        self.type_mask["EOS"] = self.mask([tok.eos_id])
        self.position_ids = sorted(tok.ids_of_type("Position"), key=lambda i: int(self.value_of[i]))
        self.bar_ids = tok.ids_of_type("Bar")
        self.drums_id = tok.program_id(DRUMS)
        self.ppb = tok.remi.config.beat_res[(0, 4)]
        self.program_of = {i: tok.program_of(i) for i in tok.ids_of_type("Program")}  # GM, DRUMS
        self.drum_key = {i: int(self.value_of[i]) for i in tok.ids_of_type("PitchDrum")}
        self.cache: dict[tuple, tuple[Tensor, np.ndarray]] = {}  # state -> allowed mask and ids

    def mask(self, ids: list[int]) -> Tensor:
        m = torch.zeros(self.size, dtype=torch.bool)
        m[ids] = True
        return m


THIN_SLACK = 2  # notes a part may run ahead of an even spread over the bar before it is thinned
CHORD_STACK = 3  # notes of a chord at one onset that are never thinned (see completing_chord)


class SequenceGrammar:
    """Grammar state of one sequence being sampled."""

    def __init__(self, vocab: Vocab, c: Constraints) -> None:
        self.v, self.c = vocab, c
        self.last = "CondEnd"
        self.bars = 0
        self.pos = -1
        self.numerator = 4
        self.quarters_per_bar = 4.0
        self.bar_target = c.bars  # may change once the tempo is known (Constraints.seconds)
        self.program: int | None = None
        self.notes = 0
        self.at_position = 0  # notes started at the current position
        self.started: dict[int, int] = {}  # notes each program started at the current position
        self.voiced: frozenset[int] = frozenset()  # programs out of voices at this position
        self.in_bar: set[int] = set()  # programs that played in the current bar
        self.bar_onsets: dict[int, int] = {}  # notes each pitched program started in the current bar
        # drum hits as {position: {PitchDrum id}} of the current bar and of the groove to
        # echo: the previous bar, or the one before a fill (a drummer comes back to the groove)
        self.drum_hits: dict[int, set[int]] = {}
        self.last_bar_hits: dict[int, set[int]] = {}
        self.tempo_done = False
        self.chorded: bool | None = None  # the first bar said a chord (then every bar does)
        self.fixed_ts: str | None = c.time_signature
        self.done = False
        self.masked_steps = 0
        self.steps = 0

    def allowed(self) -> Tensor:
        v, tm = self.v, self.v.type_mask
        if self.done:
            return tm["EOS"]
        nxt = {
            "CondEnd": ("Bar",), "Bar": ("TimeSig",), "TimeSig": self._after_meter(),
            "Chord": ("Position", "Bar", "EOS"),
            "Position": ("Tempo", "Program"), "Tempo": ("Program",), "Pitch": ("Velocity",),
            "PitchDrum": ("Velocity",), "Velocity": ("Duration",),
            "Duration": ("Program", "Position", "Bar", "EOS"),
        }.get(self.last, ("EOS",))
        if self.last == "Program":
            nxt = ("PitchDrum",) if self.program == DRUMS else ("Pitch",)
        m = torch.zeros(v.size, dtype=torch.bool)
        for typ in nxt:
            m |= self._type_allowed(typ)
        if not m.any():  # nothing fits (e.g. last position of a full bar): close the bar
            m = self._type_allowed("Bar") | self._type_allowed("EOS")
        return m if m.any() else tm["EOS"]

    def _after_meter(self) -> tuple[str, ...]:
        """What may follow a bar's TimeSig: its asked chord only, or with a chord vocabulary a
        chord of the model's choice in every bar or in none, as the first bar chose (a training
        window says all its bars' chords or none)."""
        if not self.v.has_chords or self.chorded is False:
            return ("Position", "Bar", "EOS")
        if self.c.chords or self.chorded:
            return ("Chord",)
        return ("Chord", "Position", "Bar", "EOS")

    def _type_allowed(self, typ: str) -> Tensor:
        v, c = self.v, self.c
        if typ == "Chord" and c.chords:
            return v.mask([c.chords[(self.bars - 1) % len(c.chords)]])
        if typ == "Bar":
            limit = self.bar_target if self.bar_target is not None else c.max_bars
            return v.type_mask["Bar"] if self.bars < limit else v.mask([])
        if typ == "EOS":
            ok = self.notes > 0 and (self.bar_target is None or self.bars >= self.bar_target)
            return v.type_mask["EOS"] if ok else v.mask([])
        if typ == "TimeSig":
            return v.mask([v.tok.vocab[f"TimeSig_{self.fixed_ts}"]]) if self.fixed_ts else v.type_mask[typ]
        if typ == "Position":
            hi = self.numerator * v.ppb
            return v.mask([i for i in v.position_ids[self.pos + 1 : hi]])
        if typ == "Tempo":
            if self.tempo_done:
                return v.mask([])
            return v.mask([v.tok.tempo_id(c.tempo)]) if c.tempo is not None else v.type_mask[typ]
        if typ == "Program":
            if self.at_position >= MAX_ONSETS_PER_POSITION:
                return v.mask([])
            if c.programs is None and not self.voiced:
                return v.type_mask[typ]
            programs = v.program_of.values() if c.programs is None else c.programs
            return v.mask([v.tok.program_id(p) for p in programs if p not in self.voiced])
        return v.type_mask[typ]

    def groove_echo(self) -> list[int]:
        """Drum keys to raise so that the drums, where they play at a position the groove bar
        (the previous bar, or the last one before a fill) hit, play its keys there again (those
        not yet hit). Only the keys: pushing the drums onto every position the groove hit
        also made the drums fill each position first and the other parts fall silent
        (pitched notes a bar 22 -> 7 on drum prompts), so where the drums play stays the
        model's choice."""
        if self.done or self.last != "Program" or self.program != DRUMS:
            return []
        return sorted(self.last_bar_hits.get(self.pos, set()) - self.drum_hits.get(self.pos, set()))

    def _drum_fill(self) -> bool:
        """The bar just written is a drum fill (theory.is_fill)."""
        return bool(self.drum_hits) and is_fill(
            {pos: {self.v.drum_key[i] for i in ids} for pos, ids in self.drum_hits.items()})

    def in_drum_note(self) -> bool:
        """The next token is part of a drum hit (its key, velocity or duration)."""
        return self.program == DRUMS and self.last in ("Program", "PitchDrum", "Velocity")

    def must_tempo(self) -> bool:
        """The first position of a piece carries the requested tempo."""
        return self.c.tempo is not None and not self.tempo_done and self.last == "Position"

    def missing_programs(self) -> list[int]:
        """Requested programs that have not played in this bar yet, when a Program may come."""
        if self.c.programs is None or self.last not in ("Position", "Tempo", "Duration"):
            return []
        return [p for p in self.c.programs if p not in self.in_bar]

    def target(self, program: int) -> int | None:
        """The notes a bar `program` is told (attributes.told_density of Constraints.densities)."""
        return told_density(program, self.c.densities)

    def told(self, program: int) -> int | None:
        """The notes a bar `program` is held near under texture "held" (`target`); None for the
        drums or "that many or more" (DENSITY_MAX)."""
        target = self.target(program)
        return target if target is not None and target < DENSITY_MAX else None

    def excess(self, program: int, positions: np.ndarray) -> np.ndarray:
        """How many notes a note of `program` at each of `positions` (0-based in the bar) would
        run past its told notes a bar spread evenly over the bar, THIN_SLACK notes ahead allowed
        but never past the count: a part that has played its share early rests, where a count
        alone would leave the rest of the bar empty."""
        target = self.told(program)
        if target is None:
            return np.zeros(len(positions), np.float32)
        share = np.minimum(target, THIN_SLACK + target * (positions + 1) / (self.numerator * self.v.ppb))
        return np.maximum(0.0, self.bar_onsets.get(program, 0) + 1 - share).astype(np.float32)

    def over_density(self) -> list[tuple[int, float]]:
        """(program, notes past its even share, `excess`) of the parts that would run past it
        with another note at the current position, when a Program may come."""
        if self.last not in ("Position", "Tempo", "Duration"):
            return []
        at = np.array([max(self.pos, 0)])
        return [(p, float(e[0])) for p in self.bar_onsets
                if not self.completing_chord(p) and (e := self.excess(p, at))[0] > 0]

    def completing_chord(self, program: int) -> bool:
        """Whether a note of `program` here would add to a chord it has begun at this onset and
        that is still under CHORD_STACK notes: a comping part thins by fewer onsets, not by
        thinner chords (band piano chord parts play 2.8 notes an onset, 10 a bar)."""
        return 0 < self.started.get(program, 0) < CHORD_STACK <= (voices(program) or CHORD_STACK)

    def later_onsets(self) -> tuple[list[int], np.ndarray]:
        """For a part written alone (one pitched program asked): the later Position tokens of
        the bar and the `excess` of its next note at each. A Position must be followed by a
        note, so thinning such a part means fewer onsets (the bar rests), not fewer stacked."""
        programs = self.c.programs or ()
        if len(programs) != 1 or programs[0] == DRUMS or self.last not in ("Tempo", "Duration"):
            return [], np.zeros(0, np.float32)
        hi = self.numerator * self.v.ppb
        past = self.excess(programs[0], np.arange(self.pos + 1, hi))
        ahead = np.flatnonzero(past)  # the onsets that cost something
        return [self.v.position_ids[self.pos + 1 + k] for k in ahead], past[ahead]

    def state(self) -> tuple:
        """Everything the allowed set depends on; masks are cached per state."""
        return (self.c, self.done, self.last, self.program == DRUMS, self.pos, self.numerator,
                self.bars, self.bar_target, self.notes > 0, self.at_position >= MAX_ONSETS_PER_POSITION,
                self.voiced, self.tempo_done, self.fixed_ts, self.chorded)

    def mask(self) -> Tensor:
        return self.options()[0]

    def options(self) -> tuple[Tensor, np.ndarray]:
        """The allowed tokens as a (V,) mask and as ascending ids, cached per grammar state."""
        key = self.state()
        cached = self.v.cache.get(key)
        if cached is None:
            mask = self._type_allowed("Tempo") if self.must_tempo() else self.allowed()
            cached = self.v.cache[key] = (mask, np.flatnonzero(mask.numpy()))
        return cached

    def _fit_length(self, bpm: float) -> None:
        """With a length in seconds and the tempo just sampled, the bar count that lasts it
        (never fewer bars than already written)."""
        if self.c.seconds is None:
            return
        bars = round(self.c.seconds * bpm / 60.0 / self.quarters_per_bar)
        self.bar_target = min(max(bars, self.bars, 1), self.c.max_bars)

    def advance(self, token_id: int) -> None:
        typ, val = self.v.type_of[token_id], self.v.value_of[token_id]
        if self.last == "TimeSig" and self.chorded is None:
            self.chorded = typ == "Chord"
        if typ == "Bar":
            self.bars += 1
            self.in_bar, self.bar_onsets = set(), {}
            self.pos = -1
            if not self._drum_fill():
                self.last_bar_hits = self.drum_hits
            self.drum_hits = {}
        elif typ == "TimeSig":
            self.fixed_ts = self.fixed_ts or val
            num, den = (int(x) for x in val.split("/"))
            self.numerator, self.quarters_per_bar = num, num * 4 / den
        elif typ == "Position":
            self.pos = int(val)
            self.at_position = 0
            self.started, self.voiced = {}, frozenset()
        elif typ == "Tempo":
            self.tempo_done = True
            self._fit_length(float(val))
        elif typ == "Program":
            self.program = self.v.program_of[token_id]
            self.in_bar.add(self.program)
            self.started[self.program] = self.started.get(self.program, 0) + 1
            most = voices(self.program)
            if most is not None and self.started[self.program] >= most:
                self.voiced = self.voiced | {self.program}
        elif typ == "PitchDrum":
            self.drum_hits.setdefault(self.pos, set()).add(token_id)
        elif typ == "Duration":
            self.notes += 1
            self.at_position += 1
            if self.program is not None and self.program != DRUMS:
                self.bar_onsets[self.program] = self.bar_onsets.get(self.program, 0) + 1
        elif typ == "EOS":
            self.done = True
        if typ == "Program" and not self.tempo_done:
            self.tempo_done = True  # the model chose no tempo: keep the piece's single tempo
            self._fit_length(DEFAULT_BPM)
        self.last = typ
