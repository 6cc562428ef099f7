"""Generation speed of tunesmith's sampler beside Hugging Face `generate()` on the same weights,
and the int8 engine's quality against fp32.

    python benchmarks/generate.py [--model PATH] [--bars 16] [--repeats 3] [--threads 2]
    python benchmarks/generate.py --quality [--pieces 8]

Each method runs in its own child process (so peak RSS is its own), on the same checkpoint
and header, at batch 1 and batch 8: the sampler on the ONNX Runtime GenAI engine (int8 and
fp32 weights) and on the NumPy decoder. Reported: tokens/s, notes/s, seconds of music per
second of compute, time to first note, peak RSS, the share of sampling steps where the
grammar overrode the model's top token, and the ratio against HF generate().
HF generate() samples the same number of new tokens without a grammar (it has none).
`--quality` teacher-forces token windows (pieces sampled with fp32 from varied prompts)
through both engines and HF, and reports logit differences, KL, top-1 agreement and the
log-likelihood of the real next tokens; then the adherence reward and grammar override
share of pieces sampled with each (distributions: the tokens differ).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing as mp
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

DECODERS = {"NumPy decoder": "numpy", "engine fp32": "fp32", "engine int8": "int8"}


def _ours(model: str | None, batch: int, bars: int, threads: int, seed: int, decoder: str) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    os.environ["TUNESMITH_THREADS"] = str(threads)  # the engine's intra-op threads
    from tunesmith.attributes import Attributes
    from tunesmith.generation import SamplingConfig, generate, get_checkpoint

    ckpt = get_checkpoint(model)
    attrs = Attributes(bars=bars, tempo=120, time_signature="4/4", instruments=(0, 33, 128))
    cfg = SamplingConfig(decoder=decoder)
    # the warm-up also converts the checkpoint for the engine on a first run (cached after)
    generate("warm-up", attributes=Attributes(bars=1), checkpoint=ckpt, seed=seed, sampling=cfg)
    first: list[float] = []
    start = time.perf_counter()

    def on_step(step: int) -> None:
        if step == 8 and not first:  # by then a Bar, TimeSig, Position, Program, Pitch, Velocity, Duration
            first.append(time.perf_counter() - start)

    out = generate("a pop song", attributes=attrs, checkpoint=ckpt, num=batch, seed=seed,
                   on_step=on_step, sampling=cfg)
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
    os.environ["TUNESMITH_THREADS"] = str(threads)  # the engine's intra-op threads
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


QUALITY_PROMPTS = (
    "a calm piano piece in C major", "fast rock with drums, bass and electric guitar",
    "a sad waltz in A minor", "jazz trio: piano, bass and drums", "an upbeat pop song",
    "slow strings in D minor", "a march for brass band", "funky bass and drums at 110 bpm",
)


def _teacher(ckpt: Any, seq: list[int], head: int, decoder: str) -> Any:
    """(T, V) engine logits for positions head-1 .. len-2 of `seq`, fed token by token."""
    import numpy as np
    import torch

    from tunesmith.generation.engine import EngineDecoder

    dec = EngineDecoder(ckpt, 1, len(seq), decoder)  # feeds len(seq) - 1 tokens
    out = [dec.forward(torch.tensor([seq[:head]])).numpy()[0]]
    out += [dec.forward(torch.tensor([[t]])).numpy()[0] for t in seq[head:-1]]
    return np.stack(out)


def _quality(model: str | None, pieces: int) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from tunesmith.generation import SamplingConfig, generate, get_checkpoint

    ckpt = get_checkpoint(model)
    prompts = [QUALITY_PROMPTS[i % len(QUALITY_PROMPTS)] for i in range(pieces)]
    fp32 = SamplingConfig(decoder="fp32")
    windows = [generate(p, checkpoint=ckpt, seed=100 + i, sampling=fp32)[0] for i, p in enumerate(prompts)]
    stats: dict[str, list[Any]] = {"fp32": [], "int8": []}
    for g in windows:
        seq = g.tokens[: ckpt.config.max_len]
        head = seq.index(ckpt.tokenizer.cond_end_id) + 1
        with torch.no_grad():
            ref = ckpt.model(torch.tensor([seq])).logits[0, head - 1 : -1].double().numpy()
        nxt = np.array(seq[head:])
        for name in stats:
            got = _teacher(ckpt, seq, head, name).astype(np.float64)
            lp, lq = (x - np.logaddexp.reduce(x, -1, keepdims=True) for x in (ref, got))
            stats[name].append(np.stack([
                np.abs(got - ref).max(-1), np.abs(got - ref).mean(-1),
                (np.exp(lp) * (lp - lq)).sum(-1), got.argmax(-1) == ref.argmax(-1),
                -lq[np.arange(len(nxt)), nxt] + lp[np.arange(len(nxt)), nxt],
            ]))
    n = sum(s.shape[1] for s in stats["int8"])
    print(f"teacher-forced logits against HF fp32: {len(windows)} windows, {n} positions")
    print(f"{'engine':<8}{'max |dlogit|':>14}{'mean |dlogit|':>15}{'mean KL nats':>14}"
          f"{'top-1 agree':>13}{'dNLL nats/tok':>15}")
    for name, rows in stats.items():
        a = np.concatenate(rows, 1)
        print(f"{name:<8}{a[0].max():>14.4f}{a[1].mean():>15.5f}{a[2].mean():>14.2e}"
              f"{a[3].mean():>13.4f}{a[4].mean():>15.5f}")
    print("\npieces sampled per engine (same prompts and seeds; mean, sd, min over pieces)")
    for name in ("fp32", "int8"):
        cfg = SamplingConfig(decoder=name)
        out = [generate(p, checkpoint=ckpt, seed=200 + i, sampling=cfg)[0] for i, p in enumerate(prompts)]
        for label, v in (("adherence reward", [g.reward for g in out]),
                         ("grammar override %", [100 * g.masked_share for g in out]),
                         ("notes per piece", [g.score.note_num() for g in out])):
            print(f"{name:<6}{label:<20}{np.mean(v):>9.3f}{np.std(v):>9.3f}{np.min(v):>9.3f}")


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
    ap.add_argument("--quality", action="store_true", help="int8 vs fp32 quality instead of speed")
    ap.add_argument("--pieces", type=int, default=8, help="pieces (windows) for --quality")
    args = ap.parse_args()
    if args.quality:
        _child(_quality, args.model, args.pieces)
        return
    print(f"{'method':<22}{'batch':>6}{'tok/s':>9}{'notes/s':>9}{'music s/s':>10}"
          f"{'30 s in':>8}{'1st note s':>11}{'RSS MB':>8}{'masked %':>9}{'x HF':>7}")
    for batch in (1, 8):
        rows = []
        for name, decoder in DECODERS.items():
            runs = [_child(_ours, args.model, batch, args.bars, args.threads, r, decoder)
                    for r in range(args.repeats)]
            rows.append((name, min(runs, key=lambda r: r["s"] / r["tokens"])))
        per_row = max(max(r["tokens"] for _, r in rows) // batch, 16)
        hf = [_child(_hf, args.model, batch, per_row, args.threads, r) for r in range(args.repeats)]
        hbest = min(hf, key=lambda r: r["s"] / r["tokens"])
        for name, r in [("HF generate()", hbest), *rows]:
            x = (r["tokens"] / r["s"]) / (hbest["tokens"] / hbest["s"])
            music = r["music_s"] / r["s"]
            print(f"{name:<22}{batch:>6}{r['tokens'] / r['s']:>9.0f}{r['notes'] / r['s']:>9.0f}"
                  f"{music:>10.1f}{30 / music if music else math.nan:>8.2f}"
                  f"{r['first_note_s']:>11.3f}{r['rss_mb']:>8.0f}"
                  f"{100 * r['masked']:>9.1f}{x:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
