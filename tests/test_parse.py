"""Free-text prompts -> explicit Attributes: casual wording, error cases, robustness."""

from __future__ import annotations

from typing import Any

import pytest

from tunesmith.attributes import DRUMS, Attributes, tempo_of_word
from tunesmith.captions import parse
from tunesmith.captions.parse import parse_instruments, parse_key, parse_time_signature
from tunesmith.errors import PromptError

D = DRUMS
PROMPTS: list[tuple[str, dict[str, Any]]] = [
    ("a sad piano piece in A minor at 70 bpm",
     dict(key="A minor", tempo=70, instruments=(0,), mood="sad")),
    ("Upbeat funky track in E-flat with slap bass, rhodes and drums, 16 bars",
     dict(key="Eb major", tempo=130, instruments=(36, 4, D), genre="funk", bars=16)),
    ("a waltz for strings in the key of D, about half a minute",
     dict(key="D major", time_signature="3/4", instruments=(48,), seconds=30)),
    ("chill lofi beat with keys, no drums, 2 minutes",
     dict(instruments=(4,), genre="hiphop", mood="calm", seconds=120)),
    ("epic film score in six eight with brass and choir, very fast",
     dict(time_signature="6/8", instruments=(61, 52), genre="soundtrack", mood="epic", tempo=180)),
    ("spooky tenor sax solo in Am", dict(key="A minor", instruments=(66,), mood="dark")),
    ("", {}),
    ("   \n\t ", {}),
    ("🎹🎶🔥", {}),
    ("Ein trauriges Lied in a-Moll für Klavier", {}),
    ("曲を作って", {}),
    ("Write me a jazzy tune for piano, upright bass and drums at 120 beats per minute",
     dict(genre="jazz", instruments=(0, 32, D), tempo=120)),
    ("A melancholy cello and violin duet in D minor, slow, 3/4",
     dict(mood="melancholic", instruments=(42, 40), key="D minor", tempo=65,
          time_signature="3/4")),
    ("happy pop song with electric guitar, bass, drums and synth pad in G major, 100 bpm, 32 bars",
     dict(genre="pop", mood="happy", instruments=(27, 33, D, 89), key="G major", tempo=100,
          bars=32)),
    ("dark techno track, 128 bpm, with a synth bass, a drum machine and a lead synth",
     dict(genre="electronic", mood="dark", tempo=128, instruments=(38, D, 81))),
    ("peaceful ambient piece with a warm pad and a flute, about a minute long",
     dict(mood="peaceful", genre="ambient", instruments=(89, 73), seconds=60)),
    ("Bossa nova in F with nylon guitar and flute, relaxed",
     dict(genre="latin", key="F major", instruments=(24, 73), tempo=80)),
    ("a heavy metal song with distorted guitars and drums at 180 bpm in E minor",
     dict(genre="rock", instruments=(30, D), tempo=180, key="E minor")),
    ("Classical string quartet in C major, Allegro",
     dict(genre="classical", instruments=(40, 41, 42), key="C major",
          tempo=tempo_of_word("Allegro"))),
    ("a romantic piano ballad in Bb major, 4/4, around 75 bpm",
     dict(mood="romantic", instruments=(0,), key="Bb major", time_signature="4/4", tempo=75)),
    ("playful xylophone and marimba tune for kids",
     dict(mood="playful", instruments=(13, 12))),
    ("reggae groove with organ, bass guitar and drums, 90 bpm",
     dict(genre="reggae", instruments=(16, 33, D), tempo=90)),
    ("country song with banjo, fiddle and acoustic guitar in G",
     dict(genre="country", instruments=(105, 110, 24), key="G major")),
    ("An energetic rock anthem with overdriven guitar, bass and drums, fast",
     dict(mood="energetic", genre="rock", instruments=(29, 33, D), tempo=150)),
    ("soulful r&b slow jam with electric piano and bass",
     dict(genre="soul", tempo=65, instruments=(4, 33))),
    ("Hip-hop beat with piano and 808s", dict(genre="hiphop", instruments=(D, 0))),
    ("cinematic orchestral piece with timpani, french horns and strings, dark and ominous, 12/8",
     dict(genre="soundtrack", mood="dark", instruments=(47, 60, 48), time_signature="12/8")),
    ("A gentle lullaby on music box and celesta, Andante",
     dict(instruments=(10, 8), tempo=tempo_of_word("Andante"))),
    ("blues in A with harmonica and electric guitar, shuffle at 95 bpm",
     dict(genre="blues", key="A major", instruments=(22, 27), tempo=95)),
    ("sinister synth pad drone in C# minor, very slow",
     dict(mood="dark", instruments=(89,), genre="ambient", key="C# minor", tempo=50)),
    ("cheerful folk tune with accordion and tin whistle in D, 6/8",
     dict(mood="happy", genre="folk", instruments=(21, 78), key="D major",
          time_signature="6/8")),
    ("Make a 30 second jingle with glockenspiel and bells",
     dict(seconds=30, instruments=(9, 14))),
    ("trance anthem at 138 bpm with supersaw lead and pads",
     dict(genre="electronic", tempo=138, instruments=(89,))),
    ("a calm meditation with kalimba and rain", dict(mood="calm", instruments=(108,))),
    ("fast drum and bass track", dict(tempo=150, genre="electronic")),
    ("Smooth jazz with tenor sax, rhodes, fretless bass and brushes on drums, 85 bpm",
     dict(genre="jazz", instruments=(66, 4, 35, D), tempo=85)),
    ("no drums, just solo piano, moderato",
     dict(instruments=(0,), tempo=tempo_of_word("Moderato"))),
    ("an 8 bar intro in 4/4 for church organ",
     dict(bars=8, time_signature="4/4", instruments=(19,))),
    ("Gloomy cello solo in the key of G minor, 60 bpm, 24 measures",
     dict(mood="sad", instruments=(42,), key="G minor", tempo=60, bars=24)),
    ("Prestissimo piano etude in F sharp minor",
     dict(tempo=tempo_of_word("Prestissimo"), instruments=(0,), key="F# minor")),
    ("latin salsa with trumpet, trombone, piano and congas",
     dict(genre="latin", instruments=(56, 57, 0))),
    ("A mysterious soundtrack for a video game, with harp and strings, 5/4",
     dict(mood="dark", genre="soundtrack", instruments=(46, 48), time_signature="5/4")),
    ("electronic dance music, four on the floor, 125 BPM, synth bass and drums",
     dict(genre="electronic", tempo=125, instruments=(38, D))),
    ("tempo: 96, key: Eb minor, time: 3/4, instruments: piano, flute",
     dict(tempo=96, key="Eb minor", time_signature="3/4", instruments=(0, 73))),
    ("A minor key ballad for nylon guitar", dict(key="A minor", instruments=(24,))),
    ("a minor tweak: make it happier", {}),
    ("Can you make something in a major key?", {}),
    ("piano piece in a minor", dict(instruments=(0,), key="A minor")),
    ("drums only, no piano, no bass", dict(instruments=(D,))),
    ("in the style of a 1980s synthpop song with drum machine, synth bass and lead synth, 118 bpm",
     dict(genre="pop", instruments=(D, 38, 81), tempo=118)),
    ("A slow and sad waltz in E minor for violin and piano, one minute and a half",
     dict(tempo=65, mood="sad", time_signature="3/4", key="E minor", instruments=(40, 0),
          seconds=90)),
    ("a quick celtic jig on bagpipes and fiddle in 9/8",
     dict(tempo=150, genre="folk", instruments=(109, 110), time_signature="9/8")),
    ("A triumphant march for brass band and snare drum in 2/4",
     dict(mood="epic", instruments=(61, D), time_signature="2/4")),
    ("soft new age piece with pan flute, choir and strings, peaceful, 70 bpm",
     dict(genre="ambient", instruments=(75, 52, 48), mood="peaceful", tempo=70)),
    ("Funk at 105 bpm: clavinet, slap bass, horns, drums",
     dict(genre="funk", tempo=105, instruments=(7, 36, 61, D))),
    ("Write a piece in 7/8 for marimba and vibraphone, energetic",
     dict(time_signature="7/8", instruments=(12, 11), mood="energetic")),
    ("a dreamy shoegaze track", {}),
    ("Presto, in C, for harpsichord",
     dict(tempo=tempo_of_word("Presto"), key="C major", instruments=(6,))),
    ("a 2 minute long sad song with acoustic guitar and voice",
     dict(seconds=120, mood="sad", instruments=(24, 53))),
    ("ambient pads and bells, 45 seconds, in D major, largo",
     dict(genre="ambient", instruments=(89, 14), seconds=45, key="D major",
          tempo=tempo_of_word("Largo"))),
    ("uptempo gospel with choir, organ and piano in Ab",
     dict(tempo=130, genre="soul", instruments=(52, 16, 0), key="Ab major")),
    ("Dubstep with wobble synth bass and heavy drums at 140bpm",
     dict(genre="electronic", instruments=(38, D), tempo=140)),
    ("a tender love song for piano and strings in Db major",
     dict(mood="romantic", instruments=(0, 48), key="C# major")),
    ("Give me 64 bars of fast paced bebop with trumpet, tenor saxophone, double bass and drums",
     dict(bars=64, tempo=150, genre="jazz", instruments=(56, 66, 32, D))),
    ("A sombre requiem for choir and church organ in B minor, grave",
     dict(mood="sad", instruments=(52, 19), key="B minor", tempo=tempo_of_word("Grave"))),
    ("A jolly sea shanty with accordion, at 110 beats a minute, in G",
     dict(mood="happy", genre="folk", instruments=(21,), tempo=110, key="G major")),
    ("Lo-fi hip hop, mellow, with e-piano, bass and a laid-back beat, 75 bpm",
     dict(genre="hiphop", mood="calm", instruments=(4, 33, D), tempo=75)),
    ("Eerie music box melody in F# minor, 3/4, very slow, 20 seconds",
     dict(mood="dark", instruments=(10,), key="F# minor", time_signature="3/4", tempo=50,
          seconds=20)),
    ("a fun chiptune with square lead and synth drum, 160 bpm",
     dict(mood="playful", genre="electronic", instruments=(80, 118), tempo=160)),
    ("Kind of sad, kind of hopeful piano piece", dict(mood="sad", instruments=(0,))),
    ("Rock song, no guitars, just bass and drums",
     dict(genre="rock", instruments=(33, D))),
    ("Something like a calm Adagio for strings",
     dict(mood="calm", tempo=tempo_of_word("Adagio"), instruments=(48,))),
    ("Salsa in C minor at 180 bpm, piano, trumpet, trombone, and percussion",
     dict(genre="latin", key="C minor", tempo=180, instruments=(0, 56, 57, D))),
    ("in the key of d", dict(key="D major")),
    ("C major melody for flute, 100 bpm", dict(key="C major", instruments=(73,), tempo=100)),
    ("Just a short piano thing in G flat, not too fast",
     dict(instruments=(0,), key="F# major", tempo=100)),
    ("A moody, gloomy piece in common time for a string ensemble and an oboe, 90 seconds",
     dict(mood="sad", time_signature="4/4", instruments=(48, 68), seconds=90)),
    ("Two minutes of chill house with synth strings and a beat at 122 bpm",
     dict(seconds=120, mood="calm", genre="electronic", instruments=(50, D), tempo=122)),
    ("Compose sixteen bars of a nostalgic tune for clarinet and bassoon in three four time",
     dict(bars=16, mood="melancholic", instruments=(71, 70), time_signature="3/4")),
    ("guitars and basses", dict(instruments=(24, 33))),
    ("An uplifting anthem in E major for piano, strings and choir at 72 bpm, 48 bars",
     dict(mood="happy", key="E major", instruments=(0, 48, 52), tempo=72, bars=48)),
]


@pytest.mark.parametrize(("text", "expected"), PROMPTS, ids=[p[0][:40] for p in PROMPTS])
def test_prompt(text: str, expected: dict[str, Any]) -> None:
    assert parse(text) == Attributes(**expected)


def test_many_prompts() -> None:
    assert len(PROMPTS) >= 60


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("a piano piece at 400 bpm", ("400", "20..300")),
        ("a slow dirge at 0 bpm", ("0 bpm", "20..300")),
        ("tempo 10", ("10", "20..300")),
        ("400 bars of piano", ("400 bars", "1..128")),
        ("0 bars please", ("0 bars", "1..128")),
        ("piano, violin, cello, flute, oboe, clarinet, trumpet, harp and drums",
         ("9 instruments", "at most 8")),
        ("a 5/8 groove on drums", ("5/8", "allowed")),
        ("15 minutes of ambient", ("900", "1..600")),
        ("0 seconds long", ("0 s", "1..600")),
    ],
)
def test_impossible_requests_raise(text: str, needles: tuple[str, ...]) -> None:
    with pytest.raises(PromptError) as err:
        parse(text)
    for needle in needles:
        assert needle in str(err.value)


def test_negated_unknown_instrument_does_not_raise() -> None:
    assert parse("piano, no kazoo please").instruments == (0,)


@pytest.mark.parametrize(
    "text",
    [
        "la " * 3400,
        "1" * 10_000,
        " " * 10_000,
        "in " * 3400,
        "a minor " * 1250,
        "C# " * 3400,
        "3/" * 5000,
        "beats per minute " * 600,
        "🎵" * 10_000,
        "piano " * 1700,
    ],
    ids=["words", "digits", "spaces", "in", "a-minor", "sharps", "slashes", "bpm", "emoji",
         "pianos"],
)
def test_long_text_does_not_raise(text: str) -> None:
    assert len(text) >= 9_000
    result = parse(text)
    assert isinstance(result, Attributes)


def test_long_text_still_finds_targets() -> None:
    text = "lorem ipsum " * 800 + "a sad cello piece in D minor at 60 bpm"
    assert parse(text) == Attributes(key="D minor", tempo=60, instruments=(42,), mood="sad")


def test_parse_instruments() -> None:
    assert parse_instruments(["piano, drums", "electric bass"]) == (0, DRUMS, 33)
    assert parse_instruments(["48", "Tenor Saxophone"]) == (48, 66)
    assert parse_instruments(["string quartet"]) == (40, 41, 42)
    assert parse_instruments(["Honky-tonk Piano", "overdriven guitars"]) == (3, 29)


@pytest.mark.parametrize(
    ("names", "needles"),
    [
        (["pianoo"], ("'pianoo'", "piano")),
        (["piano, kazooo-phone"], ("'kazooo-phone'", "unknown")),
        (["fast"], ("'fast'",)),
        (["piano", "200"], ("200", "0..127")),
    ],
)
def test_parse_instruments_rejects(names: list[str], needles: tuple[str, ...]) -> None:
    with pytest.raises(PromptError) as err:
        parse_instruments(names)
    for needle in needles:
        assert needle in str(err.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [("C major", "C major"), ("Am", "A minor"), ("f# minor", "F# minor"), ("Bbm", "Bb minor"),
     ("e flat minor", "Eb minor"), ("D", "D major"), ("G-sharp minor", "Ab minor"),
     ("  B maj ", "B major")],
)
def test_parse_key(text: str, key: str) -> None:
    assert parse_key(text) == key


@pytest.mark.parametrize("text", ["H major", "C lydian", "", "major", "Cm7", "AM"])
def test_parse_key_rejects(text: str) -> None:
    with pytest.raises(PromptError, match="is unknown"):
        parse_key(text)


@pytest.mark.parametrize(
    ("text", "ts"),
    [("3/4", "3/4"), (" 6 / 8 ", "6/8"), ("six eight", "6/8"), ("waltz", "3/4"),
     ("common time", "4/4"), ("Cut-time", "2/2")],
)
def test_parse_time_signature(text: str, ts: str) -> None:
    assert parse_time_signature(text) == ts


@pytest.mark.parametrize("text", ["5/8", "banana", "", "3/5", "4/4/4"])
def test_parse_time_signature_rejects(text: str) -> None:
    with pytest.raises(PromptError, match="not supported"):
        parse_time_signature(text)


def test_dance_forms_imply_their_meter():
    from tunesmith.captions.parse import parse

    assert parse("an irish jig on fiddle in D major").time_signature == "6/8"
    assert parse("a slip jig for flute").time_signature == "9/8"
    assert parse("a hornpipe for accordion").time_signature == "4/4"
    assert parse("a jig in 2/4").time_signature == "2/4"  # an explicit meter wins


def test_a_bare_guitar_is_the_genres_usual_guitar() -> None:
    assert parse("a rock song with guitar, bass and drums").instruments == (29, 33, 128)
    assert parse("a folk song with guitar and fiddle").instruments == (24, 110)
    assert parse("a rock song with acoustic guitar").instruments == (24,)  # named: kept


@pytest.mark.parametrize("text, lead", [
    ("a sad trumpet melody in C minor", 56),
    ("jazz trio with piano, upright bass and drums and a sax solo", 65),
    ("the melody on the flute over strings", 73),
    ("violin playing the theme with piano", 40),
    ("a rock song with lead guitar, bass and drums", 29),
    ("a jig for accordion in 6/8", 21),
    ("calm piano and strings", None),
    ("no trumpet melody, a piano", None),  # a negated instrument leads nothing
])
def test_the_text_gives_the_tune_to_an_instrument(text: str, lead: int | None) -> None:
    roles = parse(text).roles
    assert roles == (((lead, "lead"),) if lead is not None else None)
