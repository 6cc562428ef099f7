from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tunesmith.attributes import Attributes
from tunesmith.captions.conditions import caption_for
from tunesmith.data.segments import Example, SegmentConfig, load_split, save_examples
from tunesmith.generation import SamplingConfig, generate
from tunesmith.generation.generate import prefix_text
from tunesmith.generation.kvdecoder import KVDecoder
from tunesmith.midi.io import load_score, save_midi
from tunesmith.model import PRESETS, Checkpoint, build_model, load_checkpoint, save_checkpoint
from tunesmith.model.prefix import PrefixConfig, PrefixLM, TextPrefix, prefix_embeds
from tunesmith.tokenization import Tokenizer
from tunesmith.training import SegmentDataset, TrainConfig, train
from tunesmith.training.trainer import collate, latest_checkpoint

CONDS = ["Key_Amin", "TimeSigCond_3/4", "TempoCond_Allegro", "Genre_pop", "Mood_happy", "Bars_8",
         "Inst_0", "Inst_33", "Inst_drums"]


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.default()


def test_caption_states_only_kept_conditions(tok: Tokenizer) -> None:
    full = caption_for(tok, tok.ids(CONDS))
    assert full == ("A pop piece in A minor at about 125 bpm in 3/4 for piano, electric bass and drums, "
                    "happy mood, 8 bars.")
    rng = np.random.default_rng(0)
    for _ in range(20):
        text = caption_for(tok, tok.ids(["Key_Amin", "Inst_drums"]), rng)
        assert "A minor" in text and "drums" in text
        assert not any(w in text for w in ("pop", "bpm", "3/4", "happy", "bars", "piano", "Allegro"))
    assert len({caption_for(tok, tok.ids(CONDS), rng) for _ in range(30)}) > 3  # wording varies
    assert caption_for(tok, []) == ""


def test_dataset_caption_follows_dropout(tok: Tokenizer) -> None:
    conds = np.array(tok.ids(CONDS))
    music = np.array(tok.ids(["Bar_None"]))
    ds = SegmentDataset([(conds, music)] * 4, tok, TrainConfig(prefix=4, attr_dropout=0.5, uncond_prob=0.2),
                        train=True)
    for _ in range(50):
        row = ds[0]
        kept = row["input_ids"][1 : row["input_ids"].index(tok.cond_end_id)]
        assert (row["caption"] == "") == (not kept)
        assert ("happy" in row["caption"]) == (tok.vocab["Mood_happy"] in kept)
    assert "caption" not in SegmentDataset([(conds, music)], tok, TrainConfig(), train=True)[0]


def test_prefix_lm_shifts_inputs_and_masks_prefix_labels(tok: Tokenizer) -> None:
    model = build_model(PRESETS["debug"], tok, seed=1).eval()
    prefix = TextPrefix(PrefixConfig(length=3), PRESETS["debug"].dim)
    with torch.no_grad():
        prefix.proj.bias.normal_()
    rows = [{"input_ids": [1, 5, 6, 7], "labels": [-100, 5, 6, 7], "caption": "x"}]
    batch = collate(tok.pad_id)(rows)
    emb = torch.randn(1, 384)
    with torch.no_grad():
        out = PrefixLM(model, prefix)(batch["input_ids"], batch["attention_mask"], emb, batch["labels"])
        embeds = torch.cat([prefix(emb), model.get_input_embeddings()(batch["input_ids"][:, :4])], 1)
        ref = model(inputs_embeds=embeds).logits
    assert out.logits.shape[1] == 3 + batch["input_ids"].shape[1]
    assert torch.allclose(out.logits[:, :7], ref, atol=1e-5)
    assert torch.isfinite(out.loss)


def test_kv_decoder_with_prefix_matches_hf(tok: Tokenizer) -> None:
    model = build_model(PRESETS["debug"], tok, seed=1).eval()
    pre = np.random.default_rng(0).normal(size=(2, 4, PRESETS["debug"].dim)).astype(np.float32)
    ids = torch.randint(tok.n_special, len(tok), (2, 10))
    with torch.no_grad():
        embeds = torch.cat([torch.from_numpy(pre), model.get_input_embeddings()(ids)], 1)
        ref = model(inputs_embeds=embeds).logits  # (2, 14, V)
    kv = KVDecoder(model, 2, 32)
    assert torch.allclose(kv.forward(ids[:, :6], embeds=pre), ref[:, 9], atol=1e-4)
    for j in range(6, 10):
        out = kv.forward(ids[:, j : j + 1])
    assert torch.allclose(out, ref[:, 13], atol=1e-4)
    # left padding sits between the prefix and the tokens, masked out
    pad = torch.zeros(2, 6, dtype=torch.bool)
    pad[1, :2] = True
    short = ids.clone()
    short[1, :2] = tok.pad_id
    kv = KVDecoder(model, 2, 32)
    out = kv.forward(short[:, :6], pad, pre)
    with torch.no_grad():
        row = torch.cat([torch.from_numpy(pre[1:]), model.get_input_embeddings()(ids[1:, 2:6])], 1)
        assert torch.allclose(out[1], model(inputs_embeds=row).logits[0, -1], atol=1e-4)


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory, tok: Tokenizer) -> Path:
    from conftest import make_score

    examples = []
    for i in range(24):
        notes = [(j * 240, 240, 60 + (j % 8), 80) for j in range(4 + i % 12)]
        conds = tok.ids(["Key_Cmaj", "TempoCond_Allegro", "Inst_0", f"Mood_{('happy', 'sad')[i % 2]}"])
        examples.append(Example("valid" if i % 6 == 0 else "train", conds,
                                tok.encode_score(make_score([(0, False, notes)]))))
    out = tmp_path_factory.mktemp("prefix_segments")
    save_examples(examples, out, SegmentConfig())
    return out


def test_train_with_prefix_learns_and_saves_it(segments: Path, tmp_path: Path, tok: Tokenizer,
                                              debug_checkpoint_dir: Path) -> None:
    assert load_split(segments, "train")
    cfg = TrainConfig(segments=str(segments), out=str(tmp_path / "run"), preset="debug", batch_size=4,
                      max_steps=3, eval_steps=3, save_steps=2, eval_batches=1, warmup_steps=0, lr=1e-2,
                      max_len=256, threads=1, bf16=False, prefix=4, init=str(debug_checkpoint_dir))
    metrics = train(cfg)
    assert np.isfinite(metrics["eval_loss"])
    ckpt = load_checkpoint(metrics["checkpoint"])
    assert ckpt.prefix is not None and ckpt.prefix.cfg.length == 4
    assert float(ckpt.prefix.proj.weight.detach().abs().max()) > 0  # moved from its zero init
    meta = json.loads((Path(metrics["checkpoint"]) / "tunesmith.json").read_text())
    assert meta["prefix"] == {"length": 4, "text_dim": 384, "dim": PRESETS["debug"].dim}
    # the run resumes from its Trainer checkpoint (tied output matrix stored once)
    saved = load_file(str(Path(latest_checkpoint(tmp_path / "run") or "") / "model.safetensors"))
    assert "prefix.proj.weight" in saved and "lm.lm_head.weight" not in saved
    assert torch.equal(saved["prefix.proj.weight"], ckpt.prefix.proj.weight.detach())
    more = train(TrainConfig(**{**cfg.__dict__, "max_steps": 4}))
    assert np.isfinite(more["eval_loss"])
    history = json.loads((tmp_path / "run" / "log_history.json").read_text())
    assert max(h.get("step", 0) for h in history) == 4


def test_prefix_round_trip_and_generate(tmp_path: Path, tok: Tokenizer) -> None:
    cfg = replace(PRESETS["debug"], max_len=96)  # a short context: generation slides it
    prefix = TextPrefix(PrefixConfig(), cfg.dim)
    with torch.no_grad():
        prefix.proj.weight.normal_(std=0.5)
        prefix.proj.bias.normal_()
    save_checkpoint(Checkpoint(build_model(cfg, tok, seed=0).eval(), tok, cfg, prefix=prefix), tmp_path / "m")
    ckpt = load_checkpoint(tmp_path / "m")
    assert ckpt.prefix is not None
    for k, v in prefix.state_dict().items():
        assert torch.equal(ckpt.prefix.state_dict()[k], v)
    assert not np.allclose(prefix_embeds(ckpt.prefix, ["calm piano"]), prefix_embeds(ckpt.prefix, [""]))
    for guidance in (1.0, 2.0):
        out = generate("a calm piano piece in C major, 6 bars", checkpoint=ckpt, num=2,
                       sampling=SamplingConfig(guidance_scale=guidance))
        assert len(out) == 2 and all(len(p.tokens) > cfg.max_len for p in out)  # it slid
        for p in out:
            assert {t.program for t in p.score.tracks} == {0} and p.score.note_num() > 0
        path = save_midi(out[0].score, tmp_path / f"g{guidance}.mid")
        assert load_score(path).note_num() == out[0].score.note_num()


def test_prefix_text_captions_flags_when_the_prompt_is_empty(tok: Tokenizer) -> None:
    header = tok.header(Attributes(key="A minor", bars=4))
    assert prefix_text(tok, "a sad tune", header) == "a sad tune"
    assert prefix_text(tok, " ", header) == "A piece in A minor, 4 bars."
    assert prefix_text(tok, "", tok.header(None)) == ""
