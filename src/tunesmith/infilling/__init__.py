"""Infilling stage: rewrite chosen bars and tracks of a piece, or continue it."""

from tunesmith.infilling.infill import FillControls, continue_piece, infill

__all__ = ["FillControls", "continue_piece", "infill"]
