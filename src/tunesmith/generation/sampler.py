"""Grammar-constrained, KV-cached sampling of token sequences (batch of prompts at once).

Consumes a checkpoint, header ids per sequence and per-sequence grammars; produces token
ids. Sampling settings are arguments and randomness comes from a caller's torch.Generator.
Classifier-free guidance mixes the logits of the conditioned and the unconditioned header
(and, with a soft text prefix, of the prompt's prefix and the empty text's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import Tensor

from tunesmith.errors import ConfigError
from tunesmith.generation.engine import DECODERS, EngineDecoder
from tunesmith.generation.grammar import SequenceGrammar
from tunesmith.generation.kvdecoder import KVDecoder
from tunesmith.model import Checkpoint
from tunesmith.model.prefix import prefix_embeds

ORDERS = ("interleaved", "trackwise")  # SamplingConfig.order
DRUM_SOURCES = ("groove", "model")  # SamplingConfig.drums
TEXTURES = ("stated", "held", "off")  # SamplingConfig.texture


@dataclass(frozen=True)
class SamplingConfig:
    # 1.0: cooler sampling makes parts busier, not calmer (stage 7, 30 prompts x 3 seeds: at 0.9 /
    # 0.8 chord parts 14.1 -> 18.3 / 19.2 notes a bar, leads 6.5 -> 6.5 / 7.3, mean OA 0.839 ->
    # 0.837 / 0.835; benchmarks/listening_reference.py --temperature)
    temperature: float = 1.0
    # temperature of a drum hit's key, velocity and duration (1: as the rest; at 0.5 the kit
    # repeats more but the snare fades, benchmarks/listening_reference.py)
    drum_temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 0.95  # 1.0 = off
    guidance_scale: float = 1.0  # 1.0 = no classifier-free guidance
    key_strength: float = 1.5  # logit penalty on pitches outside the requested key's scale
    # weight of the key's log probe-tone profile on pitch logits: at 2 the 24 free prompts that
    # ask a key read as it in 95.8 % of the pieces written as the CLI writes them, 66.7 % at 1
    # (benchmarks/key_adherence.py; mean OA 0.830 vs 0.836, benchmarks/listening_reference.py)
    key_profile: float = 2.0
    candidates: int = 1  # best-of-N: sample N per piece, keep the one that follows the request best
    # logit boost for requested instruments silent so far in the bar (8: at 4 a busy kit
    # crowded out a guitar or bass; benchmarks/listening_reference.py)
    coverage: float = 8.0
    # logit boost for the groove bar's drum keys where the drums play at a position it hit
    # (SequenceGrammar.groove_echo): on drum prompts drum similarity 0.38 -> 0.52, with
    # time-keeping, snare rolls and the pitched parts' notes unchanged
    groove: float = 2.0
    chord_strength: float = 4.0  # logit boost for the asked chord's tones in its bar (if chords are asked)
    max_tokens: int = 8192
    decoder: str = "int8"  # ONNX Runtime GenAI int8 or fp32 weights, or "numpy" (engine.py)
    # how the front-ends (infilling.form.one_window) write a piece of several instruments: one
    # after another, each part its own turn ("trackwise"), or all at once in the stream's
    # interleaved order (the sampler itself always writes one window interleaved). Trackwise:
    # 2 % of a part's bars hold a single note against 28 % interleaved, mean OA 0.857 vs
    # 0.830 (benchmarks/listening_reference.py --order)
    order: str = "trackwise"
    # who writes the drums of a track-by-track piece: "groove", a real groove from the shipped
    # index (retrieval.grooves) in every other bar and the model's bars between
    # (infilling.drums), or "model", every bar (its bars scatter: snare rolls, no backbeat)
    drums: str = "groove"
    # how busy each part is: "held" (the default) tells a part written by infilling (track by
    # track, a new section, a re-filled lead) its notes a bar (Attributes.densities: its family's
    # in the band corpora, a lead at most 5, a lone chord part both) as a per-bar control, and
    # the sampler steers every part towards that many spread over the bar (_thin_busy, a soft
    # cost: no exact count); "stated" only tells it; "off" neither. Stage 9 on the 30 free
    # prompts x 3 seeds: off plays a band's leads 5.2 and chord parts 13.1 notes a bar, lone
    # chord parts 24.8 ("a calm piano piece": 41, sixteenth-note chords); held 4.7, 9.1 and
    # 10.1 (real 3.5-5.2 and 8.2-12.2), mean OA 0.834 -> 0.835, asked bars 96 -> 99 %
    # (benchmarks/listening_reference.py --seeds 3 --texture; docs/eval/listening.md)
    texture: str = "held"

    def __post_init__(self) -> None:
        if not 0.05 <= self.temperature <= 5.0:
            raise ConfigError(f"temperature {self.temperature} is out of range 0.05..5")
        if not 0.05 <= self.drum_temperature <= 5.0:
            raise ConfigError(f"drum_temperature {self.drum_temperature} is out of range 0.05..5")
        if self.top_k < 0:
            raise ConfigError(f"top_k {self.top_k} must be >= 0")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p {self.top_p} is out of range (0, 1]")
        if not 0.0 <= self.guidance_scale <= 10.0:
            raise ConfigError(f"guidance_scale {self.guidance_scale} is out of range 0..10")
        if not 0.0 <= self.coverage <= 20.0:
            raise ConfigError(f"coverage {self.coverage} is out of range 0..20")
        if not 0.0 <= self.groove <= 10.0:
            raise ConfigError(f"groove {self.groove} is out of range 0..10")
        if not 0.0 <= self.chord_strength <= 10.0:
            raise ConfigError(f"chord_strength {self.chord_strength} is out of range 0..10")
        if not 0.0 <= self.key_strength <= 20.0:
            raise ConfigError(f"key_strength {self.key_strength} is out of range 0..20")
        if not 0.0 <= self.key_profile <= 10.0:
            raise ConfigError(f"key_profile {self.key_profile} is out of range 0..10")
        if not 1 <= self.candidates <= 16:
            raise ConfigError(f"candidates {self.candidates} is out of range 1..16")
        if self.max_tokens < 16:
            raise ConfigError(f"max_tokens {self.max_tokens} must be >= 16")
        if self.decoder not in DECODERS:
            raise ConfigError(f"decoder {self.decoder!r} is not one of {', '.join(DECODERS)}")
        if self.order not in ORDERS:
            raise ConfigError(f"order {self.order!r} is not one of {', '.join(ORDERS)}")
        if self.drums not in DRUM_SOURCES:
            raise ConfigError(f"drums {self.drums!r} is not one of {', '.join(DRUM_SOURCES)}")
        if self.texture not in TEXTURES:
            raise ConfigError(f"texture {self.texture!r} is not one of {', '.join(TEXTURES)}")


# the key profile's weight where chords are asked: they carry the harmony, and at weight 2 the
# profile's pull to tonic and dominant fought them (majmin agreement with the asked chords 92 ->
# 84 % in one window, benchmarks/form.py)
CHORD_KEY_PROFILE = 1.0


def under_chords(cfg: SamplingConfig) -> SamplingConfig:
    """`cfg` for music written over asked chords: the key profile at most CHORD_KEY_PROFILE."""
    return replace(cfg, key_profile=min(cfg.key_profile, CHORD_KEY_PROFILE))


def filter_logits(x: np.ndarray, temperature: float, top_k: int, top_p: float) -> np.ndarray:
    """Temperature, top-k and nucleus filtering of one row of logits (masked entries stay
    -inf). Rows, not (B, V) batches: the sampler filters the few dozen tokens each row's
    grammar allows, where (B, V) index helpers cost more than the arithmetic."""
    x = x / np.float32(temperature)
    if 0 < top_k < len(x):
        kth = -np.partition(-x, top_k - 1)[top_k - 1]
        x = np.where(x < kth, -np.inf, x)
    if top_p < 1.0:
        order = np.argsort(-x, kind="stable")
        probs = _softmax(x[order])
        x = x.copy()
        x[order[np.cumsum(probs) - probs > top_p]] = -np.inf  # keep the smallest set reaching top_p
    return x


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def draw(probs: np.ndarray, rng: np.random.Generator) -> int:
    """One index of a row of probabilities by inverse CDF (a NumPy draw costs ~1 us where
    torch.multinomial costs ~70 us at this size)."""
    u = 1.0 - rng.random()  # (0, 1]
    cdf = np.cumsum(probs, dtype=np.float64)
    # the first index whose cumulative mass reaches u: zero-probability entries never qualify
    return int((cdf < u * cdf[-1]).sum())


def _boost_missing(logits: np.ndarray, grammars: list[SequenceGrammar], boost: float) -> np.ndarray:
    """Raise the Program tokens of requested instruments that have not played in the
    current bar, so that every instrument asked for is heard (a soft, per-bar nudge)."""
    if boost == 0.0:
        return logits
    rows = [(i, g.missing_programs()) for i, g in enumerate(grammars)]
    rows = [(i, m) for i, m in rows if m]
    if not rows:
        return logits
    logits = logits.copy()
    tok = grammars[0].v.tok
    for i, missing in rows:
        logits[i, [tok.program_id(p) for p in missing]] += boost
    return logits


THIN_LOGIT = 2.0  # texture "held": logit cost per note a part would run past its even share of the bar


def _thin_busy(logits: np.ndarray, grammars: list[SequenceGrammar], cfg: SamplingConfig) -> np.ndarray:
    """Under texture "held", lower each token that would put a part's notes past its told
    notes a bar spread evenly over the bar (SequenceGrammar.excess): its next note here
    (its Program token) and, for a part written alone, each later onset (Position tokens),
    by THIN_LOGIT per note past."""
    if cfg.texture != "held":
        return logits
    rows = [(i, g.over_density(), g.later_onsets()) for i, g in enumerate(grammars)]
    rows = [(i, over, onsets) for i, over, onsets in rows if over or onsets[0]]
    if not rows:
        return logits
    logits = logits.copy()
    tok = grammars[0].v.tok
    for i, over, (ids, past_at) in rows:
        for program, past in over:
            logits[i, tok.program_id(program)] -= THIN_LOGIT * past
        logits[i, ids] -= THIN_LOGIT * past_at
    return logits


def _echo_groove(logits: np.ndarray, grammars: list[SequenceGrammar], boost: float) -> np.ndarray:
    """Move the logits towards the groove bar's drum keys (SequenceGrammar.groove_echo)."""
    if boost == 0.0:
        return logits
    rows = [(i, up) for i, g in enumerate(grammars) if (up := g.groove_echo())]
    if not rows:
        return logits
    logits = logits.copy()
    for i, up in rows:
        logits[i, up] += boost
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

    def __init__(self, ckpt: Checkpoint, prompts: list[list[int]], prefix: np.ndarray | None = None,
                 decoder: str = "int8") -> None:
        self.ckpt, self.max_len = ckpt, ckpt.config.max_len
        # the engine takes no soft prefix: a prefix checkpoint runs on the NumPy decoder
        self.decoder = "numpy" if prefix is not None else decoder
        self.prefix = prefix  # (rows, K, D) soft prefix, fed again at every re-prefill
        self.k = 0 if prefix is None else prefix.shape[1]
        self.history = [list(p) for p in prompts]
        self.heads = [list(p) for p in prompts]
        self.logits = self._prefill(self.history)

    def _prefill(self, seqs: list[list[int]]) -> Tensor:
        if self.decoder == "numpy":
            self.kv: KVDecoder | EngineDecoder = KVDecoder(self.ckpt.model, len(seqs), self.max_len)
        else:
            self.kv = EngineDecoder(self.ckpt, len(seqs), self.max_len, self.decoder)
        ids, pad = _left_pad(seqs, self.ckpt.tokenizer.pad_id)
        return self.kv.forward(ids, pad, self.prefix)

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
            budget = self.max_len // 2 - len(head) - self.k
            start = max(len(body) - budget, 0)
            while start < len(body) and body[start] != bar_id:
                start += 1
            keep.append(head + body[start:])
        self.logits = self._prefill(keep)
        return self.logits


def _row_prefixes(ckpt: Checkpoint, prefix: np.ndarray | None, b: int, guided: bool) -> np.ndarray | None:
    """(rows, K, D) prefix vectors for a checkpoint with a text prefix: the caller's for the
    conditioned rows (the empty text's when none is given), the empty text's for CFG rows."""
    if ckpt.prefix is None:
        if prefix is not None:
            raise ConfigError("a text prefix was given but the checkpoint has no prefix projection")
        return None
    empty = prefix_embeds(ckpt.prefix, [""])  # (1, K, D)
    cond = np.broadcast_to(empty, (b, *empty.shape[1:])) if prefix is None else prefix
    if cond.shape != (b, *empty.shape[1:]):
        raise ConfigError(f"prefix of shape {cond.shape}: expected {(b, *empty.shape[1:])}")
    return np.concatenate([cond, np.broadcast_to(empty, cond.shape)]) if guided else np.ascontiguousarray(cond)


def _choose(logits: np.ndarray, grammars: list[SequenceGrammar], cfg: SamplingConfig,
            rng: np.random.Generator) -> np.ndarray:
    """The next token of every row: coverage nudge, filtering and one draw among the tokens
    the grammar allows (a few dozen of 781, so the sort and softmax stay small). Counts the
    steps where the grammar overrode the model's top token."""
    logits = _echo_groove(_boost_missing(logits, grammars, cfg.coverage), grammars, cfg.groove)
    logits = _thin_busy(logits, grammars, cfg)
    out = np.zeros(len(grammars), np.int64)
    for i, g in enumerate(grammars):
        mask, ids = g.options()
        if not g.done:
            g.steps += 1
            g.masked_steps += int(not mask.numpy()[logits[i].argmax()])
        temperature = cfg.drum_temperature if g.in_drum_note() else cfg.temperature
        row = filter_logits(logits[i, ids], temperature, cfg.top_k, cfg.top_p)
        out[i] = ids[draw(_softmax(row), rng)]
    return out


def sample(
    ckpt: Checkpoint,
    headers: list[list[int]],
    grammars: list[SequenceGrammar],
    cfg: SamplingConfig,
    generator: torch.Generator,
    on_step: Callable[[int], None] | None = None,
    bias: Tensor | None = None,
    prefix: np.ndarray | None = None,
    bar_bias: np.ndarray | None = None,
) -> list[list[int]]:
    """Sample one continuation per header; returns the generated ids (without the header).
    `bias` (V,) is added to the logits at every step (e.g. a key's scale preference).
    `prefix` (B, K, D) is the prompt's soft prefix when the checkpoint has one. `bar_bias`
    (bars, V) is added in each bar to the rows in it (e.g. the tones of that bar's chord)."""
    b = len(headers)
    guided = cfg.guidance_scale != 1.0
    tok = ckpt.tokenizer
    uncond = [tok.bos_id, tok.cond_end_id]
    rows = _row_prefixes(ckpt, prefix, b, guided)
    stream = _Stream(ckpt, headers + [uncond] * b if guided else headers, rows, cfg.decoder)
    out: list[list[int]] = [[] for _ in range(b)]
    np_bias = None if bias is None else bias.numpy()
    # the caller's torch.Generator seeds the NumPy one, so a seed still reproduces a piece
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
    # One BLAS thread: a second one gained 2 % at batch 1 and 16 % at batch 8 on an idle
    # 2-core machine, but made the small products up to 25x slower while the other core was
    # busy (a second job, a training run): OpenBLAS threads spin-wait on a loaded core.
    with threadpool_limits(limits=1, user_api="blas"):
        for step in range(cfg.max_tokens):
            if all(g.done for g in grammars):
                break
            logits = stream.logits.numpy()
            if guided:
                logits = logits[b:] + cfg.guidance_scale * (logits[:b] - logits[b:])
            if np_bias is not None:
                logits = logits + np_bias
            if bar_bias is not None:  # each row's current bar (0 before its first Bar token)
                logits = logits + bar_bias[[min(max(g.bars - 1, 0), len(bar_bias) - 1) for g in grammars]]
            nxt = _choose(logits, grammars, cfg, rng)
            for i, g in enumerate(grammars):
                if not g.done:
                    g.advance(int(nxt[i]))
                    out[i].append(int(nxt[i]))
            if on_step is not None:
                on_step(step)
            ids = torch.from_numpy(nxt.astype(np.int64))
            stream.push(torch.cat([ids, ids]) if guided else ids)
    return out
