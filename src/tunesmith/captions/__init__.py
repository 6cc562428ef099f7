"""Captions stage: music features -> MidiCaps-style caption, free text -> explicit targets."""

from tunesmith.captions.caption import caption
from tunesmith.captions.features import Features, features
from tunesmith.captions.parse import (
    ATTRIBUTE_FIELDS,
    parse,
    parse_fields,
    parse_instruments,
    parse_key,
    parse_time_signature,
)

__all__ = [
    "ATTRIBUTE_FIELDS", "Features", "caption", "features", "parse", "parse_fields",
    "parse_instruments", "parse_key", "parse_time_signature",
]
