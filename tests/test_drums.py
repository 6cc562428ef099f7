"""Drums from a retrieved groove: variants, fill bars, the loop, and the model's fills."""

from __future__ import annotations

from conftest import make_score
from tunesmith.attributes import DRUMS, Attributes
from tunesmith.generation import SamplingConfig, resolve
from tunesmith.infilling import drums as drum_mod
from tunesmith.infilling.drums import DrumPlan, fill_bars, groove_drums, looped, variant_of
from tunesmith.infilling.form import generate_by_track, grooved
from tunesmith.retrieval.grooves import Groove
from tunesmith.theory import bar_starts

Q = 480
# kick on 1 and 3, snare on 2 and 4, closed hats on the eighths (12 steps a quarter)
ROCK = Groove("4/4", "rock", tuple(sorted(
    [(0, 36, 100), (24, 36, 96), (12, 38, 110), (36, 38, 108)] + [(6 * i, 42, 70) for i in range(8)])), 9, 40)
# the same with one more kick: 13 of 14 hits alike
ROCK2 = Groove("4/4", "rock", tuple(sorted([*ROCK.hits, (30, 36, 90)])), 5, 20)
WALTZ = Groove("3/4", None, ((0, 36, 100), (12, 42, 70), (24, 42, 70)), 4, 12)
FAR = Groove("4/4", "jazz", tuple((3 * i, 51, 80) for i in range(16)), 3, 9)


def drum_bars(score, bars):  # type: ignore[no-untyped-def]
    starts = bar_starts(score, bars + 1)
    track = next(t for t in score.tracks if t.is_drum)
    return [sorted((n.time - starts[b], n.pitch) for n in track.notes if starts[b] <= n.time < starts[b + 1])
            for b in range(bars)]


def test_the_variant_is_the_nearest_groove_of_the_meter():
    assert variant_of(ROCK, [ROCK, WALTZ, FAR, ROCK2]) == ROCK2
    assert variant_of(ROCK, [ROCK, WALTZ, FAR]) == ROCK  # nothing half alike: no variant
    assert variant_of(WALTZ, [ROCK, WALTZ, ROCK2]) == WALTZ


def test_fills_end_every_full_phrase():
    assert fill_bars(8) == (3, 7)
    assert fill_bars(6) == (3,)
    assert fill_bars(3) == ()


def test_the_loop_alternates_groove_and_variant_and_keeps_the_other_parts():
    piano = [(b * 4 * Q, 4 * Q, 60 + b, 80) for b in range(4)]
    score = make_score([(0, False, piano), (0, True, [(i * Q // 4, Q // 4, 38, 90) for i in range(64)])])
    out = looped(score, DrumPlan(ROCK, ROCK2, ()), 4)
    bars = drum_bars(out, 4)
    rock = sorted((s * Q // 12, k) for s, k, _ in ROCK.hits)
    assert bars[0] == bars[2] == rock
    assert bars[1] == bars[3] == sorted((s * Q // 12, k) for s, k, _ in ROCK2.hits)
    assert [(n.time, n.pitch) for n in out.tracks[0].notes] == [(t, p) for t, _, p, _ in piano]
    assert len(score.tracks[1].notes) == 64  # the input is not changed


def test_the_model_writes_only_the_fill_bars(debug_checkpoint, monkeypatch):
    monkeypatch.setattr(drum_mod, "load_grooves", lambda: [ROCK, ROCK2, WALTZ])
    score = make_score([(33, False, [(b * 4 * Q, 2 * Q, 40, 80) for b in range(8)])])
    got = groove_drums(score, 8, Attributes(genre="rock"), seed=1, checkpoint=debug_checkpoint,
                       sampling=SamplingConfig(decoder="numpy"))
    assert got is not None
    out, plan = got
    assert {plan.groove, plan.variant} == {ROCK, ROCK2} and plan.fills == (3, 7)
    bars = drum_bars(out, 8)
    loop = looped(score, plan, 8)
    assert [bars[b] for b in (0, 1, 2, 4, 5, 6)] == [drum_bars(loop, 8)[b] for b in (0, 1, 2, 4, 5, 6)]
    assert "fills by the model in bars 4, 8" in plan.note()
    monkeypatch.setattr(drum_mod, "load_grooves", lambda: [WALTZ])
    none = groove_drums(score, 8, Attributes(), seed=1, checkpoint=debug_checkpoint,
                        sampling=SamplingConfig(decoder="numpy"))
    assert none is None  # no 4/4 band groove: the model's drums stay


def test_grooved_drums_need_drums_first_trackwise_and_the_option():
    assert grooved([DRUMS, 0], SamplingConfig())
    assert grooved([DRUMS], SamplingConfig())
    assert not grooved([0, 33], SamplingConfig())
    assert not grooved([DRUMS, 0], SamplingConfig(drums="model"))
    assert not grooved([DRUMS, 0], SamplingConfig(order="interleaved"))


def test_a_drum_only_request_gets_the_groove(debug_checkpoint, monkeypatch):
    monkeypatch.setattr(drum_mod, "load_grooves", lambda: [ROCK, ROCK2])
    request = resolve("", Attributes(instruments=(DRUMS,), tempo=100, time_signature="4/4", bars=4))
    piece = generate_by_track(request, seed=2, sampling=SamplingConfig(decoder="numpy"),
                              checkpoint=debug_checkpoint)
    tpq = piece.score.ticks_per_quarter
    grooves = [sorted((s * tpq // 12, k) for s, k, _ in g.hits) for g in (ROCK, ROCK2)]
    assert drum_bars(piece.score, 4)[0] in grooves
    assert any(note.startswith("drums: a 4/4") for note in piece.notes)


def test_only_band_grooves_are_picked_and_the_crash_opens_phrases(debug_checkpoint, monkeypatch):
    from tunesmith.infilling.drums import keeps_time, plan_drums

    hats = Groove("4/4", None, tuple((6 * i, 42 if i % 2 else 46, 70) for i in range(8)), 300, 900)
    assert keeps_time(ROCK) and not keeps_time(hats) and not keeps_time(WALTZ) and not keeps_time(FAR)
    monkeypatch.setattr(drum_mod, "load_grooves", lambda: [hats, ROCK])
    assert all(plan_drums("4/4", None, 8, seed).groove == ROCK for seed in range(5))  # type: ignore[union-attr]
    crash = Groove("4/4", "rock", tuple(sorted([*ROCK.hits, (0, 49, 110)])), 9, 40)
    score = make_score([(0, False, [(0, Q, 60, 80)])])
    bars = drum_bars(looped(score, DrumPlan(crash, crash, ()), 8), 8)
    assert [any(k == 49 for _, k in bar) for bar in bars] == [True, False, False, False] * 2
