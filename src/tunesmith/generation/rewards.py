"""Rewards that score a generated piece against what was asked, read from the MIDI itself.

Used to pick the best of several candidates (best-of-N, the simplest form of
Text2midi-InferAlign's reward-guided search). Pure functions of a Score and Attributes.
"""

from __future__ import annotations

import numpy as np
from symusic import Score

from tunesmith.attributes import KEYS, Attributes
from tunesmith.captions.features import key_correlations


def key_margin(score: Score, key: str) -> float:
    """Correlation of the piece's pitch-class histogram with `key`'s profile minus the best
    other key's: positive exactly when Krumhansl-Schmuckler detection returns `key`.
    -1 when the piece has no pitched notes."""
    r = key_correlations(score)
    if r is None:
        return -1.0
    i = KEYS.index(key)
    return float(r[i] - np.max(np.delete(r, i)))


def instrument_recall(score: Score, programs: tuple[int, ...]) -> float:
    """Share of requested programs (128 = drums) that play at least one note."""
    if not programs:
        return 1.0
    played = {128 if t.is_drum else int(t.program) for t in score.tracks if len(t.notes)}
    return len(set(programs) & played) / len(set(programs))


def adherence_reward(score: Score, attrs: Attributes) -> float:
    """What best-of-N maximises: every requested instrument heard first, then the key.
    Tempo, meter and length need no reward: the grammar guarantees them."""
    reward = 2.0 * instrument_recall(score, attrs.instruments or ())
    if attrs.key:
        reward += key_margin(score, attrs.key)
    return reward
