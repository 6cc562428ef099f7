"""Corpus readers: each turns a spec `NAME[:PATH]` into a stream of `Piece`s.

Consumes the music21 corpus, folders of MIDI files, MidiCaps JSONL (Melechovsky et al.,
2024) over Lakh MIDI, POP909 (Wang et al., 2020) and the Groove MIDI dataset (Gillick et
al., 2019); produces Pieces (id, corpus, score, labels, source). A bad file never stops a
reader: it is left out and recorded in the reader's `skipped` list as (id, reason).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from symusic import Score, TimeSignature

from tunesmith import attributes as A
from tunesmith.data import music21_corpus as m21
from tunesmith.data.clean import groove_to_gm
from tunesmith.errors import ConfigError, MidiError
from tunesmith.midi.io import load_score

MIDI_SUFFIXES = (".mid", ".midi")
# Groove MIDI top-level styles -> our genres.
GROOVE_GENRES = {
    "afrobeat": "world", "afrocuban": "latin", "blues": "blues", "country": "country",
    "dance": "electronic", "funk": "funk", "gospel": "soul", "highlife": "world",
    "hiphop": "hiphop", "jazz": "jazz", "latin": "latin", "middleeastern": "world",
    "neworleans": "jazz", "pop": "pop", "punk": "rock", "reggae": "reggae", "rock": "rock",
    "soul": "soul",
}
SPLIT_NAMES = {"train": "train", "validation": "valid", "valid": "valid", "test": "test"}
NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class Piece:
    """One work of a corpus. `midi` is a MIDI file holding exactly `score`, if there is one."""

    id: str
    corpus: str
    score: Score
    labels: dict[str, Any]
    source: str
    midi: str = ""


@dataclass
class Reader:
    """A corpus: iterate it for its Pieces; `len()` is the number of candidate items (an
    upper bound on the Pieces, for progress bars); `skipped` fills while iterating."""

    spec: str
    name: str
    items: list[Any]
    load: Callable[..., Iterator[Piece]]  # (items, skipped) -> Pieces
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Piece]:
        self.skipped.clear()
        return self.load(self.items, self.skipped)


def open_corpus(spec: str, cache_dir: Path | None = None, workers: int = 1) -> Reader:
    """The reader of a spec: music21[:COLL,...], folder:PATH, midicaps:JSONL[:LAKH_ROOT],
    pop909:PATH, groove:PATH, midimancy:TAR_XZ, touhou:TAR_XZ or nottingham:PATH.
    `cache_dir` and `workers` serve the music21 conversion."""
    name, _, arg = spec.partition(":")
    if name == "music21":
        wanted = [c for c in arg.split(",") if c] or None
        load = partial(_read_music21, cache_dir=cache_dir or _default_cache(), workers=workers)
        return Reader(spec, name, m21.list_jobs(wanted), load)
    if name not in ("folder", "midicaps", "pop909", "groove", *ARCHIVES, "nottingham"):
        raise ConfigError(
            f"corpus {name!r} in spec {spec!r} is unknown: allowed music21, folder, midicaps, "
            "pop909, groove, midimancy, touhou, nottingham"
        )
    if not arg:
        raise ConfigError(f"corpus spec {spec!r} needs a path: write {name}:PATH")
    if name == "midicaps":
        jsonl, _, root = arg.partition(":")
        return Reader(spec, name, _midicaps_items(Path(jsonl), root), _read_midicaps)
    path = _existing(Path(arg), spec)
    if name == "folder":
        return Reader(spec, name, _folder_items(path), _read_folder)
    if name == "pop909":
        return Reader(spec, name, _pop909_items(path), _read_pop909)
    if name in ARCHIVES:
        return Reader(spec, name, _archive_items(path, name), partial(_read_archive, path=path))
    if name == "nottingham":
        return Reader(spec, name, _nottingham_items(path), _read_nottingham)
    return Reader(spec, name, _groove_items(path), _read_groove)


def _default_cache() -> Path:
    return Path.home() / ".cache" / "tunesmith" / "corpora"


def _existing(path: Path, spec: str) -> Path:
    if not path.exists():
        raise ConfigError(f"corpus spec {spec!r}: {path} does not exist")
    return path


def _load(path: Path, piece_id: str, skipped: list[tuple[str, str]]) -> Score | None:
    try:
        return load_score(path)
    except MidiError as exc:
        skipped.append((piece_id, str(exc)))
        return None


# --- music21 ----------------------------------------------------------------------------
def _read_music21(
    jobs: list[m21.Job], skipped: list[tuple[str, str]], cache_dir: Path, workers: int
) -> Iterator[Piece]:
    convert = partial(m21.convert_job, cache_dir=cache_dir)
    ready = partial(_cached, cache_dir=cache_dir)
    with closing(m21.ordered_map(convert, jobs, workers, ready)) as converted:  # type: ignore[type-var]
        for job, results in zip(jobs, converted, strict=False):
            yield from _music21_pieces(job, results, skipped)


def _music21_pieces(
    job: m21.Job, results: list[dict[str, Any]], skipped: list[tuple[str, str]]
) -> Iterator[Piece]:
    genre = "folk" if job.collection in m21.FOLK else "classical"
    for r in results:
        piece_id = f"music21/{job.rel}#{r['index']}"
        if r["error"]:
            skipped.append((piece_id, r["error"]))
            continue
        score = _load(Path(r["midi"]), piece_id, skipped)
        if score is None:
            continue
        labels = {"genre": genre, "collection": job.collection}
        if r["title"]:
            labels["title"] = r["title"]
        yield Piece(piece_id, "music21", score, labels, job.path, r["midi"])


def _cached(job: m21.Job, cache_dir: Path) -> bool:
    return m21.cache_paths(cache_dir, job)[1].exists()


# --- folder -----------------------------------------------------------------------------
def _folder_items(root: Path) -> list[tuple[Path, str]]:
    if not root.is_dir():
        raise ConfigError(f"corpus folder {root} is not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())
    return [(p, f"folder/{root.name}/{p.relative_to(root).as_posix()}") for p in files]


def _read_folder(items: list[tuple[Path, str]], skipped: list[tuple[str, str]]) -> Iterator[Piece]:
    for path, piece_id in items:
        score = _load(path, piece_id, skipped)
        if score is not None:
            yield Piece(piece_id, "folder", score, {}, str(path), str(path))


# --- MidiCaps ---------------------------------------------------------------------------
def _midicaps_items(jsonl: Path, root: str) -> list[tuple[Path, dict[str, Any]]]:
    if not jsonl.is_file():
        raise ConfigError(f"MidiCaps file {jsonl} does not exist")
    base = Path(root) if root else jsonl.parent
    items = []
    for n, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{jsonl}:{n}: not a JSON row ({exc.msg})") from exc
            items.append((base / str(row.get("location", "")), row))
    return items


def midicaps_labels(row: dict[str, Any]) -> dict[str, Any]:
    """Labels of a MidiCaps row: genre/mood lists -> their first value we know."""
    labels: dict[str, Any] = {
        "genre": first_valid(row.get("genre"), A.GENRES),
        "mood": first_valid(row.get("mood"), A.MOODS),
        "key": key_name(str(row["key"])) if row.get("key") else None,
        "bpm": float(row["tempo"]) if row.get("tempo") else None,
        "time_signature": row.get("time_signature"),
        "instrument_summary": row.get("instrument_summary"),
        "chord_summary": row.get("chord_summary"),
        "caption": row.get("caption"),
    }
    if "test_set" in row:
        labels["split"] = "test" if row["test_set"] else "train"
    return {k: v for k, v in labels.items() if v is not None}


def _read_midicaps(
    items: list[tuple[Path, dict[str, Any]]], skipped: list[tuple[str, str]]
) -> Iterator[Piece]:
    seen: set[str] = set()
    for path, row in items:
        piece_id = f"midicaps/{Path(str(row.get('location', ''))).with_suffix('').as_posix()}"
        if piece_id in seen:
            skipped.append((piece_id, "duplicate row"))
            continue
        seen.add(piece_id)
        score = _load(path, piece_id, skipped)
        if score is not None:
            yield Piece(piece_id, "midicaps", score, midicaps_labels(row), str(path), str(path))


# --- POP909 -----------------------------------------------------------------------------
def pop909_meter(score: Score) -> Score:
    """POP909's MIDI meters are placeholders (2/4, 1/4) while its songs are in 4/4 with the
    first downbeat at tick 0 (beat_midi.txt): a copy with a 4/4 meter."""
    out = score.copy()
    out.time_signatures = [TimeSignature(0, 4, 4)]
    return out


def _pop909_items(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    labels_file = root / "labels.jsonl"
    if not labels_file.is_file():
        raise ConfigError(f"POP909 folder {root} has no labels.jsonl")
    items = []
    for line in labels_file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            song = str(row["id"])
            items.append((root / song / f"{song}.mid", row))
    return items


def _read_pop909(
    items: list[tuple[Path, dict[str, Any]]], skipped: list[tuple[str, str]]
) -> Iterator[Piece]:
    for path, row in items:
        piece_id = f"pop909/{row['id']}"
        score = _load(path, piece_id, skipped)
        if score is None:
            continue
        labels: dict[str, Any] = {"genre": "pop"}
        keys = [k for k in (key_name(str(k)) for k in row.get("keys") or []) if k]
        if keys:
            labels["key"] = keys[0]  # the opening key; later ones are modulations
        if row.get("bpm"):
            labels["bpm"] = float(row["bpm"])
        # the score differs from the file (its meter), so no `midi`: a build writes its own copy
        yield Piece(piece_id, "pop909", pop909_meter(score), labels, str(path))


# --- Groove MIDI ------------------------------------------------------------------------
def _groove_items(root: Path) -> list[tuple[Path, dict[str, str]]]:
    info = root / "info.csv"
    if not info.is_file():
        raise ConfigError(f"Groove folder {root} has no info.csv")
    with info.open(newline="", encoding="utf-8") as f:
        return [(root / row["midi_filename"], row) for row in csv.DictReader(f)]


def groove_labels(row: dict[str, str]) -> dict[str, Any]:
    style = row.get("style", "")
    labels: dict[str, Any] = {"style": style, "beat_type": row.get("beat_type")}
    genre = GROOVE_GENRES.get(style.split("/")[0])
    if genre:
        labels["genre"] = genre
    if row.get("bpm"):
        labels["bpm"] = float(row["bpm"])
    if row.get("time_signature"):
        labels["time_signature"] = row["time_signature"].replace("-", "/")
    if row.get("split") in SPLIT_NAMES:
        labels["split"] = SPLIT_NAMES[row["split"]]
    return {k: v for k, v in labels.items() if v}


def _read_groove(
    items: list[tuple[Path, dict[str, str]]], skipped: list[tuple[str, str]]
) -> Iterator[Piece]:
    for path, row in items:
        piece_id = f"groove/{Path(row['midi_filename']).with_suffix('').as_posix()}"
        score = _load(path, piece_id, skipped)
        if score is None:
            continue
        score = groove_to_gm(score)  # Roland kit pitches (22, 26: hi-hats) -> General MIDI
        for track in score.tracks:  # a drum kit throughout, whatever the channel says
            track.is_drum = True
            track.name = A.INSTRUMENT_NAMES[A.DRUMS]
        yield Piece(piece_id, "groove", score, groove_labels(row), str(path), str(path))


# --- band and game-music archives (Midimancy, Touhou) -------------------------------------
ARCHIVES = ("midimancy", "touhou")
# Midimancy folder -> genre; game folders (sonic, OSRS, castlevania, ...) are soundtracks.
MIDIMANCY_GENRES = {
    "ClassicRock": "rock", "Daft Punk": "electronic", "Weeknd, The": "pop", "MCR": "rock",
    "Ghost": "rock", "1 - Pop Music": "pop", "1 - Vocaloid and similar": "pop",
    "1 - Folk Songs and Classical": "classical",
}


def archive_labels(corpus: str, member: str) -> dict[str, Any] | None:
    """Genre, group (artist or game: the unit of the split, so no song leaks) and title of
    an archive member from its folders; None for members that are not MIDI files."""
    if not member.lower().endswith(MIDI_SUFFIXES):
        return None
    parts = member.split("/")
    if corpus == "touhou":  # touhou/<series>/<game>/<track (arranger)>.mid
        return {"genre": "soundtrack", "group": "/".join(parts[1:3]), "title": Path(parts[-1]).stem}
    # midimancy/<No Man's Land|Songs Here>/<folder>[/<artist or game>]/...
    folder = parts[2] if len(parts) > 3 else ""
    genre = MIDIMANCY_GENRES.get(folder, "soundtrack")
    group = "/".join(parts[2:4]) if len(parts) > 4 else folder or member
    return {"genre": genre, "group": group, "title": Path(parts[-1]).stem}


def _archive_items(path: Path, corpus: str) -> list[tuple[str, dict[str, Any]]]:
    import tarfile

    try:
        with tarfile.open(path, "r:*") as tar:
            names = [m.name for m in tar if m.isfile()]
    except (tarfile.TarError, OSError) as exc:
        raise ConfigError(f"{corpus} archive {path} cannot be read: {exc}") from exc
    return [(n, lab) for n in names if (lab := archive_labels(corpus, n)) is not None]


def _read_archive(
    items: list[tuple[str, dict[str, Any]]], skipped: list[tuple[str, str]], path: Path
) -> Iterator[Piece]:
    """Members in archive order: an .xz archive is read as a stream, and random access
    would decompress it from the start for every member."""
    import tarfile

    wanted = dict(items)
    corpus = path.name.split(".")[0]  # midimancy.tar.xz -> midimancy
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            labels = wanted.get(member.name)
            f = tar.extractfile(member) if labels is not None else None
            if f is None or labels is None:
                continue
            piece_id = f"{corpus}/{member.name}"
            try:
                score = load_score(f.read(), name=piece_id)
            except MidiError as exc:
                skipped.append((piece_id, str(exc)))
                continue
            yield Piece(piece_id, corpus, score, labels, member.name)


def archive_creators(reader: Reader) -> dict[str, int]:
    """Creators marked in brackets at the end of an archive's file names ("Song (Arranger).mid")
    with their number of files: the credit the Touhou collection's usage policy asks for."""
    import re

    counts: dict[str, int] = {}
    for name, _ in reader.items:
        marks = re.findall(r"\(([^()]+)\)", name.rsplit("/", 1)[-1])
        who = marks[-1].strip() if marks else "(no creator marked)"
        counts[who] = counts.get(who, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].lower())))


# --- Nottingham -------------------------------------------------------------------------
# Tune type from the file name prefix; jigs are 6/8 and waltzes 3/4 in the files themselves.
NOTTINGHAM_FORMS = {
    "jigs": "jig", "reels": "reel", "hpps": "hornpipe", "waltzes": "waltz", "slip": "slip jig",
    "morris": "morris", "playford": "country dance", "ashover": "country dance", "xmas": "carol",
}


def _nottingham_items(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    folder = root / "MIDI" if (root / "MIDI").is_dir() else root
    items = []
    for p in sorted(folder.glob("*.mid")):
        stem = p.stem.rstrip("0123456789")
        form = next((f for k, f in NOTTINGHAM_FORMS.items() if stem.startswith(k)), None)
        if form is None:
            continue  # chords.mid / melody.mid are format samples, not tunes
        items.append((p, {"genre": "folk", "form": form, "group": p.stem}))
    return items


def _read_nottingham(
    items: list[tuple[Path, dict[str, Any]]], skipped: list[tuple[str, str]]
) -> Iterator[Piece]:
    for path, labels in items:
        piece_id = f"nottingham/{path.stem}"
        score = _load(path, piece_id, skipped)
        if score is not None:
            yield Piece(piece_id, "nottingham", score, labels, str(path), str(path))


# --- labels -----------------------------------------------------------------------------
def first_valid(values: Any, allowed: Iterable[str]) -> str | None:
    """The first of a label or list of labels that is in `allowed` (case-insensitive)."""
    allowed = tuple(allowed)
    for v in [values] if isinstance(values, str) else list(values or []):
        norm = str(v).strip().lower().replace(" ", "").replace("-", "")
        if norm in allowed:
            return norm
    return None


def key_name(text: str) -> str | None:
    """"Gb:maj" / "Gb major" / "a minor" -> "F# major"-style names of attributes.KEYS
    (enharmonics spelled as attributes.PITCH_CLASSES); None if it is no key."""
    root, _, word = text.replace(":", " ").strip().partition(" ")
    mode = {"maj": "major", "major": "major", "min": "minor", "minor": "minor"}.get(
        word.strip().lower()
    )
    letter = root[:1].upper()
    if mode is None or letter not in NATURALS or any(c not in "#b" for c in root[1:]):
        return None
    shift = root.count("#") - root[1:].count("b")
    return f"{A.PITCH_CLASSES[(NATURALS[letter] + shift) % 12]} {mode}"
