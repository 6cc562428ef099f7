"""Text -> melody retrieval: fill a melody index from corpora or a folder, query it by text.

Consumes corpus specs, folders of MIDI files and prompts; produces index folders
(retrieval.index) and `Hit`s ranked by the cosine of CLMP's text vector to the melody
vectors (MG2, Ding et al. 2024: retrieve a melody that fits the text, then arrange it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.errors import InputError
from tunesmith.retrieval.clmp import MELODY, Clmp
from tunesmith.retrieval.index import Hit, IndexConfig, MelodyIndex, melody_of, phrase_label, phrase_row
from tunesmith.retrieval.melody import Phrase, extract_phrases, unique_phrases

EMBED_BATCH = 256  # phrases embedded at a time


def embed_phrases(clmp: Clmp, phrases: Sequence[Phrase]) -> np.ndarray:
    """(N, E) unit vectors of phrases through CLMP's melody view."""
    return clmp.embed_ids([clmp.vocab.encode(p.score) for p in phrases], MELODY)


def spread(items: list[Any], n: int | None) -> list[Any]:
    """At most n items, spread evenly over the list (all of them when n is None)."""
    if n is None or len(items) <= n:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


def _piece_rows(piece: Any, max_per_piece: int | None, store_notes: bool | None,
                root: Path | None, keep_path: bool) -> tuple[list[Phrase], list[dict[str, Any]]]:
    phrases = spread(unique_phrases(extract_phrases(piece.score, piece.id, piece.corpus,
                                                    piece.labels)), max_per_piece)
    rows = []
    for p in phrases:
        row = phrase_row(p, store_notes)
        if keep_path:
            row["path"] = str(Path(piece.source).resolve())
        elif root is not None and Path(piece.source).is_absolute():
            row["file"] = os.path.relpath(piece.source, root)
        rows.append(row)
    return phrases, rows


def index_pieces(index: MelodyIndex, pieces: Iterable[Any], clmp: Clmp, *,
                 max_per_piece: int | None = None, store_notes: bool | None = None,
                 root: Path | None = None, keep_path: bool = False,
                 on_piece: Callable[[int], None] | None = None) -> int:
    """Add the phrases of pieces whose id the index does not hold yet; returns how many
    phrases were added. `on_piece(n_phrases)` is called after each piece (progress)."""
    known = index.sources()
    phrases: list[Phrase] = []
    rows: list[dict[str, Any]] = []
    added = 0
    for piece in pieces:
        if piece.id not in known:
            ps, rs = _piece_rows(piece, max_per_piece, store_notes, root, keep_path)
            phrases += ps
            rows += rs
            known.add(piece.id)
        if len(phrases) >= EMBED_BATCH:
            index.add(rows, embed_phrases(clmp, phrases))
            added, phrases, rows = added + len(rows), [], []
        if on_piece is not None:
            on_piece(added + len(rows))
    if phrases:
        index.add(rows, embed_phrases(clmp, phrases))
        added += len(rows)
    return added


def _split_pieces(reader: Any, split: str | None, limit: int | None) -> Iterable[Any]:
    from tunesmith.data.build import split_of

    n = 0
    for piece in reader:
        if limit is not None and n >= limit:
            return
        if split is None or split_of(str(piece.labels.get("group") or piece.id)) == split:
            n += 1
            yield piece


def build_index(specs: Sequence[str], out: str | Path, *, split: str | None = "train",
                limit: int | None = None, max_per_piece: int | None = None,
                clmp: Clmp | None = None, config: IndexConfig | None = None,
                on_piece: Callable[[int], None] | None = None) -> MelodyIndex:
    """Index the phrases of corpora (one `split` of each, by the build's id hash; None: all)
    into `out`, adding to an index already there (a killed build resumes)."""
    from tunesmith.data.corpora import open_corpus

    if not specs:
        raise InputError("no corpus given: add --corpus NAME:PATH")
    out = Path(out)
    clmp = clmp or Clmp.load()
    index = (MelodyIndex.open(out) if (out / "index.json").is_file()
             else MelodyIndex.create(config or IndexConfig(dim=clmp.config.embed_dim)))
    for spec in specs:
        reader = open_corpus(spec)
        _, _, arg = spec.partition(":")
        root = Path(arg) if arg and Path(arg).is_dir() else None
        index_pieces(index, _split_pieces(reader, split, limit), clmp,
                     max_per_piece=max_per_piece, root=root, on_piece=on_piece)
        index.save(out)
    return index


def add_folder(folder: str | Path, index_path: str | Path, clmp: Clmp | None = None,
               on_piece: Callable[[int], None] | None = None) -> tuple[MelodyIndex, int]:
    """Add a user's folder of MIDI files (notes and paths kept: the index is theirs);
    files already indexed are skipped. Creates the index when it does not exist."""
    from tunesmith.data.corpora import open_corpus

    index_path = Path(index_path)
    clmp = clmp or Clmp.load()
    index = (MelodyIndex.open(index_path) if (index_path / "index.json").is_file()
             else MelodyIndex.create(IndexConfig(dim=clmp.config.embed_dim)))
    reader = open_corpus(f"folder:{folder}")
    added = index_pieces(index, reader, clmp, store_notes=True, keep_path=True,
                         on_piece=on_piece)
    index.save(index_path)
    return index, added


def retrieve(prompt: str, k: int = 5, *, key: str | None = None, meter: str | None = None,
             index: MelodyIndex | str | Path | None = None, clmp: Clmp | None = None,
             roots: dict[str, Path] | None = None, with_notes: bool = False,
             mode: str | None = None) -> list[Hit]:
    """The k melody phrases closest to a text, best first, optionally only in a key
    ('A minor', 'Bbm'), a mode ('major', 'minor') and a meter ('6/8'), and only those whose
    notes the index stores (`with_notes`); each with its id and its melody when the notes are there (stored, or
    re-read from `roots[corpus]`, the user's copy of a corpus)."""
    from tunesmith.captions import parse_key, parse_time_signature

    if not prompt.strip():
        raise InputError("the prompt is empty: describe the melody you want")
    key = parse_key(key) if key is not None else None
    meter = parse_time_signature(meter) if meter is not None else None
    idx = index if isinstance(index, MelodyIndex) else MelodyIndex.open(index)
    clmp = clmp or Clmp.load()
    query = clmp.embed_text([prompt])[0]
    return [Hit(score, idx.rows[label], melody_of(idx.rows[label], roots), label)
            for label, score in idx.search(query, k, key=key, meter=meter, with_notes=with_notes, mode=mode)]


def best_melodies(prompt: str, n: int = 1, *, meter: str | None = None, mode: str | None = None,
                  index: MelodyIndex | str | Path | None = None, clmp: Clmp | None = None) -> list[Hit]:
    """The n phrases that fit a text best, best first and each with different notes, among
    those whose notes the index stores (MG2's retrieval step): in `meter`, and in `mode`
    where there are enough (a major tune moved into a minor key keeps its major thirds),
    topped up from the other mode; fewer when the index has fewer. InputError when there is
    none."""
    text = prompt if prompt.strip() else "a melody"
    idx = index if isinstance(index, MelodyIndex) else MelodyIndex.open(index)
    clmp = clmp or Clmp.load()
    hits: dict[str, Hit] = {}  # by their notes: the same line filed twice is one phrase
    for m in dict.fromkeys((mode, None)):
        for hit in retrieve(text, 2 * n + 4, meter=meter, index=idx, clmp=clmp, with_notes=True, mode=m):
            hits.setdefault(json.dumps(hit.meta["notes"]), hit)
        if len(hits) >= n:
            return list(hits.values())[:n]
    if hits:
        return list(hits.values())
    best = retrieve(text, 1, meter=meter, index=idx, clmp=clmp)
    why = f" (the best, {best[0].label}, comes from a corpus whose notes are not shipped)" if best else ""
    where = f" in {meter}" if meter else ""
    raise InputError(f"no retrieved melody{where} has its notes in the index{why}: give a MIDI melody instead")


def best_melody(prompt: str, *, meter: str | None = None, mode: str | None = None,
                index: MelodyIndex | str | Path | None = None, clmp: Clmp | None = None) -> Hit:
    """The phrase that fits a text best (`best_melodies`, one)."""
    return best_melodies(prompt, 1, meter=meter, mode=mode, index=index, clmp=clmp)[0]


def phrase_melody(phrase_id: int, index: MelodyIndex | str | Path | None = None,
                  roots: dict[str, Path] | None = None) -> tuple[Any, str]:
    """The melody (a Score) of the phrase with this id (a `Hit.id`) and its label; InputError
    naming the id when the index has no such phrase or has not got its notes."""
    idx = index if isinstance(index, MelodyIndex) else MelodyIndex.open(index)
    row = idx.row(phrase_id)
    melody = melody_of(row, roots)
    if melody is None:
        raise InputError(f"melody id {phrase_id} ({phrase_label(row)}) has no notes in the index "
                         f"(license {row['license']}: only its facts are shipped): pick a phrase "
                         "whose notes are stored")
    return melody, phrase_label(row)
