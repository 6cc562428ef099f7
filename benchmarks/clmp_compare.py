"""CLMP checkpoints side by side on the same held-out pools of data builds.

Each pool is the test split of one build (the split of `tunesmith data build`, never trained
on by any CLMP trained with `tunesmith clmp train`), evaluated exactly as `clmp train` writes
test_report.json (`evaluate_split`: the build's caption of each piece against every piece
of the pool), once whole and once per group of corpora (--group NAME=CORPUS,CORPUS).

    python benchmarks/clmp_compare.py --data runs/clmp_band_data --data runs/clmp_data \
        --clmp shipped=src/tunesmith/assets/clmp --clmp band=runs/clmp_band \
        [--group old=pop909,groove,music21 --group band=midimancy,touhou,nottingham] \
        [--out runs/clmp_compare.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunesmith.retrieval import Clmp
from tunesmith.retrieval.clmp import ClmpData, Vocabulary, data_tokenizer, evaluate_split, load_split

VIEWS = ("text_to_music", "text_to_melody", "melody_to_music")


def subset(data: ClmpData, corpora: set[str]) -> ClmpData:
    """The pieces of `data` whose id starts with one of `corpora` (ids are corpus/...)."""
    keep = [i for i, pid in enumerate(data.ids) if pid.split("/")[0] in corpora]
    rows = [data.caption_rows[i] for i in keep]
    return ClmpData([data.ids[i] for i in keep], [data.full[i] for i in keep],
                    [data.melody[i] for i in keep], [data.captions[i] for i in keep],
                    data.text[np.concatenate(rows)] if rows else data.text[:0],
                    [np.arange(r, r + 1) for r in range(len(rows))] if rows else [])


def pools(data_dir: Path, groups: dict[str, set[str]]) -> dict[str, ClmpData]:
    """The test split of a build, whole and per group with at least 2 pieces."""
    test = load_split(data_dir, "test", Vocabulary(data_tokenizer(data_dir)), 1, 0)
    out = {f"{data_dir.name}": test}
    for name, corpora in groups.items():
        part = subset(test, corpora)
        if len(part) >= 2:
            out[f"{data_dir.name}:{name}"] = part
    return out


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Markdown: one row per (pool, checkpoint), R@1 / R@5 / mAP of each view."""
    head = "| pool | n | CLMP | " + " | ".join(f"{v} R@1 / R@5 / mAP" for v in VIEWS) + " |"
    lines = [head, "|" + "---|" * (3 + len(VIEWS))]
    for pool, by_model in results.items():
        for name, r in by_model.items():
            cells = [" / ".join(f"{r[v][m]:.3f}" for m in ("R@1", "R@5", "mAP")) for v in VIEWS]
            lines.append(f"| {pool} | {r['pool']} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, action="append", required=True)
    ap.add_argument("--clmp", action="append", required=True, help="NAME=DIR (repeat)")
    ap.add_argument("--group", action="append", default=[], help="NAME=CORPUS,CORPUS (repeat)")
    ap.add_argument("--out", type=Path, default=Path("runs/clmp_compare.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    groups = {g.split("=")[0]: set(g.split("=")[1].split(",")) for g in args.group}
    models = {c.split("=")[0]: Clmp.load(c.split("=", 1)[1]) for c in args.clmp}
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for data_dir in args.data:
        for pool, data in pools(data_dir, groups).items():
            results[pool] = {name: evaluate_split(m, data, np.random.default_rng(0))
                             for name, m in models.items()}
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
