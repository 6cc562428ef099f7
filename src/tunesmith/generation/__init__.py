"""Generation stage: text and attributes to MIDI through grammar-constrained sampling."""

from tunesmith.generation.generate import Generated, bars_for, generate, get_checkpoint, resolve
from tunesmith.generation.grammar import Constraints, SequenceGrammar, Vocab
from tunesmith.generation.sampler import SamplingConfig, filter_logits, sample

__all__ = [
    "Constraints",
    "Generated",
    "SamplingConfig",
    "SequenceGrammar",
    "Vocab",
    "bars_for",
    "filter_logits",
    "generate",
    "get_checkpoint",
    "resolve",
    "sample",
]
