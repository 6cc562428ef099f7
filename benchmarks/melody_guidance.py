"""With vs without melody guidance (MG2's claim: a melody makes the result more coherent).

    python benchmarks/melody_guidance.py --seeds 2 [--model DIR] [--out-dir runs/melody_guidance]

Same prompts and seeds, written twice: plainly from the text (8 bars, in the front-ends' default
order, infilling.form.one_window), and around the melody
the shipped melody index retrieves for the prompt (the best phrase whose notes it stores,
POP909's, moved into the asked key; in the asked meter where one exists, else in 4/4).
Reported per system: key match (CK, the asked key detected by Krumhansl-Schmuckler), CLMP
text-music similarity, bar repetition and near-repetition, out-of-scale share, chord
changes, the asked instruments' share of bars, and the COSIATEC compression ratio (higher:
more repeated structure).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tunesmith.attributes import Attributes
from tunesmith.captions.features import estimate_key
from tunesmith.errors import InputError
from tunesmith.evaluation.adherence import key_match
from tunesmith.evaluation.compression import compression_ratio
from tunesmith.evaluation.listening import listen
from tunesmith.generation import get_checkpoint, resolve
from tunesmith.infilling import arrange
from tunesmith.infilling.form import one_window
from tunesmith.midi import save_midi
from tunesmith.retrieval.clmp import Clmp
from tunesmith.retrieval.index import MelodyIndex
from tunesmith.retrieval.search import best_melody
from tunesmith.theory import tonic_and_mode

PROMPTS = (
    "a sweet pop ballad for piano, strings and bass in G major",
    "an upbeat pop song with electric piano, bass and drums in D major",
    "a gentle waltz for flute and acoustic guitar in F major",
    "a melancholic piano and cello piece in A minor",
    "a cheerful rock song with overdriven guitar, bass and drums in E major",
    "a calm synth pop track with a lead synth, pad and bass in C major",
)


def melody_for(prompt: str, meter: str | None, mode: str | None, index: MelodyIndex,  # type: ignore[no-untyped-def]
               clmp: Clmp):
    """The best stored phrase in the asked meter and mode, else in any (POP909's are all in
    4/4), as `generate --melody retrieved` picks it (retrieval.search.best_melody)."""
    for m in dict.fromkeys((meter, None)):
        try:
            return best_melody(prompt, meter=m, mode=mode, index=index, clmp=clmp).melody
        except InputError:
            continue
    raise SystemExit(f"no stored melody for {prompt!r}")


def _mean(values: list[float | None]) -> float:
    return float(np.nanmean([np.nan if v is None else v for v in values]))


def summary(scores: list, attrs: list[Attributes], texts: list[str],  # type: ignore[type-arg]
            clmp: Clmp) -> dict[str, float]:
    heard = [listen(s, a, 8) for s, a in zip(scores, attrs, strict=True)]
    found = [estimate_key(s) for s in scores]
    ck = [bool(f) and key_match(a.key, f) for f, a in zip(found, attrs, strict=True) if a.key]
    sims = clmp.similarity(texts, scores)
    return {
        "CK": 100 * float(np.mean(ck)),
        "CLMP": float(np.mean(np.diag(sims))),
        "repeat": 100 * float(np.mean([h.form.repeat or 0 for h in heard])),
        "near": 100 * float(np.mean([h.form.near_repeat or 0 for h in heard])),
        "oos": 100 * _mean([h.harmony.out_of_scale for h in heard]),
        "change": 100 * _mean([h.own_harmony.chord_change for h in heard]),
        "asked": 100 * _mean([float(np.mean(list(h.asked.values()))) if h.asked else None for h in heard]),
        "CR": float(np.mean([compression_ratio(s) for s in scores])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out-dir", type=Path, default=Path("runs/melody_guidance"))
    args = ap.parse_args()
    ckpt, clmp, index = get_checkpoint(args.model), Clmp.load(), MelodyIndex.open()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, tuple[list, list, list]] = {  # type: ignore[type-arg]
        "text only": ([], [], []), "melody-guided": ([], [], [])}
    for p, text in enumerate(PROMPTS):
        request = resolve(text, Attributes(bars=8))
        key = request.attributes.key
        tune = melody_for(text, request.attributes.time_signature, tonic_and_mode(key)[1] if key else None,
                          index, clmp)
        for seed in range(args.seeds):
            plain = one_window(request, seed=seed, checkpoint=ckpt)[0].score
            guided = arrange(tune, request.attributes, seed=seed, checkpoint=ckpt).score
            for name, score in (("text only", plain), ("melody-guided", guided)):
                save_midi(score, args.out_dir / f"{name.replace(' ', '_')}-{p}-{seed}.mid")
                rows[name][0].append(score)
                rows[name][1].append(request.attributes)
                rows[name][2].append(text)
    print(f"{len(PROMPTS)} prompts x {args.seeds} seeds")
    print("| system | CK % | CLMP | repeat % | near-repeat % | out-of-scale % | chord change % "
          "| asked play % | CR |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (scores, attrs, texts) in rows.items():
        m = summary(scores, attrs, texts, clmp)
        print(f"| {name} | {m['CK']:.0f} | {m['CLMP']:.3f} | {m['repeat']:.0f} | {m['near']:.0f} "
              f"| {m['oos']:.1f} | {m['change']:.0f} | {m['asked']:.0f} | {m['CR']:.2f} |")


if __name__ == "__main__":
    main()
