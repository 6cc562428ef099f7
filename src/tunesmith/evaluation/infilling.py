"""Infilling metrics: how an infilled region compares with the original it replaced.

Consumes the original and infilled symusic Scores and the regenerated `BarRegion`; produces
content preservation, groove similarity and pitch-class entropy difference as in MIDI-RWKV
(Zhou-Zheng & Pasquier 2025), and mir_eval-style onset P/R/F1 (scipy's Hopcroft-Karp). Bars
come from each score's own time signatures and ticks_per_quarter, so resolutions may differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching
from symusic import Score

from tunesmith.errors import InputError
from tunesmith.evaluation.statistics import (
    as_ticks,
    bar_boundaries,
    entropy_bits,
    onset_vectors,
    pitch_class_entropy,
)

FRAMES_PER_BAR = 16
SMOOTHING_FRAMES = 8


@dataclass(frozen=True)
class BarRegion:
    """Bars [start_bar, end_bar) (0-based, end exclusive) of one track, or of all tracks.

    `track` indexes `score.tracks` and must name the same part in both scores; None takes
    every track. Drum notes never count towards chroma or pitch-class entropy.
    """

    start_bar: int
    end_bar: int
    track: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start_bar < self.end_bar:
            raise InputError(
                f"bar region {self.start_bar}..{self.end_bar} is empty or negative: "
                "need 0 <= start_bar < end_bar"
            )
        if self.track is not None and self.track < 0:
            raise InputError(f"track index {self.track} is negative: need >= 0 or None")

    @property
    def n_bars(self) -> int:
        return self.end_bar - self.start_bar


def region_notes(score: Score, region: BarRegion, *, drums: bool = True) -> dict[str, np.ndarray]:
    """Onset, duration, pitch (int64, ticks) of the region's track(s), whole piece long."""
    tracks = list(score.tracks)
    if region.track is not None:
        if region.track >= len(tracks):
            raise InputError(
                f"track index {region.track} does not exist: the score has {len(tracks)} tracks"
            )
        tracks = [tracks[region.track]]
    parts = [t.notes.numpy() for t in tracks if drums or not t.is_drum]
    keys = ("time", "duration", "pitch")
    if not parts:
        return {k: np.zeros(0, dtype=np.int64) for k in keys}
    return {k: np.concatenate([p[k] for p in parts]).astype(np.int64) for k in keys}


def _region_bounds(score: Score, region: BarRegion) -> np.ndarray:
    """Bar lines of the region's bars, (n_bars + 1,) ticks."""
    return bar_boundaries(score, region.end_bar)[region.start_bar :]


# ---------------------------------------------------------------- content preservation


def _chroma_frames(score: Score, region: BarRegion) -> np.ndarray:
    """Pitch-class chroma of the region: FRAMES_PER_BAR equal frames per bar, (F, 12).

    A frame's value for a pitch class is the time its notes sound in the frame divided by
    the frame length (velocity is ignored; zero-length notes sound for one tick).
    """
    score = as_ticks(score)
    bounds = _region_bounds(score, region).astype(np.float64)
    steps = np.arange(FRAMES_PER_BAR) / FRAMES_PER_BAR
    edges = np.append((bounds[:-1, None] + np.diff(bounds)[:, None] * steps).ravel(), bounds[-1])
    notes = region_notes(score, region, drums=False)
    start = notes["time"].astype(np.float64)
    end = start + np.maximum(notes["duration"], 1)
    keep = (end > edges[0]) & (start < edges[-1])
    start, end, pc = start[keep], end[keep], notes["pitch"][keep] % 12
    lo, hi = edges[None, :-1], edges[None, 1:]
    overlap = np.minimum(end[:, None], hi) - np.maximum(start[:, None], lo)
    overlap = np.clip(overlap, 0.0, None) / np.diff(edges)[None, :]  # (notes, F)
    return overlap.T @ np.eye(12)[pc]  # (F, 12)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Mean over each run of `width` consecutive rows ('valid' mode), (F - width + 1, 12)."""
    width = min(width, len(x))
    c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x]), axis=0)
    return (c[width:] - c[:-width]) / width


def content_preservation(original: Score, generated: Score, region: BarRegion) -> float:
    """Mean cosine similarity of the two scores' smoothed chroma over the region (0..1).

    Chroma has FRAMES_PER_BAR frames per bar, each L2-normalised, then averaged over a
    moving window of SMOOTHING_FRAMES frames. Where both smoothed frames are silent the
    similarity is 1 (both agree on silence); where one is, it is 0.
    """
    a = _moving_average(_unit_rows(_chroma_frames(original, region)), SMOOTHING_FRAMES)
    b = _moving_average(_unit_rows(_chroma_frames(generated, region)), SMOOTHING_FRAMES)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    both = (na > 0) & (nb > 0)
    cos = np.where(both, (a * b).sum(axis=1) / np.where(both, na * nb, 1.0), 0.0)
    cos = np.where((na == 0) & (nb == 0), 1.0, cos)
    return float(cos.mean())


# ---------------------------------------------------------------- groove and pitch


def groove_similarity(
    original: Score, generated: Score, region: BarRegion, positions: int = FRAMES_PER_BAR
) -> float:
    """Mean over the region's bars of 1 - Hamming(onsets_original, onsets_generated) / positions.

    Each bar is a binary vector of `positions` onset cells (all notes of the region's
    track(s), drums included); bar i of the original is paired with bar i of the generated
    score, and the mean is over these bar pairs. MIDI-RWKV's published code divides the
    summed similarities by the number of bars instead of the number of bar pairs compared,
    which biases the score; we use the pair count.
    """
    vectors = []
    for score in (as_ticks(original), as_ticks(generated)):
        onsets = region_notes(score, region)["time"]
        vectors.append(onset_vectors(onsets, _region_bounds(score, region), positions))
    a, b = vectors  # (bars, positions) each
    per_pair = 1.0 - (a != b).mean(axis=1)
    return float(per_pair.sum() / len(per_pair))


def _region_pitch_entropy(score: Score, region: BarRegion | None) -> float:
    if region is None:
        return pitch_class_entropy(score)
    score = as_ticks(score)
    bounds = _region_bounds(score, region)
    notes = region_notes(score, region, drums=False)
    inside = (notes["time"] >= bounds[0]) & (notes["time"] < bounds[-1])
    pitches = notes["pitch"][inside]
    return entropy_bits(np.bincount(pitches % 12, minlength=12).astype(np.float64))


def pitch_class_entropy_difference(a: Score, b: Score, region: BarRegion | None = None) -> float:
    """|H(a) - H(b)| of pitch-class entropies (bits) of notes starting in the region.

    Without a region the whole scores count. A side with no pitched notes has entropy 0.
    """
    return abs(_region_pitch_entropy(a, region) - _region_pitch_entropy(b, region))


# ---------------------------------------------------------------- note onset F1


def _seconds(score: Score, ticks: np.ndarray) -> np.ndarray:
    """Seconds of tick positions under the score's tempo map (120 qpm before any tempo)."""
    tempos = sorted((int(t.time), float(t.qpm)) for t in score.tempos if t.time >= 0)
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0, 120.0))
    times = np.array([t for t, _ in tempos], dtype=np.float64)
    sec_per_tick = 60.0 / (np.array([q for _, q in tempos]) * score.ticks_per_quarter)
    offsets = np.concatenate([[0.0], np.cumsum(np.diff(times) * sec_per_tick[:-1])])
    seg = np.searchsorted(times, ticks, side="right") - 1
    return offsets[seg] + (ticks - times[seg]) * sec_per_tick[seg]


def region_onsets(score: Score, region: BarRegion) -> np.ndarray:
    """(onset seconds, pitch) of the region's notes that start inside it, (n, 2)."""
    score = as_ticks(score)
    bounds = _region_bounds(score, region)
    notes = region_notes(score, region)
    inside = (notes["time"] >= bounds[0]) & (notes["time"] < bounds[-1])
    onsets = _seconds(score, notes["time"][inside].astype(np.float64))
    return np.stack([onsets, notes["pitch"][inside].astype(np.float64)], axis=1)


def onset_f1(
    reference_notes: np.ndarray, estimated_notes: np.ndarray, onset_tolerance: float = 0.05
) -> dict[str, float]:
    """Note precision/recall/F1 with onsets within `onset_tolerance` and equal pitch.

    Notes are (n, 2) arrays of (onset, pitch) in any one time unit (mir_eval uses seconds
    and 0.05 s). Each reference note matches at most one estimated note and vice versa; the
    matching is a maximum bipartite matching, as in mir_eval.transcription. Both sides empty
    gives 1.0 for all three; exactly one side empty gives 0.0.
    """
    if onset_tolerance < 0:
        raise InputError(f"onset_tolerance={onset_tolerance} is not allowed: need >= 0")
    ref = np.asarray(reference_notes, dtype=np.float64).reshape(-1, 2)
    est = np.asarray(estimated_notes, dtype=np.float64).reshape(-1, 2)
    if len(ref) == 0 or len(est) == 0:
        v = 1.0 if len(ref) == len(est) else 0.0
        return {"precision": v, "recall": v, "f1": v}
    close = np.abs(ref[:, None, 0] - est[None, :, 0]) <= onset_tolerance + 1e-9  # (R, E)
    edges = close & (ref[:, None, 1] == est[None, :, 1])
    match = maximum_bipartite_matching(csr_matrix(edges), perm_type="column")
    hits = int((match >= 0).sum())
    p, r = hits / len(est), hits / len(ref)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if hits else 0.0}
