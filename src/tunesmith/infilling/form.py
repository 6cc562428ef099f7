"""Form: a section plan for a piece, realised by generation, continuation and variation.

Consumes the asked length (or a form such as "AABA" / "intro verse chorus verse chorus outro")
and the request's attributes; produces a `Plan` of labelled sections and a Score that follows
it. The first section is generated from the text; a new section continues the piece (every
track written after what came before; with grooved drums, its own groove and then part by
part); a section that returns (A after B, a second chorus) copies its first occurrence and
re-writes the lead after its first quarter by infilling, so it comes back varied rather than
pasted (its opening bar as it was, as a listener expects a return, then a new line over the
kept drums and bass).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from symusic import Score

from tunesmith.attributes import DRUMS, Attributes, family, told_density
from tunesmith.errors import InputError
from tunesmith.generation.generate import Generated, Request
from tunesmith.generation.sampler import SamplingConfig, under_chords
from tunesmith.infilling.drums import groove_drums
from tunesmith.infilling.infill import FillControls, continue_piece, fill_track, infill, played_programs
from tunesmith.midi.io import fit_length
from tunesmith.model import Checkpoint
from tunesmith.theory import bar_starts, harmonize, lead_track, track_chroma

SONG_WORDS = ("intro", "verse", "chorus", "bridge", "solo", "outro")
MIN_SECTION = 2


@dataclass(frozen=True)
class Section:
    label: str  # "A", "A'", "verse", "chorus"...
    first: int  # first bar, 0-based
    bars: int

    @property
    def name(self) -> str:
        return self.label.rstrip("'")


@dataclass(frozen=True)
class Plan:
    sections: tuple[Section, ...]

    @property
    def bars(self) -> int:
        return sum(s.bars for s in self.sections)

    def text(self) -> str:
        return " ".join(f"{s.label} {s.first + 1}-{s.first + s.bars}" for s in self.sections)

    def to_list(self) -> list[dict[str, object]]:
        return [{"label": s.label, "first_bar": s.first + 1, "bars": s.bars} for s in self.sections]


def _sections(labels: list[str], lengths: list[int]) -> Plan:
    out, bar, seen = [], 0, set()
    for label, n in zip(labels, lengths, strict=True):
        shown = f"{label}'" if label in seen and len(label) == 1 else label
        seen.add(label)
        out.append(Section(shown, bar, n))
        bar += n
    return Plan(tuple(out))


def parse_form(text: str) -> list[str]:
    """"AABA" -> [A, A, B, A]; "intro verse chorus" -> words (allowed: SONG_WORDS)."""
    words = re.findall(r"[a-z]+", text.lower())
    if len(words) > 1 or (words and words[0] in SONG_WORDS):
        bad = [w for w in words if w not in SONG_WORDS]
        if bad:
            raise InputError(f"form section {bad[0]!r} is unknown: allowed {', '.join(SONG_WORDS)} "
                             "or letters such as AABA")
        return words
    letters = re.sub(r"[\s\-,']", "", text.upper())
    if not letters or not letters.isalpha() or len(letters) > 16:
        raise InputError(f"form {text!r} is invalid: write letters such as AABA or words such as "
                         "'intro verse chorus outro'")
    return list(letters)


def plan_for(bars: int, form: str | None = None) -> Plan:
    """Sections for a length: 8 bars -> A A', 16 -> A A' B A', 32 and more -> intro, verse,
    chorus, verse, chorus, outro (4-bar intro and outro); or the given form, bars shared out."""
    if form:
        labels = parse_form(form)
    elif bars < 8:
        labels = ["A"]
    elif bars < 16:
        labels = ["A", "A"]
    elif bars < 32:
        labels = ["A", "A", "B", "A"]
    else:
        labels = ["intro", "verse", "chorus", "verse", "chorus", "outro"]
    if bars < MIN_SECTION * len(labels):
        raise InputError(f"{bars} bars cannot hold {len(labels)} sections of at least {MIN_SECTION} bars")
    if labels[0] == "intro" and labels[-1] == "outro" and not form:
        body = (bars - 8) // 4
        lengths = [4, body, body, body, bars - 8 - 3 * body, 4]
    else:
        base = bars // len(labels)
        lengths = [base] * len(labels)
        lengths[-1] += bars - base * len(labels)
    return _sections(labels, lengths)


def copy_bars(score: Score, src: int, n: int, dst: int) -> Score:
    """`score` with bars [src, src + n) copied to start at bar `dst` (notes at or after
    bar `dst` are replaced)."""
    starts = bar_starts(score, max(src + n, dst + n) + 1)
    a, b, at = starts[src], starts[src + n], starts[dst]
    out = score.copy()
    for track in out.tracks:
        kept = track.notes.filter(lambda x: x.time < at, inplace=False)
        for note in track.notes:
            if a <= note.time < b:
                m = note.copy()
                m.time = note.time - a + at
                m.duration = min(note.duration, b - note.time)
                kept.append(m)
        kept.sort()
        track.notes = kept
    return out


def lead_of(score: Score, first: int, n: int) -> int | None:
    """The program of the section's lead (theory.lead_track); None if only drums and bass
    play (a returning section keeps its bass line)."""
    index = lead_track(score, first, n)
    program = None if index is None else int(score.tracks[index].program)
    return None if program is None or family(program) == "bass" else program


# a returning section keeps its first 1/VARY_FROM of the lead (at least a bar) and re-fills the
# rest: keeping half, 28 % of the bars of 8-bar pieces repeated an earlier one note for note,
# the top of real music's range (POP909 1 %, band songs 13 %, Groove 28 %)
VARY_FROM = 4


def compose(
    attrs: Attributes, plan: Plan, *, generate_first: Callable[[Attributes], Score], seed: int = 0,
    sampling: SamplingConfig | None = None, checkpoint: Checkpoint | None = None,
    on_step: Callable[[int], None] | None = None,
) -> Score:
    """The piece of `plan`: `generate_first(attrs with the first section's bars)` writes the
    opening; every later section continues the piece or varies an earlier one."""
    first = plan.sections[0]
    score = generate_first(attrs.merged(Attributes(bars=first.bars)))
    where: dict[str, Section] = {first.name: first}
    for k, s in enumerate(plan.sections[1:], start=1):
        kw = {"seed": seed + k, "sampling": sampling, "checkpoint": checkpoint, "on_step": on_step}
        earlier = where.get(s.name)
        if earlier is None:
            score = new_section(score, s, attrs, seed=seed + k, sampling=sampling, checkpoint=checkpoint,
                                on_step=on_step)
            where[s.name] = s
            continue
        score = copy_bars(score, earlier.first, min(s.bars, earlier.bars), s.first)
        if s.bars > earlier.bars:
            score = continue_piece(score, s.bars - earlier.bars, attributes=_steer(attrs),
                                   chords=_from(attrs.chords, s.first + earlier.bars), **kw)  # type: ignore[arg-type]
        lead = lead_of(score, s.first, s.bars)
        if lead is not None:  # varied, not pasted: the lead opens as before, then goes its own way
            new = min(s.first + max(1, s.bars // VARY_FROM), s.first + s.bars - 1)  # 0-based first new bar
            # each operation's chords start at its own first bar (the progression cycles over the piece)
            # the planned length: the copied bars may end in silence
            score = infill(score, (new + 1, s.first + s.bars), [lead], attributes=_steer(attrs),
                           chords=_from(attrs.chords, new), length=plan.bars,
                           controls=texture(lead, sampling or SamplingConfig(), attrs.densities), **kw)  # type: ignore[arg-type]
    return score


def new_section(
    score: Score, section: Section, attrs: Attributes, *, seed: int, sampling: SamplingConfig | None,
    checkpoint: Checkpoint | None, on_step: Callable[[int], None] | None,
) -> Score:
    """`score` continued by a section heard for the first time. With grooved drums
    (`grooved`) it is written as an opening is: its own groove from the index (a chorus
    need not play the verse's), then each part in `track_order` over it, the parts after the
    first pitched one following its harmony when no chords are asked; otherwise every part
    continues (`continue_piece`)."""
    from tunesmith.captions.features import estimate_key
    from tunesmith.generation.generate import get_checkpoint

    cfg = under_chords(sampling or SamplingConfig()) if attrs.chords else sampling or SamplingConfig()
    chords = _from(attrs.chords, section.first)
    order = track_order(played_programs(score))
    ckpt = checkpoint or get_checkpoint()
    drums = groove_drums(score, section.bars, attrs, seed=seed, checkpoint=ckpt, sampling=cfg, on_step=on_step,
                         first=section.first) if grooved(order, cfg) else None
    if drums is None:
        return continue_piece(score, section.bars, attributes=_steer(attrs), chords=chords, seed=seed,
                              sampling=sampling, checkpoint=ckpt, on_step=on_step)
    out = drums[0]
    gen = torch.Generator().manual_seed(seed)
    for program in order[1:]:
        chords = chords or _harmony(out, section.first, section.bars, attrs.key or estimate_key(out))
        controls = texture(program, cfg, attrs.densities)
        out = fill_track(ckpt, out, program, section.first, section.bars, controls, _steer(attrs), cfg, gen,
                         on_step, chords)
    return out


def _from(chords: tuple[str, ...] | None, bar: int) -> tuple[str, ...] | None:
    """The progression rotated to start where bar `bar` falls in it (it cycles over the piece)."""
    if not chords:
        return None
    k = bar % len(chords)
    return chords[k:] + chords[:k]


def _steer(attrs: Attributes) -> Attributes:
    """What a continuation or variation is told: key, genre, mood and the parts' roles and
    notes a bar (the rest is context)."""
    return Attributes(key=attrs.key, genre=attrs.genre, mood=attrs.mood, roles=attrs.roles,
                      densities=attrs.densities)


def generate_with_form(
    request: Request, plan: Plan, *, seed: int = 0, sampling: SamplingConfig | None = None,
    checkpoint: Checkpoint | None = None, on_step: Callable[[int], None] | None = None,
    notes: list[str] | None = None,
) -> Score:
    """A resolved request written section by section along `plan` (see `compose`); the
    opening section is one window in `sampling.order` (track by track by default: written
    interleaved, a returning section kept a part silent more often). What the opening says
    of itself (e.g. where its drums came from) is added to `notes`."""
    once = replace(sampling or SamplingConfig(), candidates=1)  # one opening per piece

    def opening(attrs: Attributes) -> Score:
        first = Request(request.prompt, request.explicit, request.attributes.merged(attrs), ())
        piece = one_window(first, seed=seed, sampling=once, checkpoint=checkpoint, on_step=on_step)[0]
        if notes is not None:
            notes.extend(piece.notes)
        return piece.score

    return compose(request.attributes, plan, generate_first=opening, seed=seed, sampling=sampling,
                   checkpoint=checkpoint, on_step=on_step)


# pieces this long or longer are written section by section, with form (8 bars: A A'): in one
# window no bar came back (repeat 0 %, real music 1-28 %, benchmarks/listening_reference.py)
LONG_BARS = 8


def plan_of(bars: int, form: str | None = None) -> Plan | None:
    """The plan a piece is written along: one for a form or a piece of LONG_BARS or more
    (`plan_for`), None for a shorter piece without form (one window)."""
    return plan_for(bars, form) if form is not None or bars >= LONG_BARS else None


def write_pieces(
    request: Request, *, num: int = 1, seed: int = 0, sampling: SamplingConfig | None = None,
    checkpoint: Checkpoint | None = None, on_step: Callable[[int], None] | None = None,
    form: str | None = None,
) -> list[Generated]:
    """What every front-end (CLI, batch lines, HTTP) writes for a request: a piece planned in
    sections when a form is given or the piece is LONG_BARS or longer, else one window
    (`one_window`: interleaved or track by track, as `sampling.order` asks; best-of-N
    included). Planned pieces carry their plan as notes and
    `sections`; piece i has seed `seed + i`."""
    from tunesmith.generation.generate import bars_for

    plan = plan_of(bars_for(request.attributes), form)
    if plan is None:
        return one_window(request, num=num, seed=seed, sampling=sampling, checkpoint=checkpoint,
                          on_step=on_step)
    pieces = []
    for i in range(num):
        start = time.perf_counter()
        notes = [*request.notes, f"plan: {plan.text()}"]
        score = within(generate_with_form(request, plan, seed=seed + i, sampling=sampling,
                                          checkpoint=checkpoint, on_step=on_step, notes=notes), plan.bars)
        asked = request.attributes.merged(Attributes(bars=plan.bars))
        pieces.append(Generated(score, [], asked, seed + i, 0.0, time.perf_counter() - start, notes,
                                sections=tuple((s.label, s.first, s.bars) for s in plan.sections)))
    return pieces


def track_order(programs: list[int]) -> list[int]:
    """The order parts are written in, one after another: the drums, then the parts that carry
    the harmony and the tune, the bass last (it plays the roots of the harmony before it)."""
    rank = {"drums": 0, "bass": 2}
    return sorted(dict.fromkeys(programs), key=lambda p: rank.get(family(p), 1))


def generate_by_track(
    request: Request, *, seed: int = 0, sampling: SamplingConfig | None = None,
    checkpoint: Checkpoint | None = None, on_step: Callable[[int], None] | None = None,
) -> Generated:
    """A multi-instrument piece written one instrument after another (MMM / MIDI-GPT order,
    `track_order`): the first part is generated alone from the text, each next one by
    whole-track infilling over the piece so far. With no chords asked, the parts after the
    first pitched one follow its harmony (`theory.harmonize`, in the asked key or the key it
    reads as), as an arranger voices a band around the first idea. In the interleaved order a
    small model lets the busiest part crowd out the others (and the coverage boost then
    forces a note a bar); here each part has its own turn. Drums, when asked, come first: by
    default a groove (from the index, or the model's own first groove bar for a genre the
    index lacks) in every other bar and the model's bars between (`grooved`, infilling.drums),
    also when they are the only part."""
    from tunesmith.captions.features import estimate_key
    from tunesmith.generation.generate import bars_for, generate, get_checkpoint
    from tunesmith.generation.rewards import adherence_reward

    attrs = request.attributes
    cfg = under_chords(sampling or SamplingConfig()) if attrs.chords else sampling or SamplingConfig()
    order = track_order(list(attrs.instruments or ()))
    if len(order) < 2 and not grooved(order, cfg):
        return generate(request, seed=seed, sampling=sampling, checkpoint=checkpoint, on_step=on_step)[0]
    start = time.perf_counter()
    first = Request(request.prompt, request.explicit, attrs.merged(Attributes(instruments=(order[0],))),
                    request.notes)
    once = replace(cfg, candidates=1)  # best-of-N is the caller's, over whole pieces
    opening = generate(first, seed=seed, sampling=once, checkpoint=checkpoint, on_step=on_step)[0]
    bars = opening.attributes.bars or bars_for(attrs)  # the first part's length (a tempo it chose)
    steer = Attributes(key=attrs.key, genre=attrs.genre, mood=attrs.mood, instruments=attrs.instruments,
                       roles=attrs.roles, densities=attrs.densities)
    ckpt = checkpoint or get_checkpoint()
    score, chords = opening.score, attrs.chords
    notes = list(opening.notes)
    if grooved(order, cfg):
        drums = groove_drums(score, bars, attrs, seed=seed, checkpoint=ckpt, sampling=cfg, on_step=on_step)
        score = drums[0] if drums else score
        notes.append(drums[1].note() if drums else NO_GROOVE)
    for k, program in enumerate(order[1:], start=1):
        chords = chords or _harmony(score, 0, bars, attrs.key or estimate_key(score), notes)
        gen = torch.Generator().manual_seed(seed + k)
        controls = texture(program, cfg, attrs.densities)
        score = fill_track(ckpt, score, program, 0, bars, controls, steer, cfg, gen, on_step, chords)
    asked = attrs.merged(Attributes(bars=bars))
    score = within(score, bars)
    return Generated(score, [], asked, seed, opening.masked_share, time.perf_counter() - start,
                     notes, adherence_reward(score, attrs))


def within(score: Score, bars: int) -> Score:
    """`score` exactly `bars` long (`fit_length`): a looped groove's last hit or a re-filled
    part's held note cut at the end, silent last bars marked."""
    return fit_length(score, bar_starts(score, bars + 1)[bars])


def texture(program: int, sampling: SamplingConfig,
            densities: tuple[tuple[int, int], ...] | None = None) -> FillControls | None:
    """The per-bar control a part written by infilling is given: the notes a bar it is told
    (`densities`, Attributes.densities: a lead at most 5), else its family's in the band
    corpora (attributes.FAMILY_DENSITY), stated to the model; under `sampling.texture` "held"
    the sampler also steers each bar towards it (sampler._thin_busy: a soft steer, not the fill
    grammar's exact count, which put a bar's notes first and left its end empty); None for the
    drums, or with `sampling.texture` "off"."""
    density = told_density(program, densities)
    if density is None or sampling.texture == "off":
        return None
    return FillControls(density=density, strict=False)


NO_GROOVE = ("drums: no groove of this genre and meter in the index, and no bar of the model's that keeps "
             "time; the model wrote them")


def grooved(order: list[int], sampling: SamplingConfig) -> bool:
    """Whether the drums come from a retrieved groove (infilling.drums): asked, written first
    (track by track) and `sampling.drums` says so."""
    return bool(order) and order[0] == DRUMS and sampling.drums == "groove" and sampling.order == "trackwise"


def _harmony(score: Score, first: int, bars: int, key: str | None,
             notes: list[str] | None = None) -> tuple[str, ...] | None:
    """One chord a bar for bars [first, first + bars) from the piece's first pitched part,
    harmonized in `key` (None while that part is silent there or no key is known); says so
    in `notes`."""
    pitched = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    starts = bar_starts(score, first + bars + 1)
    if not pitched or key is None:
        return None
    chroma = track_chroma(pitched[0], starts[first : first + bars], starts[first + bars])
    if not chroma.any():
        return None
    chords = tuple(harmonize(chroma, key))
    if notes is not None:
        notes.append(f"chords from the {pitched[0].name or 'first part'}: {' '.join(chords)}")
    return chords


def one_window(
    request: Request, *, num: int = 1, seed: int = 0, sampling: SamplingConfig | None = None,
    checkpoint: Checkpoint | None = None, on_step: Callable[[int], None] | None = None,
) -> list[Generated]:
    """`num` one-window pieces in the order `sampling.order` asks: interleaved
    (`generation.generate`, best-of-N included), or, for two or more instruments or grooved
    drums, track by track (`generate_by_track`; piece i has seed `seed + i`, the best of each `candidates`
    kept as generate keeps them)."""
    from tunesmith.generation.generate import best_of, generate

    cfg = sampling or SamplingConfig()
    asked = list(set(request.attributes.instruments or ()))
    if cfg.order != "trackwise" or (len(asked) < 2 and not grooved(asked, cfg)):
        return generate(request, num=num, seed=seed, sampling=cfg, checkpoint=checkpoint, on_step=on_step)
    pieces = [generate_by_track(request, seed=seed + i, sampling=cfg, checkpoint=checkpoint, on_step=on_step)
              for i in range(num * cfg.candidates)]
    return best_of(pieces, cfg.candidates)
