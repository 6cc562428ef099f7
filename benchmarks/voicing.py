"""How many notes each instrument family starts together in the training windows: the
measurement behind `attributes.FAMILY_VOICES` (the 99.9th percentile), beside generated pieces.

    python benchmarks/voicing.py --segments runs/seg_band [--midi-dir runs/listening/free_midi]

Reads a `tunesmith data segments` folder's train.npz (token ids): notes that share a Position
and a Program token are one onset's chord. With --midi-dir, the same count over the pitched
tracks of those MIDI files (e.g. the listening benchmark's generated pieces).
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np

from tunesmith.attributes import DRUMS, family
from tunesmith.generation import get_checkpoint
from tunesmith.midi import load_score


def window_chords(segments: Path) -> dict[str, np.ndarray]:
    """Notes per (onset, program) in the windows, grouped by family."""
    tok = get_checkpoint(None).tokenizer
    music = np.load(segments / "train.npz")["music"].astype(np.int64)
    kind = np.array([t.split("_", 1)[0] for t in tok.tokens])[music]
    onset = np.cumsum(np.isin(kind, ["Position", "Bar"]))  # one id per position of every window
    programs = kind == "Program"
    keys, counts = np.unique(onset[programs] * len(tok) + music[programs], return_counts=True)
    out = collections.defaultdict(list)
    for token, n in zip(keys % len(tok), counts, strict=True):
        program = tok.program_of(int(token))
        out["drums" if program == DRUMS else family(program)].append(n)
    return {k: np.array(v) for k, v in out.items()}


def midi_chords(folder: Path) -> dict[str, np.ndarray]:
    out = collections.defaultdict(list)
    for path in sorted(folder.glob("*.mid")):
        for track in load_score(path).tracks:
            if not track.is_drum:
                out[family(int(track.program))] += collections.Counter(n.time for n in track.notes).values()
    return {k: np.array(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segments", type=Path, default=Path("runs/seg_band"))
    ap.add_argument("--midi-dir", type=Path, default=None)
    args = ap.parse_args()
    data = window_chords(args.segments)
    made = midi_chords(args.midi_dir) if args.midi_dir else {}
    print("| family | onsets | notes per onset | 99.9th pct | > 6 % | generated notes per onset "
          "| generated > 6 % |")
    print("|---|---|---|---|---|---|---|")
    for name, v in sorted(data.items()):
        g = made.get(name)
        gen = f"{g.mean():.2f} | {100 * np.mean(g > 6):.1f}" if g is not None and len(g) else "— | —"
        print(f"| {name} | {len(v)} | {v.mean():.2f} | {np.percentile(v, 99.9):.0f} | "
              f"{100 * np.mean(v > 6):.2f} | {gen} |")


if __name__ == "__main__":
    main()
