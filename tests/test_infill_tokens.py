"""Infilling on token streams: context + fill hold exactly the original notes."""

from __future__ import annotations

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from tunesmith.tokenization import Tokenizer
from tunesmith.tokenization.harmony import add_chords
from tunesmith.tokenization.infill import (
    Gap,
    fill_bars,
    keep_track,
    make_infill,
    plays_in,
    programs_of,
    random_gap,
    split_bars,
)


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.default()


def band(bars: int = 6) -> Score:
    s = Score(480)
    s.tempos.append(Tempo(0, 110.0))
    s.time_signatures.append(TimeSignature(0, 4, 4))
    bass, keys, kit = Track("b", 33), Track("k", 0), Track("d", 0, True)
    for b in range(bars):
        t0 = b * 1920
        for q in range(4):
            bass.notes.append(Note(t0 + q * 480, 400, 36 + b, 90))
            kit.notes.append(Note(t0 + q * 480, 60, 42, 80))
        for p in (60, 64, 67):
            keys.notes.append(Note(t0, 1800, p + b % 2, 70))
    s.tracks.extend([bass, keys, kit])
    return s


def notes_of(score: Score) -> set[tuple]:
    return {(t.is_drum, t.program, n.time, n.pitch, n.duration) for t in score.tracks for n in t.notes}


def test_split_bars_round_trips(tok):
    ids = tok.encode_score(band())
    bars = split_bars(ids, tok)
    assert len(bars) == 6
    assert [i for b in bars for i in b.ids()] == ids
    assert sorted(programs_of(bars, tok)) == [-1, 0, 33]


def test_context_plus_fill_is_the_original(tok):
    score = band()
    ids = tok.encode_score(score)
    context, fill = make_infill(ids, Gap(33, 2, 3), tok)
    names = tok.to_tokens(fill)
    assert names[:2] == ["FillStart_None", "Program_33"] and names[-1] == "FillEnd_None"
    assert tok.to_tokens(context).count("FillBar_None") == 3
    assert names.count("Bar_None") == 3
    # the gap's bass notes are in the fill and nowhere in the context's gap bars
    ctx_score = tok.remi.decode([i for i in context if i >= tok.n_special])
    fill_score = tok.remi.decode(fill_bars(fill, tok))
    gap = {(False, 33, 1920 * b + q * 480, 36 + b) for b in range(2, 5) for q in range(4)}
    ctx_bass = {(n.time, n.pitch) for t in ctx_score.tracks if t.program == 33 and not t.is_drum
                for n in t.notes}
    assert not {(t, p) for _, _, t, p in gap} & ctx_bass
    filled = {(False, 33, n.time + 2 * 1920 * fill_score.ticks_per_quarter // 480, n.pitch)
              for t in fill_score.tracks for n in t.notes}
    assert {(d, pr, t * fill_score.ticks_per_quarter // 480, p) for d, pr, t, p in gap} == filled


def test_controls_state_the_fill(tok):
    ids = tok.encode_score(band())
    _, fill = make_infill(ids, Gap(33, 0, 1), tok, controls=1.0, rng=np.random.default_rng(0))
    names = tok.to_tokens(fill)
    assert "Density_4" in names and "PolyMax_1" in names and "DurQuarter_1" in names


def test_random_gaps_stay_inside(tok):
    bars = split_bars(tok.encode_score(band()), tok)
    rng = np.random.default_rng(1)
    for _ in range(50):
        g = random_gap(bars, tok, rng)
        assert g is not None and g.first >= 0 and g.first + g.n <= len(bars) and g.n >= 1
    with pytest.raises(ValueError, match="outside"):
        make_infill(tok.encode_score(band()), Gap(33, 5, 2), tok)


def test_keep_track_keeps_one_part_over_every_bar(tok):
    score = band()
    for n in score.tracks[0].notes.filter(lambda x: 1920 <= x.time < 3 * 1920, inplace=False):
        score.tracks[0].notes.remove(n)  # the bass rests in bars 2-3
    ids = add_chords(tok.encode_score(score), tok)  # bar heads say chords, as training windows do
    bars = split_bars(ids, tok)
    assert plays_in(bars, 33, tok) == 4 and plays_in(bars, 0, tok) == 6
    alone = split_bars(keep_track(bars, 33, tok), tok)
    assert [b.head for b in alone] == [b.head for b in bars]  # length, meter and chords stay
    assert programs_of(alone, tok) == [33]
    alone_score = tok.remi.decode(fill_bars(keep_track(bars, 33, tok), tok))
    bass = {(n.time, n.pitch) for n in alone_score.tracks[0].notes}
    want = {(n.time * tok.remi.time_division // 480, n.pitch) for n in score.tracks[0].notes}
    assert bass == want
