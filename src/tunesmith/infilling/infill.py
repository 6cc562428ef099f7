"""Infill chosen bars of chosen tracks of a MIDI piece, or continue it, with the decoder.

Consumes a symusic Score, a gap (bars, tracks) and optional per-bar controls; produces a new
Score in which every note outside the gap is the input's own (same ticks, same tracks) and
the gap holds what the model wrote. Tracks are filled one after another (each filled track
is context for the next, as in MMM / MIDI-GPT); a piece longer than the model's context is
read through a window of whole bars around the gap. The prompt is the training layout of
tokenization/infill.py: header, context with FillBar marks, FillStart Program_p; a grammar
keeps the fill to that track, the gap's bar count and meter, and forces the requested
controls (unset controls are sampled by the model among that control's tokens).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from symusic import Score, Track

from tunesmith.attributes import DRUMS, INSTRUMENT_NAMES, MAX_INSTRUMENTS, Attributes, family
from tunesmith.errors import InputError
from tunesmith.generation.generate import cadence_bias, chord_bias, key_bias
from tunesmith.generation.grammar import Constraints, SequenceGrammar, Vocab
from tunesmith.generation.sampler import SamplingConfig, sample, under_chords
from tunesmith.model import Checkpoint
from tunesmith.theory import bar_starts, meter_at, one_line
from tunesmith.tokenization import Tokenizer
from tunesmith.tokenization.controls import duration_class
from tunesmith.tokenization.harmony import chord_id, with_chords
from tunesmith.tokenization.infill import Bar, Gap, fill_bars, make_infill, split_bars
from tunesmith.tokenization.vocab import DENSITY_MAX, DURATION_CLASSES, POLY_MAX

CONTEXT_BARS = 8  # bars of context wanted on each side of a gap (MIDI-RWKV's evaluation setting)
FILL_TOKENS_PER_BAR = 96  # context kept free per bar of fill (a busy drum bar is ~100 tokens)
CHUNK_BARS = 4  # a longer gap is filled 4 bars at a time (training gaps are 1-4 bars or one window)
CONTROL_TYPES = ("Density", "PolyMin", "PolyMax", *(f"Dur{c}" for c in DURATION_CLASSES))


@dataclass(frozen=True)
class FillControls:
    """Per-bar controls of a fill, each None for "no preference"."""

    density: int | None = None  # notes in the bar (DENSITY_MAX means that many or more)
    polyphony: tuple[int, int] | None = None  # fewest and most notes starting together
    durations: tuple[str, ...] | None = None  # duration classes present, e.g. ("quarter", "eighth")
    # hold the bar to the controls while sampling (FillGrammar), rather than only stating them
    # to the model, which follows them in a third to a half of bars
    strict: bool = True

    def __post_init__(self) -> None:
        if self.density is not None and not 0 <= self.density <= DENSITY_MAX:
            raise InputError(f"density {self.density} is out of range 0..{DENSITY_MAX}")
        if self.polyphony is not None:
            lo, hi = self.polyphony
            if not 0 <= lo <= hi <= POLY_MAX:
                raise InputError(f"polyphony {lo}-{hi} is invalid: allowed MIN-MAX within 0..{POLY_MAX}")
        names = [c.lower() for c in DURATION_CLASSES]
        for d in self.durations or ():
            if d not in names:
                raise InputError(f"duration class {d!r} is unknown: allowed {', '.join(names)}")

    def tokens(self) -> list[str | None]:
        """One entry per control slot (CONTROL_TYPES order): the forced token or None."""
        out: list[str | None] = [f"Density_{self.density}" if self.density is not None else None]
        lo, hi = self.polyphony or (None, None)
        out += [f"PolyMin_{lo}" if lo is not None else None, f"PolyMax_{hi}" if hi is not None else None]
        for c in DURATION_CLASSES:
            out.append(None if self.durations is None else f"Dur{c}_{int(c.lower() in self.durations)}")
        return out

    @property
    def any(self) -> bool:
        return any(t is not None for t in self.tokens())


class ContextFull(InputError):
    """The gap's own bars leave the model no room (the caller may fill fewer at a time)."""


class FillGrammar(SequenceGrammar):
    """The REMI+ grammar for one track's fill: its program only, `bars` bars in the gap's
    meter, no tempo, each bar's chord and control slots after its TimeSig, FillEnd to close."""

    def __init__(self, vocab: Vocab, program: int, meter: str, bars: int,
                 controls: FillControls | Sequence[FillControls | None] | None,
                 harmony: tuple[int, ...] | None = None) -> None:
        # harmony: None when the stream says no chords; else each fill bar opens with a chord
        # token, the asked ones (cycling) or, for (), the model's choice
        super().__init__(vocab, Constraints(programs=(program,), time_signature=meter, bars=bars,
                                            chords=harmony or None))
        self.says_chords = harmony is not None
        self.tempo_done = True  # a fill carries no tempo: the context has it
        self.slots: list[list[int]] = []  # control slots left in this bar: allowed ids of each
        self.per_bar = list(controls) if isinstance(controls, Sequence) else [controls] * bars
        self.control_slots = [self._slots(c) for c in self.per_bar]  # one list of slots per bar
        self.fill_end: int = vocab.tok.id("FillEnd")
        self.eos: int = vocab.tok.eos_id
        self.bar_notes = 0  # notes of the current bar so far

    def _after_meter(self) -> tuple[str, ...]:
        return ("Chord",) if self.says_chords else ("Position", "Bar", "EOS")

    def target(self, program: int) -> int | None:
        """The bar's density control when it has one (texture "held" steers towards it)."""
        c = self.per_bar[self.bars - 1] if 1 <= self.bars <= len(self.per_bar) else None
        return c.density if c is not None and c.density is not None else super().target(program)

    def state(self) -> tuple:
        return (*super().state(), self.says_chords)

    def _slots(self, controls: FillControls | None) -> list[list[int]]:
        tok = self.v.tok
        if controls is None or not controls.any:
            return []
        return [[tok.vocab[t]] if t is not None else tok.ids_of_type(typ)
                for t, typ in zip(controls.tokens(), CONTROL_TYPES, strict=True)]

    def options(self) -> tuple[torch.Tensor, np.ndarray]:
        if self.slots:
            ids = np.array(sorted(self.slots[0]))
            return self.v.mask(ids.tolist()), ids
        mask, ids = super().options()
        if self.eos in ids:  # the fill closes with FillEnd, as in training
            mask = mask.clone()
            mask[self.eos], mask[self.fill_end] = False, True
            ids = np.flatnonzero(mask.numpy())
        banned = self._off_controls()
        if banned:
            held = mask.clone()
            held[banned] = False
            if held.any():  # controls that cannot all hold give way to the grammar
                return held, np.flatnonzero(held.numpy())
        return mask, ids

    def _off_controls(self) -> list[int]:
        """Tokens that would break the bar's strict controls: another note once the density
        is reached (or at an onset holding the most notes), the bar's end before the density
        is reached (or leaving an onset holding too few), a duration of a class not asked."""
        c = self.per_bar[self.bars - 1] if 1 <= self.bars <= len(self.per_bar) else None
        if c is None or not c.strict or self.done:
            return []
        v, ends = self.v, [*self.v.bar_ids, self.fill_end]
        if self.last == "Velocity":
            if c.durations is None:
                return []
            names = [d.lower() for d in DURATION_CLASSES]
            return [i for i, k in duration_classes(v.tok).items() if names[k] not in c.durations]
        if self.last not in ("Duration", "TimeSig", "Chord"):  # a bar opens Bar TimeSig [Chord]
            return []
        banned: list[int] = []
        lo, hi = c.polyphony or (0, POLY_MAX)
        notes = list(v.program_of)  # the Program ids (the Vocab's table: this runs every step)
        if c.density is not None and (self.bar_notes >= c.density < DENSITY_MAX):
            banned += [*notes, *v.position_ids]
        elif c.density is not None and self.bar_notes < c.density:
            banned += ends
        if self.last == "Duration" and self.at_position >= hi and hi < POLY_MAX:
            banned += notes
        if self.last == "Duration" and self.at_position < lo:
            banned += [*v.position_ids, *ends]
        return banned

    def advance(self, token_id: int) -> None:
        if self.slots:
            self.slots.pop(0)
            return
        super().advance(self.eos if token_id == self.fill_end else token_id)
        typ = self.v.type_of[token_id]
        # the controls follow the bar's head: Bar TimeSig, and its Chord when the stream says chords
        if typ == ("Chord" if self.says_chords else "TimeSig") and self.bars <= len(self.control_slots):
            self.slots = [list(s) for s in self.control_slots[self.bars - 1]]
        self.bar_notes = 0 if typ == "Bar" else self.bar_notes + (typ == "Duration")


@functools.lru_cache(maxsize=8)
def duration_classes(tok: Tokenizer) -> dict[int, int]:
    """Duration token id -> index of its class in DURATION_CLASSES ("Duration_1.4.8" is a
    quarter and a half: nearest on a log scale, as the controls measure it)."""
    out = {}
    for i in tok.ids_of_type("Duration"):
        beats, sub, res = (int(x) for x in tok.tokens[i].split("_", 1)[1].split("."))
        out[i] = duration_class(round((beats + sub / res) * 480), 480)
    return out


def _program_value(program: int) -> int:
    return -1 if program == DRUMS else program


def played_programs(score: Score) -> list[int]:
    """GM programs (DRUMS for the kit) that play in a score, in track order."""
    seen: dict[int, None] = {}
    for t in score.tracks:
        if len(t.notes):
            seen.setdefault(DRUMS if t.is_drum else int(t.program), None)
    return list(seen)


def _window(bars: Sequence[Bar], first: int, n: int, room: int) -> tuple[int, int]:
    """Bars [lo, hi) around the gap, up to CONTEXT_BARS each side, that fit in `room` tokens
    (the farther side gives a bar first)."""
    lo, hi = max(0, first - CONTEXT_BARS), min(len(bars), first + n + CONTEXT_BARS)
    size = [len(b.ids()) for b in bars]
    while sum(size[lo:hi]) > room and (lo < first or hi > first + n):
        if first - lo >= hi - (first + n) and lo < first:
            lo += 1
        else:
            hi -= 1
    if sum(size[lo:hi]) > room:
        raise ContextFull(f"bars {first + 1}-{first + n} alone need {sum(size[lo:hi])} tokens of context: "
                         f"the model reads at most {room}; fill fewer bars at a time")
    return lo, hi


def _header(tok: Tokenizer, score: Score, attrs: Attributes | None, bars: int, program: int) -> list[int]:
    """The header of a fill: what the piece has, overridden by `attrs`; its instruments name
    the part being filled too (as a training window's header names every part, the gapped one
    included), so that its role, when `attrs` says it, is said."""
    from tunesmith.captions import features

    found = features(score).to_attributes()
    asked = found.merged(attrs or Attributes())
    others = [p for p in asked.instruments or () if p != program][: MAX_INSTRUMENTS - 1]
    named = (*others, program)
    return tok.header(asked.merged(Attributes(bars=min(bars, 128), instruments=named)))


def _place(score: Score, part: Score, program: int, start: int, end: int) -> Score:
    """`score` with `program`'s notes in ticks [start, end) replaced by `part`'s notes
    (in `part`'s ticks from 0), scaled to `score`'s resolution."""
    out = score.copy()
    drum = program == DRUMS
    scale = out.ticks_per_quarter / part.ticks_per_quarter
    mine = [t for t in out.tracks if t.is_drum == drum and (drum or t.program == program)]
    for t in mine:
        t.notes = t.notes.filter(lambda x: not start <= x.time < end, inplace=False)
    if not mine:
        mine = [Track(name=INSTRUMENT_NAMES[program], program=0 if drum else program, is_drum=drum)]
        out.tracks.append(mine[0])
    target = mine[0]
    for t in part.tracks:
        for note in t.notes:
            n = note.copy()
            n.time = start + int(round(note.time * scale))
            n.duration = max(1, int(round(note.duration * scale)))
            if n.time < end:
                n.duration = min(n.duration, end - n.time)
                target.notes.append(n)
    target.notes.sort()
    return out


def resolve_tracks(score: Score, names: Sequence[str | int]) -> list[int]:
    """Programs of the tracks a user names: GM programs or instrument words ("bass",
    "drums", "distortion guitar"); a word matches the piece's instrument of the same
    family when the exact program is absent (a "bass" refills a fretless bass)."""
    from tunesmith.attributes import family
    from tunesmith.captions import parse_instruments

    have = played_programs(score)
    out: list[int] = []
    for name in names:
        asked = [int(name)] if isinstance(name, int) else list(parse_instruments([str(name)]))
        for p in asked:
            same = [h for h in have if h == p] or [h for h in have if h != DRUMS and p != DRUMS
                                                     and family(h) == family(p)]
            out.append(same[0] if same else p)  # a new instrument gets a new track
    return list(dict.fromkeys(out))


def parse_bar_range(text: str) -> tuple[int, int]:
    """"9-12" or "9" -> (9, 12) / (9, 9), 1-based inclusive."""
    first, _, last = text.strip().partition("-")
    try:
        a, b = int(first), int(last or first)
    except ValueError:
        raise InputError(f"bars {text!r} is invalid: write FIRST-LAST, e.g. 9-12") from None
    if not 1 <= a <= b:
        raise InputError(f"bars {text!r} is invalid: bars count from 1 and FIRST <= LAST")
    return a, b


def parse_polyphony(text: str) -> tuple[int, int]:
    """"1-3" or "2" -> (lo, hi), as the CLI and the HTTP API write it; the range itself is
    checked by FillControls."""
    lo, _, hi = text.partition("-")
    try:
        return int(lo), int(hi or lo)
    except ValueError:
        raise InputError(f"polyphony {text[:40]!r} is invalid: write MIN-MAX, e.g. 1-3") from None


def infill(
    score: Score, bars: tuple[int, int], tracks: Sequence[str | int] | None = None, *,
    controls: FillControls | Sequence[FillControls | None] | None = None,
    attributes: Attributes | None = None, seed: int = 0,
    sampling: SamplingConfig | None = None, checkpoint: Checkpoint | None = None,
    on_step: Callable[[int], None] | None = None, chords: Sequence[str] | None = None,
    length: int | None = None,
) -> Score:
    """`score` with bars `bars` (first, last; 1-based, inclusive) of `tracks` (GM programs or
    instrument words; default every instrument that plays) written anew; every other note
    comes back unchanged. `controls` hold for every bar, or give one entry per bar of the gap;
    `attributes` (e.g. a key, a genre) add to what the piece says; `chords` (cycling from the
    gap's first bar) pull each bar's notes toward its chord's tones. `length`: the piece's
    bars when its last ones may be silent (a planned piece), else as far as its notes go."""
    from tunesmith.generation.generate import check_seed, get_checkpoint

    ckpt = checkpoint or get_checkpoint()
    check_seed(seed)
    first, last = bars
    n_bars = max(len(bar_starts(score)), length or 0)
    if not 1 <= first <= last <= n_bars:
        raise InputError(f"bars {first}-{last} are outside the piece: it has bars 1-{n_bars}")
    programs = resolve_tracks(score, tracks) if tracks else played_programs(score)
    if isinstance(controls, Sequence) and len(controls) != last - first + 1:
        raise InputError(f"{len(controls)} bar controls for {last - first + 1} bars: give one per bar")
    cfg = under_chords(sampling or SamplingConfig()) if chords else sampling or SamplingConfig()
    gen = torch.Generator().manual_seed(seed)
    out = score
    for program in programs:
        out = fill_track(ckpt, out, program, first - 1, last - first + 1, controls, attributes, cfg, gen,
                          on_step, chords)
    return out


def fill_track(ckpt: Checkpoint, score: Score, program: int, first: int, n: int,
                controls: FillControls | Sequence[FillControls | None] | None, attributes: Attributes | None,
                sampling: SamplingConfig, gen: torch.Generator,
                on_step: Callable[[int], None] | None, chords: Sequence[str] | None = None) -> Score:
    """One track's gap (bars [first, first + n), 0-based; past the piece's end allowed, for
    continuations), in chunks that leave the model room for context on both sides (each
    chunk is context for the next)."""
    chunk = min(CHUNK_BARS, max(1, ckpt.config.max_len // 2 // FILL_TOKENS_PER_BAR))
    per_bar = list(controls) if isinstance(controls, Sequence) else [controls] * n
    start = first
    while start < first + n:
        size = min(chunk, first + n - start)
        part = per_bar[start - first:start - first + size]
        try:
            harmony = [chords[(b - first) % len(chords)] for b in range(start, start + size)] \
                if chords else None
            score = _fill_chunk(ckpt, score, program, start, size, part, attributes, sampling, gen, on_step,
                                harmony)
        except ContextFull:
            if size == 1:
                raise
            chunk = max(1, size // 2)  # dense bars: fewer at a time
            continue
        start += size
    return score


def _fill_chunk(ckpt: Checkpoint, score: Score, program: int, first: int, n: int,
                controls: Sequence[FillControls | None], attributes: Attributes | None,
                sampling: SamplingConfig, gen: torch.Generator, on_step: Callable[[int], None] | None,
                chords: Sequence[str] | None = None) -> Score:
    tok = ckpt.tokenizer
    bars = split_bars(tok.encode_score(score), tok)
    if not bars:
        raise InputError("the piece has no notes the model can read: nothing to fill around")
    if first + n > len(bars):  # bars past the last note: the stream stops at the last bar
        bars = [*bars, *[Bar([tok.id("Bar"), bars[-1].head[-1]], []) for _ in range(first + n - len(bars))]]
    harmony = None
    if tok.chords:  # the context's bars say the chords their notes sound; the fill's bars are asked or chosen
        bars = with_chords(bars, tok)
        harmony = tuple(chord_id(tok, c) for c in chords) if chords else ()
    header = _header(tok, score, attributes, len(bars), program)
    room = ckpt.config.max_len - len(header) - n * FILL_TOKENS_PER_BAR - 4
    lo, hi = _window(bars, first, n, room)
    ids = [i for b in bars[lo:hi] for i in b.ids()]
    context, _ = make_infill(ids, Gap(_program_value(program), first - lo, n), tok)
    prompt = [*header, *context, tok.id("FillStart"), tok.vocab[f"Program_{_program_value(program)}"]]
    starts = bar_starts(score, first + n + 1)
    grammar = FillGrammar(Vocab.of(tok), program, meter_at(score, starts[first]), n, controls, harmony)
    cfg = SamplingConfig(**{**sampling.__dict__, "max_tokens": 2 * n * FILL_TOKENS_PER_BAR, "candidates": 1})
    pitched = program != DRUMS
    root = sampling.chord_strength if family(program) == "bass" else 0.0
    bar_bias = chord_bias(tok, chords, n, sampling.chord_strength, root) if chords and pitched else None
    if bar_bias is None and harmony == () and pitched and attributes is not None and attributes.key:
        bar_bias = cadence_bias(tok, attributes.key, n, first, len(bars))  # the model plans the gap's chords
    # an asked key steers a fill as it steers a generated piece (the same soft preference)
    key = attributes.key if attributes is not None and pitched else None
    bias = key_bias(tok, key, sampling.key_strength, sampling.key_profile) if key else None
    fill = sample(ckpt, [prompt], [grammar], cfg, gen, on_step, bias, bar_bias=bar_bias)[0]
    part = one_line(tok.remi.decode(fill_bars([tok.id("FillStart"), 0, *fill], tok))) if fill else Score(8)
    return _place(score, part, program, starts[first], starts[first + n])


def continue_piece(
    score: Score, n_bars: int, *, attributes: Attributes | None = None, seed: int = 0,
    sampling: SamplingConfig | None = None, checkpoint: Checkpoint | None = None,
    on_step: Callable[[int], None] | None = None, chords: Sequence[str] | None = None,
) -> Score:
    """`score` followed by `n_bars` new bars of its instruments, in its last meter: the new
    bars are the gap of a fill of every track, one track after another."""
    from tunesmith.generation.generate import check_seed, get_checkpoint

    ckpt = checkpoint or get_checkpoint()
    check_seed(seed)
    if chords is not None and not chords:
        chords = None
    if not 1 <= n_bars <= 64:
        raise InputError(f"--bars {n_bars} is out of range: allowed 1..64 new bars")
    first = len(bar_starts(score))
    cfg = under_chords(sampling or SamplingConfig()) if chords else sampling or SamplingConfig()
    gen = torch.Generator().manual_seed(seed)
    out = score
    for program in played_programs(score):
        out = fill_track(ckpt, out, program, first, n_bars, None, attributes, cfg, gen, on_step, chords)
    return out
