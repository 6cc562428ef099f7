"""Text to multitrack MIDI: prompt -> explicit attributes -> header -> constrained sampling.

Consumes a prompt and optional explicit attributes (which override what the text says);
produces `Generated` pieces holding a symusic Score ready to write. Conditioning follows
MIDI-LLM / text2midi with explicit attribute tokens (MuseCoco-style attribute dropout in
training makes any subset valid here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from symusic import Score, Tempo

from tunesmith.attributes import (
    MAX_BARS,
    PITCH_CLASSES,
    Attributes,
    assign_densities,
    assign_roles,
    check_one_length,
    instrument_name,
)
from tunesmith.captions.conditions import caption_for
from tunesmith.captions.parse import gm_notes
from tunesmith.errors import PromptError
from tunesmith.generation.engine import prepare
from tunesmith.generation.grammar import Constraints, SequenceGrammar, Vocab
from tunesmith.generation.rewards import adherence_reward
from tunesmith.generation.sampler import SamplingConfig, sample, under_chords
from tunesmith.midi.io import fit_length
from tunesmith.model import Checkpoint, load_checkpoint
from tunesmith.model.conditioning import DEFAULT_CONDITIONERS, Conditioner, condition
from tunesmith.model.prefix import prefix_embeds
from tunesmith.theory import (
    bar_starts,
    chord_pitch_classes,
    chord_root,
    key_profile,
    one_line,
    scale_mask,
    tonic_and_mode,
)
from tunesmith.tokenization import Tokenizer
from tunesmith.tokenization.harmony import chord_id

DEFAULT_BARS = 8
MAX_PROMPT_CHARS = 20_000
MAX_SEED = 2**31 - 1  # the same cap for the CLI, batch lines and the HTTP API
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
    sections: tuple[tuple[str, int, int], ...] = ()  # a planned piece's (label, first bar, bars)


@dataclass(frozen=True)
class Request:
    """What was asked, resolved once (`resolve`): the prompt, the explicit attributes (flags,
    fields), the targets (the prompt's attributes with the explicit ones overriding) and
    notes for the user. `generate` takes one in place of a prompt, so a front-end that
    checked the request early does not parse the prompt again."""

    prompt: str
    explicit: Attributes
    attributes: Attributes
    notes: tuple[str, ...] = ()


def resolve(
    prompt: str,
    override: Attributes | None = None,
    conditioners: Sequence[Conditioner] = DEFAULT_CONDITIONERS,
) -> Request:
    """Targets from the text, with explicit flags overriding; plus notes for the user.
    Raises PromptError for an impossible request (the text's or the flags')."""
    notes = []
    check_prompt(prompt)
    if override is not None:
        check_one_length(override)
    attrs = condition(prompt, conditioners)
    length_only = override is None or (Attributes(bars=override.bars, seconds=override.seconds) == override
                                       and not override.roles)
    if not prompt.strip() and length_only:
        notes.append("empty prompt: generating unconditioned music")
    notes += gm_notes(prompt)  # "lute" plays on the nearest GM instrument: say so
    if override is not None:
        attrs = attrs.merged(override)
    return Request(prompt, override or Attributes(), with_roles(attrs, override), tuple(notes))


def said_roles(tok: Tokenizer, request: Request) -> list[str]:
    """A note naming the roles the model is told, for a model with role tokens; a lead asked
    by flag of a model without them is refused (it could not be told)."""
    roles = request.attributes.roles or ()
    if not tok.roles:
        if request.explicit.roles:
            raise PromptError("lead: this model reads no part roles (it was trained before role tokens; "
                              "configs/band_stage8.yaml trains one): leave the lead out")
        return []
    busy = dict(request.attributes.densities or ()) if tok.part_density else {}
    told = ", ".join(f"{instrument_name(p)} {role}" + (f" ({busy[p]} notes a bar)" if p in busy else "")
                     for p, role in roles)
    return [f"roles told the model: {told}"] if len(roles) > 1 or busy else []


def with_roles(attrs: Attributes, lead: Attributes | None = None) -> Attributes:
    """`attrs` with a role for every asked pitched part (`assign_roles`): the lead the flags
    name (`lead`'s roles: with no instruments asked, it is the one; else it must be one of
    them), or the one the text names while it is still asked, or the default; and the notes a
    bar each part is told (`assign_densities`)."""
    flagged = dict((lead.roles if lead else None) or ())
    if flagged and not attrs.instruments:
        attrs = attrs.merged(Attributes(instruments=tuple(flagged)))
    if not attrs.instruments:
        return attrs
    for program in flagged:
        if program not in attrs.instruments:
            names = ", ".join(instrument_name(p) for p in attrs.instruments)
            raise PromptError(f"lead {instrument_name(program)} is not among the instruments ({names}): "
                              "name it in the instruments too")
    given = tuple(flagged.items()) or tuple((p, r) for p, r in attrs.roles or () if p in attrs.instruments)
    roles = assign_roles(attrs.instruments, given)
    return replace(attrs, roles=roles, densities=assign_densities(roles))


# Sampling options by the name every front-end uses (CLI flag, batch, HTTP field).
SAMPLING_FIELDS = {"temperature": "temperature", "drum_temperature": "drum_temperature",
                   "groove": "groove", "top_k": "top_k", "top_p": "top_p",
                   "guidance": "guidance_scale", "key_strength": "key_strength",
                   "key_profile": "key_profile", "candidates": "candidates", "order": "order",
                   "drums": "drums", "texture": "texture"}


def sampling_from(fields: Mapping[str, Any]) -> SamplingConfig:
    """SamplingConfig from a front-end's optional fields (None: the default); raises
    ConfigError naming a value out of range."""
    given = {name: fields.get(key) for key, name in SAMPLING_FIELDS.items()}
    return SamplingConfig(**{k: v for k, v in given.items() if v is not None})


def check_prompt(prompt: str) -> None:
    """Refuse a prompt that is too long or not text (undecodable bytes, lone surrogates)."""
    if len(prompt) > MAX_PROMPT_CHARS:
        raise PromptError(f"prompt of {len(prompt)} characters is too long: allowed {MAX_PROMPT_CHARS}")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as e:
        raise PromptError(f"prompt is not valid UTF-8 text (character {e.start + 1} is "
                          f"{prompt[e.start]!a}): give plain text") from None


def check_seed(seed: object) -> int:
    """The seed itself if it is an integer in 0..MAX_SEED, else PromptError naming it."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        shown = f"{seed}"[:40] + ("..." if len(f"{seed}") > 40 else "")
        raise PromptError(f"seed {shown} is out of range: allowed an integer 0..{MAX_SEED}")
    return seed


def bars_for(attrs: Attributes) -> int:
    """Requested bars, converting seconds through the tempo and time signature."""
    if attrs.bars is not None:
        return attrs.bars
    if attrs.seconds is None:
        return DEFAULT_BARS
    num, den = (int(x) for x in (attrs.time_signature or "4/4").split("/"))
    quarters_per_bar = num * 4 / den
    bpm = attrs.tempo or 110.0  # the model picks the tempo: assume a moderate one
    bars = max(1, round(attrs.seconds * bpm / 60 / quarters_per_bar))
    if bars > MAX_BARS:  # never a shorter piece than asked: refuse up front
        raise PromptError(f"{attrs.seconds:g} s at {bpm:g} bpm in {num}/{den} is {bars} bars: "
                          f"allowed up to {MAX_BARS} bars (ask for fewer seconds or a slower tempo)")
    return bars


TOKENS_PER_BAR = 48  # per instrument, a dense bar of the default model (~10 notes)


def check_capacity(attrs: Attributes, bars: int, max_tokens: int) -> None:
    """Refuse up front a length the token budget cannot hold (bars x instruments x a dense
    bar's tokens); what still runs out is refused after sampling, never cut silently."""
    tracks = len(attrs.instruments or ()) or 1
    need = bars * tracks * TOKENS_PER_BAR
    if need > max_tokens:
        raise PromptError(
            f"{bars} bars of {tracks} instrument{'s' * (tracks > 1)} need about {need:,} tokens: "
            f"the model writes at most {max_tokens:,} (ask for at most "
            f"{max(1, max_tokens // (tracks * TOKENS_PER_BAR))} bars)"
        )


def constraints_for(attrs: Attributes, bars: int, tok: Tokenizer | None = None) -> Constraints:
    """What the grammar enforces of the attributes: instruments, meter, tempo and length,
    the asked chords as the bars' chord tokens when `tok` has them, and the notes a bar each
    part is told (held only under texture "held")."""
    programs = tuple(sorted(set(attrs.instruments))) if attrs.instruments else None
    # a length in seconds with a free tempo: the grammar re-derives the bars from the tempo
    seconds = attrs.seconds if attrs.bars is None and attrs.tempo is None else None
    chords = tuple(chord_id(tok, c) for c in attrs.chords) if attrs.chords and tok and tok.chords else None
    return Constraints(programs=programs, time_signature=attrs.time_signature,
                       tempo=attrs.tempo, bars=bars, seconds=seconds, chords=chords,
                       densities=attrs.densities)


def finish_score(score: Score, attrs: Attributes, bars: int) -> Score:
    """Cut notes ringing past the last bar (and mark the end of silent last bars: `fit_length`)
    and a one-voice instrument's notes under its next (theory.one_line); set the exact
    requested tempo (tokens hold a bin)."""
    score = fit_length(one_line(score), bar_starts(score, bars + 1)[bars])
    if attrs.tempo is not None:
        score.tempos.clear()
        score.tempos.append(Tempo(0, float(attrs.tempo)))
    return score


def chord_bias(tok: Tokenizer, chords: Sequence[str], bars: int, strength: float,
               root: float = 0.0) -> np.ndarray:
    """(bars, V): `strength` added to the Pitch tokens of each bar's chord tones, and `root`
    more to its root (for a bass line, which is heard as the harmony's root), the chords
    cycling over the bars ("Am F C G" over 8 bars plays the progression twice)."""
    pitch = np.array([i for i in tok.ids_of_type("Pitch")])
    pcs = np.array([int(tok.tokens[i].split("_")[1]) % 12 for i in pitch])
    out = np.zeros((max(bars, 1), len(tok)), dtype=np.float32)
    for b in range(len(out)):
        name = chords[b % len(chords)]
        out[b, pitch[chord_pitch_classes(name)[pcs]]] = strength
        out[b, pitch[pcs == chord_root(name)]] += root
    return out


# logit boost for the tonic chord token in a piece's first and last bars (3: CK 81.9 %, 6: 88.9 %)
CADENCE = 6.0


def cadence_bias(tok: Tokenizer, key: str, bars: int, first: int = 0, total: int | None = None,
                 strength: float = CADENCE) -> np.ndarray | None:
    """(bars, V) for bars [first, first + bars) of a piece of `total` bars: `strength` on the
    tonic chord token (and its sevenths) in the piece's first and last bar, so a harmony the
    model plans itself opens and closes at home, as tunes do; None without chord tokens. The
    model's own chords drifted to a near key (relative, mediant, subdominant) in 15 of 72
    pieces otherwise (benchmarks/key_adherence.py)."""
    if not tok.chords:
        return None
    tonic, mode = tonic_and_mode(key)
    names = [PITCH_CLASSES[tonic] + s for s in (("", "7", "maj7", "6") if mode == "major" else ("m", "m7"))]
    ids = [chord_id(tok, n) for n in names]
    total = first + bars if total is None else total
    out = np.zeros((max(bars, 1), len(tok)), dtype=np.float32)
    for b in {0, total - 1}:
        if first <= b < first + bars:
            out[b - first, ids] = strength
    return out


def key_bias(tok: Tokenizer, key: str, strength: float, profile: float = 0.0) -> torch.Tensor:
    """(V,) logits offset on pitched notes: -strength outside the key's scale, plus `profile`
    times the log of the key's Krumhansl-Kessler probe-tone profile (relative to its mean),
    which favours tonic and dominant and so tells a key from its relative major/minor. A
    soft preference, like a musician told the key: chromatic notes stay possible. A chord
    token the model picks for a bar loses `strength` per tone outside the scale (asked chords
    are forced, so this only steers the harmony the model plans itself)."""
    weights = key_profile(key)
    tilt = np.log(weights / weights.mean())  # (12,) by pitch class
    scale = scale_mask(key)
    bias = torch.zeros(len(tok))
    for i in tok.ids_of_type("Pitch"):
        pc = int(tok.tokens[i].split("_")[1]) % 12
        bias[i] = profile * float(tilt[pc]) - (0.0 if scale[pc] else strength)
    for i in tok.chord_ids:
        name = tok.tokens[i].split("_", 1)[1]
        if name != "N":
            bias[i] = -strength * float((chord_pitch_classes(name) & ~scale).sum())
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
    prompt: str | Request = "",
    *,
    attributes: Attributes | None = None,
    num: int = 1,
    seed: int = 0,
    sampling: SamplingConfig | None = None,
    checkpoint: Checkpoint | None = None,
    on_step: Callable[[int], None] | None = None,
    conditioners: Sequence[Conditioner] = DEFAULT_CONDITIONERS,
) -> list[Generated]:
    """Generate `num` pieces for one prompt; flags in `attributes` override the text. A
    `Request` from `resolve` may stand for the prompt and its attributes."""
    sampling = sampling or SamplingConfig()
    if not 1 <= num * sampling.candidates <= 64:
        raise PromptError(f"num {num} x candidates {sampling.candidates} is out of range 1..64")
    check_seed(seed)
    ckpt = checkpoint or get_checkpoint()
    request = prompt if isinstance(prompt, Request) else resolve(prompt, attributes, conditioners)
    if isinstance(prompt, Request) and attributes is not None:
        raise PromptError("a resolved request already holds its attributes: pass one or the other")
    prompt, attrs, notes = request.prompt, request.attributes, list(request.notes)
    sampling = under_chords(sampling) if attrs.chords else sampling
    bars = bars_for(attrs)
    check_capacity(attrs, bars, sampling.max_tokens)
    header_attrs = attrs.merged(Attributes(bars=bars))
    tok = ckpt.tokenizer
    notes += said_roles(tok, request)
    header = tok.header(header_attrs)
    vocab = Vocab.of(tok)
    grammars = [SequenceGrammar(vocab, constraints_for(attrs, bars, tok))
                for _ in range(num * sampling.candidates)]
    gen = torch.Generator().manual_seed(seed)
    prepare(ckpt, sampling.decoder)  # a first use converts the checkpoint for the engine
    start = time.perf_counter()
    bias = key_bias(tok, attrs.key, sampling.key_strength, sampling.key_profile) if attrs.key else None
    prefix = None if ckpt.prefix is None else prefix_embeds(ckpt.prefix, [prefix_text(tok, prompt, header)])
    if prefix is not None:
        prefix = np.repeat(prefix, len(grammars), axis=0)  # (B, K, D)
    # per bar: the asked chords' tones, or the tonic chord token opening and closing the piece
    bar_bias = (chord_bias(tok, attrs.chords, bars, sampling.chord_strength) if attrs.chords
                else cadence_bias(tok, attrs.key, bars) if attrs.key else None)
    seqs = sample(ckpt, [header] * len(grammars), grammars, sampling, gen, on_step, bias, prefix, bar_bias)
    took = time.perf_counter() - start
    pieces = []
    for ids, g in zip(seqs, grammars, strict=True):
        if not g.done:  # the token cap stopped it: a shorter piece is not a success
            raise PromptError(
                f"the model reached its {sampling.max_tokens}-token limit at bar {g.bars} of "
                f"{g.bar_target or bars}: ask for fewer bars or fewer instruments"
            )
        made = g.bar_target or bars
        score = finish_score(tok.decode(header + ids), attrs, made)
        _check_seconds(score, attrs, made)
        share = g.masked_steps / max(g.steps, 1)
        asked = header_attrs.merged(Attributes(bars=made))
        pieces.append(Generated(score, header + ids, asked, seed, share, took / num, notes,
                                adherence_reward(score, attrs)))
    return best_of(pieces, sampling.candidates)


def _check_seconds(score: Score, attrs: Attributes, made: int) -> None:
    """A length in seconds with a free tempo: refuse a piece the bar limit made shorter."""
    if attrs.seconds is None or attrs.bars is not None or not len(score.tempos):
        return
    ts = score.time_signatures[0] if len(score.time_signatures) else None
    quarters = ts.numerator * 4 / ts.denominator if ts is not None else 4.0
    need = round(attrs.seconds * score.tempos[0].qpm / 60.0 / quarters)
    if need > made:
        raise PromptError(
            f"{attrs.seconds:g} s at the sampled {score.tempos[0].qpm:.0f} bpm needs {need} bars: "
            f"allowed up to {MAX_BARS} (ask for fewer seconds or give a slower --tempo)"
        )


def best_of(pieces: list[Generated], candidates: int) -> list[Generated]:
    """Keep the highest-reward piece of each consecutive group of `candidates` (the first on
    ties, so one candidate changes nothing)."""
    groups = [pieces[i : i + candidates] for i in range(0, len(pieces), candidates)]
    return [max(group, key=lambda g: g.reward) for group in groups]
