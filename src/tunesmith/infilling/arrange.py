"""Melody-guided generation (MG2): keep a given melody as the lead and arrange the asked
instruments around it with whole-track infilling.

Consumes a melody (a MIDI Score and optionally which track holds it, or phrases retrieved
for the prompt: one per section of a form) and the attributes of a request; produces a Score
whose lead track holds the melody's notes unchanged up to one stated transposition (into the
asked key; a phrase per section, each moved on its own), and whose other tracks the model
wrote one after another (drums, then bass, then the rest), each seeing the melody and the
tracks before it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from symusic import KeySignature, Score, Tempo, TimeSignature, Track

from tunesmith.attributes import (
    DRUMS,
    INSTRUMENT_NAMES,
    KEYS,
    PITCH_CLASSES,
    Attributes,
    assign_densities,
    assign_roles,
    family,
)
from tunesmith.errors import InputError
from tunesmith.generation.generate import Generated, Request, bars_for, get_checkpoint
from tunesmith.generation.sampler import SamplingConfig, under_chords
from tunesmith.infilling.drums import groove_drums
from tunesmith.infilling.form import Plan, grooved, plan_of, track_order
from tunesmith.infilling.infill import fill_track
from tunesmith.model import Checkpoint
from tunesmith.retrieval.clmp import Clmp
from tunesmith.retrieval.index import Hit, MelodyIndex
from tunesmith.retrieval.search import best_melodies, best_melody
from tunesmith.theory import (
    KEY_PROFILES,
    bar_starts,
    chord_pitch_classes,
    harmonize,
    key_of_signature,
    key_signature,
    lead_track,
    meter_at,
    scale_mask,
    tonic_and_mode,
    track_chroma,
)

MAX_MELODY_BARS = 64
DEFAULT_BAND = (0, 33)  # piano and bass under a melody when no instrument is asked
DRUM_GENRES = ("pop", "rock", "electronic", "funk", "hiphop", "latin", "reggae", "country", "blues")


@dataclass
class Arrangement:
    score: Score
    melody_program: int
    transposed: int  # semitones the melody moved
    notes: list[str]


def melody_track(score: Score, index: int | None = None) -> int:
    """The track holding the melody: `index` (1-based) if given, else the lead
    (theory.lead_track)."""
    pitched = [i for i, t in enumerate(score.tracks) if not t.is_drum and len(t.notes)]
    if index is not None:
        if not 1 <= index <= len(score.tracks) or score.tracks[index - 1].is_drum:
            raise InputError(f"melody track {index} is not a pitched track: allowed "
                             f"{', '.join(str(i + 1) for i in pitched) or 'none'}")
        return index - 1
    lead = lead_track(score)
    if lead is None:
        raise InputError("the melody file has no pitched notes")
    return lead


@dataclass(frozen=True)
class Guide:
    """A melody to arrange around: the lead alone, notes saying where it comes from and, when
    it was joined from a phrase per section (`section_melody`), the plan it follows (it is
    then in the piece's key already: arrange does not move it)."""

    score: Score
    notes: tuple[str, ...] = ()
    plan: Plan | None = None


def check_melody(melody: Score, track: int | None = None, *, form: str | None = None) -> int:
    """The melody's track (0-based), checked before any model runs: `track` (1-based) must be
    a pitched track, the melody at most MAX_MELODY_BARS long, and no form asked (a given
    melody keeps its own sections; a retrieved one is joined along the form instead)."""
    if form is not None:
        raise InputError(f"form {form[:40]!r} does not go with a given melody, which keeps its own "
                         "sections: cut the melody to the bars you want, or ask for a retrieved "
                         "melody, which takes a phrase per section of the form")
    index = melody_track(melody, track)
    n_bars = len(bar_starts(melody))
    if n_bars > MAX_MELODY_BARS:
        raise InputError(f"the melody has {n_bars} bars: allowed up to {MAX_MELODY_BARS} (cut it first)")
    return index


def melody_key(melody: Score, track: int) -> str | None:
    """The melody's key: its file's first key signature when it has one (the melody index
    stamps each phrase with the key of all of its piece's parts there), else the
    Krumhansl-Schmuckler estimate of the melody track alone."""
    from tunesmith.captions.features import estimate_key

    if len(melody.key_signatures):
        sig = melody.key_signatures[0]
        return key_of_signature(int(sig.key), int(sig.tonality))
    only = Score(melody.ticks_per_quarter)
    only.tracks.append(melody.tracks[track].copy())
    return estimate_key(only)


def key_shift(found: str | None, asked: str | None) -> int:
    """Semitones (-6..5) that put the melody's notes in the asked key's scale (0 if either key
    is unknown): tonic to tonic in the same mode; across modes, to the asked key's relative
    in the melody's mode (an A minor tune asked in C major stays put: same notes), since a
    tonic-to-tonic move would put a third of its notes outside the asked scale."""
    if not found or not asked:
        return 0
    pcs = list(PITCH_CLASSES)
    (f_tonic, f_mode), (a_tonic, a_mode) = found.split(" "), asked.split(" ")
    target = pcs.index(a_tonic) + {("major", "minor"): 3, ("minor", "major"): -3}.get((f_mode, a_mode), 0)
    delta = (target - pcs.index(f_tonic)) % 12
    return delta - 12 if delta > 5 else delta


def key_margin(chroma: np.ndarray, chords: list[str], key: str) -> float:
    """How clearly a melody with these chords sounds in `key`: the correlation of what sounds
    (the melody's notes and the chords' tones, equally weighted) with the key's probe-tone
    profile, minus the best correlation with any other key (> 0: `key` is the estimate)."""
    melody = chroma.sum(0) / max(chroma.sum(), 1e-9)
    harmony = np.mean([chord_pitch_classes(c) for c in chords], axis=0)
    heard = melody + harmony / max(harmony.sum(), 1e-9)
    corr = np.array([np.corrcoef(heard, p)[0, 1] for p in KEY_PROFILES])
    k = KEYS.index(key)
    return float(corr[k] - np.delete(corr, k).max())


def fitting_shift(chroma: np.ndarray, key: str, preferred: int) -> int:
    """The transposition (-6..5) of a melody into `key`: among the shifts that keep as much of
    it in the key's scale as any (within 5 %), the one under which it, harmonized in `key`,
    sounds most clearly in `key`; `preferred` (from the melody's key) wins ties. A phrase
    cut from a song often leans to its song's subdominant or dominant, so the song's key
    alone can put the phrase a fourth or fifth away from the asked key's sound."""
    total = max(chroma.sum(), 1e-9)
    shifts = sorted(range(-6, 6), key=lambda s: (s != preferred, abs(s)))
    moved = {s: np.roll(chroma, s, axis=1) for s in shifts}
    in_scale = {s: float(moved[s].sum(0) @ scale_mask(key)) / total for s in shifts}
    best = max(in_scale.values())
    fits = [s for s in shifts if in_scale[s] >= best - 0.05]
    return max(fits, key=lambda s: key_margin(moved[s], harmonize(moved[s], key), key))


def into_key(melody: Score, track: int, key: str | None) -> tuple[int, str | None]:
    """The semitones that move a melody into `key` (0 when none is asked) and the key it
    reads as (`melody_key`): tonic onto tonic (`key_shift`), then where it sounds in `key`
    once harmonized (`fitting_shift`)."""
    found = melody_key(melody, track)
    shift = key_shift(found, key)
    if key:
        chroma = track_chroma(melody.tracks[track], bar_starts(melody), melody.end())
        shift = fitting_shift(chroma, key, shift)
    return shift, found


# --- a retrieved melody: one phrase per section of a plan -----------------------------------
def fit_phrase(track: Track, length: int, bars: int, bar_ticks: int) -> Track:
    """A phrase of `length` bars made `bars` long: cut at a bar line when it is longer, played
    again from its start to fill when it is shorter (no note sounds past a repeat's end)."""
    span, end = length * bar_ticks, bars * bar_ticks
    out = Track(name=track.name, program=track.program, is_drum=False)
    for k in range(-(-bars // length)):
        stop = min((k + 1) * span, end)
        for note in track.notes:
            at = note.time + k * span
            if note.time < span and at < stop:  # a few phrases hold a note past their last bar
                n = note.copy()
                n.time, n.duration = at, min(note.duration, stop - at)
                out.notes.append(n)
    return out


def join_phrases(plan: Plan, phrases: dict[str, Hit], shifts: dict[str, int], key: str | None) -> Score:
    """One melody along `plan`: each section plays its name's phrase (a `Hit` with notes)
    fitted to its bars (`fit_phrase`) and moved by its shift; tempo, meter and instrument are
    the first phrase's, and `key` is stamped as the key signature (arrange reads it)."""
    first = phrases[plan.sections[0].name].melody
    tpq = first.ticks_per_quarter
    sig = first.time_signatures[0] if len(first.time_signatures) else TimeSignature(0, 4, 4)
    out = Score(tpq)
    out.tempos.append(Tempo(0, float(first.tempos[0].qpm) if len(first.tempos) else 120.0))
    out.time_signatures.append(TimeSignature(0, sig.numerator, sig.denominator))
    if key:
        out.key_signatures.append(KeySignature(0, *key_signature(key)))
    bar_ticks = sig.numerator * tpq * 4 // sig.denominator
    lead = Track(name="Melody", program=int(first.tracks[0].program), is_drum=False)
    for section in plan.sections:
        hit = phrases[section.name]
        melody = hit.melody if hit.melody.ticks_per_quarter == tpq else hit.melody.resample(tpq)
        a, b = hit.meta["bars"]
        for note in fit_phrase(melody.tracks[0], b - a, section.bars, bar_ticks).notes:
            n = note.copy()
            n.time += section.first * bar_ticks
            n.pitch = int(np.clip(note.pitch + shifts[section.name], 0, 127))
            lead.notes.append(n)
    out.tracks.append(lead)
    return out


def section_melody(prompt: str, plan: Plan, *, meter: str | None = None, key: str | None = None,
                   index: MelodyIndex | str | Path | None = None, clmp: Clmp | None = None) -> Guide:
    """A melody for a planned piece: one phrase per distinct section (A, B; verse, chorus), the
    best distinct hits for the prompt in the asked meter and the asked key's mode (else the
    best hit's, so that the phrases join), each moved on its own into the asked key (they come
    from songs in different keys; with none asked, into the first phrase's key) and joined
    along the plan (`join_phrases`: a returning section plays its phrase again)."""
    if plan.bars > MAX_MELODY_BARS:  # before the index and CLMP load
        raise InputError(f"the piece has {plan.bars} bars: a melody-guided piece allows up to "
                         f"{MAX_MELODY_BARS}")
    idx = index if isinstance(index, MelodyIndex) else MelodyIndex.open(index)
    clmp = clmp or Clmp.load()
    names = list(dict.fromkeys(s.name for s in plan.sections))
    mode = tonic_and_mode(key)[1] if key else None
    best = best_melody(prompt, meter=meter, mode=mode, index=idx, clmp=clmp)
    meter = meter or best.meta["meter"]
    mode = mode or str(best.meta.get("key") or "").rpartition(" ")[2] or None
    hits = best_melodies(prompt, len(names), meter=meter, mode=mode, index=idx, clmp=clmp)
    if len(hits) < len(names):
        raise InputError(f"the index has {len(hits)} melodies in {meter} with notes: the form's "
                         f"{len(names)} different sections need as many (use fewer letters)")
    phrases = dict(zip(names, hits, strict=True))
    target = key or melody_key(hits[0].melody, 0)
    notes = []
    shifts: dict[str, int] = {}
    for k, (name, hit) in enumerate(phrases.items()):
        # with no key asked, the first phrase sets it and stays where it is
        shift, found = into_key(hit.melody, 0, target) if key or k else (0, target)
        shifts[name] = shift
        moved = f", moved {shift:+d} semitones into {target} (its key reads as {found})" if shift else ""
        notes.append(f"melody of {name}: {hit.label} (id {hit.id}, score {hit.score:.2f}){moved}")
    return Guide(join_phrases(plan, phrases, shifts, target), tuple(notes), plan)


def retrieved_melody(request: Request, form: str | None = None, *,
                     index: MelodyIndex | str | Path | None = None, clmp: Clmp | None = None) -> Guide:
    """`--melody retrieved`: for a piece with a plan (a form, or LONG_BARS and more, as
    `write_pieces` plans), a phrase per section (`section_melody`); else the one phrase that
    fits the prompt best, in the asked meter and the asked key's mode."""
    attrs = request.attributes
    plan = plan_of(bars_for(attrs), form)  # a bad form fails before the index and CLMP load
    if plan is not None:
        return section_melody(request.prompt, plan, meter=attrs.time_signature, key=attrs.key,
                              index=index, clmp=clmp)
    hit = best_melody(request.prompt, meter=attrs.time_signature,
                      mode=tonic_and_mode(attrs.key)[1] if attrs.key else None, index=index, clmp=clmp)
    return Guide(hit.melody, (f"melody: {hit.label} (id {hit.id}, score {hit.score:.2f})",))


def lead_program(melody_prog: int, asked: tuple[int, ...]) -> int:
    """The melody keeps its instrument if it was asked for (or nothing was), else takes the
    first asked instrument that is neither drums nor a bass."""
    if not asked or melody_prog in asked:
        return melody_prog
    leads = [p for p in asked if p != DRUMS and family(p) != "bass"]
    return leads[0] if leads else melody_prog


def lead_score(melody: Score, track: int, program: int, shift: int, attrs: Attributes) -> Score:
    """A score holding only the melody (moved by `shift`), with its meter and a tempo."""
    src = melody.tracks[track]
    out = Score(melody.ticks_per_quarter)
    tempo = attrs.tempo or (melody.tempos[0].qpm if len(melody.tempos) else 120.0)
    out.tempos.append(Tempo(0, float(tempo)))
    sig = melody.time_signatures[0] if len(melody.time_signatures) else TimeSignature(0, 4, 4)
    out.time_signatures.append(TimeSignature(0, sig.numerator, sig.denominator))
    lead = Track(name=INSTRUMENT_NAMES[program], program=program, is_drum=False)
    for note in src.notes:
        n = note.copy()
        n.pitch = int(np.clip(note.pitch + shift, 0, 127))
        lead.notes.append(n)
    out.tracks.append(lead)
    return out


def arrange(
    melody: Score, attrs: Attributes, *, track: int | None = None, seed: int = 0,
    sampling: SamplingConfig | None = None, checkpoint: Checkpoint | None = None,
    on_step: Callable[[int], None] | None = None, shift: int | None = None, bars: int | None = None,
) -> Arrangement:
    """The melody as the lead, the asked instruments (else piano and bass, plus drums for
    band genres) written around it by the model. `shift`: the melody's move (None: into the
    asked key, `into_key`); `bars`: the piece's length (None: the melody's)."""

    ti = check_melody(melody, track)
    moved, found = into_key(melody, ti, attrs.key)
    shift = moved if shift is None else shift
    asked = tuple(attrs.instruments or ())
    program = lead_program(int(melody.tracks[ti].program), asked)
    notes = []
    if shift:
        notes.append(f"melody moved {shift:+d} semitones into {attrs.key} (its key reads as {found})")
    meter = meter_at(melody)
    if attrs.time_signature and meter != attrs.time_signature:
        notes.append(f"the melody's meter {meter} is kept (asked {attrs.time_signature})")
    band = [p for p in asked if p != program] or [
        *DEFAULT_BAND, *([DRUMS] if attrs.genre in DRUM_GENRES else [])]
    score = lead_score(melody, ti, program, shift, attrs)
    starts = bar_starts(score, bars)
    bars = len(starts)
    # the melody carries the tune: the band's parts take their other roles around it
    roles = assign_roles((program, *band), ((program, "lead"),))
    rest = Attributes(key=attrs.key, genre=attrs.genre, mood=attrs.mood, roles=roles,
                      densities=assign_densities(roles))
    key = attrs.key or found
    chords = attrs.chords or (tuple(harmonize(track_chroma(score.tracks[0], starts, score.end()), key))
                              if key else None)
    if chords and not attrs.chords:
        notes.append(f"chords from the melody: {' '.join(chords)}")
    ckpt = checkpoint or get_checkpoint()
    cfg = under_chords(sampling or SamplingConfig()) if attrs.chords else sampling or SamplingConfig()
    order = track_order([p for p in band if p != program])
    for p in order:
        if p == DRUMS and grooved(order, cfg) and (drums := groove_drums(
                score, bars, attrs, seed=seed, checkpoint=ckpt, sampling=cfg, on_step=on_step)) is not None:
            score = drums[0]  # a real groove under the melody, as generation writes one
            notes.append(drums[1].note())
            continue
        # whole-track fills over every bar, also silent last ones of a plan (infill stops at the
        # last note), each a new track (infill would refill a lead of the same family)
        gen = torch.Generator().manual_seed(seed)
        score = fill_track(ckpt, score, p, 0, bars, None, rest, cfg, gen, on_step, chords)
    return Arrangement(score, program, shift, notes)


def arrange_pieces(
    request: Request, melody: Score, *, track: int | None = None, num: int = 1, seed: int = 0,
    sampling: SamplingConfig | None = None, checkpoint: Checkpoint | None = None,
    on_step: Callable[[int], None] | None = None, plan: Plan | None = None,
) -> list[Generated]:
    """What every front-end (CLI, HTTP) writes for a request with a melody: piece i is the
    melody arranged with seed `seed + i`, as long as the melody (an asked length is said to
    be overridden). A melody joined along a `plan` (`Guide.plan`) is in key already and not
    moved; the pieces carry the plan. `on_step` counts the tokens of all the pieces' tracks
    in one run."""
    bars = plan.bars if plan is not None else len(bar_starts(melody))
    asked = request.attributes.merged(Attributes(bars=bars))
    notes = list(request.notes)
    if request.attributes.bars not in (None, bars):
        notes.append(f"the melody's {bars} bars are kept (asked {request.attributes.bars})")
    sections = tuple((s.label, s.first, s.bars) for s in plan.sections) if plan is not None else ()
    if plan is not None:
        notes.append(f"plan: {plan.text()}")
    steps = itertools.count()  # infill counts per track: one count for the whole job
    step = (lambda _: on_step(next(steps))) if on_step is not None else None
    pieces = []
    for i in range(num):
        start = time.perf_counter()
        got = arrange(melody, request.attributes, track=track, seed=seed + i, sampling=sampling,
                      checkpoint=checkpoint, on_step=step, shift=None if plan is None else 0,
                      bars=None if plan is None else plan.bars)
        pieces.append(Generated(got.score, [], asked, seed + i, 0.0, time.perf_counter() - start,
                                [*notes, *got.notes], sections=sections))
    return pieces
