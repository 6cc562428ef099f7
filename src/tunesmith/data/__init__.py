"""Data stage: corpus readers, music21 conversion, orchestration augmentation, dataset build.

The build entry is `tunesmith.data.build.build` (not re-exported here, so that
`tunesmith.data.build` stays the module and not the function).
"""

from tunesmith.data.augment import orchestrate, orchestrations
from tunesmith.data.build import BuildConfig, BuildSummary, format_summary, split_of
from tunesmith.data.corpora import Piece, Reader, open_corpus

__all__ = [
    "BuildConfig",
    "BuildSummary",
    "Piece",
    "Reader",
    "format_summary",
    "open_corpus",
    "orchestrate",
    "orchestrations",
    "split_of",
]
