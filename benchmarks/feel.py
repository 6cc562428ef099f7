"""Drum micro-timing of real drummers, of `--feel human` and of straight drums, side by side.

    python benchmarks/feel.py --corpus groove:../shared/data/groove [--split test] [--amount 1.0]

For every performance of the split (default test: the shipped table is mined from train only),
three versions of its drums: the real take; straight, its onsets snapped to 16ths as our
training data is (data.clean.quantize), which is how generated drums come out; and human, the
straight one through retrieval.feel.humanize with the shipped table (the performance's genre,
its index as the seed). Each is measured as the table is mined (retrieval.feel.timing: offset
from the nearest 16th in quarters, from the bar's own time; onsets nearer a 16th triplet left
out), and per kit class the mean offset and the robust spread (IQR / 1.349) are printed, in
quarters and in ms at 120 bpm. Seconds on one core.
"""

from __future__ import annotations

import argparse

import numpy as np

CLASSES = {"kick": (36,), "snare": (38,), "closed hat": (42,), "open hat": (46,), "ride": (51,),
           "crash": (49,), "toms": (43, 47, 50)}
MS_AT_120 = 500.0  # ms a quarter at 120 bpm
Row = tuple[str, int, list[tuple[float, float]]]  # label, real onsets, (mean, spread) per version


def versions(corpus: str, split: str, amount: float):  # type: ignore[no-untyped-def]
    """(real, straight, human) drum scores of the split's performances, with counts."""
    from tunesmith.data.build import piece_split
    from tunesmith.data.clean import CleanReport, clean_tracks, quantize
    from tunesmith.data.corpora import open_corpus
    from tunesmith.retrieval.feel import humanize, load_feel

    table, report = load_feel(), CleanReport()
    for i, piece in enumerate(p for p in open_corpus(corpus) if piece_split(p.id, p.labels) == split):
        real = clean_tracks(piece.score, report)
        real.tracks = [t for t in real.tracks if t.is_drum]
        straight = quantize(real, 8, 4, report)  # drums on 16ths, as training data is cleaned
        yield real, straight, humanize(straight, table, piece.labels.get("genre"), amount, seed=i)


def stats(offsets: np.ndarray) -> tuple[float, float]:
    if not len(offsets):
        return float("nan"), float("nan")
    q1, q3 = np.percentile(offsets, [25, 75])
    return float(offsets.mean()), float(q3 - q1) / 1.349


def table(title: str, rows: list[Row]) -> None:
    print(f"| {title} | onsets (real) | real | human | straight |")
    print("|---|---|---|---|---|")
    for label, count, cells in rows:
        shown = [f"{m * MS_AT_120:+.1f} / {s * MS_AT_120:.1f}" for m, s in cells]
        print(f"| {label} | {count:,} | " + " | ".join(shown) + " |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="groove:../shared/data/groove")
    ap.add_argument("--split", default="test", choices=("train", "valid", "test"))
    ap.add_argument("--amount", type=float, default=1.0, help="humanize's share of the spread")
    args = ap.parse_args()
    from tunesmith.retrieval.feel import Timing, timing

    names = ("real", "human", "straight")
    found: dict[str, list[Timing]] = {n: [] for n in names}
    pieces = 0
    for real, straight, human in versions(args.corpus, args.split, args.amount):
        pieces += 1
        for name, score in zip(names, (real, human, straight), strict=True):
            found[name].append(timing(score))
    cat = {n: {k: np.concatenate([getattr(t, k) for t in found[n]]) for k in ("kit", "position", "offset")}
           for n in names}

    def rows(field: str, groups: dict[str, tuple[int, ...]]) -> list[Row]:
        out = []
        for label, keys in groups.items():
            masks = {n: np.isin(cat[n][field], keys) if keys else np.ones(len(cat[n]["offset"]), bool)
                     for n in names}
            out.append((label, int(masks["real"].sum()), [stats(cat[n]["offset"][masks[n]]) for n in names]))
        return out

    print(f"{pieces} {args.split}-split performances of {args.corpus}, humanize amount {args.amount:g}: "
          "mean offset / spread (IQR / 1.349) in ms at 120 bpm, from the bar's own time\n")
    table("sound", rows("kit", {**CLASSES, "all": ()}))
    table("16th of the beat", rows("position", {"1 (on the beat)": (0,), "e": (1,), "and": (2,), "a": (3,)}))


if __name__ == "__main__":
    main()
