"""HTTP API and web page: prompts in, generation jobs out (MIDI, WAV, piano roll, features).

Consumes JSON requests and uploaded MIDI files; produces job ids, job status and result files.
The model loads once in `create_app`; jobs run on the single worker of `JobQueue`. This is the
only place where a TunesmithError becomes an HTTP status (its `http_status`).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.datastructures import UploadFile as FormFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from symusic import Score

from tunesmith.attributes import (
    GENRES,
    INSTRUMENT_NAMES,
    KEYS,
    MAX_BARS,
    MOODS,
    TEMPO_RANGE,
    TIME_SIGNATURES,
)
from tunesmith.captions import ATTRIBUTE_FIELDS, parse_fields
from tunesmith.errors import InputError, PromptError, QueueFullError, TunesmithError
from tunesmith.generation import SamplingConfig, bars_for, resolve, sampling_from
from tunesmith.generation.generate import SAMPLING_FIELDS, check_seed
from tunesmith.infilling.form import plan_for
from tunesmith.midi import load_score, midi_bytes
from tunesmith.midi.pianoroll import draw_pianoroll
from tunesmith.midi.render import render, wav_bytes
from tunesmith.model import Checkpoint, load_checkpoint
from tunesmith.server.edits import (
    ContinueRequest,
    EditRequest,
    InfillRequest,
    Limits,
    Sections,
    continue_spec,
    decode_midi,
    feel_config,
    infill_spec,
    open_spec,
    plan_sections,
)
from tunesmith.server.jobs import RESULTS, Job, JobQueue, JobSpec, ServerConfig, Work, model_work
from tunesmith.server.melodies import Melodies, MelodyChoice, chosen_melody
from tunesmith.theory import bar_starts

log = logging.getLogger("tunesmith.server")

EXAMPLE_PROMPTS = (
    "A calm piano ballad in C major at 70 bpm",
    "An energetic rock song with electric guitar, bass and drums",
    "A melancholic waltz for strings in A minor",
    "A playful jazz tune with piano, acoustic bass and drums, 8 bars",
    "Epic soundtrack with brass, strings and timpani in D minor",
)
# The page fetches nothing from outside: scripts, styles and media only from this server.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class GenerateRequest(BaseModel):
    """POST /api/generate body: every attribute and sampling option the CLI takes, by the
    same names (`tunesmith generate --help`). Unset fields come from the prompt text (or
    stay free); values are read by the CLI's readers, so they are refused alike."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    key: str | None = None
    tempo: float | None = None
    time_signature: str | None = None
    instruments: list[str] | str | None = None  # names, or one comma-separated string
    lead: str | None = None  # the instrument that carries the tune (default: the text's, else the likeliest)
    genre: str | None = None
    mood: str | None = None
    bars: int | None = None
    seconds: float | None = None
    chords: list[str] | str | None = None  # one a bar, cycling: "Am F C G" or ["Am", "F"]
    form: str | None = None  # sections, e.g. "AABA" (pieces of 8 bars or more get a plan anyway)
    temperature: float | None = None
    drum_temperature: float | None = None
    groove: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    guidance: float | None = None
    key_strength: float | None = None
    key_profile: float | None = None
    candidates: int | None = None  # best-of-N by adherence read from the MIDI
    order: str | None = None  # "interleaved" or "trackwise" (one instrument after another)
    drums: str | None = None  # "groove" (a retrieved groove every other bar, the model's between) or "model"
    texture: str | None = None  # notes a bar of each part: "held" (default), "stated" or "off"
    feel: str = "straight"  # drum timing: "straight" (as generated) or "human" (retrieval.feel)
    seed: int = 0
    melody: MelodyChoice | None = None  # keep this melody as the lead, arrange around it
    melody_track: int | None = None  # which track of an uploaded melody holds it (1-based)


MAX_CANDIDATES = 4  # a job's cost grows with N: the server caps it
PHRASE_ROLL_PX = 640  # the piano roll of a retrieved phrase, shown small on the page


def job_spec(req: GenerateRequest, config: ServerConfig, melodies: Melodies) -> JobSpec:
    """Validate a request into a job spec; raises InputError/PromptError naming the bad value."""
    if len(req.prompt) > config.max_prompt_chars:
        raise PromptError(f"prompt of {len(req.prompt)} characters is too long: "
                          f"allowed {config.max_prompt_chars}")
    check_seed(req.seed)
    if req.candidates is not None and not 1 <= req.candidates <= MAX_CANDIDATES:
        raise InputError(f"candidates {req.candidates} is out of range: allowed 1..{MAX_CANDIDATES}")
    feel = feel_config(req.feel)
    explicit = parse_fields(req.model_dump(include=set(ATTRIBUTE_FIELDS)))
    sampling = with_decoder(sampling_from(req.model_dump(include=set(SAMPLING_FIELDS))), config)
    request = resolve(req.prompt, explicit)
    if req.melody is not None:
        limits = Limits(config.max_prompt_chars, config.max_render_seconds, sampling)
        guide = chosen_melody(req.melody, request, req.melody_track, req.form, melodies, limits)
        bars = guide.plan.bars if guide.plan is not None else len(bar_starts(guide.score))
        return JobSpec(replace(request, notes=(*request.notes, *guide.notes)), bars, sampling, req.seed,
                       melody=guide.score, melody_track=req.melody_track, plan=guide.plan,
                       feel=feel)
    if req.melody_track is not None:
        raise InputError("melody_track needs a melody: an id from /api/retrieve or a MIDI file")
    bars = bars_for(request.attributes)
    if req.form is not None:
        plan_for(bars, req.form)  # a bad form is refused now, not when the job runs
    return JobSpec(request, bars, sampling, req.seed, req.form, feel=feel)


def with_decoder(sampling: SamplingConfig, config: ServerConfig) -> SamplingConfig:
    """`sampling` on the server's decoder, when it sets one."""
    return sampling if config.decoder is None else replace(sampling, decoder=config.decoder)


class BodyLimit:
    """ASGI middleware: answer 413 to any request body over `limit` bytes, before parsing.

    The body is read (up to the limit) and replayed, so chunked uploads without a
    Content-Length are capped too."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left mid-upload
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                await self._refuse(send)
                return
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, send: Send) -> None:
        msg = f"request body is too large: allowed up to {self.limit} bytes"
        await JSONResponse({"detail": msg}, status_code=413)({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect message

    return replay


def _static_dir() -> Path:
    return Path(str(resources.files("tunesmith.server").joinpath("static")))


def create_app(
    checkpoint_path: str | None = None,
    config: ServerConfig | None = None,
    *,
    checkpoint: Checkpoint | None = None,
    work: Work | None = None,
) -> FastAPI:
    """The FastAPI app; the model loads here, once (an already loaded `checkpoint` or a
    custom `work` step may be given instead, e.g. by tests)."""
    config = config or ServerConfig()
    if work is None:
        work = model_work(checkpoint or load_checkpoint(checkpoint_path))
    jobs = JobQueue(work, config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        jobs.start()
        try:
            yield
        finally:
            jobs.stop()

    # No docs page: FastAPI's loads Swagger UI from a CDN, which the page's CSP blocks and an
    # offline machine cannot reach. The schema itself is served at /api/openapi.json.
    app = FastAPI(title="tunesmith", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.jobs, app.state.config = jobs, config
    _add_handlers(app, jobs)
    _add_routes(app, jobs, config)
    app.mount("/static", StaticFiles(directory=_static_dir()), name="static")
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    return app


def _add_handlers(app: FastAPI, jobs: JobQueue) -> None:
    @app.exception_handler(TunesmithError)
    async def tunesmith_error(_: Request, exc: TunesmithError) -> JSONResponse:
        full = isinstance(exc, QueueFullError)
        headers = {"Retry-After": str(jobs.retry_after())} if full else {}
        return JSONResponse({"detail": str(exc)}, status_code=exc.http_status, headers=headers)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response


def _job_or_404(jobs: JobQueue, job_id: str, ready: bool = False) -> Job:
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"job {job_id[:64]!r} is unknown (or expired)")
    if ready and job.status != "done":
        detail = f": {job.error}" if job.error else ""
        raise HTTPException(409, f"job {job_id} is {job.status}, results are not ready{detail}")
    return job


def _add_routes(app: FastAPI, jobs: JobQueue, config: ServerConfig) -> None:
    melodies = Melodies()  # the melody index and CLMP load on the first request that needs them
    _add_page_routes(app, jobs, config)
    _add_melody_routes(app, config, melodies)
    _add_job_routes(app, jobs, config, melodies)
    _add_edit_routes(app, jobs, config)
    _add_render_route(app, config)


def _add_page_routes(app: FastAPI, jobs: JobQueue, config: ServerConfig) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((_static_dir() / "index.html").read_text(encoding="utf-8"))

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "waiting": jobs.waiting(), "queue_size": config.queue_size}

    @app.get("/api/options")
    def options() -> dict[str, Any]:
        """Allowed values for the page's controls (from tunesmith.attributes, not duplicated)."""
        return {"keys": list(KEYS), "time_signatures": list(TIME_SIGNATURES),
                "instruments": list(INSTRUMENT_NAMES), "genres": list(GENRES),
                "moods": list(MOODS), "tempo_range": list(TEMPO_RANGE),
                "max_bars": MAX_BARS, "max_prompt_chars": config.max_prompt_chars,
                "examples": list(EXAMPLE_PROMPTS)}


def _add_melody_routes(app: FastAPI, config: ServerConfig, melodies: Melodies) -> None:
    @app.get("/api/retrieve")
    def retrieve_melodies(prompt: str, k: int = 5, key: str | None = None, meter: str | None = None,
                          with_notes: bool = False) -> dict[str, Any]:
        """Melody phrases of the shipped index that fit a text (`tunesmith retrieve`), each
        with the `id` that POST /api/generate takes as its melody; `with_notes`: only those
        whose notes are shipped (the others cannot be played or arranged)."""
        if len(prompt) > config.max_prompt_chars:
            raise PromptError(f"prompt of {len(prompt)} characters is too long: "
                              f"allowed {config.max_prompt_chars}")
        return {"hits": melodies.search(prompt, k, key=key, meter=meter, with_notes=with_notes)}

    def phrase(phrase_id: int) -> Score:
        try:
            return melodies.phrase(phrase_id)[0]
        except InputError as err:  # a path that names nothing: not found
            raise HTTPException(404, str(err)) from None

    @app.get("/api/retrieve/{phrase_id}/midi")
    def phrase_midi(phrase_id: int) -> Response:
        disposition = f'attachment; filename="tunesmith-melody-{phrase_id}.mid"'
        return Response(midi_bytes(phrase(phrase_id)), media_type="audio/midi",
                        headers={"content-disposition": disposition})

    @app.get("/api/retrieve/{phrase_id}/wav")
    def phrase_wav(phrase_id: int) -> Response:
        audio = render(phrase(phrase_id), sample_rate=config.sample_rate)
        return Response(wav_bytes(audio, config.sample_rate), media_type="audio/wav")

    @lru_cache(maxsize=64)  # the page shows the same few phrases again and again
    def phrase_png(phrase_id: int) -> bytes:
        return draw_pianoroll(phrase(phrase_id), width_px=PHRASE_ROLL_PX)

    @app.get("/api/retrieve/{phrase_id}/pianoroll.png")
    def phrase_pianoroll(phrase_id: int) -> Response:
        return Response(phrase_png(phrase_id), media_type="image/png")


def _add_job_routes(app: FastAPI, jobs: JobQueue, config: ServerConfig, melodies: Melodies) -> None:
    @app.post("/api/generate", status_code=202)
    def submit(req: GenerateRequest) -> dict[str, Any]:
        return jobs.submit(job_spec(req, config, melodies)).to_dict()

    @app.get("/api/jobs/{job_id}")
    def status(job_id: str) -> dict[str, Any]:
        return _job_or_404(jobs, job_id).to_dict()

    @app.get("/api/jobs/{job_id}/features")
    def job_features(job_id: str) -> dict[str, Any]:
        job = _job_or_404(jobs, job_id, ready=True)
        return {"job_id": job.id, "prompt": job.prompt, **(job.features or {})}

    def result(job_id: str, kind: str) -> Response:
        job = _job_or_404(jobs, job_id, ready=True)
        name, media = RESULTS[kind]
        try:
            data = jobs.result_path(job, kind).read_bytes()
        except OSError:  # evicted between the lookup and the read
            raise HTTPException(404, f"job {job_id} has expired") from None
        disposition = f'attachment; filename="tunesmith-{job.id[:8]}-{name}"'
        headers = {"content-disposition": disposition} if kind != "pianoroll" else {}
        return Response(data, media_type=media, headers=headers)

    @app.get("/api/jobs/{job_id}/midi")
    def job_midi(job_id: str) -> Response:
        return result(job_id, "midi")

    @app.get("/api/jobs/{job_id}/wav")
    def job_wav(job_id: str) -> Response:
        return result(job_id, "wav")

    @app.get("/api/jobs/{job_id}/pianoroll.png")
    def job_pianoroll(job_id: str) -> Response:
        return result(job_id, "pianoroll")


Req = TypeVar("Req", bound=EditRequest)
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _body_schema(model: type[BaseModel], file: bool = True) -> dict[str, Any]:
    """OpenAPI text for a route that reads JSON or multipart itself."""
    schema = model.model_json_schema()
    form = {**schema, "properties": {**schema.get("properties", {}),
                                     "file": {"type": "string", "format": "binary"}}}
    content = {"application/json": {"schema": schema}}
    if file:
        content["multipart/form-data"] = {"schema": form}
    return {"requestBody": {"required": True, "content": content}}


async def read_edit(request: Request, model: type[Req]) -> tuple[Req, bytes | None]:
    """An edit request from JSON, or from a form (fields by the same names, the MIDI as the
    multipart part `file`, empty fields left out); 422 for a malformed body."""
    upload = None
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        form = await request.form()
        fields: Any = {}
        for name, value in form.multi_items():
            if isinstance(value, FormFile):
                upload = await value.read()  # bytes only: the client's file name is never used
            elif value.strip():
                fields[name] = value
    else:
        try:
            fields = json.loads(await request.body())
        except ValueError:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",),
                                           "msg": "the body is not JSON", "input": None}]) from None
    try:
        return model.model_validate(fields), upload
    except ValidationError as e:
        raise RequestValidationError(e.errors()) from None


def _add_edit_routes(app: FastAPI, jobs: JobQueue, config: ServerConfig) -> None:
    limits = Limits(config.max_prompt_chars, config.max_render_seconds,
                    with_decoder(SamplingConfig(), config))

    def source(req: EditRequest, upload: bytes | None) -> tuple[bytes, Sections]:
        """The MIDI to edit: the multipart file, the base64 field or an earlier job's MIDI;
        with the sections of that job's plan (a file has none)."""
        given = [x for x in (req.job_id, req.midi, upload) if x is not None]
        if len(given) != 1:
            raise InputError(f"the piece to edit is given {len(given)} times: send exactly one of "
                             "job_id, midi (base64) or a multipart part 'file'")
        if upload is not None:
            return upload, ()
        if req.midi is not None:
            return decode_midi(req.midi), ()
        job = _job_or_404(jobs, str(req.job_id), ready=True)
        try:
            return jobs.result_path(job, "midi").read_bytes(), plan_sections(job.features)
        except OSError:  # evicted between the lookup and the read
            raise HTTPException(404, f"job {job.id} has expired") from None

    @app.post("/api/infill", status_code=202, openapi_extra=_body_schema(InfillRequest))
    async def submit_infill(request: Request) -> dict[str, Any]:
        """Rewrite bars of tracks of a piece (a finished job's, or an uploaded MIDI): a job."""
        req, upload = await read_edit(request, InfillRequest)
        midi, sections = source(req, upload)
        return jobs.submit(infill_spec(req, midi, limits, sections)).to_dict()

    @app.post("/api/continue", status_code=202, openapi_extra=_body_schema(ContinueRequest))
    async def submit_continue(request: Request) -> dict[str, Any]:
        """Extend a piece by N bars of its own instruments: a job."""
        req, upload = await read_edit(request, ContinueRequest)
        midi, sections = source(req, upload)
        return jobs.submit(continue_spec(req, midi, limits, sections)).to_dict()

    @app.post("/api/upload", status_code=202, openapi_extra=_body_schema(EditRequest))
    async def submit_upload(request: Request) -> dict[str, Any]:
        """Open a MIDI file as a job (piano roll, audio, features) that edits can name."""
        req, upload = await read_edit(request, EditRequest)
        if req.job_id is not None:
            raise InputError("upload takes a MIDI file (multipart 'file' or base64 'midi'), "
                             "not a job_id")
        return jobs.submit(open_spec(source(req, upload)[0], limits)).to_dict()


def _add_render_route(app: FastAPI, config: ServerConfig) -> None:
    render_lock = threading.Lock()  # one upload render at a time: the worker needs the CPU too

    @app.post("/api/render")
    def render_upload(file: UploadFile = File(...)) -> Response:  # noqa: B008
        data = file.file.read()  # bytes only: the client's file name is never used as a path
        score = load_score(data, name="uploaded MIDI")
        seconds = float(score.to("second").end())  # type: ignore[attr-defined]  # symusic stubs
        if seconds > config.max_render_seconds:
            raise InputError(f"uploaded MIDI lasts {seconds:.0f} s: rendering is limited to "
                             f"{config.max_render_seconds:g} s")
        if not render_lock.acquire(blocking=False):
            raise QueueFullError("another upload is being rendered: retry in a few seconds")
        try:
            audio = render(score, sample_rate=config.sample_rate)
        finally:
            render_lock.release()
        return Response(wav_bytes(audio, config.sample_rate), media_type="audio/wav")


def default_data_dir() -> Path:
    """Where `serve` keeps its job store and results: $XDG_DATA_HOME/tunesmith/server."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tunesmith" / "server"


def serve(
    host: str = "127.0.0.1", port: int = 8000, model: str | None = None,
    on_ready: Callable[[], None] | None = None, data_dir: Path | None = None,
) -> None:
    """Load the model and serve the API and page until interrupted (127.0.0.1 by default).

    The port is bound before the model loads, so a port in use is one InputError, and
    `on_ready` runs only once both have succeeded. Jobs are kept in `data_dir`
    (default_data_dir()), so a restarted server still serves the finished ones."""
    import uvicorn

    data = data_dir if data_dir is not None else default_data_dir()
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"data folder {data} cannot be created ({e.strerror})") from None
    if not os.access(data, os.W_OK | os.X_OK):
        raise InputError(f"data folder {data} cannot be written (permission denied)")
    sock = bind(host, port)
    try:
        app = create_app(model, ServerConfig(data_dir=str(data)))
        if on_ready is not None:
            on_ready()
        config = uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=5)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or InputError naming them (in use, bad address)."""
    if not 1 <= port <= 65535:
        raise InputError(f"port {port} is out of range: allowed 1..65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise InputError(f"host {host!r} cannot be resolved ({e}): give an address "
                         "such as 127.0.0.1") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        reason = "is in use" if e.errno == errno.EADDRINUSE else f"cannot be bound ({e.strerror})"
        raise InputError(f"port {port} on {host} {reason}: pick another with --port") from None
    sock.set_inheritable(True)
    return sock
