"""The ONNX Runtime GenAI decoder: logits against the HF model, padding, the int8 error,
the conversion cache and its error, and the grammar's guarantees on the engine path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

from tunesmith.attributes import Attributes
from tunesmith.errors import ConfigError, ModelError
from tunesmith.generation import SamplingConfig, engine, generate
from tunesmith.generation.engine import EngineDecoder, convert, engine_threads
from tunesmith.model import PRESETS, Checkpoint, build_model
from tunesmith.tokenization import Tokenizer


@pytest.fixture(scope="module")
def ckpt() -> Checkpoint:
    tok = Tokenizer.default()
    return Checkpoint(build_model(PRESETS["debug"], tok, seed=1).eval(), tok, PRESETS["debug"])


def _steps(ckpt: Checkpoint, precision: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Engine and HF logits for a left-padded batch of two prompts, then three steps."""
    tok = ckpt.tokenizer
    gen = torch.Generator().manual_seed(0)
    a = torch.randint(tok.n_special, len(tok), (8,), generator=gen)
    b = torch.randint(tok.n_special, len(tok), (5,), generator=gen)
    ids = torch.full((2, 8), tok.pad_id)
    ids[0], ids[1, 3:] = a, b
    pad = ids == tok.pad_id
    dec = EngineDecoder(ckpt, 2, 64, precision)
    got, ref = [dec.forward(ids, pad)], []
    rows = [a.tolist(), b.tolist()]
    for step in range(3):
        nxt = torch.tensor([[tok.n_special + step], [tok.n_special + 10 + step]])
        with torch.no_grad():
            ref.append(torch.stack([ckpt.model(torch.tensor([r])).logits[0, -1] for r in rows]))
        rows = [r + [int(t)] for r, t in zip(rows, nxt[:, 0], strict=True)]
        got.append(dec.forward(nxt))
    with torch.no_grad():
        ref.append(torch.stack([ckpt.model(torch.tensor([r])).logits[0, -1] for r in rows]))
    return got, ref


def test_fp32_engine_matches_hf_logits_with_padding(ckpt: Checkpoint) -> None:
    got, ref = _steps(ckpt, "fp32")
    for g, r in zip(got, ref, strict=True):
        assert torch.allclose(g, r, atol=1e-4)


def test_int8_engine_stays_close_to_hf_logits(ckpt: Checkpoint) -> None:
    got, ref = _steps(ckpt, "int8")
    for g, r in zip(got, ref, strict=True):
        err = (g - r).abs().max().item()
        assert 0.0 < err < 0.05 * r.abs().max().item()  # quantised, but only slightly


def test_conversion_is_cached_and_follows_the_weights(ckpt: Checkpoint) -> None:
    first = convert(ckpt, "fp32")
    assert convert(ckpt, "fp32") == first and (first / "model.onnx").is_file()
    changed = Checkpoint(build_model(PRESETS["debug"], ckpt.tokenizer, seed=1).eval(), ckpt.tokenizer,
                         ckpt.config)
    assert engine.weights_key(changed, "fp32") == engine.weights_key(ckpt, "fp32")
    with torch.no_grad():
        changed.model.model.layers[0].mlp.down_proj.weight.mul_(2.0)
    assert engine.weights_key(changed, "fp32") != engine.weights_key(ckpt, "fp32")


def test_failed_conversion_is_a_model_error(ckpt: Checkpoint, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path))
    monkeypatch.setattr(engine, "_converted", engine.weakref.WeakKeyDictionary())
    failed = subprocess.CompletedProcess([], 1, "", "NotImplementedError: not supported")
    monkeypatch.setattr(engine.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(ModelError, match="(?s)int8 failed.*not supported"):
        convert(ckpt, "int8")
    with pytest.raises(ModelError, match="precision 'int4'"):
        convert(ckpt, "int4")
    with pytest.raises(ConfigError, match="decoder 'gpu'"):
        SamplingConfig(decoder="gpu")


@pytest.mark.parametrize("num", [1, 3])
def test_fp32_engine_samples_the_numpy_decoders_tokens(ckpt: Checkpoint, num: int) -> None:
    """Same logits, same seeded draws: the same pieces, token for token (also with
    guidance, whose unconditioned rows are shorter and so padded)."""
    attrs = Attributes(bars=2, tempo=100, time_signature="3/4", instruments=(0, 33), key="D minor")
    runs = [generate("", attributes=attrs, checkpoint=ckpt, num=num, seed=5,
                     sampling=SamplingConfig(decoder=d, guidance_scale=1.5, candidates=2))
            for d in ("numpy", "fp32")]
    assert [g.tokens for g in runs[0]] == [g.tokens for g in runs[1]]


def test_int8_engine_keeps_the_grammar(ckpt: Checkpoint) -> None:
    attrs = Attributes(bars=3, tempo=90, time_signature="3/4", instruments=(0, 33))
    out = generate("", attributes=attrs, checkpoint=ckpt, num=2, seed=1, sampling=SamplingConfig())
    for g in out:
        assert {t.program for t in g.score.tracks} <= {0, 33}
        assert [(ts.numerator, ts.denominator) for ts in g.score.time_signatures] == [(3, 4)]
        assert g.tokens[-1] == ckpt.tokenizer.eos_id
        assert sum(ckpt.tokenizer.tokens[t] == "Bar_None" for t in g.tokens) == 3


def test_engine_threads_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("TUNESMITH_THREADS", raising=False)
    assert engine_threads() == (2 if (os.cpu_count() or 1) >= 4 else 1)
    monkeypatch.setenv("TUNESMITH_THREADS", "1")
    assert engine_threads() == 1
    for bad in ("0", "two", str((os.cpu_count() or 1) + 1)):
        monkeypatch.setenv("TUNESMITH_THREADS", bad)
        with pytest.raises(ConfigError, match="TUNESMITH_THREADS"):
            engine_threads()
