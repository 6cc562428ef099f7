"""One error hierarchy for tunesmith.

Library code raises a subclass of `TunesmithError` whose message names the bad value and
what is allowed; only the CLI and the HTTP server turn it into an exit code or a status.
"""

from __future__ import annotations


class TunesmithError(Exception):
    """Base class of every error tunesmith raises on purpose."""

    exit_code = 1
    http_status = 500


class InputError(TunesmithError):
    """The user gave a value or a file that cannot be used (exit 2, HTTP 400)."""

    exit_code = 2
    http_status = 400


class MidiError(InputError):
    """A MIDI file is missing, corrupt, empty or out of the supported range."""


class ConfigError(InputError):
    """A configuration value is out of range."""


class PromptError(InputError):
    """A prompt asks for something impossible (tempo 0, 400 bars, an unknown instrument)."""


class ModelError(TunesmithError):
    """A checkpoint is missing or does not match the code (exit 1, HTTP 500)."""


class QueueFullError(TunesmithError):
    """The server's job queue is full (HTTP 429)."""

    http_status = 429
