"""A lean KV-cached forward pass over the weights of a Hugging Face LlamaForCausalLM.

Written by hand because a small model's per-token cost on a laptop CPU is overhead, not
arithmetic. Measured on the 4.9M default model at batch 1 (`python benchmarks/generate.py`):
HF `generate()` spends most of each step in Python (cache objects, logits processors,
checks); torch's own fp32 batch-1 matrix-vector product is ~3x slower here than the
OpenBLAS sgemv NumPy calls, and each torch op costs a few microseconds of dispatch where a
NumPy op costs about one. So the weights are copied once into NumPy arrays (transposed,
q/k/v and gate/up fused), the cache is preallocated, and one step is ~15 array ops per
layer. Logits match the HF model's (tested). Left padding lets prompts of different
lengths share one batch. The interface is torch tensors in and out; a soft text prefix
(model/prefix.py) enters the prefill as NumPy embeddings before the tokens.

No longer the default: the int8 engine (engine.py) is 3-4x faster per step and the fp32
engine faster too. This decoder stays for checkpoints with a soft prefix (the engine takes
no input embeddings) and as the reference the engine's logits are tested against.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor
from transformers import LlamaForCausalLM

Array = NDArray[np.float32]


def _np(t: Tensor) -> Array:
    return np.ascontiguousarray(t.detach().float().cpu().numpy())


class _Layer:
    """One decoder layer's weights, transposed for `x @ W` and fused where ops share input.
    Each RMSNorm's gain is folded into the matrix that follows it, and the attention scale
    into the query columns (RoPE is linear), which saves three array ops per layer."""

    def __init__(self, layer, head_dim: int) -> None:  # type: ignore[no-untyped-def]
        a, mlp = layer.self_attn, layer.mlp
        qkv = torch.cat([a.q_proj.weight * head_dim**-0.5, a.k_proj.weight, a.v_proj.weight])
        self.qkv = _np((qkv * layer.input_layernorm.weight).T)
        self.wo = _np(a.o_proj.weight.T)
        gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])
        self.gate_up = _np((gate_up * layer.post_attention_layernorm.weight).T)
        self.down = _np(mlp.down_proj.weight.T)


class Weights:
    """A model's weights as NumPy arrays plus RoPE tables, built once per model (a copy and
    transpose of 20 MB would otherwise cost every new batch and every context slide)."""

    _cache: weakref.WeakKeyDictionary[LlamaForCausalLM, Weights] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, model: LlamaForCausalLM, max_len: int) -> Weights:
        found = cls._cache.get(model)
        if found is None or found.max_len < max_len or found.stamp != _stamp(model):
            found = cls._cache[model] = Weights(model, max_len)
        return found

    def __init__(self, model: LlamaForCausalLM, max_len: int) -> None:
        cfg = model.config
        self.stamp = _stamp(model)
        self.max_len = max_len
        self.n_heads: int = cfg.num_attention_heads
        self.n_kv: int = cfg.num_key_value_heads or self.n_heads
        self.head_dim: int = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads
        self.eps = float(cfg.rms_norm_eps)
        self.embed = _np(model.model.embed_tokens.weight)  # (V, D)
        self.head = _np((model.lm_head.weight * model.model.norm.weight).T)  # (D, V), norm folded
        self.layers = [_Layer(layer, self.head_dim) for layer in model.model.layers]
        theta = float((getattr(cfg, "rope_parameters", None) or {}).get("rope_theta") or 10000.0)
        inv = 1.0 / (theta ** (np.arange(0, self.head_dim, 2, dtype=np.float64) / self.head_dim))
        freqs = np.outer(np.arange(max_len, dtype=np.float64), inv)
        emb = np.concatenate([freqs, freqs], axis=-1)
        self.cos, self.sin = np.cos(emb).astype(np.float32), np.sin(emb).astype(np.float32)
        half = self.head_dim // 2
        self.rot = np.zeros((self.head_dim, self.head_dim), np.float32)  # x @ rot = rotate_half(x)
        self.rot[np.arange(half) + half, np.arange(half)] = -1.0
        self.rot[np.arange(half), np.arange(half) + half] = 1.0


def _stamp(model: LlamaForCausalLM) -> tuple[tuple[int, int], ...]:
    """Changes whenever a parameter is replaced or modified in place (training, loading)."""
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


class KVDecoder:
    """Incremental decoding state for a batch: prefill once, then step one token at a time."""

    def __init__(self, model: LlamaForCausalLM, batch: int, max_len: int) -> None:
        w = Weights.of(model, max_len)
        self.n_heads, self.n_kv, self.head_dim, self.eps = w.n_heads, w.n_kv, w.head_dim, w.eps
        self.embed, self.head, self.layers = w.embed, w.head, w.layers
        self.cos, self.sin, self.rot = w.cos, w.sin, w.rot
        self.max_len = max_len
        shape = (len(self.layers), batch, self.n_kv, max_len, self.head_dim)
        # keys are stored transposed, (.., hd, S): q @ keys then needs no copy (10 vs 64 us)
        self.kt = np.zeros(shape[:3] + (self.head_dim, max_len), np.float32)
        self.v = np.zeros(shape, np.float32)
        self.valid = np.zeros((batch, max_len), bool)  # which cache slots are real
        self.pos = np.zeros(batch, np.int64)  # next RoPE position per sequence
        self.t = 0  # next cache slot (shared by the batch)
        self.padded = False  # without padding a one-token step needs no mask at all

    def _rms(self, x: Array) -> Array:
        """RMSNorm without its gain (folded into the next matrix)."""
        return x / np.sqrt((x * x).sum(-1, keepdims=True) * (1.0 / x.shape[-1]) + self.eps)

    def _rope(self, x: Array, cos: Array, sin: Array) -> Array:
        """Rotary embedding of (..., hd) rows; cos and sin broadcast against them."""
        return (x * cos + (x @ self.rot) * sin).astype(np.float32, copy=False)

    def _mask(self, t: int) -> Tensor:
        """Boolean (B, 1, T, S) mask of allowed keys: causal within the new block, padding
        slots excluded."""
        keys = self.valid[:, None, : self.t + t]  # (B, 1, S)
        causal = np.tril(np.ones((t, self.t + t), bool), self.t)
        allowed = keys & causal  # (B, T, S)
        allowed |= ~allowed.any(-1, keepdims=True)  # padding rows attend somewhere
        return torch.from_numpy(allowed[:, None])

    def forward(self, ids: Tensor, pad: Tensor | None = None, embeds: Array | None = None) -> Tensor:
        """Feed (B, T) tokens (pad marks left padding, True = padding); logits of the last.
        `embeds` (B, K, D) go before the tokens (a text prefix: RoPE positions 0..K-1 on
        the first call, and the left padding sits between them and the tokens, masked)."""
        tokens = ids.numpy()
        b, t = tokens.shape
        if t == 1 and self.t < self.max_len and embeds is None:
            return torch.from_numpy(self._step(tokens[:, 0]))
        x = self.embed[tokens]  # (B, T, D)
        real = np.ones((b, t), bool) if pad is None else ~pad.numpy()
        if embeds is not None:
            x = np.concatenate([embeds.astype(np.float32, copy=False), x], 1)
            real = np.concatenate([np.ones(embeds.shape[:2], bool), real], 1)
            t += embeds.shape[1]
        if self.t + t > self.max_len:
            raise ValueError(f"cache of {self.max_len} tokens is full")
        slots = slice(self.t, self.t + t)
        self.valid[:, slots] = real
        pos = np.maximum(self.pos[:, None] + np.cumsum(real, axis=1) - 1, 0)  # (B, T)
        self.pos += real.sum(1)
        self.padded = self.padded or bool((~real).any())
        mask = self._mask(t) if (t > 1 or self.padded) else None
        cos, sin = self.cos[pos][:, None], self.sin[pos][:, None]
        x = x.reshape(b * t, -1)
        for i, layer in enumerate(self.layers):
            qkv = self._rms(x) @ layer.qkv
            x = x + self._attend(qkv.reshape(b, t, -1), cos, sin, mask, i, slots) @ layer.wo
            x = self._mlp(x, layer)
        self.t += t
        last = self._rms(x.reshape(b, t, -1)[:, -1])
        return torch.from_numpy(last @ self.head)  # (B, V)

    def _step(self, tokens: NDArray[np.int64]) -> Array:
        """One new token per sequence: the generation hot path, specialised for T = 1."""
        b, slot = len(tokens), self.t
        hd, h, kv = self.head_dim, self.n_heads, self.n_kv
        self.valid[:, slot] = True
        cos, sin = self.cos[self.pos][:, None], self.sin[self.pos][:, None]  # (B, 1, hd)
        self.pos += 1
        self.t += 1
        mask = None
        if self.padded:  # (B, 1, 1, S) additive: padding slots get no attention
            mask = np.where(self.valid[:, None, None, : slot + 1], np.float32(0), np.float32(-np.inf))
        x = self.embed[tokens]  # (B, D)
        for i, layer in enumerate(self.layers):
            qkv = self._rms(x) @ layer.qkv
            qk = qkv[:, : (h + kv) * hd].reshape(b, h + kv, hd)
            qk = self._rope(qk, cos, sin)  # queries and keys at once
            self.kt[i, :, :, :, slot] = qk[:, h:]
            self.v[i, :, :, slot] = qkv[:, (h + kv) * hd :].reshape(b, kv, hd)
            q = qk[:, :h].reshape(b, kv, h // kv, hd)
            scores = q @ self.kt[i, :, :, :, : slot + 1]  # (B, KV, g, S)
            if mask is not None:
                scores = scores + mask
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            out = (scores / scores.sum(-1, keepdims=True)) @ self.v[i, :, :, : slot + 1]
            x = self._mlp(x + out.reshape(b, h * hd) @ layer.wo, layer)
        return self._rms(x) @ self.head  # (B, V)

    def _mlp(self, x: Array, layer: _Layer) -> Array:
        """The SwiGLU block with its residual, on (N, D) rows."""
        gate_up = self._rms(x) @ layer.gate_up
        ffn = layer.down.shape[0]
        gate = gate_up[:, :ffn]
        return x + (gate / (1.0 + np.exp(-gate)) * gate_up[:, ffn:]) @ layer.down

    def _attend(self, qkv: Array, cos: Array, sin: Array, mask: Tensor | None, i: int,
                slots: slice) -> Array:
        b, t, _ = qkv.shape
        hd, h, kv = self.head_dim, self.n_heads, self.n_kv
        q = qkv[..., : h * hd].reshape(b, t, h, hd).transpose(0, 2, 1, 3)
        k = qkv[..., h * hd : (h + kv) * hd].reshape(b, t, kv, hd).transpose(0, 2, 1, 3)
        self.kt[i, :, :, :, slots] = self._rope(k, cos, sin).swapaxes(-1, -2)
        self.v[i, :, :, slots] = qkv[..., (h + kv) * hd :].reshape(b, t, kv, hd).transpose(0, 2, 1, 3)
        end = slots.stop
        keys, values = self.kt[i, :, :, :, :end].swapaxes(-1, -2), self.v[i, :, :, :end]  # (B, KV, S, hd)
        # a whole block (prefill) is one large attention: torch's fused kernel does it best
        out = F.scaled_dot_product_attention(
            torch.from_numpy(np.ascontiguousarray(self._rope(q, cos, sin))), torch.from_numpy(keys),
            torch.from_numpy(values), attn_mask=mask, scale=1.0, enable_gqa=True,
        ).numpy()  # (B, H, T, hd)
        return out.transpose(0, 2, 1, 3).reshape(b * t, h * hd)
