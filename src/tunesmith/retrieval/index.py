"""The melody index: CLMP melody vectors in an HNSW graph (hnswlib) plus a JSONL sidecar.

Consumes `Phrase`s (retrieval.melody) and unit vectors; produces a folder (`index.bin`, the
hnswlib graph; `meta.jsonl.gz`, gzipped JSONL, one row per vector: source, bars, key, meter,
tempo, genre, license and, where the license allows, the notes; `index.json`, the format)
and answers k-nearest queries filtered by key and meter (HNSW: Malkov & Yashunin 2018; MG2's retrieval).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from symusic import KeySignature

from tunesmith.errors import InputError, ModelError
from tunesmith.retrieval.melody import Phrase, notes_of, phrase_score
from tunesmith.theory import key_signature

DEFAULT_INDEX_DIR = Path(__file__).resolve().parent.parent / "assets" / "melody_index"
FORMAT, VERSION = "tunesmith-melody-index", 1
NOTES_TPQ = 96
META = "meta.jsonl.gz"
# Corpora whose notes may be stored in a shipped index (permissive licenses); others keep
# only vectors and facts, and their notes are re-read from the user's copy of the source.
PERMISSIVE = {"pop909": "MIT", "folder": "user's own"}
LICENSES = {"pop909": "MIT", "nottingham": "GPL-3.0", "midimancy": "unknown (CC0 collection)",
            "touhou": "credit required", "folder": "user's own"}
BRUTE_FORCE_BELOW = 5_000  # a filter this selective is answered exactly, not through the graph


@dataclass(frozen=True)
class IndexConfig:
    """HNSW graph parameters (hnswlib's names): M links per node, ef_construction at build
    time, ef at query time; dim is CLMP's embedding size."""

    dim: int = 256
    M: int = 12
    ef_construction: int = 100
    ef: int = 64

    def __post_init__(self) -> None:
        for name in ("dim", "M", "ef_construction", "ef"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise InputError(f"index {name}={value!r} is invalid: need an int >= 1")


@dataclass
class Hit:
    """One retrieved phrase: cosine `score` to the query, its sidecar row, its melody (None
    when the notes are neither stored nor readable from the source) and its `id`, the row
    number in its index (stable while the index is: `search.phrase_melody` takes it back)."""

    score: float
    meta: dict[str, Any]
    melody: Any = field(default=None, repr=False)  # symusic Score
    id: int | None = None

    @property
    def label(self) -> str:
        return phrase_label(self.meta)


def phrase_label(row: dict[str, Any]) -> str:
    """'corpus/piece bars 9-16': where a phrase comes from (bars 1-based, inclusive)."""
    a, b = row["bars"]
    return f"{row['source']} bars {a + 1}-{b}"


def phrase_row(phrase: Phrase, store_notes: bool | None = None) -> dict[str, Any]:
    """The sidecar row of a phrase; notes only for permissively licensed corpora unless
    `store_notes` says otherwise."""
    row = phrase.meta()
    row["license"] = LICENSES.get(phrase.corpus, "unknown")
    keep = phrase.corpus in PERMISSIVE if store_notes is None else store_notes
    row["notes"] = notes_of(phrase.score, NOTES_TPQ) if keep else None
    row["program"] = int(phrase.score.tracks[0].program) if phrase.score.tracks else 0
    return row


class MelodyIndex:
    """An HNSW index over unit vectors with one metadata row per vector (label = row number)."""

    def __init__(self, config: IndexConfig, graph: Any, rows: list[dict[str, Any]],
                 path: Path | None = None) -> None:
        self.config, self.graph, self.rows, self.path = config, graph, rows, path

    # --- create, open, save
    @classmethod
    def create(cls, config: IndexConfig | None = None, capacity: int = 1024) -> MelodyIndex:
        import hnswlib

        cfg = config or IndexConfig()
        graph = hnswlib.Index(space="ip", dim=cfg.dim)  # unit vectors: 1 - distance = cosine
        graph.init_index(max_elements=max(capacity, 1), M=cfg.M,
                         ef_construction=cfg.ef_construction, random_seed=0)
        graph.set_ef(cfg.ef)
        return cls(cfg, graph, [])

    @classmethod
    def open(cls, path: str | Path | None = None) -> MelodyIndex:
        """Load an index folder; None: the one shipped in the package."""
        import hnswlib

        folder = Path(path) if path is not None else DEFAULT_INDEX_DIR
        head = folder / "index.json"
        if not head.is_file() or not (folder / "index.bin").is_file():
            error = ModelError if path is None else InputError
            raise error(f"{folder}: not a melody index (needs index.json, index.bin and "
                        f"{META}); make one with `tunesmith index build` or `index add`")
        info = json.loads(head.read_text())
        if info.get("format") != FORMAT:
            raise InputError(f"{head}: format {info.get('format')!r} is not {FORMAT!r}")
        cfg = IndexConfig(**info["config"])
        with gzip.open(folder / META, "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        graph = hnswlib.Index(space="ip", dim=cfg.dim)
        graph.load_index(str(folder / "index.bin"), max_elements=max(len(rows), 1))
        graph.set_ef(cfg.ef)
        if graph.get_current_count() != len(rows):
            raise InputError(f"{folder}: {graph.get_current_count()} vectors but {len(rows)} "
                             "metadata rows")
        return cls(cfg, graph, rows, folder)

    def save(self, path: str | Path | None = None) -> Path:
        """Write the folder; each file goes to a temporary name first, then into place
        (index.json last: `open` checks that the graph and the sidecar agree)."""
        folder = Path(path) if path is not None else self.path
        if folder is None:
            raise InputError("the index has no folder yet: give one to save()")
        folder.mkdir(parents=True, exist_ok=True)
        from tunesmith.midi.io import write_bytes_atomic

        tmp = folder / "index.bin.part"  # hnswlib writes to a path: rename it into place
        self.graph.save_index(str(tmp))
        os.replace(tmp, folder / "index.bin")
        meta = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in self.rows)
        head = {"format": FORMAT, "version": VERSION, "config": self.config.__dict__,
                "count": len(self.rows), "notes_tpq": NOTES_TPQ,
                "corpora": sorted({r["corpus"] for r in self.rows})}
        write_bytes_atomic(folder / META, gzip.compress(meta.encode(), mtime=0))
        write_bytes_atomic(folder / "index.json", json.dumps(head, indent=1).encode())
        self.path = folder
        return folder

    # --- add, search
    def __len__(self) -> int:
        return len(self.rows)

    def sources(self) -> set[str]:
        return {r["source"] for r in self.rows}

    def row(self, phrase_id: int) -> dict[str, Any]:
        """The sidecar row of a phrase id (a `Hit.id`), or InputError naming it."""
        if not 0 <= phrase_id < len(self.rows):
            raise InputError(f"melody id {phrase_id} is unknown: this index has ids 0..{len(self.rows) - 1}")
        return self.rows[phrase_id]

    def add(self, rows: Sequence[dict[str, Any]], vectors: np.ndarray) -> None:
        """Append rows and their (N, dim) vectors (growing the graph as needed)."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.config.dim)
        if len(rows) != len(vectors):
            raise InputError(f"{len(rows)} rows but {len(vectors)} vectors")
        if not len(rows):
            return
        need = len(self.rows) + len(rows)
        if need > self.graph.get_max_elements():
            self.graph.resize_index(max(need, 2 * self.graph.get_max_elements()))
        labels = np.arange(len(self.rows), need)
        self.graph.add_items(vectors, labels, num_threads=1)
        self.rows.extend(rows)

    def matching(self, key: str | None = None, meter: str | None = None,
                 with_notes: bool = False, mode: str | None = None) -> np.ndarray:
        """Labels of the rows with this key, meter and mode ('major' or 'minor'; None: any),
        and with stored notes when `with_notes`."""
        return np.asarray([i for i, r in enumerate(self.rows)
                           if (key is None or r["key"] == key)
                           and (meter is None or r["meter"] == meter)
                           and (mode is None or str(r["key"]).endswith(f" {mode}"))
                           and (not with_notes or r.get("notes"))], dtype=np.int64)

    def search(self, query: np.ndarray, k: int = 5, key: str | None = None,
               meter: str | None = None, with_notes: bool = False,
               mode: str | None = None) -> list[tuple[int, float]]:
        """(label, cosine) of the k nearest rows with this key and meter (and stored notes,
        when `with_notes`), best first. A selective filter (< BRUTE_FORCE_BELOW rows) is
        answered exactly over those rows; otherwise the graph is searched with hnswlib's
        filter callable."""
        if k < 1:
            raise InputError(f"k={k} is invalid: need at least 1")
        q = np.asarray(query, dtype=np.float32).reshape(1, self.config.dim)
        if not self.rows:
            return []
        if key is None and meter is None and mode is None and not with_notes:
            return self._knn(q, min(k, len(self.rows)), None)
        allowed = self.matching(key, meter, with_notes, mode)
        if len(allowed) == 0:
            return []
        if len(allowed) < BRUTE_FORCE_BELOW:
            vecs = np.asarray(self.graph.get_items(allowed), dtype=np.float32)  # (n, dim)
            sims = vecs @ q[0]
            top = np.argsort(-sims, kind="stable")[:k]
            return [(int(allowed[i]), float(sims[i])) for i in top]
        keep = set(allowed.tolist())
        return self._knn(q, min(k, len(keep)), lambda label: label in keep)

    def _knn(self, q: np.ndarray, k: int, keep: Callable[[int], bool] | None
             ) -> list[tuple[int, float]]:
        self.graph.set_ef(max(self.config.ef, k))
        labels, dist = self.graph.knn_query(q, k=k, num_threads=1, filter=keep)
        return [(int(a), float(1.0 - d)) for a, d in zip(labels[0], dist[0], strict=True)]


def melody_of(row: dict[str, Any], roots: dict[str, Path] | None = None) -> Any:
    """The phrase's melody as a Score: from the stored notes, else re-read from its source
    file (`path`, or `file` under `roots[corpus]`: the user's own copy of a corpus whose
    notes are not shipped); None when neither is there."""
    score = _read_melody(row, roots)
    if score is not None and row.get("key"):
        # the key estimated over all of the piece's parts in these bars (a lone melody's
        # own estimate is often a fifth off): arrange reads it from here
        score.key_signatures = [KeySignature(0, *key_signature(row["key"]))]
    return score


def _read_melody(row: dict[str, Any], roots: dict[str, Path] | None) -> Any:
    if row.get("notes"):
        return phrase_score(row["notes"], row["tempo"], row["meter"], NOTES_TPQ,
                            row.get("program", 0))
    root = (roots or {}).get(row["corpus"])
    path = Path(row["path"]) if row.get("path") else (
        root / row["file"] if root is not None and row.get("file") else None)
    if path is None or not path.is_file():
        return None
    from tunesmith.midi.io import load_score
    from tunesmith.retrieval.melody import extract_phrases

    for p in extract_phrases(load_score(path), row["source"], row["corpus"]):
        if [p.bar_start, p.bar_end] == list(row["bars"]):
            return p.score
    return None
