"""Generation speed of tunesmith's sampler beside Hugging Face `generate()` on the same weights.

    python benchmarks/generate.py [--model PATH] [--bars 16] [--repeats 3] [--threads 2]

Each method runs in its own child process (so peak RSS is its own), on the same checkpoint
and header, at batch 1 and batch 8. Reported: tokens/s, notes/s, seconds of music per
second of compute, time to first note, peak RSS, the share of sampling steps where the
grammar overrode the model's top token, and the ratio against HF generate().
HF generate() samples the same number of new tokens without a grammar (it has none).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def _ours(model: str | None, batch: int, bars: int, threads: int, seed: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    from tunesmith.attributes import Attributes
    from tunesmith.generation import generate, get_checkpoint

    ckpt = get_checkpoint(model)
    attrs = Attributes(bars=bars, tempo=120, time_signature="4/4", instruments=(0, 33, 128))
    generate("warm-up", attributes=Attributes(bars=1), checkpoint=ckpt, seed=seed)
    first: list[float] = []
    start = time.perf_counter()

    def on_step(step: int) -> None:
        if step == 8 and not first:  # by then a Bar, TimeSig, Position, Program, Pitch, Velocity, Duration
            first.append(time.perf_counter() - start)

    out = generate("a pop song", attributes=attrs, checkpoint=ckpt, num=batch, seed=seed,
                   on_step=on_step)
    took = time.perf_counter() - start
    tokens = sum(len(g.tokens) for g in out)
    notes = sum(g.score.note_num() for g in out)
    music = sum(g.score.to("second").end() for g in out)
    masked = sum(g.masked_share for g in out) / len(out)
    return {"tokens": tokens, "notes": notes, "music_s": music, "s": took,
            "first_note_s": first[0] if first else took, "rss_mb": _rss(), "masked": masked}


def _hf(model: str | None, batch: int, n_tokens: int, threads: int, seed: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    from tunesmith.attributes import Attributes
    from tunesmith.generation import get_checkpoint

    ckpt = get_checkpoint(model)
    tok = ckpt.tokenizer
    header = tok.header(Attributes(bars=16, tempo=120, time_signature="4/4", instruments=(0, 33, 128)))
    ids = torch.tensor([header] * batch)
    torch.manual_seed(seed)
    ckpt.model.generate(ids, max_new_tokens=8, do_sample=True, top_p=0.95)  # warm-up
    start = time.perf_counter()
    out = ckpt.model.generate(ids, max_new_tokens=n_tokens, min_new_tokens=n_tokens,
                              do_sample=True, top_p=0.95, pad_token_id=tok.pad_id)
    took = time.perf_counter() - start
    new = out[:, len(header):]
    notes = 0
    for row in new.tolist():
        with contextlib.suppress(Exception):  # unconstrained samples may not decode
            notes += tok.decode(header + row).note_num()
    return {"tokens": int(new.numel()), "notes": notes, "music_s": float("nan"), "s": took,
            "first_note_s": float("nan"), "rss_mb": _rss(), "masked": float("nan")}


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(fn: Any, *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    print(f"{'method':<22}{'batch':>6}{'tok/s':>9}{'notes/s':>9}{'music s/s':>10}"
          f"{'1st note s':>11}{'RSS MB':>8}{'masked %':>9}{'x HF':>7}")
    for batch in (1, 8):
        ours = [_child(_ours, args.model, batch, args.bars, args.threads, r) for r in range(args.repeats)]
        best = min(ours, key=lambda r: r["s"] / r["tokens"])
        per_row = max(best["tokens"] // batch, 16)
        hf = [_child(_hf, args.model, batch, per_row, args.threads, r) for r in range(args.repeats)]
        hbest = min(hf, key=lambda r: r["s"] / r["tokens"])
        ratio = (best["tokens"] / best["s"]) / (hbest["tokens"] / hbest["s"])
        for name, r, x in (("HF generate()", hbest, 1.0), ("tunesmith sampler", best, ratio)):
            music = r["music_s"] / r["s"]
            print(f"{name:<22}{batch:>6}{r['tokens'] / r['s']:>9.0f}{r['notes'] / r['s']:>9.0f}"
                  f"{music:>10.1f}{r['first_note_s']:>11.3f}{r['rss_mb']:>8.0f}"
                  f"{100 * r['masked']:>9.1f}{x:>7.2f}")


if __name__ == "__main__":
    main()
