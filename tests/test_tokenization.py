from __future__ import annotations

from pathlib import Path

import pytest
from symusic import Score
from tests.conftest import make_score

from tunesmith.attributes import DRUMS, Attributes
from tunesmith.errors import InputError, PromptError
from tunesmith.tokenization import (
    BarControls,
    Tokenizer,
    TokenizerSettings,
    bar_controls,
    bar_starts,
    round_trip_rate,
    track_bar_controls,
)
from tunesmith.tokenization.controls import duration_class

Q = 480


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.default()


def test_round_trip_real_chorales(tok: Tokenizer, chorale_files: list[Path]) -> None:
    for path in chorale_files:
        assert round_trip_rate(tok, Score(str(path))) >= 0.999, path


def test_round_trip_band_with_drums(tok: Tokenizer, band_score: Score) -> None:
    assert round_trip_rate(tok, band_score) == 1.0
    decoded = tok.decode(tok.encode(band_score))
    assert sorted((t.is_drum, t.program) for t in decoded.tracks) == [(False, 0), (False, 33), (True, 0)]
    assert {t.name for t in decoded.tracks} == {"Piano", "Electric Bass", "Drums"}


def test_round_trip_detects_loss(band_score: Score, monkeypatch: pytest.MonkeyPatch) -> None:
    lossy = Tokenizer.default()
    real_decode = lossy.decode

    def drop_one(ids: list[int]) -> Score:
        score = real_decode(ids)
        score.tracks[0].notes.pop()
        return score

    monkeypatch.setattr(lossy, "decode", drop_one)
    n = band_score.note_num()
    assert round_trip_rate(lossy, band_score) == pytest.approx((n - 1) / n)


def test_header_order_and_decoding_ignores_it(tok: Tokenizer, band_score: Score) -> None:
    attrs = Attributes(key="A minor", tempo=96, time_signature="4/4", instruments=(33, 0, DRUMS),
                       genre="rock", mood="happy", bars=2)
    ids = tok.encode(band_score, attrs)
    toks = tok.to_tokens(ids)
    assert toks[:10] == ["BOS_None", "Key_Amin", "TimeSigCond_4/4", "TempoCond_Moderato", "Genre_rock",
                         "Mood_happy", "Bars_2", "Inst_0", "Inst_33", "Inst_drums"]
    assert toks[10] == "CondEnd_None" and toks[-1] == "EOS_None"
    plain = tok.decode(tok.encode(band_score))
    assert tok.decode(ids).note_num() == plain.note_num() == band_score.note_num()


def test_tempo_and_time_signature_survive(tok: Tokenizer) -> None:
    score = make_score([(40, False, [(0, Q, 67, 80), (3 * Q, Q, 69, 80)])], tempo=72.0, ts=(3, 4))
    out = tok.decode(tok.encode(score))
    assert (out.time_signatures[0].numerator, out.time_signatures[0].denominator) == (3, 4)
    assert abs(out.tempos[0].qpm - 72.0) < 3.0
    # the second note starts bar 2 of a 3/4 piece
    assert out.tracks[0].notes[1].time == 3 * out.ticks_per_quarter


def test_save_load_identical(tok: Tokenizer, tmp_path: Path, band_score: Score) -> None:
    tok.save(tmp_path)
    loaded = Tokenizer.load(tmp_path)
    assert loaded.vocab == tok.vocab
    assert loaded.encode(band_score) == tok.encode(band_score)


def test_vocabulary_holds_conditions_controls_and_fill_markers(tok: Tokenizer) -> None:
    for t in ("Key_F#min", "TempoCond_Presto", "Inst_drums", "Inst_127", "Genre_jazz", "Mood_sad",
              "Bars_16", "Density_18", "PolyMin_1", "PolyMax_6", "DurSixteenth_1", "FillBar_None",
              "FillStart_None", "FillEnd_None", "TimeSig_6/8", "Program_-1"):
        assert t in tok.vocab, t
    assert max(tok.vocab[t] for t in tok.vocab if t.startswith(("Key_", "Density_"))) < tok.n_special


# --- per-bar controls on hand-made bars ------------------------------------------------


def test_controls_single_note_bar_gets_controls() -> None:
    # miditok 3.1.0 gives no control to a bar with exactly one note
    c = bar_controls([(0, 4 * Q)], Q)
    assert c == BarControls(1, 1, 1, (True, False, False, False, False))


def test_controls_chords_and_mixed_durations() -> None:
    notes = [(0, Q, 60), (0, Q, 64), (0, Q, 67), (Q, Q // 2, 72), (Q + Q // 2, Q // 4, 74),
             (2 * Q, 2 * Q, 48), (2 * Q, 2 * Q, 55)]
    c = bar_controls([(t, d) for t, d, _ in notes], Q)
    assert c.density == 7
    assert (c.poly_min, c.poly_max) == (1, 3)
    assert c.durations == (False, True, True, True, True)
    assert c.tokens()[:3] == ["Density_7", "PolyMin_1", "PolyMax_3"]


def test_controls_caps_and_empty_bar() -> None:
    dense = [(i * Q // 8, Q // 8) for i in range(32)] + [(0, Q)] * 7
    c = bar_controls(dense, Q)
    assert c.density == 18 and c.poly_max == 6
    assert bar_controls([], Q) == BarControls(0, 0, 0, (False,) * 5)


def test_controls_per_bar_not_cumulative() -> None:
    # bar 1 has 3 notes, bar 2 one note, bar 3 none, bar 4 two: each bar counts only its own
    notes = [(0, Q, 60, 80), (Q, Q, 62, 80), (2 * Q, Q, 64, 80), (4 * Q, 4 * Q, 65, 80),
             (12 * Q, Q, 67, 80), (13 * Q, Q, 69, 80)]
    score = make_score([(0, False, notes)])
    densities = [c.density for c in track_bar_controls(score, 0)]
    assert densities == [3, 1, 0, 2]


def test_bar_starts_follow_time_signature_changes() -> None:
    from symusic import TimeSignature

    score = make_score([(0, False, [(0, Q, 60, 80), (11 * Q, Q, 60, 80)])], ts=(3, 4))
    score.time_signatures.append(TimeSignature(6 * Q, 4, 4))
    assert bar_starts(score) == [0, 3 * Q, 6 * Q, 10 * Q]


def test_duration_class_nearest() -> None:
    assert [duration_class(d, Q) for d in (4 * Q, 2 * Q, Q, Q // 2, Q // 4, Q // 16, 16 * Q)] == [
        0, 1, 2, 3, 4, 4, 0]


def test_bad_controls_rejected() -> None:
    with pytest.raises(InputError, match="density 19"):
        BarControls(19, 1, 1, (False,) * 5)
    with pytest.raises(InputError, match="track 5"):
        track_bar_controls(make_score([(0, False, [(0, Q, 60, 80)])]), 5)


def test_header_says_each_role_after_its_instrument_and_reads_back(tok: Tokenizer) -> None:
    attrs = Attributes(instruments=(56, 0, 33, DRUMS), roles=((56, "lead"), (0, "chords"), (33, "bass")))
    toks = tok.to_tokens(tok.header(attrs))
    assert toks[1:-1] == ["Inst_0", "Role_chords", "Inst_33", "Role_bass", "Inst_56", "Role_lead", "Inst_drums"]
    back = tok.attributes(tok.header(attrs))
    assert dict(back.roles or ()) == {0: "chords", 33: "bass", 56: "lead"}
    # a role for an instrument the header does not name is not said
    assert "Role_lead" not in tok.to_tokens(tok.header(Attributes(instruments=(0,), roles=((56, "lead"),))))
    # each part's notes a bar follow its role
    busy = Attributes(instruments=(56, 33), roles=((56, "lead"),), densities=((56, 5), (33, 6)))
    said = ["Inst_33", "Density_6", "Inst_56", "Role_lead", "Density_5"]
    assert tok.to_tokens(tok.header(busy))[1:-1] == said
    assert dict(tok.attributes(tok.header(busy)).densities or ()) == {33: 6, 56: 5}
    # a model trained before role tokens and part densities gets its old header
    old = Tokenizer.create(TokenizerSettings(roles=False, part_density=False))
    assert old.to_tokens(old.header(attrs))[1:-1] == ["Inst_0", "Inst_33", "Inst_56", "Inst_drums"]
    assert old.to_tokens(old.header(busy))[1:-1] == ["Inst_33", "Inst_56"]
    with pytest.raises(PromptError, match="role 'rhythm' is unknown: allowed lead, chords, bass, pad"):
        Attributes(instruments=(0,), roles=((0, "rhythm"),))
