"""Training examples for the decoder: windows of whole bars, each with its own attributes.

Consumes corpora (see corpora.py); produces token arrays per split: the condition tokens
and the REMI+ music tokens of each window, kept apart so training can drop attributes at
random (MuseCoco) and drop all of them for classifier-free guidance. Re-voicing and
bass splitting (augment.py) teach GM programs the corpora lack; a Groove drum pattern is
laid under a POP909 window on the same beat grid (both counted in quarter notes from a
downbeat). Conditions are computed from the augmented window, so they name what plays.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from symusic import Score, Tempo, TimeSignature

from tunesmith.attributes import GENRES, MAX_INSTRUMENTS, Attributes
from tunesmith.data.build import piece_split, split_of
from tunesmith.data.roles import RoleTable, named_subset
from tunesmith.errors import ConfigError
from tunesmith.midi.io import atomic_path, cut, write_bytes_atomic
from tunesmith.progress import progress
from tunesmith.tokenization import Tokenizer, bar_starts
from tunesmith.tokenization.vocab import header_tokens


def derived_mood(key: str | None, tempo: float) -> str | None:
    """A mood label from mode and tempo, for corpora that have none (documented proxy)."""
    if key is None:
        return "energetic" if tempo >= 125 else None
    major = key.endswith("major")
    if tempo >= 120:
        return "happy" if major else "dark"
    if tempo < 90:
        return "calm" if major else "sad"
    return None


@dataclass(frozen=True)
class SegmentConfig:
    min_bars: int = 4
    max_bars: int = 16
    max_tokens: int = 1024
    windows_per_piece: int = 4
    orchestrate_prob: float = 0.5
    drums_prob: float = 0.35
    bass_prob: float = 0.3  # chance to give the lowest part's bass line to a bass (augment.split_bass)
    seed: int = 0
    roles: str | None = None  # RoleTable JSON: re-voice POP909 by role instead of by ensemble
    part_subsets: float = 0.0  # chance a window keeps only some named parts (roles.named_subset)

    def __post_init__(self) -> None:
        if not 1 <= self.min_bars <= self.max_bars:
            raise ConfigError(f"min_bars {self.min_bars} must be in 1..max_bars {self.max_bars}")
        if self.windows_per_piece < 1:
            raise ConfigError(f"windows_per_piece {self.windows_per_piece} must be >= 1")
        for name in ("orchestrate_prob", "drums_prob", "bass_prob", "part_subsets"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} {getattr(self, name)} is out of range 0..1")


@dataclass
class Example:
    split: str
    conds: list[int]
    music: list[int]


def window(score: Score, start: int, end: int) -> Score:
    """Ticks [start, end) of a score, shifted to 0, with the tempo and meter in force."""
    out = cut(score, start, end).shift_time(-start)
    tempo = [t for t in score.tempos if t.time <= start]
    sig = [t for t in score.time_signatures if t.time <= start]
    out.tempos = [t for t in out.tempos if t.time > 0]
    out.tempos.insert(0, Tempo(0, tempo[-1].qpm if tempo else 120.0))
    out.time_signatures = [t for t in out.time_signatures if t.time > 0]
    num, den = (sig[-1].numerator, sig[-1].denominator) if sig else (4, 4)
    out.time_signatures.insert(0, TimeSignature(0, num, den))
    return out


def lay_drums(score: Score, drums: Score, rng: np.random.Generator) -> Score:
    """`score` with up to 8 bars of a drum pattern from `drums` looped under it, bar-aligned
    (both are counted in quarter notes from a downbeat, so their tempos need not match)."""
    src = drums.resample(score.ticks_per_quarter, min_dur=1)
    bar = 4 * score.ticks_per_quarter
    first = int(rng.integers(0, max(1, src.end() // bar - 1)))
    loop = window(src, first * bar, min(src.end(), (first + 8) * bar))
    base = next(t for t in loop.tracks if t.is_drum)
    length = max(loop.end() // bar, 1) * bar
    pattern = base.copy()
    pattern.notes.clear()
    for offset in range(0, max(score.end(), 1), length):
        for n in base.notes:
            if offset + n.time < score.end():
                m = n.copy()
                m.time = offset + n.time
                pattern.notes.append(m)
    pattern.name, pattern.is_drum = "Drums", True
    out = score.copy()
    out.tracks.append(pattern)
    return out


def attributes_of(score: Score, piece_labels: dict, piece_key: str | None) -> Attributes:
    from tunesmith.captions import features

    f = features(score, piece_labels)
    attrs = f.to_attributes()
    genre = piece_labels.get("genre") if piece_labels.get("genre") in GENRES else None
    key = piece_key if piece_key is not None else attrs.key
    mood = attrs.mood or derived_mood(key, attrs.tempo or 120.0)
    return Attributes(key=key, tempo=attrs.tempo, time_signature=attrs.time_signature,
                      instruments=attrs.instruments, genre=genre, mood=mood,
                      bars=min(max(f.bars, 1), 128))


REAL_BANDS = ("midimancy", "touhou")  # real arrangements: never re-voiced


def busiest(score: Score, n: int = MAX_INSTRUMENTS) -> Score:
    """Only the tracks of the `n` instruments with the most notes (the header names at most
    `n`, and a window must not teach programs its header leaves out)."""
    notes: dict[tuple[bool, int], int] = {}
    for t in score.tracks:
        key = (t.is_drum, int(t.program))
        notes[key] = notes.get(key, 0) + len(t.notes)
    keep = set(sorted(notes, key=lambda k: -notes[k])[:n])
    out = score.copy()
    out.tracks = [t for t in out.tracks if (t.is_drum, int(t.program)) in keep]
    return out


def piece_examples(
    piece_id: str, score: Score, labels: dict, tok: Tokenizer, cfg: SegmentConfig,
    rng: np.random.Generator, drums: list[Score], corpus: str = "", table: RoleTable | None = None,
) -> Iterator[Example]:
    from tunesmith.captions.features import estimate_key

    split = piece_split(piece_id, labels)
    starts = bar_starts(score)
    key = labels.get("key") or estimate_key(score)
    for _ in range(cfg.windows_per_piece):
        n = int(rng.integers(cfg.min_bars, cfg.max_bars + 1))
        first = int(rng.integers(0, max(1, len(starts) - n + 1)))
        bounds = [*starts, starts[-1] + (starts[-1] - starts[-2] if len(starts) > 1 else 1920)]
        seg = busiest(window(score, bounds[first], bounds[min(first + n, len(bounds) - 1)]))
        if cfg.part_subsets and rng.random() < cfg.part_subsets:  # no draw when off: builds repeat
            seg = named_subset(seg, rng)
        if seg.note_num() == 0:
            continue
        if corpus not in REAL_BANDS:
            seg = augmented(seg, cfg, rng, drums, table, labels.get("genre"))
        ex = encode_example(seg, labels, key, tok, cfg, split)
        if ex is not None:
            yield ex


def augmented(seg: Score, cfg: SegmentConfig, rng: np.random.Generator, drums: list[Score],
              table: RoleTable | None = None, genre: str | None = None) -> Score:
    """A window re-voiced, with a bass split off and drums laid under it, each at random.
    With a role table, parts are re-voiced by role (instruments that play that role in
    real music of the genre; the bass by the table's bass choices), else by ensemble.
    Orchestration comes first, so that it cannot re-voice the new bass track."""
    from tunesmith.data.augment import BASSES, orchestrate, split_bass
    from tunesmith.data.roles import revoice_by_role

    band_genre = "rock" if genre == "pop" else genre  # POP909 songs take pop/rock band voicings
    if rng.random() < cfg.orchestrate_prob:
        if table is not None and genre == "pop":
            seg = revoice_by_role(seg, table, band_genre, rng)
        else:
            versions = orchestrate(seg, rng, copies=1)
            seg = versions[0] if versions else seg
    if rng.random() < cfg.bass_prob:
        learned = [p for p, _ in table.choices(band_genre, "bass")] if table is not None else []
        basses = [p for p in learned if p in BASSES] or list(BASSES)
        split = split_bass(seg, basses[int(rng.integers(len(basses)))])
        seg = split if split is not None else seg
    four_four = all(ts.numerator == 4 and ts.denominator == 4 for ts in seg.time_signatures)
    has_drums = any(t.is_drum for t in seg.tracks)
    if drums and four_four and not has_drums and rng.random() < cfg.drums_prob:
        seg = lay_drums(seg, drums[int(rng.integers(len(drums)))], rng)
    return seg


def encode_example(seg: Score, labels: dict, key: str | None, tok: Tokenizer,
                   cfg: SegmentConfig, split: str) -> Example | None:
    attrs = attributes_of(seg, labels, key)
    music = tok.encode_score(seg)
    if not music or len(music) + 40 > cfg.max_tokens:
        return None
    return Example(split, tok.ids(header_tokens(attrs)), music)


def save_examples(examples: list[Example], out: Path, cfg: SegmentConfig, tokenizer_hash: str = "",
                  cleaning: dict | None = None) -> dict[str, int]:
    """One .npz per split: flat conds/music arrays with offsets. Written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in ("train", "valid", "test"):
        rows = [e for e in examples if e.split == split]
        counts[split] = len(rows)
        arrays = {}
        for field in ("conds", "music"):
            seqs = [getattr(e, field) for e in rows]
            arrays[field] = np.array([t for s in seqs for t in s], dtype=np.int32)
            arrays[f"{field}_offsets"] = np.cumsum([0, *[len(s) for s in seqs]]).astype(np.int64)
        with atomic_path(out / f"{split}.npz") as tmp, tmp.open("wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
    meta = {"config": asdict(cfg), "counts": counts, "tokenizer": tokenizer_hash, "cleaning": cleaning or {}}
    write_bytes_atomic(out / "segments.json", json.dumps(meta, indent=1).encode())
    return counts


def load_split(directory: Path, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (conds, music) id arrays of every example of one split."""
    path = directory / f"{split}.npz"
    if not path.is_file():
        raise ConfigError(f"{path}: no such segment file; run `tunesmith data segments` first")
    with np.load(path) as z:  # each z[...] access re-reads the array: read each once
        conds, music = z["conds"], z["music"]
        co, mo = z["conds_offsets"], z["music_offsets"]
    return [(conds[co[i]:co[i + 1]], music[mo[i]:mo[i + 1]]) for i in range(len(co) - 1)]


def build_segments(specs: list[str], out: Path, cfg: SegmentConfig, limit: int | None = None,
                   workers: int = 2) -> dict[str, int]:
    """Windows of every piece of `specs` (Groove pieces also serve as drum patterns)."""
    from tunesmith.data.clean import CleanReport, clean
    from tunesmith.data.corpora import open_corpus
    from tunesmith.data.roles import RoleTable

    tok = Tokenizer.default()
    rng = np.random.default_rng(cfg.seed)
    table = RoleTable.load(Path(cfg.roles)) if cfg.roles else None
    report = CleanReport()
    drums = [clean(d, CleanReport()) for d in _drum_pool([s for s in specs if s.startswith("groove:")], limit)]
    examples: list[Example] = []
    with progress("pieces") as bar:
        for spec in specs:
            reader = open_corpus(spec, workers=workers)
            task = bar.add_task(spec.split(":")[0], total=min(len(reader), limit or len(reader)))
            for i, piece in enumerate(reader):
                if limit is not None and i >= limit:
                    break
                pool = drums if piece.corpus == "pop909" else []
                score = clean(piece.score, report)
                if score.note_num() > 0:
                    examples += piece_examples(piece.id, score, piece.labels, tok, cfg, rng, pool,
                                               piece.corpus, table)
                bar.advance(task)
    return save_examples(examples, out, cfg, tokenizer_hash(tok), report.to_dict())


def tokenizer_hash(tok: Tokenizer) -> str:
    """A short hash of a tokenizer's vocabulary: windows made by another tokenizer differ."""
    import hashlib

    base = {t: i for t, i in tok.vocab.items() if i < tok.n_base}  # windows hold no chord tokens
    return hashlib.sha1(json.dumps(base, sort_keys=True).encode()).hexdigest()[:12]


def _drum_pool(specs: list[str], limit: int | None) -> list[Score]:
    from tunesmith.data.corpora import open_corpus

    pool = []
    for spec in specs:
        for i, piece in enumerate(open_corpus(spec)):
            if limit is not None and i >= limit:
                break
            four = all(t.numerator == 4 and t.denominator == 4 for t in piece.score.time_signatures)
            if four and piece.labels.get("beat_type", "beat") == "beat" and split_of(piece.id) == "train":
                pool.append(piece.score)
    return pool
