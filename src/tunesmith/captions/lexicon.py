"""Word tables for the caption parser: casual phrases -> GM programs, genres, moods, tempi.

Phrases are lower-case, hyphens written as spaces. Choices where a word is ambiguous:
"guitar" -> Acoustic Guitar (24, the first GM guitar; in rock the overdriven one,
GENRE_GUITAR), "sax" -> Alto Saxophone (65, the usual default saxophone), "keys" ->
Electric Piano (4, as in a band line-up), "keyboard" -> Piano (0), "organ" -> Drawbar
Organ (16, the Hammond of popular music), "bass" -> Electric Bass (33), "synth" ->
Sawtooth Lead (81), "pad" -> Warm Pad (89), "horns" / "brass" -> Brass Section (61),
"horn" -> French Horn (60), "voice" -> Voice Oohs (53).
"""

from __future__ import annotations

from tunesmith.attributes import DRUMS, GM_NAMES

# GM names that read as ordinary words ("Rain", "Crystal", "bass and lead guitar") are
# only recognised in these longer forms; captions write them the same way.
SPOKEN_NAMES: dict[int, str] = {87: "bass and lead synth"} | {
    p: GM_NAMES[p].lower().replace("-", " ") + " synth effect" for p in range(96, 104)
}

_SYNONYMS: dict[str, int | tuple[int, ...]] = {
    "grand piano": 0, "acoustic piano": 0, "upright piano": 0, "keyboard": 0, "keyboards": 0,
    "digital piano": 0, "honky tonk": 3, "keys": 4, "e piano": 4, "rhodes": 4, "wurlitzer": 4,
    "fm piano": 5, "clav": 7, "celeste": 8, "glock": 9, "vibes": 11, "bells": 14, "chimes": 14,
    "organ": 16, "hammond": 16, "hammond organ": 16, "electric organ": 16, "pipe organ": 19,
    "guitar": 24, "nylon guitar": 24, "classical guitar": 24, "spanish guitar": 24,
    "steel guitar": 25, "folk guitar": 25, "twelve string guitar": 25, "electric guitar": 27,
    "clean guitar": 27, "rhythm guitar": 27, "muted guitar": 28, "overdrive guitar": 29,
    "lead guitar": 29, "distorted guitar": 30, "heavy guitar": 30, "bass": 33,
    "bass guitar": 33, "bassline": 33, "bass line": 33, "fingered bass": 33,
    "upright bass": 32, "double bass": 32, "fretless": 35, "slap": 36, "sub bass": 38,
    "strings": 48, "string section": 48, "string orchestra": 48, "orchestral strings": 48,
    "string quartet": (40, 41, 42), "pizzicato": 45, "pizzicato violin": 45,
    "choir": 52, "chorale": 52, "voice": 53, "voices": 53, "vocals": 53, "vocal": 53,
    "singing": 53, "cornet": 56, "flugelhorn": 56, "horn": 60, "horns": 61, "horn section": 61,
    "brass": 61, "sax": 65, "saxophone": 65, "alto sax": 65, "soprano sax": 64,
    "tenor sax": 66, "baritone sax": 67, "bari sax": 67, "cor anglais": 69,
    "woodwinds": (73, 71), "pan pipes": 75, "panpipes": 75, "tin whistle": 78, "synth": 81,
    "synthesizer": 81, "synth lead": 81, "lead synth": 81, "saw lead": 81, "sawtooth": 81,
    "pad": 89, "pads": 89, "synth pad": 89, "polysynth": 90, "mbira": 108,
    "thumb piano": 108, "shehnai": 111, "steel pan": 114, "taiko": 116, "kettle drums": 47,
    "drums": DRUMS, "drum": DRUMS, "drum kit": DRUMS, "drumkit": DRUMS, "drum set": DRUMS,
    "drumset": DRUMS, "drum machine": DRUMS, "percussion": DRUMS, "percussion kit": DRUMS,
    "beat": DRUMS, "beats": DRUMS, "snare": DRUMS, "hi hat": DRUMS, "hi hats": DRUMS,
    "hihat": DRUMS, "kick drum": DRUMS, "bass drum": DRUMS, "cymbals": DRUMS,
    "rhythm section": (33, DRUMS),
}
INSTRUMENT_SYNONYMS: dict[str, tuple[int, ...]] = {
    k: v if isinstance(v, tuple) else (v,) for k, v in _SYNONYMS.items()
}

# Real instruments General MIDI lacks, each with the nearest GM program (by family and
# sound): asking for one plays that program, with a note to the user saying so.
NEAREST_GM: dict[str, int] = {
    "lute": 24, "oud": 24, "ukulele": 24, "mandolin": 25, "bouzouki": 25, "balalaika": 105,
    "guzheng": 107, "erhu": 110, "hurdy gurdy": 110, "musical saw": 40, "theremin": 79,
    "kazoo": 85, "kazoo synth": 85, "duduk": 68, "didgeridoo": 58, "tabla": 116,
    "cajon": 128, "washboard": 128, "handpan": 114, "hang drum": 114,
}
NOT_IN_GM = tuple(NEAREST_GM)

GENRE_SYNONYMS: dict[str, str] = {
    "pop music": "pop", "synthpop": "pop", "synth pop": "pop", "k pop": "pop", "j pop": "pop",
    "indie pop": "pop", "dance pop": "pop", "metal": "rock", "heavy metal": "rock",
    "punk": "rock", "grunge": "rock", "indie": "rock", "hard rock": "rock", "prog": "rock",
    "rock n roll": "rock", "baroque": "classical", "orchestral": "classical",
    "orchestra": "classical", "symphonic": "classical", "symphony": "classical",
    "chamber music": "classical", "sonata": "classical", "concerto": "classical",
    "nocturne": "classical", "romantic era": "classical", "celtic": "folk", "irish": "folk",
    "shanty": "folk", "jazzy": "jazz", "swing": "jazz", "bebop": "jazz", "big band": "jazz",
    "smooth jazz": "jazz", "bluesy": "blues", "funky": "funk", "disco": "funk",
    "salsa": "latin", "bossa nova": "latin", "samba": "latin", "tango": "latin",
    "reggaeton": "latin", "flamenco": "latin", "mambo": "latin", "cumbia": "latin",
    "hip hop": "hiphop", "rap": "hiphop", "trap": "hiphop", "boom bap": "hiphop",
    "lofi": "hiphop", "lo fi": "hiphop", "r&b": "soul", "rnb": "soul", "gospel": "soul",
    "motown": "soul", "neo soul": "soul", "bluegrass": "country",
    "americana": "country", "edm": "electronic", "techno": "electronic",
    "house": "electronic", "trance": "electronic", "dubstep": "electronic",
    "electro": "electronic", "synthwave": "electronic", "drum and bass": "electronic",
    "dnb": "electronic", "idm": "electronic", "chiptune": "electronic",
    "electronica": "electronic", "dance": "electronic", "ska": "reggae", "dub": "reggae",
    "dancehall": "reggae", "drone": "ambient", "new age": "ambient", "world music": "world",
    "ethnic": "world", "african": "world", "film score": "soundtrack",
    "film music": "soundtrack", "movie": "soundtrack", "cinematic": "soundtrack",
    "video game": "soundtrack", "game music": "soundtrack", "trailer": "soundtrack",
}

MOOD_SYNONYMS: dict[str, str] = {
    "joyful": "happy", "cheerful": "happy", "joyous": "happy", "sunny": "happy",
    "uplifting": "happy", "feel good": "happy", "jolly": "happy", "merry": "happy",
    "festive": "happy", "gloomy": "sad", "sorrowful": "sad", "depressing": "sad",
    "heartbroken": "sad", "tearful": "sad", "mournful": "sad", "tragic": "sad",
    "somber": "sad", "sombre": "sad", "lonely": "sad", "melancholy": "melancholic",
    "wistful": "melancholic", "nostalgic": "melancholic", "bittersweet": "melancholic",
    "pensive": "melancholic", "chill": "calm", "chilled": "calm", "chill out": "calm",
    "chillout": "calm", "relaxing": "calm", "soothing": "calm", "mellow": "calm",
    "serene": "peaceful", "tranquil": "peaceful", "meditative": "peaceful",
    "pastoral": "peaceful", "energizing": "energetic", "energising": "energetic",
    "powerful": "energetic", "driving": "energetic", "intense": "energetic",
    "lively": "energetic", "exciting": "energetic", "high energy": "energetic",
    "aggressive": "energetic", "spooky": "dark", "sinister": "dark", "ominous": "dark",
    "creepy": "dark", "eerie": "dark", "scary": "dark", "haunting": "dark",
    "menacing": "dark", "mysterious": "dark", "horror": "dark", "brooding": "dark",
    "love song": "romantic", "tender": "romantic", "sensual": "romantic",
    "passionate": "romantic", "heroic": "epic", "majestic": "epic", "triumphant": "epic",
    "grandiose": "epic", "anthemic": "epic", "whimsical": "playful", "quirky": "playful",
    "fun": "playful", "funny": "playful", "silly": "playful", "cheeky": "playful",
    "bouncy": "playful", "lighthearted": "playful", "light hearted": "playful",
}

# Casual tempo words -> bpm. Italian terms outrank these, explicit bpm outranks both.
CASUAL_TEMPI: dict[str, float] = {
    "very slow": 50, "really slow": 50, "super slow": 50, "extremely slow": 50,
    "slow": 65, "slowly": 65, "slow paced": 65, "unhurried": 65, "leisurely": 70,
    "relaxed": 80, "laid back": 80, "easygoing": 80, "easy going": 80,
    "moderate": 100, "moderately": 100, "medium tempo": 100, "mid tempo": 100,
    "midtempo": 100, "not too fast": 100, "not too slow": 100,
    "upbeat": 130, "up tempo": 130, "uptempo": 130, "brisk": 125, "fast": 150,
    "quick": 150, "fast paced": 150, "rapid": 150, "speedy": 150, "very fast": 180,
    "really fast": 180, "super fast": 180, "extremely fast": 180, "frantic": 180,
    "blazing": 190,
}
ITALIAN_TEMPI: dict[str, float] = {
    "lento": 55, "larghetto": 65, "andantino": 85, "allegretto": 112, "vivo": 150,
}

TIME_WORDS: dict[str, str] = {
    "waltz": "3/4", "waltzing": "3/4", "common time": "4/4", "cut time": "2/2",
    "triple meter": "3/4", "triple time": "3/4", "alla breve": "2/2",
    # Dance forms, each the meter of (nearly) every Nottingham tune of that type, counted with
    # `tunesmith data forms --corpus nottingham:../shared/data/nottingham`: jigs 336 of 337
    # in 6/8, slip jigs 11/11 in 9/8, waltzes 52/52 in 3/4, hornpipes 64/64 and reels 425/460
    # in 4/4. (Morris and country dances are split between meters: no word for them.)
    "jig": "6/8", "jigs": "6/8", "slip jig": "9/8", "hornpipe": "4/4", "reel": "4/4", "reels": "4/4",
}

# A bare "guitar" in a genre whose band parts mostly use another guitar: the commonest guitar
# of that genre's parts in the band corpora (configs/roles.json, `tunesmith data roles`; rock:
# overdriven 1,063 parts, distortion 938, steel 907, clean electric 840, nylon fewer). Other
# genres have too few parts there to say; "guitar" stays GM's first guitar.
PLAIN_GUITAR = 24  # what "guitar" alone names (above)
GENRE_GUITAR = {"rock": 29}
