"""Drums from a real groove: the shipped groove index (retrieval.grooves, mined from the band
corpora's drum parts) gives a groove many drummers play and its nearest variant; the part
loops them (A B A B ...) and the model writes the last bar of every phrase, where a drummer
plays a fill, with the groove around it as context.

Why not the model alone: written bar by bar, a small model's drums scatter (snare rolls of
sixteenths, no backbeat, hi-hats at odd positions); pulling its keys toward its own first bar
(SamplingConfig.groove) repeats whatever that bar was. This is retrieval-guided writing, as a
retrieved melody guides the lead (infilling.arrange), not a fixed loop: the groove is drawn
by how many pieces play it, for the piece's meter and genre."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from symusic import Score, Track

from tunesmith.attributes import DRUMS, Attributes
from tunesmith.generation.sampler import SamplingConfig
from tunesmith.infilling.infill import fill_track
from tunesmith.model import Checkpoint
from tunesmith.retrieval.grooves import Groove, groove_key, kit_class, load_grooves, loop_track, pick_groove
from tunesmith.theory import CRASH, TIME_KEEPERS, bar_starts, meter_at

PHRASE = 4  # bars of a phrase: its last bar is the model's (a fill, as drummers play)
MIN_VARIANT = 0.5  # Jaccard of (step, kit piece) a variant keeps with its groove
BACKBEAT = frozenset((37, 38, 39))  # side stick, snare, clap (kit classes)


@dataclass(frozen=True)
class DrumPlan:
    """The grooves a drum part loops, bar by bar alternately, and the bars the model writes."""

    groove: Groove
    variant: Groove
    fills: tuple[int, ...]  # 0-based bars

    def note(self) -> str:
        genre = f" {self.groove.genre}" if self.groove.genre else ""
        other = " and a variant" if self.variant != self.groove else ""
        bars = ", ".join(str(b + 1) for b in self.fills)
        fills = f"; fills by the model in bar{'s' * (len(self.fills) > 1)} {bars}" if self.fills else ""
        return (f"drums: a {self.groove.meter}{genre} groove played in {self.groove.pieces} pieces of the "
                f"index{other}, looped{fills}")


def jaccard(a: Groove, b: Groove) -> float:
    x, y = groove_key(a.hits), groove_key(b.hits)
    return len(x & y) / len(x | y) if x | y else 1.0


def variant_of(groove: Groove, grooves: list[Groove]) -> Groove:
    """The groove of the same meter closest to `groove` (at least MIN_VARIANT alike), else
    `groove` itself: a drummer's second bar changes a kick or a hat, not the whole pattern."""
    near = [(jaccard(groove, g), -i) for i, g in enumerate(grooves)
            if g.meter == groove.meter and g != groove]
    best = max(near, default=None)
    return grooves[-best[1]] if best is not None and best[0] >= MIN_VARIANT else groove


def fill_bars(bars: int) -> tuple[int, ...]:
    """The last bar of every full phrase (0-based): 8 bars -> 3, 7."""
    return tuple(b for b in range(bars) if (b + 1) % PHRASE == 0)


def keeps_time(groove: Groove) -> bool:
    """A band groove: a kick, a backbeat (snare, stick or clap) and a time-keeper (hi-hat or
    ride). The index also holds hats-only count-ins and kick-and-hat intros, real bars but
    not the groove a band's drummer is asked for."""
    kit = {kit_class(key) for _, key, _ in groove.hits}
    return 36 in kit and bool(kit & BACKBEAT) and bool(kit & TIME_KEEPERS)


def plan_drums(meter: str, genre: str | None, bars: int, seed: int) -> DrumPlan | None:
    """The grooves and fill bars of a drum part; None when the index holds no band groove of
    `meter`."""
    grooves = [g for g in load_grooves() if keeps_time(g)]
    groove = pick_groove(grooves, meter, genre, np.random.default_rng(seed))
    if groove is None:
        return None
    return DrumPlan(groove, variant_of(groove, grooves), fill_bars(bars))


def looped(score: Score, plan: DrumPlan, bars: int, first: int = 0) -> Score:
    """`score` with its (first) drum part, a new one if it has none, playing the plan's
    grooves in bars [first, first + bars), alternating bar by bar, its crash only on the first
    bar of a phrase; the part's notes before `first` stay, later ones go."""
    starts = bar_starts(score, first + bars + 1)
    out = score.copy()
    drums = [t for t in out.tracks if t.is_drum]
    if not drums:
        out.tracks.append(Track("Drums", 0, True))
        drums = [out.tracks[-1]]
    track = drums[0]
    track.notes = track.notes.filter(lambda n: n.time < starts[first], inplace=False)
    for b in range(bars):
        source = plan.groove if b % 2 == 0 else plan.variant
        for note in loop_track(source, starts[first + b : first + b + 2], score.ticks_per_quarter).notes:
            if b % PHRASE == 0 or note.pitch not in CRASH:  # a crash opens a phrase, not every bar
                track.notes.append(note)
    track.notes.sort()
    return out


def groove_drums(
    score: Score, bars: int, attrs: Attributes, *, seed: int, checkpoint: Checkpoint,
    sampling: SamplingConfig, on_step: Callable[[int], None] | None = None, first: int = 0,
) -> tuple[Score, DrumPlan] | None:
    """`score` with drums from a retrieved groove in bars [first, first + bars), the model
    writing each phrase's last bar; None when the index has no band groove in the piece's
    meter (the model's drums stay)."""
    plan = plan_drums(meter_at(score), attrs.genre, bars, seed)
    if plan is None:
        return None
    out = looped(score, plan, bars, first)
    gen = torch.Generator().manual_seed(seed)
    steer = Attributes(genre=attrs.genre, mood=attrs.mood)
    for bar in plan.fills:
        out = fill_track(checkpoint, out, DRUMS, first + bar, 1, None, steer, sampling, gen, on_step, None)
    return out, plan
