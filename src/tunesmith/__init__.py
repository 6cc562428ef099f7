"""tunesmith: text to editable multitrack MIDI, offline on a laptop CPU.

The public Python API, re-exported from the stage modules. Names load lazily on first use
(PEP 562), so `import tunesmith` and the command line start without torch or matplotlib.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("tunesmith")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

# public name -> module that defines it
_EXPORTS = {
    "Attributes": "tunesmith.attributes",
    "TunesmithError": "tunesmith.errors",
    "load_score": "tunesmith.midi.io",
    "save_midi": "tunesmith.midi.io",
    "render": "tunesmith.midi.render",
    "write_wav": "tunesmith.midi.render",
    "draw_pianoroll": "tunesmith.midi.pianoroll",
    "features": "tunesmith.captions",
    "caption": "tunesmith.captions",
    "parse": "tunesmith.captions",
    "Tokenizer": "tunesmith.tokenization",
    "generate": "tunesmith.generation",
    "resolve": "tunesmith.generation",
    "SamplingConfig": "tunesmith.generation",
    "load_checkpoint": "tunesmith.model",
    "infill": "tunesmith.infilling",
    "continue_piece": "tunesmith.infilling",
    "FillControls": "tunesmith.infilling",
    "write_pieces": "tunesmith.infilling",
    "retrieve": "tunesmith.retrieval",
}

__all__ = [
    "Attributes", "FillControls", "SamplingConfig", "Tokenizer", "TunesmithError", "__version__", "caption",
    "continue_piece", "draw_pianoroll", "features", "generate", "infill", "load_checkpoint", "load_score",
    "parse", "render", "resolve", "retrieve", "save_midi", "write_pieces", "write_wav",
]

if TYPE_CHECKING:
    from tunesmith.attributes import Attributes
    from tunesmith.captions import caption, features, parse  # type: ignore[no-redef]
    from tunesmith.errors import TunesmithError
    from tunesmith.generation import SamplingConfig, generate, resolve  # type: ignore[no-redef]
    from tunesmith.infilling import FillControls, continue_piece, infill, write_pieces  # type: ignore[no-redef]
    from tunesmith.midi.io import load_score, save_midi
    from tunesmith.midi.pianoroll import draw_pianoroll
    from tunesmith.midi.render import render, write_wav
    from tunesmith.model import load_checkpoint
    from tunesmith.retrieval import retrieve
    from tunesmith.tokenization import Tokenizer


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tunesmith' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
