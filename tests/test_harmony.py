"""Per-bar chord tokens: vocabulary, detection, the stream layout, grammar and vocab expansion."""

from __future__ import annotations

import torch
from symusic import Note, Score, Track

from tunesmith.generation.grammar import Constraints, SequenceGrammar, Vocab
from tunesmith.tokenization import Tokenizer, TokenizerSettings
from tunesmith.tokenization.harmony import add_chords, bar_chords, chord_id, strip_chords, with_chords
from tunesmith.tokenization.infill import Gap, make_infill, split_bars
from tunesmith.tokenization.vocab import NO_CHORD, chord_tokens, role_tokens

Q = 480


def band(bars: list[tuple[int, ...] | None]) -> Score:
    """One whole-note chord a bar on a piano (None: a bar of drums only), drums throughout."""
    score = Score(Q)
    piano, drums = Track(program=0), Track(program=0, is_drum=True)
    for b, pitches in enumerate(bars):
        for p in pitches or ():
            piano.notes.append(Note(b * 4 * Q, 4 * Q, p, 70))
        drums.notes.extend(Note(b * 4 * Q + i * Q, Q // 4, 36 if i % 2 == 0 else 38, 100) for i in range(4))
    score.tracks.extend([piano, drums])
    return score


def test_chord_and_role_tokens_follow_the_old_vocabulary():
    plain = Tokenizer.create(TokenizerSettings(chords=False, roles=False))
    chorded = Tokenizer.create(TokenizerSettings(roles=False))  # the vocabulary of models before roles
    tok = Tokenizer.default()
    assert tok.chords and tok.roles and not plain.chords and not chorded.roles
    assert tok.tokens[: len(plain)] == plain.tokens  # an older model's ids keep their meaning
    assert tok.tokens[: len(chorded)] == chorded.tokens
    assert chorded.tokens[len(plain):] == chord_tokens() and len(chorded) == len(plain) + 12 * 10 + 1
    assert tok.tokens[len(chorded):] == role_tokens()
    assert all(not tok.is_music(i) for i in tok.chord_ids) and len(tok.chord_ids) == len(chord_tokens())
    assert tok.n_base == plain.n_base == chorded.n_base  # segment windows stay valid


def test_the_chord_flag_survives_save_and_load(tmp_path):
    Tokenizer.default().save(tmp_path / "a")
    Tokenizer.create(TokenizerSettings(chords=False, roles=False)).save(tmp_path / "b")
    assert Tokenizer.load(tmp_path / "a").tokens == Tokenizer.default().tokens
    assert Tokenizer.load(tmp_path / "a").roles
    assert not Tokenizer.load(tmp_path / "b").chords and not Tokenizer.load(tmp_path / "b").roles


def test_bars_say_the_chord_their_notes_sound():
    tok = Tokenizer.default()
    score = band([(60, 64, 67), (57, 60, 64), None, (55, 59, 62, 65), (60, 61, 62, 63)])
    bars = split_bars(tok.encode_score(score), tok)
    assert bar_chords(bars, tok) == ["C", "Am", None, "G7", None]  # a cluster is no chord


def test_chord_tokens_sit_after_the_meter_and_decode_away():
    tok = Tokenizer.default()
    score = band([(60, 64, 67), (53, 57, 60)])
    ids = tok.encode_score(score)
    with_ids = add_chords(ids, tok)
    names = tok.to_tokens(with_ids)
    assert [names[i + 2] for i, t in enumerate(names) if t == "Bar_None"] == ["Chord_C", "Chord_F"]
    assert names[names.index("Bar_None") + 1].startswith("TimeSig_")
    assert strip_chords(with_ids, tok) == ids
    decoded, plain = tok.decode(with_ids), tok.decode(ids)
    assert [list(t.notes) for t in decoded.tracks] == [list(t.notes) for t in plain.tracks]


def test_asked_chords_replace_detected_ones():
    tok = Tokenizer.default()
    bars = split_bars(add_chords(tok.encode_score(band([(60, 64, 67), (60, 64, 67)])), tok), tok)
    again = with_chords(bars, tok, ["a#min7", None])
    assert [tok.tokens[b.head[-1]] for b in again] == ["Chord_Bbm7", NO_CHORD]
    assert chord_id(tok, "Bbm7") == tok.vocab["Chord_Bbm7"]


def test_a_fill_says_its_bars_chords_and_the_context_does_not():
    tok = Tokenizer.default()
    ids = add_chords(tok.encode_score(band([(60, 64, 67), (57, 60, 64), (53, 57, 60)])), tok)
    context, fill = make_infill(ids, Gap(0, 1, 1), tok)
    chords = [tok.tokens[i] for i in context if i in tok.chord_ids]
    assert chords == ["Chord_C", "Chord_F"]  # the gap bar (Am) is the fill's to say
    assert [tok.tokens[i] for i in fill if i in tok.chord_ids] == ["Chord_Am"]


def _run(grammar: SequenceGrammar, pick) -> list[str]:  # type: ignore[no-untyped-def]
    """Drive a grammar to its end, taking pick(allowed ids) at each step."""
    names = []
    while not grammar.done and len(names) < 400:
        _, ids = grammar.options()
        t = int(pick(ids))
        grammar.advance(t)
        names.append(grammar.v.tok.tokens[t])
    return names


def test_the_grammar_holds_each_bar_to_its_asked_chord():
    tok = Tokenizer.default()
    asked = (chord_id(tok, "C"), chord_id(tok, "G"))
    g = SequenceGrammar(Vocab.of(tok), Constraints(programs=(0,), bars=3, chords=asked))
    rng = torch.Generator().manual_seed(0)
    names = _run(g, lambda ids: ids[int(torch.randint(len(ids), (1,), generator=rng))])
    said = [t for t in names if t.startswith("Chord_")]
    assert said == ["Chord_C", "Chord_G", "Chord_C"]  # cycling, one per bar
    assert all(names[i - 1].startswith("TimeSig_") for i, t in enumerate(names) if t.startswith("Chord_"))


def test_without_asked_chords_a_bar_may_say_one_or_none():
    tok = Tokenizer.default()
    g = SequenceGrammar(Vocab.of(tok), Constraints(programs=(0,), bars=2))
    g.advance(tok.vocab["Bar_None"])
    g.advance(tok.vocab["TimeSig_4/4"])
    _, ids = g.options()
    kinds = {tok.tokens[i].split("_")[0] for i in ids}
    assert {"Chord", "Position"} <= kinds

    def next_kinds(first: str) -> set[str]:  # what may follow bar 2's TimeSig, bar 1 opened by `first`
        h = SequenceGrammar(Vocab.of(tok), Constraints(programs=(0,), bars=3))
        for t in ("Bar_None", "TimeSig_4/4", first, "Position_0", "Program_0", "Pitch_60", "Velocity_63",
                  "Duration_1.0.8", "Bar_None", "TimeSig_4/4"):
            if t:
                h.advance(tok.vocab[t])
        return {tok.tokens[i].split("_")[0] for i in h.options()[1]}

    assert next_kinds("Chord_Am") == {"Chord"}  # a window says every bar's chord or none
    assert "Chord" not in next_kinds("")
    plain = Tokenizer.create(TokenizerSettings(chords=False))
    p = SequenceGrammar(Vocab.of(plain), Constraints(programs=(0,), bars=2))
    p.advance(plain.vocab["Bar_None"])
    p.advance(plain.vocab["TimeSig_4/4"])
    assert not any(plain.tokens[i].startswith("Chord_") for i in p.options()[1])


def test_a_fill_grammar_opens_each_bar_with_its_chord_then_controls():
    from tunesmith.infilling.infill import FillControls, FillGrammar

    tok = Tokenizer.default()
    asked = (chord_id(tok, "Dm"),)
    g = FillGrammar(Vocab.of(tok), 0, "4/4", 2, FillControls(density=2), asked)
    names = _run(g, lambda ids: ids[0])
    heads = [names[i:i + 4] for i, t in enumerate(names) if t == "Bar_None"]
    assert [h[2] for h in heads] == ["Chord_Dm", "Chord_Dm"] and all(h[3] == "Density_2" for h in heads)
    free = FillGrammar(Vocab.of(tok), 0, "4/4", 1, None, ())
    free.advance(tok.vocab["Bar_None"])
    free.advance(tok.vocab["TimeSig_4/4"])
    assert {tok.tokens[i].split("_")[0] for i in free.options()[1]} == {"Chord"}  # it must say one


def test_an_older_checkpoint_is_expanded_with_chord_rows(tmp_path):
    from tunesmith.model import PRESETS, Checkpoint, build_model, save_checkpoint
    from tunesmith.training.trainer import load_init

    plain = Tokenizer.create(TokenizerSettings(chords=False, roles=False))
    old = build_model(PRESETS["debug"], plain, seed=0)
    save_checkpoint(Checkpoint(old, plain, PRESETS["debug"]), tmp_path)
    tok = Tokenizer.default()
    grown = load_init(tmp_path, "debug", PRESETS["debug"], tok).model
    rows = grown.get_input_embeddings().weight
    assert rows.shape[0] == len(tok)
    assert torch.equal(rows[: len(plain)], old.get_input_embeddings().weight)
    assert grown.lm_head.weight.data_ptr() == rows.data_ptr()  # still tied
    # a chord starts as the pitches it names: C major is the mean of every C, E and G
    tones = [i for t, i in tok.vocab.items() if t.startswith("Pitch_") and int(t[6:]) % 12 in (0, 4, 7)]
    assert torch.allclose(rows[tok.vocab["Chord_C"]], rows[tones].mean(dim=0))
    assert not torch.allclose(rows[tok.vocab["Chord_C"]], rows[tok.vocab["Chord_Cm"]])
    # a model with chord tokens but none for roles (stages 5-7) keeps every row it had
    chorded = Tokenizer.create(TokenizerSettings(roles=False))
    older = build_model(PRESETS["debug"], chorded, seed=1)
    save_checkpoint(Checkpoint(older, chorded, PRESETS["debug"]), tmp_path / "chorded")
    rows = load_init(tmp_path / "chorded", "debug", PRESETS["debug"], tok).model.get_input_embeddings().weight
    assert rows.shape[0] == len(tok) and torch.equal(rows[: len(chorded)], older.get_input_embeddings().weight)


def test_the_models_own_harmony_opens_and_closes_on_the_tonic():
    from tunesmith.generation.generate import CADENCE, cadence_bias

    tok = Tokenizer.default()
    bias = cadence_bias(tok, "E minor", 8)
    em, em7, g = tok.vocab["Chord_Em"], tok.vocab["Chord_Em7"], tok.vocab["Chord_G"]
    assert bias.shape == (8, len(tok))
    assert bias[0, em] == bias[7, em7] == CADENCE and bias[0, g] == 0
    assert not bias[1:7].any()  # the middle is the model's own
    gap = cadence_bias(tok, "Eb major", 4, first=4, total=8)  # bars 5-8 of 8: only the last is the end
    assert gap[3, tok.vocab["Chord_Eb"]] == CADENCE and not gap[:3].any()
    assert cadence_bias(Tokenizer.create(TokenizerSettings(chords=False)), "C major", 4) is None
