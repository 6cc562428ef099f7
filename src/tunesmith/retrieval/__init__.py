"""Retrieval stage: text <-> music embeddings (CLMP) over tunesmith tokens and frozen MiniLM.

`Clmp.load()` gives the shipped model; `train_clmp` trains one on a data build;
`retrieve` finds melody phrases for a text in a melody index (`MelodyIndex`).
"""

from tunesmith.retrieval.clmp import (
    DEFAULT_CLMP_DIR,
    Clmp,
    ClmpConfig,
    ClmpTrainConfig,
    evaluate_split,
    melody,
    retrieval_metrics,
    sanity_gap,
    train_clmp,
)
from tunesmith.retrieval.index import Hit, IndexConfig, MelodyIndex
from tunesmith.retrieval.melody import Phrase, extract_phrases, lead_line
from tunesmith.retrieval.search import (
    add_folder,
    best_melodies,
    best_melody,
    build_index,
    phrase_melody,
    retrieve,
)
from tunesmith.retrieval.text_encoder import encode_texts

__all__ = [
    "DEFAULT_CLMP_DIR",
    "Clmp",
    "ClmpConfig",
    "ClmpTrainConfig",
    "Hit",
    "IndexConfig",
    "MelodyIndex",
    "Phrase",
    "add_folder",
    "best_melodies",
    "best_melody",
    "build_index",
    "encode_texts",
    "evaluate_split",
    "extract_phrases",
    "lead_line",
    "melody",
    "phrase_melody",
    "retrieval_metrics",
    "retrieve",
    "sanity_gap",
    "train_clmp",
]
