"""Roles of parts (lead, chords, bass, pad, drums) and which instruments play them.

Consumes symusic Tracks; produces a role per track and, over a band corpus, a `RoleTable`:
for each genre and role, how often each General MIDI program plays it in real music. The
table drives re-voicing (a bass line goes to an instrument that plays bass lines in that
genre, comping to one that comps), replacing hand-picked ensembles. Rules for the role of
a track are a documented heuristic over program family, register, polyphony and note
length; POP909's named tracks (MELODY, BRIDGE, PIANO) override it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from symusic import Score, Track

from tunesmith.attributes import PART_ROLES
from tunesmith.data.augment import RANGES, octave_shift
from tunesmith.tokenization.controls import track_bar_controls

ROLES = (*PART_ROLES, "drums")
NAMED_ROLES = {"melody": "lead", "bridge": "lead", "piano": "chords"}  # POP909's track names
PAD_PROGRAMS = set(range(48, 56)) | set(range(88, 96))  # ensembles, choirs, synth pads
MIN_NOTES = 8  # fewer is a stray part, not a role


def polyphony_share(track: Track) -> float:
    """Share of onsets shared by at least two notes (chords strike together)."""
    times = track.notes.numpy()["time"]
    if len(times) == 0:
        return 0.0
    _, counts = np.unique(times, return_counts=True)
    return float(counts[counts > 1].sum()) / len(times)


def named_role(track: Track) -> str | None:
    """The role a track's name gives it (POP909's MELODY, BRIDGE, PIANO), else None."""
    return NAMED_ROLES.get(track.name.strip().lower())


def track_role(track: Track, tpq: int) -> str:
    """drums | bass | pad | chords | lead (see the module docstring)."""
    if track.is_drum:
        return "drums"
    named = named_role(track)
    if named:
        return named
    arr = track.notes.numpy()
    pitch = float(np.median(arr["pitch"])) if len(arr) else 60.0
    poly = polyphony_share(track)
    if 32 <= track.program <= 39 or (pitch < 48 and poly < 0.2):
        return "bass"
    long_notes = len(arr) > 0 and float(np.median(arr["duration"])) >= 2 * tpq
    if track.program in PAD_PROGRAMS and long_notes:
        return "pad"
    return "chords" if poly >= 0.4 else "lead"


def part_roles(score: Score) -> dict[int, str]:
    """GM program -> role of each pitched track of a score with at least one note (a window
    decoded from tokens holds one track a program)."""
    return {int(t.program): track_role(t, score.ticks_per_quarter)
            for t in score.tracks if not t.is_drum and len(t.notes)}


def named_subset(score: Score, rng: np.random.Generator) -> Score:
    """A copy keeping some of a score's named parts (POP909's MELODY, BRIDGE, PIANO): the
    accompaniment alone, it with one or more of the tunes, or one tune alone, drawn evenly.
    Un-revoiced, POP909's three piano tracks become one piano part; with this a lone piano
    also meets the accompaniment or a tune alone (stage 10: it did not make a lone piano
    follow the notes a bar it is told, docs/eval/listening.md). Other tracks are kept; a
    score with fewer than two named parts is returned as is."""
    roles = {i: named_role(t) for i, t in enumerate(score.tracks)}
    named = [i for i, role in roles.items() if role]
    if len(named) < 2:
        return score
    comps = [i for i in named if roles[i] == "chords"]
    tunes = [i for i in named if i not in comps]
    subsets = [{i} for i in tunes]  # one tune alone
    for mask in range(1 << len(tunes)):  # the accompaniment with any proper set of tunes
        chosen = {t for b, t in enumerate(tunes) if mask >> b & 1}
        if comps and len(chosen) < len(tunes):
            subsets.append(set(comps) | chosen)
    drop = set(named) - subsets[int(rng.integers(len(subsets)))]
    out = score.copy()
    out.tracks = [t for i, t in enumerate(out.tracks) if i not in drop]
    return out


def part_densities(score: Score) -> dict[int, int]:
    """GM program -> notes a bar of each pitched track: the median over the bars it plays in
    (as attributes.FAMILY_DENSITY counts a family) of its per-bar control density, rounded."""
    out = {}
    for i, t in enumerate(score.tracks):
        if t.is_drum or len(t.notes) == 0:
            continue
        counts = [c.density for c in track_bar_controls(score, i) if c.density]
        out[int(t.program)] = int(round(float(np.median(counts))))
    return out


@dataclass
class RoleTable:
    """genre -> role -> program -> count, learned from real multitrack music."""

    counts: dict[str, dict[str, Counter]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counter)))

    def add(self, score: Score, genre: str) -> None:
        for track in score.tracks:
            if len(track.notes) >= MIN_NOTES and not track.is_drum:
                role = track_role(track, score.ticks_per_quarter)
                self.counts[genre][role][int(track.program)] += 1
                self.counts["*"][role][int(track.program)] += 1

    def choices(self, genre: str | None, role: str, top: int = 8) -> list[tuple[int, float]]:
        """The `top` programs of a role in a genre (else over all genres), with weights."""
        table = self.counts.get(genre or "*") or self.counts.get("*", {})
        counter = table.get(role) or self.counts.get("*", {}).get(role, Counter())
        best = [(p, c) for p, c in counter.most_common() if p in RANGES][:top]
        total = sum(c for _, c in best) or 1
        return [(p, c / total) for p, c in best]

    def save(self, path: Path) -> None:
        data = {g: {r: dict(c.most_common()) for r, c in roles.items()} for g, roles in self.counts.items()}
        path.write_text(json.dumps(data, indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> RoleTable:
        table = cls()
        for g, roles in json.loads(path.read_text()).items():
            for r, progs in roles.items():
                table.counts[g][r] = Counter({int(p): int(c) for p, c in progs.items()})
        return table


def revoice_by_role(score: Score, table: RoleTable, genre: str | None, rng: np.random.Generator) -> Score:
    """Each pitched part given an instrument that plays its role in `genre` (weighted by how
    often it does in the table), moved by up to an octave to fit its range; no two parts
    of one window get the same program unless nothing else fits."""
    out = score.copy()
    used: set[int] = set()
    for track in out.tracks:
        if track.is_drum or len(track.notes) == 0:
            continue
        role = track_role(track, out.ticks_per_quarter)
        pitches = track.notes.numpy()["pitch"]
        options = [(p, w) for p, w in table.choices(genre, role) if p not in used]
        low, high = int(pitches.min()), int(pitches.max())
        fitting = [(p, w, s) for p, w in options if (s := octave_shift(low, high, p)) is not None]
        if not fitting:
            continue
        weights = np.array([w for _, w, _ in fitting])
        k = int(rng.choice(len(fitting), p=weights / weights.sum()))
        program, _, shift = fitting[k]
        used.add(program)
        track.program = program
        track.name = ""
        if shift:
            for note in track.notes:
                note.pitch += shift
    return out


def learn_roles(specs: list[str], limit: int | None = None) -> RoleTable:
    """A RoleTable over the training split of band corpora (held-out pieces stay unseen)."""
    from tunesmith.data.build import piece_split
    from tunesmith.data.corpora import open_corpus

    table = RoleTable()
    for spec in specs:
        for i, piece in enumerate(open_corpus(spec)):
            if limit is not None and i >= limit:
                break
            if piece_split(piece.id, piece.labels) == "train":
                table.add(piece.score, str(piece.labels.get("genre", "*")))
    return table
