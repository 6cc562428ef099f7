from __future__ import annotations

import numpy as np
import pytest
import torch

from tunesmith.attributes import DRUMS, Attributes
from tunesmith.errors import ConfigError, PromptError
from tunesmith.generation import (
    Constraints,
    SamplingConfig,
    SequenceGrammar,
    Vocab,
    bars_for,
    filter_logits,
    generate,
)
from tunesmith.generation.kvdecoder import KVDecoder
from tunesmith.model import PRESETS, build_model
from tunesmith.tokenization import Tokenizer, bar_starts


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.default()


def test_kv_decoder_matches_hf_logits(tok: Tokenizer) -> None:
    model = build_model(PRESETS["debug"], tok, seed=1).eval()
    ids = torch.randint(tok.n_special, len(tok), (2, 12))
    with torch.no_grad():
        ref = model(ids).logits
    kv = KVDecoder(model, 2, 32)
    out = kv.forward(ids[:, :6])
    assert torch.allclose(out, ref[:, 5], atol=1e-4)
    for j in range(6, 12):
        out = kv.forward(ids[:, j : j + 1])
    assert torch.allclose(out, ref[:, 11], atol=1e-4)


def test_kv_decoder_sees_weights_changed_after_a_first_use(tok: Tokenizer) -> None:
    model = build_model(PRESETS["debug"], tok, seed=3).eval()
    ids = torch.randint(tok.n_special, len(tok), (1, 5))
    before = KVDecoder(model, 1, 16).forward(ids)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight.mul_(3.0)  # in place, as an optimiser step
        ref = model(ids).logits[:, -1]
    after = KVDecoder(model, 1, 16).forward(ids)
    assert not torch.allclose(before, after, atol=1e-3)
    assert torch.allclose(after, ref, atol=1e-4)


def test_kv_decoder_left_padding(tok: Tokenizer) -> None:
    model = build_model(PRESETS["debug"], tok, seed=2).eval()
    a = torch.randint(tok.n_special, len(tok), (1, 8))
    b = torch.randint(tok.n_special, len(tok), (1, 5))
    batch = torch.zeros(2, 8, dtype=torch.long)
    batch[0], batch[1, 3:] = a[0], b[0]
    pad = torch.zeros(2, 8, dtype=torch.bool)
    pad[1, :3] = True
    kv = KVDecoder(model, 2, 32)
    out = kv.forward(batch, pad)
    with torch.no_grad():
        assert torch.allclose(out[1], model(b).logits[0, -1], atol=1e-4)
        nxt = torch.tensor([[7], [9]]) + tok.n_special
        out = kv.forward(nxt)
        assert torch.allclose(out[1], model(torch.cat([b, nxt[1:]], 1)).logits[0, -1], atol=1e-4)
        assert torch.allclose(out[0], model(torch.cat([a, nxt[:1]], 1)).logits[0, -1], atol=1e-4)


def _walk(tok: Tokenizer, c: Constraints, seed: int) -> list[str]:
    """Sample uniformly among the allowed tokens: the grammar alone must give valid music."""
    g = SequenceGrammar(Vocab(tok), c)
    rng = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(5000):
        allowed = g.mask().nonzero().squeeze(1)
        t = int(allowed[torch.randint(len(allowed), (1,), generator=rng)])
        g.advance(t)
        out.append(tok.tokens[t])
        if g.done:
            break
    return out


@pytest.mark.parametrize("seed", range(5))
def test_grammar_walk_is_valid_remi(tok: Tokenizer, seed: int) -> None:
    c = Constraints(programs=(0, DRUMS), time_signature="3/4", tempo=90.71, bars=4)
    toks = _walk(tok, c, seed)
    assert toks[-1] == "EOS_None"
    assert toks.count("Bar_None") == 4
    assert {t for t in toks if t.startswith("TimeSig")} == {"TimeSig_3/4"}
    assert [t for t in toks if t.startswith("Tempo_")] == ["Tempo_90.71"]
    assert {t for t in toks if t.startswith("Program")} <= {"Program_0", "Program_-1"}
    pos = -1
    for prev, t in zip(toks, toks[1:], strict=False):
        if t == "Bar_None":
            pos = -1
        if t.startswith("Position_"):
            p = int(t.split("_")[1])
            assert pos < p < 24  # time never runs backwards, stays inside a 3/4 bar
            pos = p
        if t.startswith("Pitch_"):
            assert prev.startswith("Program_") and prev != "Program_-1"
        if t.startswith("PitchDrum_"):
            assert prev == "Program_-1"
    score = tok.decode([tok.bos_id, tok.cond_end_id] + [tok.vocab[t] for t in toks])
    assert score.note_num() > 0
    onsets = [n.time for t in score.tracks for n in t.notes]
    assert max(onsets) < bar_starts(score, 5)[4]


def test_generate_follows_explicit_attributes(debug_checkpoint) -> None:  # type: ignore[no-untyped-def]
    attrs = Attributes(instruments=(40, DRUMS), bars=3, time_signature="6/8")
    out = generate("a waltz in A minor at 70 bpm", attributes=attrs, checkpoint=debug_checkpoint,
                   num=2, seed=3)
    assert len(out) == 2
    for g in out:
        s = g.score
        assert s.tempos[0].qpm == pytest.approx(70.0, abs=0.01)
        assert (s.time_signatures[0].numerator, s.time_signatures[0].denominator) == (6, 8)
        assert {(t.program if not t.is_drum else DRUMS) for t in s.tracks} <= {40, DRUMS}
        assert g.attributes.key == "A minor"
        assert 0.0 <= g.masked_share <= 1.0
        ticks_per_bar = 3 * s.ticks_per_quarter
        assert s.end() <= 3 * ticks_per_bar  # notes end with the requested last bar
        toks = debug_checkpoint.tokenizer.to_tokens(g.tokens)
        sampled = sum(t.startswith(("Pitch_", "PitchDrum_")) for t in toks)
        assert s.note_num() == sampled > 0  # cutting at the last bar shortens notes, never drops them


def test_generate_is_deterministic_per_seed(debug_checkpoint) -> None:  # type: ignore[no-untyped-def]
    a = generate("piano", checkpoint=debug_checkpoint, seed=5, attributes=Attributes(bars=2))
    b = generate("piano", checkpoint=debug_checkpoint, seed=5, attributes=Attributes(bars=2))
    c = generate("piano", checkpoint=debug_checkpoint, seed=6, attributes=Attributes(bars=2))
    assert a[0].tokens == b[0].tokens
    assert a[0].tokens != c[0].tokens


def test_empty_prompt_says_unconditioned(debug_checkpoint) -> None:  # type: ignore[no-untyped-def]
    out = generate("", checkpoint=debug_checkpoint, attributes=Attributes(bars=1))
    assert any("unconditioned" in n for n in out[0].notes)
    assert out[0].score.note_num() > 0


def test_guidance_runs_and_stays_valid(debug_checkpoint) -> None:  # type: ignore[no-untyped-def]
    out = generate("drums", checkpoint=debug_checkpoint, sampling=SamplingConfig(guidance_scale=2.0),
                   attributes=Attributes(bars=2, instruments=(DRUMS,)))
    assert all(t.is_drum for t in out[0].score.tracks)


def test_bad_requests(debug_checkpoint) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PromptError, match="num 0"):
        generate("x", checkpoint=debug_checkpoint, num=0)
    with pytest.raises(PromptError, match="too long"):
        generate("a" * 30_000, checkpoint=debug_checkpoint)
    with pytest.raises(ConfigError, match="temperature 0"):
        SamplingConfig(temperature=0)


def test_bars_from_seconds() -> None:
    assert bars_for(Attributes(seconds=30, tempo=120, time_signature="4/4")) == 15
    assert bars_for(Attributes(seconds=30, tempo=90, time_signature="3/4")) == 15
    assert bars_for(Attributes(bars=7, seconds=30)) == 7


def test_filter_logits_top_k_top_p() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], np.float32))
    assert np.isinf(filter_logits(logits, 1.0, 2, 1.0)[2:]).all()
    kept = ~np.isinf(filter_logits(logits, 1.0, 0, 0.7))
    assert kept.tolist() == [True, True, False, False]
    assert np.allclose(filter_logits(logits, 2.0, 0, 1.0), logits / 2)
    shuffled = logits[[2, 0, 3, 1]]  # the nucleus is chosen by value, not by position
    assert (~np.isinf(filter_logits(shuffled, 1.0, 0, 0.7))).tolist() == [False, True, False, True]


def test_draw_follows_probabilities_and_skips_zeros() -> None:
    from tunesmith.generation.sampler import draw

    probs = np.array([0.0, 0.7, 0.0, 0.3])
    rng = np.random.default_rng(0)
    picks = np.array([draw(probs, rng) for _ in range(4000)])
    assert set(picks.tolist()) == {1, 3}
    assert abs((picks == 1).mean() - 0.7) < 0.03
    rng = np.random.default_rng(0)
    assert (picks == np.array([draw(probs, rng) for _ in range(4000)])).all()


def test_key_bias_penalises_only_out_of_scale_pitches(tok: Tokenizer) -> None:
    from tunesmith.generation.generate import key_bias

    bias = key_bias(tok, "A minor", 2.0)
    assert bias[tok.vocab["Pitch_69"]] == 0  # A
    assert bias[tok.vocab["Pitch_68"]] == 0  # G#, the leading tone (theory.SCALES)
    assert bias[tok.vocab["Pitch_67"]] == 0  # G, the natural minor's 7th
    assert bias[tok.vocab["Pitch_70"]] == -2.0  # Bb
    assert bias[tok.vocab["PitchDrum_38"]] == 0  # drums have no key
    pitches = [i for t, i in tok.vocab.items() if t.startswith("Pitch_")]
    chromatic = sum(1 for i in pitches if int(tok.tokens[i].split("_")[1]) % 12 in (1, 3, 6, 10))  # C# D# F# A#
    assert int((bias[pitches] < 0).sum()) == chromatic
    # a chord the model picks loses the strength per tone outside the scale
    assert bias[tok.vocab["Chord_Am"]] == 0 and bias[tok.vocab["Chord_E"]] == 0  # E G# B
    assert bias[tok.vocab["Chord_D"]] == -2.0 and bias[tok.vocab["Chord_Bbm"]] == -4.0  # F#; Bb and Db
    assert bias[tok.vocab["Chord_N"]] == 0


def test_coverage_boosts_only_silent_requested_programs(tok: Tokenizer) -> None:
    from tunesmith.generation.sampler import _boost_missing

    g = SequenceGrammar(Vocab.of(tok), Constraints(programs=(0, 33, DRUMS), bars=2))
    for t in ("Bar_None", "TimeSig_4/4", "Position_0", "Program_0", "Pitch_60", "Velocity_63",
              "Duration_1.0.8"):
        g.advance(tok.vocab[t])
    assert g.missing_programs() == [33, DRUMS]
    out = _boost_missing(np.zeros((1, len(tok)), np.float32), [g], 4.0)
    boosted = {tok.tokens[i] for i in np.flatnonzero(out[0] > 0)}
    assert boosted == {"Program_33", "Program_-1"}
    g.advance(tok.vocab["Bar_None"])  # a new bar: every instrument is silent again
    assert g.missing_programs() == []  # no Program may follow a Bar directly
    g.advance(tok.vocab["TimeSig_4/4"])
    g.advance(tok.vocab["Position_0"])
    assert g.missing_programs() == [0, 33, DRUMS]


@pytest.mark.parametrize(("tempo", "bars"), [("Tempo_60.0", 4), ("Tempo_120.0", 8)])
def test_seconds_with_a_free_tempo_fit_the_sampled_tempo(tok: Tokenizer, tempo: str, bars: int) -> None:
    # 16 s in 4/4: 4 bars at 60 bpm, 8 bars at 120 bpm
    if tempo not in tok.vocab:
        tempo = min((t for t in tok.vocab if t.startswith("Tempo_")),
                    key=lambda t: abs(float(t.split("_")[1]) - float(tempo.split("_")[1])))
    g = SequenceGrammar(Vocab.of(tok), Constraints(bars=6, seconds=16.0))
    for t in ("Bar_None", "TimeSig_4/4", "Position_0", tempo, "Program_0", "Pitch_60", "Velocity_63",
              "Duration_1.0.8"):
        g.advance(tok.vocab[t])
    bpm = float(tempo.split("_")[1])
    assert g.bar_target == round(16.0 * bpm / 60 / 4) == bars
    for _ in range(bars - 1):
        assert not g.mask()[tok.eos_id]
        g.advance(tok.vocab["Bar_None"])
        g.advance(tok.vocab["TimeSig_4/4"])
    assert g.mask()[tok.eos_id] and not g.mask()[tok.vocab["Bar_None"]]


def test_generate_with_seconds_and_free_tempo_keeps_the_length(debug_checkpoint) -> None:  # type: ignore[no-untyped-def]
    from tunesmith.captions.features import features

    for seed in range(3):
        (g,) = generate("", attributes=Attributes(seconds=12.0, instruments=(0,)), seed=seed,
                        checkpoint=debug_checkpoint)
        f = features(g.score)
        half_bar = 2 * 60 / f.tempo  # the bar count is rounded to whole bars
        assert abs(f.duration_s - 12.0) <= max(0.2 * 12.0, half_bar)
        assert g.attributes.bars == f.bars  # the reported bar count is what was written


def test_drum_temperature_applies_to_drum_hits_only(tok: Tokenizer) -> None:
    from tunesmith.generation.sampler import _choose

    g = SequenceGrammar(Vocab.of(tok), Constraints(programs=(0, DRUMS), bars=2))
    for t in ("Bar_None", "TimeSig_4/4", "Position_0"):
        g.advance(tok.vocab[t])
    g.advance(tok.tempo_id(120.0))
    logits = np.zeros((1, len(tok)), np.float32)
    logits[0, tok.vocab["PitchDrum_36"]] = 2.0
    logits[0, tok.vocab["Program_0"]] = 0.5

    def picks(cfg: SamplingConfig) -> set[str]:
        rng = np.random.default_rng(0)
        return {tok.tokens[_choose(logits, [g], cfg, rng)[0]] for _ in range(200)}

    cool = SamplingConfig(drum_temperature=0.05, top_p=1.0)
    assert not g.in_drum_note() and picks(cool) == {"Program_0", "Program_-1"}  # which part plays: not a hit
    g.advance(tok.vocab["Program_-1"])
    assert g.in_drum_note()
    assert picks(cool) == {"PitchDrum_36"}
    assert len(picks(SamplingConfig(top_p=1.0))) > 1


def test_groove_echo_offers_the_groove_bars_keys(tok: Tokenizer) -> None:
    from tunesmith.generation.sampler import _echo_groove

    g = SequenceGrammar(Vocab.of(tok), Constraints(programs=(0, DRUMS), bars=4))

    def play(*tokens: str) -> None:
        for t in tokens:
            g.advance(tok.vocab[t])

    def hit(pos: int, key: int) -> tuple[str, ...]:
        return (f"Position_{pos}", "Program_-1", f"PitchDrum_{key}", "Velocity_63", "Duration_0.1.8")

    def echo() -> list[str]:
        return [tok.tokens[i] for i in g.groove_echo()]

    play("Bar_None", "TimeSig_4/4", "Position_0")
    g.advance(tok.tempo_id(120.0))
    play("Program_-1", "PitchDrum_36", "Velocity_63", "Duration_0.1.8", "Position_8", "Program_-1")
    assert echo() == []  # the first bar has nothing to echo
    play("PitchDrum_38", "Velocity_63", "Duration_0.1.8")
    play("Bar_None", "TimeSig_4/4", "Position_0")
    assert echo() == []  # where the drums play stays the model's choice
    play("Program_-1")
    assert echo() == ["PitchDrum_36"]
    out = _echo_groove(np.zeros((1, len(tok)), np.float32), [g], 2.5)
    assert out[0, tok.vocab["PitchDrum_36"]] == 2.5 and out[0, tok.vocab["PitchDrum_38"]] == 0
    play("PitchDrum_36", "Velocity_63", "Duration_0.1.8", "Position_4", "Program_-1")
    assert echo() == []  # the groove bar did not hit position 4
    # a fill bar (toms on four onsets, no hats) is not echoed: the bar after it plays the groove
    play("PitchDrum_45", "Velocity_63", "Duration_0.1.8", *hit(8, 47), *hit(12, 48), *hit(14, 50))
    play("Bar_None", "TimeSig_4/4", "Position_8", "Program_-1")
    assert echo() == ["PitchDrum_38"]


def test_a_fill_is_told_from_a_groove() -> None:
    from tunesmith.theory import is_fill

    toms = {0: {36}, 8: {45}, 10: {47}, 12: {48}, 14: {50}}
    assert is_fill(toms)
    assert not is_fill({**toms, **{p: {42} for p in (1, 3, 5, 7, 9)}})  # the hats keep time: a groove
    backbeat = {p: {42} | ({38} if p in (4, 12) else set()) for p in range(0, 16, 2)}
    assert not is_fill(backbeat) and is_fill({p: {38} for p in range(8, 16)})  # a snare roll


def test_one_voice_instruments_play_one_note_at_a_time(tok: Tokenizer) -> None:
    from symusic import Note, Score, Track

    from tunesmith.attributes import voices
    from tunesmith.theory import one_line

    assert (voices(65), voices(73), voices(33), voices(42), voices(0), voices(25), voices(DRUMS)) == \
        (1, 1, 1, 2, 8, 6, None)  # sax, flute, bass; cello; piano, guitar, drums
    g = SequenceGrammar(Vocab.of(tok), Constraints(programs=(65, 0), bars=2))
    for t in ("Bar_None", "TimeSig_4/4", "Position_0"):
        g.advance(tok.vocab[t])
    g.advance(tok.tempo_id(120.0))

    def programs() -> set[str]:
        return {tok.tokens[i] for i in g.options()[1] if tok.tokens[i].startswith("Program")}

    assert programs() == {"Program_65", "Program_0"}
    for t in ("Program_65", "Pitch_60", "Velocity_63", "Duration_0.1.8"):
        g.advance(tok.vocab[t])
    assert programs() == {"Program_0"}  # the sax has started its note here; the piano may join
    for t in ("Program_0", "Pitch_64", "Velocity_63", "Duration_0.1.8", "Program_0", "Pitch_67", "Velocity_63",
              "Duration_0.1.8"):
        g.advance(tok.vocab[t])
    assert programs() == {"Program_0"}  # chords stay the piano's
    g.advance(tok.vocab["Position_4"])
    assert programs() == {"Program_65", "Program_0"}
    score = Score(480)
    for program in (65, 0):
        track = Track(program=program)
        for t, d, p in ((0, 960, 60), (480, 480, 62)):
            track.notes.append(Note(t, d, p, 80))
        score.tracks.append(track)
    one_line(score)
    assert [n.duration for n in score.tracks[0].notes] == [480, 480]  # the sax lets go for the next note
    assert [n.duration for n in score.tracks[1].notes] == [960, 480]  # the piano holds


def test_held_texture_thins_a_part_past_its_familys_notes_a_bar(tok: Tokenizer) -> None:
    from dataclasses import replace

    from tunesmith.attributes import FAMILY_DENSITY
    from tunesmith.generation.sampler import THIN_LOGIT, SamplingConfig, _thin_busy

    flute = 73  # pipe family
    target = FAMILY_DENSITY["pipe"]
    g = SequenceGrammar(Vocab.of(tok), Constraints(programs=(flute, DRUMS), bars=4))
    for t in ("Bar_None", "TimeSig_4/4"):
        g.advance(tok.vocab[t])
    last = 4 * g.v.ppb - 1  # the bar's last position: the whole count is due by then
    for k in range(target + 1):  # one flute note on each of target + 1 onsets, a kick on the first
        notes = [f"Program_{flute}", "Pitch_72", "Velocity_63", "Duration_0.2.8"]
        if k == 0:
            notes += ["Program_-1", "PitchDrum_36", "Velocity_63", "Duration_0.1.8"]
        for t in (f"Position_{last - target + k}", *notes):
            g.advance(tok.vocab[t])
    assert g.over_density() == [(flute, 2.0)]  # drums never count
    zeros = np.zeros((1, len(tok)), np.float32)
    held = _thin_busy(zeros, [g], replace(SamplingConfig(), texture="held"))
    assert held[0, tok.program_id(flute)] == -2 * THIN_LOGIT and held[0, tok.program_id(DRUMS)] == 0
    assert not held[0, g.v.position_ids].any()  # the drums still play: later onsets stay open
    assert not _thin_busy(zeros, [g], SamplingConfig(texture="off")).any()
    assert SamplingConfig().texture == "held"  # the default
    g.advance(tok.vocab["Bar_None"])
    assert g.over_density() == []  # a new bar starts afresh


def test_held_texture_spreads_a_parts_notes_over_the_bar(tok: Tokenizer) -> None:
    from tunesmith.generation.grammar import THIN_SLACK

    flute, told = 73, 8
    g = SequenceGrammar(Vocab.of(tok), Constraints(programs=(flute, DRUMS), bars=4, densities=((flute, told),)))
    for t in ("Bar_None", "TimeSig_4/4"):
        g.advance(tok.vocab[t])
    for k in range(THIN_SLACK + 1):  # three sixteenths at the bar's start: ahead of an even spread
        for t in (f"Position_{2 * k}", f"Program_{flute}", "Pitch_72", "Velocity_63", "Duration_0.2.8"):
            g.advance(tok.vocab[t])
    assert g.over_density() == [(flute, 0.75)]  # a fourth note on the third sixteenth runs ahead...
    quarter = g.v.ppb  # positions a beat
    at = g.excess(flute, np.array([4, quarter - 2, quarter - 1, 4 * quarter - 1]))
    assert at.tolist() == [0.75, 0.25, 0.0, 0.0]  # ...less the later it comes: 2 + 8 x 1/4 are due a beat in


def test_held_texture_lets_a_comping_part_finish_its_chord(tok: Tokenizer) -> None:
    from tunesmith.generation.grammar import CHORD_STACK

    piano = 0
    g = SequenceGrammar(Vocab.of(tok), Constraints(programs=(piano, DRUMS), bars=4, densities=((piano, 3),)))
    for t in ("Bar_None", "TimeSig_4/4", "Position_0"):
        g.advance(tok.vocab[t])
    thinned = []  # after each note of a chord on the downbeat: is the next one thinned?
    for k in range(CHORD_STACK):
        for t in (f"Program_{piano}", f"Pitch_{60 + 4 * k}", "Velocity_63", "Duration_0.4.8"):
            g.advance(tok.vocab[t])
        ahead = bool(g.excess(piano, np.array([0]))[0] > 0)
        thinned.append(([p for p, _ in g.over_density()], ahead))
    # 2 notes are due at once (THIN_SLACK); a third, ahead of the spread, still completes the
    # chord; a fourth would thicken it
    assert thinned == [([], False), ([], True), ([piano], True)]
    assert not g.completing_chord(73)  # a flute plays one note at a time: nothing to complete


def test_held_texture_thins_a_part_past_the_notes_a_bar_it_is_told(tok: Tokenizer) -> None:
    from tunesmith.generation.generate import constraints_for, resolve

    asked = resolve("a piano ballad with a violin lead").attributes
    violin, piano = 40, 0
    assert dict(asked.densities or ()) == {violin: 5, piano: 9}  # the violin's family plays 6
    g = SequenceGrammar(Vocab.of(tok), constraints_for(asked, 4, tok))
    assert (g.told(violin), g.told(piano)) == (5, 9)
    for t in ("Bar_None", "TimeSig_4/4"):
        g.advance(tok.vocab[t])
    last = 4 * g.v.ppb - 1
    for k in range(6):  # six violin notes and six piano notes, at the bar's end
        for t in (f"Position_{last - 5 + k}", f"Program_{violin}", "Pitch_72", "Velocity_63", "Duration_0.2.8",
                  f"Program_{piano}", "Pitch_60", "Velocity_63", "Duration_0.2.8"):
            assert g.mask()[tok.vocab[t]], t
            g.advance(tok.vocab[t])
    assert g.over_density() == [(violin, 2.0)]  # past its told 5; the piano has 3 to go


def test_held_texture_rests_a_part_alone_rather_than_ending_its_bar_full(tok: Tokenizer) -> None:
    from tunesmith.generation.sampler import SamplingConfig, _thin_busy

    trumpet = 56  # a lead alone: a Position must be followed by its note, so only fewer onsets thin it
    g = SequenceGrammar(Vocab.of(tok), Constraints(programs=(trumpet,), bars=4, densities=((trumpet, 4),)))
    for t in ("Bar_None", "TimeSig_4/4"):
        g.advance(tok.vocab[t])
    for k in range(3):  # three eighths: ahead of four notes spread over the bar
        for t in (f"Position_{4 * k}", f"Program_{trumpet}", "Pitch_72", "Velocity_63", "Duration_0.4.8"):
            g.advance(tok.vocab[t])
    zeros = np.zeros((1, len(tok)), np.float32)
    onsets = _thin_busy(zeros, [g], SamplingConfig(texture="held"))[0, g.v.position_ids]
    later = onsets[9:4 * g.v.ppb]
    assert later[0] < 0 and (np.diff(later) >= 0).all() and later[-1] == 0  # a later onset costs less
    assert not _thin_busy(zeros, [g], SamplingConfig(texture="held"))[0, g.v.bar_ids].any()


def test_a_request_gives_every_asked_part_a_role() -> None:
    from tunesmith.generation.generate import resolve

    asked = resolve("a sad trumpet melody with piano and bass").attributes
    assert dict(asked.roles or ()) == {56: "lead", 0: "chords", 33: "bass"}
    assert dict(asked.densities or ()) == {56: 5, 0: 9, 33: 6}  # and how busy each is
    # flags that change the instruments drop a role the text gave to one no longer asked
    flagged = resolve("a sad trumpet melody", Attributes(instruments=(0, 65))).attributes
    assert dict(flagged.roles or ()) == {0: "chords", 65: "lead"}
    assert resolve("a calm piece").attributes.roles is None  # no instruments asked: no roles


def test_a_lead_asked_of_a_model_without_role_tokens_is_refused() -> None:
    from tunesmith.captions import parse_fields
    from tunesmith.generation.generate import resolve
    from tunesmith.model import Checkpoint
    from tunesmith.tokenization import TokenizerSettings

    old = Tokenizer.create(TokenizerSettings(roles=False))  # the vocabulary of models before roles
    ckpt = Checkpoint(build_model(PRESETS["debug"], old, seed=0).eval(), old, PRESETS["debug"])
    asked = resolve("a trumpet melody with piano", Attributes(bars=1))
    assert asked.attributes.roles and generate(asked, checkpoint=ckpt)  # the text's roles go unsaid
    flagged = resolve("a trumpet melody with piano", parse_fields({"bars": 1, "lead": "piano"}))
    with pytest.raises(PromptError, match="this model reads no part roles"):
        generate(flagged, checkpoint=ckpt)
