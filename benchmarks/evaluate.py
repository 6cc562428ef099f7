"""Throughput of the evaluation metrics on a set of MIDI files (no generation).

Consumes the test split of a data build (--build DIR), a folder of MIDI files (--folder DIR)
or, by default, the first N Bach chorales of music21's corpus; produces pieces/s of each
stage of `tunesmith evaluate`: loading, attribute detection + adherence, COSIATEC
compression ratio, musical statistics, CLMP embedding. Run:
    python benchmarks/evaluate.py [--build runs/clmp_data | --folder DIR] [--limit 40]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tunesmith.evaluation import FEATURES, adherence_row, compression_ratio
from tunesmith.midi import load_score


def midi_files(build: Path | None, folder: Path | None, limit: int) -> list[Path]:
    if build is not None:
        rows = [json.loads(x) for x in (build / "pieces.jsonl").read_text().splitlines()]
        paths = [Path(r["midi"]) if Path(r["midi"]).is_absolute() else build / r["midi"]
                 for r in rows if r["split"] == "test"]
        return paths[:limit]
    if folder is not None:
        return sorted(p for p in folder.rglob("*") if p.suffix in (".mid", ".midi"))[:limit]
    from tunesmith.data.corpora import open_corpus

    pieces = itertools.islice(open_corpus("music21:bach"), limit)
    return [Path(p.midi) for p in pieces]


def timed(fn: Callable[[Any], Any], items: list[Any]) -> tuple[list[Any], float]:
    start = time.perf_counter()
    out = [fn(x) for x in items]
    return out, time.perf_counter() - start


def adherence_of(score: Any) -> dict[str, Any]:
    from tunesmith.captions import features

    detected = features(score).to_attributes()
    return adherence_row(detected, detected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=None)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--clmp", type=Path, default=None, help="CLMP folder (default: shipped)")
    args = parser.parse_args()
    files = midi_files(args.build, args.folder, args.limit)
    scores, t_load = timed(load_score, files)
    notes = sum(s.note_num() for s in scores)
    stages = {"load MIDI": t_load}
    stages["features + adherence"] = timed(adherence_of, scores)[1]
    stages["compression ratio"] = timed(compression_ratio, scores)[1]
    stages["statistics (9 features)"] = timed(
        lambda s: [fn(s) for fn in FEATURES.values()], scores)[1]
    from tunesmith.retrieval import Clmp

    clmp = Clmp.load(args.clmp)
    stages["CLMP music embedding"] = timed(lambda ss: clmp.embed_music(ss), [scores])[1]
    table = Table(title=f"{len(scores)} pieces, {notes:,} notes ({notes / len(scores):.0f}/piece)")
    for col in ("stage", "seconds", "pieces/s"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    for name, sec in [*stages.items(), ("all", sum(stages.values()))]:
        table.add_row(name, f"{sec:.2f}", f"{len(scores) / sec:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
