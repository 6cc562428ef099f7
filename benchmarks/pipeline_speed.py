"""Time to write a piece as the CLI writes it (`infilling.form.write_pieces`: a section plan,
parts track by track, drums from the groove index with the model's bars between) beside the
one-window interleaved sampler (`generation.generate`, the baseline), in the same process.

    python benchmarks/pipeline_speed.py [--bars 16] [--repeats 3] [--threads 2]

The prompt asks piano, bass and drums at 120 bpm in 4/4 (16 bars = 32 s of music). Reported
per path: median seconds per piece, seconds of music per second of compute, and the ratio to
the baseline; the issue's bar is 30 s of music in under 5 s at batch 1.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from tunesmith.attributes import DRUMS, Attributes
    from tunesmith.generation import SamplingConfig, generate, get_checkpoint, resolve
    from tunesmith.infilling.form import write_pieces

    ckpt = get_checkpoint(args.model)
    attrs = Attributes(instruments=(0, 33, DRUMS), tempo=120, time_signature="4/4", bars=args.bars)
    request = resolve("a pop song with piano, bass and drums", attrs)
    music = args.bars * 4 * 60 / 120
    paths = {
        "one window, interleaved (generate)": lambda s: generate(request, seed=s,
                                                                 sampling=SamplingConfig(order="interleaved")),
        "as the CLI writes it (write_pieces)": lambda s: write_pieces(request, seed=s, checkpoint=ckpt),
        # the texture steer's cost per token, and the tokens it saves (fewer notes)
        "the same, `--texture off`": lambda s: write_pieces(request, seed=s, checkpoint=ckpt,
                                                           sampling=SamplingConfig(texture="off")),
    }
    generate(request, seed=99, checkpoint=ckpt)  # warm-up: engine conversion, caches
    base = None
    print(f"{args.bars} bars ({music:.0f} s of music), {args.threads} threads, median of {args.repeats}")
    print("| path | s per piece | music s per s | × baseline |\n|---|---|---|---|")
    for name, run in paths.items():
        times = []
        for seed in range(args.repeats):
            start = time.perf_counter()
            run(seed)
            times.append(time.perf_counter() - start)
        t = statistics.median(times)
        base = base or t
        print(f"| {name} | {t:.2f} | {music / t:.1f} | {t / base:.2f} |")


if __name__ == "__main__":
    main()
