"""A lean KV-cached forward pass over the weights of a Hugging Face LlamaForCausalLM.

Written by hand because on a 2-core CPU a small model's `generate()` spends most of each
step in Python overhead (cache objects, logits processors, per-call checks), not in
arithmetic. This module reads the very same weights, preallocates the cache once, and
runs one token per sequence per step with about a dozen tensor ops per layer. Its logits
match the HF model's (tested). Left padding is supported so prompts of different lengths
share one batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import LlamaForCausalLM


class KVDecoder:
    """Incremental decoding state for a batch: prefill once, then step one token at a time."""

    def __init__(self, model: LlamaForCausalLM, batch: int, max_len: int) -> None:
        cfg = model.config
        self.m = model.model
        self.lm_head = model.lm_head.weight  # (V, D)
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = cfg.hidden_size // self.n_heads
        self.eps = cfg.rms_norm_eps
        self.max_len = max_len
        layers = len(self.m.layers)
        shape = (layers, batch, self.n_kv, max_len, self.head_dim)
        self.k = torch.zeros(shape)
        self.v = torch.zeros(shape)
        self.valid = torch.zeros(batch, max_len, dtype=torch.bool)  # which cache slots are real
        self.pos = torch.zeros(batch, dtype=torch.long)  # next RoPE position per sequence
        self.t = 0  # next cache slot (shared by the batch)
        theta = getattr(cfg, "rope_theta", None) or cfg.rope_parameters["rope_theta"]
        inv = 1.0 / (theta ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim))
        freqs = torch.outer(torch.arange(max_len).float(), inv)  # (L, hd/2)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()  # (L, hd)

    def _norm(self, x: Tensor, w: Tensor) -> Tensor:
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def _rope(self, x: Tensor, pos: Tensor) -> Tensor:
        # x: (B, H, T, hd), pos: (B, T)
        cos, sin = self.cos[pos].unsqueeze(1), self.sin[pos].unsqueeze(1)
        half = x.shape[-1] // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rot * sin

    @torch.inference_mode()
    def forward(self, ids: Tensor, pad: Tensor | None = None) -> Tensor:
        """Feed (B, T) tokens (pad marks left padding, True = padding); logits of the last."""
        b, t = ids.shape
        if self.t + t > self.max_len:
            raise ValueError(f"cache of {self.max_len} tokens is full")
        real = torch.ones(b, t, dtype=torch.bool) if pad is None else ~pad
        slots = slice(self.t, self.t + t)
        self.valid[:, slots] = real
        pos = self.pos.unsqueeze(1) + real.long().cumsum(1) - 1  # (B, T)
        pos = pos.clamp(min=0)
        self.pos += real.long().sum(1)
        # mask over cache slots: causal within the new block, padding excluded
        keys = self.valid[:, : self.t + t].unsqueeze(1).unsqueeze(1)  # (B,1,1,S)
        causal = torch.ones(t, self.t + t, dtype=torch.bool).tril(self.t)
        mask = keys & causal  # (B,1,T,S)
        mask = mask | ~mask.any(-1, keepdim=True)  # rows of padding attend somewhere (ignored)
        x = self.m.embed_tokens(ids)
        for i, layer in enumerate(self.m.layers):
            x = x + self._attend(layer.self_attn, self._norm(x, layer.input_layernorm.weight),
                                 pos, mask, i, slots)
            h = self._norm(x, layer.post_attention_layernorm.weight)
            mlp = layer.mlp
            x = x + mlp.down_proj(F.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
        self.t += t
        last = self._norm(x[:, -1], self.m.norm.weight)
        return last @ self.lm_head.T  # (B, V)

    def _attend(self, attn, x: Tensor, pos: Tensor, mask: Tensor, i: int, slots: slice) -> Tensor:  # type: ignore[no-untyped-def]
        b, t, _ = x.shape
        q = attn.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = attn.k_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        v = attn.v_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        q, k = self._rope(q, pos), self._rope(k, pos)
        self.k[i, :, :, slots] = k
        self.v[i, :, :, slots] = v
        end = slots.stop
        kk, vv = self.k[i, :, :, :end], self.v[i, :, :, :end]
        out = F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask, enable_gqa=True)
        return attn.o_proj(out.transpose(1, 2).reshape(b, t, -1))
