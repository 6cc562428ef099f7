"""How many notes each instrument family starts together in the training windows: the
measurement behind `attributes.FAMILY_VOICES` (the 99.9th percentile), beside generated pieces;
with --per-bar, how many notes a part plays in a bar, behind `attributes.FAMILY_DENSITY` (the
median over the bars a part plays in); with --ranges, the pitches each family plays (the
0.5th and 99.5th percentiles) and the share of generated notes outside them (stage 7 on the
band windows: none but organ 4.1 % and ensemble 0.7 %, so no range is held by the grammar).

    python benchmarks/voicing.py --segments runs/seg_band [--per-bar | --ranges] \
        [--midi-dir runs/listening/free_midi]

Reads a `tunesmith data segments` folder's train.npz (token ids): notes that share a Position
and a Program token are one onset's chord; a Bar token starts a bar. With --midi-dir, the same
count over the tracks of those MIDI files (e.g. the listening benchmark's generated pieces).
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


def window_chords(segments: Path) -> dict[str, np.ndarray]:
    """Notes per (onset, program) in the windows, grouped by family."""
    return window_counts(segments, ("Position", "Bar"))


def window_counts(segments: Path, starts: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Notes per (span, program) in the windows, grouped by family, a span starting at each
    token of a type in `starts` (Position and Bar: an onset; Bar: a bar)."""
    tok = get_checkpoint(None).tokenizer
    music = np.load(segments / "train.npz")["music"].astype(np.int64)
    kind = np.array([t.split("_", 1)[0] for t in tok.tokens])[music]
    span = np.cumsum(np.isin(kind, starts))  # one id per span of every window
    programs = kind == "Program"
    keys, counts = np.unique(span[programs] * len(tok) + music[programs], return_counts=True)
    out = collections.defaultdict(list)
    for token, n in zip(keys % len(tok), counts, strict=True):
        program = tok.program_of(int(token))
        out["drums" if program == DRUMS else family(program)].append(n)
    return {k: np.array(v) for k, v in out.items()}


def midi_chords(folder: Path) -> dict[str, np.ndarray]:
    out: dict[str, list[int]] = collections.defaultdict(list)
    for path in sorted(folder.glob("*.mid")):
        for track in load_score(path).tracks:
            if not track.is_drum:
                out[family(int(track.program))] += collections.Counter(n.time for n in track.notes).values()
    return {k: np.array(v) for k, v in out.items()}


def midi_density(folder: Path) -> dict[str, np.ndarray]:
    """Notes per (bar, track) of the MIDI files, for the bars a track plays in, by family."""
    out: dict[str, list[int]] = collections.defaultdict(list)
    for path in sorted(folder.glob("*.mid")):
        score = load_score(path)
        starts = np.array(bar_starts(score))
        for track in score.tracks:
            bars = np.searchsorted(starts, [n.time for n in track.notes], side="right")
            name = "drums" if track.is_drum else family(int(track.program))
            out[name] += list(collections.Counter(bars.tolist()).values())
    return {k: np.array(v) for k, v in out.items()}


def window_pitches(segments: Path) -> dict[str, np.ndarray]:
    """The pitch of every pitched note in the windows (the Pitch token after each Program), by family."""
    tok = get_checkpoint(None).tokenizer
    music = np.load(segments / "train.npz")["music"].astype(np.int64)
    kind = np.array([t.split("_", 1)[0] for t in tok.tokens])
    at = np.flatnonzero(kind[music[:-1]] == "Program")
    at = at[kind[music[at + 1]] == "Pitch"]
    value = np.array([int(t.split("_")[1]) if t.startswith("Pitch_") else -1 for t in tok.tokens])
    out: dict[str, list[np.ndarray]] = collections.defaultdict(list)
    for token in np.unique(music[at]):
        out[family(tok.program_of(int(token)))].append(value[music[at + 1][music[at] == token]])
    return {k: np.concatenate(v) for k, v in out.items()}


def ranges(segments: Path, midi_dir: Path | None) -> None:
    data = window_pitches(segments)
    made: dict[str, list[int]] = collections.defaultdict(list)
    for path in sorted(midi_dir.glob("*.mid")) if midi_dir else []:
        for track in load_score(path).tracks:
            if not track.is_drum:
                made[family(int(track.program))] += [n.pitch for n in track.notes]
    print("| family | notes | 0.5th / 99.5th pct | generated notes outside |")
    print("|---|---|---|---|")
    for name, v in sorted(data.items()):
        lo, hi = np.percentile(v, [0.5, 99.5])
        g = np.array(made.get(name, []))
        gen = f"{100 * np.mean((g < round(lo)) | (g > round(hi))):.1f} % of {len(g)}" if len(g) else "—"
        print(f"| {name} | {len(v):,} | {lo:.0f} / {hi:.0f} | {gen} |")


def per_bar(segments: Path, midi_dir: Path | None) -> None:
    data = window_counts(segments, ("Bar",))
    made = midi_density(midi_dir) if midi_dir else {}
    print("| family | bars played | notes a bar: 25th / median / 75th pct | generated median (bars) |")
    print("|---|---|---|---|")
    for name, v in sorted(data.items()):
        q = np.percentile(v, [25, 50, 75])
        g = made.get(name)
        gen = f"{np.median(g):.0f} ({len(g)})" if g is not None and len(g) else "—"
        print(f"| {name} | {len(v):,} | {q[0]:.0f} / {q[1]:.0f} / {q[2]:.0f} | {gen} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segments", type=Path, default=Path("runs/seg_band"))
    ap.add_argument("--midi-dir", type=Path, default=None)
    ap.add_argument("--per-bar", action="store_true", help="notes a part plays in a bar, by family")
    ap.add_argument("--ranges", action="store_true", help="the pitches each family plays")
    args = ap.parse_args()
    if args.ranges:
        ranges(args.segments, args.midi_dir)
        return
    if args.per_bar:
        per_bar(args.segments, args.midi_dir)
        return
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
