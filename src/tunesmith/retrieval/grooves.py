"""The groove index: real drum grooves mined from band corpora, picked by meter and genre, looped.

Consumes symusic Scores with drum parts (the Groove MIDI Dataset of Gillick et al., 2019, and
band arrangements); produces `Groove`s, one bar of kit hits on a grid of 12 steps a quarter
(16ths and 16th triplets both land on it), each counted over the pieces that play it: sequenced
bars when they match exactly, human-timed ones when their skeletons match; a gzipped JSON asset
of them; and drum Tracks that loop one groove bar after bar, for the model to vary.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from symusic import Note, Score, Track

from tunesmith.data.clean import CleanReport, clean_tracks, quantize
from tunesmith.errors import ConfigError, InputError
from tunesmith.retrieval.assets import read_asset
from tunesmith.theory import TIME_KEEPERS, bar_starts, is_fill, meter_at

if TYPE_CHECKING:
    from tunesmith.data.corpora import Piece, Reader

__all__ = [
    "DEFAULT_GROOVES",
    "HUMAN_TIMED",
    "STEPS_PER_QUARTER",
    "Groove",
    "GrooveTally",
    "SkeletonTally",
    "bar_hits",
    "drum_kit",
    "grid_text",
    "groove_key",
    "groove_reader",
    "kit_class",
    "load_grooves",
    "loop_track",
    "medoid",
    "mine_grooves",
    "pick_groove",
    "ranked",
    "save_grooves",
    "skeleton",
    "snap_bar",
    "top_grooves",
    "train_scores",
    "whole_bars",
]

STEPS_PER_QUARTER = 12  # grid holding both 16ths (3 steps) and 16th triplets (4 steps)
DEFAULT_GROOVES = Path(__file__).resolve().parent.parent / "assets" / "grooves.json.gz"
FORMAT, VERSION = "tunesmith-grooves", 1
MIN_GENRE_GROOVES = 3  # fewer grooves of a genre in a meter: the genre is not in the index
HELD_OUT = ("freedoom", "openmsx")  # the listening benchmark's held-out corpora: never mined
# GM keys played as one sound by a drummer: bass drums, snares, closed/pedal hats, crashes, rides
KIT_CLASSES = {35: 36, 40: 38, 44: 42, 57: 49, 59: 51}
# Skeletons (human-timed bars, `skeleton`): what a drummer varies bar to bar is left out
HUMAN_TIMED = ("groove",)  # corpora (data.corpora names) whose bars are matched by skeleton
GHOST = 0.5  # a hit under half its bar's median velocity is a ghost note
FOLDS = {46: 42, 53: 51}  # open hat heard as the hat, ride bell as the ride (after KIT_CLASSES)
CYMBALS = frozenset((49, 52, 55))  # crash, china, splash: a phrase's accents, not its groove
MIN_BARS = 4  # a skeleton of only two performances is a groove when they play it this often
MEDOID_BARS = 400  # the stored bar is the medoid of a skeleton's first bars (bounded cost)

Hit = tuple[int, int, int]  # (step from bar start, GM drum key, velocity)
Skeleton = tuple[frozenset[tuple[int, int]], frozenset[int]]  # (step, class) cells, time-keepers


@dataclass(frozen=True)
class Groove:
    """One bar of drums played in `pieces` pieces (`bars` bars in all) of meter `meter`."""

    meter: str  # "4/4", "3/4", "6/8", ...
    genre: str | None  # commonest genre label of the pieces it was played in
    hits: tuple[Hit, ...]  # (step in STEPS_PER_QUARTER units, GM drum key, velocity), sorted:
    # mean velocities of an exact match; a skeleton's medoid bar as played
    pieces: int
    bars: int

    def __post_init__(self) -> None:
        steps = bar_steps(self.meter)
        for step, key, velocity in self.hits:
            if not (0 <= step < steps and 0 <= key <= 127 and 1 <= velocity <= 127):
                raise ConfigError(f"groove hit {(step, key, velocity)} is invalid in {self.meter}: "
                                  f"allowed step 0-{steps - 1}, key 0-127, velocity 1-127")
        if list(self.hits) != sorted(self.hits):
            raise ConfigError(f"groove hits {self.hits[:4]}... are not sorted by step and key")
        if self.pieces < 1 or self.bars < self.pieces:
            raise ConfigError(f"groove counts pieces={self.pieces}, bars={self.bars} are invalid: "
                              "need 1 <= pieces <= bars")


# --- the grid -------------------------------------------------------------------------------
def bar_steps(meter: str) -> int:
    """Grid steps in a bar of `meter` ("6/8" -> 36)."""
    num, _, den = meter.partition("/")
    if not (num.isdigit() and den.isdigit() and int(num) > 0 and int(den) > 0):
        raise InputError(f"meter {meter!r} is invalid: write NUMERATOR/DENOMINATOR, e.g. '4/4'")
    return int(num) * 4 * STEPS_PER_QUARTER // int(den)


def kit_class(key: int) -> int:
    """The sound a GM drum key plays as: 35 -> 36, 40 -> 38, 44 -> 42, 57 -> 49, 59 -> 51."""
    return KIT_CLASSES.get(key, key)


def groove_key(hits: Iterable[tuple[int, ...]]) -> frozenset[tuple[int, int]]:
    """What makes two bars the same groove: where each kit class plays, velocity aside."""
    return frozenset((h[0], kit_class(h[1])) for h in hits)


@dataclass(frozen=True)
class _Kit:
    """The notes of one or more drum tracks as arrays sorted by onset."""

    time: np.ndarray  # (N,) ticks
    pitch: np.ndarray  # (N,)
    velocity: np.ndarray  # (N,)


def drum_kit(tracks: Iterable[Track]) -> _Kit:
    """The notes of `tracks` (one kit: split-kit parts together) as arrays sorted by onset."""
    arrays = [t.notes.numpy() for t in tracks if len(t.notes)]
    if not arrays:
        return _Kit(*(np.zeros(0, dtype=np.int64) for _ in range(3)))
    time = np.concatenate([a["time"] for a in arrays]).astype(np.int64)
    order = np.argsort(time, kind="stable")
    pitch = np.concatenate([a["pitch"] for a in arrays]).astype(np.int64)
    velocity = np.concatenate([a["velocity"] for a in arrays]).astype(np.int64)
    return _Kit(time[order], pitch[order], velocity[order])


def _bar_hits(kit: _Kit, start: int, end: int, tpq: int) -> tuple[Hit, ...]:
    # A note belongs to the bar whose grid it rounds onto: a downbeat played a little early
    # is the next bar's step 0, not this bar's last step.
    half = tpq / (2 * STEPS_PER_QUARTER)
    lo, hi = np.searchsorted(kit.time, [start - half, end - half], side="left")
    steps = np.floor((kit.time[lo:hi] - start) * STEPS_PER_QUARTER / tpq + 0.5).astype(np.int64)
    n = round((end - start) * STEPS_PER_QUARTER / tpq)
    loudest: dict[tuple[int, int], int] = {}  # a key struck twice on one step: a flam, one hit
    for step, key, vel in zip(steps.tolist(), kit.pitch[lo:hi].tolist(), kit.velocity[lo:hi].tolist(),
                              strict=True):
        if 0 <= step < n:
            loudest[(step, key)] = max(loudest.get((step, key), 0), vel)
    return tuple(sorted((s, k, v) for (s, k), v in loudest.items()))


def bar_hits(track: Track, start: int, end: int, tpq: int) -> tuple[Hit, ...]:
    """The hits of a drum track in the bar [start, end) on the 12-step grid, onsets rounded to
    the nearest step; a key struck twice on one step counts once, at its louder velocity."""
    if tpq <= 0 or end <= start:
        raise InputError(f"bar [{start}, {end}) at {tpq} ticks per quarter is invalid: "
                         "need end > start and tpq > 0")
    return _bar_hits(drum_kit([track]), start, end, tpq)


def hits_fill(hits: Iterable[tuple[int, ...]]) -> bool:
    """Whether a bar of hits (step, GM key, ...) is a drum fill (theory.is_fill, which reads
    {onset: keys})."""
    onsets: dict[int, set[int]] = {}
    for step, key, *_ in hits:
        onsets.setdefault(step, set()).add(key)
    return is_fill(onsets)


# --- skeletons: human-timed bars ------------------------------------------------------------
def _played(kit: _Kit, start: int, end: int, tpq: int) -> list[tuple[float, int, int]]:
    """(onset in quarters from `start`, GM key, velocity) of the kit's notes in the bar [start,
    end); a note up to a 32nd early is the bar's (a downbeat pushed ahead)."""
    lo, hi = np.searchsorted(kit.time, [start - tpq / 8, end - tpq / 8], side="left")
    onsets = (kit.time[lo:hi] - start) / tpq
    return list(zip(onsets.tolist(), kit.pitch[lo:hi].tolist(), kit.velocity[lo:hi].tolist(), strict=True))


def _division(notes: list[tuple[float, int, int]]) -> int:
    """4 (16ths) or 3 (16th triplets): the division of a beat its notes (offset in the beat,
    key, velocity) lie nearer, by velocity-weighted squared distance (accents decide); 16ths
    on a tie, so a beat of downbeats alone stays straight."""
    def miss(per: int) -> float:
        return sum(vel * (frac - math.floor(frac * per + 0.5) / per) ** 2 for frac, _, vel in notes)

    return 4 if miss(4) <= miss(3) else 3


def snap_bar(played: Iterable[tuple[float, int, int]], meter: str) -> tuple[Hit, ...]:
    """A played bar ((onset in quarters, GM key, velocity)) of `meter` on the 12-step grid, each
    beat snapped to 16ths or to 16th triplets, whichever fits it better (a swung ride keeps its
    triplets, a funk 16th its 16th); a key struck twice on one step counts once, the louder."""
    beats: dict[int, list[tuple[float, int, int]]] = {}
    for onset, key, vel in played:
        beat = math.floor(onset + 1 / 8)  # up to a 32nd early: that beat's downbeat
        beats.setdefault(beat, []).append((onset - beat, key, vel))
    steps = bar_steps(meter)
    loudest: dict[tuple[int, int], int] = {}
    for beat, notes in beats.items():
        per = _division(notes)
        for frac, key, vel in notes:
            step = beat * STEPS_PER_QUARTER + math.floor(frac * per + 0.5) * (STEPS_PER_QUARTER // per)
            if 0 <= step < steps:
                loudest[(step, key)] = max(loudest.get((step, key), 0), vel)
    return tuple(sorted((step, key, vel) for (step, key), vel in loudest.items()))


def skeleton(hits: Iterable[tuple[int, int, int]]) -> Skeleton:
    """What makes two played bars the same groove: where each sound but cymbals and
    time-keepers plays, and which time-keepers (hat, ride) keep time. Left out, as what a
    drummer varies bar to bar: ghost notes (under GHOST x the bar's median velocity), what the
    hat or ride plays (8ths or 16ths, open or closed, bell or bow) and crashes."""
    hits = list(hits)
    if not hits:
        return frozenset(), frozenset()
    floor = GHOST * float(np.median([vel for _, _, vel in hits]))
    core = [(step, FOLDS.get(kit_class(key), kit_class(key))) for step, key, vel in hits if vel >= floor]
    cells = frozenset((s, c) for s, c in core if c not in TIME_KEEPERS and c not in CYMBALS)
    return cells, frozenset(c for _, c in core if c in TIME_KEEPERS)


def medoid(bars: Sequence[tuple[Hit, ...]]) -> tuple[Hit, ...]:
    """The bar nearest all others: least summed count of (step, kit class) cells one of two bars
    plays and the other does not; the first on a tie. A real bar, not an average of bars."""
    if not bars:
        raise InputError("no bars to choose a medoid from: need at least one")
    index: dict[tuple[int, int], int] = {}
    rows = [[index.setdefault((s, kit_class(k)), len(index)) for s, k, _ in bar] for bar in bars]
    x = np.zeros((len(bars), len(index)))  # (B, C) cells each bar plays
    for b, cells in enumerate(rows):
        x[b, cells] = 1.0
    sizes = x.sum(axis=1)
    apart = sizes[:, None] + sizes[None, :] - 2 * x @ x.T  # (B, B) symmetric differences
    return bars[int(np.argmin(apart.sum(axis=1)))]


# --- mining ---------------------------------------------------------------------------------
def whole_bars(score: Score) -> Iterator[tuple[int, int, str]]:
    """(start, end, meter) of each bar of `score` (theory.bar_starts's bars) not cut short by a
    new meter: a cut bar is no groove."""
    tpq, starts = score.ticks_per_quarter, bar_starts(score)
    for i, start in enumerate(starts):
        meter = meter_at(score, start)
        num, den = (int(x) for x in meter.split("/"))
        end = start + num * tpq * 4 // den
        if i + 1 == len(starts) or starts[i + 1] == end:
            yield start, end, meter


@dataclass
class _Tally:
    """Bars of a stream of pieces (add them one by one) that may be grooves, with what was
    skipped; subclasses say how a bar is read (`_hits`) and counted (`_count`)."""

    min_hits: int = 4
    min_classes: int = 2  # one sound alone (a count-in, a click, a shaker) keeps no groove
    pieces: int = 0  # pieces added
    drum_pieces: int = 0  # of which with a drum part
    drum_bars: int = 0  # whole bars with at least one drum hit
    sparse_bars: int = 0  # of which with fewer than min_hits hits
    fill_bars: int = 0  # of which fills (theory.is_fill)
    one_sound_bars: int = 0  # of which with fewer than min_classes kit classes

    def add(self, score: Score, genre: str | None) -> None:
        """Count the bars of every drum part of `score` (its drum tracks are one kit: split-kit
        files put kick, snare and hats on tracks of their own)."""
        self.pieces += 1
        kit = drum_kit(t for t in score.tracks if t.is_drum)
        if not len(kit.time):
            return
        self.drum_pieces += 1
        for start, end, meter in whole_bars(score):
            hits = self._hits(kit, start, end, score.ticks_per_quarter, meter)
            if self._groove_bar(hits):
                self._count(hits, meter, genre)

    def _groove_bar(self, hits: tuple[Hit, ...]) -> bool:
        if not hits:
            return False
        self.drum_bars += 1
        if len(hits) < self.min_hits:
            self.sparse_bars += 1
        elif hits_fill(hits):
            self.fill_bars += 1
        elif len({kit_class(key) for _, key, _ in hits}) < self.min_classes:
            self.one_sound_bars += 1
        else:
            return True
        return False

    def _hits(self, kit: _Kit, start: int, end: int, tpq: int, meter: str) -> tuple[Hit, ...]:
        raise NotImplementedError

    def _count(self, hits: tuple[Hit, ...], meter: str, genre: str | None) -> None:
        raise NotImplementedError

    def _counts(self, distinct: int) -> dict[str, int]:
        return {"pieces": self.pieces, "drum_pieces": self.drum_pieces, "drum_bars": self.drum_bars,
                "sparse_bars_skipped": self.sparse_bars, "fill_bars_skipped": self.fill_bars,
                "one_sound_bars_skipped": self.one_sound_bars, "distinct_bars": distinct}


@dataclass
class _Entry:
    """Running counts of one (meter, groove_key) over the bars that play it."""

    cells: tuple[tuple[int, int], ...]  # sorted (step, kit class)
    velocity: list[float]  # summed velocity per cell
    keys: Counter[tuple[int, int]] = field(default_factory=Counter)  # (cell index, GM key)
    genres: Counter[str | None] = field(default_factory=Counter)  # once per piece
    bars: int = 0
    pieces: int = 0
    last_piece: int = -1


def _cells(hits: tuple[Hit, ...]) -> dict[tuple[int, int], tuple[int, set[int]]]:
    """(step, class) -> (loudest velocity, GM keys) of a bar's hits."""
    cells: dict[tuple[int, int], tuple[int, set[int]]] = {}
    for step, key, vel in hits:
        loud, keys = cells.get((step, kit_class(key)), (0, set()))
        cells[(step, kit_class(key))] = (max(loud, vel), keys | {key})
    return cells


@dataclass
class GrooveTally(_Tally):
    """Grooves of sequenced pieces: bars on the 12-step grid are the same groove when they hit
    the same kit classes on the same steps (groove_key)."""

    entries: dict[tuple[str, frozenset[tuple[int, int]]], _Entry] = field(default_factory=dict)

    def _hits(self, kit: _Kit, start: int, end: int, tpq: int, meter: str) -> tuple[Hit, ...]:
        return _bar_hits(kit, start, end, tpq)

    def _count(self, hits: tuple[Hit, ...], meter: str, genre: str | None) -> None:
        cells = _cells(hits)
        entry = self.entries.get((meter, frozenset(cells)))
        if entry is None:
            order = tuple(sorted(cells))
            entry = self.entries[(meter, frozenset(cells))] = _Entry(order, [0.0] * len(order))
        entry.bars += 1
        if entry.last_piece != self.pieces:  # first bar of this piece to play it
            entry.last_piece, entry.pieces = self.pieces, entry.pieces + 1
            entry.genres[genre] += 1
        for i, cell in enumerate(entry.cells):
            vel, keys = cells[cell]
            entry.velocity[i] += vel
            entry.keys.update((i, k) for k in keys)

    def grooves(self, min_pieces: int = 3) -> list[Groove]:
        """The grooves played in at least `min_pieces` pieces, the most widely played first."""
        return ranked([_groove(meter, e) for (meter, _), e in self.entries.items() if e.pieces >= min_pieces])

    def counts(self) -> dict[str, int]:
        return self._counts(len(self.entries))


def _groove(meter: str, e: _Entry) -> Groove:
    hits = []
    for i, (step, cls) in enumerate(e.cells):
        # the key most played in this cell; on a tie the class's own key, then the lower one
        key = max((k for j, k in e.keys if j == i), key=lambda k: (e.keys[(i, k)], k == cls, -k))
        hits.append((step, key, min(127, max(1, round(e.velocity[i] / e.bars)))))
    genre = min(e.genres, key=lambda g: (-e.genres[g], g is None, g or ""))
    return Groove(meter, genre, tuple(sorted(hits)), e.pieces, e.bars)


@dataclass
class _Played:
    """The bars of one (meter, genre, skeleton): the first MEDOID_BARS kept for the medoid."""

    bars: list[tuple[Hit, ...]] = field(default_factory=list)
    count: int = 0
    pieces: int = 0
    last_piece: int = -1


@dataclass
class SkeletonTally(_Tally):
    """Grooves of human-timed performances (Groove's drummers), whose bars never repeat exactly
    on the grid: each bar is snapped beat by beat (snap_bar), and bars of one genre are the same
    groove when their skeletons match. The groove stored is their medoid, a bar as it was
    played, ghost notes, open hats and accents kept. Keyed by genre too: a funk and a rock
    drummer share a backbeat's skeleton, not its ornaments."""

    entries: dict[tuple[str, str | None, Skeleton], _Played] = field(default_factory=dict)

    def _hits(self, kit: _Kit, start: int, end: int, tpq: int, meter: str) -> tuple[Hit, ...]:
        return snap_bar(_played(kit, start, end, tpq), meter)

    def _count(self, hits: tuple[Hit, ...], meter: str, genre: str | None) -> None:
        entry = self.entries.setdefault((meter, genre, skeleton(hits)), _Played())
        entry.count += 1
        if len(entry.bars) < MEDOID_BARS:
            entry.bars.append(hits)
        if entry.last_piece != self.pieces:
            entry.last_piece, entry.pieces = self.pieces, entry.pieces + 1

    def grooves(self, min_pieces: int = 3, min_bars: int = MIN_BARS) -> list[Groove]:
        """The skeletons played in at least `min_pieces` performances, or in two and at least
        `min_bars` bars (a drummer repeats a groove through a performance, and some styles have
        only two performances in the train split), as their medoid bars, most widely played first."""
        if min(min_pieces, min_bars) < 1:
            raise InputError(f"min_pieces={min_pieces}, min_bars={min_bars} are invalid: need each >= 1")
        return ranked([Groove(meter, genre, medoid(e.bars), e.pieces, e.count)
                       for (meter, genre, _), e in self.entries.items()
                       if e.pieces >= min_pieces or (e.pieces >= 2 and e.count >= min_bars)])

    def counts(self) -> dict[str, int]:
        return self._counts(len(self.entries))


def ranked(grooves: Iterable[Groove]) -> list[Groove]:
    """The most widely played first: by pieces, then bars."""
    return sorted(grooves, key=lambda g: (-g.pieces, -g.bars, g.meter, g.genre or "", g.hits))


def mine_grooves(pieces: Iterable[tuple[Score, str | None]], min_pieces: int = 3,
                 min_hits: int = 4, min_classes: int = 2, *, skeletons: bool = False,
                 min_bars: int = MIN_BARS) -> list[Groove]:
    """The drum bars (whole bars of one meter, at least `min_hits` hits of `min_classes` kit
    classes, no fills) played in at least `min_pieces` of `pieces` ((score, genre) pairs), sorted
    by pieces (most first): exact matches with mean velocities and their commonest genre, or
    with `skeletons` (human-timed pieces) matching skeletons per genre, as medoid bars, also
    kept when played in two pieces and `min_bars` bars."""
    if min(min_pieces, min_hits, min_classes, min_bars) < 1:
        raise InputError(f"min_pieces={min_pieces}, min_hits={min_hits}, min_classes={min_classes}, "
                         f"min_bars={min_bars} are invalid: need each >= 1")
    if skeletons:
        played = SkeletonTally(min_hits=min_hits, min_classes=min_classes)
        for score, genre in pieces:
            played.add(score, genre)
        return played.grooves(min_pieces, min_bars)
    tally = GrooveTally(min_hits=min_hits, min_classes=min_classes)
    for score, genre in pieces:
        tally.add(score, genre)
    return tally.grooves(min_pieces)


def top_grooves(grooves: list[Groove], n: int = 200) -> list[Groove]:
    """At most `n` grooves per (meter, genre), the most widely played; the order is kept."""
    if n < 1:
        raise InputError(f"top {n} is invalid: need an integer >= 1")
    kept: Counter[tuple[str, str | None]] = Counter()
    out = []
    for g in grooves:
        if kept[(g.meter, g.genre)] < n:
            kept[(g.meter, g.genre)] += 1
            out.append(g)
    return out


# --- corpora (I/O) --------------------------------------------------------------------------
def groove_reader(spec: str) -> Reader:
    """The corpus reader of `spec` (data.corpora.open_corpus), refusing the held-out corpora."""
    from tunesmith.data.corpora import open_corpus

    if any(part.lower() in HELD_OUT for part in Path(spec.partition(":")[2]).resolve().parts):
        raise ConfigError(f"corpus {spec!r} is held out for evaluation: allowed any corpus but "
                          f"{', '.join(HELD_OUT)}")
    return open_corpus(spec)


def train_scores(reader: Iterable[Piece], report: CleanReport, counts: Counter[str],
                 advance: Callable[[], None] = lambda: None,
                 grid: int | None = STEPS_PER_QUARTER) -> Iterator[tuple[Score, str | None]]:
    """(drum parts, genre) of the train-split pieces of a corpus reader, cleaned as training
    data is (data.clean: drums found by name, duplicates dropped, GM keys only) but on a grid
    of `grid` steps a quarter (default 12, so 16th triplets stay triplets; None: as played, for
    the feel table's timing). Counts pieces read and kept in `counts`."""
    from tunesmith.data.build import piece_split

    for piece in reader:
        counts["pieces_read"] += 1
        if piece_split(piece.id, piece.labels) == "train":
            counts["train_pieces"] += 1
            drums = clean_tracks(piece.score, report)
            drums.tracks = [t for t in drums.tracks if t.is_drum]  # the rest is not needed here
            yield (quantize(drums, 8, grid, report) if grid else drums), piece.labels.get("genre")
        advance()


# --- the asset ------------------------------------------------------------------------------
def save_grooves(grooves: Iterable[Groove], path: str | Path, provenance: dict[str, Any]) -> None:
    """Gzipped JSON: format, version, grid, provenance and one row per groove (byte-identical
    for identical input: no timestamp in the gzip header)."""
    from tunesmith.midi.io import write_bytes_atomic

    rows = [{"meter": g.meter, "genre": g.genre, "pieces": g.pieces, "bars": g.bars,
             "hits": [list(h) for h in g.hits]} for g in grooves]
    doc = {"format": FORMAT, "version": VERSION, "steps_per_quarter": STEPS_PER_QUARTER,
           "provenance": provenance, "grooves": rows}
    data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    write_bytes_atomic(path, gzip.compress(data, mtime=0))


def load_grooves(path: str | Path | None = None) -> list[Groove]:
    """The grooves of a file written by save_grooves (default: the shipped asset), cached."""
    return list(_load(str(Path(path) if path is not None else DEFAULT_GROOVES)))


@functools.cache
def _load(path: str) -> tuple[Groove, ...]:
    doc = read_asset(path, "groove file", FORMAT, VERSION, "tunesmith data grooves")
    if doc.get("steps_per_quarter") != STEPS_PER_QUARTER:
        raise ConfigError(f"groove file {path} has steps_per_quarter={doc.get('steps_per_quarter')!r}: "
                          f"allowed {STEPS_PER_QUARTER}")
    try:
        return tuple(Groove(r["meter"], r["genre"], tuple(tuple(h) for h in r["hits"]), r["pieces"],
                            r["bars"]) for r in doc["grooves"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"groove file {path} has a malformed row: {exc!r}") from exc


# --- retrieval and writing ------------------------------------------------------------------
def pick_groove(grooves: Iterable[Groove], meter: str, genre: str | None,
                rng: np.random.Generator) -> Groove | None:
    """A groove of `meter`, of `genre` when that genre has at least MIN_GENRE_GROOVES in the
    meter (else of any genre), drawn with weight `pieces`; None when none has the meter."""
    same_meter = [g for g in grooves if g.meter == meter]
    if not same_meter:
        return None
    same_genre = [g for g in same_meter if genre is not None and g.genre == genre]
    candidates = same_genre if len(same_genre) >= MIN_GENRE_GROOVES else same_meter
    weights = np.array([g.pieces for g in candidates], dtype=np.float64)
    return candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))]


def loop_track(groove: Groove, starts: list[int], tpq: int, program: int = 0) -> Track:
    """A drum Track playing `groove` in every bar [starts[i], starts[i+1]) (len(starts) - 1
    bars), each hit a 16th long at the groove's velocity; hits past a short bar's end are left out."""
    if tpq <= 0:
        raise InputError(f"tpq {tpq} is invalid: need an integer > 0")
    if any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
        raise InputError(f"bar starts {starts[:8]} are not increasing: need starts[i] < starts[i + 1]")
    track = Track(name="Drums", program=program, is_drum=True)
    length = max(tpq // 4, 1)
    for start, end in zip(starts, starts[1:], strict=False):
        for step, key, velocity in groove.hits:
            tick = start + round(step * tpq / STEPS_PER_QUARTER)
            if tick < end:
                track.notes.append(Note(tick, length, key, velocity))
    return track


# --- a text view (model cards, debugging) ---------------------------------------------------
NAMES = {36: "kick", 38: "snare", 37: "stick", 39: "clap", 42: "hat", 46: "open hat", 51: "ride",
         53: "ride bell", 49: "crash", 52: "china", 55: "splash", 54: "tambourine", 56: "cowbell",
         41: "tom 6", 43: "tom 5", 45: "tom 4", 47: "tom 3", 48: "tom 2", 50: "tom 1"}


def grid_text(groove: Groove) -> list[str]:
    """One row per kit class over the bar's 16ths: 'X' a hit of velocity >= 100, 'x' softer,
    '3' a hit off the 16ths (a triplet) shown on the 16th it falls in, '.' none."""
    per16 = STEPS_PER_QUARTER // 4
    n = bar_steps(groove.meter) // per16
    rows: dict[int, list[str]] = {}
    for step, key, velocity in groove.hits:
        row = rows.setdefault(kit_class(key), ["."] * n)
        row[step // per16] = "3" if step % per16 else "X" if velocity >= 100 else "x"
    return [f"{NAMES.get(cls, f'key {cls}'):>10} {''.join(cells)}" for cls, cells in sorted(rows.items())]
