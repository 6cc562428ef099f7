"""The groove index: real drum grooves mined from band corpora, picked by meter and genre, looped.

Consumes symusic Scores with drum parts (the Groove MIDI Dataset of Gillick et al., 2019, and
band arrangements); produces `Groove`s, one bar of kit hits on a grid of 12 steps a quarter
(16ths and 16th triplets both land on it), each counted over the pieces that play it; a gzipped
JSON asset of them; and drum Tracks that loop one groove bar after bar, for the model to vary.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from symusic import Note, Score, Track

from tunesmith.data.clean import CleanReport, clean_tracks, quantize
from tunesmith.errors import ConfigError, InputError
from tunesmith.theory import bar_starts, is_fill, meter_at

if TYPE_CHECKING:
    from tunesmith.data.corpora import Piece, Reader

__all__ = [
    "DEFAULT_GROOVES",
    "STEPS_PER_QUARTER",
    "Groove",
    "GrooveTally",
    "bar_hits",
    "grid_text",
    "groove_key",
    "groove_reader",
    "kit_class",
    "load_grooves",
    "loop_track",
    "mine_grooves",
    "pick_groove",
    "save_grooves",
    "top_grooves",
    "train_scores",
]

STEPS_PER_QUARTER = 12  # grid holding both 16ths (3 steps) and 16th triplets (4 steps)
DEFAULT_GROOVES = Path(__file__).resolve().parent.parent / "assets" / "grooves.json.gz"
FORMAT, VERSION = "tunesmith-grooves", 1
MIN_GENRE_GROOVES = 5  # fewer grooves of a genre in a meter: pick from every genre
HELD_OUT = ("freedoom", "openmsx")  # the listening benchmark's held-out corpora: never mined
# GM keys played as one sound by a drummer: bass drums, snares, closed/pedal hats, crashes, rides
KIT_CLASSES = {35: 36, 40: 38, 44: 42, 57: 49, 59: 51}

Hit = tuple[int, int, int]  # (step from bar start, GM drum key, velocity)


@dataclass(frozen=True)
class Groove:
    """One bar of drums played in `pieces` pieces (`bars` bars in all) of meter `meter`."""

    meter: str  # "4/4", "3/4", "6/8", ...
    genre: str | None  # commonest genre label of the pieces it was played in
    hits: tuple[Hit, ...]  # (step in STEPS_PER_QUARTER units, GM drum key, mean velocity), sorted
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


def _kit(tracks: Iterable[Track]) -> _Kit:
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
    return _bar_hits(_kit([track]), start, end, tpq)


def hits_fill(hits: Iterable[tuple[int, ...]]) -> bool:
    """Whether a bar of hits (step, GM key, ...) is a drum fill (theory.is_fill, which reads
    {onset: keys})."""
    onsets: dict[int, set[int]] = {}
    for step, key, *_ in hits:
        onsets.setdefault(step, set()).add(key)
    return is_fill(onsets)


# --- mining ---------------------------------------------------------------------------------
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
class GrooveTally:
    """Grooves counted over a stream of pieces (add them one by one), with what was skipped."""

    min_hits: int = 4
    min_classes: int = 2  # one sound alone (a count-in, a click, a shaker) keeps no groove
    pieces: int = 0  # pieces added
    drum_pieces: int = 0  # of which with a drum part
    drum_bars: int = 0  # whole bars with at least one drum hit
    sparse_bars: int = 0  # of which with fewer than min_hits hits
    fill_bars: int = 0  # of which fills (theory.is_fill)
    one_sound_bars: int = 0  # of which with fewer than min_classes kit classes
    entries: dict[tuple[str, frozenset[tuple[int, int]]], _Entry] = field(default_factory=dict)

    def add(self, score: Score, genre: str | None) -> None:
        """Count the bars of every drum part of `score` (its drum tracks are one kit: split-kit
        files put kick, snare and hats on tracks of their own)."""
        self.pieces += 1
        kit = _kit(t for t in score.tracks if t.is_drum)
        if not len(kit.time):
            return
        self.drum_pieces += 1
        tpq = score.ticks_per_quarter
        starts = bar_starts(score)
        for i, start in enumerate(starts):
            meter = meter_at(score, start)
            num, den = (int(x) for x in meter.split("/"))
            end = start + num * tpq * 4 // den  # theory.bar_starts's bar length
            if i + 1 == len(starts) or starts[i + 1] == end:  # a bar cut short by a new meter is no groove
                self._add_bar(_bar_hits(kit, start, end, tpq), meter, genre)

    def _add_bar(self, hits: tuple[Hit, ...], meter: str, genre: str | None) -> None:
        if not hits:
            return
        self.drum_bars += 1
        if len(hits) < self.min_hits:
            self.sparse_bars += 1
            return
        if hits_fill(hits):
            self.fill_bars += 1
            return
        cells = _cells(hits)
        if len({cls for _, cls in cells}) < self.min_classes:
            self.one_sound_bars += 1
            return
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
        found = [_groove(meter, e) for (meter, _), e in self.entries.items() if e.pieces >= min_pieces]
        return sorted(found, key=lambda g: (-g.pieces, -g.bars, g.meter, g.hits))

    def counts(self) -> dict[str, int]:
        return {"pieces": self.pieces, "drum_pieces": self.drum_pieces, "drum_bars": self.drum_bars,
                "sparse_bars_skipped": self.sparse_bars, "fill_bars_skipped": self.fill_bars,
                "one_sound_bars_skipped": self.one_sound_bars,
                "distinct_bars": len(self.entries)}


def _groove(meter: str, e: _Entry) -> Groove:
    hits = []
    for i, (step, cls) in enumerate(e.cells):
        # the key most played in this cell; on a tie the class's own key, then the lower one
        key = max((k for j, k in e.keys if j == i), key=lambda k: (e.keys[(i, k)], k == cls, -k))
        hits.append((step, key, min(127, max(1, round(e.velocity[i] / e.bars)))))
    genre = min(e.genres, key=lambda g: (-e.genres[g], g is None, g or ""))
    return Groove(meter, genre, tuple(sorted(hits)), e.pieces, e.bars)


def mine_grooves(pieces: Iterable[tuple[Score, str | None]], min_pieces: int = 3,
                 min_hits: int = 4, min_classes: int = 2) -> list[Groove]:
    """The drum bars (whole bars of one meter, at least `min_hits` hits of `min_classes` kit
    classes, no fills) played in at least `min_pieces` of `pieces` ((score, genre) pairs), each
    with its mean velocities and commonest genre, sorted by pieces (most first)."""
    if min(min_pieces, min_hits, min_classes) < 1:
        raise InputError(f"min_pieces={min_pieces}, min_hits={min_hits}, min_classes={min_classes} "
                         "are invalid: need each >= 1")
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
    try:
        doc = json.loads(gzip.decompress(Path(path).read_bytes()))
    except FileNotFoundError as exc:
        raise ConfigError(f"groove file {path} does not exist: build it with `tunesmith data grooves`") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"groove file {path} is not gzipped JSON: {exc}") from exc
    if not isinstance(doc, dict) or (doc.get("format"), doc.get("version")) != (FORMAT, VERSION):
        raise ConfigError(f"groove file {path} is not a {FORMAT} file of version {VERSION}")
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
