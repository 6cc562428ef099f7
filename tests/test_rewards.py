from __future__ import annotations

import pytest
from symusic import Score

from conftest import make_score
from tunesmith.attributes import Attributes
from tunesmith.captions.features import estimate_key
from tunesmith.errors import PromptError
from tunesmith.generation.generate import Generated, best_of, key_bias
from tunesmith.generation.rewards import adherence_reward, instrument_recall, key_margin
from tunesmith.tokenization import Tokenizer

Q = 480


def _melody(pitches: list[int]) -> list[tuple[int, int, int, int]]:
    return [(i * Q, Q, p, 80) for i, p in enumerate(pitches)]


def _scale_piece(tonic_weighted: int) -> object:
    """A C major scale whose notes on `tonic_weighted` are held four times longer."""
    notes = []
    t = 0
    for p in (60, 62, 64, 65, 67, 69, 71, 72):
        d = 4 * Q if p % 12 == tonic_weighted else Q
        notes.append((t, d, p, 80))
        t += d
    return make_score([(0, False, notes)])


def test_key_margin_is_positive_exactly_for_the_detected_key() -> None:
    score = _scale_piece(0)  # C major, tonic stressed
    found = estimate_key(score)
    assert found == "C major"
    assert key_margin(score, "C major") > 0
    assert key_margin(score, "A minor") < 0
    assert key_margin(score, "F# major") < key_margin(score, "A minor")  # far keys score lower


def test_key_margin_without_pitched_notes() -> None:
    drums = make_score([(0, True, _melody([36, 38, 36, 38]))])
    assert key_margin(drums, "C major") == -1.0


def test_instrument_recall_counts_drums_as_128(band_score: Score) -> None:
    score = band_score
    assert instrument_recall(score, (0, 33, 128)) == 1.0
    assert instrument_recall(score, (0, 40)) == 0.5
    assert instrument_recall(score, ()) == 1.0


def test_adherence_reward_ranks_the_piece_in_the_asked_key_first() -> None:
    c_major, a_minor = _scale_piece(0), _scale_piece(9)
    attrs = Attributes(key="A minor", instruments=(0,))
    assert adherence_reward(a_minor, attrs) > adherence_reward(c_major, attrs)


def _gen(reward: float) -> Generated:
    return Generated(make_score([(0, False, _melody([60]))]), [], Attributes(), 0, 0.0, 0.0,
                     reward=reward)


def test_best_of_keeps_the_best_of_each_group_and_is_identity_for_one() -> None:
    pieces = [_gen(r) for r in (0.1, 0.9, 0.5, 0.2, 0.2, 0.3)]
    assert [g.reward for g in best_of(pieces, 3)] == [0.9, 0.3]
    assert best_of(pieces, 1) == pieces


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.default()


def test_key_profile_favours_the_tonic_and_separates_relative_keys(tok: Tokenizer) -> None:
    a_minor = key_bias(tok, "A minor", 1.5, profile=1.0)
    c_major = key_bias(tok, "C major", 1.5, profile=1.0)
    pitch = tok.vocab
    # same scale notes, but each key's own tonic is preferred
    assert a_minor[pitch["Pitch_69"]] > a_minor[pitch["Pitch_60"]]
    assert c_major[pitch["Pitch_60"]] > c_major[pitch["Pitch_69"]]
    assert a_minor[pitch["Pitch_70"]] < -1.5  # Bb: outside the scale and low in the profile
    assert a_minor[pitch["PitchDrum_38"]] == 0
    flat = key_bias(tok, "A minor", 1.5)
    assert flat[pitch["Pitch_69"]] == flat[pitch["Pitch_60"]] == 0  # profile 0: scale only


def test_candidates_keep_the_best_of_the_same_samples(debug_checkpoint) -> None:  # type: ignore[no-untyped-def]
    from tunesmith.generation import SamplingConfig, generate

    attrs = Attributes(key="D major", instruments=(0, 33), bars=2, tempo=100)
    plain = generate("", attributes=attrs, num=3, seed=5, checkpoint=debug_checkpoint)
    (best,) = generate("", attributes=attrs, num=1, seed=5, checkpoint=debug_checkpoint,
                       sampling=SamplingConfig(candidates=3))
    assert best.reward == max(g.reward for g in plain)
    assert best.tokens == max(plain, key=lambda g: g.reward).tokens
    with pytest.raises(PromptError, match="candidates"):
        generate("", attributes=attrs, num=8, checkpoint=debug_checkpoint,
                 sampling=SamplingConfig(candidates=16))
