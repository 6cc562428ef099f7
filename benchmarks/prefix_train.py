"""Training step time with the soft text prefix off and on (model/prefix.py).

    python benchmarks/prefix_train.py [--segments runs/segments2] [--preset debug] [--steps 40] [--prefix 4]

Runs a few optimizer steps of `train()` twice on the same windows, once without a prefix
and once with one, in a temporary folder, and prints seconds per step and their ratio. The
prefix run embeds each batch's captions with frozen MiniLM (cached by string), so its cost
beside the decoder's is what this measures; MiniLM is loaded before timing starts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def seconds_per_step(segments: str, preset: str, steps: int, prefix: int, batch: int, out: Path) -> float:
    from tunesmith.training import TrainConfig, train

    cfg = TrainConfig(segments=segments, out=str(out), preset=preset, batch_size=batch, max_steps=steps,
                      eval_steps=10 * steps, save_steps=10 * steps, eval_batches=1, warmup_steps=1,
                      threads=1, prefix=prefix)
    train(cfg)
    history = json.loads((out / "log_history.json").read_text())
    return float(next(h["train_runtime"] for h in history if "train_runtime" in h)) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--segments", default="runs/segments2")
    ap.add_argument("--preset", default="debug")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--prefix", type=int, default=4)
    args = ap.parse_args()
    from tunesmith.retrieval.text_encoder import load_text_model

    load_text_model()  # loading MiniLM is a one-off cost, not a per-step one
    with tempfile.TemporaryDirectory() as tmp:
        off = seconds_per_step(args.segments, args.preset, args.steps, 0, args.batch, Path(tmp) / "off")
        on = seconds_per_step(args.segments, args.preset, args.steps, args.prefix, args.batch, Path(tmp) / "on")
    print(f"{args.preset}, batch {args.batch}, {args.steps} steps: prefix off {off:.3f} s/step, "
          f"prefix {args.prefix} {on:.3f} s/step, ratio {on / off:.2f}")


if __name__ == "__main__":
    main()
