"""The decoder: a standard Llama (Hugging Face format) over tunesmith's token vocabulary.

A plain LlamaForCausalLM keeps every engine that knows the format usable on our weights
(vLLM, llama.cpp converters, ONNX export, peft), as MIDI-LLM argues. A checkpoint folder
holds the HF config and safetensors, tokenizer.json and tunesmith.json (our config), and
optionally prefix.safetensors (a soft text prefix, model/prefix.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.utils import logging as hf_logging

from tunesmith.errors import ConfigError, ModelError
from tunesmith.model.prefix import TextPrefix, load_prefix, save_prefix
from tunesmith.tokenization import Tokenizer

T = TypeVar("T")
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "default_model"


@dataclass(frozen=True)
class ModelConfig:
    dim: int = 256
    n_layers: int = 6
    n_heads: int = 8
    n_kv_heads: int = 4
    ffn_dim: int = 768
    max_len: int = 1024
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        if self.dim % self.n_heads:
            raise ConfigError(f"dim {self.dim} must be a multiple of n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ConfigError(f"n_heads {self.n_heads} must be a multiple of n_kv_heads {self.n_kv_heads}")
        for name in ("dim", "n_layers", "ffn_dim", "max_len"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} {getattr(self, name)} must be positive")

    def llama_config(self, tok: Tokenizer) -> LlamaConfig:
        return LlamaConfig(
            vocab_size=len(tok),
            hidden_size=self.dim,
            intermediate_size=self.ffn_dim,
            num_hidden_layers=self.n_layers,
            num_attention_heads=self.n_heads,
            num_key_value_heads=self.n_kv_heads,
            max_position_embeddings=self.max_len,
            rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta},
            bos_token_id=tok.bos_id,
            eos_token_id=tok.eos_id,
            pad_token_id=tok.pad_id,
            tie_word_embeddings=True,
        )


PRESETS = {
    "debug": ModelConfig(dim=32, n_layers=2, n_heads=2, n_kv_heads=1, ffn_dim=64, max_len=512),
    "small": ModelConfig(dim=192, n_layers=4, n_heads=6, n_kv_heads=2, ffn_dim=512, max_len=1024),
    "default": ModelConfig(),
    # about 3x the default's weights: the width/depth comparison at equal wall-clock time
    # (configs/size_large.yaml beside configs/size_default.yaml)
    "large": ModelConfig(dim=384, n_layers=8, n_heads=12, n_kv_heads=4, ffn_dim=1152),
}


def build_model(cfg: ModelConfig, tok: Tokenizer, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg.llama_config(tok))


@dataclass
class Checkpoint:
    model: LlamaForCausalLM
    tokenizer: Tokenizer
    config: ModelConfig
    path: Path | None = None
    prefix: TextPrefix | None = None  # soft text prefix trained with the model, if any


def save_checkpoint(ckpt: Checkpoint, directory: str | Path) -> Path:
    directory = Path(directory)
    ckpt.model.save_pretrained(directory, safe_serialization=True)
    ckpt.tokenizer.save(directory)
    meta: dict[str, Any] = {"model": asdict(ckpt.config)}
    if ckpt.prefix is not None:
        meta["prefix"] = save_prefix(ckpt.prefix, directory)
    (directory / "tunesmith.json").write_text(json.dumps(meta, indent=2))
    return directory


def load_checkpoint(directory: str | Path | None = None) -> Checkpoint:
    """Load a checkpoint folder (the shipped default model when None), validated: every file
    readable, the vocabulary matching the tokenizer, every weight finite. Any problem is one
    ModelError naming the folder, never a traceback from the file parsers."""
    directory = Path(directory) if directory is not None else DEFAULT_MODEL_DIR
    if not (directory / "config.json").is_file():
        raise ModelError(f"{directory}: not a tunesmith checkpoint (no config.json)")
    tok = _loading(directory, "tokenizer.json", lambda: Tokenizer.load(directory))
    meta = _loading(directory, "tunesmith.json",
                    lambda: json.loads((directory / "tunesmith.json").read_text()))
    cfg = _loading(directory, "tunesmith.json", lambda: ModelConfig(**meta["model"]))
    hf_logging.disable_progress_bar()  # a 5 MB model needs no loading bar on the user's screen
    model = _loading(directory, "model.safetensors",
                     lambda: LlamaForCausalLM.from_pretrained(directory, dtype=torch.float32))
    if model.config.vocab_size != len(tok):
        raise ModelError(
            f"{directory}: model vocabulary {model.config.vocab_size} != tokenizer {len(tok)}"
        )
    _check_finite(model, directory)
    model.eval()
    prefix = None
    if meta.get("prefix"):
        prefix = _loading(directory, "prefix.safetensors", lambda: load_prefix(directory, meta["prefix"]))
    if prefix is not None and prefix.dim != cfg.dim:
        raise ModelError(f"{directory}: prefix width {prefix.dim} != model width {cfg.dim}")
    return Checkpoint(model=model, tokenizer=tok, config=cfg, path=directory, prefix=prefix)


def _loading(directory: Path, name: str, load: Callable[[], T]) -> T:
    """Run one loading step; a corrupt or missing file becomes ModelError naming it."""
    try:
        return load()
    except ModelError:
        raise
    except Exception as e:  # the parsers (json, safetensors, tokenizers) raise anything
        reason = " ".join(str(e).split())[:160] or type(e).__name__
        raise ModelError(f"{directory}: {name} cannot be loaded ({reason})") from e


def _check_finite(model: torch.nn.Module, directory: Path) -> None:
    """NaN or infinite weights sample nonsense silently: refuse them on load."""
    for name, param in model.named_parameters():
        if not torch.isfinite(param).all():
            raise ModelError(f"{directory}: weight {name} holds NaN or infinite values: "
                             "the checkpoint is corrupt")
