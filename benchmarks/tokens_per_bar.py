"""Tokens per bar of real music, per corpus: how many bars a context of N tokens holds.

    python benchmarks/tokens_per_bar.py --corpus midimancy:../shared/data/midimancy.tar.xz \
        --corpus pop909:../shared/data/pop909 --corpus nottingham:../shared/data/nottingham --per-corpus 60

Reads every k-th piece (evenly over the corpus), cleans it as training does (data/clean.py),
keeps the 8 busiest instruments (as a training window does) and prints percentiles of REMI+
tokens per bar and the bars a 1,024- and a 2,048-token context hold at the median.
"""

from __future__ import annotations

import argparse

import numpy as np

from tunesmith.data.clean import CleanReport, clean
from tunesmith.data.corpora import open_corpus
from tunesmith.data.segments import busiest
from tunesmith.tokenization import Tokenizer, bar_starts


def per_bar(spec: str, n: int, tok: Tokenizer) -> tuple[np.ndarray, np.ndarray]:
    reader = open_corpus(spec)
    step = max(len(reader) // n, 1)
    rates, parts = [], []
    for i, piece in enumerate(reader):
        if i % step:
            continue
        score = busiest(clean(piece.score, CleanReport()))
        if score.note_num() == 0:
            continue
        rates.append(len(tok.encode_score(score)) / len(bar_starts(score)))
        parts.append(len({(t.is_drum, t.program) for t in score.tracks}))
        if len(rates) >= n:
            break
    return np.array(rates), np.array(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", action="append", required=True)
    ap.add_argument("--per-corpus", type=int, default=60)
    args = ap.parse_args()
    tok = Tokenizer.default()
    print("| corpus | pieces | instruments (median) | tokens/bar p10 | p50 | p90 "
          "| bars in 1,024 | bars in 2,048 |")
    print("|---|---|---|---|---|---|---|---|")
    for spec in args.corpus:
        rates, parts = per_bar(spec, args.per_corpus, tok)
        p10, p50, p90 = np.percentile(rates, [10, 50, 90])
        print(f"| {spec.split(':')[0]} | {len(rates)} | {np.median(parts):.0f} | {p10:.0f} | {p50:.0f} "
              f"| {p90:.0f} | {1024 / p50:.1f} | {2048 / p50:.1f} |")


if __name__ == "__main__":
    main()
