"""Generation stage: text and attributes to MIDI through grammar-constrained sampling."""

from tunesmith.generation.generate import (
    Generated,
    Request,
    bars_for,
    generate,
    get_checkpoint,
    resolve,
    sampling_from,
)
from tunesmith.generation.grammar import Constraints, SequenceGrammar, Vocab
from tunesmith.generation.sampler import SamplingConfig, filter_logits, sample

__all__ = [
    "Constraints",
    "Generated",
    "Request",
    "SamplingConfig",
    "SequenceGrammar",
    "Vocab",
    "bars_for",
    "filter_logits",
    "generate",
    "get_checkpoint",
    "resolve",
    "sample",
    "sampling_from",
]
