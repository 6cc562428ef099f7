"""The musical attributes a prompt can ask for, and the closed sets they take values from.

Consumed by captions (features, parse), tokenization (condition tokens), generation
(constraints) and evaluation (adherence). Names follow MidiCaps: GM instrument names,
tempo words with MidiCaps' bin edges, keys as "C major" / "A minor".
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field
from typing import Any

from tunesmith.errors import PromptError

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = ("major", "minor")
KEYS = tuple(f"{pc} {mode}" for mode in MODES for pc in PITCH_CLASSES)

# MidiCaps tempo words; a tempo t falls in bin i where TEMPO_EDGES[i-1] <= t < TEMPO_EDGES[i].
TEMPO_EDGES = (40, 60, 70, 90, 110, 140, 160, 210)
TEMPO_WORDS = (
    "Grave", "Largo", "Adagio", "Andante", "Moderato", "Allegro", "Vivace", "Presto", "Prestissimo"
)
TEMPO_RANGE = (20.0, 300.0)

TIME_SIGNATURES = ("4/4", "3/4", "2/4", "6/8", "12/8", "9/8", "3/8", "6/4", "5/4", "2/2", "7/8")

GENRES = (
    "pop", "rock", "classical", "folk", "jazz", "blues", "funk", "latin", "hiphop", "soul",
    "country", "electronic", "reggae", "ambient", "world", "soundtrack",
)
MOODS = (
    "happy", "sad", "calm", "energetic", "dark", "romantic", "epic", "playful", "melancholic",
    "peaceful",
)
MAX_BARS = 128
BAR_BINS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128)
MAX_INSTRUMENTS = 8

# General MIDI program names in the MidiCaps spelling; program 128 stands for the drum kit.
GM_NAMES = (
    "Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano", "Electric Piano 2", "Harpsichord", "Clavinet",
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone",
    "Marimba", "Xylophone", "Tubular Bells", "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ",
    "Reed Organ", "Accordion", "Harmonica", "Tango Accordion",
    "Acoustic Guitar", "Steel String Guitar", "Jazz Guitar", "Clean Electric Guitar",
    "Muted Electric Guitar", "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics",
    "Acoustic Bass", "Electric Bass", "Picked Bass", "Fretless Bass",
    "Slap Bass", "Slap Bass 2", "Synth Bass", "Synth Bass 2",
    "Violin", "Viola", "Cello", "Contrabass",
    "Tremolo Strings", "Pizzicato Strings", "Harp", "Timpani",
    "String Ensemble", "String Ensemble 2", "Synth Strings", "Synth Strings 2",
    "Choir Aahs", "Voice Oohs", "Synth Voice", "Orchestra Hit",
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet",
    "French Horn", "Brass Section", "Synth Brass", "Synth Brass 2",
    "Soprano Saxophone", "Alto Saxophone", "Tenor Saxophone", "Baritone Saxophone",
    "Oboe", "English Horn", "Bassoon", "Clarinet",
    "Piccolo", "Flute", "Recorder", "Pan Flute",
    "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    "Square Lead", "Sawtooth Lead", "Calliope Lead", "Chiff Lead",
    "Charang Lead", "Voice Lead", "Fifths Lead", "Bass and Lead",
    "New Age Pad", "Warm Pad", "Polysynth Pad", "Choir Pad",
    "Bowed Pad", "Metallic Pad", "Halo Pad", "Sweep Pad",
    "Rain", "Soundtrack", "Crystal", "Atmosphere",
    "Brightness", "Goblins", "Echoes", "Sci-fi",
    "Sitar", "Banjo", "Shamisen", "Koto",
    "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock",
    "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal",
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet",
    "Telephone Ring", "Helicopter", "Applause", "Gunshot",
)
DRUMS = 128
INSTRUMENT_NAMES = GM_NAMES + ("Drums",)
GM_FAMILIES = (
    "piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
    "reed", "pipe", "synth lead", "synth pad", "synth effects", "ethnic", "percussive",
    "sound effects",
)


def family(program: int) -> str:
    """GM family of a program (0..127), or "drums" for DRUMS."""
    return "drums" if program == DRUMS else GM_FAMILIES[program // 8]


# Instruments that sound one note at a time (a player's breath, a single string line): reeds,
# pipes, solo brass (trumpet, trombone, tuba, muted trumpet, horn), synth leads and basses;
# the solo bowed strings (violin, viola, cello, contrabass) manage double stops at most.
MONOPHONIC_FAMILIES = ("reed", "pipe", "synth lead", "bass")
SOLO_BRASS = range(56, 61)
SOLO_STRINGS = range(40, 44)


# The most notes a family starts together in 99.9 % of the onsets of the band training windows
# (`python benchmarks/voicing.py --segments runs/seg_band`), a guitar's six strings at most:
# the model alone stacked 7-16 notes on 9-30 % of its guitar, string and ensemble onsets.
FAMILY_VOICES = {
    "piano": 8, "chromatic percussion": 5, "organ": 7, "guitar": 6, "strings": 6, "ensemble": 8,
    "brass": 6, "synth pad": 6, "synth effects": 6, "ethnic": 4, "percussive": 7, "sound effects": 6,
}


# Notes a part plays in a bar, the median over the bars it plays in the band training windows
# (`python benchmarks/voicing.py --segments runs/seg_band --per-bar`): a part written by infilling is
# told it (a per-bar density control). The model alone wrote strings, brass and ensembles at
# 13-16 notes a bar against 4-6 in the band corpora.
FAMILY_DENSITY = {
    "piano": 9, "chromatic percussion": 6, "organ": 6, "guitar": 8, "bass": 6, "strings": 6,
    "ensemble": 4, "brass": 5, "reed": 5, "pipe": 5, "synth lead": 8, "synth pad": 4,
    "synth effects": 4, "ethnic": 7, "percussive": 5, "sound effects": 3,
}


DENSITY_MAX = 18  # notes a bar a density token can say (Density_18: that many or more)

# The roles a part plays in a band (data/roles.py reads them from real tracks); the drum kit's
# is its own. A header says each part's role after its instrument (tokenization/vocab.py).
PART_ROLES = ("lead", "chords", "bass", "pad")

# How often a family's tracks play the lead in the band corpora, and what they play otherwise
# (`tunesmith data roles`, configs/roles.json, all genres): the defaults of `assign_roles`.
FAMILY_LEAD = {
    "piano": (0.44, "chords"), "chromatic percussion": (0.65, "chords"), "organ": (0.41, "chords"),
    "guitar": (0.51, "chords"), "bass": (0.0, "bass"), "strings": (0.44, "chords"),
    "ensemble": (0.29, "pad"), "brass": (0.48, "chords"), "reed": (0.71, "chords"),
    "pipe": (0.72, "chords"), "synth lead": (0.66, "chords"), "synth pad": (0.34, "pad"),
    "synth effects": (0.61, "chords"), "ethnic": (0.67, "chords"), "percussive": (0.56, "chords"),
    "sound effects": (0.56, "chords"),
}


def assign_roles(instruments: tuple[int, ...], given: tuple[tuple[int, str], ...] | None = None,
                 ) -> tuple[tuple[int, str], ...] | None:
    """A role for every pitched part: the `given` ones kept; a bass plays the bass; else one
    lead unless one is given (the part a band corpus most often hears as its lead, one-voice
    instruments and then solo strings first), and the others their family's other role. A
    part with no other to share the tune (alone, or over bass and drums) leads when it plays
    one or two voices: a piano or guitar alone plays tune and chords together, which the
    corpora call chords."""
    roles = dict(given or ())
    pitched = [p for p in dict.fromkeys(instruments) if p != DRUMS]
    for p in pitched:
        if p not in roles and family(p) == "bass":
            roles[p] = "bass"
    open_parts = [p for p in pitched if p not in roles]
    if open_parts and "lead" not in roles.values():
        def lead_score(p: int) -> float:
            return FAMILY_LEAD[family(p)][0] + {1: 0.5, 2: 0.25}.get(voices(p) or 0, 0.0)
        best = max(open_parts, key=lead_score)  # the first asked on a tie
        if len(open_parts) > 1 or (voices(best) or 0) <= 2:
            roles[best] = "lead"
    for p in pitched:
        roles.setdefault(p, FAMILY_LEAD[family(p)][1])
    return tuple((p, roles[p]) for p in pitched) or None


LEAD_DENSITY = 5  # a lead's notes a bar at most: band leads play 4.6 in the band windows' bars they play


def assign_densities(roles: tuple[tuple[int, str], ...] | None) -> tuple[tuple[int, int], ...] | None:
    """The notes a bar each part is told: its family's (FAMILY_DENSITY), a lead at most
    LEAD_DENSITY, and a part that plays chords alone both (a lone piano plays the tune and the
    accompaniment; stage 9's lone chord parts played 25 notes a bar told their family's, 23 told
    both, 29 told nothing: benchmarks/listening_reference.py --seeds 3 --model)."""
    if not roles:
        return None
    alone = len(roles) == 1

    def told(program: int, role: str) -> int:
        own = FAMILY_DENSITY[family(program)]
        if role == "lead":
            return min(own, LEAD_DENSITY)
        return own + LEAD_DENSITY if alone and role == "chords" else own
    return tuple((p, told(p, role)) for p, role in roles)


def told_density(program: int, densities: tuple[tuple[int, int], ...] | None) -> int | None:
    """The notes a bar a part is told: its own in `densities` (Attributes.densities), else its
    family's in the band corpora (FAMILY_DENSITY); None for the drums."""
    if program == DRUMS:
        return None
    return dict(densities or ()).get(program, FAMILY_DENSITY.get(family(program)))


def voices(program: int) -> int | None:
    """How many notes an instrument can start together (None: no limit, the drum kit)."""
    if program == DRUMS:
        return None
    if family(program) in MONOPHONIC_FAMILIES or program in SOLO_BRASS:
        return 1
    return 2 if program in SOLO_STRINGS else FAMILY_VOICES[family(program)]


def instrument_name(program: int) -> str:
    if not 0 <= program <= DRUMS:
        raise PromptError(f"instrument program {program} is out of range: allowed 0..127, or 128 for drums")
    return INSTRUMENT_NAMES[program]


def tempo_word(bpm: float) -> str:
    """MidiCaps tempo word of a tempo in beats per minute."""
    return TEMPO_WORDS[tempo_bin(bpm)]


def tempo_bin(bpm: float) -> int:
    return bisect.bisect_right(TEMPO_EDGES, bpm)


def tempo_of_word(word: str) -> float:
    """A representative tempo (the bin's middle) for a tempo word."""
    i = TEMPO_WORDS.index(word)
    lo = TEMPO_EDGES[i - 1] if i > 0 else 30
    hi = TEMPO_EDGES[i] if i < len(TEMPO_EDGES) else 240
    return (lo + hi) / 2


def bar_bin(bars: int) -> int:
    """The smallest BAR_BINS value that holds `bars` bars."""
    i = bisect.bisect_left(BAR_BINS, bars)
    return BAR_BINS[min(i, len(BAR_BINS) - 1)]


def relative_key(key: str) -> str:
    """The relative major/minor of a key ("A minor" <-> "C major")."""
    pc, mode = key.split(" ")
    i = PITCH_CLASSES.index(pc)
    if mode == "major":
        return f"{PITCH_CLASSES[(i + 9) % 12]} minor"
    return f"{PITCH_CLASSES[(i + 3) % 12]} major"


@dataclass(frozen=True)
class Attributes:
    """Explicit targets of a piece: what a prompt asks for, or what a score has.

    Every field may be None (unset: the prompt did not say). `instruments` holds GM
    programs with DRUMS (128) for the drum kit; `seconds` and `bars` are both lengths,
    the generator converts one into the other through the tempo and time signature.
    """

    key: str | None = None
    tempo: float | None = None
    time_signature: str | None = None
    instruments: tuple[int, ...] | None = None
    genre: str | None = None
    mood: str | None = None
    bars: int | None = None
    seconds: float | None = None
    chords: tuple[str, ...] | None = field(default=None, compare=False)
    # (program, role) of parts whose role is said (PART_ROLES); `assign_roles` completes them
    roles: tuple[tuple[int, str], ...] | None = field(default=None, compare=False)
    # (program, notes a bar) of parts told how busy to be; `assign_densities` gives them
    densities: tuple[tuple[int, int], ...] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tempo_word"] = tempo_word(self.tempo) if self.tempo is not None else None
        d["instrument_names"] = (
            [instrument_name(p) for p in self.instruments] if self.instruments else None
        )
        d["lead_name"] = next((instrument_name(p) for p, r in self.roles or () if r == "lead"), None)
        return d

    def merged(self, override: Attributes) -> Attributes:
        """These attributes with every field that `override` sets replaced."""
        fields = {k: v for k, v in asdict(override).items() if v is not None}
        base = asdict(self)
        base.update(fields)
        base["instruments"] = tuple(base["instruments"]) if base["instruments"] else None
        base["chords"] = tuple(base["chords"]) if base["chords"] else None
        base["roles"] = tuple((int(p), str(r)) for p, r in base["roles"]) if base["roles"] else None
        base["densities"] = tuple((int(p), int(d)) for p, d in base["densities"]) if base["densities"] else None
        if "bars" in fields and "seconds" not in fields:
            base["seconds"] = None
        if "seconds" in fields and "bars" not in fields:
            base["bars"] = None
        return Attributes(**base)


def check_one_length(a: Attributes) -> None:
    """A request gives one length: refuse bars and seconds together (a score may have both)."""
    if a.bars is not None and a.seconds is not None:
        raise PromptError(f"bars {a.bars} and seconds {a.seconds:g} both given: give one length")


def validate(a: Attributes) -> None:
    """Raise PromptError naming the first value that is out of its allowed set."""
    if a.key is not None and a.key not in KEYS:
        raise PromptError(f"key {a.key!r} is unknown: allowed e.g. 'C major', 'F# minor'")
    if a.tempo is not None and not TEMPO_RANGE[0] <= a.tempo <= TEMPO_RANGE[1]:
        raise PromptError(
            f"tempo {a.tempo:g} bpm is out of range: allowed {TEMPO_RANGE[0]:g}..{TEMPO_RANGE[1]:g}"
        )
    if a.time_signature is not None and a.time_signature not in TIME_SIGNATURES:
        raise PromptError(
            f"time signature {a.time_signature!r} is not supported: allowed {', '.join(TIME_SIGNATURES)}"
        )
    if a.instruments is not None:
        _validate_instruments(a.instruments)
    for program, role in a.roles or ():
        if role not in PART_ROLES:
            raise PromptError(f"role {role!r} is unknown: allowed {', '.join(PART_ROLES)}")
        instrument_name(program)
    for program, notes in a.densities or ():
        if not 0 <= notes <= DENSITY_MAX:
            raise PromptError(f"density {notes} is out of range: allowed 0..{DENSITY_MAX} notes a bar")
        instrument_name(program)
    if a.genre is not None and a.genre not in GENRES:
        raise PromptError(f"genre {a.genre!r} is unknown: allowed {', '.join(GENRES)}")
    if a.mood is not None and a.mood not in MOODS:
        raise PromptError(f"mood {a.mood!r} is unknown: allowed {', '.join(MOODS)}")
    if a.bars is not None and not 1 <= a.bars <= MAX_BARS:
        raise PromptError(f"length {a.bars} bars is out of range: allowed 1..{MAX_BARS}")
    if a.seconds is not None and not 1 <= a.seconds <= 600:
        raise PromptError(f"length {a.seconds:g} s is out of range: allowed 1..600 seconds")


def _validate_instruments(programs: tuple[int, ...]) -> None:
    if len(programs) == 0:
        raise PromptError("instrument list is empty: name at least one instrument, or leave it unset")
    if len(set(programs)) > MAX_INSTRUMENTS:
        raise PromptError(
            f"{len(set(programs))} instruments requested: allowed at most {MAX_INSTRUMENTS}"
        )
    for p in programs:
        instrument_name(p)
