"""Validation loss of several checkpoints on the same windows, token-weighted.

    python benchmarks/valid_loss.py --config configs/finetune.yaml CKPT [CKPT ...]

The windows are those a training run with CONFIG validates on (its segment builds, its seed,
eval_batches x batch_size of them, every attribute kept; a config with `chords` says every
bar's chord). The Trainer's logged eval_loss averages per-batch means; this script weights
every music token equally, so checkpoints from different runs compare on one scale. With
--notes-only the chord tokens carry no loss, and --chords 1 says every bar's chord: the loss of
the same notes with and without their bars' chords said shows what the chord tells the model;
--roles 1 likewise says every named part's role in the header (a model trained with role tokens),
--densities 1 its notes a bar (a model trained with them): the loss with and without shows what
the count tells the model.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--notes-only", action="store_true", help="no loss on chord tokens")
    ap.add_argument("--chords", type=float, default=None, help="override the config's chords (0 or 1)")
    ap.add_argument("--roles", type=float, default=None, help="override the config's roles (0 or 1)")
    ap.add_argument("--densities", type=float, default=None, help="override the config's densities (0 or 1)")
    ap.add_argument("checkpoints", nargs="+")
    args = ap.parse_args()
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from tunesmith.data.segments import load_split
    from tunesmith.model import load_checkpoint
    from tunesmith.tokenization import Tokenizer
    from tunesmith.training.trainer import SegmentDataset, TrainConfig, collate

    cfg = TrainConfig.from_yaml(args.config, chords=args.chords, roles=args.roles, densities=args.densities)
    tok = Tokenizer.default()
    valid = [e for d in cfg.segments.split(",") for e in load_split(Path(d), "valid")]
    pick = np.random.default_rng(cfg.seed).permutation(len(valid))[: cfg.eval_batches * cfg.batch_size]
    rows = SegmentDataset([valid[i] for i in pick], tok, cfg, train=False)
    batch = collate(tok.pad_id)
    for path in args.checkpoints:
        model = load_checkpoint(path).model.eval()
        total = count = 0.0
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            for i in range(0, len(rows), cfg.batch_size):
                b = batch([rows[j] for j in range(i, min(i + cfg.batch_size, len(rows)))])
                if args.notes_only:
                    b["labels"][torch.isin(b["labels"], torch.tensor(sorted(tok.chord_ids)))] = -100
                out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"])
                n = int((b["labels"][:, 1:] != -100).sum())
                total, count = total + float(out.loss) * n, count + n
        print(f"{path}: {total / count:.4f} nats/token over {int(count):,} tokens ({len(rows)} windows)")


if __name__ == "__main__":
    main()
