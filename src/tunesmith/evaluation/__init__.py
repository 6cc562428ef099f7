"""Evaluation: pure metric functions of scores, note arrays and attributes.

Prompt adherence (MidiCaps / text2midi), listening metrics (parts, groove, form, harmony) and
realism against real music (Yang & Lerch OA, a real-vs-generated classifier), musical
statistics and set distances (MusPy, Yang & Lerch), COSIATEC compression ratio (Meredith),
infilling metrics (MIDI-RWKV), Fréchet distance of CLMP embeddings. The report entry `evaluate` lives in
tunesmith.evaluation.report (not re-exported: it loads models, unlike these pure functions).
"""

from tunesmith.evaluation.adherence import (
    adherence_row,
    aggregate,
    chord_match,
    instrument_scores,
    key_match,
    key_match_relative,
    length_match,
    tempo_bin_match,
    tempo_bin_tolerant,
    time_signature_match,
)
from tunesmith.evaluation.compression import (
    Tec,
    compression_ratio,
    cosiatec,
    point_set,
    points_compression_ratio,
)
from tunesmith.evaluation.frechet import frechet_bootstrap, frechet_distance
from tunesmith.evaluation.infilling import (
    BarRegion,
    content_preservation,
    groove_similarity,
    onset_f1,
    pitch_class_entropy_difference,
    region_onsets,
)
from tunesmith.evaluation.listening import Listening, draw_self_similarity, listen, self_similarity
from tunesmith.evaluation.realism import realism
from tunesmith.evaluation.statistics import (
    FEATURES,
    bar_boundaries,
    empty_beat_rate,
    feature_distances,
    groove_consistency,
    kl_divergence,
    n_pitch_classes_used,
    note_density,
    overlap_area,
    pitch_class_entropy,
    pitch_in_scale_rate,
    pitch_range,
    polyphony,
    polyphony_rate,
    scale_consistency,
)

__all__ = [
    "FEATURES",
    "BarRegion",
    "Listening",
    "Tec",
    "adherence_row",
    "aggregate",
    "bar_boundaries",
    "chord_match",
    "compression_ratio",
    "content_preservation",
    "cosiatec",
    "draw_self_similarity",
    "empty_beat_rate",
    "feature_distances",
    "frechet_bootstrap",
    "frechet_distance",
    "groove_consistency",
    "groove_similarity",
    "instrument_scores",
    "key_match",
    "key_match_relative",
    "kl_divergence",
    "length_match",
    "listen",
    "n_pitch_classes_used",
    "note_density",
    "onset_f1",
    "overlap_area",
    "pitch_class_entropy",
    "pitch_class_entropy_difference",
    "pitch_in_scale_rate",
    "pitch_range",
    "point_set",
    "points_compression_ratio",
    "polyphony",
    "polyphony_rate",
    "realism",
    "region_onsets",
    "scale_consistency",
    "self_similarity",
    "tempo_bin_match",
    "tempo_bin_tolerant",
    "time_signature_match",
]
