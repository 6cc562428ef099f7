"""Key adherence (CK, CKD) and compute time of generation settings, side by side.

    python benchmarks/key_adherence.py --prompts docs/eval/free_prompts.jsonl --limit 60 \
        [--model PATH] [--setting NAME:key_strength,key_profile,candidates,guidance ...]

For the first N prompts that ask for a key, each setting writes one piece per prompt as the
CLI writes it (`infilling.form.write_pieces`; the same seeds for every setting), the key is
detected from the MIDI (Krumhansl-Schmuckler) and compared with the asked key: CK exact, CKD
also accepting the relative major/minor. Also reported: instrument recall, CLMP caption-music
similarity (the shipped
CLMP model), and seconds per piece relative to the first setting (the baseline), all in
the same process.
"""

from __future__ import annotations

import argparse
import time

DEFAULT_SETTINGS = (
    "scale only:1.5,0,1,1", "scale+profile 1:1.5,1,1,1", "scale+profile 2:1.5,2,1,1",
    "profile 2, best of 4:1.5,2,4,1",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=1, help="pieces per prompt (seeds row, row + 1000, ...)")
    ap.add_argument("--setting", action="append", default=None,
                    help="NAME:key_strength,key_profile,candidates,guidance")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from tunesmith.captions.features import estimate_key
    from tunesmith.evaluation.adherence import key_match, key_match_relative
    from tunesmith.evaluation.report import read_prompts
    from tunesmith.generation import SamplingConfig, get_checkpoint, resolve
    from tunesmith.generation.rewards import instrument_recall
    from tunesmith.infilling.form import write_pieces
    from tunesmith.progress import progress
    from tunesmith.retrieval.clmp import Clmp

    clmp = Clmp.load(None)

    prompts = [p for p in read_prompts(args.prompts) if p.target.key][: args.limit]
    ckpt = get_checkpoint(args.model)
    rows = []
    with progress("prompts") as bar:
        for spec in args.setting or DEFAULT_SETTINGS:
            name, values = spec.rsplit(":", 1)
            ks, kp, cand, cfg_scale = (float(x) for x in values.split(","))
            sampling = SamplingConfig(key_strength=ks, key_profile=kp, candidates=int(cand),
                                      guidance_scale=cfg_scale)
            ck = ckd = recall = sim = 0.0
            took = 0.0
            task = bar.add_task(name, total=len(prompts) * args.seeds)
            for p, k in ((p, k) for p in prompts for k in range(args.seeds)):
                start = time.perf_counter()
                (g,) = write_pieces(resolve(p.caption, p.explicit), seed=p.index + 1000 * k, checkpoint=ckpt,
                                    sampling=sampling)
                took += time.perf_counter() - start
                found = estimate_key(g.score)
                ck += bool(found and key_match(p.target.key, found))  # type: ignore[arg-type]
                ckd += bool(found and key_match_relative(p.target.key, found))  # type: ignore[arg-type]
                recall += instrument_recall(g.score, p.target.instruments or ())
                sim += float(clmp.embed_text([p.caption])[0] @ clmp.embed_music([g.score])[0])
                bar.advance(task)
            n = len(prompts) * args.seeds
            rows.append((name, 100 * ck / n, 100 * ckd / n, 100 * recall / n, sim / n, took / n))
            bar.console.print(_table(rows, f"{len(prompts)} prompts with a key from {args.prompts}, "
                                           f"{args.seeds} piece(s) each"))


def _table(rows: list[tuple[str, float, float, float, float, float]], title: str) -> str:
    base = rows[0][-1]
    lines = [title, f"{'setting':<32} {'CK %':>6} {'CKD %':>6} {'Inst R %':>8} {'CLMP':>6} {'s/piece':>8} "
             f"{'x time':>7}"]
    for name, ck, ckd, rec, sim, sec in rows:
        lines.append(f"{name:<32} {ck:6.1f} {ckd:6.1f} {rec:8.1f} {sim:6.3f} {sec:8.2f} {sec / base:7.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
