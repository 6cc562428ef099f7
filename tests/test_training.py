from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tunesmith.data.segments import Example, SegmentConfig, load_split, save_examples
from tunesmith.errors import ConfigError
from tunesmith.model import PRESETS, Checkpoint, ModelConfig, build_model, load_checkpoint, save_checkpoint
from tunesmith.tokenization import Tokenizer, TokenizerSettings
from tunesmith.training import SegmentDataset, TrainConfig, train
from tunesmith.training.trainer import collate, export_checkpoint, latest_checkpoint


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.default()


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory, tok: Tokenizer) -> Path:
    """A few dozen real windows: a C major scale pattern in different lengths."""
    from conftest import make_score

    rng = np.random.default_rng(0)
    examples = []
    for i in range(48):
        n = int(rng.integers(4, 24))
        notes = [(j * 240, 240, 60 + (j % 8), 80) for j in range(n)]
        score = make_score([(0, False, notes)])
        conds = tok.ids(["Key_Cmaj", "TempoCond_Allegro", "Inst_0"])
        split = "valid" if i % 8 == 0 else "train"
        examples.append(Example(split, conds, tok.encode_score(score)))
    out = tmp_path_factory.mktemp("segments")
    save_examples(examples, out, SegmentConfig())
    return out


def test_dataset_masks_header_and_drops_conditions(segments: Path, tok: Tokenizer) -> None:
    examples = load_split(segments, "train")
    cfg = TrainConfig(attr_dropout=0.5, uncond_prob=0.0)
    ds = SegmentDataset(examples, tok, cfg, train=True)
    row = ds[0]
    head = row["input_ids"].index(tok.cond_end_id) + 1
    assert row["labels"][:head] == [-100] * head
    assert row["labels"][head:] == row["input_ids"][head:]
    assert row["input_ids"][-1] == tok.eos_id
    kept = [len(ds[0]["input_ids"]) for _ in range(200)]
    assert len(set(kept)) > 1  # conditions are dropped at random, per visit
    valid = SegmentDataset(examples, tok, cfg, train=False)
    assert valid[0]["input_ids"][1:4] == examples[0][0].tolist()  # validation keeps them all


def test_collate_pads_to_multiples_of_64(tok: Tokenizer) -> None:
    rows = [{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}, {"input_ids": [1] * 70, "labels": [1] * 70}]
    batch = collate(tok.pad_id)(rows)
    assert batch["input_ids"].shape == (2, 128)
    assert batch["attention_mask"][0].sum() == 3 and (batch["labels"][0, 3:] == -100).all()


def test_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="preset 'huge'"):
        TrainConfig(preset="huge")
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="unknown config keys"):
        TrainConfig.from_yaml(bad)
    good = tmp_path / "good.yaml"
    good.write_text("preset: debug\nmax_steps: 7\n")
    assert TrainConfig.from_yaml(good, max_steps=9).max_steps == 9


def test_train_checkpoint_and_resume(segments: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(segments=str(segments), out=str(tmp_path / "run"), preset="debug", batch_size=4,
                      max_steps=4, eval_steps=4, save_steps=2, eval_batches=1, warmup_steps=1,
                      max_len=256, threads=1, bf16=False)
    metrics = train(cfg)
    ckpt = load_checkpoint(metrics["checkpoint"])
    assert ckpt.config.max_len == 256 and ckpt.config.n_layers == 2
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    assert latest_checkpoint(tmp_path / "run").endswith("checkpoint-4")
    # resuming with more steps continues from step 4 instead of starting again
    more = TrainConfig(**{**cfg.__dict__, "max_steps": 6})
    train(more)
    history = json.loads((tmp_path / "run" / "log_history.json").read_text())
    assert max(h.get("step", 0) for h in history) == 6
    # the last Trainer checkpoint exports to the same weights as the final model
    exported = export_checkpoint(tmp_path / "run" / "checkpoints" / "checkpoint-6", tmp_path / "x6")
    assert distance(exported, tmp_path / "run" / "final") == 0.0
    assert distance(export_checkpoint(tmp_path / "run" / "checkpoints" / "checkpoint-4",
                                      tmp_path / "x4"), tmp_path / "run" / "final") > 0
    with pytest.raises(ConfigError, match="not a Trainer checkpoint"):
        export_checkpoint(tmp_path / "run", tmp_path / "bad")


def saved_model(folder: Path, cfg: ModelConfig, tok: Tokenizer, seed: int) -> Path:
    return save_checkpoint(Checkpoint(build_model(cfg, tok, seed=seed), tok, cfg), folder)


def distance(a: str | Path, b: str | Path) -> float:
    """Largest absolute weight difference between two checkpoints."""
    sa, sb = load_checkpoint(a).model.state_dict(), load_checkpoint(b).model.state_dict()
    return max(float((sa[k] - sb[k]).abs().max()) for k in sa)


def test_init_starts_from_a_checkpoint_and_resume_wins(segments: Path, tmp_path: Path, tok: Tokenizer) -> None:
    init = saved_model(tmp_path / "init", PRESETS["debug"], tok, seed=123)  # not the seed-0 random init
    # one step at a tiny lr barely moves the weights (Adam's first step is about lr per weight)
    base = dict(segments=str(segments), preset="debug", batch_size=4, max_steps=1, eval_steps=1,
                save_steps=1, eval_batches=1, warmup_steps=0, lr=1e-5, max_len=256, threads=1, bf16=False)
    warm = train(TrainConfig(**base, out=str(tmp_path / "warm"), init=str(init)))
    assert distance(warm["checkpoint"], init) < 1e-4
    cold = train(TrainConfig(**base, out=str(tmp_path / "cold")))
    assert distance(cold["checkpoint"], init) > 1e-2
    # a run folder with checkpoints resumes from them: its weights replace init's
    resumed = train(TrainConfig(**{**base, "max_steps": 2}, out=str(tmp_path / "cold"), init=str(init)))
    assert distance(resumed["checkpoint"], cold["checkpoint"]) < 1e-4
    assert distance(resumed["checkpoint"], init) > 1e-2


def test_init_must_match_the_preset(segments: Path, tmp_path: Path, tok: Tokenizer) -> None:
    base = dict(segments=str(segments), preset="debug", out=str(tmp_path / "run"), max_steps=1, threads=1)
    with pytest.raises(ConfigError, match="init .*nowhere is not a folder"):
        TrainConfig(**base, init=str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no tunesmith.json"):
        train(TrainConfig(**base, init=str(tmp_path / "empty")))
    wide = ModelConfig(dim=64, n_layers=2, n_heads=2, n_kv_heads=1, ffn_dim=64, max_len=512)
    saved_model(tmp_path / "wide", wide, tok, seed=0)
    with pytest.raises(ConfigError, match="has dim 64: preset 'debug' expects 32"):
        train(TrainConfig(**base, init=str(tmp_path / "wide")))
    coarse = Tokenizer.create(TokenizerSettings(num_velocities=8))
    saved_model(tmp_path / "coarse", PRESETS["debug"], coarse, seed=0)
    with pytest.raises(ConfigError, match=f"vocabulary of {len(coarse)} tokens: expected .* {len(tok)}"):
        train(TrainConfig(**base, init=str(tmp_path / "coarse")))
    assert not (tmp_path / "run" / "checkpoints").exists()  # it failed before training


def test_one_part_rows_keep_a_lone_pitched_part(tok: Tokenizer) -> None:
    from conftest import make_score

    q = 480
    piano = [(b * 4 * q, 4 * q, p, 70) for b in range(4) for p in (60, 64, 67)]
    bass = [(i * q, q, 36 + i % 3, 90) for i in range(16)]
    clarinet = [(0, q, 72, 80)]  # one note in four bars: it never opens a piece alone
    drums = [(i * q, q // 4, 36, 100) for i in range(16)]
    score = make_score([(0, False, piano), (33, False, bass), (71, False, clarinet), (0, True, drums)])
    conds = np.array(tok.ids(["Key_Cmaj", "Inst_0", "Inst_33", "Inst_71", "Inst_drums"]))
    music = np.array(tok.encode_score(score))
    cfg = TrainConfig(part_prob=1.0, attr_dropout=0.0, uncond_prob=0.0)
    row = SegmentDataset([(conds, music)], tok, cfg, train=True)[0]
    names = tok.to_tokens(row["input_ids"])
    head = names[: names.index("CondEnd_None")]
    assert [t for t in head if t.startswith(("Key", "Inst"))] == ["Key_Cmaj", "Inst_33"]
    assert {t for t in names if t.startswith("Program")} == {"Program_33"}  # the piano never plays alone
    assert names.count("Bar_None") == 4
    # a window whose only pitched part is a piano is left whole; part_prob 0 leaves every window
    kept = SegmentDataset([(conds[:2], np.array(tok.encode_score(make_score([(0, False, piano),
                                                                              (0, True, drums)]))))],
                          tok, cfg, train=True)[0]
    kept_programs = {t for t in tok.to_tokens(kept["input_ids"]) if t.startswith("Program")}
    assert kept_programs == {"Program_0", "Program_-1"}
    whole = SegmentDataset([(conds, music)], tok, TrainConfig(attr_dropout=0.0, uncond_prob=0.0), train=True)[0]
    assert whole["input_ids"][whole["input_ids"].index(tok.cond_end_id) + 1:-1] == music.tolist()


def test_roles_follow_each_named_part_as_its_notes_play_it(tok: Tokenizer) -> None:
    from conftest import make_score

    q = 480
    piano = [(b * 4 * q, 4 * q, p, 70) for b in range(4) for p in (60, 64, 67)]
    bass = [(i * q, q, 36 + i % 3, 90) for i in range(16)]
    flute = [(i * q, q, 72 + i % 5, 80) for i in range(16)]
    score = make_score([(0, False, piano), (33, False, bass), (73, False, flute), (0, True, [(0, q, 36, 100)])])
    conds = np.array(tok.ids(["Key_Cmaj", "Inst_0", "Inst_33", "Inst_73", "Inst_drums"]))
    music = np.array(tok.encode_score(score))
    cfg = TrainConfig(roles=1.0, attr_dropout=0.0, uncond_prob=0.0)
    row = SegmentDataset([(conds, music)], tok, cfg, train=True)[0]
    names = tok.to_tokens(row["input_ids"])
    assert names[1:names.index("CondEnd_None")] == [
        "Key_Cmaj", "Inst_0", "Role_chords", "Inst_33", "Role_bass", "Inst_73", "Role_lead", "Inst_drums"]
    assert all(label == -100 for label in row["labels"][:names.index("CondEnd_None") + 1])  # never a target
    # the lone part of a one-part row keeps the role it plays in the band
    alone = SegmentDataset([(conds, music)], tok, replace(cfg, part_prob=1.0), train=True)
    heads = {tuple(t for t in tok.to_tokens(alone[0]["input_ids"])[:6] if t.startswith(("Inst", "Role")))
             for _ in range(20)}
    assert heads <= {("Inst_33", "Role_bass"), ("Inst_73", "Role_lead")} and len(heads) == 2
    # each part's notes a bar (the median over the bars it plays) after its role
    busy = SegmentDataset([(conds, music)], tok, replace(cfg, densities=1.0), train=True)[0]
    named = tok.to_tokens(busy["input_ids"])
    assert named[2:named.index("CondEnd_None")] == [
        "Inst_0", "Role_chords", "Density_3", "Inst_33", "Role_bass", "Density_4",
        "Inst_73", "Role_lead", "Density_4", "Inst_drums"]
    # roles and densities 0 say none
    plain = SegmentDataset([(conds, music)], tok, TrainConfig(attr_dropout=0.0, uncond_prob=0.0), train=True)[0]
    head = tok.to_tokens(plain["input_ids"])[: plain["input_ids"].index(tok.cond_end_id)]
    assert not any(t.startswith(("Role_", "Density_")) for t in head)
