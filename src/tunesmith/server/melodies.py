"""Melodies over HTTP: search the shipped melody index by text, serve a phrase as MIDI, piano
roll and audio, and read the melody a generation starts from (MG2, Ding et al. 2024: retrieve
a melody that fits the text, then arrange around it).

Consumes prompts, phrase ids (`Hit.id`, the row of the phrase in the index), uploaded MIDI
(base64, through the edits' reader and limits) or a wish for retrieved phrases (one per
section of a planned piece); produces hits as JSON and the melody of a job, checked by
infilling.arrange.check_melody like the CLI's --melody, so both refuse alike.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, ConfigDict
from symusic import Score

from tunesmith.errors import InputError
from tunesmith.generation import Request
from tunesmith.infilling.arrange import Guide, check_melody, retrieved_melody
from tunesmith.retrieval import Clmp, Hit, MelodyIndex, phrase_melody, retrieve
from tunesmith.server.edits import Limits, decode_midi, load_source

MAX_HITS = 20


class MelodyChoice(BaseModel):
    """The melody a generation keeps as its lead: `id`, a phrase from GET /api/retrieve,
    `midi`, a MIDI file as base64 (its track chosen by the request's `melody_track`), or
    `retrieved`: the phrases that fit the prompt best, one per section of a planned piece
    (`generate --melody retrieved`)."""

    model_config = ConfigDict(extra="forbid")

    id: int | None = None
    midi: str | None = None
    retrieved: bool = False


class Melodies:
    """The shipped melody index and CLMP, each loaded once, on first use (requests run on
    several threads: a lock keeps it to one load)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index: MelodyIndex | None = None
        self._clmp: Clmp | None = None

    def index(self) -> MelodyIndex:
        with self._lock:
            if self._index is None:
                self._index = MelodyIndex.open()
            return self._index

    def clmp(self) -> Clmp:
        with self._lock:
            if self._clmp is None:
                self._clmp = Clmp.load()
            return self._clmp

    def search(self, prompt: str, k: int, *, key: str | None = None, meter: str | None = None,
               with_notes: bool = False) -> list[dict[str, Any]]:
        """The hits for a text, best first, as JSON (`tunesmith retrieve`)."""
        if not 1 <= k <= MAX_HITS:
            raise InputError(f"k {k} is out of range: allowed 1..{MAX_HITS}")
        hits = retrieve(prompt, k, key=key, meter=meter, index=self.index(), clmp=self.clmp(),
                        with_notes=with_notes)
        return [hit_json(h) for h in hits]

    def phrase(self, phrase_id: int) -> tuple[Score, str]:
        """A phrase's melody and label; InputError when the id is unknown or has no notes."""
        return phrase_melody(phrase_id, self.index())


def hit_json(hit: Hit) -> dict[str, Any]:
    """A hit's facts, its id and, when its notes are stored, where to get its files."""
    facts = {f: v for f, v in hit.meta.items() if f not in ("path", "notes")}
    urls = None
    if hit.melody is not None:
        base = f"/api/retrieve/{hit.id}"
        urls = {"midi": f"{base}/midi", "wav": f"{base}/wav", "pianoroll.png": f"{base}/pianoroll.png"}
    return {"id": hit.id, "score": round(hit.score, 4), "label": hit.label, **facts, "urls": urls}


def chosen_melody(choice: MelodyChoice, request: Request, track: int | None, form: str | None,
                  melodies: Melodies, limits: Limits) -> Guide:
    """The melody a request names with notes saying which, checked as the CLI checks
    --melody and --melody-track (before the job is queued)."""
    given = [x for x in (choice.id, choice.midi, choice.retrieved or None) if x is not None]
    if len(given) != 1:
        raise InputError(f"the melody is given {len(given)} times: send exactly one of id "
                         "(a hit of /api/retrieve), midi (a MIDI file, base64) or retrieved: true")
    if choice.retrieved:  # the form, if any, is the plan the phrases are joined along
        guide = retrieved_melody(request, form, index=melodies.index(), clmp=melodies.clmp())
        check_melody(guide.score, track)
        return guide
    melody: Score
    if choice.id is not None:
        melody, label = melodies.phrase(choice.id)
        note = f"melody: {label} (id {choice.id})"
    else:
        melody = load_source(decode_midi(choice.midi or "", "melody midi", multipart=False), limits)
        note = "melody: the uploaded MIDI"
    index = check_melody(melody, track, form=form)
    return Guide(melody, (f"{note}, track {index + 1}" if track is not None else note,))
