"""Tokenization stage: score <-> token ids (miditok REMI+), conditions, controls, infilling."""

from tunesmith.theory import bar_starts
from tunesmith.tokenization.controls import BarControls, bar_controls, track_bar_controls
from tunesmith.tokenization.tokenizer import Tokenizer, TokenizerSettings, round_trip_rate

__all__ = [
    "BarControls",
    "Tokenizer",
    "TokenizerSettings",
    "bar_controls",
    "bar_starts",
    "round_trip_rate",
    "track_bar_controls",
]
