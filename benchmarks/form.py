"""Form and chords: planned pieces against one-window pieces, on the same prompts and seeds.

    python benchmarks/form.py --bars 16 --seeds 2 [--model DIR] [--out-dir runs/form]

Each prompt names instruments, a key and a chord progression. Written twice per seed: as one
window (the plain sampler, --form off) and with the section plan (A A' B A' for 16 bars).
Reported: bar repetition and near-repetition (listening metrics: Jaccard >= 0.9 / 0.6 with an
earlier bar), drum pattern similarity, asked instruments' share of bars, chord agreement
(share of bars whose detected chord has the asked chord's root and quality; "root" counts the
root alone), with chord_strength 0 (no chord preference) and the default. The real-music
reference rows of these metrics are in docs/eval/listening.md.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from tunesmith.attributes import Attributes
from tunesmith.captions import parse
from tunesmith.evaluation.listening import listen
from tunesmith.generation import SamplingConfig, generate, get_checkpoint, resolve
from tunesmith.infilling.form import generate_with_form, plan_for
from tunesmith.midi import save_midi
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


def row(scores: list, attrs: list[Attributes], bars: int) -> dict[str, float]:  # type: ignore[type-arg]
    rep, near, drum, asked, exact, root = [], [], [], [], [], []
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
    return {"repeat": np.mean(rep), "near": np.mean(near), "drums": np.mean(drum) if drum else np.nan,
            "asked": np.nanmean(asked), "chord": np.mean(exact), "root": np.mean(root)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out-dir", type=Path, default=Path("runs/form"))
    ap.add_argument("--strengths", default=f"0,{SamplingConfig().chord_strength:g}",
                    help="chord strengths to compare, comma-separated")
    args = ap.parse_args()
    ckpt = get_checkpoint(args.model)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_for(args.bars)
    print(f"plan for {args.bars} bars: {plan.text()}; {len(PROMPTS)} prompts x {args.seeds} seeds")
    print("| system | chord strength | repeat % | near-repeat % | drum sim | asked play % | chord % | root % |")
    print("|---|---|---|---|---|---|---|---|")
    for strength in (float(x) for x in args.strengths.split(",")):
        sampling = SamplingConfig(chord_strength=strength)
        for name in ("one window", "planned form"):
            scores, attrs = [], []
            for p, text in enumerate(PROMPTS):
                request = resolve(text, Attributes(bars=args.bars))
                for seed in range(args.seeds):
                    if name == "one window":
                        score = generate(request, seed=seed, sampling=sampling, checkpoint=ckpt)[0].score
                    else:
                        score = generate_with_form(request, plan, seed=seed, sampling=sampling, checkpoint=ckpt)
                    save_midi(score, args.out_dir / f"{name.replace(' ', '_')}-{strength:g}-{p}-{seed}.mid")
                    scores.append(score)
                    attrs.append(replace(request.attributes, chords=parse(text).chords))
            m = row(scores, attrs, args.bars)
            print(f"| {name} | {strength:g} | {100 * m['repeat']:.0f} | {100 * m['near']:.0f} "
                  f"| {m['drums']:.2f} | {100 * m['asked']:.0f} | {100 * m['chord']:.0f} "
                  f"| {100 * m['root']:.0f} |")


if __name__ == "__main__":
    main()
