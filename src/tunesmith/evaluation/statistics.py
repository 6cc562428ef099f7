"""Musical feature statistics of a score, and distances between sets of them.

Consumes symusic Scores, produces floats. Features follow MusPy (Dong et al. 2020), hand-written
in numpy because MusPy is no dependency and its per-tick piano rolls are slow; pitch features
skip drums; no notes gives 0.0, not MusPy's NaN. Set-level overlap area and KL divergence follow
Yang & Lerch (2018), on histograms instead of kernel density estimates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from symusic import Score

from tunesmith.errors import InputError
from tunesmith.theory import SCALE_MASKS, bar_starts, scale_mask

# ---------------------------------------------------------------- note access and bars


def as_ticks(score: Score) -> Score:
    """The score in ticks; scores in seconds or quarters are converted by symusic."""
    return score if "Tick" in str(score.ttype) else score.to("tick")


def note_arrays(score: Score, *, drums: bool) -> dict[str, np.ndarray]:
    """Onsets, durations and pitches (int64) of all tracks, with or without drum tracks."""
    parts = [t.notes.numpy() for t in score.tracks if drums or not t.is_drum]
    keys = ("time", "duration", "pitch")
    if not parts:
        return {k: np.zeros(0, dtype=np.int64) for k in keys}
    return {k: np.concatenate([p[k] for p in parts]).astype(np.int64) for k in keys}


def bar_boundaries(score: Score, n_bars: int) -> np.ndarray:
    """Tick positions of the first `n_bars` bar lines plus the end of the last bar.

    Bars come from the score's bar grid (theory.bar_starts); past the score's end they
    continue in the last meter, so a short generated score still has the bars a region asks
    for. Shape (n_bars + 1,).
    """
    return np.asarray(bar_starts(as_ticks(score), n_bars + 1), dtype=np.int64)


def bar_count(score: Score) -> int:
    """Number of bars up to the one holding the last note onset (0 for an empty score)."""
    score = as_ticks(score)
    onsets = note_arrays(score, drums=True)["time"]
    if onsets.size == 0:
        return 0
    return len(bar_starts(score, end=int(onsets.max()) + 1))


def onset_vectors(onsets: np.ndarray, bounds: np.ndarray, positions: int) -> np.ndarray:
    """Binary onset grid: bar i, position p is True when a note starts there.

    `bounds` are bar lines from `bar_boundaries`; each bar is cut into `positions` equal
    cells whatever its length. Onsets outside the bars are ignored. Shape (n_bars, positions).
    """
    n_bars = len(bounds) - 1
    grid = np.zeros((max(n_bars, 0), positions), dtype=bool)
    if n_bars < 1 or onsets.size == 0:
        return grid
    bar = np.searchsorted(bounds, onsets, side="right") - 1
    keep = (bar >= 0) & (bar < n_bars)
    bar, t = bar[keep], onsets[keep]
    length = bounds[bar + 1] - bounds[bar]
    pos = np.minimum((t - bounds[bar]) * positions // length, positions - 1)
    grid[bar, pos] = True
    return grid


# ---------------------------------------------------------------- pitch features


def _pitch_class_counts(score: Score) -> np.ndarray:
    pitches = note_arrays(score, drums=False)["pitch"]
    return np.bincount(pitches % 12, minlength=12).astype(np.float64)


def entropy_bits(counts: np.ndarray) -> float:
    """Shannon entropy (bits) of a histogram of counts; 0.0 for an empty one."""
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def pitch_class_entropy(score: Score) -> float:
    """Entropy (bits, 0..log2 12) of the note-count pitch-class histogram."""
    return entropy_bits(_pitch_class_counts(score))


def pitch_in_scale_rate(score: Score, key: str) -> float:
    """Share of pitched notes in the scale of `key` (theory.SCALES: minor with both 7ths)."""
    scale = scale_mask(key)
    counts = _pitch_class_counts(score)
    total = counts.sum()
    return float(counts[scale].sum() / total) if total else 0.0


def scale_consistency(score: Score) -> float:
    """Largest pitch-in-scale rate over the 24 keys' scales (theory.SCALES)."""
    counts = _pitch_class_counts(score)
    total = counts.sum()
    return float((SCALE_MASKS @ counts).max() / total) if total else 0.0


def pitch_range(score: Score) -> int:
    """Highest minus lowest pitched note (semitones)."""
    pitches = note_arrays(score, drums=False)["pitch"]
    return int(pitches.max() - pitches.min()) if pitches.size else 0


def n_pitch_classes_used(score: Score) -> int:
    """Number of distinct pitch classes among pitched notes."""
    return int((_pitch_class_counts(score) > 0).sum())


def _sounding(score: Score) -> tuple[np.ndarray, np.ndarray, int]:
    """Distinct pitches sounding in each segment between note events, segment lengths, end.

    A zero-length note sounds for one tick so it still counts. Unisons on two tracks count
    once, as in MusPy's binary piano roll.
    """
    notes = note_arrays(as_ticks(score), drums=False)
    if notes["time"].size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
    start = notes["time"]
    end = start + np.maximum(notes["duration"], 1)
    times = np.unique(np.concatenate([start, end]))
    diff = np.zeros((128, len(times) + 1), dtype=np.int64)  # (pitch, event)
    np.add.at(diff, (notes["pitch"], np.searchsorted(times, start)), 1)
    np.add.at(diff, (notes["pitch"], np.searchsorted(times, end)), -1)
    active = np.cumsum(diff, axis=1)[:, : len(times) - 1] > 0  # (pitch, segment)
    return active.sum(axis=0), np.diff(times), int(times[-1])


def polyphony(score: Score) -> float:
    """Mean number of distinct pitches sounding, over the time when at least one sounds."""
    n, lengths, _ = _sounding(score)
    on = n > 0
    return float((n[on] * lengths[on]).sum() / lengths[on].sum()) if on.any() else 0.0


def polyphony_rate(score: Score, threshold: int = 2) -> float:
    """Share of the piece's time (tick 0 to the last release) with >= `threshold` pitches.

    MusPy's code counts time steps with strictly more than `threshold` pitches although its
    text says "multiple pitches"; we follow the text.
    """
    n, lengths, end = _sounding(score)
    return float(lengths[n >= threshold].sum() / end) if end else 0.0


# ---------------------------------------------------------------- rhythm features


def empty_beat_rate(score: Score) -> float:
    """Share of quarter-note beats, from 0 to the last release, in which no note sounds.

    All tracks count, drums included (as in MusPy); a zero-length note fills its beat.
    """
    score = as_ticks(score)
    notes = note_arrays(score, drums=True)
    if notes["time"].size == 0:
        return 0.0
    tpq = score.ticks_per_quarter
    first = notes["time"] // tpq
    last = (notes["time"] + np.maximum(notes["duration"], 1) - 1) // tpq
    n_beats = int(last.max()) + 1
    cover = np.zeros(n_beats + 1, dtype=np.int64)
    np.add.at(cover, first, 1)
    np.add.at(cover, last + 1, -1)
    return float((np.cumsum(cover)[:n_beats] == 0).mean())


def groove_consistency(score: Score, positions: int = 16) -> float:
    """1 - mean Hamming distance between consecutive bars' onset vectors (MusPy).

    Bars follow the time signatures (not MusPy's single fixed bar length) and each is cut
    into `positions` cells; all tracks count. Bars run from the first to the one holding
    the last onset, empty bars included. Fewer than two bars gives 1.0.
    """
    score = as_ticks(score)
    n_bars = bar_count(score)
    if n_bars == 0:
        return 0.0
    if n_bars == 1:
        return 1.0
    onsets = note_arrays(score, drums=True)["time"]
    grid = onset_vectors(onsets, bar_boundaries(score, n_bars), positions)
    return float(1.0 - (grid[:-1] != grid[1:]).mean())


def note_density(score: Score) -> float:
    """Notes (all tracks, drums included) per bar, over the bars up to the last onset."""
    score = as_ticks(score)
    n_bars = bar_count(score)
    return float(score.note_num() / n_bars) if n_bars else 0.0


FEATURES: dict[str, Callable[[Score], float]] = {
    "pitch_class_entropy": pitch_class_entropy,
    "scale_consistency": scale_consistency,
    "n_pitch_classes_used": n_pitch_classes_used,
    "pitch_range": pitch_range,
    "polyphony": polyphony,
    "polyphony_rate": polyphony_rate,
    "empty_beat_rate": empty_beat_rate,
    "groove_consistency": groove_consistency,
    "note_density": note_density,
}


# ---------------------------------------------------------------- set-level distances


def _histograms(
    a_values: Sequence[float], b_values: Sequence[float], bins: int | Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both sets on shared bins: `bins` edges, or that many over the joint range."""
    a, b = np.asarray(a_values, dtype=np.float64), np.asarray(b_values, dtype=np.float64)
    for name, v in (("a_values", a), ("b_values", b)):
        if v.size == 0 or not np.isfinite(v).all():
            raise InputError(f"{name} has {v.size} values or non-finite ones: need >= 1 finite")
    if isinstance(bins, int):
        if bins < 1:
            raise InputError(f"bins={bins} is not allowed: need >= 1")
        lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.size < 2 or (np.diff(edges) <= 0).any():
            raise InputError(f"bin edges {edges.tolist()} are not allowed: need >= 2 increasing")
    # values outside explicit edges are clipped into the end bins rather than dropped
    a, b = np.clip(a, edges[0], edges[-1]), np.clip(b, edges[0], edges[-1])
    return np.histogram(a, edges)[0].astype(float), np.histogram(b, edges)[0].astype(float)


def overlap_area(
    a_values: Sequence[float], b_values: Sequence[float], bins: int | Sequence[float] = 20
) -> float:
    """Overlap (0..1) of the two normalised histograms: sum over bins of min(p_a, p_b).

    No smoothing here, so identical sets give exactly 1 and disjoint ones exactly 0.
    """
    ca, cb = _histograms(a_values, b_values, bins)
    return float(np.minimum(ca / ca.sum(), cb / cb.sum()).sum())


def kl_divergence(
    a_values: Sequence[float],
    b_values: Sequence[float],
    bins: int | Sequence[float] = 20,
    smoothing: float = 0.5,
) -> float:
    """KL(P_a || P_b) in nats of the two histograms on shared bins.

    Each bin gets `smoothing` pseudo-counts before normalising (0.5: Jeffreys' prior), so the
    value is finite when b has empty bins where a has mass; smoothing=0 may return inf.
    """
    if smoothing < 0:
        raise InputError(f"smoothing={smoothing} is not allowed: need >= 0")
    ca, cb = _histograms(a_values, b_values, bins)
    p = (ca + smoothing) / (ca + smoothing).sum()
    q = (cb + smoothing) / (cb + smoothing).sum()
    on = p > 0
    with np.errstate(divide="ignore"):
        return float((p[on] * np.log(p[on] / q[on])).sum())


def feature_distances(
    generated: Sequence[Score], reference: Sequence[Score], bins: int = 20
) -> dict[str, dict[str, float]]:
    """Per feature of FEATURES: overlap area, KL(reference || generated), and both means.

    KL runs from the reference to the generated set (data to model), so it is large when
    the generated pieces miss regions the reference covers.
    """
    if not generated or not reference:
        raise InputError(
            f"got {len(generated)} generated and {len(reference)} reference scores: need >= 1 each"
        )
    out: dict[str, dict[str, float]] = {}
    for name, fn in FEATURES.items():
        gen = [float(fn(s)) for s in generated]
        ref = [float(fn(s)) for s in reference]
        out[name] = {
            "oa": overlap_area(gen, ref, bins),
            "kl": kl_divergence(ref, gen, bins),
            "gen_mean": float(np.mean(gen)),
            "ref_mean": float(np.mean(ref)),
        }
    return out
