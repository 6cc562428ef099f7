"""Tokenizer throughput on a fixed sample of music21's built-in corpus.

Consumes the first N Bach chorales and the first N O'Neill tunes (converted through
tunesmith.data, cached), produces files/s, notes/s and tokens/s of `Tokenizer.encode_score`
(REMI+, quantization included). Conversion is not timed. Run:
    python benchmarks/tokenization.py [--per-collection 40] [--repeat 3] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tunesmith.data.corpora import open_corpus
from tunesmith.tokenization import Tokenizer, round_trip_rate

SAMPLE = ["music21:bach", "music21:oneills1850"]


def sample_scores(per_collection: int, cache_dir: Path | None) -> dict[str, list]:
    return {
        spec: [p.score for p in itertools.islice(open_corpus(spec, cache_dir), per_collection)]
        for spec in SAMPLE
    }


def measure(tok: Tokenizer, scores: list, repeat: int) -> tuple[float, int, int]:
    """(best seconds over `repeat` passes, notes, tokens) of tokenizing every score once."""
    best, n_tokens = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        n_tokens = sum(len(tok.encode_score(s)) for s in scores)
        best = min(best, time.perf_counter() - start)
    return best, sum(s.note_num() for s in scores), n_tokens


def round_trip(tok: Tokenizer, scores: list) -> tuple[str, str]:
    """Worst piece's round-trip rate, and the rate over all notes together."""
    rates = [round_trip_rate(tok, s) for s in scores]
    notes = [tok.preprocess(s).note_num() for s in scores]
    total = sum(r * n for r, n in zip(rates, notes, strict=True)) / max(sum(notes), 1)
    return f"{min(rates):.4%}", f"{total:.4%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-collection", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--corpus", action="append", default=[],
                        help="Extra corpus specs, e.g. pop909:../shared/data/pop909")
    args = parser.parse_args()
    SAMPLE.extend(args.corpus)
    tok = Tokenizer.default()
    table = Table(title=f"Tokenizer.encode_score, vocabulary {len(tok)}, best of {args.repeat}")
    for col in ("sample", "files", "files/s", "notes/s", "tokens/s", "tokens/file", "tokens/note",
                "round trip (min)", "round trip (notes)"):
        table.add_column(col, justify="right" if col != "sample" else "left")
    groups = sample_scores(args.per_collection, args.cache_dir)
    groups["all"] = [s for g in groups.values() for s in g]
    for name, scores in groups.items():
        secs, notes, tokens = measure(tok, scores, args.repeat)
        table.add_row(name, str(len(scores)), f"{len(scores) / secs:,.1f}",
                      f"{notes / secs:,.0f}", f"{tokens / secs:,.0f}",
                      f"{tokens / max(len(scores), 1):,.0f}", f"{tokens / max(notes, 1):.2f}",
                      *round_trip(tok, scores))
    Console(width=170).print(table)


if __name__ == "__main__":
    main()
