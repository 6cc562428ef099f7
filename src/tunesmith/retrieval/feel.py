"""Human feel: drum micro-timing mined from real performances, laid on straight scores.

Consumes human-timed drum performances (the Groove MIDI Dataset of Gillick et al., 2019, whose
offsets from the grid their GrooVAE models); produces a `FeelTable` (per genre, kit class and
16th of the beat: the median onset offset from the 16th grid in quarters, measured from the
bar's own time, a robust spread and the median velocity), a small JSON asset of it, and
`humanize`, which moves the drum onsets of a straight score (our training data is snapped to
16ths) by draws from it. Off by default: front-ends call `apply_feel` with `FeelConfig`.
"""

from __future__ import annotations

import functools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from symusic import Note, Score, Track

from tunesmith.errors import ConfigError, InputError
from tunesmith.retrieval.assets import read_asset
from tunesmith.retrieval.grooves import drum_kit, kit_class, whole_bars
from tunesmith.theory import bar_starts

if TYPE_CHECKING:
    from symusic.core import NoteTickList

__all__ = [
    "DEFAULT_FEEL",
    "FEELS",
    "Cell",
    "FeelConfig",
    "FeelTable",
    "FeelTally",
    "Region",
    "Timing",
    "apply_feel",
    "feel_class",
    "humanize",
    "load_feel",
    "mine_feel",
    "save_feel",
    "timing",
]

FEELS = ("straight", "human")  # FeelConfig.feel
DEFAULT_FEEL = Path(__file__).resolve().parent.parent / "assets" / "feel.json"
FORMAT, VERSION = "tunesmith-feel", 1
POSITIONS = 4  # 16ths of a quarter
POOLED = "*"  # the table's genre pooling every performance
ANY = -1  # the kit class pooling every sound: for keys the table lacks
MAX_OFFSET = 1 / 8  # a 32nd, in quarters: only onsets nearer their 16th count
MAX_SHIFT = 1 / 16  # humanize moves a hit at most a 64th, so no two 16ths swap places
MAX_Z = 2.0  # draws are cut at two spreads: a rare wild draw sounds like a mistake, not a feel
MIN_BAR_ONSETS = 4  # a bar of fewer counted onsets has no reliable time of its own
MIN_ONSETS = 100  # a genre's cell of fewer onsets is left out: the pooled one stands in
MIN_POOLED = 20
DEFAULT_AMOUNT = 1.0  # the spread as measured (drift removed, see `timing`)
PITCHED_SPREAD = 0.008  # quarters (4 ms at 120 bpm): players of pitched parts sit tighter
MIN_TPQ, RESAMPLE_TPQ = 96, 480  # coarser scores cannot show offsets of a few ms
# GM keys Groove's kit does not have (data.clean.ROLAND_TO_GM), played as its nearest sound
ALIASES = {37: 38, 41: 43, 45: 47, 48: 50, 52: 49, 53: 51, 55: 49}


def feel_class(key: int) -> int:
    """The table row a GM drum key reads: its kit class (grooves.kit_class), with the keys
    Groove's kit lacks mapped to its nearest sound (side stick -> snare, toms, cymbals)."""
    cls = kit_class(key)
    return ALIASES.get(cls, cls)


# --- the table ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """The timing of one (genre, kit class, 16th) over `onsets` counted onsets."""

    offset: float  # median offset from the 16th, quarters (+: late, behind the beat)
    spread: float  # robust standard deviation (interquartile range / 1.349), quarters
    velocity: int  # median velocity
    onsets: int

    def __post_init__(self) -> None:
        if not (abs(self.offset) < MAX_OFFSET and 0 <= self.spread < 2 * MAX_OFFSET
                and 1 <= self.velocity <= 127 and self.onsets >= 1):
            raise ConfigError(f"feel cell {(self.offset, self.spread, self.velocity, self.onsets)} is "
                              f"invalid: allowed |offset| < {MAX_OFFSET}, spread 0..{2 * MAX_OFFSET}, "
                              "velocity 1-127, onsets >= 1")


@dataclass(frozen=True)
class FeelTable:
    """Cells by (genre or POOLED, kit class or ANY, 16th of the beat 0-3)."""

    cells: dict[tuple[str, int, int], Cell]
    provenance: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for genre, cls, pos in self.cells:
            if not (isinstance(genre, str) and (cls == ANY or 0 <= cls <= 127) and 0 <= pos < POSITIONS):
                raise ConfigError(f"feel cell key {(genre, cls, pos)} is invalid: allowed a genre, "
                                  f"a GM key or {ANY}, and a 16th 0-{POSITIONS - 1}")

    def cell(self, genre: str | None, key: int, position: int) -> Cell | None:
        """The cell a hit of GM `key` on 16th `position` reads: the genre's own, else the
        pooled one, else the sound-less rows of the genre and of the pool; None if none."""
        cls = feel_class(key)
        for g, c in ((genre, cls), (POOLED, cls), (genre, ANY), (POOLED, ANY)):
            found = self.cells.get((g, c, position)) if g is not None else None
            if found is not None:
                return found
        return None

    @property
    def genres(self) -> list[str]:
        return sorted({g for g, _, _ in self.cells} - {POOLED})


# --- measuring ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """The counted drum onsets of a score (arrays of one length) and what was not counted."""

    kit: np.ndarray  # (N,) feel_class of the key
    position: np.ndarray  # (N,) 16th of the beat, 0-3
    offset: np.ndarray  # (N,) from the 16th grid, quarters, from the bar's own time
    velocity: np.ndarray  # (N,)
    seen: int = 0  # drum onsets in whole bars
    triplets: int = 0  # of which nearer a 16th triplet than a 16th (or a 32nd off): not counted
    thin: int = 0  # of which in bars of fewer than MIN_BAR_ONSETS counted ones: not counted


def timing(score: Score) -> Timing:
    """The drum onsets of `score`'s whole bars that lie near a 16th: each one's kit class,
    16th of the beat (counted from the downbeat, in quarters of the tempo map, so
    tempo-independent) and offset from that 16th minus the bar's median offset. The bar's
    own time, not the click: a band follows its drummer, and a drummer's drift over a take
    is no feel. Onsets nearer a 16th triplet (swing, shuffles) are not counted."""
    drums = drum_kit(t for t in score.tracks if t.is_drum)
    time, pitch, velocity = drums.time, drums.pitch, drums.velocity
    tpq = score.ticks_per_quarter
    parts: list[tuple[np.ndarray, ...]] = []
    seen = triplets = thin = 0
    for start, end, _ in whole_bars(score):  # a bar cut short by a new meter is left out
        # an onset belongs to the bar whose 16th it rounds to (an early downbeat: the next bar)
        lo, hi = np.searchsorted(time, [start - tpq / 8, end - tpq / 8])
        q = (time[lo:hi] - start) / tpq  # quarters from the downbeat
        k = np.floor(q * POSITIONS + 0.5)
        off = q - k / POSITIONS
        # nearer its 16th than a 16th triplet (on the beat both coincide: the 1e-9 keeps it)
        near = (np.abs(off) < MAX_OFFSET) & (np.abs(off) <= np.abs(q * 3 - np.round(q * 3)) / 3 + 1e-9)
        seen, triplets = seen + int(hi - lo), triplets + int((~near).sum())
        if near.sum() < MIN_BAR_ONSETS:
            thin += int(near.sum())
            continue
        parts.append((pitch[lo:hi][near], k[near] % POSITIONS, off[near] - np.median(off[near]),
                      velocity[lo:hi][near]))
    if not parts:
        empty = np.zeros(0)
        return Timing(empty.astype(np.int64), empty.astype(np.int64), empty, empty, seen, triplets, thin)
    keys, pos, off, vel = (np.concatenate(p) for p in zip(*parts, strict=True))
    kit = np.array([feel_class(int(k)) for k in keys], dtype=np.int64)
    return Timing(kit, pos.astype(np.int64), off, vel, seen, triplets, thin)


def _cell(offset: np.ndarray, velocity: np.ndarray) -> Cell:
    q1, median, q3 = np.percentile(offset, [25, 50, 75])
    return Cell(round(float(median), 4) + 0.0, round(float(q3 - q1) / 1.349, 4),  # + 0.0: no -0.0
                int(np.clip(np.rint(np.median(velocity)), 1, 127)), len(offset))


def _cells(genre: str, t: Timing, min_onsets: int) -> dict[tuple[str, int, int], Cell]:
    cells = {}
    for cls in [*np.unique(t.kit).tolist(), ANY]:
        for pos in range(POSITIONS):
            m = (t.position == pos) & ((t.kit == cls) | (cls == ANY))
            if m.sum() >= min_onsets:
                cells[(genre, int(cls), pos)] = _cell(t.offset[m], t.velocity[m])
    return cells


def _joined(timings: list[Timing]) -> Timing:
    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(t, name) for t in timings])

    return Timing(cat("kit"), cat("position"), cat("offset"), cat("velocity"))


@dataclass
class FeelTally:
    """Counted onsets over a stream of performances (add them one by one), per genre."""

    timings: dict[str | None, list[Timing]] = field(default_factory=lambda: defaultdict(list))
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, score: Score, genre: str | None) -> None:
        self.counts["pieces"] += 1
        t = timing(score)
        if t.seen == 0:
            return
        self.counts["drum_pieces"] += 1
        self.counts["onsets_in_whole_bars"] += t.seen
        self.counts["triplet_onsets_skipped"] += t.triplets
        self.counts["thin_bar_onsets_skipped"] += t.thin
        self.counts["onsets_counted"] += len(t.offset)
        self.timings[genre].append(t)

    def table(self, min_onsets: int = MIN_ONSETS, provenance: dict[str, Any] | None = None) -> FeelTable:
        """Pooled cells of at least MIN_POOLED onsets, and each genre's of at least `min_onsets`."""
        if min_onsets < 1:
            raise InputError(f"min_onsets {min_onsets} is invalid: need an integer >= 1")
        every = [t for ts in self.timings.values() for t in ts]
        cells = _cells(POOLED, _joined(every), MIN_POOLED) if every else {}
        for genre, ts in sorted(self.timings.items(), key=lambda kv: str(kv[0])):
            if genre is not None:
                cells |= _cells(genre, _joined(ts), min_onsets)
        return FeelTable(cells, dict(provenance or {}))


def mine_feel(pieces: Iterable[tuple[Score, str | None]], min_onsets: int = MIN_ONSETS) -> FeelTable:
    """The feel table of `pieces` ((score, genre) pairs of human-timed drum performances)."""
    tally = FeelTally()
    for score, genre in pieces:
        tally.add(score, genre)
    return tally.table(min_onsets)


# --- the asset ------------------------------------------------------------------------------
COLUMNS = ("offset", "spread", "velocity", "onsets")


def _row(cell: Cell | None) -> list[float | int] | None:
    return None if cell is None else [cell.offset, cell.spread, cell.velocity, cell.onsets]


def save_feel(table: FeelTable, path: str | Path, provenance: dict[str, Any]) -> None:
    """JSON: format, version, unit, provenance and, per genre and kit class ("any": every
    sound), one [offset, spread, velocity, onsets] row (or null) per 16th; one line a class."""
    from tunesmith.midi.io import write_bytes_atomic

    head = {"format": FORMAT, "version": VERSION, "unit": "quarter note", "positions": POSITIONS,
            "columns": list(COLUMNS), "provenance": provenance}
    blocks = []
    for genre in [POOLED, *table.genres]:
        classes = sorted({c for g, c, _ in table.cells if g == genre}, key=lambda c: (c == ANY, c))
        rows = [f'  "{"any" if c == ANY else c}": '
                f"{json.dumps([_row(table.cells.get((genre, c, p))) for p in range(POSITIONS)])}"
                for c in classes]
        blocks.append(f" {json.dumps(genre)}: {{\n" + ",\n".join(rows) + "\n }")
    text = json.dumps(head, ensure_ascii=False)[:-1] + ', "feels": {\n' + ",\n".join(blocks) + "\n}}\n"
    write_bytes_atomic(path, text.encode())


def load_feel(path: str | Path | None = None) -> FeelTable:
    """The table of a file written by save_feel (default: the shipped asset), cached."""
    return _load(str(Path(path) if path is not None else DEFAULT_FEEL))


@functools.cache
def _load(path: str) -> FeelTable:
    doc = read_asset(path, "feel file", FORMAT, VERSION, "tunesmith data feel")
    try:
        cells = {(genre, ANY if cls == "any" else int(cls), pos): Cell(*row)
                 for genre, classes in doc["feels"].items() for cls, rows in classes.items()
                 for pos, row in enumerate(rows) if row is not None}
        return FeelTable(cells, doc.get("provenance", {}))
    except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as exc:
        raise ConfigError(f"feel file {path} has a malformed row: {exc}") from exc


# --- applying -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    """The notes humanize may move: onsets in [start, end) ticks (end None: to the piece's end)
    of the tracks playing `programs` (GM programs, 128 the drums; None: every track)."""

    start: int = 0
    end: int | None = None
    programs: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if self.start < 0 or (self.end is not None and self.end <= self.start):
            raise InputError(f"region [{self.start}, {self.end}) is invalid: need 0 <= start < end")

    def holds(self, track: Track) -> bool:
        return self.programs is None or (128 if track.is_drum else int(track.program)) in self.programs

    def mask(self, time: np.ndarray) -> np.ndarray:
        return (time >= self.start) & (time < (self.end if self.end is not None else np.iinfo(np.int64).max))

    def scaled(self, factor: float) -> Region:
        end = None if self.end is None else round(self.end * factor)
        return Region(round(self.start * factor), end, self.programs)


@dataclass(frozen=True)
class FeelConfig:
    """How a front-end times the music it writes: "straight" (as generated, the default) or
    "human" (humanize with the shipped table: drums only unless `pitched`)."""

    feel: str = "straight"
    amount: float = DEFAULT_AMOUNT  # the random spread's share, 0..1 (the push and pull stay)
    pitched: bool = False  # pitched parts too, by PITCHED_SPREAD (no push: none was measured)
    velocities: bool = True  # drums of one velocity throughout take the table's accents

    def __post_init__(self) -> None:
        if self.feel not in FEELS:
            raise ConfigError(f"feel {self.feel!r} is not one of {', '.join(FEELS)}")
        if not 0.0 <= self.amount <= 1.0:
            raise ConfigError(f"feel amount {self.amount} is out of range 0..1")


def _drum_shift(time: np.ndarray, cells: list[Cell | None], on_grid: np.ndarray, amount: float,
                rng: np.random.Generator) -> np.ndarray:
    """(N,) quarters: each cell's push or pull (on exact 16ths only: the table measured no
    other onsets) plus its spread times a normal draw, `amount` of it."""
    median = np.array([c.offset if c else 0.0 for c in cells]) * on_grid
    spread = np.array([c.spread if c else 0.0 for c in cells])
    z = np.clip(rng.standard_normal(len(time)), -MAX_Z, MAX_Z)
    return np.clip(median + amount * spread * z, -MAX_SHIFT, MAX_SHIFT)


def _accents(pitch: np.ndarray, pos: np.ndarray, velocity: np.ndarray, table: FeelTable,
             genre: str | None) -> np.ndarray:
    """Velocities scaled by the table's median at each hit's 16th over its sound's loudest
    16th: the accents keep the written level, the rest play softer as drummers do."""
    out = velocity.astype(np.float64)
    for key in np.unique(pitch).tolist():
        row = [table.cell(genre, key, p) for p in range(POSITIONS)]
        loudest = max((c.velocity for c in row if c is not None), default=0)
        for p, c in enumerate(row):
            if c is not None and loudest:
                out[(pitch == key) & (pos == p)] *= c.velocity / loudest
    return np.clip(np.rint(out), 1, 127)


def _placed(arr: dict[str, np.ndarray], shift: np.ndarray, velocity: np.ndarray) -> NoteTickList:
    """Notes moved by `shift` ticks (never before 0), durations kept, except that a note the
    move would run into the next hit of its key ends there (a player would cut that hit)."""
    old = arr["time"].astype(np.int64)
    time = np.maximum(old + shift, 0)
    dur = arr["duration"].astype(np.int64)
    order = np.lexsort((old, arr["pitch"]))
    same = arr["pitch"][order][1:] == arr["pitch"][order][:-1]
    a, b = order[:-1][same], order[1:][same]
    cut = (old[a] + dur[a] <= old[b]) & (time[a] + dur[a] > time[b])
    dur[a[cut]] = np.maximum(time[b[cut]] - time[a[cut]], 1)
    o = np.argsort(time, kind="stable")
    return Note.from_numpy(time[o].astype(np.int32), dur[o].astype(np.int32), arr["pitch"][o],
                           velocity[o].astype(np.int8))


def _humanize_drums(arr: dict[str, np.ndarray], moved: np.ndarray, starts: np.ndarray, tpq: int,
                    table: FeelTable, genre: str | None, amount: float, rng: np.random.Generator,
                    accents: bool) -> NoteTickList:
    time = arr["time"].astype(np.int64)
    rel = time - starts[np.searchsorted(starts, time, side="right") - 1]  # ticks from the downbeat
    k = np.floor(rel * POSITIONS / tpq + 0.5).astype(np.int64)  # nearest 16th of the bar
    on_grid = np.abs(rel * POSITIONS - k * tpq) <= POSITIONS  # within a tick of it
    pos = k % POSITIONS
    cells = [table.cell(genre, int(p), int(q)) for p, q in zip(arr["pitch"], pos, strict=True)]
    shift = np.rint(_drum_shift(time, cells, on_grid, amount, rng) * tpq).astype(np.int64) * moved
    velocity = arr["velocity"].astype(np.int64)
    if accents:
        velocity = np.where(moved, _accents(arr["pitch"], pos, velocity, table, genre), velocity)
    return _placed(arr, shift, velocity)


def _humanize_pitched(arr: dict[str, np.ndarray], moved: np.ndarray, tpq: int, amount: float,
                      rng: np.random.Generator) -> NoteTickList:
    ticks, inverse = np.unique(arr["time"], return_inverse=True)  # one draw an onset: a chord moves as one
    draw = np.clip(rng.normal(0.0, PITCHED_SPREAD * amount, len(ticks)), -MAX_SHIFT, MAX_SHIFT)
    shift = np.rint(draw * tpq).astype(np.int64)[inverse] * moved
    return _placed(arr, shift, arr["velocity"])


def _one_velocity(score: Score, where: Region) -> bool:
    """Whether the drum hits humanize may move all share one velocity (a flat, machine part)."""
    arrays = [t.notes.numpy() for t in score.tracks if t.is_drum and len(t.notes) and where.holds(t)]
    vels = [a["velocity"][where.mask(a["time"].astype(np.int64))] for a in arrays]
    joined = np.concatenate(vels) if vels else np.zeros(0)
    return len(joined) > 1 and bool((joined == joined[0]).all())


def humanize(score: Score, table: FeelTable, genre: str | None = None, amount: float = DEFAULT_AMOUNT,
             seed: int = 0, *, pitched: bool = False, velocities: bool = True,
             region: Region | None = None) -> Score:
    """`score` with every drum onset (in `region`) moved by its (genre, kit class, 16th) cell:
    the median push or pull plus `amount` (0..1) of the spread times a normal draw, at most a
    64th; durations kept; with `velocities`, drums of one velocity take the table's accents;
    with `pitched`, other tracks' onsets move by a small spread (a chord as one). Scores under
    MIN_TPQ ticks a quarter are resampled to 480 first. The same seed gives the same result."""
    if not 0.0 <= amount <= 1.0:
        raise InputError(f"feel amount {amount} is out of range 0..1")
    tpq = score.ticks_per_quarter
    out = score.resample(RESAMPLE_TPQ, min_dur=1) if tpq < MIN_TPQ else score.copy()
    where = (region or Region()).scaled(out.ticks_per_quarter / tpq)
    starts = np.asarray(bar_starts(out, end=out.end() + 1), dtype=np.int64)
    accents = velocities and _one_velocity(out, where)
    rng = np.random.default_rng(seed)
    for track in out.tracks:
        if not len(track.notes) or not where.holds(track) or not (track.is_drum or pitched):
            continue
        arr = track.notes.numpy()
        moved = where.mask(arr["time"].astype(np.int64))
        track.notes = (_humanize_drums(arr, moved, starts, out.ticks_per_quarter, table, genre, amount,
                                       rng, accents) if track.is_drum
                       else _humanize_pitched(arr, moved, out.ticks_per_quarter, amount, rng))
    return out


def apply_feel(score: Score, config: FeelConfig, genre: str | None, seed: int,
               region: Region | None = None) -> Score:
    """`score` as a front-end writes it: itself when straight, humanized by the shipped table
    when human (the front-ends' one rule: CLI generate, infill, continue; the HTTP API)."""
    if config.feel == "straight":
        return score
    return humanize(score, load_feel(), genre, config.amount, seed, pitched=config.pitched,
                    velocities=config.velocities, region=region)
