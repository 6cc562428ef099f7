"""Text to multitrack MIDI: prompt -> explicit attributes -> header -> constrained sampling.

Consumes a prompt and optional explicit attributes (which override what the text says);
produces `Generated` pieces holding a symusic Score ready to write. Conditioning follows
MIDI-LLM / text2midi with explicit attribute tokens (MuseCoco-style attribute dropout in
training makes any subset valid here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from symusic import Score, Tempo

from tunesmith.attributes import DRUMS, MAX_BARS, PITCH_CLASSES, Attributes
from tunesmith.captions.conditions import caption_for
from tunesmith.captions.features import MAJOR_PROFILE, MINOR_PROFILE
from tunesmith.errors import PromptError
from tunesmith.generation.grammar import Constraints, SequenceGrammar, Vocab
from tunesmith.generation.rewards import adherence_reward
from tunesmith.generation.sampler import SamplingConfig, sample
from tunesmith.midi.io import cut
from tunesmith.model import Checkpoint, load_checkpoint
from tunesmith.model.conditioning import DEFAULT_CONDITIONERS, Conditioner, condition
from tunesmith.model.prefix import prefix_embeds
from tunesmith.tokenization import Tokenizer, bar_starts

DEFAULT_BARS = 8
MAX_PROMPT_CHARS = 20_000
_cache: dict[str, Checkpoint] = {}


@dataclass
class Generated:
    score: Score
    tokens: list[int]
    attributes: Attributes  # what was asked (text and flags merged)
    seed: int
    masked_share: float  # share of sampling steps where the grammar overrode the model's top token
    seconds: float  # compute time
    notes: list[str] = field(default_factory=list)  # messages for the user
    reward: float = 0.0  # adherence reward read from the MIDI (rewards.adherence_reward)


def resolve(
    prompt: str,
    override: Attributes | None = None,
    conditioners: Sequence[Conditioner] = DEFAULT_CONDITIONERS,
) -> tuple[Attributes, list[str]]:
    """Targets from the text, with explicit flags overriding; plus notes for the user."""
    notes = []
    if len(prompt) > MAX_PROMPT_CHARS:
        raise PromptError(f"prompt of {len(prompt)} characters is too long: allowed {MAX_PROMPT_CHARS}")
    attrs = condition(prompt, conditioners)
    length_only = override is None or Attributes(bars=override.bars, seconds=override.seconds) == override
    if not prompt.strip() and length_only:
        notes.append("empty prompt: generating unconditioned music")
    if override is not None:
        attrs = attrs.merged(override)
    return attrs, notes


def bars_for(attrs: Attributes) -> int:
    """Requested bars, converting seconds through the tempo and time signature."""
    if attrs.bars is not None:
        return attrs.bars
    if attrs.seconds is None:
        return DEFAULT_BARS
    num, den = (int(x) for x in (attrs.time_signature or "4/4").split("/"))
    quarters_per_bar = num * 4 / den
    bpm = attrs.tempo or 110.0  # the model picks the tempo: assume a moderate one
    return max(1, min(MAX_BARS, round(attrs.seconds * bpm / 60 / quarters_per_bar)))


def constraints_for(tok: Tokenizer, attrs: Attributes, bars: int) -> Constraints:
    programs = None
    if attrs.instruments:
        programs = tuple(sorted({-1 if p == DRUMS else p for p in attrs.instruments}))
    tempo_token = None
    if attrs.tempo is not None:
        tempos = [t for t in tok.vocab if t.startswith("Tempo_")]
        tempo_token = min(tempos, key=lambda t: abs(float(t.split("_")[1]) - attrs.tempo))  # type: ignore[operator]
    # a length in seconds with a free tempo: the grammar re-derives the bars from the tempo
    seconds = attrs.seconds if attrs.bars is None and attrs.tempo is None else None
    return Constraints(programs=programs, time_signature=attrs.time_signature,
                       tempo_token=tempo_token, bars=bars, seconds=seconds)


def finish_score(score: Score, attrs: Attributes, bars: int) -> Score:
    """Cut notes ringing past the last bar; set the exact requested tempo (tokens hold a bin)."""
    end = bar_starts(score, bars + 1)[bars]
    if score.end() > end:
        score = cut(score, 0, end)
    if attrs.tempo is not None:
        score.tempos.clear()
        score.tempos.append(Tempo(0, float(attrs.tempo)))
    return score


# Pitch classes of a key, from its tonic: major, and minor with the raised 7th of harmonic minor
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10, 11)}


def key_bias(tok: Tokenizer, key: str, strength: float, profile: float = 0.0) -> torch.Tensor:
    """(V,) logits offset on pitched notes: -strength outside the key's scale, plus `profile`
    times the log of the key's Krumhansl-Kessler probe-tone profile (relative to its mean),
    which favours tonic and dominant and so tells a key from its relative major/minor. A
    soft preference, like a musician told the key: chromatic notes stay possible."""
    tonic, mode = key.split(" ")
    root = PITCH_CLASSES.index(tonic)
    scale = {(root + i) % 12 for i in SCALES[mode]}
    weights = MAJOR_PROFILE if mode == "major" else MINOR_PROFILE
    tilt = np.log(weights / weights.mean())  # tonic first
    bias = torch.zeros(len(tok))
    for i in tok.ids_of_type("Pitch"):
        pc = int(tok.tokens[i].split("_")[1]) % 12
        bias[i] = profile * float(tilt[(pc - root) % 12]) - (0.0 if pc in scale else strength)
    return bias


def prefix_text(tok: Tokenizer, prompt: str, header: list[int]) -> str:
    """The text a soft-prefix checkpoint reads: the prompt, or when it is empty (flags only)
    the caption of the header's conditions, as training captions its kept conditions."""
    return prompt if prompt.strip() else caption_for(tok, header[1:-1])


def get_checkpoint(path: str | None = None) -> Checkpoint:
    key = path or "<default>"
    if key not in _cache:
        _cache[key] = load_checkpoint(path)
    return _cache[key]


def generate(
    prompt: str = "",
    *,
    attributes: Attributes | None = None,
    num: int = 1,
    seed: int = 0,
    sampling: SamplingConfig | None = None,
    checkpoint: Checkpoint | None = None,
    on_step: Callable[[int], None] | None = None,
    conditioners: Sequence[Conditioner] = DEFAULT_CONDITIONERS,
) -> list[Generated]:
    """Generate `num` pieces for one prompt; flags in `attributes` override the text."""
    sampling = sampling or SamplingConfig()
    if not 1 <= num * sampling.candidates <= 64:
        raise PromptError(f"num {num} x candidates {sampling.candidates} is out of range 1..64")
    ckpt = checkpoint or get_checkpoint()
    attrs, notes = resolve(prompt, attributes, conditioners)
    bars = bars_for(attrs)
    header_attrs = attrs.merged(Attributes(bars=bars))
    tok = ckpt.tokenizer
    header = tok.header(header_attrs)
    vocab = Vocab.of(tok)
    grammars = [SequenceGrammar(vocab, constraints_for(tok, attrs, bars))
                for _ in range(num * sampling.candidates)]
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    bias = key_bias(tok, attrs.key, sampling.key_strength, sampling.key_profile) if attrs.key else None
    prefix = None if ckpt.prefix is None else prefix_embeds(ckpt.prefix, [prefix_text(tok, prompt, header)])
    if prefix is not None:
        prefix = np.repeat(prefix, len(grammars), axis=0)  # (B, K, D)
    seqs = sample(ckpt, [header] * len(grammars), grammars, sampling, gen, on_step, bias, prefix)
    took = time.perf_counter() - start
    pieces = []
    for ids, g in zip(seqs, grammars, strict=True):
        made = g.bar_target or bars
        score = finish_score(tok.decode(header + ids), attrs, made)
        share = g.masked_steps / max(g.steps, 1)
        asked = header_attrs.merged(Attributes(bars=made))
        pieces.append(Generated(score, header + ids, asked, seed, share, took / num, notes,
                                adherence_reward(score, attrs)))
    return best_of(pieces, sampling.candidates)


def best_of(pieces: list[Generated], candidates: int) -> list[Generated]:
    """Keep the highest-reward piece of each consecutive group of `candidates` (the first on
    ties, so one candidate changes nothing)."""
    groups = [pieces[i : i + candidates] for i in range(0, len(pieces), candidates)]
    return [max(group, key=lambda g: g.reward) for group in groups]
