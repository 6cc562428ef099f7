"""Retrieval stage: text <-> music embeddings (CLMP) over tunesmith tokens and frozen MiniLM.

`Clmp.load()` gives the shipped model; `train_clmp` trains one on a data build.
"""

from tunesmith.retrieval.clmp import (
    DEFAULT_CLMP_DIR,
    Clmp,
    ClmpConfig,
    ClmpTrainConfig,
    evaluate_build,
    evaluate_split,
    melody,
    retrieval_metrics,
    sanity_gap,
    train_clmp,
)
from tunesmith.retrieval.text_encoder import encode_texts

__all__ = [
    "DEFAULT_CLMP_DIR",
    "Clmp",
    "ClmpConfig",
    "ClmpTrainConfig",
    "encode_texts",
    "evaluate_build",
    "evaluate_split",
    "melody",
    "retrieval_metrics",
    "sanity_gap",
    "train_clmp",
]
