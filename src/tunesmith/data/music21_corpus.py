"""The corpus that ships with music21, converted to symusic Scores and cached as MIDI files.

Consumes the music21 corpus folder (MusicXML, Humdrum, ABC) and produces one Score per
work: every tune of a multi-tune ABC file is its own job, so limits and the process pool
work per tune. The stream -> Score conversion is hand-written because music21's own MIDI
writer fails on 13-24 % of the multi-tune ABC files; it keeps notes (ties merged, grace
notes dropped), parts, explicit metronome marks and time signatures. Dynamics, repeats and
key signatures are not converted (velocity is a constant 80, repeats are played once).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

from symusic import Note, Score, Tempo, TimeSignature, Track

from tunesmith.attributes import GM_NAMES
from tunesmith.errors import ConfigError
from tunesmith.midi.io import write_bytes_atomic

TPQ = 480
VELOCITY = 80
CONVERTER_VERSION = "1"  # bump when the conversion changes: it is part of every cache key
EXTENSIONS = (".mxl", ".xml", ".musicxml", ".krn", ".abc")  # .rntxt are analyses, not music
EXCLUDED = ("demos", "theoryExercises")  # test material, not repertoire
FOLK = ("essenFolksong", "ryansMammoth", "oneills1850", "airdsAirs", "miscFolk",
        "nottingham-dataset")
# Sacred and secular vocal polyphony: every part is sung, so every part is a choir.
VOCAL = ("bach", "palestrina", "monteverdi", "josquin", "trecento", "ciconia", "luca",
         "lusitano")
VOICE_WORDS = ("soprano", "alto", "tenor", "bass", "canto", "quinto", "basso", "cantus",
               "altus", "bassus", "superius", "contratenor", "voice", "sesto")
# ABC files in these collections hold one voice of a single work per X: field (music21's
# Opus.mergeScores joins them); elsewhere every X: field is a tune of its own.
VOICE_PER_TUNE = ("josquin",)
CHOIR, PIANO, VIOLIN, FLUTE = 52, 0, 40, 73
# Part names that are instruments but no GM name's substring.
ALIASES = {"organ": 19, "horn": 60, "guitar": 24, "sax": 65, "saxophone": 65, "strings": 48}
# Collection defaults: Essen holds sung folk songs (a flute carries a song melody without
# words); the other folk books are fiddle and pipe tunes, hence violin.
DEFAULT_PROGRAM = {"essenFolksong": FLUTE, **{c: VIOLIN for c in FOLK if c != "essenFolksong"}}
# Quarter notes per minute when a file has no explicit metronome mark. Palestrina's
# Humdrum files count in half notes, so its quarter is fast.
DEFAULT_QPM = {"bach": 80.0, "palestrina": 140.0, "monteverdi": 110.0, "trecento": 100.0,
               "essenFolksong": 110.0, "ryansMammoth": 120.0, "oneills1850": 120.0,
               "airdsAirs": 100.0, "miscFolk": 110.0}
FALLBACK_QPM = 100.0


@dataclass(frozen=True)
class Job:
    """One unit of conversion: a whole file, or one tune (`index`) of a multi-tune ABC file."""

    path: str
    rel: str  # path relative to the corpus root, without extension, e.g. "bach/bwv66.6"
    collection: str
    digest: str  # content hash of the source file (and converter version)
    index: int | None = None  # tune ordinal in an ABC file
    text: str | None = None  # the tune's ABC text, file header included

    @property
    def key(self) -> str:
        return self.digest if self.index is None else f"{self.digest}-{self.index}"


def corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def collections() -> list[str]:
    """Collections (first folder under corpus/) that hold music files, excluded ones left out."""
    root = corpus_root()
    return sorted(
        d.name for d in root.iterdir()
        if d.is_dir() and d.name not in EXCLUDED and any(_music_files(d))
    )


def _music_files(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def list_jobs(wanted: Iterable[str] | None = None) -> list[Job]:
    """Every conversion job of the given collections (all by default), in a stable order."""
    available = collections()
    names = list(wanted) if wanted else available
    for name in names:
        if name not in available:
            raise ConfigError(
                f"music21 collection {name!r} is unknown: allowed {', '.join(available)}"
            )
    root = corpus_root()
    jobs: list[Job] = []
    for name in names:
        for path in sorted(_music_files(root / name)):
            jobs.extend(_file_jobs(path, root, name))
    return jobs


def _file_jobs(path: Path, root: Path, collection: str) -> list[Job]:
    data = path.read_bytes()
    digest = hashlib.sha1(CONVERTER_VERSION.encode() + data).hexdigest()
    rel = path.relative_to(root).with_suffix("").as_posix()
    if path.suffix.lower() != ".abc" or collection in VOICE_PER_TUNE:
        return [Job(str(path), rel, collection, digest)]
    tunes = split_abc(data.decode("utf-8", errors="replace"))
    return [Job(str(path), rel, collection, digest, i, t) for i, t in enumerate(tunes)]


def split_abc(text: str) -> list[str]:
    """The tunes of an ABC file, each headed by the file header (the lines before the first
    X: field), as music21 does when it splits an opus by reference number."""
    lines = text.replace("\r\n", "\n").split("\n")
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("X:")]
    if not starts:
        return [text] if text.strip() else []
    header = [line for line in lines[: starts[0]] if not line.lstrip().startswith("%")]
    bounds = [*starts, len(lines)]
    return ["\n".join(header + lines[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]


# --- conversion ----------------------------------------------------------------------
def parse_job(job: Job) -> list[Any]:
    """music21 Scores of a job (an Opus yields several)."""
    from music21 import converter, stream

    parsed = (
        converter.parse(job.text, format="abc") if job.text is not None
        else converter.parse(job.path)
    )
    if isinstance(parsed, stream.Opus) and job.collection in VOICE_PER_TUNE:
        return [parsed.mergeScores()]
    if isinstance(parsed, stream.Opus):
        scores = list(parsed.scores)
        return scores[:1] if job.index is not None else scores
    return [parsed]


def stream_to_score(s: Any, collection: str) -> Score:
    """A symusic Score (tpq 480) of a music21 Score: one Track per Part."""
    score = Score(TPQ)
    parts = list(s.parts) or [s]
    for i, part in enumerate(parts):
        track = part_track(part, i, collection)
        if len(track.notes):
            score.tracks.append(track)
    default = DEFAULT_QPM.get(collection, FALLBACK_QPM)
    marks = tempo_marks(s)
    if not marks or marks[0][0] > 0:
        marks.insert(0, (0, default))
    for time, qpm in marks:
        if not len(score.tempos) or abs(score.tempos[-1].qpm - qpm) > 1e-6:
            score.tempos.append(Tempo(time, qpm))
    for time, num, den in time_signatures(parts[0]):
        score.time_signatures.append(TimeSignature(time, num, den))
    return score


def _ticks(quarters: Any) -> int:
    return round(float(quarters) * TPQ)


def part_track(part: Any, index: int, collection: str) -> Track:
    from music21 import harmony

    name = str(part.partName or "").strip()
    program = part_program(name, part, collection)
    track = Track(name or GM_NAMES[program], program, False)
    for el in part.stripTies().flatten().notes:
        if isinstance(el, harmony.Harmony) or el.quarterLength <= 0:
            continue  # chord symbols are annotations; grace notes have no length
        time, dur = _ticks(el.offset), max(1, _ticks(el.quarterLength))
        for p in el.pitches:
            if 0 <= p.midi <= 127:
                track.notes.append(Note(time, dur, int(p.midi), VELOCITY))
    track.notes.sort(key=lambda n: (n.time, n.pitch))
    return track


def part_program(name: str, part: Any, collection: str) -> int:
    """GM program of a part: a part named after an instrument -> that instrument; a sung
    part or any part of a vocal collection -> Choir Aahs; else the file's own MIDI program,
    else the collection default (folk: violin or flute, other: piano)."""
    low = name.lower()
    matches = [p for p, gm in enumerate(GM_NAMES) if gm.lower() in low]
    if matches:
        return max(matches, key=lambda p: len(GM_NAMES[p]))  # "Contrabass" over "Bass"
    words = set(re.findall(r"[a-z]+", low))
    for word, program in ALIASES.items():
        if word in words:
            return program
    if words & set(VOICE_WORDS) or collection in VOCAL:
        return CHOIR
    inst = part.getInstrument(returnDefault=False)
    if inst is not None and inst.midiProgram is not None and 0 <= inst.midiProgram <= 127:
        return int(inst.midiProgram)
    return DEFAULT_PROGRAM.get(collection, PIANO)


def tempo_marks(s: Any) -> list[tuple[int, float]]:
    """(tick, quarter bpm) of the explicit metronome marks; implied ones are ignored."""
    from music21 import tempo

    marks: dict[int, float] = {}
    for mm in s.flatten().getElementsByClass(tempo.MetronomeMark):
        if mm.number is None or mm.numberImplicit:
            continue
        qpm = mm.getQuarterBPM()
        if qpm and 10 <= qpm <= 400:
            marks.setdefault(_ticks(mm.offset), float(qpm))
    return sorted(marks.items())


def time_signatures(part: Any) -> list[tuple[int, int, int]]:
    """(tick, numerator, denominator) of a part's meters. A meter that lasts less than one of
    its bars is dropped: music21 marks ABC pickups after a double bar with one (e.g. 1/16)."""
    from music21 import meter

    flat = part.flatten().getElementsByClass(meter.TimeSignature)
    found = [(float(ts.offset), ts) for ts in flat]
    first = part.recurse().getElementsByClass(meter.TimeSignature).first()
    if first is not None and (not found or found[0][0] > 0):
        found.insert(0, (0.0, first))
    end = float(part.highestTime)
    out: list[tuple[int, int, int]] = []
    for i, (offset, ts) in enumerate(found):
        num, den = int(ts.numerator), int(ts.denominator)
        bar = float(ts.barDuration.quarterLength)
        nxt = found[i + 1][0] if i + 1 < len(found) else max(end, offset + bar)
        if num <= 0 or den <= 0 or den & (den - 1) or nxt - offset < bar:
            continue  # MIDI stores denominators as powers of two
        if not out or out[-1][1:] != (num, den):
            out.append((_ticks(offset), num, den))
    if out:
        out[0] = (0, *out[0][1:])
    return out or [(0, 4, 4)]


# --- cache and process pool ---------------------------------------------------------
def cache_paths(cache_dir: Path, job: Job) -> tuple[Path, Path]:
    """(folder of the job's MIDI files, its sidecar JSON written last)."""
    folder = cache_dir / "music21" / job.digest[:2]
    return folder, folder / f"{job.key}.json"


def convert_job(job: Job, cache_dir: Path) -> list[dict[str, Any]]:
    """Convert a job (or read it from the cache): per work, its MIDI path or the error."""
    folder, meta_path = cache_paths(cache_dir, job)
    if meta_path.exists():
        return list(json.loads(meta_path.read_text()))
    folder.mkdir(parents=True, exist_ok=True)
    error: str | None = None
    try:
        works = parse_job(job)
    except Exception as exc:  # music21 raises many exception types on bad input
        works, error = [], f"music21 cannot parse it: {_short(exc)}"
    if not works and error is None:
        error = "no works in the file"
    results = [_convert_work(w, i, job, folder) for i, w in enumerate(works)]
    results = results or [{"index": 0, "midi": None, "title": None, "error": error}]
    write_bytes_atomic(meta_path, json.dumps(results).encode())
    return results


def _convert_work(work: Any, i: int, job: Job, folder: Path) -> dict[str, Any]:
    index = job.index if job.index is not None else i
    title = _title(work)
    try:
        score = stream_to_score(work, job.collection)
    except Exception as exc:  # a malformed stream must not stop the corpus
        return {"index": index, "midi": None, "title": title, "error": _short(exc)}
    if score.note_num() == 0:
        return {"index": index, "midi": None, "title": title, "error": "no notes"}
    path = folder / f"{job.key}-{i}.mid"
    write_bytes_atomic(path, bytes(score.dumps_midi()))
    return {"index": index, "midi": str(path), "title": title, "error": None}


def _title(work: Any) -> str | None:
    md = getattr(work, "metadata", None)
    title = getattr(md, "title", None) if md is not None else None
    return str(title) if title else None


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int, ready: Callable[[T], bool],
    window: int = 16,
) -> Iterator[R]:
    """`map(fn, items)` in order, running items that are not `ready` (cache misses) in a
    process pool of `workers` started only when the first miss arrives. At most `window`
    items are in flight, so a consumer that stops early wastes little work."""
    if workers <= 1:
        yield from map(fn, items)
        return
    pool: ProcessPoolExecutor | None = None
    pending: deque[Future[R] | tuple[T]] = deque()
    try:
        for item in items:
            if ready(item):
                pending.append((item,))
            else:
                # forkserver: forking a parent that runs torch threads can deadlock.
                pool = pool or ProcessPoolExecutor(workers, mp_context=get_context("forkserver"))
                pending.append(pool.submit(fn, item))
            while len(pending) >= window or (pending and isinstance(pending[0], tuple)):
                yield _result(pending.popleft(), fn)
        while pending:
            yield _result(pending.popleft(), fn)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _result(entry: Future[R] | tuple[T], fn: Callable[[T], R]) -> R:
    return fn(entry[0]) if isinstance(entry, tuple) else entry.result()
