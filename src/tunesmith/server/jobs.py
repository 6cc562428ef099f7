"""A bounded generation queue with one worker thread, for the HTTP server.

Consumes validated job specs (prompt, explicit attributes, sampling settings); produces, per
job, a MIDI file, a WAV rendering, a piano-roll PNG and the detected features, written
atomically into the job's folder under the data directory. Job states live in SQLite there
(`JobStore`), so a restart, even after kill -9, still serves finished jobs and reports the
interrupted ones. One worker because the model saturates the two CPU cores on its own; the
queue is bounded so that a burst is refused (429), not hoarded.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tunesmith.attributes import DRUMS, INSTRUMENT_NAMES, Attributes
from tunesmith.captions import features
from tunesmith.errors import ConfigError, QueueFullError, TunesmithError
from tunesmith.generation import Generated, Request, SamplingConfig
from tunesmith.infilling.arrange import arrange_pieces
from tunesmith.infilling.form import Plan, write_pieces
from tunesmith.midi import midi_bytes
from tunesmith.midi.io import write_bytes_atomic
from tunesmith.midi.pianoroll import bar_positions, draw_pianoroll
from tunesmith.midi.render import render, wav_bytes
from tunesmith.model import Checkpoint
from tunesmith.retrieval.feel import FeelConfig, apply_feel
from tunesmith.server.edits import EditSpec, run_edit

log = logging.getLogger("tunesmith.server")

# Result kinds: file name inside a job's folder and the media type it is served with.
RESULTS = {
    "midi": ("piece.mid", "audio/midi"),
    "wav": ("piece.wav", "audio/wav"),
    "pianoroll": ("pianoroll.png", "image/png"),
}
STATUSES = ("queued", "running", "done", "failed")
INTERRUPTED = "interrupted by a server restart: resubmit the request"
TEMP_PREFIX = "tunesmith-server-"  # + pid: a temporary data directory, swept once its pid died
GENERATION_SHARE = 0.85  # progress reached when sampling ends; rendering and drawing fill the rest


@dataclass(frozen=True)
class ServerConfig:
    """Limits of the HTTP server; every value is validated."""

    max_body_bytes: int = 2 * 1024 * 1024  # larger requests get 413
    max_prompt_chars: int = 1000
    queue_size: int = 4  # jobs waiting besides the running one; more get 429
    job_timeout_s: float = 300.0  # a job still sampling after this fails
    max_jobs_kept: int = 64  # older finished jobs (and their files) are dropped
    tokens_per_bar: int = 48  # per instrument: the expected length behind the progress bar
    sample_rate: int = 44100
    max_render_seconds: float = 600.0  # longest upload /api/render accepts
    pianoroll_width_px: int = 1400
    retry_after_s: int = 5  # floor of the Retry-After hint on 429
    data_dir: str | None = None  # durable job store and results; None: a temporary folder
    decoder: str | None = None  # every job samples with this decoder; None: SamplingConfig's

    def __post_init__(self) -> None:
        ints = ("max_body_bytes", "max_prompt_chars", "queue_size", "max_jobs_kept",
                "tokens_per_bar", "pianoroll_width_px", "retry_after_s")
        for name in ints:
            if getattr(self, name) < 1:
                raise ConfigError(f"server {name} {getattr(self, name)} must be >= 1")
        for name in ("job_timeout_s", "max_render_seconds"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"server {name} {getattr(self, name)} must be > 0")
        if not 8000 <= self.sample_rate <= 192000:
            raise ConfigError(f"server sample_rate {self.sample_rate} is out of range 8000..192000")
        if self.decoder is not None:
            SamplingConfig(decoder=self.decoder)  # ConfigError naming an unknown decoder
        if self.max_jobs_kept <= self.queue_size:
            raise ConfigError(
                f"server max_jobs_kept {self.max_jobs_kept} must exceed "
                f"queue_size {self.queue_size}"
            )


@dataclass(frozen=True)
class JobSpec:
    """What to generate: the resolved request, its length in bars, sampling and seed; with a
    `melody` (checked), the piece is that melody arranged, as long as it is (and along its
    `plan` when it was joined from a phrase per section)."""

    request: Request
    bars: int
    sampling: SamplingConfig
    seed: int
    form: str | None = None  # sections, e.g. "AABA"; long pieces get a plan anyway
    melody: Any = None  # a symusic Score kept as the lead
    melody_track: int | None = None  # its track, 1-based (None: the top line)
    plan: Plan | None = None  # the sections a retrieved melody was joined along
    feel: FeelConfig = FeelConfig()  # drum timing, laid on the finished piece

    @property
    def prompt(self) -> str:
        return self.request.prompt

    @property
    def requested(self) -> Attributes:
        """The targets, with the length in bars the piece will have."""
        return self.request.attributes.merged(Attributes(bars=self.bars))

    @property
    def notes(self) -> tuple[str, ...]:
        return self.request.notes

    def expected_tokens(self, tokens_per_bar: int) -> int:
        """A guess of the sampled length, for the progress bar only."""
        bars = self.requested.bars or 8
        tracks = len(self.requested.instruments or (0, 0))
        return max(16, min(self.sampling.max_tokens, bars * tracks * tokens_per_bar))


@dataclass
class Job:
    id: str
    spec: JobSpec | EditSpec | None  # None for a job restored from the store after a restart
    created: float
    prompt: str = ""
    requested: dict[str, Any] = field(default_factory=dict)
    status: str = "queued"
    progress: float = 0.0
    error: str | None = None
    seconds: float | None = None
    folder: Path | None = None
    features: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        done = self.status == "done"
        return {
            "job_id": self.id,
            "status": self.status,
            "progress": round(self.progress, 3),
            "error": self.error,
            "prompt": self.prompt,
            "requested": self.requested,
            "notes": self.notes,
            "seconds": self.seconds,
            "results": {k: f"/api/jobs/{self.id}/{k}" for k in ("midi", "wav", "pianoroll.png",
                                                                "features")} if done else None,
        }


class JobTimeout(TunesmithError):
    """A job ran past ServerConfig.job_timeout_s (raised inside the worker only)."""


# The worker's step: spec and a per-token callback in, one generated (or edited) piece out.
Work = Callable[[Any, Callable[[int], None]], Generated]


def model_work(checkpoint: Checkpoint) -> Work:
    """The real step: one piece from the loaded checkpoint, generated (around a melody, if
    the spec has one) or edited."""

    def work(spec: JobSpec | EditSpec, on_step: Callable[[int], None]) -> Generated:
        if isinstance(spec, EditSpec):
            return run_edit(spec, checkpoint, on_step)
        if spec.melody is not None:
            return arrange_pieces(spec.request, spec.melody, track=spec.melody_track, seed=spec.seed,
                                  sampling=spec.sampling, checkpoint=checkpoint, on_step=on_step,
                                  plan=spec.plan)[0]
        return write_pieces(spec.request, seed=spec.seed, sampling=spec.sampling, checkpoint=checkpoint,
                            on_step=on_step, form=spec.form)[0]

    return work


def felt(piece: Generated, spec: JobSpec | EditSpec) -> Generated:
    """A generated piece timed as its spec asks (retrieval.feel; edits keep their timing)."""
    if not isinstance(spec, JobSpec):
        return piece
    return replace(piece, score=apply_feel(piece.score, spec.feel, piece.attributes.genre, piece.seed))


def write_results(piece: Generated, folder: Path, config: ServerConfig,
                  edit: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write MIDI, WAV and piano roll atomically into `folder`; return the features report
    (with the piano roll's bar lines and the piece's tracks, for picking bars to edit)."""
    score = piece.score
    write_bytes_atomic(folder / RESULTS["midi"][0], midi_bytes(score))
    audio = render(score, sample_rate=config.sample_rate)
    write_bytes_atomic(folder / RESULTS["wav"][0], wav_bytes(audio, config.sample_rate))
    png = draw_pianoroll(score, width_px=config.pianoroll_width_px, sections=piece.sections)
    write_bytes_atomic(folder / RESULTS["pianoroll"][0], png)
    report = {
        "requested": piece.attributes.to_dict(),
        "detected": features(score).to_dict(),
        "masked_share": round(piece.masked_share, 4),
        "notes": list(piece.notes),
        "bar_lines": [round(x, 5) for x in bar_positions(score, config.pianoroll_width_px)],
        "tracks": piece_tracks(score),
        "edit": edit,
        "plan": [{"label": label, "first_bar": first + 1, "bars": n} for label, first, n in piece.sections],
    }
    write_bytes_atomic(folder / "features.json", json.dumps(report).encode())
    return report


def piece_tracks(score: Any) -> list[dict[str, Any]]:
    """The instruments that play, once each in track order: GM program (128 = drums), name."""
    seen: dict[int, None] = {}
    for t in score.tracks:
        if len(t.notes):
            seen.setdefault(DRUMS if t.is_drum else int(t.program), None)
    return [{"program": p, "name": INSTRUMENT_NAMES[p]} for p in seen]


class JobStore:
    """Job states in SQLite (`jobs.sqlite3` in the data directory): written on submit, on
    start and on finish, so that they outlive the process. Results stay files in
    `jobs/<id>/`; a row says "done" only after its files are all in place."""

    COLUMNS = ("id", "created", "status", "prompt", "requested", "notes", "error", "seconds",
               "features")

    def __init__(self, root: Path) -> None:
        self.db = sqlite3.connect(root / "jobs.sqlite3", check_same_thread=False,
                                  isolation_level=None)  # autocommit; callers serialise
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, created REAL, "
                        "status TEXT, prompt TEXT, requested TEXT, notes TEXT, error TEXT, "
                        "seconds REAL, features TEXT)")

    def put(self, job: Job) -> None:
        row = (job.id, job.created, job.status, job.prompt, json.dumps(job.requested),
               json.dumps(job.notes), job.error, job.seconds,
               None if job.features is None else json.dumps(job.features))
        self.db.execute(f"INSERT OR REPLACE INTO jobs VALUES ({', '.join('?' * len(row))})", row)

    def delete(self, job_id: str) -> None:
        self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def load(self) -> list[Job]:
        """Every stored job, oldest first; one that was queued or running is interrupted."""
        self.db.execute("UPDATE jobs SET status = 'failed', error = ? "
                        "WHERE status IN ('queued', 'running')", (INTERRUPTED,))
        jobs = []
        for r in self.db.execute(f"SELECT {', '.join(self.COLUMNS)} FROM jobs ORDER BY created"):
            jid, created, status, prompt, requested, notes, error, seconds, feats = r
            jobs.append(Job(jid, None, created, prompt, json.loads(requested), status,
                            1.0 if status == "done" else 0.0, error, seconds,
                            features=None if feats is None else json.loads(feats),
                            notes=json.loads(notes)))
        return jobs

    def close(self) -> None:
        self.db.close()


def sweep_temp_roots() -> int:
    """Remove temporary data directories whose server process is gone (killed servers
    cannot clean up after themselves). Returns how many were removed."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        pid = folder.name[len(TEMP_PREFIX):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class JobQueue:
    """Jobs by id, a bounded FIFO of pending ones, the single worker thread and the store."""

    def __init__(self, work: Work, config: ServerConfig) -> None:
        self.work, self.config = work, config
        self._pending: queue.Queue[Job | None] = queue.Queue(maxsize=config.queue_size)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._durations: list[float] = []
        self._thread: threading.Thread | None = None
        self.root: Path | None = None
        self.store: JobStore | None = None
        self.restored = {"done": 0, "interrupted": 0, "swept": 0}

    def start(self) -> None:
        if self.config.data_dir is None:
            self.restored["swept"] = sweep_temp_roots()
            self.root = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
        else:
            self.root = Path(self.config.data_dir)
            self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "jobs").mkdir(exist_ok=True)
        self.store = JobStore(self.root)
        self._restore()
        self._thread = threading.Thread(target=self._loop, name="tunesmith-worker", daemon=True)
        self._thread.start()

    def _restore(self) -> None:
        """Jobs of an earlier run: finished ones served again, interrupted ones reported,
        and every folder that no finished job owns (partial results) swept."""
        assert self.store is not None and self.root is not None
        with self._lock:
            for job in self.store.load():
                folder = self.root / "jobs" / job.id
                if job.status == "done" and not all((folder / RESULTS[k][0]).is_file()
                                                    for k in RESULTS):
                    job.status, job.error = "failed", "results lost: resubmit the request"
                    self.store.put(job)
                job.folder = folder if job.status == "done" else None
                self.restored["done"] += job.status == "done"
                self.restored["interrupted"] += job.error == INTERRUPTED
                self._jobs[job.id] = job
            for folder in (self.root / "jobs").iterdir():
                owner = self._jobs.get(folder.name)
                if owner is None or owner.status != "done":
                    _remove(folder)
                    self.restored["swept"] += 1
            self._evict()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker after its current job (or at once if it is blocked) and clean up."""
        if self._thread is not None:
            while True:  # drop pending jobs so the stop marker fits
                try:
                    self._pending.get_nowait()
                except queue.Empty:
                    break
            self._pending.put(None)
            self._thread.join(timeout)
            self._thread = None
        with self._lock:
            if self.store is not None:
                self.store.close()
                self.store = None
        if self.root is not None and self.config.data_dir is None:
            shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def submit(self, spec: JobSpec | EditSpec) -> Job:
        job = Job(uuid.uuid4().hex, spec, time.time(), spec.prompt, spec.requested.to_dict(),
                  notes=list(spec.notes))
        with self._lock:
            try:
                self._pending.put_nowait(job)
            except queue.Full:
                raise QueueFullError(
                    f"the job queue is full ({self.config.queue_size} waiting): "
                    f"retry in {self.retry_after()} s"
                ) from None
            self._jobs[job.id] = job
            self._save(job)
            self._evict()
        return job

    def _save(self, job: Job) -> None:
        """Record a job's state (caller holds the lock)."""
        if self.store is not None:
            self.store.put(job)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def result_path(self, job: Job, kind: str) -> Path:
        assert job.folder is not None  # only called for done jobs
        return job.folder / RESULTS[kind][0]

    def waiting(self) -> int:
        return self._pending.qsize()

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue length times the mean job time."""
        recent = self._durations[-8:]
        mean = sum(recent) / len(recent) if recent else float(self.config.retry_after_s)
        return max(self.config.retry_after_s, min(600, math.ceil(mean * (self.waiting() + 1))))

    def _evict(self) -> None:
        """Drop the oldest finished jobs beyond max_jobs_kept (caller holds the lock)."""
        finished = [j for j in self._jobs.values() if j.status in ("done", "failed")]
        for job in finished[: max(0, len(self._jobs) - self.config.max_jobs_kept)]:
            del self._jobs[job.id]
            if self.store is not None:
                self.store.delete(job.id)
            if job.folder is not None:
                shutil.rmtree(job.folder, ignore_errors=True)

    def _loop(self) -> None:
        while True:
            job = self._pending.get()
            if job is None:
                return
            self._run(job)

    def _run(self, job: Job) -> None:
        assert self.root is not None
        job.status, start = "running", time.monotonic()
        with self._lock:
            self._save(job)
        folder = self.root / "jobs" / job.id
        try:
            piece = self._generate(job, start)
            folder.mkdir()
            edit = job.spec.describe() if isinstance(job.spec, EditSpec) else None
            job.features = write_results(piece, folder, self.config, edit)
            job.notes, job.folder = list(piece.notes), folder
            job.progress, job.status = 1.0, "done"
        except TunesmithError as exc:
            self._fail(job, folder, str(exc))
        except Exception:  # a bug must fail this job only, never the worker or the server
            log.exception("job %s crashed", job.id)
            self._fail(job, folder, "internal error while generating: see the server log")
        job.seconds = round(time.monotonic() - start, 3)
        self._durations.append(job.seconds)
        with self._lock:
            if job.id in self._jobs:  # saved "done" only now, with every file in place
                self._save(job)

    def _generate(self, job: Job, start: float) -> Generated:
        assert job.spec is not None  # restored jobs are never queued again
        deadline = start + self.config.job_timeout_s
        expected = job.spec.expected_tokens(self.config.tokens_per_bar)

        def on_step(step: int) -> None:
            # Cooperative timeout: the sampler calls this every token, so raising here
            # stops a runaway job without killing the thread.
            if time.monotonic() > deadline:
                raise JobTimeout(f"job exceeded the {self.config.job_timeout_s:g} s time limit")
            job.progress = GENERATION_SHARE * min(0.99, (step + 1) / expected)

        piece = felt(self.work(job.spec, on_step), job.spec)
        job.progress = GENERATION_SHARE
        return piece

    def _fail(self, job: Job, folder: Path, message: str) -> None:
        shutil.rmtree(folder, ignore_errors=True)  # no partial results survive a failure
        job.status, job.error, job.folder = "failed", message, None
