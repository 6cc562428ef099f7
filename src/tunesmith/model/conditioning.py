"""Conditioners: plug-ins that turn a prompt into the attributes the decoder is conditioned on.

Each conditioner takes the prompt and the attributes found so far and returns them,
possibly completed (as audiocraft's conditioners share one small interface). The rule
parser comes first; the embedding conditioner then maps free wording ("a lullaby", "music
for a rave") to the genre and mood vocabularies by all-MiniLM-L6-v2 similarity, filling
only what is still unset. The decoder sees the result as condition tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Protocol

import numpy as np

from tunesmith.attributes import GENRES, MOODS, Attributes

# Descriptions whose embeddings stand for each label (several phrasings per label).
GENRE_TEXTS = {
    "pop": ("a catchy pop song", "radio pop music"),
    "rock": ("a rock song with guitars", "hard rock music"),
    "classical": ("classical music", "a baroque or romantic concert piece"),
    "folk": ("a traditional folk tune", "a celtic fiddle reel or jig"),
    "jazz": ("a jazz tune", "swing and bebop in a jazz club"),
    "blues": ("a blues song", "twelve bar blues"),
    "funk": ("a funky groove", "funk music"),
    "latin": ("latin music", "salsa, samba or bossa nova"),
    "hiphop": ("a hip hop beat", "rap music"),
    "soul": ("soul music", "motown and rhythm and blues"),
    "country": ("country music", "a western cowboy song"),
    "electronic": ("electronic dance music", "music for a rave or a club night"),
    "reggae": ("a reggae song", "jamaican reggae music"),
    "ambient": ("ambient music", "atmospheric background soundscape"),
    "world": ("world music", "traditional music from around the world"),
    "soundtrack": ("a film score", "cinematic soundtrack music for a movie or a game"),
}
MOOD_TEXTS = {
    "happy": ("happy cheerful music", "joyful and bright"),
    "sad": ("sad music", "a mournful, tearful song"),
    "calm": ("calm relaxing music", "a soothing lullaby to fall asleep"),
    "energetic": ("energetic music", "intense driving music for a workout"),
    "dark": ("dark ominous music", "a spooky haunted night"),
    "romantic": ("romantic love song", "tender music for lovers"),
    "epic": ("epic heroic music", "a grand battle anthem"),
    "playful": ("playful whimsical music", "a silly cartoon tune"),
    "melancholic": ("melancholic nostalgic music", "bittersweet longing"),
    "peaceful": ("peaceful serene music", "a quiet morning in nature"),
}


class Conditioner(Protocol):
    def __call__(self, prompt: str, attrs: Attributes) -> Attributes: ...


@dataclass(frozen=True)
class EmbeddingConditioner:
    """Fill unset genre and mood from the prompt's nearest label description."""

    threshold: float = 0.5  # cosine below this: the prompt does not speak of that field
    margin: float = 0.05  # best label must beat the runner-up by this much

    def __call__(self, prompt: str, attrs: Attributes) -> Attributes:
        if not prompt.strip() or (attrs.genre is not None and attrs.mood is not None):
            return attrs
        from tunesmith.retrieval.text_encoder import encode_texts

        emb = encode_texts([prompt[:1000]])[0]
        genre = attrs.genre or self._nearest(emb, GENRES, GENRE_TEXTS)
        mood = attrs.mood or self._nearest(emb, MOODS, MOOD_TEXTS)
        return replace(attrs, genre=genre, mood=mood)

    def _nearest(self, emb: np.ndarray, labels: Sequence[str], texts: dict) -> str | None:
        sims = np.array([float(np.max(_label_embeddings(tuple(texts[lab])) @ emb)) for lab in labels])
        order = np.argsort(-sims)
        best, second = sims[order[0]], sims[order[1]]
        if best < self.threshold or best - second < self.margin:
            return None
        return labels[int(order[0])]


@lru_cache(maxsize=64)
def _label_embeddings(texts: tuple[str, ...]) -> np.ndarray:
    from tunesmith.retrieval.text_encoder import encode_texts

    return encode_texts(list(texts))


def rule_conditioner(prompt: str, attrs: Attributes) -> Attributes:
    """The rule-based parser's attributes, completed by any already set."""
    from tunesmith.captions import parse

    return attrs.merged(parse(prompt)) if prompt.strip() else attrs


DEFAULT_CONDITIONERS: tuple[Conditioner, ...] = (rule_conditioner, EmbeddingConditioner())


def condition(prompt: str, conditioners: Sequence[Conditioner] = DEFAULT_CONDITIONERS) -> Attributes:
    attrs = Attributes()
    for c in conditioners:
        attrs = c(prompt, attrs)
    return attrs
