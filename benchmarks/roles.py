"""What a role token does at equal weights: one instrument told "lead", "chords" or nothing,
same prompt and seeds; notes a bar and polyphony (notes an onset) of the part, per seed.

    python benchmarks/roles.py --model runs/train_stage8/final [--seeds 4]

Stage 8 (`configs/band_stage8.yaml`): the trumpet plays 4.0-13.1 notes a bar told either role,
and a piano told "lead" still plays chords: the role as read from notes says little of how
busy a part is (docs/eval/listening.md). A model without role tokens reads every row alike.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

CASES = (("a sad trumpet melody in C minor", 56), ("a calm piano piece in A minor at 70 bpm", 0),
         ("a short organ chorale in F major", 19), ("bossa nova guitar at 120 bpm", 24))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="checkpoint folder (one trained with role tokens)")
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()
    from tunesmith.evaluation.listening import parts
    from tunesmith.generation.generate import generate, get_checkpoint, resolve

    ckpt = get_checkpoint(args.model)
    print("| prompt | role told | notes a bar / polyphony, by seed |\n|---|---|---|")
    for prompt, program in CASES:
        for role in ("lead", "chords", None):
            request = resolve(prompt)
            asked = replace(request.attributes, instruments=(program,),
                            roles=((program, role),) if role else None)
            cells = []
            for seed in range(args.seeds):
                score = generate(replace(request, attributes=asked), seed=seed, checkpoint=ckpt)[0].score
                part = [p for p in parts(score) if p.program == program]
                cells.append(f"{part[0].notes_per_bar:.1f} / {part[0].polyphony:.2f}" if part else "silent")
            print(f"| {prompt} | {role or 'none'} | {', '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
