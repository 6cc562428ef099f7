"""KV-cached decoding on ONNX Runtime GenAI, with int8 (default) or fp32 weights.

Consumes a checkpoint; produces, step by step, the (B, V) logits of a batch while the
sampler picks every token itself (grammar mask, key bias, guidance, nucleus, its own
seeded draw). The checkpoint is converted at first use by the engine's own model builder
(weight-only int8 MatMulNBits, block 32), cached under ~/.cache/tunesmith keyed by a hash
of the weights. Each step hands the engine a logits row that allows only the sampler's
token (`set_logits`), and the engine's greedy search appends it and runs the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import weakref
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from tunesmith.errors import ConfigError, ModelError
from tunesmith.model import Checkpoint

PRECISIONS = ("int8", "fp32")
DECODERS = (*PRECISIONS, "numpy")  # numpy: the hand-written reference decoder (kvdecoder.py)
_converted: weakref.WeakKeyDictionary[Any, dict[tuple, Path]] = weakref.WeakKeyDictionary()
_models: dict[tuple[Path, int], Any] = {}


def cache_root() -> Path:
    """Where converted models live: $TUNESMITH_CACHE, else $XDG_CACHE_HOME/tunesmith."""
    if os.environ.get("TUNESMITH_CACHE"):
        return Path(os.environ["TUNESMITH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tunesmith"


def weights_key(ckpt: Checkpoint, precision: str) -> str:
    """Hash of the weights, the model config, the special ids, the precision and the engine
    version: any change to one of them makes a new conversion."""
    import onnxruntime_genai as og

    h = hashlib.sha256()
    tok = ckpt.tokenizer
    cfg = ckpt.model.config  # not to_dict(): save_pretrained adds fields to it
    meta = {"config": asdict(ckpt.config), "eps": cfg.rms_norm_eps, "vocab": cfg.vocab_size,
            "ids": [tok.pad_id, tok.bos_id, tok.eos_id], "precision": precision, "engine": og.__version__}
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for name, t in sorted(ckpt.model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def _stage(ckpt: Checkpoint, folder: Path) -> None:
    """The checkpoint as the builder reads it: HF config and safetensors, plus a word-level
    HF tokenizer over our vocabulary (the builder copies one; the engine never uses it)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    tok = ckpt.tokenizer
    hf_logging.disable_progress_bar()  # as load_checkpoint: no bar for writing 20 MB
    ckpt.model.save_pretrained(folder, safe_serialization=True)
    config = json.loads((folder / "config.json").read_text())
    config.update(pad_token_id=tok.pad_id, eos_token_id=tok.eos_id)  # the engine's padding and end
    (folder / "config.json").write_text(json.dumps(config))
    words = models.WordLevel({t: i for i, t in enumerate(tok.tokens)}, unk_token=tok.tokens[tok.pad_id])
    PreTrainedTokenizerFast(tokenizer_object=Tokenizer(words)).save_pretrained(folder)


def convert(ckpt: Checkpoint, precision: str = "int8") -> Path:
    """The folder of the checkpoint converted for the engine (built once, then cached)."""
    if precision not in PRECISIONS:
        raise ModelError(f"precision {precision!r} is not supported: allowed {', '.join(PRECISIONS)}")
    stamp = tuple((p.data_ptr(), p._version) for p in ckpt.model.parameters())
    known = _converted.setdefault(ckpt.model, {})
    if (stamp, precision) in known:
        return known[stamp, precision]
    try:
        key = weights_key(ckpt, precision)
    except ImportError as e:
        raise ModelError(f"the inference engine is not installed ({e}): pip install onnxruntime-genai") from e
    out = cache_root() / "engine" / f"{key}-{precision}"
    if not (out / "genai_config.json").is_file():
        try:
            _build(ckpt, precision, out)
        except OSError as e:
            raise ModelError(f"cannot write the converted model under {out.parent} ({e}): "
                             "set TUNESMITH_CACHE to a writable folder") from e
    known[stamp, precision] = out
    return out


def prepare(ckpt: Checkpoint, decoder: str) -> None:
    """Convert ahead of sampling when `decoder` runs on the engine (so a first use's few
    seconds of conversion are not counted as generation time)."""
    if decoder in PRECISIONS and ckpt.prefix is None:
        convert(ckpt, decoder)


def _build(ckpt: Checkpoint, precision: str, out: Path) -> None:
    """Run the engine's model builder in a child process (it prints a lot and edits
    sys.path), then move the result into place in one rename."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        stage, built = Path(tmp) / "hf", Path(tmp) / "onnx"
        _stage(ckpt, stage)
        cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(stage),
               "-o", str(built), "-p", precision, "-e", "cpu", "-c", str(Path(tmp) / "cache")]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if run.returncode != 0 or not (built / "genai_config.json").is_file():
            tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-5:])
            name = ckpt.path or "the in-memory checkpoint"
            raise ModelError(f"converting {name} to ONNX Runtime GenAI {precision} failed "
                             f"(exit {run.returncode}):\n{tail}")
        for extra in ("tokenizer.json", "tokenizer_config.json"):
            (built / extra).unlink(missing_ok=True)
        try:
            built.rename(out)
        except OSError:  # another process finished the same conversion first
            if not (out / "genai_config.json").is_file():
                raise
            shutil.rmtree(built, ignore_errors=True)


def engine_threads() -> int:
    """The engine's intra-op threads: $TUNESMITH_THREADS, else 2 on a machine of 4 or more
    cores and 1 below. On this project's 2-core machine 2 threads were 1.5x faster per token
    when idle (benchmarks/generate.py --threads 2) but 1.6x slower while another job used the
    other core (a second thread spin-waits on a busy core): with 4+ cores a second one rarely
    has to wait."""
    most = os.cpu_count() or 1
    text = os.environ.get("TUNESMITH_THREADS", "2" if most >= 4 else "1")
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise ConfigError(f"TUNESMITH_THREADS={text!r} is not a thread count: allowed 1..{most}")
    return int(text)


def _model(folder: Path) -> Any:
    """The loaded engine model, one per folder and thread count."""
    import onnxruntime_genai as og

    threads = engine_threads()
    if (folder, threads) not in _models:
        cfg = og.Config(str(folder))
        opts = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
        cfg.overlay(json.dumps({"model": {"decoder": {"session_options": opts}}}))
        _models[folder, threads] = og.Model(cfg)
    return _models[folder, threads]


class EngineDecoder:
    """A batch's incremental decoding state on the engine: `forward` once with the prompts,
    then once per step with one token per row; each call returns the next (B, V) logits.
    The same interface as kvdecoder.KVDecoder (without a soft prefix)."""

    def __init__(self, ckpt: Checkpoint, batch: int, max_len: int, precision: str = "int8") -> None:
        import onnxruntime_genai as og

        self.model = _model(convert(ckpt, precision))
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=max_len, batch_size=batch, do_sample=False,
                                  min_length=0, repetition_penalty=1.0)
        self.gen = og.Generator(self.model, params)
        self.pad_id, self.batch, self.max_len = ckpt.tokenizer.pad_id, batch, max_len
        self.vocab = int(ckpt.model.config.vocab_size)
        self.forced = np.zeros((batch, self.vocab), np.float32)
        self.t = 0  # longest row so far, in tokens (the caller slides the context before max_len)

    def forward(self, ids: Tensor, pad: Tensor | None = None, embeds: Any = None) -> Tensor:
        """(B, T) tokens; `pad` marks left padding (True = padding) of the first call."""
        if embeds is not None:
            raise ModelError("the inference engine takes no soft prefix: use the numpy decoder")
        if self.t == 0:
            self._prefill(ids.numpy(), None if pad is None else pad.numpy())
        else:
            self._step(ids.numpy()[:, -1])
        if self.gen.is_done():  # every row has ended (EOS): nothing is left to predict
            return torch.zeros(self.batch, self.vocab)
        return torch.from_numpy(self.gen.get_logits().reshape(self.batch, self.vocab).copy())

    def _prefill(self, ids: np.ndarray, pad: np.ndarray | None) -> None:
        """The engine's attention (GroupQueryAttention) reads padding only at the right end:
        so the prompts move left, padding after them (each row's next token then overwrites
        its first padding slot, at its own position)."""
        real = np.ones(ids.shape, bool) if pad is None else ~pad
        packed = np.full(ids.shape, self.pad_id, np.int32)
        for i, row in enumerate(ids):
            kept = row[real[i]]
            if (kept == self.pad_id).any():
                raise ModelError(f"prompt row {i} holds the padding id {self.pad_id}")
            packed[i, : len(kept)] = kept
        self.gen.append_tokens(packed)
        self.t = ids.shape[1]

    def _step(self, tokens: np.ndarray) -> None:
        """Append one token per row: a logits row that allows only that token, greedy search."""
        self.forced.fill(-1e30)
        self.forced[np.arange(self.batch), tokens] = 0.0
        self.gen.set_logits(self.forced)
        self.gen.generate_next_token()
        self.t += 1
