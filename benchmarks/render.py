"""Compare SoundFont synthesizers for `tunesmith.midi.render`: speed and a few quality checks.

Run `python benchmarks/render.py`. Every candidate renders the same built-in 5-track score
(piano, strings, bass, flute, drums; 32 bars at 110 bpm) with pretty_midi's TimGM6mb.sf2 in
this process; speed is seconds of audio per second of compute, with ratios against the first.

Measured (2 shared cores): tinysoundfont 71-76 audio s/s, drum x 13.3 (hi-hat centroid on the
kit / on a piano), raw peak 1.21 (so render() normalises), L/R corr 0.98. symusic 0.6.0: every
render raises "Unable to convert function return value" (0.5.8, in a scratch venv: 478 s/s,
drum x 4.2, but audio stops at the last note-off, no release). fluidsynth: not installed.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from symusic import Note, Score, Tempo, TimeSignature, Track

from tunesmith.midi.render import default_soundfont, render

SR = 44100
CHORDS = ([60, 64, 67], [57, 60, 64], [53, 57, 60], [55, 59, 62])


def band_score(bars: int = 32, tpq: int = 480, seed: int = 0) -> Score:
    """Piano chords, sustained strings, walking bass, a flute line and a rock beat."""
    rng = np.random.default_rng(seed)
    s = Score(tpq)
    s.tempos.append(Tempo(0, 110.0))
    s.time_signatures.append(TimeSignature(0, 4, 4))
    piano, strings, bass = Track(program=0), Track(program=48), Track(program=33)
    flute, drums = Track(program=73), Track(program=0, is_drum=True)
    bar = 4 * tpq
    for b in range(bars):
        chord = CHORDS[b % 4]
        for p in chord:
            piano.notes.append(Note(b * bar, bar, p, int(rng.integers(60, 90))))
        strings.notes.append(Note(b * bar, bar, chord[0] - 12, 70))
        for k in range(4):
            bass.notes.append(Note(b * bar + k * tpq, tpq // 2, chord[0] - 24, 100))
            drums.notes.append(Note(b * bar + k * tpq, tpq // 4, 36 if k % 2 == 0 else 38, 110))
        for e in range(8):
            at = b * bar + e * tpq // 2
            drums.notes.append(Note(at, tpq // 4, 42, int(rng.integers(50, 100))))
            pitch = int(chord[e % 3] + 12 + rng.integers(-2, 3))
            flute.notes.append(Note(at, tpq // 2, pitch, int(rng.integers(60, 120))))
    for t in (piano, strings, bass, flute, drums):
        s.tracks.append(t)
    return s


def one_note(program: int, is_drum: bool, pitch: int) -> Score:
    s = Score(480)
    s.tempos.append(Tempo(0, 120.0))
    t = Track(program=program, is_drum=is_drum)
    for i in range(4):
        t.notes.append(Note(i * 480, 240, pitch, 100))
    s.tracks.append(t)
    return s


def fluidsynth_render(score: Score, sf2: Path | None, sample_rate: int, **_: object) -> np.ndarray:
    import pretty_midi  # needs pyfluidsynth and libfluidsynth

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.mid"
        score.dump_midi(path)
        pm = pretty_midi.PrettyMIDI(str(path))
    mono = pm.fluidsynth(fs=sample_rate, synthesizer=str(sf2 or default_soundfont()))
    return np.stack([mono, mono], axis=1).astype(np.float32)


CANDIDATES: dict[str, Callable[..., np.ndarray]] = {
    "tinysoundfont": lambda s, **k: render(s, synth="tinysoundfont", **k),
    "symusic": lambda s, **k: render(s, synth="symusic", **k),
    "fluidsynth": fluidsynth_render,
}


def centroid(audio: np.ndarray) -> float:
    mag = np.abs(np.fft.rfft(audio.mean(axis=1)))
    return float((mag * np.fft.rfftfreq(len(audio), 1 / SR)).sum() / max(mag.sum(), 1e-12))


def measure(fn: Callable[..., np.ndarray], score: Score) -> dict[str, float]:
    fn(one_note(0, False, 60), sf2=None, sample_rate=SR)  # warm-up: loads the SoundFont once
    t0 = time.perf_counter()
    audio = fn(score, sf2=None, sample_rate=SR, normalise=False)
    spent = time.perf_counter() - t0
    hat = fn(one_note(0, True, 42), sf2=None, sample_rate=SR)
    hat_on_piano = fn(one_note(0, False, 42), sf2=None, sample_rate=SR)
    piano, violin = (fn(one_note(p, False, 67), sf2=None, sample_rate=SR) for p in (0, 40))
    n = min(len(piano), len(violin))
    return {
        "audio_s": len(audio) / SR,
        "speed": len(audio) / SR / spent,
        "drum_ratio": centroid(hat) / centroid(hat_on_piano),  # >> 1: the kit is used
        "prog_diff": float(np.abs(piano[:n] - violin[:n]).mean()),  # > 0: programs differ
        "raw_peak": float(np.abs(audio).max()),
        "lr_corr": float(np.corrcoef(audio[:, 0], audio[:, 1])[0, 1]),
    }


def main() -> None:
    score = band_score()
    rows: list[tuple[str, dict[str, float] | str]] = []
    for name, fn in CANDIDATES.items():
        try:
            rows.append((name, measure(fn, score)))
        except Exception as e:  # a benchmark reports a broken candidate instead of stopping
            rows.append((name, f"unavailable: {type(e).__name__}: {str(e).splitlines()[0][:70]}"))
    base = next((r["speed"] for _, r in rows if isinstance(r, dict)), None)
    print(f"{'synth':<14}{'audio s':>8}{'audio s/s':>11}{'ratio':>7}{'drum x':>8}"
          f"{'prog diff':>10}{'raw peak':>9}{'L/R corr':>9}")
    for name, r in rows:
        if isinstance(r, str):
            print(f"{name:<14}{r}")
            continue
        print(f"{name:<14}{r['audio_s']:>8.1f}{r['speed']:>11.1f}{r['speed'] / base:>7.2f}"
              f"{r['drum_ratio']:>8.1f}{r['prog_diff']:>10.4f}{r['raw_peak']:>9.3f}"
              f"{r['lr_corr']:>9.3f}")


if __name__ == "__main__":
    main()
