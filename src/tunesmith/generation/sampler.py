"""Grammar-constrained, KV-cached sampling of token sequences (batch of prompts at once).

Consumes a checkpoint, header ids per sequence and per-sequence grammars; produces token
ids. Sampling settings are arguments and randomness comes from a caller's torch.Generator.
Classifier-free guidance mixes the logits of the conditioned and the unconditioned header.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from tunesmith.errors import ConfigError
from tunesmith.generation.grammar import SequenceGrammar
from tunesmith.generation.kvdecoder import KVDecoder
from tunesmith.model import Checkpoint


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 0.95  # 1.0 = off
    guidance_scale: float = 1.0  # 1.0 = no classifier-free guidance
    key_strength: float = 1.5  # logit penalty on pitches outside the requested key's scale
    coverage: float = 4.0  # logit boost for requested instruments silent so far in the bar
    max_tokens: int = 8192

    def __post_init__(self) -> None:
        if not 0.05 <= self.temperature <= 5.0:
            raise ConfigError(f"temperature {self.temperature} is out of range 0.05..5")
        if self.top_k < 0:
            raise ConfigError(f"top_k {self.top_k} must be >= 0")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p {self.top_p} is out of range (0, 1]")
        if not 0.0 <= self.guidance_scale <= 10.0:
            raise ConfigError(f"guidance_scale {self.guidance_scale} is out of range 0..10")
        if not 0.0 <= self.coverage <= 20.0:
            raise ConfigError(f"coverage {self.coverage} is out of range 0..20")
        if not 0.0 <= self.key_strength <= 20.0:
            raise ConfigError(f"key_strength {self.key_strength} is out of range 0..20")
        if self.max_tokens < 16:
            raise ConfigError(f"max_tokens {self.max_tokens} must be >= 16")


def filter_logits(logits: Tensor, temperature: float, top_k: int, top_p: float) -> Tensor:
    """Temperature, top-k and nucleus filtering of (B, V) logits (masked entries stay -inf)."""
    logits = logits / temperature
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs > top_p  # keep the smallest set reaching top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def _boost_missing(logits: Tensor, grammars: list[SequenceGrammar], boost: float) -> Tensor:
    """Raise the Program tokens of requested instruments that have not played in the
    current bar, so that every instrument asked for is heard (a soft, per-bar nudge)."""
    if boost == 0.0:
        return logits
    rows = [(i, g.missing_programs()) for i, g in enumerate(grammars)]
    rows = [(i, m) for i, m in rows if m]
    if not rows:
        return logits
    logits = logits.clone()
    vocab = grammars[0].v.tok.vocab
    for i, missing in rows:
        logits[i, [vocab[f"Program_{p}"] for p in missing]] += boost
    return logits


def _left_pad(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    pad = torch.ones(len(seqs), width, dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, width - len(s):] = torch.tensor(list(s), dtype=torch.long)
        pad[i, width - len(s):] = False
    return ids, pad


class _Stream:
    """The KV state of all rows (conditioned rows, then unconditioned rows for CFG)."""

    def __init__(self, ckpt: Checkpoint, prompts: list[list[int]]) -> None:
        self.ckpt, self.max_len = ckpt, ckpt.config.max_len
        self.history = [list(p) for p in prompts]
        self.heads = [list(p) for p in prompts]
        self.logits = self._prefill(self.history)

    def _prefill(self, seqs: list[list[int]]) -> Tensor:
        self.kv = KVDecoder(self.ckpt.model, len(seqs), self.max_len)
        ids, pad = _left_pad(seqs, self.ckpt.tokenizer.pad_id)
        return self.kv.forward(ids, pad)

    def push(self, tokens: Tensor) -> Tensor:
        for row, t in zip(self.history, tokens.tolist(), strict=True):
            row.append(t)
        if self.kv.t + 1 >= self.max_len:
            return self._slide()
        self.logits = self.kv.forward(tokens.unsqueeze(1))
        return self.logits

    def _slide(self) -> Tensor:
        """Context full: keep each header plus the most recent whole bars (half the window)."""
        bar_id = self.ckpt.tokenizer.vocab["Bar_None"]
        keep: list[list[int]] = []
        for head, row in zip(self.heads, self.history, strict=True):
            body = row[len(head):]
            budget = self.max_len // 2 - len(head)
            start = max(len(body) - budget, 0)
            while start < len(body) and body[start] != bar_id:
                start += 1
            keep.append(head + body[start:])
        self.logits = self._prefill(keep)
        return self.logits


def sample(
    ckpt: Checkpoint,
    headers: list[list[int]],
    grammars: list[SequenceGrammar],
    cfg: SamplingConfig,
    generator: torch.Generator,
    on_step: Callable[[int], None] | None = None,
    bias: Tensor | None = None,
) -> list[list[int]]:
    """Sample one continuation per header; returns the generated ids (without the header).
    `bias` (V,) is added to the logits at every step (e.g. a key's scale preference)."""
    b = len(headers)
    guided = cfg.guidance_scale != 1.0
    tok = ckpt.tokenizer
    uncond = [tok.bos_id, tok.cond_end_id]
    stream = _Stream(ckpt, headers + [uncond] * b if guided else headers)
    out: list[list[int]] = [[] for _ in range(b)]
    for step in range(cfg.max_tokens):
        if all(g.done for g in grammars):
            break
        logits = stream.logits
        if guided:
            logits = logits[b:] + cfg.guidance_scale * (logits[:b] - logits[b:])
        if bias is not None:
            logits = logits + bias
        logits = _boost_missing(logits, grammars, cfg.coverage)
        masks = torch.stack([g.mask() for g in grammars])  # (B, V)
        best = logits.argmax(-1)
        masked = logits.masked_fill(~masks, float("-inf"))
        probs = filter_logits(masked, cfg.temperature, cfg.top_k, cfg.top_p).softmax(-1)
        nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        for i, g in enumerate(grammars):
            if not g.done:
                g.steps += 1
                g.masked_steps += int(not masks[i, best[i]])
                g.advance(int(nxt[i]))
                out[i].append(int(nxt[i]))
        if on_step is not None:
            on_step(step)
        stream.push(torch.cat([nxt, nxt]) if guided else nxt)
    return out
