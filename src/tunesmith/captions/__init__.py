"""Captions stage: music features -> MidiCaps-style caption, free text -> explicit targets."""

from tunesmith.captions.caption import caption
from tunesmith.captions.features import Features, features
from tunesmith.captions.parse import parse, parse_instruments, parse_key, parse_time_signature

__all__ = [
    "Features", "caption", "features", "parse", "parse_instruments", "parse_key",
    "parse_time_signature",
]
