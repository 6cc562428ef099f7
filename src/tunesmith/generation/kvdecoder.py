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
        self.n_heads: int = cfg.num_attention_heads
        self.n_kv: int = cfg.num_key_value_heads or self.n_heads
        self.head_dim: int = cfg.hidden_size // self.n_heads
        self.eps = cfg.rms_norm_eps
        self.max_len = max_len
        layers = len(self.m.layers)
        shape = (layers, batch, self.n_kv, max_len, self.head_dim)
        self.k = torch.zeros(shape)
        self.v = torch.zeros(shape)
        self.valid = torch.zeros(batch, max_len, dtype=torch.bool)  # which cache slots are real
        self.pos = torch.zeros(batch, dtype=torch.long)  # next RoPE position per sequence
        self.t = 0  # next cache slot (shared by the batch)
        self.padded = False  # without padding a one-token step needs no mask at all
        self.layers = [self._fuse(layer) for layer in self.m.layers]
        theta = float((cfg.rope_parameters or {}).get("rope_theta") or 10000.0)
        inv = 1.0 / (theta ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim))
        freqs = torch.outer(torch.arange(max_len).float(), inv)  # (L, hd/2)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()  # (L, hd)

    @staticmethod
    def _fuse(layer) -> tuple[Tensor, ...]:  # type: ignore[no-untyped-def]
        """One matmul for q, k, v and one for gate and up: fewer, larger ops per step."""
        a, mlp = layer.self_attn, layer.mlp
        qkv = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]).detach()
        gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]).detach()
        return (layer.input_layernorm.weight.detach(), qkv, a.o_proj.weight.detach(),
                layer.post_attention_layernorm.weight.detach(), gate_up,
                mlp.down_proj.weight.detach())

    def _norm(self, x: Tensor, w: Tensor) -> Tensor:
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def _rope(self, x: Tensor, pos: Tensor) -> Tensor:
        # x: (B, H, T, hd), pos: (B, T)
        cos, sin = self.cos[pos].unsqueeze(1), self.sin[pos].unsqueeze(1)
        half = x.shape[-1] // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rot * sin

    def _mask(self, t: int) -> Tensor:
        """Additive (B, 1, T, S) mask: causal within the new block, padding slots excluded."""
        keys = self.valid[:, : self.t + t].unsqueeze(1).unsqueeze(1)  # (B,1,1,S)
        causal = torch.ones(t, self.t + t, dtype=torch.bool).tril(self.t)
        allowed = keys & causal
        allowed = allowed | ~allowed.any(-1, keepdim=True)  # padding rows attend somewhere
        return torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))

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
        self.padded = self.padded or pad is not None and bool(pad.any())
        mask = self._mask(t) if (t > 1 or self.padded) else None
        x = self.m.embed_tokens(ids)
        for i, (ln1, qkv, wo, ln2, gate_up, down) in enumerate(self.layers):
            x = x + F.linear(self._attend(F.linear(self._norm(x, ln1), qkv), pos, mask, i, slots), wo)
            gate, up = F.linear(self._norm(x, ln2), gate_up).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, down)
        self.t += t
        last = self._norm(x[:, -1], self.m.norm.weight)
        return last @ self.lm_head.T  # (B, V)

    def _attend(self, qkv: Tensor, pos: Tensor, mask: Tensor | None, i: int, slots: slice) -> Tensor:
        b, t, _ = qkv.shape
        hd, nq, nkv = self.head_dim, self.n_heads * self.head_dim, self.n_kv * self.head_dim
        q = qkv[..., :nq].view(b, t, self.n_heads, hd).transpose(1, 2)
        k = qkv[..., nq : nq + nkv].view(b, t, self.n_kv, hd).transpose(1, 2)
        v = qkv[..., nq + nkv :].view(b, t, self.n_kv, hd).transpose(1, 2)
        q, k = self._rope(q, pos), self._rope(k, pos)
        self.k[i, :, :, slots] = k
        self.v[i, :, :, slots] = v
        end = slots.stop
        kk, vv = self.k[i, :, :, :end], self.v[i, :, :, :end]  # (B, KV, S, hd)
        g = self.n_heads // self.n_kv
        # grouped-query attention by reshaping q instead of repeating k and v
        qg = q.reshape(b, self.n_kv, g * t, self.head_dim)
        scores = (qg @ kk.transpose(-1, -2)) * self.head_dim**-0.5  # (B, KV, g*T, S)
        if mask is not None:
            scores = scores.view(b, self.n_kv, g, t, end) + mask.unsqueeze(1)
        probs = scores.softmax(-1).view(b, self.n_kv, g * t, end)
        out = (probs @ vv).view(b, self.n_heads, t, self.head_dim)
        return out.transpose(1, 2).reshape(b, t, -1)
