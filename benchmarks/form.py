"""Form and chords: planned pieces against one-window pieces, on the same prompts and seeds.

    python benchmarks/form.py --bars 16 --seeds 2 [--model DIR] [--out-dir runs/form]

Each prompt names instruments, a key and a chord progression. Written twice per seed: as one
window (the plain sampler, --form off) and with the section plan (A A' B A' for 16 bars).
Reported: bar repetition and near-repetition (listening metrics: Jaccard >= 0.9 / 0.6 with an
earlier bar), drum pattern similarity, asked instruments' share of bars, chord agreement
(share of bars whose detected chord has the asked chord's root and quality; "root" counts the
root alone) and majmin agreement (evaluation.listening.chord_agreement: the bar's best major
or minor triad, or one tied with it, is the asked chord reduced to major/minor, MIREX's
"majmin" vocabulary), with
chord_strength 0 (no chord preference) and the default. With --data, a reference row scores
held-out POP909 songs (data.build.split_of) against their own annotated chords
(chord_midi.txt, bars from beat_midi.txt's downbeats): how far real music agrees with its
chords under the same measure. The other real-music reference rows are in
docs/eval/listening.md.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from tunesmith.attributes import Attributes
from tunesmith.captions import parse
from tunesmith.data.build import split_of
from tunesmith.evaluation.listening import bar_chroma, bar_lines, chord_agreement, listen
from tunesmith.generation import SamplingConfig, get_checkpoint, resolve
from tunesmith.infilling.form import generate_with_form, one_window, plan_for
from tunesmith.midi import load_score, save_midi
from tunesmith.theory import chord_name

PROMPTS = (
    "a pop song for piano, bass and drums in C major, chords C G Am F",
    "an energetic rock song with distorted guitar, bass and drums in E minor, chords Em C G D",
    "a mellow jazz trio with piano, acoustic bass and drums in F major, chords Gm7 C7 Fmaj7 Dm7",
    "a folk tune for fiddle and acoustic guitar in D major, chords D G A D",
)


def _root(name: str) -> str:
    return name[:2] if len(name) > 1 and name[1] in "#b" else name[:1]


def agreement(detected: tuple[str | None, ...], asked: tuple[str, ...]) -> tuple[float, float]:
    """(exact, root) shares of bars whose detected chord matches the asked one of that bar."""
    exact = root = 0
    for b, found in enumerate(detected):
        want = chord_name(asked[b % len(asked)])
        exact += int(found == want)
        root += int(found is not None and _root(found) == _root(want))
    n = max(len(detected), 1)
    return exact / n, root / n


def pop909_agreement(root_dir: Path, songs: int) -> tuple[float, int]:
    """Mean majmin agreement of held-out POP909 songs with their annotated chords, and the
    number of bars scored."""
    shares, bars = [], 0
    for folder in sorted(p for p in root_dir.iterdir() if p.is_dir()):
        if split_of(f"pop909/{folder.name}") != "test" or len(shares) >= songs:
            continue
        chroma, asked = _annotated_bars(folder)
        share = chord_agreement(chroma, asked)
        if share is not None:
            shares.append(share)
            bars += sum(a is not None for a in asked)
    return float(np.mean(shares)), bars


def _annotated_bars(folder: Path) -> tuple[np.ndarray, list[str | None]]:
    """Per bar (between annotated downbeats, in seconds): chroma and the
    annotated chord that covers most of the bar ("B:maj" -> "B", "Eb:min7" -> "Ebm7")."""
    beats = np.loadtxt(folder / "beat_midi.txt", ndmin=2)
    lines = beats[beats[:, 2] == 1.0, 0]
    score = load_score(folder / f"{folder.name}.mid").to("second")
    chroma = np.zeros((len(lines) - 1, 12))
    for track in score.tracks:
        for n in track.notes:
            for b in range(max(int(np.searchsorted(lines, n.time, "right")) - 1, 0), len(lines) - 1):
                overlap = min(n.time + n.duration, lines[b + 1]) - max(n.time, lines[b])
                if lines[b] >= n.time + n.duration:
                    break
                if overlap > 0:
                    chroma[b, n.pitch % 12] += overlap
    text = (folder / "chord_midi.txt").read_text()
    segments = [line.split("\t") for line in text.splitlines() if line.strip()]
    asked: list[str | None] = []
    for a, b in zip(lines[:-1], lines[1:], strict=True):
        cover = [(min(float(e), b) - max(float(s), a), lab) for s, e, lab in segments]
        best = max(cover, key=lambda c: c[0])
        asked.append(_pop909_chord(best[1]) if best[0] > 0 else None)
    return chroma, asked


def _pop909_chord(label: str) -> str | None:
    """POP909's Harte-style label as a chord name, or None for no chord or other qualities."""
    if ":" not in label:
        return None
    root, quality = label.split(":", 1)
    base = quality.split("/")[0].split("(")[0]  # no inversion, no added tones
    suffix = {"maj": "", "min": "m", "7": "7", "maj7": "maj7", "min7": "m7"}.get(base)
    return None if suffix is None else root + suffix


def row(scores: list, attrs: list[Attributes], bars: int) -> dict[str, float]:  # type: ignore[type-arg]
    rep, near, drum, asked, exact, root, mm = [], [], [], [], [], [], []
    for score, a in zip(scores, attrs, strict=True):
        heard = listen(score, a, bars)
        rep.append(heard.form.repeat or 0.0)
        near.append(heard.form.near_repeat or 0.0)
        if heard.groove is not None and heard.groove.pattern_similarity is not None:
            drum.append(heard.groove.pattern_similarity)
        asked.append(np.mean(list(heard.asked.values())) if heard.asked else np.nan)
        e, r = agreement(heard.own_harmony.chords, a.chords or ())
        exact.append(e)
        root.append(r)
        chroma, _ = bar_chroma(score, bar_lines(score, bars))
        plan = [(a.chords or ())[b % len(a.chords)] if a.chords else None for b in range(bars)]
        mm.append(chord_agreement(chroma, plan))
    return {"repeat": np.mean(rep), "near": np.mean(near), "drums": np.mean(drum) if drum else np.nan,
            "asked": np.nanmean(asked), "chord": np.mean(exact), "root": np.mean(root),
            "majmin": np.mean([m for m in mm if m is not None])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out-dir", type=Path, default=Path("runs/form"))
    ap.add_argument("--data", type=Path, default=None, help="shared corpora folder: adds the POP909 row")
    ap.add_argument("--strengths", default=f"0,{SamplingConfig().chord_strength:g}",
                    help="chord strengths to compare, comma-separated")
    args = ap.parse_args()
    ckpt = get_checkpoint(args.model)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_for(args.bars)
    print(f"plan for {args.bars} bars: {plan.text()}; {len(PROMPTS)} prompts x {args.seeds} seeds")
    print("| system | chord strength | repeat % | near-repeat % | drum sim | asked play % | chord % | root % "
          "| majmin % |")
    print("|---|---|---|---|---|---|---|---|---|")
    if args.data is not None:
        share, n = pop909_agreement(args.data / "pop909", 40)
        print(f"| POP909 held-out vs its annotated chords ({n} bars) | — | — | — | — | — | — | — "
              f"| {100 * share:.0f} |", flush=True)
    for strength in (float(x) for x in args.strengths.split(",")):
        sampling = SamplingConfig(chord_strength=strength)
        for name in ("one window", "planned form"):
            scores, attrs = [], []
            for p, text in enumerate(PROMPTS):
                request = resolve(text, Attributes(bars=args.bars))
                for seed in range(args.seeds):
                    if name == "one window":
                        score = one_window(request, seed=seed, sampling=sampling, checkpoint=ckpt)[0].score
                    else:
                        score = generate_with_form(request, plan, seed=seed, sampling=sampling, checkpoint=ckpt)
                    save_midi(score, args.out_dir / f"{name.replace(' ', '_')}-{strength:g}-{p}-{seed}.mid")
                    scores.append(score)
                    attrs.append(replace(request.attributes, chords=parse(text).chords))
            m = row(scores, attrs, args.bars)
            print(f"| {name} | {strength:g} | {100 * m['repeat']:.0f} | {100 * m['near']:.0f} "
                  f"| {m['drums']:.2f} | {100 * m['asked']:.0f} | {100 * m['chord']:.0f} "
                  f"| {100 * m['root']:.0f} | {100 * m['majmin']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
