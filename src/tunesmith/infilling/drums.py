"""Drums from a real groove: the shipped groove index (retrieval.grooves: band songs' drum parts
and Groove's drummers) gives a groove several drummers play; it sounds in every other bar and the
model writes the bars between, with the groove on both sides as context: a variation each
second bar and, at a phrase's end, what the model plays there (often a fill).

Why not the model alone: written bar by bar, a small model's drums scatter (snare rolls of
sixteenths, no backbeat, hi-hats at odd positions); pulling its keys toward its own first bar
(SamplingConfig.groove) repeats whatever that bar was. Why not the groove alone: a loop is
more alike bar to bar than drummers are (drum similarity 0.82 on the drum prompts against
0.68-0.76 in real music; 0.71 with the model's bars, benchmarks/listening_reference.py). This
is retrieval-guided writing, as a retrieved melody guides the lead (infilling.arrange): the
groove is drawn by how many pieces play it, for the piece's meter and genre; for a genre the
index holds too few of in the meter, the model's own first bar that keeps time is the groove."""

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
from tunesmith.retrieval.grooves import (
    MIN_GENRE_GROOVES,
    Groove,
    bar_hits,
    hits_fill,
    kit_class,
    load_grooves,
    loop_track,
    pick_groove,
)
from tunesmith.theory import CRASH, TIME_KEEPERS, bar_starts, meter_at

PHRASE = 4  # bars of a phrase: a crash may open it
BACKBEAT = frozenset((37, 38, 39))  # side stick, snare, clap (kit classes)
RIDE = frozenset((51, 53))  # ride, ride bell (kit classes)


@dataclass(frozen=True)
class DrumPlan:
    """The groove a drum part loops and the bars the model writes; `own` is the bar (0-based)
    of the model's drums that serves as the groove when the index has none to offer."""

    groove: Groove
    model_bars: tuple[int, ...]  # 0-based bars, from the section's first
    own: int | None = None

    def note(self) -> str:
        if self.own is not None:
            return (f"drums: the model's bar {self.own + 1} as the groove (the index has fewer than "
                    f"{MIN_GENRE_GROOVES} grooves of this genre and meter), in every other bar; the bars "
                    "between by the model")
        genre = f" {self.groove.genre}" if self.groove.genre else ""
        return (f"drums: a {self.groove.meter}{genre} groove played in {self.groove.pieces} pieces of the "
                f"index, in every other bar; the bars between by the model")


def model_bars(bars: int) -> tuple[int, ...]:
    """Every second bar (0-based 1, 3, ...): each phrase's second and last bar are the model's."""
    return tuple(range(1, bars, 2))


def keeps_time(groove: Groove) -> bool:
    """A band groove: a time-keeper (hi-hat or ride) over a kick and a backbeat (snare, stick
    or clap), or a ride over the hi-hat (jazz time: the hat's foot is the backbeat, kick and
    snare comp). The index also holds hats-only count-ins and kick-and-hat intros, real bars
    but not the groove a band's drummer is asked for."""
    kit = {kit_class(key) for _, key, _ in groove.hits}
    beat = 36 in kit and bool(kit & BACKBEAT) and bool(kit & TIME_KEEPERS)
    return beat or (bool(kit & RIDE) and 42 in kit)


def plan_drums(meter: str, genre: str | None, bars: int, seed: int) -> DrumPlan | None:
    """The groove and the model's bars of a drum part; None when the index holds no band
    groove of `meter`, or fewer than MIN_GENRE_GROOVES of the asked genre in it. The shipped
    index (assets/grooves.md) holds 4/4 rock, game music, latin, jazz, funk, hip hop,
    electronic, world, pop and soul, 3/4 jazz and 2/4 and 6/8 rock; not reggae, blues, country,
    folk or classical, nor rock in 3/4 or 12/8: a reggae song or a rock waltz over another
    genre's beat is wrong in a way the model's own drums are not (`groove_drums` then loops
    the model's own groove bar)."""
    grooves = [g for g in load_grooves() if keeps_time(g)]
    if genre is not None and sum(g.meter == meter and g.genre == genre for g in grooves) < MIN_GENRE_GROOVES:
        return None
    groove = pick_groove(grooves, meter, genre, np.random.default_rng(seed))
    if groove is None:
        return None
    return DrumPlan(groove, model_bars(bars))


def own_groove(score: Score, upto: int) -> tuple[Groove, int] | None:
    """The model's first groove bar among the piece's first `upto` bars (a bar of its drums with
    four or more hits and a time-keeper, not a fill), as a Groove, and its bar; None if none."""
    drums = next((t for t in score.tracks if t.is_drum and len(t.notes)), None)
    if drums is None:
        return None
    starts = bar_starts(score, upto + 1)
    for b in range(upto):
        hits = bar_hits(drums, starts[b], starts[b + 1], score.ticks_per_quarter)
        if len(hits) >= 4 and not hits_fill(hits) and {k for _, k, _ in hits} & TIME_KEEPERS:
            return Groove(meter_at(score, starts[b]), None, hits, 1, 1), b  # this piece, this bar
    return None


def looped(score: Score, groove: Groove, bars: int, first: int = 0) -> Score:
    """`score` with its (first) drum part, a new one if it has none, playing `groove` in every
    bar of [first, first + bars), its crash only on the first bar of a phrase; the part's
    notes before `first` stay, later ones go."""
    starts = bar_starts(score, first + bars + 1)
    out = score.copy()
    drums = [t for t in out.tracks if t.is_drum]
    if not drums:
        out.tracks.append(Track("Drums", 0, True))
        drums = [out.tracks[-1]]
    track = drums[0]
    track.notes = track.notes.filter(lambda n: n.time < starts[first], inplace=False)
    for b in range(bars):
        for note in loop_track(groove, starts[first + b : first + b + 2], score.ticks_per_quarter).notes:
            if b % PHRASE == 0 or note.pitch not in CRASH:  # a crash opens a phrase, not every bar
                track.notes.append(note)
    track.notes.sort()
    return out


def keep_halves(score: Score, groove: Groove, bar: int) -> Score:
    """`score` with the groove's hits put back in a half of a model-written `bar` (0-based)
    where its drums play under a quarter of what the groove plays there (crashes aside): the
    model's phrase-end bars left two beats silent before a fill (the demo's bars 4 and 8),
    or stopped after them, where a drummer keeps time until the fill comes in."""
    starts = bar_starts(score, bar + 2)
    a, e = starts[bar], starts[bar + 1]
    out = score.copy()
    drums = next((t for t in out.tracks if t.is_drum), None)
    if drums is None:
        return score
    loop = [n for n in loop_track(groove, [a, e], score.ticks_per_quarter).notes if n.pitch not in CRASH]
    mid = a + (e - a) // 2
    for lo, hi in ((a, mid), (mid, e)):
        theirs = [n for n in loop if lo <= n.time < hi]
        mine = sum(lo <= n.time < hi for n in drums.notes)
        if 4 * mine < len(theirs):
            drums.notes.extend(n.copy() for n in theirs)
    drums.notes.sort()
    return out


def groove_drums(
    score: Score, bars: int, attrs: Attributes, *, seed: int, checkpoint: Checkpoint,
    sampling: SamplingConfig, on_step: Callable[[int], None] | None = None, first: int = 0,
) -> tuple[Score, DrumPlan] | None:
    """`score` with drums from a retrieved groove in bars [first, first + bars), the model
    writing every second bar. When the index has too few grooves of the genre and meter
    (`plan_drums`), the model's own first groove bar is the groove (a reggae one-drop stays a
    one-drop, and comes back as a drummer's would); None when its drums hold no such bar
    either (they stay)."""
    plan = plan_drums(meter_at(score), attrs.genre, bars, seed)
    if plan is None:
        own = own_groove(score, first + bars)
        if own is None:
            return None
        plan = DrumPlan(own[0], model_bars(bars), own[1])
    out = looped(score, plan.groove, bars, first)
    gen = torch.Generator().manual_seed(seed)
    steer = Attributes(genre=attrs.genre, mood=attrs.mood)
    for bar in plan.model_bars:
        out = fill_track(checkpoint, out, DRUMS, first + bar, 1, None, steer, sampling, gen, on_step, None)
        out = keep_halves(out, plan.groove, first + bar)
    return out, plan
