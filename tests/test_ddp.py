"""`tunesmith train` under torchrun (2 processes, gloo on CPU) matches a 1-process run.

Same seed, same data, same global batch (8 = 8x1 = 4x2): the ranks must split each global
batch between them (no example seen twice) and the final weights must agree with the
single-process run up to float32 summation order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.numpy import load_file

from tunesmith.data.segments import Example, SegmentConfig, save_examples
from tunesmith.model import build_model
from tunesmith.tokenization import Tokenizer
from tunesmith.training import TrainConfig

STEPS = 4
GLOBAL_BATCH = 8
SEED = 3

# Runs the real CLI (`tunesmith train --config ...`) with one hook: every training batch's
# example indices are appended to seen_rank<RANK>.jsonl, so the test can check the split.
RUNNER = '''
import json, os, sys
import tunesmith.training.trainer as tr

rank, log = os.environ.get("RANK", "0"), sys.argv[1]
get_item, collate = tr.SegmentDataset.__getitem__, tr.collate

def get_item_with_index(self, idx):
    return {**get_item(self, idx), "idx": idx if self.train else -1}

def recording_collate(pad_id):
    fn = collate(pad_id)
    def wrapped(rows):
        idx = [r["idx"] for r in rows]
        if idx[0] >= 0:
            with open(f"{log}/seen_rank{rank}.jsonl", "a") as f:
                f.write(json.dumps(idx) + "\\n")
        return fn(rows)
    return wrapped

tr.SegmentDataset.__getitem__ = get_item_with_index
tr.collate = recording_collate
from tunesmith.cli import main
sys.argv = ["tunesmith", "train", "--config", sys.argv[2]]
main()
'''


def make_segments(folder: Path, tok: Tokenizer, n_train: int = 40, n_valid: int = 4) -> None:
    """Distinct examples of varied length (so length grouping has something to sort).

    HF's length grouping sorts blocks of min(N // (4b), 50) * b shuffled indices, b being the
    per-process batch: with N = 40 that is 8 for b = 8 and for b = 4, so both runs sort the same
    blocks and must form the same global batches. (With N mod 32 >= 16, or N >= 1600, the block
    sizes differ across world sizes and so would the global batches' composition.)
    """
    rng = np.random.default_rng(7)
    music_ids = tok.ids_of_type("Pitch") + tok.ids_of_type("Position") + tok.ids_of_type("Duration")
    conds = tok.ids_of_type("Tempo")[:2]
    examples = [
        Example("train" if i < n_train else "valid", conds,
                [int(x) for x in rng.choice(music_ids, size=int(rng.integers(8, 60)))])
        for i in range(n_train + n_valid)
    ]
    save_examples(examples, folder, SegmentConfig())


def run(tmp: Path, name: str, segments: Path, procs: int) -> tuple[Path, list[list[list[int]]]]:
    out = tmp / name
    out.mkdir()
    # fp32 and no condition dropout, so both runs compute the same function of the same data
    cfg = dict(segments=str(segments), out=str(out / "run"), preset="debug",
               batch_size=GLOBAL_BATCH // procs, lr=1e-2, warmup_steps=1, max_steps=STEPS,
               eval_steps=1000, save_steps=1000, eval_batches=1, bf16=False, seed=SEED,
               attr_dropout=0.0, uncond_prob=0.0, max_len=128, threads=1)
    (out / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    (out / "runner.py").write_text(RUNNER)
    launch = [sys.executable] if procs == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([*launch, str(out / "runner.py"), str(out), str(out / "cfg.yaml")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = [[json.loads(line) for line in (out / f"seen_rank{r}.jsonl").read_text().splitlines()]
            for r in range(procs)]
    return out / "run" / "final", seen


@pytest.mark.slow
def test_two_process_training_matches_one_process(tmp_path: Path) -> None:
    segments = tmp_path / "segments"
    make_segments(segments, Tokenizer.default())
    single_dir, (single,) = run(tmp_path, "single", segments, procs=1)
    ddp_dir, (rank0, rank1) = run(tmp_path, "ddp", segments, procs=2)

    # the data loader fetches one batch ahead, so a run may record STEPS + 1 batches
    assert len(single) == len(rank0) == len(rank1) >= STEPS
    for step, (a, b) in enumerate(zip(rank0, rank1, strict=True)):
        assert len(a) == len(b) == GLOBAL_BATCH // 2
        assert not set(a) & set(b), f"step {step}: both ranks got examples {set(a) & set(b)}"
        # the two halves together are the single-process global batch
        assert sorted(a + b) == sorted(single[step]), f"step {step}: {a}+{b} vs {single[step]}"

    want = load_file(str(single_dir / "model.safetensors"))
    got = load_file(str(ddp_dir / "model.safetensors"))
    mcfg = TrainConfig(preset="debug", max_len=128).model_config()
    init = dict(build_model(mcfg, Tokenizer.default(), seed=SEED).named_parameters())
    assert want.keys() == got.keys()
    moved = max(float(np.abs(want[n] - init[n].detach().numpy()).max()) for n in want)
    assert moved > 1e-2  # training changed the weights far beyond the tolerance below
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)
