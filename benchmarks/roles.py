"""What a role token does at equal weights: one instrument told "lead", "chords" or nothing,
same prompt and seeds; notes a bar and polyphony (notes an onset) of the part, per seed.
With --densities, the role is the usual one and the part is told each of those notes a bar.

    python benchmarks/roles.py --model runs/train_stage8/final [--seeds 4]
    python benchmarks/roles.py --model runs/train_stage10/final --densities 4,8,12,16

Stage 8 (`configs/band_stage8.yaml`): the trumpet plays 4.0-13.1 notes a bar told either role,
and a piano told "lead" still plays chords: the role as read from notes says little of how
busy a part is (docs/eval/listening.md). A model without role tokens reads every row alike.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunesmith.model import Checkpoint

CASES = (("a sad trumpet melody in C minor", 56), ("a calm piano piece in A minor at 70 bpm", 0),
         ("a short organ chorale in F major", 19), ("bossa nova guitar at 120 bpm", 24))
ROLE = {56: "lead", 0: "chords", 19: "chords", 24: "chords"}  # what each plays alone, for --densities


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="checkpoint folder (one trained with role tokens)")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--densities", default="", help="comma-separated notes a bar to tell (a model "
                    "trained with part densities); default: the roles sweep")
    args = ap.parse_args()
    from tunesmith.attributes import DENSITY_MAX
    from tunesmith.generation.generate import get_checkpoint

    bad = f"--densities {args.densities!r}: allowed comma-separated integers 0..{DENSITY_MAX}"
    try:
        told = [int(k) for k in args.densities.split(",") if k.strip()]
    except ValueError:
        ap.error(bad)
    if any(not 0 <= k <= DENSITY_MAX for k in told):
        ap.error(bad)  # checked before the model loads, not when the first piece is asked
    ckpt = get_checkpoint(args.model)
    print(f"| prompt | {'notes a bar told' if told else 'role told'} | notes a bar / polyphony, by seed |"
          "\n|---|---|---|")
    for prompt, program in CASES:
        for role, density in ([(ROLE[program], k) for k in told] if told
                              else [("lead", None), ("chords", None), (None, None)]):
            cells = [cell(ckpt, prompt, program, role, density, seed) for seed in range(args.seeds)]
            said = density if told else role or "none"
            print(f"| {prompt} | {said} | {', '.join(cells)} |", flush=True)


def cell(ckpt: Checkpoint, prompt: str, program: int, role: str | None, density: int | None,
         seed: int) -> str:
    """One piece: the part's notes a bar / polyphony, or "silent"."""
    from tunesmith.evaluation.listening import parts
    from tunesmith.generation.generate import generate, resolve

    request = resolve(prompt)
    asked = replace(request.attributes, instruments=(program,),
                    roles=((program, role),) if role else None,
                    densities=((program, density),) if density is not None else None)
    score = generate(replace(request, attributes=asked), seed=seed, checkpoint=ckpt)[0].score
    part = [p for p in parts(score) if p.program == program]
    return f"{part[0].notes_per_bar:.1f} / {part[0].polyphony:.2f}" if part else "silent"


if __name__ == "__main__":
    main()
