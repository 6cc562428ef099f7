"""Free text -> explicit targets (`attributes.Attributes`): the inverse of `caption`.

Rule-based like the attribute extraction MIDI-LLM / text2midi evaluations use on
MidiCaps captions: regexes for keys, tempi, meters and lengths, then a greedy
longest-phrase match over word tables (`lexicon`) for instruments, genres, moods and
tempo words. Every regex uses bounded quantifiers, so parsing is linear in the text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunesmith import attributes as A
from tunesmith.captions import lexicon as L
from tunesmith.errors import InputError, PromptError

MAX_PHRASE = 4  # longest table phrase, in words
NEGATORS = frozenset({"no", "without", "minus", "except", "excluding", "not"})
NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

_ACC = r"(?P<acc>[#♯♭]|b(?![a-ln-z])|[ \-]{0,2}(?:sharp|flat)\b)?"
_NOTE = r"\b(?P<letter>[A-Ga-g])" + _ACC
_KEY_IN_CONTEXT = re.compile(
    r"(?P<ctx>\b(?:in(?:\s{1,3}the\s{1,3}key\s{1,3}of)?|key(?:\s{1,3}(?:of|is)|\s{0,2}[:=])?"
    r"|tonality\s{1,3}of))\s{1,3}" + _NOTE
    + r"[ \-]{0,2}(?P<mode>major|minor|maj|min|m)?(?![\w#♯♭])",
    re.IGNORECASE,
)
_KEY_FREE = re.compile(_NOTE + r"[ \-]{0,2}(?P<mode>major|minor)\b", re.IGNORECASE)
_KEY_STRICT = re.compile(r"\s{0,3}" + _NOTE + r"[ \-]{0,2}(?P<mode>major|minor|maj|min|m)?\s{0,3}",
                         re.IGNORECASE)

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
          "fourteen fifteen sixteen seventeen eighteen nineteen twenty")
_NUM_WORDS = {w: i for i, w in enumerate(_UNITS.split())}
_NUM_WORDS |= {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "thirty two": 32,
               "sixty four": 64, "a hundred": 100, "hundred": 100, "a dozen": 12, "a": 1,
               "an": 1, "a couple of": 2, "couple of": 2}
_NUM = (r"(?<![\w.])(?P<{0}>\d{{1,4}}(?:\.\d{{1,2}})?|"
        + "|".join(sorted((re.escape(w) for w in _NUM_WORDS), key=len, reverse=True)) + r")\b")
_BPM = re.compile(
    r"(?<![\w.])(?P<n>\d{1,4}(?:\.\d{1,2})?)\s{0,3}(?:bpm|b\.p\.m\.?|qpm|beats?\s{1,3}(?:per|a|each)\s{1,3}minute"
    r"|beats?\s{0,2}/\s{0,2}min)\b"
    r"|\btempo(?:\s{0,3}[:=]|\s{1,3}(?:of|at|is|around|about)){0,2}\s{0,3}(?P<t>\d{1,4}(?:\.\d{1,2})?)\b"
)
_MIN_SEC = re.compile(_NUM.format("m") + r"\s{0,3}(?:minutes?|mins?)\s{1,3}(?:and\s{1,3})?"
                      + _NUM.format("s") + r"\s{0,3}(?:seconds?|secs?)\b")
_HALF_MIN = re.compile(r"\bhalf\s{1,3}an?\s{1,3}minute\b")
_AND_HALF = re.compile(_NUM.format("n") + r"(?:\s{1,3}and\s{1,3}a\s{1,3}half\s{1,3}minutes?"
                       r"|\s{1,3}minutes?\s{1,3}and\s{1,3}a\s{1,3}half)\b")
_MINUTES = re.compile(_NUM.format("n") + r"\s{0,3}(?:minutes?|mins?)\b")
_SECONDS = re.compile(_NUM.format("n") + r"\s{0,3}(?:seconds?|secs?)\b")
_BARS = re.compile(_NUM.format("n") + r"\s{0,3}(?:bars?|measures?)\b")
_METER = re.compile(r"(?<![\d/.])(?P<num>\d{1,2})\s{0,2}/\s{0,2}(?P<den>\d{1,2})(?![\d/])")
_METER_WORDS = re.compile(
    r"\b(?P<in>in\s{1,3})?(?P<num>two|three|four|five|six|seven|nine|twelve)\s{1,2}"
    r"(?P<den>two|four|eight)(?P<time>\s{1,3}(?:time|meter|metre|signature))?\b"
)
_TOKEN = re.compile(r"[a-z0-9&]+")
_WORD_OR_MARK = re.compile(r"[a-z0-9&]+|[^\sa-z0-9&]")  # marks stop phrases: "bass, drums"
_TITLE_WORD = re.compile(r"\s{1,3}[A-Z]")
_KEY_WORD = re.compile(r"\s{1,3}key\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Hit:
    kind: str  # "instrument", "unknown", "genre", "mood", "tempo", "italian", "meter"
    value: object
    phrase: str
    negated: bool


def _lexicon() -> dict[str, tuple[str, object]]:
    table: dict[str, tuple[str, object]] = {}
    table |= {p: ("genre", g) for p, g in L.GENRE_SYNONYMS.items()}
    table |= {g: ("genre", g) for g in A.GENRES} | {"soundtrack": ("genre", "soundtrack")}
    table |= {p: ("mood", m) for p, m in L.MOOD_SYNONYMS.items()}
    table |= {m: ("mood", m) for m in A.MOODS}
    table |= {p: ("tempo", t) for p, t in L.CASUAL_TEMPI.items()}
    table |= {w.lower(): ("italian", A.tempo_of_word(w)) for w in A.TEMPO_WORDS}
    table |= {p: ("italian", t) for p, t in L.ITALIAN_TEMPI.items()}
    table |= {p: ("meter", ts) for p, ts in L.TIME_WORDS.items()}
    table |= {p: ("unknown", p) for p in L.NOT_IN_GM}
    table |= {p: ("instrument", v) for p, v in L.INSTRUMENT_SYNONYMS.items()}
    for program, name in enumerate(A.GM_NAMES):
        spoken = L.SPOKEN_NAMES.get(program, name.lower().replace("-", " "))
        table[spoken] = ("instrument", (program,))
    return table


LEXICON = _lexicon()


def _normalise(text: str) -> str:
    return re.sub(r"[-_–—]", " ", text.lower())


def _blank(text: str, span: tuple[int, int]) -> str:
    """Replace a matched span by spaces so that later passes do not read it again."""
    return text[: span[0]] + " " * (span[1] - span[0]) + text[span[1]:]


def _number(word: str) -> float:
    return float(word) if word[0].isdigit() else float(_NUM_WORDS[word])


def _key_name(letter: str, acc: str | None, mode: str | None) -> str:
    shift = 0
    acc = (acc or "").strip(" -").lower()
    if acc in ("#", "♯", "sharp"):
        shift = 1
    elif acc in ("b", "♭", "flat"):
        shift = -1
    minor = mode is not None and mode.lower() in ("minor", "min", "m")
    pc = A.PITCH_CLASSES[(NATURALS[letter.upper()] + shift) % 12]
    return f"{pc} {'minor' if minor else 'major'}"


def _find_key(text: str) -> tuple[str | None, str]:
    """The first key named in `text`, and the text with it blanked out."""
    hits = []
    for m in _KEY_IN_CONTEXT.finditer(text):
        letter, mode = m["letter"], m["mode"]
        if mode is not None and mode.lower() == "m" and (letter.islower() or mode != "m"):
            continue  # "in am" / "in AM" are words, not A minor
        if mode is None and "key" not in m["ctx"].lower() and (
            letter.islower() or _TITLE_WORD.match(text, m.end())
        ):
            continue  # "in a hurry", "In A World": a bare letter needs a capital or "key of"
        if letter == "a" and not m["acc"] and _KEY_WORD.match(text, m.end()):
            continue  # "in a minor key": some minor key, which Attributes cannot express
        hits.append((m.start("letter"), m.end(), _key_name(letter, m["acc"], mode)))
    for m in _KEY_FREE.finditer(text):
        if m["letter"] == "a" and not m["acc"]:
            continue  # "a minor change": the article, not the key
        hits.append((m.start(), m.end(), _key_name(m["letter"], m["acc"], m["mode"])))
    if not hits:
        return None, text
    start, end, key = min(hits)
    return key, _blank(text, (start, end))


def _find_tempo(text: str) -> tuple[float | None, str]:
    m = _BPM.search(text)
    if m is None:
        return None, text
    value = float(m["n"] if m["n"] is not None else m["t"])
    return value, _blank(text, m.span())


def _find_seconds(text: str) -> tuple[float | None, str]:
    passes = (
        (_MIN_SEC, lambda m: 60 * _number(m["m"]) + _number(m["s"])),
        (_AND_HALF, lambda m: 60 * _number(m["n"]) + 30),
        (_HALF_MIN, lambda m: 30.0),
        (_MINUTES, lambda m: 60 * _number(m["n"])),
        (_SECONDS, lambda m: _number(m["n"])),
    )
    for pattern, value in passes:
        m = pattern.search(text)
        if m is not None:
            return float(value(m)), _blank(text, m.span())
    return None, text


def _find_bars(text: str) -> tuple[int | None, str]:
    m = _BARS.search(text)
    if m is None or m["n"] in ("a", "an"):
        return None, text
    return int(_number(m["n"])), _blank(text, m.span())


def _find_meter(text: str) -> tuple[str | None, str]:
    for m in _METER.finditer(text):
        num, den = int(m["num"]), int(m["den"])
        if 2 <= num <= 15 and den in (2, 4, 8, 16):
            return _check_meter(f"{num}/{den}"), _blank(text, m.span())
    for m in _METER_WORDS.finditer(text):
        if m["in"] or m["time"]:
            ts = f"{_NUM_WORDS[m['num']]}/{_NUM_WORDS[m['den']]}"
            return _check_meter(ts), _blank(text, m.span())
    return None, text


def _check_meter(ts: str) -> str:
    if ts not in A.TIME_SIGNATURES:
        raise PromptError(
            f"time signature {ts!r} is not supported: allowed {', '.join(A.TIME_SIGNATURES)}"
        )
    return ts


def _lookup(words: Sequence[str]) -> tuple[str, object] | None:
    phrase = " ".join(words)
    # Plurals on the last word: "guitars", "oboes", "basses".
    for candidate, ok in ((phrase, True), (phrase[:-1], phrase.endswith("s")),
                          (phrase[:-2], phrase.endswith("es"))):
        if ok and candidate in LEXICON:
            return LEXICON[candidate]
    return None


def _hits(text: str) -> Iterator[_Hit]:
    """Greedy longest-phrase matches of the word tables, with their negation."""
    words = _WORD_OR_MARK.findall(text)
    i, last_hit = 0, -1
    while i < len(words):
        for n in range(min(MAX_PHRASE, len(words) - i), 0, -1):
            found = _lookup(words[i:i + n])
            if found is not None:
                # A negator counts if it stands in the two words before, after the last hit.
                negated = any(w in NEGATORS for w in words[max(i - 2, last_hit + 1):i])
                yield _Hit(found[0], found[1], " ".join(words[i:i + n]), negated)
                i, last_hit = i + n, i + n - 1
                break
        else:
            i += 1


def _from_hits(hits: Sequence[_Hit]) -> dict[str, object]:
    out: dict[str, object] = {}
    programs: list[int] = []
    excluded: set[int] = set()
    for hit in hits:
        if hit.negated:
            if hit.kind == "instrument":  # "a lofi beat, no drums": drums are out
                excluded.update(hit.value)  # type: ignore[arg-type]
            continue
        if hit.kind == "unknown":  # not in GM: its nearest GM program (gm_notes says so)
            hit = _Hit("instrument", (L.NEAREST_GM[hit.phrase],), hit.phrase, hit.negated)
        if hit.kind == "instrument":
            programs += [p for p in hit.value if p not in programs]  # type: ignore[attr-defined]
        elif hit.kind in ("genre", "mood", "tempo", "italian", "meter"):
            out.setdefault(hit.kind, hit.value)
    programs = [p for p in programs if p not in excluded]
    genre_guitar = L.GENRE_GUITAR.get(str(out.get("genre")))
    bare = any(h.kind == "instrument" and h.phrase in ("guitar", "guitars") and not h.negated for h in hits)
    if genre_guitar is not None and bare and L.PLAIN_GUITAR in programs and genre_guitar not in programs:
        programs[programs.index(L.PLAIN_GUITAR)] = genre_guitar  # a rock song's "guitar"
    if programs:
        out["instruments"] = tuple(programs)
    return out


# words that give an instrument the tune; the dance tunes of the folk corpora are melodies too
LEAD_WORDS = r"(?:melody|melodies|lead|solo|tune|theme|jig|reel|hornpipe|polka)"
_ARTICLE = r"(?:(?:a|an|the|its)\s+)?"


def _find_lead(text: str, hits: Sequence[_Hit], programs: Sequence[int]) -> int | None:
    """The asked instrument the text gives the tune to: "a trumpet melody", "sax solo",
    "melody on the flute", "violin playing the theme", "lead guitar"; None if none."""
    for hit in hits:
        if hit.kind != "instrument" or hit.negated or hit.value[0] not in programs:  # type: ignore[index]
            continue
        name = re.escape(hit.phrase) + r"(?:e?s)?"
        patterns = (rf"\b{name}\s+{LEAD_WORDS}\b",
                    rf"\b{LEAD_WORDS}\s+(?:on|for|by|from|played\s+(?:on|by))\s+{_ARTICLE}{name}\b",
                    rf"\b{name}\s+(?:plays|playing|carries|carrying|takes|taking|with)\s+{_ARTICLE}{LEAD_WORDS}\b")
        named = "lead" in hit.phrase.split() and "bass" not in hit.phrase  # "lead guitar", not "bass and lead"
        if named or any(re.search(p, text) for p in patterns):
            return int(hit.value[0])  # type: ignore[index]
    return None


_CHORD_CUE = re.compile(
    r"\b(?:chord progression|progression|chords|changes)\b\s*(?:of|:|like|is|are|through)?\s*", re.IGNORECASE)
_CHORD_GLUE = {"and", "then", "to", "-", "|", "->", "then,"}


def find_chords(text: str) -> tuple[str, ...] | None:
    """The chord progression a text names after a cue ("chords Am F C G", "a chord
    progression of B, C#m, and E"): at least two chords in a row, spelled as the chord
    templates spell them; None if it names none."""
    from tunesmith.theory import chord_name

    for cue in _CHORD_CUE.finditer(text):
        tail = re.split(r"[.;()]| in | at | with | for ", text[cue.end():])[0]
        chords: list[str] = []
        for word in re.split(r"[\s,]+", tail):
            if not word or word.lower() in _CHORD_GLUE:
                continue
            try:
                chords.append(chord_name(word))
            except InputError:
                break
        if len(chords) >= 2:
            return tuple(chords)
    return None


def parse_chords(value: str | Sequence[str]) -> tuple[str, ...]:
    """Strict chord list for flags and fields: "Am F C G" or ["Am", "F"]; each must parse."""
    from tunesmith.theory import chord_name

    words = re.split(r"[\s,|]+", value) if isinstance(value, str) else [str(v) for v in value]
    chords = tuple(chord_name(w) for w in words if w.strip())
    if not chords or len(chords) > MAX_CHORDS:
        raise PromptError(f"chords {value!r}: give 1..{MAX_CHORDS} chords, e.g. 'Am F C G'")
    return chords


MAX_CHORDS = 16


def parse(text: str) -> A.Attributes:
    """Explicit targets named in free text; what the text does not mention stays None.

    Raises PromptError for impossible requests (tempo 400 bpm, 400 bars, a 5/8 meter, an
    instrument General MIDI lacks, more than MAX_INSTRUMENTS instruments).
    """
    if not text or not text.strip():
        return A.Attributes()
    chords = find_chords(text)
    key, rest = _find_key(text)
    low = _normalise(rest)
    tempo, low = _find_tempo(low)
    seconds, low = _find_seconds(low)
    bars, low = _find_bars(low)
    meter, low = _find_meter(low)
    hits = list(_hits(low))
    words = _from_hits(hits)
    lead = _find_lead(low, hits, words.get("instruments") or ())  # type: ignore[arg-type]
    if tempo is None:
        word_tempo = words.get("italian", words.get("tempo"))
        tempo = float(word_tempo) if word_tempo is not None else None  # type: ignore[arg-type]
    return A.Attributes(
        key=key,
        tempo=tempo,
        time_signature=meter or words.get("meter"),  # type: ignore[arg-type]
        instruments=words.get("instruments"),  # type: ignore[arg-type]
        genre=words.get("genre"),  # type: ignore[arg-type]
        mood=words.get("mood"),  # type: ignore[arg-type]
        bars=bars,
        seconds=seconds,
        chords=chords,
        roles=((lead, "lead"),) if lead is not None else None,
    )


def parse_instruments(names: Sequence[str]) -> tuple[int, ...]:
    """Strict instrument list for CLI flags: each comma-separated name must be a GM name,
    a known synonym, "drums" or a program number 0..128."""
    programs: list[int] = []
    for item in names:
        for raw in item.split(","):
            name = " ".join(_TOKEN.findall(_normalise(raw)))
            if not name:
                continue
            found: tuple[str, object] | None
            if name.isdigit():  # a program number (a 5,000-digit one is just unknown)
                found = ("instrument", (int(name),)) if len(name) <= 3 else None
            elif name in L.NEAREST_GM:
                found = ("instrument", (L.NEAREST_GM[name],))
            else:
                found = _lookup(name.split())
            if found is None or found[0] != "instrument":
                close = difflib.get_close_matches(name, [k for k, v in LEXICON.items()
                                                         if v[0] == "instrument"], n=3)
                hint = f"did you mean {', '.join(close)}?" if close else "e.g. piano, bass, drums"
                shown = raw.strip() if len(raw.strip()) <= 40 else raw.strip()[:37] + "..."
                raise PromptError(
                    f"instrument {shown!r} is unknown: use a General MIDI name or 'drums' "
                    f"({hint})"
                )
            programs += [p for p in found[1] if p not in programs]  # type: ignore[attr-defined]
    return A.Attributes(instruments=tuple(programs) or None).instruments or ()


def gm_notes(text: str) -> list[str]:
    """A note for each instrument named in `text` that General MIDI lacks, saying which GM
    instrument plays it instead ("lute" -> Acoustic Guitar, the nylon-string one)."""
    words = " ".join(_WORD_OR_MARK.findall(_normalise(text)))
    notes = []
    for phrase, program in L.NEAREST_GM.items():
        if re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", words) and not any(
                longer != phrase and phrase in longer and longer in words for longer in L.NEAREST_GM):
            name = A.INSTRUMENT_NAMES[program]
            notes.append(f"{phrase!r} is not in General MIDI: playing it on {name} instead")
    return notes


def parse_key(s: str) -> str:
    """Strict key for CLI flags: 'C major', 'F# minor', 'Bbm', 'e flat minor', 'D'."""
    m = _KEY_STRICT.fullmatch(s.replace("♯", "#").replace("♭", "b"))
    if m is None or (m["mode"] == "M"):
        raise PromptError(
            f"key {s!r} is unknown: allowed a note A-G with optional #/b and major/minor, "
            "e.g. 'C major', 'F# minor', 'Bbm'"
        )
    return _key_name(m["letter"], m["acc"], m["mode"])


def parse_time_signature(s: str) -> str:
    """Strict time signature for CLI flags: '3/4', 'six eight', 'waltz', 'common time'."""
    text = " ".join(_normalise(s).split())
    ts: str | None = L.TIME_WORDS.get(text)
    if ts is None and (m := _METER.fullmatch(text)) is not None:
        ts = _check_meter(f"{int(m['num'])}/{int(m['den'])}")
    if ts is None and (m := _METER_WORDS.fullmatch(f"in {text}")) is not None:
        ts = _check_meter(f"{_NUM_WORDS[m['num']]}/{_NUM_WORDS[m['den']]}")
    if ts is None:
        raise PromptError(
            f"time signature {s!r} is not supported: allowed {', '.join(A.TIME_SIGNATURES)}"
        )
    return ts


# The attribute fields every front-end may set (CLI flags, batch JSONL rows, the HTTP body,
# evaluation rows), named as in Attributes.
ATTRIBUTE_FIELDS = ("key", "tempo", "time_signature", "instruments", "genre", "mood", "bars",
                    "seconds", "chords", "lead")


def parse_fields(fields: Mapping[str, Any]) -> A.Attributes:
    """Explicit attributes from a front-end's fields: the one reader behind the CLI flags, a
    batch JSONL row, the HTTP body and an evaluation row, so that a value is accepted or
    refused alike on every path, with the same message. Names outside ATTRIBUTE_FIELDS are
    not read; None leaves a field unset. `instruments` is a comma-separated string or a list
    of names and program numbers. Raises PromptError naming the first bad value, or bars and
    seconds given together."""
    v = {k: fields.get(k) for k in ATTRIBUTE_FIELDS}
    attrs = A.Attributes(
        key=parse_key(_text("key", v["key"])) if v["key"] is not None else None,
        tempo=_field_number("tempo", v["tempo"]),
        time_signature=(parse_time_signature(_text("time signature", v["time_signature"]))
                        if v["time_signature"] is not None else None),
        instruments=_instruments(v["instruments"]),
        genre=_text("genre", v["genre"]).strip().lower() if v["genre"] is not None else None,
        mood=_text("mood", v["mood"]).strip().lower() if v["mood"] is not None else None,
        bars=_whole("bars", v["bars"]),
        seconds=_field_number("seconds", v["seconds"]),
        chords=_chords(v["chords"]),
        roles=_lead(v["lead"]),
    )
    A.check_one_length(attrs)
    return attrs


def _lead(value: object) -> tuple[tuple[int, str], ...] | None:
    """The instrument that carries the tune, as a role: one name (or program number)."""
    if value is None:
        return None
    programs = _instruments(value) or ()
    if len(programs) != 1 or programs[0] == A.DRUMS:
        raise PromptError(f"lead {value!r}: name one pitched instrument, e.g. 'trumpet'")
    return ((programs[0], "lead"),)


def _chords(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, str | list | tuple):
        raise PromptError(f"chords {value!r} is not text or a list of chords")
    try:
        return parse_chords(value)
    except InputError as err:
        raise PromptError(str(err)) from None


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise PromptError(f"{name} {value!r} is not text")
    return value


def _field_number(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PromptError(f"{name} {value!r} is not a number")
    return float(value)


def _whole(name: str, value: object) -> int | None:
    number = _field_number(name, value)
    if number is not None and not number.is_integer():
        raise PromptError(f"{name} {value!r} is not a whole number")
    return None if number is None else int(number)


def _instruments(value: object) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_instruments([value])
    if isinstance(value, list | tuple) and all(isinstance(x, str | int) for x in value):
        return parse_instruments([str(x) for x in value]) if value else ()
    raise PromptError(f"instruments {value!r} is not a list of names")
