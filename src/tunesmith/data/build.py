"""`tunesmith data build`: corpora -> captioned, tokenized training rows, resumably.

Consumes corpus specs (see corpora.open_corpus) and produces, in the output folder:
`pieces.jsonl` (one row per piece: id, corpus, split, source, midi, labels, features,
caption, n_notes, n_tokens, shard, offset), `tokens/*.npy` (one flat uint16 array of REMI+
ids per chunk of pieces; a row's music is shard[offset : offset + n_tokens]),
`skipped.jsonl`, `summary.json`, and `work/` (per-chunk rows, renamed into place when a
chunk is complete, so a killed build resumes at the first unfinished chunk).
Captions follow MidiCaps (Melechovsky et al., 2024) via tunesmith.captions.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text
from symusic import Score

from tunesmith.captions import caption, features
from tunesmith.data import augment
from tunesmith.data.corpora import Piece, Reader, open_corpus
from tunesmith.errors import ConfigError
from tunesmith.midi.io import write_bytes_atomic
from tunesmith.progress import progress

SPLITS = ("train", "valid", "test")
SPLIT_EDGES = (90, 95, 100)  # percent of the id hash: 90 / 5 / 5
FORMAT_VERSION = 1
MAX_UINT16 = 1 << 16


@dataclass(frozen=True)
class BuildConfig:
    """Settings of a build. `limit` (source pieces per corpus) and `workers` may change
    between a build and its resumption; the others must not (they change the rows)."""

    limit: int | None = None
    seed: int = 0
    augment: int = 0  # orchestration copies of each training piece
    workers: int = 2  # processes converting music21 files (on cache misses only)
    cache_dir: Path | None = None  # converted music21 pieces; default OUT/cache
    chunk_size: int = 128  # pieces per token shard and per resumable unit
    tokenizer: Path | None = None  # a saved tokenizer (file or folder); default: default()
    progress: bool = True

    def __post_init__(self) -> None:
        if self.limit is not None and not (isinstance(self.limit, int) and self.limit >= 1):
            raise ConfigError(f"limit {self.limit!r} is invalid: allowed an integer >= 1, or none")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed {self.seed} is out of range: allowed 0..{2**32 - 1}")
        if not 0 <= self.augment <= 16:
            raise ConfigError(f"augment {self.augment} is out of range: allowed 0..16 copies")
        if not 1 <= self.workers <= 16:
            raise ConfigError(f"workers {self.workers} is out of range: allowed 1..16")
        if not 1 <= self.chunk_size <= 100_000:
            raise ConfigError(f"chunk_size {self.chunk_size} is out of range: allowed 1..100000")
        if self.tokenizer is not None and not Path(self.tokenizer).exists():
            raise ConfigError(f"tokenizer {self.tokenizer} does not exist")


@dataclass(frozen=True)
class Counts:
    pieces: int = 0
    notes: int = 0
    tokens: int = 0

    def plus(self, notes: int, tokens: int) -> Counts:
        return Counts(self.pieces + 1, self.notes + notes, self.tokens + tokens)


@dataclass(frozen=True)
class BuildSummary:
    """What a build produced: counts per split and per corpus spec, and the skipped files."""

    out: str
    specs: tuple[str, ...]
    limit: int | None
    fingerprint: str
    splits: dict[str, Counts] = field(default_factory=dict)
    corpora: dict[str, Counts] = field(default_factory=dict)
    augmented: int = 0
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def pieces(self) -> int:
        return sum(c.pieces for c in self.splits.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BuildSummary:
        return cls(
            out=d["out"], specs=tuple(d["specs"]), limit=d["limit"], fingerprint=d["fingerprint"],
            splits={k: Counts(**v) for k, v in d["splits"].items()},
            corpora={k: Counts(**v) for k, v in d["corpora"].items()},
            augmented=d["augmented"], skipped=tuple((a, b) for a, b in d["skipped"]),
        )


# --- pure helpers ---------------------------------------------------------------------------
def split_of(piece_id: str) -> str:
    """Deterministic split of an id: sha1 -> 0..99 -> train < 90 <= valid < 95 <= test."""
    h = int(hashlib.sha1(piece_id.encode()).hexdigest()[:8], 16) % 100
    return next(s for s, edge in zip(SPLITS, SPLIT_EDGES, strict=True) if h < edge)


def piece_split(piece_id: str, labels: dict) -> str:
    """A corpus's own split if it has one, else a hash of the piece's group (artist or game)
    or id, so that no song (and no artist's other songs) leaks into validation or test."""
    return str(labels.get("split") or split_of(str(labels.get("group") or piece_id)))


def _seed(*parts: Any) -> list[int]:
    """A numpy seed sequence from any values, stable across runs and processes."""
    digest = hashlib.sha1(json.dumps(parts).encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def corpus_key(spec: str) -> str:
    """Folder/shard prefix of a spec: its reader name plus a hash of the whole spec."""
    name = spec.partition(":")[0]
    return f"{name}-{hashlib.sha1(spec.encode()).hexdigest()[:8]}"


def _rel(path: str, out: Path) -> str:
    if not path:
        return ""
    p = Path(path).resolve()
    return p.relative_to(out.resolve()).as_posix() if p.is_relative_to(out.resolve()) else str(p)


def _jsonl(rows: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


# --- one piece -> rows ----------------------------------------------------------------------
@dataclass(frozen=True)
class Version:
    """A piece as tokenized: the source itself, or one orchestration of it."""

    id: str
    score: Score
    midi: str
    orchestration: str | None = None


def versions(piece: Piece, split: str, copies: int, seed: int) -> list[Version]:
    """The piece and, for training pieces, up to `copies` orchestrations of it (valid and
    test stay as the corpus has them; copies inherit the split, so nothing leaks)."""
    out = [Version(piece.id, piece.score, piece.midi)]
    if split != "train" or copies == 0:
        return out
    options = augment.orchestrations(piece.score)
    if not options:
        return out
    rng = np.random.default_rng(_seed(seed, piece.id, "orchestrate"))
    picks = rng.choice(len(options), size=min(copies, len(options)), replace=False)
    for n, k in enumerate(picks, 1):
        orch = options[int(k)]
        out.append(Version(f"{piece.id}~orch{n}", augment.apply(piece.score, orch), "", orch.name))
    return out


Row = tuple[dict[str, Any], list[int], Version]


def piece_rows(
    piece: Piece, position: int, tok: Any, config: BuildConfig
) -> tuple[list[Row], list[tuple[str, str]]]:
    """(row, token ids, version) of every version of a piece, and the versions that failed.
    A corpus caption (MidiCaps) is kept for the piece itself; others are written from the
    features, with a random stream seeded by the build seed and the version's id."""
    split = piece.labels.get("split") or split_of(piece.id)
    labels = {k: v for k, v in piece.labels.items() if k not in ("split", "caption")}
    done, failed = [], []
    for v in versions(piece, split, config.augment, config.seed):
        try:
            ids = tok.encode_score(v.score)
            feats = features(v.score, piece.labels)
        except Exception as exc:  # one odd score must not end a long build; it is reported
            failed.append((v.id, f"cannot tokenize or describe it: {type(exc).__name__}: {exc}"))
            continue
        if not ids:
            failed.append((v.id, "no tokens"))
            continue
        text = piece.labels.get("caption") if v.orchestration is None else None
        text = text or caption(feats, np.random.default_rng(_seed(config.seed, v.id, "caption")))
        row = {
            "id": v.id, "corpus": piece.corpus, "split": split, "source": piece.source,
            "midi": v.midi, "augmented_from": piece.id if v.orchestration else None,
            "orchestration": v.orchestration, "labels": labels, "features": feats.to_dict(),
            "caption": text, "n_notes": int(v.score.note_num()), "n_tokens": len(ids),
            "position": position,
        }
        done.append((row, ids, v))
    return done, failed


# --- chunks ---------------------------------------------------------------------------------
def _chunk_path(out: Path, key: str, k: int) -> Path:
    return out / "work" / key / f"chunk_{k:04d}.json"


def _load_chunk(path: Path, n_pieces: int) -> dict[str, Any] | None:
    """A finished chunk that covers at least the first `n_pieces` pieces, or None."""
    if not path.is_file():
        return None
    chunk = json.loads(path.read_text(encoding="utf-8"))
    return chunk if chunk["n_pieces"] >= n_pieces else None


def make_chunk(
    pieces: list[Piece], first: int, shard: str, out: Path, tok: Any, config: BuildConfig
) -> dict[str, Any]:
    """Tokenize and caption a chunk of pieces; write its shard (and the MIDI files of its
    orchestrations). The caller commits the returned rows."""
    rows, skipped, tokens = [], [], []
    offset = 0
    for j, piece in enumerate(pieces):
        done, failed = piece_rows(piece, first + j, tok, config)
        skipped += [[pid, why, first + j] for pid, why in failed]
        for row, ids, version in done:
            midi = version.midi or str(_write_midi(out, version))
            row.update(midi=_rel(midi, out), shard=shard, offset=offset)
            rows.append(row)
            tokens.append(np.asarray(ids, dtype=np.uint16))
            offset += len(ids)
    flat = np.concatenate(tokens) if tokens else np.zeros(0, dtype=np.uint16)
    write_bytes_atomic(out / shard, _npy_bytes(flat), parents=True)
    return {"n_pieces": len(pieces), "rows": rows, "skipped": skipped}


def _write_midi(out: Path, version: Version) -> Path:
    name = hashlib.sha1(version.id.encode()).hexdigest()[:16]
    path = out / "midi" / name[:2] / f"{name}.mid"
    write_bytes_atomic(path, bytes(version.score.dumps_midi()), parents=True)
    return path


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _chunks(pieces: Iterator[Piece], size: int) -> Iterator[list[Piece]]:
    while chunk := list(itertools.islice(pieces, size)):
        yield chunk


def build_corpus(
    reader: Reader, out: Path, tok: Any, config: BuildConfig, advance: Any
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Rows and skipped files of one corpus, reusing every finished chunk in `out/work`."""
    key = corpus_key(reader.spec)
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    stream = iter(reader)
    try:
        limited = itertools.islice(stream, config.limit)
        for k, pieces in enumerate(_chunks(limited, config.chunk_size)):
            first, path = k * config.chunk_size, _chunk_path(out, key, k)
            chunk = _load_chunk(path, len(pieces))
            if chunk is None:
                shard = f"tokens/{key}_{k:04d}.npy"
                chunk = make_chunk(pieces, first, shard, out, tok, config)
                write_bytes_atomic(path, json.dumps(chunk, ensure_ascii=False).encode(), parents=True)
            end = first + len(pieces)  # a longer chunk from an earlier build: keep our part
            rows += [{**r, "spec": reader.spec} for r in chunk["rows"] if r["position"] < end]
            skipped += [(pid, why) for pid, why, pos in chunk["skipped"] if pos < end]
            advance(len(pieces))
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # stops the music21 process pool when the limit ends the stream early
    return rows, list(reader.skipped) + skipped


# --- the build ------------------------------------------------------------------------------
def build(
    specs: list[str], out: Path, config: BuildConfig | None = None, tokenizer: Any = None
) -> BuildSummary:
    """Build (or resume, or do nothing for a finished) dataset of `specs` in `out`.
    `tokenizer` overrides `config.tokenizer` with one already loaded."""
    config = config or BuildConfig()
    specs = list(specs)
    if not specs:
        raise ConfigError("no corpus given: name at least one, e.g. --corpus music21:bach")
    if len(set(specs)) != len(specs):
        raise ConfigError(f"corpus specs {specs} repeat one: give each corpus once")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer if tokenizer is not None else load_tokenizer(config)
    if len(tok) > MAX_UINT16:
        raise ConfigError(f"vocabulary of {len(tok)} tokens does not fit uint16 shards")
    fingerprint = _fingerprint(config, tok)
    _claim(out, fingerprint)
    finished = _finished(out, specs, config, fingerprint)
    if finished is not None:
        return finished
    (out / "summary.json").unlink(missing_ok=True)  # present only while it matches the rows
    readers = [open_corpus(s, config.cache_dir or out / "cache", config.workers) for s in specs]
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    total = sum(min(len(r), config.limit or len(r)) for r in readers)
    with progress("pieces", enabled=config.progress) as bar:
        task = bar.add_task("building", total=total)
        for reader in readers:
            bar.update(task, description=reader.spec)
            r, s = build_corpus(reader, out, tok, config, lambda n: bar.advance(task, n))
            rows += r
            skipped += s
    write_bytes_atomic(out / "pieces.jsonl", _jsonl(rows))
    write_bytes_atomic(out / "skipped.jsonl", _jsonl({"id": i, "reason": why} for i, why in skipped))
    summary = summarize(rows, skipped, out, specs, config.limit, fingerprint)
    write_bytes_atomic(out / "summary.json", json.dumps(summary.to_dict(), indent=1).encode())
    return summary


def load_tokenizer(config: BuildConfig) -> Any:
    from tunesmith.tokenization import Tokenizer

    return Tokenizer.load(config.tokenizer) if config.tokenizer else Tokenizer.default()


def _fingerprint(config: BuildConfig, tok: Any) -> str:
    """What the rows depend on besides the specs: a build may resume only if it matches."""
    vocab = hashlib.sha1(json.dumps(sorted(tok.vocab.items())).encode()).hexdigest()
    parts = [FORMAT_VERSION, config.seed, config.augment, config.chunk_size, vocab]
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:16]


def _claim(out: Path, fingerprint: str) -> None:
    """Mark `out` as holding builds of these settings; refuse one made with others."""
    marker = out / "build.json"
    if marker.is_file():
        theirs = json.loads(marker.read_text())["fingerprint"]
        if theirs != fingerprint:
            raise ConfigError(
                f"{out} holds a build made with other settings (seed, augment, chunk size or "
                "tokenizer): use another --out folder, or the same settings to resume"
            )
        return
    claim = {"fingerprint": fingerprint, "format": FORMAT_VERSION}
    write_bytes_atomic(marker, json.dumps(claim).encode())


def _finished(
    out: Path, specs: list[str], config: BuildConfig, fingerprint: str
) -> BuildSummary | None:
    path = out / "summary.json"
    if not path.is_file():
        return None
    summary = BuildSummary.from_dict(json.loads(path.read_text()))
    same = (summary.specs, summary.limit, summary.fingerprint) == (
        tuple(specs), config.limit, fingerprint,
    )
    return summary if same and (out / "pieces.jsonl").is_file() else None


def summarize(
    rows: list[dict[str, Any]], skipped: list[tuple[str, str]], out: Path, specs: list[str],
    limit: int | None, fingerprint: str,
) -> BuildSummary:
    splits = {s: Counts() for s in SPLITS}
    corpora: dict[str, Counts] = {}
    for r in rows:
        splits[r["split"]] = splits[r["split"]].plus(r["n_notes"], r["n_tokens"])
        name = r["spec"]
        corpora[name] = corpora.get(name, Counts()).plus(r["n_notes"], r["n_tokens"])
    return BuildSummary(
        out=str(out), specs=tuple(specs), limit=limit, fingerprint=fingerprint,
        splits=splits, corpora=corpora,
        augmented=sum(1 for r in rows if r["augmented_from"]), skipped=tuple(skipped),
    )


# --- presentation ---------------------------------------------------------------------------
def format_summary(summary: BuildSummary, max_skipped: int = 20) -> Group:
    """Rich renderable: pieces, notes and tokens per split and per corpus; skipped files."""
    table = Table(title=f"Dataset in {summary.out}")
    for col in ("", "pieces", "notes", "tokens"):
        table.add_column(col, justify="left" if not col else "right")
    for title, counts in (("split", summary.splits), ("corpus", summary.corpora)):
        table.add_section()
        for name, c in counts.items():
            table.add_row(f"{title} {name}", f"{c.pieces:,}", f"{c.notes:,}", f"{c.tokens:,}")
    total = Counts(summary.pieces, sum(c.notes for c in summary.splits.values()),
                   sum(c.tokens for c in summary.splits.values()))
    table.add_section()
    table.add_row("total", f"{total.pieces:,}", f"{total.notes:,}", f"{total.tokens:,}")
    lines = [f"{summary.augmented:,} of the pieces are orchestrations of others.",
             f"{len(summary.skipped):,} files skipped."]
    lines += [f"  {pid}: {why}" for pid, why in summary.skipped[:max_skipped]]
    if len(summary.skipped) > max_skipped:
        lines.append(f"  ... and {len(summary.skipped) - max_skipped:,} more (see skipped.jsonl)")
    return Group(table, Text("\n".join(lines)))
