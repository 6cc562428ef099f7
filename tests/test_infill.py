"""Infilling and continuation with the tiny debug model: the gap is rewritten, nothing else."""

from __future__ import annotations

import pytest
from symusic import Score

from conftest import make_score
from tunesmith.attributes import DRUMS
from tunesmith.errors import InputError
from tunesmith.generation import SamplingConfig
from tunesmith.infilling import FillControls, continue_piece, infill
from tunesmith.infilling.infill import parse_bar_range, resolve_tracks
from tunesmith.theory import bar_starts

Q = 480
NUMPY = SamplingConfig(decoder="numpy")  # the tiny random model needs no engine conversion


def four_bars() -> Score:
    piano = [(b * 4 * Q + i * 2 * Q, 2 * Q, p, 70) for b in range(4) for i in range(2) for p in (60, 64, 67)]
    bass = [(i * Q, Q, 36 + (i % 2) * 7, 90) for i in range(16)]
    drums = [(i * Q, Q // 4, 36 if i % 2 == 0 else 38, 100) for i in range(16)]
    return make_score([(0, False, piano), (33, False, bass), (0, True, drums)], tempo=96.0)


def notes(score: Score, program: int, lo: int, hi: int) -> list[tuple[int, int, int]]:
    drum = program == DRUMS
    return sorted((n.time, n.pitch, n.duration) for t in score.tracks
                  if t.is_drum == drum and (drum or t.program == program)
                  for n in t.notes if lo <= n.time < hi)


def test_notes_outside_the_gap_come_back_unchanged(debug_checkpoint):
    score = four_bars()
    out = infill(score, (2, 3), ["bass"], seed=3, sampling=NUMPY, checkpoint=debug_checkpoint)
    gap = (4 * Q, 12 * Q)
    for program in (0, DRUMS):  # untouched tracks: every note identical
        assert notes(out, program, 0, 10**9) == notes(score, program, 0, 10**9)
    assert notes(out, 33, 0, gap[0]) == notes(score, 33, 0, gap[0])
    assert notes(out, 33, gap[1], 10**9) == notes(score, 33, gap[1], 10**9)
    assert all(gap[0] <= t < gap[1] for t, _, _ in notes(out, 33, *gap))
    assert len(bar_starts(out)) == 4


def test_forced_controls_appear_in_the_fill_tokens(debug_checkpoint):
    from tunesmith.generation.grammar import Vocab
    from tunesmith.infilling.infill import FillGrammar

    tok = debug_checkpoint.tokenizer
    g = FillGrammar(Vocab.of(tok), 33, "4/4", 1, FillControls(density=5, polyphony=(1, 2)))
    seq = []
    for tid in (tok.id("Bar"), tok.vocab["TimeSig_4/4"]):
        g.advance(tid)
        seq.append(tid)
    forced = []
    for _ in range(3):
        _, ids = g.options()
        forced.append(tok.tokens[ids[0]] if len(ids) == 1 else None)
        g.advance(int(ids[0]))
    assert forced == ["Density_5", "PolyMin_1", "PolyMax_2"]
    _, ids = g.options()  # durations unset: any DurWhole token may come
    assert {tok.tokens[i] for i in ids} == {"DurWhole_0", "DurWhole_1"}


def test_whole_new_track_can_be_added(debug_checkpoint):
    out = infill(four_bars(), (1, 4), ["violin"], seed=0, sampling=NUMPY, checkpoint=debug_checkpoint)
    assert 40 in [t.program for t in out.tracks if not t.is_drum]


def test_continue_adds_bars_and_keeps_the_piece(debug_checkpoint):
    score = four_bars()
    out = continue_piece(score, 2, seed=5, sampling=NUMPY, checkpoint=debug_checkpoint)
    for program in (0, 33, DRUMS):
        assert notes(out, program, 0, 16 * Q) == notes(score, program, 0, 16 * Q)
    assert out.end() > 16 * Q


def test_bad_requests_are_one_line_errors(debug_checkpoint):
    with pytest.raises(InputError, match="outside the piece: it has bars 1-4"):
        infill(four_bars(), (3, 6), None, checkpoint=debug_checkpoint)
    with pytest.raises(InputError, match="FIRST-LAST"):
        parse_bar_range("a-b")
    with pytest.raises(InputError, match="out of range"):
        FillControls(density=40)
    with pytest.raises(InputError, match="1..64"):
        continue_piece(four_bars(), 0, checkpoint=debug_checkpoint)


def test_track_words_match_the_piece_family():
    score = make_score([(34, False, [(0, Q, 40, 90)]), (0, True, [(0, Q, 36, 90)])])
    assert resolve_tracks(score, ["bass", "drums"]) == [34, DRUMS]
    assert resolve_tracks(score, ["flute"]) == [73]


def test_per_bar_controls_follow_their_bar(debug_checkpoint):
    from tunesmith.generation.grammar import Vocab
    from tunesmith.infilling.infill import FillGrammar

    tok = debug_checkpoint.tokenizer
    g = FillGrammar(Vocab.of(tok), 33, "4/4", 2, [FillControls(density=3), None])
    seen = []
    while not g.done:
        _, ids = g.options()
        # prefer closing bars fast: Bar, else FillEnd, else the first allowed token
        pick = next((i for i in ids if tok.tokens[i] in ("Bar_None", "FillEnd_None")), ids[0])
        seen.append(tok.tokens[pick])
        g.advance(int(pick))
    assert seen.count("Density_3") == 1 and sum(t.startswith("Density") for t in seen) == 1
    assert seen.count("Bar_None") == 2 and seen[-1] == "FillEnd_None"
    with pytest.raises(InputError, match="one per bar"):
        infill(four_bars(), (1, 2), [33], controls=[FillControls(density=1)], checkpoint=debug_checkpoint)


def test_polyphony_text_is_read_once_for_every_front_end():
    from tunesmith.infilling.infill import parse_polyphony

    assert parse_polyphony("1-3") == (1, 3) and parse_polyphony("2") == (2, 2)
    with pytest.raises(InputError, match="polyphony 'lots' is invalid: write MIN-MAX"):
        parse_polyphony("lots")


def test_an_asked_key_steers_a_fill(debug_checkpoint):
    from tunesmith.attributes import Attributes
    from tunesmith.theory import scale_mask

    strict = SamplingConfig(decoder="numpy", key_strength=20.0)  # moves every note into the scale
    scale = scale_mask("C# major")
    for attrs, inside in ((Attributes(key="C# major"), True), (None, False)):
        out = infill(four_bars(), (2, 3), ["piano"], attributes=attrs, seed=5, sampling=strict,
                     checkpoint=debug_checkpoint)
        filled = [p for _, p, _ in notes(out, 0, 4 * Q, 12 * Q)]
        assert filled and all(scale[p % 12] for p in filled) is inside


@pytest.mark.parametrize("seed", [1, 2])
def test_strict_controls_hold_in_every_bar(debug_checkpoint, seed):
    from tunesmith.tokenization import track_bar_controls

    asked = [FillControls(density=6, polyphony=(2, 2), durations=("eighth",)),
             FillControls(density=0), FillControls(density=3, polyphony=(1, 1), durations=("quarter", "half"))]
    from tunesmith.tokenization.controls import duration_class

    got, last_bar = {}, {}
    for strict in (True, False):
        per_bar = [FillControls(c.density, c.polyphony, c.durations, strict=strict) for c in asked]
        out = infill(four_bars(), (2, 4), ["piano"], controls=per_bar, seed=seed, sampling=NUMPY,
                     checkpoint=debug_checkpoint)
        piano = next(i for i, t in enumerate(out.tracks) if t.program == 0 and not t.is_drum)
        bars = track_bar_controls(out, piano)[1:4]
        got[strict] = [(c.density, c.poly_min, c.poly_max, c.durations) for c in bars]
        # the gap's end cuts a note ringing past it (infill._place): classes of the notes it left whole
        last_bar[strict] = {duration_class(n.duration, Q) for n in out.tracks[piano].notes
                            if n.time >= 12 * Q and n.end < 16 * Q}
    eighth = (False, False, False, True, False)
    assert got[True][0] == (6, 2, 2, eighth) and got[True][1][0] == 0
    assert got[True][2][:3] == (3, 1, 1)
    assert last_bar[True] <= {1, 2}  # quarter, half: no class not asked
    assert got[False] != got[True]  # the random model alone does not play to the controls
