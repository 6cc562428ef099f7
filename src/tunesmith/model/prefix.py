"""Soft-prefix text conditioning: a frozen MiniLM sentence embedding -> K decoder embeddings.

Consumes (B, 384) caption embeddings (retrieval.text_encoder) and produces (B, K, D) vectors
placed before BOS, as the LLM-based text-to-symbolic-music study feeds text-model states as
a prefix. Hand-written because it is one zero-initialised Linear: a warm-started decoder
begins from zero vectors. The Llama stays a plain LlamaForCausalLM; the projection is saved
next to it as prefix.safetensors, described by the `prefix` entry of tunesmith.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import LlamaForCausalLM
from transformers.modeling_outputs import CausalLMOutputWithPast

from tunesmith.errors import ConfigError, ModelError

PREFIX_FILE = "prefix.safetensors"
MAX_PREFIX = 64


@dataclass(frozen=True)
class PrefixConfig:
    length: int = 4  # K prefix positions
    text_dim: int = 384  # all-MiniLM-L6-v2's width

    def __post_init__(self) -> None:
        if not 1 <= self.length <= MAX_PREFIX:
            raise ConfigError(f"prefix length {self.length} is out of range 1..{MAX_PREFIX}")
        if self.text_dim < 1:
            raise ConfigError(f"prefix text_dim {self.text_dim} must be positive")


class TextPrefix(nn.Module):
    """Linear(text_dim -> K * D), zero at initialisation, reshaped to K vectors."""

    def __init__(self, cfg: PrefixConfig, dim: int) -> None:
        super().__init__()
        self.cfg, self.dim = cfg, dim
        self.proj = nn.Linear(cfg.text_dim, cfg.length * dim)
        nn.init.zeros_(self.proj.weight)  # a warm-started model starts from zero vectors
        nn.init.zeros_(self.proj.bias)

    def forward(self, text_emb: Tensor) -> Tensor:
        return self.proj(text_emb).view(len(text_emb), self.cfg.length, self.dim)  # (B, K, D)


def prefix_embeds(prefix: TextPrefix, texts: Sequence[str]) -> np.ndarray:
    """(B, K, D) float32 prefix vectors of texts ("" is embedded like any text)."""
    from tunesmith.retrieval.text_encoder import encode_texts  # MiniLM loads only when used

    with torch.no_grad():
        out = prefix(torch.from_numpy(encode_texts(list(texts))))
    return np.ascontiguousarray(out.float().numpy())


def save_prefix(prefix: TextPrefix, directory: Path) -> dict[str, Any]:
    """Write prefix.safetensors; returns the tunesmith.json entry that describes it."""
    save_file({k: v.detach().contiguous() for k, v in prefix.state_dict().items()},
              str(directory / PREFIX_FILE))
    return {**asdict(prefix.cfg), "dim": prefix.dim}


def load_prefix(directory: Path, entry: dict[str, Any]) -> TextPrefix:
    dim = int(entry["dim"])
    prefix = TextPrefix(PrefixConfig(length=int(entry["length"]), text_dim=int(entry["text_dim"])), dim)
    path = directory / PREFIX_FILE
    if not path.is_file():
        raise ModelError(f"{directory}: tunesmith.json names a prefix but {PREFIX_FILE} is missing")
    prefix.load_state_dict(load_file(str(path)))
    return prefix.eval()


class PrefixLM(nn.Module):
    """A LlamaForCausalLM with text prefix vectors before its token embeddings, for training
    with the HF Trainer (which passes the collate dict as keyword arguments)."""

    # the output matrix is tied to the embeddings: checkpoints store it once, and the
    # Trainer re-ties it after a resume that finds it missing
    _keys_to_ignore_on_save = ["lm.lm_head.weight"]

    def __init__(self, lm: LlamaForCausalLM, prefix: TextPrefix) -> None:
        super().__init__()
        self.lm, self.prefix = lm, prefix

    def tie_weights(self) -> None:
        self.lm.tie_weights()

    def forward(self, input_ids: Tensor, attention_mask: Tensor, text_emb: Tensor,
                labels: Tensor | None = None) -> CausalLMOutputWithPast:
        tokens = self.lm.get_input_embeddings()(input_ids)  # (B, T, D)
        pre = self.prefix(text_emb.to(self.prefix.proj.weight.dtype)).to(tokens.dtype)  # (B, K, D)
        b, k = pre.shape[:2]
        mask = torch.cat([attention_mask.new_ones(b, k), attention_mask], 1)
        if labels is not None:  # prefix positions carry no loss
            labels = torch.cat([labels.new_full((b, k), -100), labels], 1)
        return self.lm(inputs_embeds=torch.cat([pre, tokens], 1), attention_mask=mask, labels=labels)
