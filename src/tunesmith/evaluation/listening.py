"""Listening metrics of one score: its parts, groove, form and harmony, as a listener hears them.

Consumes a symusic Score; produces a `Listening` record (and a flat dict of scalar features
for evaluation.realism). Bars follow the score's time-signature map (tokenization.bar_starts).
Pure functions: the only output besides values is the optional PNG of a bar self-similarity
matrix (a recurrence plot, Foote 1999). Set-level realism lives in evaluation.realism.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from symusic import Score

from tunesmith.attributes import DRUMS, Attributes
from tunesmith.captions.features import estimate_key
from tunesmith.errors import InputError
from tunesmith.evaluation.statistics import as_ticks
from tunesmith.theory import (
    CORE_KIT,
    CRASH,
    HAT_CLOSED,
    HAT_OPEN,
    KICK,
    PITCH_CLASSES,
    RIDE,
    SNARE,
    TEMPLATE_NAMES,
    TEMPLATES,
    TIME_KEEPERS,
    TOMS,
    chord_pitch_classes,
    chord_root,
    label,
    scale_mask,
)
from tunesmith.tokenization import bar_starts
from tunesmith.tokenization.controls import duration_class

ROLES = ("lead", "chords", "bass", "drums", "pad")
# kit class of a drum key for pattern comparison; other keys are their own class
KIT_CLASS = {p: name for name, keys in (("kick", KICK), ("snare", SNARE), ("hat", HAT_CLOSED),
                                         ("open hat", HAT_OPEN), ("ride", RIDE), ("crash", CRASH),
                                         ("tom", TOMS)) for p in keys}
REPEAT, NEAR_REPEAT = 0.9, 0.6  # Jaccard thresholds of a repeated / nearly repeated bar


# ---------------------------------------------------------------- bars and notes


def bar_lines(score: Score, n_bars: int | None = None) -> np.ndarray:
    """(n_bars + 1,) ticks of the bar lines; `n_bars` None: every bar up to the score's end."""
    n = len(bar_starts(score)) if n_bars is None else n_bars
    if n < 1:
        raise InputError(f"bars {n} is invalid: a piece has at least 1 bar")
    return np.asarray(bar_starts(score, n + 1), dtype=np.int64)


def _notes(track: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Onsets, durations and pitches (int64) of a track, sorted by onset."""
    arr = track.notes.numpy()
    order = np.argsort(arr["time"], kind="stable")
    return tuple(arr[k][order].astype(np.int64) for k in ("time", "duration", "pitch"))  # type: ignore[return-value]


def _bar_of(times: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Bar index of each tick (-1 before the first bar, n_bars at or after the last line)."""
    return np.searchsorted(lines, times, side="right") - 1


def sounding_bars(times: np.ndarray, durations: np.ndarray, lines: np.ndarray,
                  min_overlap: int) -> np.ndarray:
    """(n_bars,) bool: bars in which a note starts, or into which one rings at least
    `min_overlap` ticks (a held note sounds in the bars it spans; a short tail does not)."""
    n = len(lines) - 1
    out = np.zeros(n, dtype=bool)
    first = _bar_of(times, lines)
    inside = (first >= 0) & (first < n)
    out[first[inside]] = True
    ends = times + np.maximum(durations, 1)
    last = _bar_of(ends - 1, lines)
    for f, la, end in zip(first[last > first], last[last > first], ends[last > first], strict=True):
        for b in range(max(f + 1, 0), min(la, n - 1) + 1):
            out[b] |= end - lines[b] >= min_overlap
    return out


# ---------------------------------------------------------------- parts


@dataclass(frozen=True)
class Part:
    """One track as heard: its instrument, role, and how much of the piece it plays."""

    track: int
    program: int  # GM program, DRUMS for a drum kit
    role: str
    bars_share: float  # share of the piece's bars in which it sounds
    notes_per_bar: float
    polyphony: float  # mean notes per onset (chords > 1)
    median_pitch: float


def polyphony(times: np.ndarray, tpq: int) -> float:
    """Mean notes per onset, onsets within a 48th note of each other counting as one."""
    if times.size == 0:
        return 0.0
    _, counts = np.unique(np.round(times / max(tpq / 12, 1)), return_counts=True)
    return float(counts.mean())


def part_role(program: int, pitches: np.ndarray, poly: float, mean_quarters: float) -> str:
    """Role from GM family, register and polyphony: drums; bass (bass family, or a mostly
    single-note line centred below C3); pad (synth pads, or chords held 2+ beats);
    chords (more than 1.5 notes per onset); otherwise lead."""
    if program == DRUMS:
        return "drums"
    family = program // 8
    if family == 4 or (float(np.median(pitches)) < 48 and poly < 1.5):
        return "bass"
    if family == 11 or (poly >= 1.5 and mean_quarters >= 2.0):
        return "pad"
    return "chords" if poly >= 1.5 else "lead"


def parts(score: Score, n_bars: int | None = None) -> list[Part]:
    """Every track with notes, in track order."""
    score = as_ticks(score)
    lines = bar_lines(score, n_bars)
    tpq, n = score.ticks_per_quarter, len(lines) - 1
    out = []
    for i, track in enumerate(score.tracks):
        t, d, p = _notes(track)
        if t.size == 0:
            continue
        program = DRUMS if track.is_drum else int(track.program)
        poly = polyphony(t, tpq)
        bars = sounding_bars(t, d, lines, tpq // 4)
        role = part_role(program, p, poly, float(d.mean()) / tpq)
        in_bars = int(((t >= lines[0]) & (t < lines[-1])).sum())
        out.append(Part(i, program, role, float(bars.mean()), in_bars / n, poly, float(np.median(p))))
    return out


def asked_shares(score: Score, programs: Sequence[int], n_bars: int | None = None) -> dict[int, float]:
    """Share of bars in which each asked instrument sounds (all its tracks together; DRUMS
    is any drum track); 0.0 for one that is absent. One note is one bar, not a part."""
    score = as_ticks(score)
    lines = bar_lines(score, n_bars)
    out = {}
    for program in programs:
        heard = np.zeros(len(lines) - 1, dtype=bool)
        for track in score.tracks:
            if (DRUMS if track.is_drum else int(track.program)) == program and len(track.notes):
                t, d, _ = _notes(track)
                heard |= sounding_bars(t, d, lines, score.ticks_per_quarter // 4)
        out[int(program)] = float(heard.mean())
    return out


# ---------------------------------------------------------------- groove


@dataclass(frozen=True)
class Groove:
    """The drum kit's playing: grid, kit and how steady the pattern is."""

    hits: int
    on_grid: float  # share of hits on the 16th or 16th-triplet grid
    core_kit: float  # share on kick, snare, hi-hats, ride, crash
    gm_keys: float  # share on General MIDI drum keys 35..81
    pattern_similarity: float | None  # bar vs the previous 1-2 bars (Jaccard, the max)
    time_keeper: float  # share of bars with >= 2 hi-hat or ride hits


def _drum_hits(score: Score) -> tuple[np.ndarray, np.ndarray]:
    hits = [_notes(t) for t in score.tracks if t.is_drum and len(t.notes)]
    if not hits:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    t = np.concatenate([h[0] for h in hits])
    p = np.concatenate([h[2] for h in hits])
    order = np.argsort(t, kind="stable")
    return t[order], p[order]


def on_grid_share(times: np.ndarray, lines: np.ndarray, tpq: int, tolerance: float) -> float:
    """Share of onsets within `tolerance` ticks of the 16th or 16th-triplet grid of their bar."""
    bar = np.clip(_bar_of(times, lines), 0, len(lines) - 2)
    rel = (times - lines[bar]).astype(np.float64)
    near = np.zeros(times.size, dtype=bool)
    for step in (tpq / 4, tpq / 6):
        off = np.abs(rel - np.round(rel / step) * step)
        near |= off <= tolerance
    return float(near.mean()) if times.size else 0.0


def drum_patterns(times: np.ndarray, pitches: np.ndarray, lines: np.ndarray, tpq: int) -> list[set[Any]]:
    """Per bar, the set of (16th position, kit class) of its hits; a hit a little before a
    bar line counts as that bar's downbeat."""
    step = tpq / 4
    bar = _bar_of(times + step / 2, lines)
    sets: list[set[Any]] = [set() for _ in range(len(lines) - 1)]
    for t, p, b in zip(times, pitches, bar, strict=True):
        if 0 <= b < len(sets):
            n_pos = max(int(round((lines[b + 1] - lines[b]) / step)), 1)
            pos = min(max(int(round((t - lines[b]) / step)), 0), n_pos - 1)
            sets[b].add((pos, KIT_CLASS.get(int(p), int(p))))
    return sets


def jaccard(a: set[Any] | frozenset[Any], b: set[Any] | frozenset[Any]) -> float:
    """|a & b| / |a | b|; 0.0 when both are empty."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def pattern_similarity(sets: Sequence[set[Any]]) -> float | None:
    """Mean over bars with hits (from the second) of the max Jaccard with the previous 1 and
    2 bars (a two-bar pattern repeats at lag 2); None with fewer than 2 bars."""
    sims = [max(jaccard(sets[b], sets[b - k]) for k in (1, 2) if b - k >= 0)
            for b in range(1, len(sets)) if sets[b]]
    return float(np.mean(sims)) if sims else None


def groove(score: Score, n_bars: int | None = None, tolerance: float | None = None) -> Groove | None:
    """Groove of the drum tracks; None without drum hits. `tolerance` in ticks, default a
    128th note (tpq / 32): about half of uniformly random onsets fall that near the grid."""
    score = as_ticks(score)
    lines = bar_lines(score, n_bars)
    tpq = score.ticks_per_quarter
    t, p = _drum_hits(score)
    keep = (t >= lines[0]) & (t < lines[-1])
    t, p = t[keep], p[keep]
    if t.size == 0:
        return None
    keeper = np.isin(p, list(TIME_KEEPERS))
    per_bar = np.bincount(_bar_of(t[keeper], lines), minlength=len(lines) - 1)
    return Groove(
        hits=int(t.size),
        on_grid=on_grid_share(t, lines, tpq, tpq / 32 if tolerance is None else tolerance),
        core_kit=float(np.isin(p, list(CORE_KIT)).mean()),
        gm_keys=float(((p >= 35) & (p <= 81)).mean()),
        pattern_similarity=pattern_similarity(drum_patterns(t, p, lines, tpq)),
        time_keeper=float((per_bar >= 2).mean()),
    )


# ---------------------------------------------------------------- form


@dataclass(frozen=True)
class Form:
    """How bars repeat: shares of non-empty bars that repeat (Jaccard >= 0.9) or nearly
    repeat (>= 0.6) an earlier bar, over all tracks together and per track."""

    repeat: float | None
    near_repeat: float | None
    track_repeat: dict[int, float] = field(default_factory=dict)
    track_near_repeat: dict[int, float] = field(default_factory=dict)


def bar_contents(score: Score, lines: np.ndarray) -> list[list[frozenset[Any]]]:
    """Per track, per bar: the set of (onset in the bar rounded to the 16th-note grid, pitch,
    duration class) of the notes starting in it (drum durations are ignored). The 16th grid
    lets a played (unquantized) repeat count as one, as a listener hears it."""
    tpq = score.ticks_per_quarter
    out = []
    for track in score.tracks:
        bars: list[set[Any]] = [set() for _ in range(len(lines) - 1)]
        t, d, p = _notes(track)
        # a note a little before a bar line is that bar's downbeat
        for ti, di, pi, b in zip(t, d, p, _bar_of(t + tpq // 8, lines), strict=True):
            if 0 <= b < len(bars):
                dur = 0 if track.is_drum else duration_class(int(di), tpq)
                bars[b].add((max(int(round((ti - lines[b]) * 4 / tpq)), 0), int(pi), dur))
        out.append([frozenset(s) for s in bars])
    return out


def repetition(bars: Sequence[frozenset[Any]], threshold: float) -> float | None:
    """Share of non-empty bars whose best Jaccard with an earlier non-empty bar reaches
    `threshold` (the first bar counts and cannot repeat); None when all bars are empty."""
    full = [b for b in bars if b]
    if not full:
        return None
    hits = sum(any(jaccard(full[i], full[j]) >= threshold for j in range(i)) for i in range(len(full)))
    return hits / len(full)


def _combined(contents: Sequence[Sequence[frozenset[Any]]]) -> list[frozenset[Any]]:
    n = len(contents[0]) if contents else 0
    return [frozenset((k, *e) for k, track in enumerate(contents) for e in track[b]) for b in range(n)]


def form(score: Score, n_bars: int | None = None) -> Form:
    score = as_ticks(score)
    contents = bar_contents(score, bar_lines(score, n_bars))
    combined = _combined(contents)
    rep = {i: repetition(c, REPEAT) for i, c in enumerate(contents)}
    near = {i: repetition(c, NEAR_REPEAT) for i, c in enumerate(contents)}
    return Form(repetition(combined, REPEAT), repetition(combined, NEAR_REPEAT),
                {i: v for i, v in rep.items() if v is not None},
                {i: v for i, v in near.items() if v is not None})


def self_similarity(score: Score, n_bars: int | None = None) -> np.ndarray:
    """(n_bars, n_bars) Jaccard of bar contents over all tracks (0 where a bar is empty)."""
    score = as_ticks(score)
    bars = _combined(bar_contents(score, bar_lines(score, n_bars)))
    n = len(bars)
    m = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            m[i, j] = m[j, i] = jaccard(bars[i], bars[j])
    return m


def draw_self_similarity(matrix: np.ndarray, path: str | Path | None = None, *,
                         title: str | None = None, size_px: int = 480) -> bytes:
    """A bar-by-bar self-similarity matrix as PNG (bar 1 top left; bright = alike); also
    written atomically to `path`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from tunesmith.midi.io import write_bytes_atomic

    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 1:
        raise InputError(f"self-similarity matrix of shape {matrix.shape} is not square")
    dpi = 100
    fig = Figure(figsize=(size_px / dpi, size_px / dpi * 0.86), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    n = matrix.shape[0]
    im = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="magma", interpolation="nearest",
                   extent=(0.5, n + 0.5, n + 0.5, 0.5))
    ticks = list(range(1, n + 1, max(1, n // 8)))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("bar")
    ax.set_ylabel("bar")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="Jaccard similarity")
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    png = buf.getvalue()
    if path is not None:
        write_bytes_atomic(path, png)
    return png


# ---------------------------------------------------------------- harmony


@dataclass(frozen=True)
class Harmony:
    """A chord per bar and how it sits in a key (the asked one, else the estimated one)."""

    key: str | None
    chords: tuple[str | None, ...]
    chord_fit: float | None  # share of labelled bars whose chord lies in the key's scale
    # share of pitched notes outside the key's scale: theory.SCALES, the sampler's sets, where
    # minor is the natural minor plus harmonic minor's raised 7th (G and G# both in A minor)
    out_of_scale: float | None
    chord_change: float | None  # share of consecutive labelled bars whose chord changes


def bar_chroma(score: Score, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Duration-weighted pitch-class energy per bar (n, 12) and the lowest pitch per bar."""
    n = len(lines) - 1
    chroma, lowest = np.zeros((n, 12)), np.full(n, 128)
    for track in score.tracks:
        if track.is_drum or not len(track.notes):
            continue
        t, d, p = _notes(track)
        for b in range(n):
            overlap = np.minimum(t + np.maximum(d, 1), lines[b + 1]) - np.maximum(t, lines[b])
            on = overlap > 0
            np.add.at(chroma[b], p[on] % 12, overlap[on])
            if on.any():
                lowest[b] = min(lowest[b], int(p[on].min()))
    return chroma, lowest


def chord_tones(name: str) -> np.ndarray:
    """(12,) bool pitch classes of a chord name from captions.chords' templates."""
    return TEMPLATES[TEMPLATE_NAMES.index(name)] > 0


def harmony(score: Score, key: str | None = None, n_bars: int | None = None) -> Harmony:
    """Bar chords by template matching (captions.chords), judged against `key`, or against
    the Krumhansl-Schmuckler estimate when no key is asked."""
    score = as_ticks(score)
    lines = bar_lines(score, n_bars)
    chords = label(*bar_chroma(score, lines))
    key = key or estimate_key(score)
    pitches = np.concatenate([_notes(t)[2] for t in score.tracks if not t.is_drum] or [np.zeros(0, np.int64)])
    named = [c for c in chords if c is not None]
    pairs = [(a, b) for a, b in zip(chords, chords[1:], strict=False) if a is not None and b is not None]
    fit = oos = None
    if key is not None:
        mask = scale_mask(key)
        fit = float(np.mean([not (chord_tones(c) & ~mask).any() for c in named])) if named else None
        oos = float((~mask[pitches % 12]).mean()) if pitches.size else None
    change = float(np.mean([a != b for a, b in pairs])) if pairs else None
    return Harmony(key, tuple(chords), fit, oos, change)


def majmin(name: str) -> str | None:
    """A chord reduced to the MIREX "majmin" vocabulary: root plus "" (major third and
    perfect fifth) or "m" (minor third and perfect fifth); None for chords outside it (dim,
    aug, sus), which majmin scoring leaves out."""
    tones, root = chord_pitch_classes(name), chord_root(name)
    if not tones[(root + 7) % 12]:
        return None
    if tones[(root + 4) % 12]:
        return PITCH_CLASSES[root]
    return PITCH_CLASSES[root] + "m" if tones[(root + 3) % 12] else None


_TRIADS = [i for i, n in enumerate(TEMPLATE_NAMES) if majmin(n) == n]  # the 24 triads
_TRIAD_NAMES, _TRIAD_TEMPLATES = [TEMPLATE_NAMES[i] for i in _TRIADS], TEMPLATES[_TRIADS]


def chord_agreement(chroma: np.ndarray, asked: Sequence[str | None]) -> float | None:
    """Share of bars whose notes fit the asked chord, scored in the MIREX "majmin" vocabulary:
    the asked chord reduced to major/minor is the best of the 24 triad templates on the bar's
    duration-weighted chroma, or tied with the best (a bar of only A and E fits A and Am
    alike: nothing in it contradicts either). The bass root breaks no tie here, unlike
    captions.chords' labels, since a tie means the notes leave the chord open. Bars with no
    pitched note or an asked chord outside majmin are left out; None when none is left.
    `chroma` (n, 12) as bar_chroma gives it, `asked` one chord per bar."""
    hits = []
    for b, want in enumerate(asked[: len(chroma)]):
        target = None if want is None else majmin(want)
        if target is None or chroma[b].sum() <= 0:
            continue
        scores = _TRIAD_TEMPLATES @ (chroma[b] / np.linalg.norm(chroma[b]))
        mine = scores[_TRIAD_NAMES.index(target)]
        hits.append(mine >= scores.max() - 1e-9)
    return float(np.mean(hits)) if hits else None


# ---------------------------------------------------------------- one piece


@dataclass(frozen=True)
class Listening:
    """Everything above for one piece. `asked` maps each asked instrument to its share of
    bars; `harmony` is judged against the asked key, `own_harmony` against the estimated
    one (comparable between generated and real pieces)."""

    bars: int
    parts: tuple[Part, ...]
    asked: dict[int, float]
    groove: Groove | None
    form: Form
    harmony: Harmony
    own_harmony: Harmony

    def features(self) -> dict[str, float]:
        """Scalar features for realism (NaN where undefined, e.g. groove without drums)."""
        nan = math.nan
        g, pitched = self.groove, [p for p in self.parts if p.program != DRUMS]

        def num(x: Any) -> float:
            return nan if x is None else float(x)

        return {
            "notes_per_bar": sum(p.notes_per_bar for p in self.parts),
            "part_activity": num(np.mean([p.bars_share for p in self.parts]) if self.parts else None),
            "polyphony": num(np.mean([p.polyphony for p in pitched]) if pitched else None),
            "pitch_spread": num(np.ptp([p.median_pitch for p in pitched]) if pitched else None),
            "repeat": num(self.form.repeat),
            "near_repeat": num(self.form.near_repeat),
            "drum_similarity": num(g.pattern_similarity if g else None),
            "time_keeper": num(g.time_keeper if g else None),
            "on_grid": num(g.on_grid if g else None),
            "core_kit": num(g.core_kit if g else None),
            "out_of_scale": num(self.own_harmony.out_of_scale),
            "chord_change": num(self.own_harmony.chord_change),
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["asked"] = {str(k): v for k, v in self.asked.items()}
        return d


def listen(score: Score, asked: Attributes | None = None, n_bars: int | None = None) -> Listening:
    """Listening metrics of a score; `asked` gives the instruments and key it was asked for,
    `n_bars` the length it should have (default: every bar up to its end)."""
    score = as_ticks(score)
    n = len(bar_lines(score, n_bars)) - 1
    key = asked.key if asked is not None else None
    own = harmony(score, None, n)
    return Listening(
        bars=n,
        parts=tuple(parts(score, n)),
        asked=asked_shares(score, asked.instruments, n) if asked is not None and asked.instruments else {},
        groove=groove(score, n),
        form=form(score, n),
        harmony=harmony(score, key, n) if key is not None else own,
        own_harmony=own,
    )
