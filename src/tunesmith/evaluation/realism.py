"""Realism of a set of pieces against a reference set of real music, from per-piece features.

Consumes per-piece feature dicts (evaluation.listening's `Listening.features()`); produces
Yang & Lerch's (2018) overlapping area per feature — the overlap of the kernel density of the
reference set's intra-set distances with that of the generated-vs-reference inter-set
distances (1 = as close to the reference as its own pieces are to each other) — their mean,
and the cross-validated ROC AUC of a small real-vs-generated classifier (0.5 = indistinguishable).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MAX_DISTANCES = 4000  # distances per KDE: more only costs time
GRID = 1024


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    """Trapezoid integral (numpy's is np.trapz before 2.0 and np.trapezoid after)."""
    return float(((y[1:] + y[:-1]) * np.diff(x)).sum() / 2)


def intra_distances(x: np.ndarray) -> np.ndarray:
    """|x_i - x_j| for i < j."""
    i, j = np.triu_indices(len(x), k=1)
    return np.abs(x[i] - x[j])


def inter_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|x_i - y_j| for every pair."""
    return np.abs(x[:, None] - y[None, :]).ravel()


def _bandwidth(x: np.ndarray, floor: float) -> float:
    """Scott's rule (as scipy's gaussian_kde), never below `floor` (constant samples)."""
    return max(float(x.std(ddof=1)) * len(x) ** (-1 / 5) if len(x) > 1 else 0.0, floor)


def _kde(x: np.ndarray, grid: np.ndarray, h: float) -> np.ndarray:
    """Gaussian kernel density of samples `x` on `grid`, normalised to integrate to 1 there."""
    pdf = np.zeros_like(grid)
    for chunk in np.array_split(x, max(1, len(x) // 256)):
        pdf += np.exp(-0.5 * ((grid[:, None] - chunk[None, :]) / h) ** 2).sum(axis=1)
    area = _trapezoid(pdf, grid)
    return pdf / area if area > 0 else pdf


def kde_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Overlapping area (0..1) of the Gaussian KDEs of two samples."""
    scale = float(np.concatenate([a, b]).std()) or float(np.abs(np.concatenate([a, b])).max()) or 1.0
    ha, hb = _bandwidth(a, 0.02 * scale), _bandwidth(b, 0.02 * scale)
    lo = min(a.min() - 4 * ha, b.min() - 4 * hb)
    hi = max(a.max() + 4 * ha, b.max() + 4 * hb)
    grid = np.linspace(lo, hi, GRID)
    return float(min(_trapezoid(np.minimum(_kde(a, grid, ha), _kde(b, grid, hb)), grid), 1.0))


def _sample(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= MAX_DISTANCES else rng.choice(x, MAX_DISTANCES, replace=False)


def overlap_area(generated: Sequence[float] | np.ndarray, reference: Sequence[float] | np.ndarray,
                 seed: int = 0) -> float | None:
    """Yang & Lerch's OA of one feature: KDE overlap of the reference's intra-set distances
    with the generated-to-reference inter-set distances; NaNs dropped; None with fewer than
    2 values on either side."""
    g = np.asarray(generated, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    g, r = g[~np.isnan(g)], r[~np.isnan(r)]
    if len(g) < 2 or len(r) < 2:
        return None
    rng = np.random.default_rng(seed)
    return kde_overlap(_sample(intra_distances(r), rng), _sample(inter_distances(g, r), rng))


def _matrix(rows: Sequence[Mapping[str, float]], names: Sequence[str]) -> np.ndarray:
    return np.array([[float(row.get(n, math.nan)) for n in names] for row in rows], dtype=np.float64)


def classifier_auc(generated: np.ndarray, reference: np.ndarray, folds: int = 5,
                   seed: int = 0) -> tuple[float, float] | None:
    """Mean and std over stratified folds of the ROC AUC of a random forest telling reference
    (1) from generated (0) rows; NaN (undefined features) is a value the trees split on.
    None with fewer than 2 pieces in a set."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    k = min(folds, len(generated), len(reference))
    if k < 2:
        return None
    x = np.vstack([generated, reference])
    keep = ~np.isnan(x).all(axis=0)
    y = np.r_[np.zeros(len(generated)), np.ones(len(reference))]
    forest = RandomForestClassifier(n_estimators=100, min_samples_leaf=2, random_state=seed, n_jobs=1)
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    scores = cross_val_score(forest, x[:, keep], y, cv=cv, scoring="roc_auc")
    return float(scores.mean()), float(scores.std())


def realism(generated: Sequence[Mapping[str, float]], reference: Sequence[Mapping[str, float]],
            seed: int = 0) -> dict[str, Any]:
    """OA per feature, mean OA (over the features defined in both sets) and the classifier's
    AUC ± std, of generated pieces' features against a reference set's."""
    names = sorted({n for row in [*generated, *reference] for n in row})
    g, r = _matrix(generated, names), _matrix(reference, names)
    oa = {n: overlap_area(g[:, i], r[:, i], seed) if len(g) and len(r) else None
          for i, n in enumerate(names)}
    defined = [v for v in oa.values() if v is not None]
    auc = classifier_auc(g, r, seed=seed) if len(g) and len(r) else None
    return {"oa": oa, "mean_oa": float(np.mean(defined)) if defined else None,
            "auc": auc[0] if auc else None, "auc_std": auc[1] if auc else None,
            "n_generated": len(generated), "n_reference": len(reference)}
