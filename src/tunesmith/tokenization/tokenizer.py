"""Score <-> token ids: miditok's REMI+ (bars, positions, programs, tempos, time signatures)
extended with tunesmith's condition, control and infilling tokens.

A sequence reads: BOS, condition tokens (key, time signature, tempo word, genre, mood,
bars, instruments), CondEnd, REMI+ music tokens, EOS. Drums are miditok's Program_-1.
A tokenizer with chord tokens also says each bar's chord after its Bar and TimeSig
(tokenization/harmony.py), and with role tokens each part's role after its Inst token in
the header; they sit after miditok's ids (chords, then roles), so a model trained without
them keeps its ids and is expanded by new embedding rows.
The tokenizer saves to one miditok JSON next to each checkpoint and loads back identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from miditok import REMI, TokenizerConfig
from symusic import Score

from tunesmith.attributes import DRUMS, INSTRUMENT_NAMES, Attributes
from tunesmith.errors import ConfigError, ModelError
from tunesmith.tokenization.vocab import (
    chord_tokens,
    header_attributes,
    header_tokens,
    role_tokens,
    special_tokens,
)

DRUM_PROGRAM_TOKEN = -1  # miditok's program for drum tracks


@dataclass(frozen=True)
class TokenizerSettings:
    """The REMI+ grid. 8 positions per beat up to 4 beats, then 4 (durations to 12 beats)."""

    positions_per_beat: int = 8
    num_velocities: int = 16
    num_tempos: int = 48
    tempo_range: tuple[int, int] = (40, 250)
    time_signatures: dict[int, list[int]] = field(
        default_factory=lambda: {8: [3, 5, 6, 7, 9, 12], 4: [1, 2, 3, 4, 5, 6, 7], 2: [2, 3]}
    )
    chords: bool = True  # per-bar chord tokens (vocab.chord_tokens) after the REMI+ ones
    roles: bool = True  # header role tokens (vocab.role_tokens) after the chord tokens
    part_density: bool = True  # the header may say a part's notes a bar (a Density token after its Inst)

    def __post_init__(self) -> None:
        if self.positions_per_beat not in (4, 6, 8, 12, 16, 24):
            raise ConfigError(
                f"positions_per_beat {self.positions_per_beat} unsupported: use 4, 6, 8, 12, 16 or 24"
            )
        if not 1 <= self.num_velocities <= 127:
            raise ConfigError(f"num_velocities {self.num_velocities} out of range 1..127")
        if not 1 <= self.num_tempos <= 256:
            raise ConfigError(f"num_tempos {self.num_tempos} out of range 1..256")

    def miditok_config(self) -> TokenizerConfig:
        return TokenizerConfig(
            pitch_range=(21, 109),
            beat_res={(0, 4): self.positions_per_beat, (4, 12): max(self.positions_per_beat // 2, 1)},
            num_velocities=self.num_velocities,
            special_tokens=special_tokens(),
            use_programs=True,
            one_token_stream_for_programs=True,
            use_time_signatures=True,
            use_tempos=True,
            num_tempos=self.num_tempos,
            tempo_range=self.tempo_range,
            log_tempos=True,
            remove_duplicated_notes=True,
            delete_equal_successive_tempo_changes=True,
            time_signature_range=self.time_signatures,
        )


class Tokenizer:
    """tunesmith's vocabulary: a miditok REMI tokenizer plus our special tokens."""

    def __init__(self, remi: REMI, chords: bool = False, roles: bool = False,
                 part_density: bool = False) -> None:
        self.remi = remi
        self.chords, self.roles, self.part_density = chords, roles, part_density
        added = set(chord_tokens()) | set(role_tokens())  # miditok's ids come first, ours follow
        self.n_base = sum(1 for t in remi.vocab if t not in added)
        # not miditok special tokens: those would come first and shift every id
        for t in [*(chord_tokens() if chords else []), *(role_tokens() if roles else [])]:
            if t not in remi.vocab:
                remi.add_to_vocab(t)
        self.vocab: dict[str, int] = dict(remi.vocab)
        self.tokens: list[str] = [""] * len(self.vocab)
        for tok, i in self.vocab.items():
            self.tokens[i] = tok
        self.n_special = len(remi.config.special_tokens)
        self.pad_id, self.bos_id, self.eos_id = (self.vocab[f"{t}_None"] for t in ("PAD", "BOS", "EOS"))
        self.cond_end_id = self.vocab["CondEnd_None"]
        self.chord_ids = frozenset(self.vocab[t] for t in chord_tokens() if t in self.vocab)

    @classmethod
    def create(cls, settings: TokenizerSettings | None = None) -> Tokenizer:
        settings = settings or TokenizerSettings()
        return cls(REMI(settings.miditok_config()), chords=settings.chords, roles=settings.roles,
                   part_density=settings.part_density)

    @classmethod
    def default(cls) -> Tokenizer:
        return cls.create()

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        path = Path(path)
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            raise ModelError(f"{file}: no tokenizer file")
        remi = REMI(params=file)
        return cls(remi, chords=bool(getattr(remi, "chord_tokens", False)),
                   roles=bool(getattr(remi, "role_tokens", False)),
                   part_density=bool(getattr(remi, "part_density", False)))

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # miditok sets them back on the REMI it loads
        extra = {"chord_tokens": self.chords, "role_tokens": self.roles, "part_density": self.part_density}
        self.remi.save(directory, additional_attributes=extra, filename="tokenizer.json")
        return directory / "tokenizer.json"

    def __len__(self) -> int:
        return len(self.vocab)

    # --- ids and tokens -------------------------------------------------------------
    def id(self, token: str) -> int:
        return self.vocab[token if "_" in token else f"{token}_None"]

    def ids(self, tokens: Sequence[str]) -> list[int]:
        return [self.id(t) for t in tokens]

    def to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    def is_music(self, token_id: int) -> bool:
        """A token miditok's decoder reads (not a condition, control, fill or chord token)."""
        return self.n_special <= token_id < self.n_base

    def ids_of_type(self, prefix: str) -> list[int]:
        """Ids of every token of one type, e.g. "Pitch" or "Program"."""
        return [i for t, i in self.vocab.items() if t.split("_", 1)[0] == prefix]

    def program_id(self, program: int) -> int:
        """Id of the Program token of a GM program (DRUMS for the drum kit)."""
        return self.vocab[f"Program_{DRUM_PROGRAM_TOKEN if program == DRUMS else program}"]

    def program_of(self, token_id: int) -> int:
        """GM program (DRUMS for the drum kit) of a Program token id."""
        program = int(self.tokens[token_id].split("_", 1)[1])
        return DRUMS if program == DRUM_PROGRAM_TOKEN else program

    def tempo_id(self, bpm: float) -> int:
        """Id of the Tempo token nearest to `bpm` (the lower one on a tie)."""
        tempos = self.remi.tempos  # ascending bpm, one per Tempo token
        return self.vocab[f"Tempo_{tempos[int(np.argmin(np.abs(tempos - bpm)))]}"]

    # --- encoding -------------------------------------------------------------------
    def preprocess(self, score: Score) -> Score:
        """The score quantized to this vocabulary's grid, as the decoder will give it back."""
        return self.remi.preprocess_score(score.copy())

    def encode_score(self, score: Score) -> list[int]:
        """REMI+ ids of the music of a score (no header, no BOS/EOS)."""
        seq = self.remi.encode(score)
        return list(seq.ids)

    def header(self, attrs: Attributes | None) -> list[int]:
        """BOS, the condition tokens of `attrs`, CondEnd."""
        said = header_tokens(attrs) if attrs is not None else []
        # a model trained before role tokens (or part densities) reads its header without them
        conds = self.ids([t for t in said if (self.roles or not t.startswith("Role_"))
                          and (self.part_density or not t.startswith("Density_"))])
        return [self.bos_id, *conds, self.cond_end_id]

    def attributes(self, ids: Sequence[int]) -> Attributes:
        """The attributes the condition tokens among `ids` state (the inverse of `header`)."""
        return header_attributes(self.to_tokens(ids))

    def encode(self, score: Score, attrs: Attributes | None = None) -> list[int]:
        return [*self.header(attrs), *self.encode_score(score), self.eos_id]

    # --- decoding -------------------------------------------------------------------
    def music_ids(self, ids: Sequence[int]) -> list[int]:
        """The REMI+ part of a sequence: after CondEnd, up to EOS or an infilling section."""
        ids = list(ids)
        start = ids.index(self.cond_end_id) + 1 if self.cond_end_id in ids else 0
        stop_ids = {self.eos_id, self.id("FillStart")}
        out = []
        for i in ids[start:]:
            if i in stop_ids:
                break
            if self.is_music(i):
                out.append(i)
        return out

    def decode(self, ids: Sequence[int]) -> Score:
        """A score from token ids, with named tracks and drums flagged."""
        music = self.music_ids(ids)
        score = self.remi.decode(music) if music else Score(self.remi.time_division)
        for track in score.tracks:
            track.name = INSTRUMENT_NAMES[DRUMS] if track.is_drum else INSTRUMENT_NAMES[track.program]
        return score


def _note_set(score: Score) -> list[tuple[int, int, int, int]]:
    return sorted(
        (DRUMS if t.is_drum else t.program, n.pitch, n.time, n.duration)
        for t in score.tracks
        for n in t.notes
    )


def round_trip_rate(tok: Tokenizer, score: Score) -> float:
    """Share of the notes of the quantized score that decoding gives back with the same
    program, pitch, onset and duration (multiset match)."""
    from collections import Counter

    decoded = tok.decode(tok.encode(score))
    # preprocessing quantizes to the position grid; decoding returns miditok's time division
    quantized = tok.preprocess(score).resample(decoded.ticks_per_quarter, min_dur=1)
    want = Counter(_note_set(quantized))
    got = Counter(_note_set(decoded))
    total = sum(want.values())
    return 1.0 if total == 0 else sum((want & got).values()) / total
