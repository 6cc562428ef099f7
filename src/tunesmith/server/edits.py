"""Edits of an existing piece over HTTP: infill chosen bars and tracks, continue by N bars,
or open an uploaded MIDI file as a job of its own.

Consumes a request body (JSON, the MIDI as base64 or an earlier job's id; or multipart with
the MIDI as `file`) and produces a validated `EditSpec` for the job queue, checked with the
CLI's own readers (parse_bar_range, FillControls, resolve_tracks) so both refuse alike; the
worker turns the spec into a piece with tunesmith.infilling (MIDI-RWKV-style infilling). An
edit of a planned job keeps the job's sections (a continuation's new bars are in none).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict
from symusic import Score

from tunesmith.attributes import INSTRUMENT_NAMES, Attributes
from tunesmith.errors import InputError, PromptError
from tunesmith.generation import Generated, SamplingConfig
from tunesmith.generation.generate import check_seed
from tunesmith.infilling import FillControls, continue_piece, infill
from tunesmith.infilling.infill import parse_bar_range, played_programs, resolve_tracks
from tunesmith.infilling.infill import parse_polyphony as parse_polyphony_text
from tunesmith.midi import load_score
from tunesmith.model import Checkpoint
from tunesmith.retrieval.feel import FEELS, FeelConfig, Region, apply_feel
from tunesmith.theory import bar_starts

KINDS = ("infill", "continue", "open")
MAX_NEW_BARS = 64  # continue_piece's own limit
Sections = tuple[tuple[str, int, int], ...]  # (label, first bar 0-based, bars), as Generated's


def feel_config(value: str) -> FeelConfig:
    """A request's `feel`, refused as its other bad values are (InputError: HTTP 400)."""
    if value not in FEELS:
        raise InputError(f"feel {value[:40]!r} is not one of {', '.join(FEELS)}")
    return FeelConfig(feel=value)


class EditRequest(BaseModel):
    """The piece to edit: `job_id` of a finished job, or `midi`, a MIDI file as base64
    (multipart requests send it as the `file` part instead). `feel` times only the notes the
    edit writes (retrieval.feel)."""

    model_config = ConfigDict(extra="forbid")

    job_id: str | None = None
    midi: str | None = None
    feel: str = "straight"


class InfillRequest(EditRequest):
    """POST /api/infill body: the `tunesmith infill` options by the same names."""

    bars: str | int  # "9-12" or 9, 1-based inclusive
    tracks: list[str | int] | str | None = None  # names or GM programs (128 = drums); None: all
    density: int | None = None
    polyphony: str | list[int] | None = None  # "1-3" or [1, 3]
    durations: list[str] | str | None = None  # duration classes, e.g. ["quarter", "eighth"]
    prompt: str = ""
    seed: int = 0
    temperature: float | None = None
    drum_temperature: float | None = None
    groove: float | None = None


class ContinueRequest(EditRequest):
    """POST /api/continue body: the `tunesmith continue` options by the same names."""

    bars: int = 8
    prompt: str = ""
    seed: int = 0
    temperature: float | None = None
    drum_temperature: float | None = None
    groove: float | None = None


@dataclass(frozen=True)
class EditSpec:
    """A queued edit: what to do ("infill", "continue" or "open"), the source MIDI's bytes
    and the validated options (tracks as GM programs)."""

    kind: str
    midi: bytes
    sampling: SamplingConfig
    prompt: str = ""
    attributes: Attributes = Attributes()
    bars: tuple[int, int] = (1, 1)  # infill: the gap, 1-based inclusive
    new_bars: int = 0  # continue: how many
    tracks: tuple[int, ...] = ()  # infill: the programs rewritten
    controls: FillControls | None = None  # infill: one set for every bar of the gap
    seed: int = 0
    source: str | None = None  # the job whose MIDI this edits
    sections: Sections = ()  # the source job's plan, kept by the edit
    feel: FeelConfig = FeelConfig()  # timing of the notes the edit writes

    @property
    def requested(self) -> Attributes:
        return self.attributes

    @property
    def notes(self) -> tuple[str, ...]:
        return ()

    def expected_tokens(self, tokens_per_bar: int) -> int:
        """A guess of the sampled length, for the progress bar only."""
        bars = self.bars[1] - self.bars[0] + 1 if self.kind == "infill" else self.new_bars
        return max(16, bars * max(1, len(self.tracks)) * tokens_per_bar)

    def describe(self) -> dict[str, Any]:
        """What was edited, for the features report and the page's history."""
        out: dict[str, Any] = {"kind": self.kind, "source": self.source}
        if self.kind == "infill":
            out |= {"bars": list(self.bars), "tracks": [_track_name(p) for p in self.tracks],
                    "controls": _controls_dict(self.controls)}
        elif self.kind == "continue":
            out["new_bars"] = self.new_bars
        return out


def _track_name(program: int) -> str:
    return INSTRUMENT_NAMES[program]


def _controls_dict(controls: FillControls | None) -> dict[str, Any] | None:
    if controls is None:
        return None
    return {"density": controls.density,
            "polyphony": list(controls.polyphony) if controls.polyphony else None,
            "durations": list(controls.durations) if controls.durations else None}


def decode_midi(text: str, field: str = "midi", multipart: bool = True) -> bytes:
    """The bytes of a base64 MIDI field, or InputError naming the field (and the multipart
    part 'file' where the route takes one)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        other = ", or upload it as the multipart part 'file'" if multipart else ""
        raise InputError(f"{field} is not valid base64: send the MIDI file's bytes "
                         f"base64-encoded{other}") from None


def _words(value: list[Any] | str | None) -> list[Any] | None:
    """A list field that may also come as one comma-separated string (multipart forms)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    kept = [v.strip() if isinstance(v, str) else v for v in items]
    return [v for v in kept if v != ""] or None


def parse_polyphony(value: str | list[int] | None) -> tuple[int, int] | None:
    """"1-3", "2" or [1, 3] -> (lo, hi); the range itself is checked by FillControls."""
    if value is None or value == "":
        return None
    if isinstance(value, list):
        if len(value) not in (1, 2):
            raise InputError(f"polyphony {value} is invalid: give [MIN, MAX], e.g. [1, 3]")
        return value[0], value[-1]
    return parse_polyphony_text(value)


@dataclass(frozen=True)
class Limits:
    """The server's limits an edit request is checked against."""

    max_prompt_chars: int
    max_seconds: float  # longest source piece (its result is rendered to audio)
    sampling: SamplingConfig  # the server's sampling defaults (e.g. its decoder)


def load_source(midi: bytes, limits: Limits) -> Score:
    """The piece to edit, validated by the MIDI loader and within the render limit."""
    score = load_score(midi, name="uploaded MIDI")
    seconds = float(score.to("second").end())  # type: ignore[attr-defined]  # symusic stubs
    if seconds > limits.max_seconds:
        raise InputError(f"uploaded MIDI lasts {seconds:.0f} s: editing is limited to "
                         f"{limits.max_seconds:g} s")
    return score


def plan_sections(report: dict[str, Any] | None) -> Sections:
    """The sections of a job's features report (its `plan`, bars 1-based) as Generated has them."""
    plan = (report or {}).get("plan") or []
    return tuple((str(s["label"]), int(s["first_bar"]) - 1, int(s["bars"])) for s in plan)


def sections_within(sections: Sections, n_bars: int) -> Sections:
    """`sections` cut to a piece's first `n_bars` bars (a plan may count a silent last bar that
    the MIDI does not hold: a continuation starts there, outside every section)."""
    kept = ((label, first, min(bars, n_bars - first)) for label, first, bars in sections)
    return tuple(s for s in kept if s[2] > 0)


def _common(req: InfillRequest | ContinueRequest, midi: bytes, limits: Limits,
            sections: Sections) -> dict[str, Any]:
    from tunesmith.captions import parse

    max_prompt, sampling = limits.max_prompt_chars, limits.sampling
    if len(req.prompt) > max_prompt:
        raise PromptError(f"prompt of {len(req.prompt)} characters is too long: allowed {max_prompt}")
    check_seed(req.seed)
    given: dict[str, Any] = {"temperature": req.temperature, "drum_temperature": req.drum_temperature,
                             "groove": req.groove}
    # SamplingConfig validates the values given; the others keep the server's defaults
    sampling = replace(sampling, **{k: v for k, v in given.items() if v is not None})
    return {"midi": midi, "prompt": req.prompt, "attributes": parse(req.prompt),
            "seed": req.seed, "sampling": sampling, "source": req.job_id, "sections": sections,
            "feel": feel_config(req.feel)}


def infill_spec(req: InfillRequest, midi: bytes, limits: Limits, sections: Sections = ()) -> EditSpec:
    """Validate an infill request against its piece (whose plan is `sections`, kept as it is);
    InputError/PromptError name the bad value."""

    score = load_source(midi, limits)
    first, last = parse_bar_range(str(req.bars))
    n_bars = len(bar_starts(score))
    if last > n_bars:
        raise InputError(f"bars {first}-{last} are outside the piece: it has bars 1-{n_bars}")
    names = _words(req.tracks)
    tracks = resolve_tracks(score, names) if names else played_programs(score)
    durations = _words(req.durations)
    controls = FillControls(density=req.density, polyphony=parse_polyphony(req.polyphony),
                            durations=tuple(str(d).lower() for d in durations) if durations else None)
    return EditSpec("infill", bars=(first, last), tracks=tuple(tracks),
                    controls=controls if controls.any else None,
                    **_common(req, midi, limits, sections))


def continue_spec(req: ContinueRequest, midi: bytes, limits: Limits, sections: Sections = ()) -> EditSpec:
    """Validate a continue request on a piece whose plan is `sections` (kept, cut to the piece's
    bars; the new bars are in none); InputError/PromptError name the bad value."""
    if not 1 <= req.bars <= MAX_NEW_BARS:
        raise InputError(f"bars {req.bars} is out of range: allowed 1..{MAX_NEW_BARS} new bars")
    score = load_source(midi, limits)
    return EditSpec("continue", new_bars=req.bars, tracks=tuple(played_programs(score)),
                    **_common(req, midi, limits, sections_within(sections, len(bar_starts(score)))))


def open_spec(midi: bytes, limits: Limits) -> EditSpec:
    """An uploaded MIDI shown as it is (its results are drawn and rendered like a piece's)."""
    load_source(midi, limits)
    return EditSpec("open", midi=midi, sampling=limits.sampling)


def run_edit(spec: EditSpec, checkpoint: Checkpoint, on_step: Callable[[int], None]) -> Generated:
    """The worker's step for an edit: the new piece from the source MIDI."""
    start = time.monotonic()
    score = load_score(spec.midi, name="source MIDI")
    steps = itertools.count()  # the sampler counts per chunk: the job's progress counts in all

    def step(_: int) -> None:
        on_step(next(steps))

    common: dict[str, Any] = {"attributes": spec.attributes, "seed": spec.seed,
                              "sampling": spec.sampling, "checkpoint": checkpoint, "on_step": step}
    genre = spec.attributes.genre if spec.attributes else None
    if spec.kind == "infill":
        starts = bar_starts(score, spec.bars[1] + 1)
        written = Region(starts[spec.bars[0] - 1], starts[spec.bars[1]], frozenset(spec.tracks))
        score = infill(score, spec.bars, list(spec.tracks), controls=spec.controls, **common)
        score = apply_feel(score, spec.feel, genre, spec.seed, written)
        note = (f"Bars {spec.bars[0]}-{spec.bars[1]} of "
                f"{', '.join(_track_name(p) for p in spec.tracks)} regenerated.")
    elif spec.kind == "continue":
        written = Region(bar_starts(score, len(bar_starts(score)) + 1)[-1])
        score = continue_piece(score, spec.new_bars, **common)
        score = apply_feel(score, spec.feel, genre, spec.seed, written)
        note = f"Continued by {spec.new_bars} bars."
    else:
        note = "Uploaded MIDI."
    return Generated(score, [], spec.attributes, spec.seed, 0.0, time.monotonic() - start, [note],
                     sections=spec.sections)
