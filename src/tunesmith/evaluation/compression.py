"""Point-set compression ratio of a score with SIA / COSIATEC (Meredith et al. 2002; Meredith 2013).

Consumes a symusic Score, produces how much COSIATEC compresses its (onset, pitch) point set:
more repetition by translation (motifs, sequences, repeated sections) gives a higher ratio.
Hand-written because no maintained Python package implements COSIATEC; the reference
implementation (Meredith's OMNISIA) is a Java program.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from symusic import Score

from tunesmith.errors import InputError
from tunesmith.evaluation.statistics import as_ticks, note_arrays

_PITCH_SPAN = 256  # key = onset * 256 + pitch: |pitch difference| < 128, so differences decode


@dataclass(frozen=True, eq=False)  # arrays have no truth value, so no __eq__
class Tec:
    """A translational equivalence class: a pattern and every vector that maps it into the set.

    `pattern` is (m, 2) points (onset, pitch); `translators` is (t, 2) vectors, the zero
    vector included. It encodes its `coverage` points with m + t - 1 points and vectors.
    """

    pattern: np.ndarray
    translators: np.ndarray
    coverage: int

    @property
    def encoding_length(self) -> int:
        return len(self.pattern) + len(self.translators) - 1

    @property
    def compression_ratio(self) -> float:
        return self.coverage / self.encoding_length


def point_set(score: Score, grid: int = 24) -> np.ndarray:
    """Distinct (onset, pitch) points of the pitched notes, lexicographically sorted.

    Onsets are in 1/`grid` quarter notes (24 holds 32nds and 16th triplets exactly); drums
    are left out; two tracks playing the same pitch at the same time give one point.
    """
    if grid < 1:
        raise InputError(f"grid={grid} is not allowed: need >= 1 onset steps per quarter")
    score = as_ticks(score)
    notes = note_arrays(score, drums=False)
    onset = np.rint(notes["time"] * grid / score.ticks_per_quarter).astype(np.int64)
    points = np.unique(np.stack([onset, notes["pitch"]], axis=1), axis=0)
    return points.reshape(-1, 2)


# ---------------------------------------------------------------- SIA / SIATEC


def _mtp_table(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every non-zero difference vector between points and its MTP as a bitset of point indices.

    Returns sorted vector keys (V,) and bitsets (V, W) of uint64 words: bit i of row v is set
    when point i + v is also a point (SIA's maximal translatable pattern of v).
    """
    n = len(keys)
    i, j = np.nonzero(~np.eye(n, dtype=bool))  # all ordered pairs, (n * (n - 1),)
    vec_keys, row = np.unique(keys[j] - keys[i], return_inverse=True)
    bits = np.zeros((len(vec_keys), (n + 63) // 64), dtype=np.uint64)
    np.bitwise_or.at(bits, (row, i // 64), np.left_shift(np.uint64(1), (i % 64).astype(np.uint64)))
    return vec_keys, bits


def _translators(
    keys: np.ndarray, vec_keys: np.ndarray, bits: np.ndarray, patterns: np.ndarray
) -> np.ndarray:
    """SIATEC translators: (U, n) bool, True where moving pattern u's first point onto point j
    keeps the whole pattern inside the set. `patterns` are (U, W) bitsets.

    A vector v translates pattern P into the set iff P is a subset of MTP(v), so each of the
    n candidate vectors is one bitset test against the MTP table.
    """
    n = len(keys)
    member = _unpack(patterns, n)  # (U, n)
    first = member.argmax(axis=1)  # (U,)
    cand = keys[None, :] - keys[first][:, None]  # (U, n) candidate vector keys
    zero = cand == 0
    rows = np.searchsorted(vec_keys, np.where(zero, vec_keys[0], cand))
    outside = patterns[:, None, :] & ~bits[rows]  # (U, n, W) pattern bits missing from MTP
    return (outside == 0).all(axis=2) | zero


def _unpack(bitsets: np.ndarray, n: int) -> np.ndarray:
    """(U, W) uint64 bitsets -> (U, n) bool membership."""
    idx = np.arange(n)
    shifted = bitsets[:, idx // 64] >> (idx % 64).astype(np.uint64)
    return (shifted & np.uint64(1)).astype(bool)


def _coverage(keys: np.ndarray, member: np.ndarray, moves: np.ndarray, first: int) -> int:
    """Number of distinct points covered by the pattern under all its translators."""
    vectors = keys[moves] - keys[first]
    return len(np.unique(keys[member][:, None] + vectors[None, :]))


def _keys(points: np.ndarray) -> np.ndarray:
    return points[:, 0] * _PITCH_SPAN + points[:, 1]  # sorted when points are


def _best_tec(points: np.ndarray, chunk: int = 512) -> Tec | None:
    """The TEC of an MTP with the best compression ratio, or None if none beats 1.

    Ties go to larger coverage, then larger pattern, then the first pattern in bitset order.
    Exact coverage is computed only for patterns whose bound min(m * t, n) / (m + t - 1)
    can still reach the best ratio found so far (branch and bound).
    """
    keys, n = _keys(points), len(points)
    vec_keys, bits = _mtp_table(keys)
    positive = bits[vec_keys > 0]  # SIA: one MTP per lexicographically positive vector
    patterns = np.unique(positive[np.bitwise_count(positive).sum(axis=1) >= 2], axis=0)
    if len(patterns) == 0:
        return None  # single-point patterns always compress exactly 1:1
    moves = np.concatenate(
        [_translators(keys, vec_keys, bits, patterns[s : s + chunk])
         for s in range(0, len(patterns), chunk)]
    )  # (U, n)
    m = np.bitwise_count(patterns).sum(axis=1).astype(np.int64)
    t = moves.sum(axis=1)
    bound = np.minimum(m * t, n) / (m + t - 1)
    best: tuple[float, int, int] = (1.0, 0, 0)  # (ratio, coverage, pattern size) to beat
    chosen: Tec | None = None
    for u in np.argsort(-bound, kind="stable"):
        if bound[u] < best[0]:
            break
        member = _unpack(patterns[u : u + 1], n)[0]
        first = int(member.argmax())
        cov = _coverage(keys, member, moves[u], first)
        cand = (cov / (m[u] + t[u] - 1), cov, int(m[u]))
        if cand > best:
            best = cand
            chosen = Tec(points[member], points[moves[u]] - points[first], cov)
    return chosen


def covered_points(tec: Tec) -> np.ndarray:
    """The distinct points a TEC covers, (coverage, 2)."""
    moved = tec.pattern[:, None, :] + tec.translators[None, :, :]
    return np.unique(moved.reshape(-1, 2), axis=0)


def cosiatec(points: np.ndarray) -> tuple[list[Tec], np.ndarray]:
    """COSIATEC: repeatedly take the best TEC of what is left and remove the points it covers.

    Stops when no TEC compresses better than 1:1. Returns the TECs in the order chosen and
    the residual points, which an encoding lists one by one.
    """
    rest = np.unique(np.asarray(points, dtype=np.int64).reshape(-1, 2), axis=0)
    tecs: list[Tec] = []
    while len(rest) >= 2:
        tec = _best_tec(rest)
        if tec is None:
            break
        tecs.append(tec)
        rest = rest[~np.isin(_keys(rest), _keys(covered_points(tec)))]
    return tecs, rest


def points_compression_ratio(points: np.ndarray, window: int = 128) -> float:
    """Number of points / COSIATEC encoding length, COSIATEC run on windows of the points.

    The sorted points are cut into consecutive windows of at most `window` points (about
    10-30 s of music) so the cubic cost stays bounded; repetition across windows is not found.
    The encoding length sums, over TECs, pattern size + translators - 1, plus residual
    points. No points gives 1.0.
    """
    if window < 2:
        raise InputError(f"window={window} is not allowed: need >= 2 points")
    pts = np.unique(np.asarray(points, dtype=np.int64).reshape(-1, 2), axis=0)
    if len(pts) == 0:
        return 1.0
    length = 0
    for s in range(0, len(pts), window):
        tecs, rest = cosiatec(pts[s : s + window])
        length += sum(t.encoding_length for t in tecs) + len(rest)
    return len(pts) / length


def compression_ratio(score: Score, grid: int = 24, window: int = 128) -> float:
    """COSIATEC compression ratio of a score's pitched notes (see `points_compression_ratio`).

    Differs from OMNISIA's COSIATEC, so values are comparable only within tunesmith:
    chromatic MIDI pitch instead of morphetic (diatonic) pitch, so a sequence moved by a
    third major vs minor is not a repeat here; no compactness trawler or other
    post-processing of TECs; ties are broken by coverage, then pattern size, then bitset
    order, not by OMNISIA's compactness and bounding-box rules; and windowing hides
    long-range repeats. With OMNISIA, papers report about 3.4 for human-composed ground
    truth; expect somewhat lower numbers here from the windowing.
    """
    return points_compression_ratio(point_set(score, grid), window)
