"""Infilling stage: rewrite chosen bars and tracks of a piece, continue it, or arrange a
given melody."""

from tunesmith.infilling.arrange import Arrangement, arrange
from tunesmith.infilling.infill import FillControls, continue_piece, infill

__all__ = ["Arrangement", "FillControls", "arrange", "continue_piece", "infill"]
