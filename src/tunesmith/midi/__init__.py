"""MIDI stage: read and write MIDI (symusic), render audio, draw piano rolls."""

from tunesmith.midi.io import atomic_path, cut, load_score, midi_bytes, save_midi, validate_score

__all__ = ["atomic_path", "cut", "load_score", "midi_bytes", "save_midi", "validate_score"]
