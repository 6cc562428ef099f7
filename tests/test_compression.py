"""Tests of evaluation.compression: SIA / COSIATEC on point sets with known encodings."""

from __future__ import annotations

import numpy as np
import pytest
from symusic import Note, Score, Track

from tunesmith.errors import InputError
from tunesmith.evaluation.compression import (
    compression_ratio,
    cosiatec,
    covered_points,
    point_set,
    points_compression_ratio,
)

# Three points whose pairwise difference vectors are all distinct: no internal repetition.
MOTIF = np.array([(0, 60), (1, 64), (3, 67)])
STEP = np.array([8, 2])


def repeated(motif: np.ndarray, k: int) -> np.ndarray:
    return np.concatenate([motif + i * STEP for i in range(k)])


def test_motif_repeated_three_times_is_one_tec():
    tecs, rest = cosiatec(repeated(MOTIF, 3))
    assert len(tecs) == 1 and len(rest) == 0
    tec = tecs[0]
    # 9 points encoded by 3 pattern points + 2 non-zero translators = 5
    assert tec.coverage == 9 and tec.encoding_length == 5
    assert len(covered_points(tec)) == 9
    assert points_compression_ratio(repeated(MOTIF, 3)) == pytest.approx(9 / 5)


def test_four_point_motif_repeated_four_times():
    motif = np.array([(0, 60), (1, 64), (3, 67), (4, 61)])
    # 16 points / (4 + 4 - 1)
    assert points_compression_ratio(repeated(motif, 4)) == pytest.approx(16 / 7)


def test_residual_points_count_as_themselves():
    extra = np.array([(100, 30)])  # a lone point no translation reaches
    pts = np.concatenate([repeated(MOTIF, 3), extra])
    assert points_compression_ratio(pts) == pytest.approx(10 / 6)


def test_sparse_random_points_barely_compress():
    rng = np.random.default_rng(7)
    pts = np.stack([rng.integers(0, 100_000, 200), rng.integers(0, 128, 200)], axis=1)
    ratio = points_compression_ratio(pts)
    assert 1.0 <= ratio < 1.05


def test_windowing_hides_repeats_across_windows():
    pts = repeated(MOTIF, 2)
    assert points_compression_ratio(pts, window=6) == pytest.approx(6 / 4)
    assert points_compression_ratio(pts, window=3) == 1.0


def test_empty_and_single_point_sets_give_one():
    assert points_compression_ratio(np.zeros((0, 2))) == 1.0
    assert points_compression_ratio(np.array([(0, 60)])) == 1.0
    assert compression_ratio(Score(480)) == 1.0
    with pytest.raises(InputError, match="window=1"):
        points_compression_ratio(MOTIF, window=1)


def score_from_points(points: np.ndarray, tpq: int = 480, grid: int = 24) -> Score:
    s = Score(tpq)
    t = Track(name="p", program=0)
    for onset, pitch in points:
        t.notes.append(Note(int(onset) * tpq // grid, tpq // 4, int(pitch), 80))
    s.tracks.append(t)
    return s


def test_point_set_quantises_dedupes_and_drops_drums():
    s = Score(480)
    a, b, d = Track(name="a"), Track(name="b"), Track(name="d", is_drum=True)
    a.notes.append(Note(240, 100, 60, 80))  # an eighth in: onset 12 / 24
    b.notes.append(Note(241, 100, 60, 80))  # same point after quantisation
    b.notes.append(Note(0, 0, 62, 80))  # zero-length notes are points too
    d.notes.append(Note(0, 100, 36, 80))
    for t in (a, b, d):
        s.tracks.append(t)
    assert point_set(s).tolist() == [[0, 62], [12, 60]]


def test_compression_ratio_of_a_score_matches_its_points():
    s = score_from_points(repeated(MOTIF, 3))
    assert compression_ratio(s) == pytest.approx(9 / 5)
    drums = Track(name="d", is_drum=True)
    drums.notes.append(Note(0, 10, 36, 80))
    s.tracks.append(drums)
    assert compression_ratio(s) == pytest.approx(9 / 5)  # drums are no points


def brute_force_best_ratio(points: np.ndarray) -> float:
    """Best compression ratio over the TECs of all MTPs, by plain set operations."""
    pts = {tuple(p) for p in points.tolist()}
    best = 1.0
    for v in {(b[0] - a[0], b[1] - a[1]) for a in pts for b in pts if b > a}:
        mtp = [p for p in pts if (p[0] + v[0], p[1] + v[1]) in pts]
        if len(mtp) < 2:
            continue
        p0 = min(mtp)
        moves = [
            (q[0] - p0[0], q[1] - p0[1])
            for q in pts
            if all((p[0] + q[0] - p0[0], p[1] + q[1] - p0[1]) in pts for p in mtp)
        ]
        cover = {(p[0] + m[0], p[1] + m[1]) for p in mtp for m in moves}
        best = max(best, len(cover) / (len(mtp) + len(moves) - 1))
    return best


def test_first_tec_is_the_best_one_found_by_brute_force():
    rng = np.random.default_rng(3)
    pts = np.unique(np.stack([rng.integers(0, 8, 30), rng.integers(60, 66, 30)], axis=1), axis=0)
    tecs, _ = cosiatec(pts)
    assert tecs[0].compression_ratio == pytest.approx(brute_force_best_ratio(pts))
    members = {tuple(p) for p in pts.tolist()}
    pattern = tecs[0].pattern
    inside = [  # every vector that keeps the whole pattern inside the set
        tuple(v) for v in (pts - pattern[0]).tolist()
        if all(tuple(p) in members for p in (pattern + v).tolist())
    ]
    assert sorted(inside) == sorted(tuple(v) for v in tecs[0].translators.tolist())
