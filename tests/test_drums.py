"""Drums from a retrieved groove: which grooves, the loop, and the model's bars between."""

from __future__ import annotations

from conftest import make_score
from tunesmith.attributes import DRUMS, Attributes
from tunesmith.generation import SamplingConfig, resolve
from tunesmith.infilling import drums as drum_mod
from tunesmith.infilling.drums import groove_drums, keep_halves, keeps_time, looped, model_bars, plan_drums
from tunesmith.infilling.form import generate_by_track, grooved
from tunesmith.retrieval.grooves import Groove
from tunesmith.theory import bar_starts

Q = 480
# kick on 1 and 3, snare on 2 and 4, closed hats on the eighths (12 steps a quarter)
ROCK = Groove("4/4", "rock", tuple(sorted(
    [(0, 36, 100), (24, 36, 96), (12, 38, 110), (36, 38, 108)] + [(6 * i, 42, 70) for i in range(8)])), 9, 40)
WALTZ = Groove("3/4", None, ((0, 36, 100), (12, 42, 70), (24, 42, 70)), 4, 12)
FAR = Groove("4/4", "jazz", tuple((3 * i, 51, 80) for i in range(16)), 3, 9)
# jazz time: the ride's "ding, ding-a" on 16th triplets over the hi-hat's foot on 2 and 4
SWING = Groove("4/4", "jazz", tuple(sorted(
    [(s, 51, 90) for s in (0, 12, 20, 24, 36, 44)] + [(12, 42, 60), (36, 42, 60)])), 12, 113)


def rocks(n: int) -> list[Groove]:
    """`n` rock grooves: ROCK, then ROCK with a kick moved a 16th further each time."""
    return [ROCK] + [Groove("4/4", "rock", tuple(sorted([*ROCK.hits[1:], (3 * i, 36, 90)])), 9, 40)
                     for i in range(1, n)]


def drum_bars(score, bars):  # type: ignore[no-untyped-def]
    starts = bar_starts(score, bars + 1)
    track = next(t for t in score.tracks if t.is_drum)
    return [sorted((n.time - starts[b], n.pitch) for n in track.notes if starts[b] <= n.time < starts[b + 1])
            for b in range(bars)]


def test_the_model_writes_every_second_bar():
    assert model_bars(8) == (1, 3, 5, 7)
    assert model_bars(3) == (1,)
    assert model_bars(1) == ()


def test_the_loop_plays_the_groove_in_its_bars_and_keeps_the_rest():
    piano = [(b * 4 * Q, 4 * Q, 60 + b, 80) for b in range(4)]
    early = [(i * Q, Q // 4, 38, 90) for i in range(4)]  # bar 1: kept
    later = [(4 * Q + i * Q // 4, Q // 4, 38, 90) for i in range(48)]  # bars 2-4: replaced
    score = make_score([(0, False, piano), (0, True, early + later)])
    out = looped(score, ROCK, 3, first=1)
    bars = drum_bars(out, 4)
    assert bars[0] == [(t, p) for t, _, p, _ in early]
    assert bars[1] == bars[2] == bars[3] == sorted((s * Q // 12, k) for s, k, _ in ROCK.hits)
    assert [(n.time, n.pitch) for n in out.tracks[0].notes] == [(t, p) for t, _, p, _ in piano]
    assert len(score.tracks[1].notes) == 52  # the input is not changed


def test_a_model_bar_silent_for_half_a_bar_keeps_time_there():
    rock = sorted((s * Q // 12, k) for s, k, _ in ROCK.hits)
    fill = [(4 * Q + 2 * Q + i * Q // 4, Q // 4, 45 + i % 3, 100) for i in range(8)]  # beats 3-4 of bar 2
    score = make_score([(0, True, [(t, Q // 4, k, 100) for t, k in rock] + fill)])
    out = drum_bars(keep_halves(score, ROCK, 1), 2)
    assert [h for h in out[1] if h[0] < 2 * Q] == [h for h in rock if h[0] < 2 * Q]  # the groove keeps time
    assert [h for h in out[1] if h[0] >= 2 * Q] == [(t - 4 * Q, k) for t, _, k, _ in fill]  # the fill stays
    assert out[0] == rock
    # a bar the model plays in both halves is left as it wrote it
    busy = make_score([(0, True, [(4 * Q + i * Q // 2, Q // 4, 38, 90) for i in range(8)])])
    assert drum_bars(keep_halves(busy, ROCK, 1), 2) == drum_bars(busy, 2)


def test_the_model_writes_only_its_bars(debug_checkpoint, monkeypatch):
    monkeypatch.setattr(drum_mod, "load_grooves", lambda: [ROCK, WALTZ])
    score = make_score([(33, False, [(b * 4 * Q, 2 * Q, 40, 80) for b in range(8)])])
    got = groove_drums(score, 8, Attributes(), seed=1, checkpoint=debug_checkpoint,
                       sampling=SamplingConfig(decoder="numpy"))
    assert got is not None
    out, plan = got
    assert plan.groove == ROCK and plan.model_bars == (1, 3, 5, 7)
    rock = sorted((s * Q // 12, k) for s, k, _ in ROCK.hits)
    assert [drum_bars(out, 8)[b] for b in (0, 2, 4, 6)] == [rock] * 4
    bass = [(n.time, n.pitch) for n in score.tracks[0].notes]
    assert [(n.time, n.pitch) for n in out.tracks[0].notes] == bass  # the other parts stay
    assert "groove played in 9 pieces of the index, in every other bar" in plan.note()
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
    monkeypatch.setattr(drum_mod, "load_grooves", lambda: [ROCK])
    request = resolve("", Attributes(instruments=(DRUMS,), tempo=100, time_signature="4/4", bars=4))
    piece = generate_by_track(request, seed=2, sampling=SamplingConfig(decoder="numpy"),
                              checkpoint=debug_checkpoint)
    tpq = piece.score.ticks_per_quarter
    assert drum_bars(piece.score, 4)[0] == sorted((s * tpq // 12, k) for s, k, _ in ROCK.hits)
    assert any(note.startswith("drums: a 4/4") for note in piece.notes)


def test_only_band_grooves_are_picked_and_the_crash_opens_phrases(monkeypatch):
    hats = Groove("4/4", None, tuple((6 * i, 42 if i % 2 else 46, 70) for i in range(8)), 300, 900)
    assert keeps_time(ROCK) and not keeps_time(hats) and not keeps_time(WALTZ) and not keeps_time(FAR)
    assert keeps_time(SWING)  # no backbeat, but the ride over the hat's foot: jazz time
    monkeypatch.setattr(drum_mod, "load_grooves", lambda: [hats, ROCK])
    assert all(plan_drums("4/4", None, 8, seed).groove == ROCK for seed in range(5))  # type: ignore[union-attr]
    assert plan_drums("4/4", "jazz", 8, 0) is None  # no jazz groove in the index: the model's drums
    assert plan_drums("4/4", "rock", 8, 0) is None  # one rock groove is too few to be the genre's
    monkeypatch.setattr(drum_mod, "load_grooves", lambda: [hats, *rocks(3), SWING, SWING])
    assert plan_drums("4/4", "rock", 8, 0) is not None
    assert plan_drums("4/4", "jazz", 8, 0) is None  # two jazz grooves: not a rock one instead
    monkeypatch.setattr(drum_mod, "load_grooves", lambda: [*rocks(3), SWING, SWING, SWING])
    assert {plan_drums("4/4", "jazz", 8, s).groove for s in range(5)} == {SWING}  # type: ignore[union-attr]
    crash = Groove("4/4", "rock", tuple(sorted([*ROCK.hits, (0, 49, 110)])), 9, 40)
    score = make_score([(0, False, [(0, Q, 60, 80)])])
    bars = drum_bars(looped(score, crash, 8), 8)
    assert [any(k == 49 for _, k in bar) for bar in bars] == [True, False, False, False] * 2


def test_infilled_parts_are_told_their_notes_a_bar(debug_checkpoint, monkeypatch):
    from tunesmith.infilling import form
    from tunesmith.infilling.form import texture

    assert texture(40, SamplingConfig(texture="stated")) == form.FillControls(density=6, strict=False)  # violin
    # held: the sampler steers towards it (no exact count, which left a bar's end empty)
    assert texture(48, SamplingConfig(texture="held")) == form.FillControls(density=4, strict=False)  # ensemble
    told_lead = ((40, 5), (0, 9))  # a violin told to lead: the notes a bar it is told, not its family's
    assert texture(40, SamplingConfig(texture="held"), told_lead) == form.FillControls(density=5, strict=False)
    assert texture(48, SamplingConfig(texture="held"), told_lead) == form.FillControls(density=4, strict=False)
    assert texture(40, SamplingConfig(texture="off")) is None
    assert texture(40, SamplingConfig()) == form.FillControls(density=6, strict=False)  # held by default
    assert texture(DRUMS, SamplingConfig()) is None
    told = []
    real = form.fill_track

    def spy(ckpt, score, program, first, n, controls, *rest):  # type: ignore[no-untyped-def]
        told.append((program, controls))
        return real(ckpt, score, program, first, n, controls, *rest)

    monkeypatch.setattr(form, "fill_track", spy)
    monkeypatch.setattr(drum_mod, "load_grooves", lambda: [ROCK])
    request = resolve("", Attributes(instruments=(DRUMS, 0, 81, 33), tempo=100, time_signature="4/4", bars=4))
    assert dict(request.attributes.roles or ())[81] == "lead"
    generate_by_track(request, seed=2, sampling=SamplingConfig(decoder="numpy", texture="stated"),
                      checkpoint=debug_checkpoint)
    piano, bass = form.FillControls(density=9, strict=False), form.FillControls(density=6, strict=False)
    lead = form.FillControls(density=5, strict=False)  # a synth lead's family plays 8: a lead is told 5
    assert told == [(0, piano), (81, lead), (33, bass)]


def test_an_arrangement_around_a_melody_gets_the_groove(debug_checkpoint, monkeypatch):
    from tunesmith.infilling.arrange import arrange

    monkeypatch.setattr(drum_mod, "load_grooves", lambda: [ROCK])
    melody = make_score([(73, False, [(i * Q, Q, 72 + (i % 5), 90) for i in range(16)])])
    out = arrange(melody, Attributes(instruments=(73, 33, DRUMS), key="C major"), seed=1,
                  sampling=SamplingConfig(decoder="numpy"), checkpoint=debug_checkpoint)
    assert any(n.startswith("drums: a 4/4 rock groove") for n in out.notes)
    tpq = out.score.ticks_per_quarter
    assert drum_bars(out.score, 4)[0] == sorted((s * tpq // 12, k) for s, k, _ in ROCK.hits)


def test_a_genre_the_index_lacks_keeps_the_models_drums_and_says_so(debug_checkpoint, monkeypatch):
    from tunesmith.infilling.form import NO_GROOVE

    monkeypatch.setattr(drum_mod, "load_grooves", lambda: [ROCK])
    request = resolve("", Attributes(instruments=(DRUMS, 24), tempo=100, time_signature="4/4", bars=4,
                                     genre="jazz"))
    piece = generate_by_track(request, seed=2, sampling=SamplingConfig(decoder="numpy"),
                              checkpoint=debug_checkpoint)
    assert NO_GROOVE in piece.notes or any("the model's bar" in n for n in piece.notes)
    tpq = piece.score.ticks_per_quarter
    assert drum_bars(piece.score, 4)[0] != sorted((s * tpq // 12, k) for s, k, _ in ROCK.hits)


def test_the_models_own_groove_bar_is_the_first_that_keeps_time():
    from tunesmith.infilling.drums import own_groove

    fill = [(i * Q // 2, Q // 4, 45 if i % 2 else 47, 90) for i in range(8)]  # bar 1: toms, no hats
    beat = [(4 * Q + t, Q // 4, k, 90) for t, k in ((0, 36), (Q, 38), (2 * Q, 36), (3 * Q, 38))]
    beat += [(4 * Q + i * Q // 2, Q // 4, 42, 70) for i in range(8)]  # bar 2: a beat with hats
    score = make_score([(0, True, fill + beat)])
    got = own_groove(score, 2)
    assert got is not None
    groove, bar = got
    assert bar == 1 and groove.meter == "4/4"
    assert sorted((st, k) for st, k, _ in groove.hits) == sorted((t * 12 // Q - 48, k) for t, _, k, _ in beat)
    assert own_groove(make_score([(0, True, fill)]), 1) is None


def test_the_shipped_index_serves_grooves_genres_and_keeps_a_swung_ride():
    """Groove's drummers (mined by skeleton) give jazz, latin, funk and hip hop grooves of their
    own; jazz keeps its triplet ride; a genre with too few (reggae) keeps the model's drums."""
    for genre in ("jazz", "latin", "funk", "hiphop", "rock"):
        plans = [plan_drums("4/4", genre, 8, seed) for seed in range(8)]
        assert all(p is not None and p.groove.genre == genre and keeps_time(p.groove) for p in plans), genre
    jazz = {p.groove for p in (plan_drums("4/4", "jazz", 8, s) for s in range(20)) if p is not None}
    assert any(step % 3 and key in (51, 53) for g in jazz for step, key, _ in g.hits)
    assert plan_drums("4/4", "reggae", 8, 0) is None
