from __future__ import annotations

import pytest

from tunesmith.attributes import Attributes
from tunesmith.model.conditioning import EmbeddingConditioner, condition, rule_conditioner


@pytest.mark.parametrize(
    ("prompt", "genre", "mood"),
    [
        ("a lullaby for my daughter", None, "calm"),
        ("music for a rave", "electronic", "energetic"),
        ("a heroic battle theme", None, "epic"),
        ("an irish jig", "folk", None),
        ("a baroque minuet", "classical", None),
    ],
)
def test_free_wording_maps_to_labels(prompt: str, genre: str | None, mood: str | None) -> None:
    a = condition(prompt)
    assert (a.genre, a.mood) == (genre, mood)


def test_embedding_conditioner_never_overrides_what_is_set() -> None:
    set_already = Attributes(genre="jazz", mood="sad")
    assert EmbeddingConditioner()("music for a rave", set_already) == set_already


def test_unrelated_text_sets_nothing() -> None:
    assert condition("x") == Attributes()
    assert condition("") == Attributes()


def test_rule_conditioner_keeps_explicit_fields() -> None:
    a = condition("a piano piece in A minor at 70 bpm", (rule_conditioner,))
    assert (a.key, a.tempo, a.instruments) == ("A minor", 70.0, (0,))
