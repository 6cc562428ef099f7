"""Infilling stage: rewrite chosen bars and tracks of a piece, continue it, or arrange a
given melody (or phrases retrieved for the prompt, one per section of a form)."""

from tunesmith.infilling.arrange import Arrangement, Guide, arrange, retrieved_melody, section_melody
from tunesmith.infilling.form import write_pieces
from tunesmith.infilling.infill import FillControls, continue_piece, infill

__all__ = ["Arrangement", "FillControls", "Guide", "arrange", "continue_piece", "infill", "retrieved_melody",
           "section_melody", "write_pieces"]
