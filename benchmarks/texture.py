"""How many notes a part plays in a bar, by instrument family, in the training windows: the
measurement behind `attributes.FAMILY_DENSITY` (the median over the bars a part plays in),
beside generated pieces.

    python benchmarks/texture.py --segments runs/seg_band [--midi-dir runs/listening/free_midi]

Reads a `tunesmith data segments` folder's train.npz (token ids): a Program token starts a
note, a Bar token a bar. With --midi-dir, the same count over the tracks of those MIDI files
(e.g. the listening benchmark's generated pieces).
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np

from tunesmith.attributes import DRUMS, family
from tunesmith.generation import get_checkpoint
from tunesmith.midi import load_score
from tunesmith.theory import bar_starts


def window_density(segments: Path) -> dict[str, np.ndarray]:
    """Notes per (bar, program) in the windows, for the bars a program plays in, by family."""
    tok = get_checkpoint(None).tokenizer
    music = np.load(segments / "train.npz")["music"].astype(np.int64)
    kind = np.array([t.split("_", 1)[0] for t in tok.tokens])[music]
    bar = np.cumsum(kind == "Bar")  # one id per bar of every window
    programs = kind == "Program"
    keys, counts = np.unique(bar[programs] * len(tok) + music[programs], return_counts=True)
    out = collections.defaultdict(list)
    for token, n in zip(keys % len(tok), counts, strict=True):
        program = tok.program_of(int(token))
        out["drums" if program == DRUMS else family(program)].append(n)
    return {k: np.array(v) for k, v in out.items()}


def midi_density(folder: Path) -> dict[str, np.ndarray]:
    out = collections.defaultdict(list)
    for path in sorted(folder.glob("*.mid")):
        score = load_score(path)
        starts = np.array(bar_starts(score))
        for track in score.tracks:
            bars = np.searchsorted(starts, [n.time for n in track.notes], side="right")
            name = "drums" if track.is_drum else family(int(track.program))
            out[name] += list(collections.Counter(bars.tolist()).values())
    return {k: np.array(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segments", type=Path, default=Path("runs/seg_band"))
    ap.add_argument("--midi-dir", type=Path, default=None)
    args = ap.parse_args()
    data = window_density(args.segments)
    made = midi_density(args.midi_dir) if args.midi_dir else {}
    print("| family | bars played | notes a bar: 25th / median / 75th pct | generated median (bars) |")
    print("|---|---|---|---|")
    for name, v in sorted(data.items()):
        q = np.percentile(v, [25, 50, 75])
        g = made.get(name)
        gen = f"{np.median(g):.0f} ({len(g)})" if g is not None and len(g) else "—"
        print(f"| {name} | {len(v):,} | {q[0]:.0f} / {q[1]:.0f} / {q[2]:.0f} | {gen} |")


if __name__ == "__main__":
    main()
