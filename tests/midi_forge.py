"""Hand-forged MIDI bytes for hardening tests and benchmarks/hardening.py: small valid songs,
hostile files (each built from the Standard MIDI File spec with struct, nothing copied from
elsewhere), and byte-level mutations of the valid songs for fuzzing."""

from __future__ import annotations

import random
import struct


def vlq(n: int) -> bytes:
    """A MIDI variable-length quantity (7 bits a byte, high bit = more)."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack(">I", len(body)) + body


def header(fmt: int = 1, ntrks: int = 1, division: int = 480, length: int = 6) -> bytes:
    return b"MThd" + struct.pack(">IHHH", length, fmt, ntrks, division)


def track(*events: bytes) -> bytes:
    """An MTrk chunk of (delta + event) byte strings, closed by End of Track."""
    return chunk(b"MTrk", b"".join(events) + b"\x00\xff\x2f\x00")


def note(pitch: int = 60, dur: int = 480, delta: int = 0, ch: int = 0, vel: int = 80) -> bytes:
    return vlq(delta) + bytes([0x90 | ch, pitch, vel]) + vlq(dur) + bytes([0x80 | ch, pitch, 0])


def tempo(bpm: float, delta: int = 0) -> bytes:
    return vlq(delta) + b"\xff\x51\x03" + struct.pack(">I", round(60_000_000 / bpm))[1:]


def meter(num: int, den_power: int, delta: int = 0) -> bytes:
    return vlq(delta) + b"\xff\x58\x04" + bytes([num & 0xFF, den_power & 0xFF, 24, 8])


def program(prog: int, ch: int = 0) -> bytes:
    return b"\x00" + bytes([0xC0 | ch, prog])


def midi(*tracks: bytes, division: int = 480, fmt: int = 1, ntrks: int | None = None) -> bytes:
    return header(fmt, len(tracks) if ntrks is None else ntrks, division) + b"".join(tracks)


def song(bars: int = 4, tpq: int = 480, seed: int = 0) -> bytes:
    """A small valid band: tempo and meter track, piano melody, bass, drums."""
    rng = random.Random(seed)
    conductor = track(tempo(96 + 8 * seed), meter(4, 2))
    melody = track(program(0), *[note(rng.choice((60, 62, 64, 67, 69, 72)), tpq // 2)
                                 for _ in range(bars * 8)])
    bass = track(program(33, ch=1), *[note(rng.choice((36, 43)), tpq, ch=1) for _ in range(bars * 4)])
    drums = track(*[note(36 if i % 2 == 0 else 38, tpq // 4, delta=0 if i == 0 else tpq - tpq // 4,
                         ch=9, vel=100) for i in range(bars * 4)])
    return midi(conductor, melody, bass, drums, division=tpq)


# name -> (bytes, a phrase the one-line error must contain)
def hostile_cases() -> dict[str, tuple[bytes, str]]:
    one = note()
    return {
        "tpq 0": (midi(track(one), division=0), "0 ticks per quarter"),
        "smpte division": (midi(track(one), division=0xE728), "SMPTE"),
        "empty file": (b"", "empty"),
        "not midi": (b"RIFF\x00\x00\x00\x00WAVEfmt ", "not a MIDI file"),
        "truncated header": (b"MThd\x00\x00", "truncated"),
        "header 300 tracks": (midi(track(one), ntrks=300), "300 tracks"),
        "format 7": (midi(track(one), fmt=7), "format 7"),
        "huge delta": (midi(track(note(dur=0x0FFFFFFF))), "beats"),
        "overflowed times": (midi(track(*[note(delta=0x0FFFFFFF, dur=1) for _ in range(12)])),
                             "overflow"),
        "meter 224/128": (midi(track(meter(224, 7), one)), "224/128"),
        "meter 0/1": (midi(track(meter(0, 0), one)), "0/1"),
        "meter 4/2^255": (midi(track(meter(4, 255), one)), "time signature"),
        "slow and long": (midi(track(tempo(10), note(dur=480 * 700))), "lasts"),
        "too many bars": (midi(track(meter(1, 5), note(dur=480 * 2600)), division=480), "bars"),
        "bar under a tick": (midi(track(meter(1, 5), note(dur=1)), division=1), "shorter than a tick"),
        "tempo 5 bpm": (midi(track(tempo(5), one)), "tempo 5"),
        "no notes": (midi(track(tempo(120))), "no notes"),
        "300 tracks": (midi(*[track(one) for _ in range(300)]), "tracks"),
        "truncated track": (midi(track(one))[:-9], "corrupt"),
    }


def many_notes(n: int) -> bytes:
    """One track of n short notes (n above the loader's limit is refused)."""
    return midi(track(*[note(60 + i % 24, 10, delta=0) for i in range(n)]))


def split_chunks(data: bytes) -> tuple[bytes, list[bytes]]:
    """(MThd chunk, [MTrk bodies]) of a well-formed file."""
    head, rest, bodies = data[:14], data[14:], []
    while len(rest) >= 8:
        (n,) = struct.unpack(">I", rest[4:8])
        bodies.append(rest[8:8 + n])
        rest = rest[8 + n:]
    return head, bodies


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three random edits of a well-formed file. Mostly inside one track's events with
    the chunk lengths kept right (flipped or random 7-bit data, the largest delta time, a
    random meter or tempo, a deleted or doubled slice), so most files still parse and reach
    the later stages; sometimes the header (track count, division) or raw bytes/truncation."""
    head, bodies = split_chunks(data)
    raw = False
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(len(bodies))
        b = bytearray(bodies[k])
        i = rng.randrange(len(b))
        op = rng.randrange(10)
        if op == 0:
            b[i] ^= 1 << rng.randrange(7)
        elif op == 1:
            b[i] = rng.randrange(128)
        elif op == 2:
            b[i:i] = b"\x8f\xff\xff\x7f"  # the largest delta time
        elif op == 3:
            b[0:0] = meter(rng.randrange(256), rng.randrange(9))
        elif op == 4:
            b[0:0] = tempo(rng.choice((1, 5, 9, 11, 300, 999, 2000, 60_000_000)))
        elif op == 5:
            del b[i:i + rng.randint(1, 6)]
        elif op == 6:
            b[i:i] = b[i:i + rng.randint(1, 32)] * rng.randint(2, 50)
        elif op == 7:
            field = rng.choice((10, 12))
            value = rng.choice((0, 1, 3, 0x7FFF, 0x8000, rng.randrange(65536)))
            head = head[:field] + struct.pack(">H", value) + head[field + 2:]
        else:
            raw = True
        bodies[k] = bytes(b)
    out = head + b"".join(chunk(b"MTrk", body) for body in bodies)
    if raw:  # an edit the chunk lengths do not follow: a random byte or a truncation
        j = rng.randrange(len(out))
        out = out[:j] + bytes([rng.randrange(256)]) + out[j + 1:] if rng.random() < 0.5 else out[:j]
    return out


def fuzz_corpus(n: int, seed: int = 0) -> list[bytes]:
    """n mutated copies of a few small songs (deterministic for a seed)."""
    rng = random.Random(seed)
    songs = [song(bars=2 + i, tpq=(96, 480, 960)[i % 3], seed=i) for i in range(4)]
    return [mutate(songs[i % len(songs)], rng) for i in range(n)]


def sweep(files: list[bytes], sample_rate: int = 8000, width_px: int = 800) -> dict[str, object]:
    """Every file through what `inspect`, `render` and `pianoroll` do, in-process: load, then
    features, audio and picture. Counts files that worked, that got a one-line TunesmithError,
    and tracebacks (any other exception), with the slowest file's time."""
    import time
    import traceback

    from tunesmith.captions import features
    from tunesmith.errors import TunesmithError
    from tunesmith.midi.io import load_score
    from tunesmith.midi.pianoroll import draw_pianoroll
    from tunesmith.midi.render import render

    counts: dict[str, object] = {"files": len(files), "ok": 0, "clean_errors": 0,
                                 "tracebacks": [], "multi_line": 0, "slowest_s": 0.0}
    for i, data in enumerate(files):
        start = time.perf_counter()
        try:
            score = load_score(data, name=f"fuzz-{i}.mid")
            features(score).to_dict()
            render(score, sample_rate=sample_rate)
            draw_pianoroll(score, width_px=width_px)
            counts["ok"] = int(counts["ok"]) + 1  # type: ignore[call-overload]
        except TunesmithError as e:
            counts["clean_errors"] = int(counts["clean_errors"]) + 1  # type: ignore[call-overload]
            if "\n" in str(e):
                counts["multi_line"] = int(counts["multi_line"]) + 1  # type: ignore[call-overload]
        except Exception:
            counts["tracebacks"].append((i, traceback.format_exc(limit=3)))  # type: ignore[union-attr]
        took = time.perf_counter() - start
        counts["slowest_s"] = max(float(counts["slowest_s"]), took)  # type: ignore[arg-type]
    return counts
