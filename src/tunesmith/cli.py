"""Command line: thin typer commands over the library (generate, render, inspect, data, train).

Consumes flags and files; produces MIDI, WAV and PNG files (written atomically) and one-line
summaries. Library code raises `TunesmithError`; only this module turns it into
`error: <message>` on stderr and the error's exit code (2 for bad input). torch,
transformers and matplotlib are imported inside the commands so `tunesmith --help` is fast.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.text import Text
from typer.core import TyperGroup
from typer.exceptions import Abort, TyperException

from tunesmith.attributes import Attributes
from tunesmith.errors import InputError, TunesmithError

if TYPE_CHECKING:
    from symusic import Score

    from tunesmith.generation import Generated, Request, SamplingConfig
    from tunesmith.infilling.arrange import Guide
    from tunesmith.model import Checkpoint
    from tunesmith.retrieval.feel import FeelConfig

DEMO_PROMPT = (
    "A cheerful pop song for piano and drums in C major at 100 bpm, 8 bars"
)
SERVE_URL = "http://{host}:{port}"
MAX_BATCH_LINES = 10_000
MAX_BATCH_BYTES = 16 * 1024 * 1024

stderr = Console(stderr=True)
stdout = Console()


class _Group(TyperGroup):
    """The root group: every expected error of any command becomes one line and an exit code."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Bad flags and arguments too: click's usage errors (typer draws them in a box)
        become one `error:` line with exit code 2."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        except TyperException as err:  # typer's vendored click usage errors
            ctx = getattr(err, "ctx", None)
            if type(err).__name__ == "NoArgsIsHelpError" and ctx is not None:
                typer.echo(ctx.get_help(), err=True)
                sys.exit(2)
            where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            typer.echo(f"error: {' '.join(err.format_message().split())}{where}", err=True)
            sys.exit(err.exit_code)
        except Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except TunesmithError as err:
            _fail(str(err), err.exit_code)
        except OSError as err:  # disk full, permission denied: the environment, not a bug
            where = f"{err.filename}: " if err.filename else ""
            _fail(f"{where}{err.strerror or err}", 1)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


app = typer.Typer(
    cls=_Group,
    name="tunesmith",
    help="Text to editable multitrack MIDI, offline on a laptop CPU.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
data_app = typer.Typer(help="Build training data from corpora.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _version(value: bool) -> None:
    if value:
        from tunesmith import __version__

        typer.echo(f"tunesmith {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    # Everything runs offline: never let transformers or the hub reach the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# --- small helpers ------------------------------------------------------------------------
def _progress(unit: str, total_known: bool) -> Progress:
    """The shared progress display, on stderr, gone when done."""
    from tunesmith.progress import progress

    return progress(unit, total_known=total_known, console=stderr, transient=True)


def _output(path: Path | None, default: Path, *inputs: Path) -> Path:
    """The output path (or `default`), refused if it is a folder or one of the inputs."""
    out = path if path is not None else default
    if out.is_dir():
        raise InputError(f"output {out} is a folder: give a file name")
    if any(out.resolve() == i.resolve() for i in inputs):
        raise InputError(f"output {out} is the input file: give another name")
    return out


def _numbered(path: Path, i: int, n: int) -> Path:
    """OUT.mid for one piece, OUT-1.mid ... OUT-n.mid for several."""
    return path if n == 1 else path.with_name(f"{path.stem}-{i}{path.suffix}")


def _slug(prompt: str) -> str:
    words = re.findall(r"[a-z0-9]+", prompt.lower())[:6]
    return "-".join(words)[:48].strip("-") or "tunesmith"


def _checkpoint(model: Path | None) -> Checkpoint:
    """Load a checkpoint (the shipped default when None) with a spinner, quietly."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    from tunesmith.generation import get_checkpoint

    with stderr.status("loading model"), _user_model(model):
        return get_checkpoint(str(model) if model is not None else None)


@contextmanager
def _user_model(model: Path | None) -> Iterator[None]:
    """A checkpoint the user named that cannot be loaded is bad input (exit 2); only the
    shipped model failing is tunesmith's own error."""
    from tunesmith.errors import ModelError

    try:
        yield
    except ModelError as err:
        if model is None:
            raise
        raise InputError(str(err)) from err


def _load(path: Path) -> Score:
    from tunesmith.midi import load_score

    return load_score(path)


# --- render, pianoroll, inspect -----------------------------------------------------------
InFile = Annotated[Path, typer.Argument(help="A MIDI file.", show_default=False)]
Model = Annotated[Path | None, typer.Option(help="Checkpoint folder (default: the shipped one).")]
# sampling options shared by `generate` and `evaluate`
Temperature = Annotated[float | None, typer.Option(help="Sampling temperature.")]
DrumTemperature = Annotated[
    float | None, typer.Option(help="Temperature of drum hits (lower: a steadier pattern).")
]
Groove = Annotated[
    float | None, typer.Option(help="Pull the drums towards the keys the last groove bar played at the same "
                                    "position (0: off; default 2).")
]
Guidance = Annotated[float | None, typer.Option(help="Classifier-free guidance scale.")]
Order = Annotated[str | None, typer.Option(
    help="How several instruments are written: 'trackwise' (one after another, each part its own "
         "turn; the default) or 'interleaved' (all at once).")]
Drums = Annotated[str | None, typer.Option(
    help="Who writes the drums of a track-by-track piece: 'groove' (a real groove from the shipped "
         "index in every other bar, the model's bars between; the default) or 'model' (every bar).")]
Texture = Annotated[str | None, typer.Option(
    help="Notes a bar of each part (its family's in the band corpora, a lead at most 5): 'held' "
         "(told to parts written by infilling, and every part steered towards that many spread "
         "over the bar; the default), 'stated' (told only) or 'off'.")]
Feel = Annotated[str, typer.Option(
    help="Timing of the drums: 'straight' (on the grid, as generated; the default) or 'human' (each "
         "hit moved by a real drummer's push, pull and looseness for its sound and 16th, from the "
         "Groove MIDI Dataset).")]
KeyStrength = Annotated[float | None, typer.Option(help="Penalty on notes outside the asked key (0: none).")]
KeyProfile = Annotated[float | None, typer.Option(help="Weight of the key's tonal profile on notes (0: none).")]
Candidates = Annotated[int | None, typer.Option(help="Best-of-N: sample N per piece, keep the most faithful.")]


@app.command()
def render(
    midi: InFile,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="WAV file [default: IN.wav]")] = (
        None
    ),
    soundfont: Annotated[
        Path | None, typer.Option(help="A General MIDI .sf2 (default: pretty_midi's TimGM6mb).")
    ] = None,
    sample_rate: Annotated[int, typer.Option(help="Samples per second.")] = 44100,
) -> None:
    """Render a MIDI file to a 16-bit stereo WAV through a SoundFont."""
    from tunesmith.midi.render import render as render_audio
    from tunesmith.midi.render import write_wav

    target = _output(out, midi.with_suffix(".wav"), midi)
    audio = render_audio(_load(midi), soundfont, sample_rate)
    write_wav(audio, target, sample_rate)
    typer.echo(f"wrote {target} ({len(audio) / sample_rate:.1f} s of audio)")


@app.command()
def pianoroll(
    midi: InFile,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="PNG file [default: IN.png]")] = (
        None
    ),
    width: Annotated[int, typer.Option(help="Picture width in pixels.")] = 1600,
) -> None:
    """Draw a MIDI file as a piano-roll PNG (one colour per instrument, drums below)."""
    from tunesmith.midi.pianoroll import draw_pianoroll

    target = _output(out, midi.with_suffix(".png"), midi)
    draw_pianoroll(_load(midi), target, title=midi.name, width_px=width)
    typer.echo(f"wrote {target}")


@app.command()
def inspect(midi: InFile) -> None:
    """Print a MIDI file's features (key, tempo, meter, instruments, chords...) as JSON."""
    from tunesmith.captions import features

    typer.echo(json.dumps(features(_load(midi)).to_dict(), indent=2))


# --- generate -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Outputs:
    wav: bool = False
    pianoroll: bool = False


def _artefacts(score: Score, midi: Path, outputs: _Outputs,
               sections: list[tuple[str, int, int]] | None = None) -> dict[Path, bytes]:
    """Every file of one piece, made in memory first so that a failure writes none of them."""
    from tunesmith.midi import midi_bytes

    files = {midi: midi_bytes(score)}
    if outputs.wav:
        from tunesmith.midi.render import render as render_audio
        from tunesmith.midi.render import wav_bytes

        files[midi.with_suffix(".wav")] = wav_bytes(render_audio(score))
    if outputs.pianoroll:
        from tunesmith.midi.pianoroll import draw_pianoroll

        files[midi.with_suffix(".png")] = draw_pianoroll(score, title=midi.stem, sections=sections)
    return files


def _write(files: dict[Path, bytes]) -> list[Path]:
    """Write the files all together or not at all (temporary files, renamed at the end)."""
    from tunesmith.midi.io import write_files_atomic

    return write_files_atomic(files)


def _targets(midi: Path, outputs: _Outputs) -> list[Path]:
    """The files one piece will write: OUT.mid and, if asked, OUT.wav and OUT.png."""
    return ([midi] + ([midi.with_suffix(".wav")] if outputs.wav else [])
            + ([midi.with_suffix(".png")] if outputs.pianoroll else []))


def _check_targets(paths: list[Path]) -> None:
    """Refuse unwritable outputs before the model loads (the message names the user's path)."""
    from tunesmith.midi.io import check_writable

    check_writable(paths)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out-dir {out_dir} is a file: give a folder")
    _check_targets([out_dir / "index.jsonl"])


def _summary(piece: Generated) -> str:
    """bars, notes, instruments, tempo, the key asked for and the grammar's masked share."""
    from tunesmith.captions import features

    f = features(piece.score)
    names = ", ".join(f.instruments) or "no instruments"
    asked = piece.attributes.key or "any"
    return (
        f"{f.bars} bars ({piece.attributes.bars} asked), {piece.score.note_num()} notes, "
        f"{names}, {f.tempo:g} bpm "
        f"{f.time_signature}, key asked {asked}, grammar masked {piece.masked_share:.0%} "
        f"of steps, {piece.seconds:.1f} s"
    )


def _generate(
    request: Request, num: int, seed: int, sampling: SamplingConfig, ckpt: Checkpoint,
    on_step: Callable[[int], None] | None = None, form: str | None = None,
) -> list[Generated]:
    """One window, or sections along a plan for long pieces and --form (the library's rule,
    shared with batch lines and the HTTP API)."""
    from tunesmith.infilling.form import write_pieces

    return write_pieces(request, num=num, seed=seed, sampling=sampling, checkpoint=ckpt, on_step=on_step,
                        form=form)


@contextmanager
def _token_progress(label: str) -> Iterator[Callable[[int], None]]:
    with _progress("tok", total_known=False) as bar:
        task = bar.add_task(label, total=None)
        yield lambda _step: bar.advance(task)


def _one_prompt(
    request: Request, out: Path, num: int, seed: int, sampling: SamplingConfig,
    ckpt: Checkpoint, outputs: _Outputs, feel: FeelConfig, form: str | None = None,
) -> None:
    with _token_progress(f"generating {num} piece{'s' * (num > 1)}") as on_step:
        pieces = _generate(request, num, seed, sampling, ckpt, on_step, form)
    _write_pieces(pieces, out, seed, outputs, feel)


def _felt(piece: Generated, feel: FeelConfig) -> Generated:
    """The piece timed as asked (retrieval.feel: post-processing, generation untouched)."""
    from tunesmith.retrieval.feel import apply_feel

    return replace(piece, score=apply_feel(piece.score, feel, piece.attributes.genre, piece.seed))


def _write_pieces(pieces: list[Generated], out: Path, seed: int, outputs: _Outputs, feel: FeelConfig) -> None:
    """Notes, then every piece's files (all or none), a summary line each and the seed."""
    pieces = [_felt(p, feel) for p in pieces]
    num = len(pieces)
    for note in dict.fromkeys(n for p in pieces for n in p.notes):
        typer.echo(f"note: {note}", err=True)
    made = [_artefacts(p.score, _numbered(out, i, num), outputs, list(p.sections))
            for i, p in enumerate(pieces, 1)]
    _write({path: data for files in made for path, data in files.items()})  # all or none
    for piece, files in zip(pieces, made, strict=True):
        written = list(files)
        typer.echo(f"{', '.join(map(str, written))}: {_summary(piece)}")
        if piece.score.note_num() == 0:
            typer.echo(f"warning: {written[0]} has no notes: try another --seed", err=True)
    typer.echo(f"seed {seed} (pass --seed {seed} to get the same pieces again)")


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="What to write, in words (may be empty).")] = "",
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="MIDI file (default: from the prompt).")
    ] = None,
    wav: Annotated[bool, typer.Option("--wav", help="Also render OUT.wav.")] = False,
    pianoroll: Annotated[bool, typer.Option("--pianoroll", help="Also draw OUT.png.")] = False,
    seconds: Annotated[float | None, typer.Option(help="Length in seconds (1..600).")] = None,
    bars: Annotated[int | None, typer.Option(help="Length in bars (1..128).")] = None,
    temperature: Temperature = None,
    drum_temperature: DrumTemperature = None,
    groove: Groove = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling mass (0, 1].")] = None,
    top_k: Annotated[int | None, typer.Option(help="Keep the K likeliest tokens (0: all).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: a new one).")] = None,
    num: Annotated[int, typer.Option("-n", "--num", help="Pieces to write (OUT-1.mid ...).")] = 1,
    guidance: Guidance = None,
    key_strength: KeyStrength = None,
    key_profile: KeyProfile = None,
    candidates: Candidates = None,
    order: Order = None,
    drums: Drums = None,
    texture: Texture = None,
    feel: Feel = "straight",
    key: Annotated[str | None, typer.Option(help="Key, e.g. 'D major', 'F# minor'.")] = None,
    tempo: Annotated[float | None, typer.Option(help="Tempo in bpm (20..300).")] = None,
    time_signature: Annotated[str | None, typer.Option(help="Meter, e.g. 3/4, 6/8.")] = None,
    instruments: Annotated[
        str | None, typer.Option(help="Comma-separated GM names, e.g. 'piano,bass,drums'.")
    ] = None,
    lead: Annotated[
        str | None, typer.Option(help="The instrument that carries the tune, e.g. trumpet, for a model "
                                      "trained with part roles (configs/band_stage8.yaml; default: the "
                                      "text's 'trumpet melody', 'sax solo'..., else the likeliest lead).")
    ] = None,
    genre: Annotated[str | None, typer.Option(help="Genre, e.g. pop, jazz, folk.")] = None,
    mood: Annotated[str | None, typer.Option(help="Mood, e.g. happy, calm, dark.")] = None,
    model: Model = None,
    prompts: Annotated[
        Path | None, typer.Option(help="Batch mode: a JSONL file, one prompt object a line.")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option(help="Batch mode: folder for the files.")] = None,
    melody: Annotated[
        Path | None,
        typer.Option(help="A MIDI melody to keep as the lead and arrange around, or 'retrieved': "
                          "the melody phrase of the shipped index that fits the prompt best (with "
                          "--form, or 8 bars and more, one phrase per section)."),
    ] = None,
    melody_track: Annotated[
        int | None, typer.Option(help="Which track of --melody holds it (1-based; default: the top line).")
    ] = None,
    form: Annotated[
        str | None, typer.Option(help="Sections, e.g. AABA or 'intro verse chorus verse chorus outro'.")
    ] = None,
    chords: Annotated[
        str | None, typer.Option(help="A chord progression, one chord a bar, cycling: e.g. 'Am F C G'.")
    ] = None,
) -> None:
    """Write MIDI from a text prompt; explicit flags override what the text says."""
    from tunesmith.captions import parse_fields
    from tunesmith.generation import resolve, sampling_from
    from tunesmith.generation.generate import check_seed
    from tunesmith.retrieval.feel import FeelConfig

    timing = FeelConfig(feel=feel)  # a bad --feel fails before anything else
    attrs = parse_fields({"key": key, "tempo": tempo, "time_signature": time_signature,
                          "instruments": instruments, "genre": genre, "mood": mood, "bars": bars,
                          "seconds": seconds, "chords": chords, "lead": lead})
    sampling = sampling_from({"temperature": temperature, "drum_temperature": drum_temperature,
                              "groove": groove, "top_k": top_k, "top_p": top_p,
                              "guidance": guidance, "key_strength": key_strength,
                              "key_profile": key_profile, "candidates": candidates, "order": order,
                              "drums": drums, "texture": texture})
    outputs = _Outputs(wav, pianoroll)

    seed = check_seed(seed) if seed is not None else secrets.randbelow(2**31)
    if prompts is not None:
        if prompt or out is not None or out_dir is None:
            raise InputError("batch mode takes --prompts FILE --out-dir DIR and no PROMPT or -o")
        lines = _read_lines(prompts)
        _check_out_dir(out_dir)
        _batch(lines, out_dir, attrs, num, seed, sampling, _checkpoint(model), outputs, timing)
        return
    if out_dir is not None:
        raise InputError("--out-dir is for batch mode (--prompts FILE): use -o OUT.mid")
    request = resolve(prompt, attrs)  # the prompt, parsed once: fails before the model loads
    from tunesmith.captions.parse import gm_notes

    for note in gm_notes(instruments or ""):  # --instruments lute: the nearest GM, said so
        typer.echo(f"note: {note}", err=True)
    target = _output(out, Path(f"{_slug(prompt)}.mid"))
    _check_targets([p for i in range(1, num + 1) for p in _targets(_numbered(target, i, num), outputs)])
    if melody is not None:
        guide = _retrieved(request, form) if str(melody) == "retrieved" else _given(melody, melody_track, form)
        _arranged(request, guide, melody_track, target, num, seed, sampling, model, outputs, timing)
        return
    if melody_track is not None:
        raise InputError("--melody-track needs --melody FILE.mid")
    if form is not None:  # a bad form fails before the model loads
        from tunesmith.generation import bars_for
        from tunesmith.infilling.form import plan_for

        plan_for(bars_for(request.attributes), form)
    _one_prompt(request, target, num, seed, sampling, _checkpoint(model), outputs, timing, form)


def _retrieved(request: Request, form: str | None) -> Guide:
    """Phrases of the shipped melody index whose notes it stores: the best one for the prompt,
    or one per section for a planned piece (the library's rule, shared with the HTTP API)."""
    from tunesmith.infilling.arrange import retrieved_melody

    return retrieved_melody(request, form)


def _given(path: Path, track: int | None, form: str | None) -> Guide:
    """The user's melody file, refused with a form (it keeps its own sections)."""
    from tunesmith.infilling.arrange import Guide, check_melody

    melody = _load(path)
    check_melody(melody, track, form=form)
    return Guide(melody)


def _arranged(request: Request, guide: Guide, track: int | None, target: Path, num: int, seed: int,
              sampling: SamplingConfig, model: Path | None, outputs: _Outputs, feel: FeelConfig) -> None:
    """Melody-guided generation: the melody kept as the lead, the rest written around it (the
    library's rule, shared with the HTTP API)."""
    from tunesmith.infilling.arrange import arrange_pieces, check_melody

    check_melody(guide.score, track)  # a bad --melody-track fails before the model loads
    ckpt = _checkpoint(model)
    with _token_progress(f"arranging {num} piece{'s' * (num > 1)}") as on_step:
        pieces = arrange_pieces(replace(request, notes=(*request.notes, *guide.notes)), guide.score,
                                track=track, num=num, seed=seed, sampling=sampling, checkpoint=ckpt,
                                on_step=on_step, plan=guide.plan)
    _write_pieces(pieces, target, seed, outputs, feel)


# --- batch generation ---------------------------------------------------------------------
def _job(line: int, text: str, base: Attributes, seed: int) -> tuple[Request, int]:
    """One JSONL line -> its resolved request and seed; raise InputError naming the line and
    the bad value (fields are read by captions.parse_fields, like the flags)."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"line {line}: not valid JSON ({e.msg} at column {e.colno})") from e
    if not isinstance(row, dict):
        raise InputError(f"line {line}: expected a JSON object, got {type(row).__name__}")
    from tunesmith.captions import ATTRIBUTE_FIELDS, parse_fields
    from tunesmith.generation import resolve
    from tunesmith.generation.generate import check_seed

    unknown = sorted(set(row) - set(ATTRIBUTE_FIELDS) - {"prompt", "caption", "seed"})
    if unknown:
        raise InputError(f"line {line}: unknown field {unknown[0][:40]!r}: allowed prompt, "
                         f"caption, seed, {', '.join(ATTRIBUTE_FIELDS)}")
    prompt = row.get("prompt", row.get("caption", ""))
    if not isinstance(prompt, str):
        raise InputError(f"line {line}: prompt must be a string, got {_shown(prompt)}")
    try:
        request = resolve(prompt, base.merged(parse_fields(row)))
        line_seed = check_seed(row.get("seed", seed))
    except TunesmithError as e:
        raise InputError(f"line {line}: {e}") from e
    return request, line_seed


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _read_lines(path: Path) -> list[tuple[int, str]]:
    from tunesmith.midi.io import read_regular_file

    data = read_regular_file(path, f"prompts file {path}", MAX_BATCH_BYTES, InputError)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"prompts file {path} is not UTF-8 text (byte {e.start})") from e
    lines = [(i, t) for i, t in enumerate(text.splitlines(), 1) if t.strip()]
    if not lines:
        raise InputError(f"prompts file {path} has no prompts: write one JSON object a line")
    if len(lines) > MAX_BATCH_LINES:
        raise InputError(f"prompts file {path} has {len(lines)} lines: allowed {MAX_BATCH_LINES}")
    return lines


def _batch(
    lines: list[tuple[int, str]], out_dir: Path, base: Attributes, num: int, seed: int,
    sampling: SamplingConfig, ckpt: Checkpoint, outputs: _Outputs, feel: FeelConfig,
) -> None:
    """Every line of a JSONL prompts file -> DIR/NNNN.mid; a bad line is reported and counted."""
    out_dir.mkdir(parents=True, exist_ok=True)
    index: list[dict[str, Any]] = []
    failed: list[TunesmithError] = []
    try:
        with _progress("prompt", total_known=True) as bar:
            task = bar.add_task("generating", total=len(lines))
            for line, text in lines:
                try:
                    files = _batch_line(line, text, out_dir, base, num, seed, sampling, ckpt,
                                        outputs, feel)
                    index.append({"line": line, "files": [p.name for p in files]})
                except Exception as exc:  # one line's failure never stops the others
                    err = _line_error(line, exc)
                    failed.append(err)
                    bar.console.print(Text(f"error: {err}"), soft_wrap=True)  # one line
                    index.append({"line": line, "error": str(err)})
                bar.advance(task)
    finally:  # the index says what was written and what failed, even after Ctrl+C
        from tunesmith.midi.io import write_bytes_atomic

        rows = "".join(json.dumps(r) + "\n" for r in index)
        write_bytes_atomic(out_dir / "index.jsonl", rows.encode())
    typer.echo(f"{len(lines) - len(failed)} of {len(lines)} prompts written to {out_dir} "
               f"({len(failed)} failed; see {out_dir / 'index.jsonl'})")
    if failed:
        raise typer.Exit(max(e.exit_code for e in failed))


def _line_error(line: int, exc: Exception) -> TunesmithError:
    """A line's failure as a one-line error naming the line (a bug says what it was)."""
    if isinstance(exc, TunesmithError):
        text = str(exc)
        return type(exc)(text if text.startswith(f"line {line}:") else f"line {line}: {text}")
    if isinstance(exc, OSError):
        return InputError(f"line {line}: {exc.strerror or exc}")
    return TunesmithError(f"line {line}: internal error ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:120]})")


def _batch_line(
    line: int, text: str, out_dir: Path, base: Attributes, num: int, seed: int,
    sampling: SamplingConfig, ckpt: Checkpoint, outputs: _Outputs, feel: FeelConfig,
) -> list[Path]:
    request, line_seed = _job(line, text, base, seed)
    pieces = [_felt(p, feel) for p in _generate(request, num, line_seed, sampling, ckpt)]
    made = [_artefacts(p.score, _numbered(out_dir / f"{line:04d}.mid", i, num), outputs)
            for i, p in enumerate(pieces, 1)]
    return [path for files in made for path in _write(files)]


# --- demo, serve --------------------------------------------------------------------------
# --- infill, continue ---------------------------------------------------------------------
def _fill_attributes(prompt: str | None) -> Attributes | None:
    from tunesmith.captions import parse

    return parse(prompt) if prompt else None


def _fill_controls(density: int | None, polyphony: str | None, durations: str | None):  # type: ignore[no-untyped-def]
    from tunesmith.infilling import FillControls
    from tunesmith.infilling.infill import parse_polyphony

    poly = parse_polyphony(polyphony) if polyphony is not None else None
    durs = tuple(d.strip().lower() for d in durations.split(",") if d.strip()) if durations else None
    return FillControls(density=density, polyphony=poly, durations=durs)


def _write_piece(score: Score, out: Path, outputs: _Outputs) -> None:
    for path in _write(_artefacts(score, out, outputs)):
        typer.echo(f"wrote {path}")


Seed = Annotated[int, typer.Option(help="Random seed.")]
WavFlag = Annotated[bool, typer.Option(help="Also render OUT.wav.")]
RollFlag = Annotated[bool, typer.Option("--pianoroll", help="Also draw OUT.png.")]
SteerPrompt = Annotated[
    str | None, typer.Option(help="Text whose attributes (key, genre...) steer the new music.")
]


def _edit_sampling(temperature: float | None, drum_temperature: float | None,
                   groove: float | None) -> SamplingConfig:
    """The sampling options `infill` and `continue` take (None: SamplingConfig's default)."""
    from tunesmith.generation import sampling_from

    return sampling_from({"temperature": temperature, "drum_temperature": drum_temperature,
                          "groove": groove})


def _edit(midi: Path, out: Path | None, suffix: str, outputs: _Outputs, model: Path | None, label: str,
          run: Callable[[Score, Checkpoint, Callable[[int], None]], Score]) -> None:
    """The shared course of `infill` and `continue`: outputs checked before work, the piece
    and the model loaded, `run` under a progress bar, the outputs written together."""
    target = _output(out, midi.with_name(f"{midi.stem}-{suffix}.mid"), midi)
    _check_targets(_targets(target, outputs))
    score = _load(midi)
    ckpt = _checkpoint(model)
    with _token_progress(label) as step:
        result = run(score, ckpt, step)
    _write_piece(result, target, outputs)


@app.command()
def infill(
    midi: InFile,
    bars: Annotated[str, typer.Option(help="Bars to rewrite, 1-based: FIRST-LAST, e.g. 9-12.")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="MIDI file [default: IN-infill.mid]")] = None,
    tracks: Annotated[
        str | None, typer.Option(help="Instruments to rewrite, e.g. 'bass,drums' (default: all).")
    ] = None,
    density: Annotated[int | None, typer.Option(help="Notes per bar in the fill (0..18).")] = None,
    polyphony: Annotated[str | None, typer.Option(help="Notes starting together, MIN-MAX, e.g. 1-3.")] = None,
    durations: Annotated[
        str | None,
        typer.Option(help="Duration classes present: whole,half,quarter,eighth,sixteenth."),
    ] = None,
    chords: Annotated[
        str | None, typer.Option(help="Chords of the rewritten bars, one a bar, cycling: e.g. 'Am F'.")
    ] = None,
    prompt: SteerPrompt = None,
    seed: Seed = 0,
    temperature: Temperature = None,
    drum_temperature: DrumTemperature = None,
    groove: Groove = None,
    feel: Feel = "straight",
    wav: WavFlag = False,
    pianoroll: RollFlag = False,
    model: Model = None,
) -> None:
    """Rewrite chosen bars of chosen tracks of a MIDI file; every other note stays as it is."""
    from tunesmith.captions.parse import parse_chords
    from tunesmith.generation.generate import check_seed
    from tunesmith.infilling.infill import infill as fill
    from tunesmith.infilling.infill import parse_bar_range, resolve_tracks
    from tunesmith.retrieval.feel import FeelConfig, Region, apply_feel
    from tunesmith.theory import bar_starts

    timing = FeelConfig(feel=feel)
    span = parse_bar_range(bars)
    harmony = parse_chords(chords) if chords is not None else None
    controls = _fill_controls(density, polyphony, durations)
    names = [t.strip() for t in tracks.split(",") if t.strip()] if tracks else None
    attrs = _fill_attributes(prompt)
    check_seed(seed)
    sampling = _edit_sampling(temperature, drum_temperature, groove)

    def run(score: Score, ckpt: Checkpoint, step: Callable[[int], None]) -> Score:
        new = fill(score, span, names, controls=controls, attributes=attrs, seed=seed, sampling=sampling,
                   checkpoint=ckpt, on_step=step, chords=harmony)
        starts = bar_starts(score, span[1] + 1)  # the feel moves the rewritten notes only
        programs = frozenset(resolve_tracks(score, names)) if names else None
        return apply_feel(new, timing, attrs.genre if attrs else None, seed,
                          Region(starts[span[0] - 1], starts[span[1]], programs))

    _edit(midi, out, "infill", _Outputs(wav=wav, pianoroll=pianoroll), model, f"bars {span[0]}-{span[1]}", run)


@app.command("continue")
def continue_(
    midi: InFile,
    bars: Annotated[int, typer.Option(help="New bars to add (1..64).")] = 8,
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="MIDI file [default: IN-continued.mid]")
    ] = None,
    prompt: SteerPrompt = None,
    seed: Seed = 0,
    temperature: Temperature = None,
    drum_temperature: DrumTemperature = None,
    groove: Groove = None,
    feel: Feel = "straight",
    wav: WavFlag = False,
    pianoroll: RollFlag = False,
    model: Model = None,
) -> None:
    """Extend a MIDI file by N bars of its own instruments."""
    from tunesmith.generation.generate import check_seed
    from tunesmith.infilling import continue_piece
    from tunesmith.retrieval.feel import FeelConfig, Region, apply_feel
    from tunesmith.theory import bar_starts

    timing = FeelConfig(feel=feel)
    if not 1 <= bars <= 64:
        raise InputError(f"--bars {bars} is out of range: allowed 1..64 new bars")
    check_seed(seed)
    attrs = _fill_attributes(prompt)
    sampling = _edit_sampling(temperature, drum_temperature, groove)

    def run(score: Score, ckpt: Checkpoint, step: Callable[[int], None]) -> Score:
        new = continue_piece(score, bars, attributes=attrs, seed=seed, sampling=sampling, checkpoint=ckpt,
                             on_step=step)
        old = len(bar_starts(score))  # the new bars start where continue_piece puts them
        return apply_feel(new, timing, attrs.genre if attrs else None, seed,
                          Region(bar_starts(score, old + 1)[old]))

    _edit(midi, out, "continued", _Outputs(wav=wav, pianoroll=pianoroll), model, f"{bars} new bars", run)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for demo.mid, demo.wav and demo.png.")] = Path(
        "out/demo"
    ),
    model: Model = None,
    prompt: Annotated[str, typer.Option(help="What to write.")] = DEMO_PROMPT,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write a short piece as MIDI, WAV and piano roll, and describe what came out."""
    import numpy as np

    from tunesmith.captions import caption, features
    from tunesmith.generation import SamplingConfig, resolve

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file: give a folder")
    ckpt = _checkpoint(model)
    with _token_progress("generating") as on_step:
        (piece,) = _generate(resolve(prompt), 1, seed, SamplingConfig(), ckpt, on_step)
    files = _write(_artefacts(piece.score, out / "demo.mid", _Outputs(wav=True, pianoroll=True)))
    typer.echo(f"prompt:  {prompt}")
    typer.echo(f"result:  {caption(features(piece.score), np.random.default_rng(seed))}")
    typer.echo(f"summary: {_summary(piece)}")
    typer.echo("files:   " + ", ".join(map(str, files)))
    typer.echo("web page: run `.venv/bin/tunesmith serve`, then open http://127.0.0.1:8000")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    model: Model = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Job store and results, kept across restarts "
                     "[default: $XDG_DATA_HOME/tunesmith/server]."),
    ] = None,
) -> None:
    """Start the web page and HTTP API."""
    from tunesmith.server import serve as run_server

    def ready() -> None:  # only once the model has loaded and the port is ours
        typer.echo(f"serving on {SERVE_URL.format(host=host, port=port)} (Ctrl+C stops)", err=True)

    with _user_model(model):
        run_server(host, port, str(model) if model is not None else None, on_ready=ready,
                   data_dir=data_dir)


# --- data, train --------------------------------------------------------------------------
Corpora = Annotated[
    list[str],
    typer.Option("--corpus", help="NAME[:PATH]: music21[:COLL], folder:P, midicaps:P, pop909:P, "
                 "groove:P (repeat for several)."),
]


@data_app.command("build")
def data_build(
    corpus: Corpora,
    out: Annotated[Path, typer.Option(help="Dataset folder (a killed build resumes here).")],
    limit: Annotated[int | None, typer.Option(help="At most N pieces per corpus.")] = None,
    workers: Annotated[int | None, typer.Option(help="Processes for music21 conversion.")] = None,
    augment: Annotated[int | None, typer.Option(help="Orchestrated copies per piece.")] = None,
) -> None:
    """Captioned, tokenized training rows (pieces.jsonl, tokens/*.npy) from corpora."""
    from tunesmith.data.build import BuildConfig, build, format_summary

    given: dict[str, Any] = {"limit": limit, "workers": workers, "augment": augment}
    config = BuildConfig(**{k: v for k, v in given.items() if v is not None})
    stdout.print(format_summary(build(corpus, out, config)))


@data_app.command("roles")
def data_roles(
    corpus: Corpora,
    out: Annotated[Path, typer.Option(help="JSON file for the role table.")],
    limit: Annotated[int | None, typer.Option(help="At most N pieces per corpus.")] = None,
) -> None:
    """Which GM programs play lead, chords, bass and pad per genre in real band music."""
    from tunesmith.data.roles import learn_roles

    table = learn_roles(list(corpus), limit)
    table.save(out)
    for genre in sorted(table.counts):
        row = {r: [p for p, _ in table.choices(genre, r, 4)] for r in ("lead", "chords", "bass", "pad")}
        typer.echo(f"{genre}: {row}")


@data_app.command("credits")
def data_credits(
    corpus: Corpora,
    out: Annotated[Path, typer.Option(help="Markdown file listing the creators.")],
) -> None:
    """Creators named in an archive's file names (the Touhou collection asks to credit them)."""
    from tunesmith.data.corpora import archive_creators, open_corpus
    from tunesmith.midi.io import write_bytes_atomic

    lines = ["# Creators credited", "", "Named in brackets in the file names of: "
             + ", ".join(spec.partition(":")[0] for spec in corpus) + ".", ""]
    for spec in corpus:
        lines += [f"- {who} ({n})" for who, n in archive_creators(open_corpus(spec)).items()]
    write_bytes_atomic(out, ("\n".join(lines) + "\n").encode())
    typer.echo(f"wrote {out}")


@data_app.command("forms")
def data_forms(corpus: Corpora) -> None:
    """Meters of each labelled tune type (e.g. Nottingham's jigs, reels, waltzes)."""
    from collections import Counter, defaultdict

    from tunesmith.data.corpora import open_corpus
    from tunesmith.theory import meter_at

    meters: dict[str, Counter] = defaultdict(Counter)
    for spec in corpus:
        for piece in open_corpus(spec):
            form = piece.labels.get("form")
            if form:
                meters[form][meter_at(piece.score)] += 1
    for form, counts in sorted(meters.items()):
        shares = ", ".join(f"{m} {n}" for m, n in counts.most_common())
        typer.echo(f"{form}: {sum(counts.values())} tunes, {shares}")


@data_app.command("grooves")
def data_grooves(
    corpus: Corpora,
    out: Annotated[Path, typer.Option(help="Gzipped JSON file for the groove index.")],
    min_pieces: Annotated[int, typer.Option(help="Keep a groove played in at least N pieces.")] = 3,
    min_bars: Annotated[int, typer.Option(
        help="Human-timed corpora (groove): also keep a skeleton of 2 performances played in N bars.")] = 4,
    top: Annotated[int, typer.Option(help="At most N grooves per meter and genre.")] = 200,
) -> None:
    """Drum grooves (bars of kit hits) played in several train-split pieces of the corpora:
    sequenced bars matched exactly, human-timed performances (Groove) by skeleton."""
    import shlex
    from collections import Counter
    from functools import partial

    from tunesmith.data.clean import CleanReport
    from tunesmith.retrieval.grooves import (
        HUMAN_TIMED,
        STEPS_PER_QUARTER,
        GrooveTally,
        SkeletonTally,
        groove_reader,
        ranked,
        save_grooves,
        top_grooves,
        train_scores,
    )

    exact, played, report, read = GrooveTally(), SkeletonTally(), CleanReport(), {}
    with _progress("pieces", total_known=True) as bar:
        for spec in corpus:
            reader, counts = groove_reader(spec), Counter[str]()
            human = reader.name in HUMAN_TIMED  # as played: the skeleton snaps each beat itself
            task = bar.add_task(spec.partition(":")[0], total=len(reader))
            for score, genre in train_scores(reader, report, counts, partial(bar.advance, task),
                                             grid=None if human else STEPS_PER_QUARTER):
                (played if human else exact).add(score, genre)
            read[spec] = {**counts, "unreadable": len(reader.skipped),
                          "matched": "by skeleton" if human else "exactly"}
    found = ranked(exact.grooves(min_pieces) + played.grooves(min_pieces, min_bars))
    grooves = top_grooves(found, top)
    command = ["tunesmith", "data", "grooves", *(a for c in corpus for a in ("--corpus", c)),
               "--out", str(out), *(["--min-pieces", str(min_pieces)] if min_pieces != 3 else []),
               *(["--min-bars", str(min_bars)] if min_bars != 4 else []),
               *(["--top", str(top)] if top != 200 else [])]
    save_grooves(grooves, out, {"command": shlex.join(command), "corpora": read, "counts": {
        "exact": exact.counts(), "skeleton": played.counts(), "grooves_found": len(found),
        "grooves_kept": len(grooves)}})
    meters = ", ".join(f"{m} {n}" for m, n in Counter(g.meter for g in grooves).most_common())
    bars, fills = exact.drum_bars + played.drum_bars, exact.fill_bars + played.fill_bars
    typer.echo(f"wrote {out}: {len(grooves):,} grooves ({meters}) from {bars:,} drum bars of "
               f"{exact.drum_pieces + played.drum_pieces:,} train pieces; {fills:,} fill bars skipped")


@data_app.command("feel")
def data_feel(
    corpus: Corpora,
    out: Annotated[Path, typer.Option(help="JSON file for the feel table.")],
    min_onsets: Annotated[int, typer.Option(help="Keep a genre's cell of at least N onsets.")] = 100,
) -> None:
    """Drum micro-timing (offset from the 16th grid per kit sound and 16th of the beat, per
    genre) of the train-split performances of human-timed corpora (Groove)."""
    import shlex
    from collections import Counter
    from functools import partial

    from tunesmith.data.clean import CleanReport
    from tunesmith.retrieval.feel import FeelTally, save_feel
    from tunesmith.retrieval.grooves import groove_reader, train_scores

    tally, report, read = FeelTally(), CleanReport(), {}
    with _progress("pieces", total_known=True) as bar:
        for spec in corpus:
            reader, counts = groove_reader(spec), Counter[str]()
            task = bar.add_task(spec.partition(":")[0], total=len(reader))
            for score, genre in train_scores(reader, report, counts, partial(bar.advance, task), grid=None):
                tally.add(score, genre)
            read[spec] = {**counts, "unreadable": len(reader.skipped)}
    table = tally.table(min_onsets)
    command = ["tunesmith", "data", "feel", *(a for c in corpus for a in ("--corpus", c)), "--out", str(out),
               *(["--min-onsets", str(min_onsets)] if min_onsets != 100 else [])]
    save_feel(table, out, {"command": shlex.join(command), "corpora": read, "counts": dict(tally.counts)})
    typer.echo(f"wrote {out}: {len(table.cells):,} cells (pooled, {', '.join(table.genres) or 'no genre'}) "
               f"from {tally.counts['onsets_counted']:,} onsets of {tally.counts['drum_pieces']:,} train "
               f"pieces; {tally.counts['triplet_onsets_skipped']:,} nearer a triplet skipped")


@data_app.command("segments")
def data_segments(
    corpus: Corpora,
    out: Annotated[Path, typer.Option(help="Folder for train/valid/test .npz files.")],
    limit: Annotated[int | None, typer.Option(help="At most N pieces per corpus.")] = None,
    workers: Annotated[int, typer.Option(help="Processes for music21 conversion.")] = 2,
    windows: Annotated[int, typer.Option(help="Windows drawn per piece.")] = 4,
    min_bars: Annotated[int, typer.Option(help="Shortest window, in bars.")] = 4,
    max_bars: Annotated[int, typer.Option(help="Longest window, in bars.")] = 16,
    drums_prob: Annotated[float, typer.Option(help="Chance to lay Groove drums under a POP909 window.")] = 0.35,
    bass_prob: Annotated[
        float, typer.Option(help="Chance to give a window's bass line to a bass instrument.")
    ] = 0.3,
    seed: Annotated[int, typer.Option(help="Random seed of window choice and augmentation.")] = 0,
    max_tokens: Annotated[int, typer.Option(help="Longest window in tokens (the model's context).")] = 1024,
    roles: Annotated[
        Path | None, typer.Option(help="Role table (`data roles`): re-voice POP909 parts by role.")
    ] = None,
    orchestrate_prob: Annotated[float, typer.Option(help="Chance to re-voice a window.")] = 0.5,
    part_subsets: Annotated[float, typer.Option(
        help="Chance a window keeps only some named parts (POP909: the accompaniment, it and a tune, a tune)."
    )] = 0.0,
) -> None:
    """Training windows (condition + music tokens per split) for `tunesmith train`."""
    from tunesmith.data.segments import SegmentConfig, build_segments

    if limit is not None and limit < 1:
        raise InputError(f"--limit {limit} is invalid: allowed an integer >= 1")
    cfg = SegmentConfig(windows_per_piece=windows, min_bars=min_bars, max_bars=max_bars,
                        drums_prob=drums_prob, bass_prob=bass_prob, seed=seed, max_tokens=max_tokens,
                        roles=str(roles) if roles else None, orchestrate_prob=orchestrate_prob,
                        part_subsets=part_subsets)
    counts = build_segments(list(corpus), out, cfg, limit=limit, workers=workers)
    typer.echo(f"wrote {out}: " + ", ".join(f"{n:,} {split}" for split, n in counts.items()))


@app.command()
def train(
    config: Annotated[Path | None, typer.Option(help="YAML config (configs/NAME.yaml).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (overrides the YAML).")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Sequences per step.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    preset: Annotated[str | None, typer.Option(help="Model preset, e.g. debug, default.")] = None,
    segments: Annotated[
        str | None, typer.Option(help="Folder(s) from `data segments`, comma-separated.")
    ] = None,
    init: Annotated[
        Path | None,
        typer.Option(help="Checkpoint folder whose weights start the run (a resumable run in --out wins)."),
    ] = None,
    prefix: Annotated[
        int | None, typer.Option(help="Soft text prefix length K (MiniLM caption -> K vectors); 0 = off.")
    ] = None,
    keep_checkpoints: Annotated[int | None, typer.Option(help="Newest checkpoints to keep.")] = None,
) -> None:
    """Train (or resume) the decoder; flags override the YAML config."""
    from tunesmith.training import TrainConfig
    from tunesmith.training import train as run_training

    cfg = TrainConfig.from_yaml(
        config, out=str(out) if out else None, max_steps=max_steps, batch_size=batch_size,
        lr=lr, preset=preset, segments=str(segments) if segments else None,
        init=str(init) if init else None, prefix=prefix, keep_checkpoints=keep_checkpoints,
    )
    metrics = run_training(cfg)
    loss = metrics.get("eval_loss")
    typer.echo(f"checkpoint {metrics.get('checkpoint', cfg.out)}"
               + (f", validation loss {loss:.3f}" if loss is not None else ""))


def main() -> None:
    """Console-script entry point (`tunesmith`)."""
    app(prog_name="tunesmith")


@app.command()
def evaluate(
    prompts: Annotated[
        Path | None, typer.Option(help="MidiCaps-style JSONL: caption plus optional fields.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for report.md, metrics.json and plots.")] = None,
    model: Annotated[Path | None, typer.Option(help="Checkpoint folder (default: the shipped one).")] = None,
    num: Annotated[int, typer.Option(help="Pieces generated per prompt.")] = 1,
    midi_dir: Annotated[
        Path | None, typer.Option(help="Score these MIDI files (<row>.mid) instead of generating.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N prompts.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of generation.")] = 0,
    unconditional: Annotated[
        bool, typer.Option(help="Also generate without text (the unconditional row).")
    ] = True,
    reference_dir: Annotated[
        Path | None, typer.Option(help="Reference MIDI set for statistics and FD when prompts have none.")
    ] = None,
    guidance: Guidance = None,
    key_strength: KeyStrength = None,
    key_profile: KeyProfile = None,
    candidates: Candidates = None,
    order: Order = None,
    drums: Drums = None,
    texture: Texture = None,
    listening_reference: Annotated[
        list[str] | None, typer.Option(help="NAME=DIR of real MIDI: a reference row of the listening table "
                                            "(cut to the prompts' length); repeatable.")
    ] = None,
    gallery: Annotated[
        Path | None, typer.Option(help="Instead: (re)generate the gallery of 8 fixed prompts in this folder.")
    ] = None,
) -> None:
    """Generate (or read) MIDI for each prompt and write the adherence, listening and statistics report."""
    from tunesmith.evaluation.listening_report import parse_reference
    from tunesmith.evaluation.report import EvalConfig, evaluate_with
    from tunesmith.generation import sampling_from

    sampling = sampling_from({"guidance": guidance, "key_strength": key_strength,
                              "key_profile": key_profile, "candidates": candidates, "order": order,
                              "drums": drums, "texture": texture})
    if gallery is not None:
        from tunesmith.evaluation.gallery import write_gallery

        write_gallery(gallery, checkpoint_path=model, seed=seed, sampling=sampling)
        typer.echo(f"wrote the gallery to {gallery / 'README.md'}")
        return
    if prompts is None or out is None:
        raise InputError("--prompts and --out are required (or give --gallery DIR)")
    refs = tuple(parse_reference(r) for r in listening_reference or ())
    cfg = EvalConfig(checkpoint_path=model, num=num, midi_dir=midi_dir, limit=limit, seed=seed,
                     unconditional=unconditional, reference_dir=reference_dir, sampling=sampling,
                     listening_references=refs)
    evaluate_with(prompts, out, cfg)
    typer.echo(f"wrote {out / 'report.md'}, {out / 'metrics.json'} and plots in {out}")


@data_app.command("prompts")
def data_prompts(
    build_dir: Annotated[Path, typer.Option("--build", help="Folder of a `data build`.")],
    out: Annotated[Path, typer.Option(help="JSONL file to write.")],
    n: Annotated[int, typer.Option(help="How many prompts.")] = 200,
    bars: Annotated[int, typer.Option(help="Length of each held-out window, in bars.")] = 8,
    seed: Annotated[int, typer.Option(help="Random seed of the caption wording.")] = 0,
) -> None:
    """Held-out evaluation prompts: windows of held-out pieces, captioned MidiCaps-style."""
    from tunesmith.evaluation.report import write_window_prompts

    if not 1 <= bars <= 128:
        raise InputError(f"--bars {bars} is out of range: allowed 1..128")
    count = write_window_prompts(build_dir, out, n, bars=bars, seed=seed)
    typer.echo(f"wrote {count} prompts to {out}")


clmp_app = typer.Typer(help="The contrastive text-music model (CLMP).", no_args_is_help=True)
app.add_typer(clmp_app, name="clmp")


@clmp_app.command("train")
def clmp_train(
    data: Annotated[Path, typer.Option(help="Folder of a `data build` with captions.")],
    out: Annotated[Path, typer.Option(help="Folder for the CLMP checkpoint (resumable).")],
    steps: Annotated[int, typer.Option(help="Training steps.")] = 700,
    minutes: Annotated[float | None, typer.Option(help="Stop after this many minutes.")] = None,
) -> None:
    """Train (or resume) CLMP on a data build and report held-out retrieval."""
    from tunesmith.retrieval import ClmpTrainConfig, train_clmp

    budget = minutes * 60 if minutes is not None else None
    train_clmp(data, out, ClmpTrainConfig(steps=steps, time_budget_s=budget))
    report = out / "test_report.json"
    typer.echo(report.read_text() if report.is_file() else f"wrote {out}")


# --- melody index and retrieval -----------------------------------------------------------
index_app = typer.Typer(help="The melody index (CLMP melody vectors in HNSW).", no_args_is_help=True)
app.add_typer(index_app, name="index")
IndexPath = Annotated[Path | None, typer.Option("--index", help="Index folder (default: the shipped one).")]


@contextmanager
def _index_progress(what: str) -> Iterator[Callable[[int], None]]:
    with _progress("pieces", total_known=False) as bar:
        task = bar.add_task(what, total=None)
        yield lambda phrases: bar.update(task, advance=1, description=f"{what}: {phrases} phrases")


@index_app.command("build")
def index_build(
    corpus: Corpora,
    out: Annotated[Path, typer.Option(help="Index folder (added to if it exists).")],
    split: Annotated[str, typer.Option(help="train, valid, test or all.")] = "train",
    limit: Annotated[int | None, typer.Option(help="At most N pieces per corpus.")] = None,
    max_per_piece: Annotated[int | None, typer.Option(help="At most N phrases per piece.")] = None,
) -> None:
    """Index the melody phrases of corpora (one split of each)."""
    from tunesmith.retrieval.search import build_index

    if split not in ("train", "valid", "test", "all"):
        raise InputError(f"--split {split!r} is unknown: allowed train, valid, test, all")
    with _index_progress("indexing") as on_piece:
        index = build_index(corpus, out, split=None if split == "all" else split, limit=limit,
                            max_per_piece=max_per_piece, on_piece=on_piece)
    typer.echo(f"{out}: {len(index)} phrases")


@index_app.command("add")
def index_add(
    folder: Annotated[Path, typer.Argument(help="A folder of MIDI files (searched recursively).")],
    index: Annotated[
        Path, typer.Option("--index", help="Index folder (created if missing).")
    ] = Path("melody_index"),
) -> None:
    """Add your own MIDI files' melodies to an index (files already there are skipped)."""
    from tunesmith.retrieval.search import add_folder

    if index.resolve() == Path(__file__).resolve().parent / "assets" / "melody_index":
        raise InputError(f"--index {index} is the shipped index: give a folder of your own")
    with _index_progress("adding") as on_piece:
        result, added = add_folder(folder, index, on_piece=on_piece)
    typer.echo(f"{index}: added {added} phrases, {len(result)} in all")


@app.command()
def retrieve(
    prompt: Annotated[str, typer.Argument(help="What the melody should be like.")],
    k: Annotated[int, typer.Option("-k", help="How many melodies.")] = 5,
    key: Annotated[str | None, typer.Option(help="Only phrases in this key, e.g. 'A minor'.")] = None,
    meter: Annotated[str | None, typer.Option(help="Only phrases in this meter, e.g. 6/8.")] = None,
    index: IndexPath = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Write each melody as MIDI and piano roll here.")
    ] = None,
    source: Annotated[list[str] | None, typer.Option(
        help="CORPUS:PATH of a corpus whose notes the index does not store (e.g. nottingham:DIR)."
    )] = None,
) -> None:
    """Find melody phrases that fit a text: scores, sources and (with --out-dir) the files."""
    from tunesmith.retrieval.search import retrieve as find

    if not 1 <= k <= 100:
        raise InputError(f"-k {k} is out of range: allowed 1..100")
    roots = {name: Path(path) for name, _, path in (s.partition(":") for s in source or [])}
    hits = find(prompt, k, key=key, meter=meter, index=index, roots=roots)
    if not hits:
        typer.echo("no phrase matches (try without --key / --meter)")
    files: dict[Path, bytes] = {}
    for i, hit in enumerate(hits, 1):
        m = hit.meta
        typer.echo(f"{i}. {hit.score:.3f}  {hit.label}  {m['key']}, {m['meter']}, "
                   f"{m['tempo']:g} bpm, {m['genre'] or '-'}  ({m['license']})")
        if out_dir is not None and hit.melody is not None:
            files.update(_artefacts(hit.melody, out_dir / f"{i}_{_slug(hit.label)}.mid",
                                    _Outputs(pianoroll=True)))
        elif out_dir is not None:
            typer.echo(f"   notes not stored ({m['license']}): pass --source {m['corpus']}:PATH")
    if files:
        _write(files)
        typer.echo(f"wrote {len(files)} files to {out_dir}")
