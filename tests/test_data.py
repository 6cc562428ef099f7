"""Tests of the data stage: corpus readers, music21 conversion, orchestration, data build."""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from symusic import Score

from conftest import make_score
from tunesmith.data import augment
from tunesmith.data import build as B
from tunesmith.data import music21_corpus as m21
from tunesmith.data.corpora import first_valid, key_name, midicaps_labels, open_corpus
from tunesmith.errors import ConfigError
from tunesmith.tokenization import Tokenizer


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.default()


@pytest.fixture(scope="module")
def m21_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("m21cache")


def melody(n: int, low: int = 60, seed: int = 0) -> list[tuple[int, int, int, int]]:
    rng = np.random.default_rng(seed)
    return [(i * 480, 480, int(low + rng.integers(0, 12)), 80) for i in range(n)]


def write_folder(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        make_score([(0, False, melody(8 + i, seed=i))]).dump_midi(str(root / f"p{i:02d}.mid"))
    return root


def same_file(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def read_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "pieces.jsonl").read_text().splitlines()]


# --- music21 conversion ---------------------------------------------------------------------
ABC = """%comment in the file header
X:1
T:Test tune
M:3/4
L:1/4
Q:1/4=90
K:C
C D E | G2 z | c3- | c2 z |

X:2
T:Second
M:6/8
L:1/8
K:G
GAB d2 B | A3 G3 |
"""


def test_split_abc_gives_one_text_per_tune_without_header_comments() -> None:
    tunes = m21.split_abc(ABC)
    assert len(tunes) == 2
    assert tunes[0].startswith("X:1") and "T:Second" not in tunes[0]
    assert tunes[1].startswith("X:2") and "%comment" not in tunes[1]


def test_stream_to_score_keeps_notes_ties_tempo_and_meter() -> None:
    job = m21.Job("t.abc", "folk/t", "oneills1850", "d", 0, m21.split_abc(ABC)[0])
    score = m21.stream_to_score(m21.parse_job(job)[0], "oneills1850")
    notes = [(n.time, n.duration, n.pitch) for n in score.tracks[0].notes]
    # C D E | G2 | c tied over into the next bar: one note of 5 beats.
    assert notes == [(0, 480, 60), (480, 480, 62), (960, 480, 64), (1440, 960, 67),
                     (2880, 2400, 72)]
    assert score.tracks[0].program == m21.VIOLIN  # a fiddle-book tune
    assert [round(t.qpm) for t in score.tempos] == [90]
    assert [(t.numerator, t.denominator) for t in score.time_signatures] == [(3, 4)]


def test_part_program_prefers_instrument_names_then_voices() -> None:
    class Part:
        def getInstrument(self, returnDefault: bool = False) -> None:  # noqa: N802
            return None

    assert m21.part_program("Violoncello", Part(), "mozart") == 42
    assert m21.part_program("Contrabass", Part(), "mozart") == 43
    assert m21.part_program("Bass", Part(), "bach") == m21.CHOIR
    assert m21.part_program("Soprano", Part(), "schubert") == m21.CHOIR
    assert m21.part_program("", Part(), "essenFolksong") == m21.FLUTE
    assert m21.part_program("", Part(), "chopin") == m21.PIANO


def test_list_jobs_splits_abc_files_into_tunes_and_rejects_unknown_collections() -> None:
    jobs = m21.list_jobs(["airdsAirs"])
    assert len({j.path for j in jobs}) == 6 and len(jobs) > 1000
    assert all(j.index is not None and j.text for j in jobs)
    with pytest.raises(ConfigError, match="nosuch"):
        m21.list_jobs(["nosuch"])


def test_josquin_voices_written_as_tunes_become_one_work(tmp_path: Path) -> None:
    jobs = [j for j in m21.list_jobs(["josquin"]) if j.rel.endswith("milleRegrets")]
    assert len(jobs) == 1 and jobs[0].index is None
    (result,) = m21.convert_job(jobs[0], tmp_path)
    score = Score(result["midi"])
    assert len(score.tracks) == 4 and {t.program for t in score.tracks} == {m21.CHOIR}


def test_convert_job_caches_by_content_hash(tmp_path: Path) -> None:
    job = m21.list_jobs(["bach"])[0]
    first = m21.convert_job(job, tmp_path)
    midi = Path(first[0]["midi"])
    stamp = midi.stat().st_mtime_ns
    assert m21.convert_job(job, tmp_path) == first
    assert midi.stat().st_mtime_ns == stamp  # read back, not converted again
    assert Score(str(midi)).note_num() > 100


# --- readers ---------------------------------------------------------------------------------
def test_folder_reader_skips_corrupt_empty_and_silent_files(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "midis", 2)
    (root / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (root / "empty.mid").write_bytes(b"")
    (root / "sub").mkdir()
    Score(480).dump_midi(str(root / "sub" / "silent.mid"))
    (root / "notes.txt").write_text("not midi")
    reader = open_corpus(f"folder:{root}")
    pieces = list(reader)
    assert [p.id for p in pieces] == ["folder/midis/p00.mid", "folder/midis/p01.mid"]
    assert sorted(i for i, _ in reader.skipped) == [
        "folder/midis/corrupt.mid", "folder/midis/empty.mid", "folder/midis/sub/silent.mid"
    ]
    assert all(reason for _, reason in reader.skipped)


def test_bad_specs_raise_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nosuch"):
        open_corpus("nosuch:x")
    with pytest.raises(ConfigError, match="does not exist"):
        open_corpus(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(ConfigError, match="needs a path"):
        open_corpus("pop909")


def write_pop909(root: Path) -> Path:
    for song, pitch in (("001", 60), ("002", 62)):
        (root / song).mkdir(parents=True)
        tracks = [(0, False, melody(8, pitch + 12)), (0, False, melody(8, pitch, 1)),
                  (0, False, melody(16, pitch - 12, 2))]
        score = make_score(tracks, tempo=90.0, ts=(2, 4))  # POP909 files carry placeholder meters
        for track, name in zip(score.tracks, ("MELODY", "BRIDGE", "PIANO"), strict=True):
            track.name = name
        score.dump_midi(str(root / song / f"{song}.mid"))
    rows = [{"id": "001", "keys": ["Gb:maj", "Eb:min"], "bpm": 90.0},
            {"id": "002", "keys": ["C#:min"], "bpm": 62.0},
            {"id": "003", "keys": ["C:maj"], "bpm": 100.0}]  # its folder is missing
    (root / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_pop909_reader_labels_keys_in_our_spelling(tmp_path: Path) -> None:
    reader = open_corpus(f"pop909:{write_pop909(tmp_path / 'pop909')}")
    pieces = list(reader)
    assert [p.id for p in pieces] == ["pop909/001", "pop909/002"]
    assert pieces[0].labels == {"genre": "pop", "key": "F# major", "bpm": 90.0}
    assert pieces[1].labels["key"] == "C# minor"
    assert [t.name for t in pieces[0].score.tracks] == ["MELODY", "BRIDGE", "PIANO"]
    assert [i for i, _ in reader.skipped] == ["pop909/003"]
    # the files' placeholder meters give way to the songs' 4/4, so no piece claims the file
    assert all((ts.numerator, ts.denominator) == (4, 4) for p in pieces for ts in p.score.time_signatures)
    assert all(p.midi == "" for p in pieces)


def write_groove(root: Path) -> Path:
    rows = [("drummer1/s1/1_funk-groove1_138_beat_4-4.mid", "funk/groove1", "138", "train"),
            ("drummer1/s1/2_latin-samba_100_fill_4-4.mid", "latin/samba", "100", "validation")]
    for name, *_ in rows:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        beat = [(i * 240, 60, 36 if i % 2 == 0 else 42, 100) for i in range(16)]
        make_score([(0, False, beat)]).dump_midi(str(root / name))  # channel 1: not flagged
    with (root / "info.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["drummer", "session", "id", "style", "bpm", "beat_type", "time_signature",
                    "midi_filename", "audio_filename", "duration", "split"])
        for name, style, bpm, split in rows:
            w.writerow(["drummer1", "drummer1/s1", "x", style, bpm, "beat", "4-4", name, "",
                        "4.0", split])
    return root


def test_groove_reader_marks_drums_and_maps_style_and_split(tmp_path: Path) -> None:
    pieces = list(open_corpus(f"groove:{write_groove(tmp_path / 'groove')}"))
    assert [p.id for p in pieces] == ["groove/drummer1/s1/1_funk-groove1_138_beat_4-4",
                                      "groove/drummer1/s1/2_latin-samba_100_fill_4-4"]
    assert all(t.is_drum for p in pieces for t in p.score.tracks)
    assert pieces[0].labels["genre"] == "funk" and pieces[1].labels["genre"] == "latin"
    assert pieces[0].labels["time_signature"] == "4/4" and pieces[0].labels["bpm"] == 138.0
    assert [p.labels["split"] for p in pieces] == ["train", "valid"]


def test_midicaps_reader_resolves_locations_and_labels(tmp_path: Path) -> None:
    write_folder(tmp_path / "lmd" / "a", 1)
    rows = [{"location": "lmd/a/p00.mid", "caption": "A calm piano piece.",
             "genre": ["ambient", "classical"], "mood": ["melodic", "calm"], "key": "Db major",
             "tempo": 80, "time_signature": "4/4", "instrument_summary": ["Piano"],
             "chord_summary": ["C"], "test_set": True},
            {"location": "lmd/a/missing.mid", "caption": "x"}]
    jsonl = tmp_path / "captions.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    reader = open_corpus(f"midicaps:{jsonl}")
    (piece,) = list(reader)
    assert piece.id == "midicaps/lmd/a/p00"
    assert piece.labels["genre"] == "ambient" and piece.labels["mood"] == "calm"
    assert piece.labels["key"] == "C# major" and piece.labels["split"] == "test"
    assert [i for i, _ in reader.skipped] == ["midicaps/lmd/a/missing"]


def test_label_helpers() -> None:
    assert [key_name(k) for k in ("Gb:maj", "Eb:min", "a minor", "Cb major", "N", "H:maj")] == [
        "F# major", "Eb minor", "A minor", "B major", None, None
    ]
    assert first_valid(["Hip-Hop", "pop"], ("hiphop", "pop")) == "hiphop"
    assert first_valid("opera", ("pop",)) is None
    assert midicaps_labels({"genre": ["nope"], "tempo": 0}) == {}


# --- augmentation ----------------------------------------------------------------------------
def chorale() -> Score:
    parts = [(72, 60), (62, 60), (55, 60), (43, 60)]  # soprano .. bass, span of 12
    tracks = [(52, False, melody(12, low, seed=i)) for i, (low, _) in enumerate(parts)]
    tracks.append((0, True, [(i * 480, 120, 36, 100) for i in range(12)]))
    return make_score(tracks)


def test_orchestrations_fit_ranges_and_keep_notes() -> None:
    score = chorale()
    options = augment.orchestrations(score)
    names = {o.name for o in options}
    assert {"string quartet", "woodwinds", "organ"} <= names and "choir" not in names
    for orch in options:
        new = augment.apply(score, orch)
        assert new.tracks[4].is_drum and new.tracks[4].notes == score.tracks[4].notes
        for i, program in enumerate(orch.programs):
            old, cur = score.tracks[i].notes, new.tracks[i].notes
            shifts = {b.pitch - a.pitch for a, b in zip(old, cur, strict=True)}
            assert shifts <= {0, 12, -12} and len(shifts) == 1
            assert [(a.time, a.duration, a.velocity) for a in old] == [
                (b.time, b.duration, b.velocity) for b in cur]
            lo, hi = augment.RANGES[program]
            assert all(lo <= n.pitch <= hi for n in cur)
            assert new.tracks[i].program == program
            assert new.tracks[i].name == augment.INSTRUMENT_NAMES[program]
    quartet = next(o for o in options if o.name == "string quartet")
    assert quartet.programs == (40, 40, 41, 42)


def test_orchestrate_draws_distinct_reproducible_versions() -> None:
    tune = make_score([(40, False, melody(16, 62))])
    a = augment.orchestrate(tune, np.random.default_rng(3), copies=4)
    b = augment.orchestrate(tune, np.random.default_rng(3), copies=4)
    programs = [s.tracks[0].program for s in a]
    assert programs == [s.tracks[0].program for s in b]
    assert len(set(programs)) == 4 and 40 not in programs
    assert set(programs) <= set(augment.SOLOISTS)
    drums_only = make_score([(0, True, melody(4, 36))])
    assert augment.orchestrate(drums_only, np.random.default_rng(0), copies=2) == []


def test_octave_shift_and_roles() -> None:
    assert augment.octave_shift(60, 70, 40) == 0
    assert augment.octave_shift(45, 60, 40) == 12
    assert augment.octave_shift(30, 100, 40) is None
    assert augment.roles(5, 4) == [0, 1, 1, 2, 3]
    assert augment.roles(3, 2) == [0, 1, 1]
    assert augment.roles(2, 1) == [0, 0]


ROOTS = (36, 43, 41, 38, 45, 40)  # a bass line in the left hand, one root per half note


def pop_like(roots: tuple[int, ...] = ROOTS, bars: int = 4) -> Score:
    """POP909's shape: a melody and one piano track whose left hand holds a root for two
    beats while a low inner note (52, above the held root) and chords come and go above
    it; the last bar has chords only, all above BASS_MAX."""
    q = 480
    melody_notes = [(b * q, q, 67 + b % 12, 90) for b in range(4 * bars)]
    piano = []
    for b in range(4 * (bars - 1)):
        if b % 2 == 0:
            piano += [(b * q, 2 * q, roots[b // 2 % len(roots)], 70), (b * q, q, 60, 60), (b * q, q, 64, 60)]
        else:
            piano += [(b * q, q, 52, 60), (b * q, q, 60, 60), (b * q, q, 65, 60)]
    piano += [(b * q, q, p, 60) for b in range(4 * (bars - 1), 4 * bars) for p in (62, 65, 69)]
    return make_score([(0, False, melody_notes), (0, False, piano)])


def note_rows(score: Score) -> Counter:
    return Counter((n.time, n.duration, n.pitch, n.velocity) for t in score.tracks for n in t.notes)


def test_split_bass_moves_the_lowest_note_of_each_onset() -> None:
    score = pop_like()
    out = augment.split_bass(score, 33)
    assert out is not None and len(out.tracks) == 3
    bass = out.tracks[-1]
    assert (bass.program, bass.name, bass.is_drum) == (33, "Electric Bass", False)
    # the held roots, not the inner 52s played over them nor the high chords of the last bar
    expected = [(b * 480, ROOTS[b // 2 % 6]) for b in range(0, 12, 2)]
    assert [(n.time, n.pitch) for n in bass.notes] == expected
    assert note_rows(out) == note_rows(score)  # nothing duplicated, nothing lost
    assert out.note_num() == score.note_num()
    for n in bass.notes:
        others = [m.pitch for t in out.tracks[:-1] for m in t.notes if m.time == n.time]
        assert n.pitch < min(others)
    assert [t.notes for t in score.tracks] != [t.notes for t in out.tracks[:2]]  # the input is untouched
    assert len(score.tracks) == 2


def test_split_bass_shifts_an_octave_into_range() -> None:
    low = pop_like(roots=(24, 26, 27, 31, 33, 35))  # C1..B1: under an acoustic bass (28..60)
    out = augment.split_bass(low, 32)
    assert out is not None
    lo, hi = augment.RANGES[32]
    pitches = [n.pitch for n in out.tracks[-1].notes]
    assert pitches == [p + 12 for p in (24, 26, 27, 31, 33, 35)] and all(lo <= p <= hi for p in pitches)
    assert out.note_num() == low.note_num()
    synth = augment.split_bass(low, 38)  # a synth bass reaches C1: no shift
    assert synth is not None and [n.pitch for n in synth.tracks[-1].notes] == [24, 26, 27, 31, 33, 35]


def test_split_bass_takes_a_low_voice_whole(tmp_path: Path) -> None:
    score = chorale()  # four voices in four tracks; the lowest (43..54) becomes the bass
    out = augment.split_bass(score, 43)
    assert out is not None and [t.program for t in out.tracks] == [52, 52, 52, 0, 43]
    assert out.tracks[-1].notes == score.tracks[3].notes and out.note_num() == score.note_num()


def test_split_bass_declines_without_a_bass_line(band_score: Score) -> None:
    high = make_score([(0, False, melody(16, 62))])
    low_tune = make_score([(0, False, melody(16, 40))])  # a single melody stays a melody
    high_duet = make_score([(0, False, melody(16, 72)), (40, False, melody(16, 60, seed=1))])
    stray = pop_like(bars=2)  # two bass notes only
    drums = make_score([(0, True, melody(8, 36))])
    for score in (high, low_tune, high_duet, stray, drums, band_score):  # band_score has a bass
        assert augment.split_bass(score, 33) is None
    with pytest.raises(ConfigError, match="bass program 0"):
        augment.split_bass(pop_like(), 0)


# --- build -----------------------------------------------------------------------------------
def test_split_is_deterministic_by_id() -> None:
    ids = [f"corpus/piece{i}" for i in range(3000)]
    splits = [B.split_of(i) for i in ids]
    assert splits == [B.split_of(i) for i in ids]
    counts = Counter(splits)
    assert 0.87 < counts["train"] / 3000 < 0.93
    assert 0.03 < counts["valid"] / 3000 < 0.07 and 0.03 < counts["test"] / 3000 < 0.07


def test_music21_build_gives_captioned_tokenized_rows(
    tmp_path: Path, tok: Tokenizer, m21_cache: Path
) -> None:
    config = B.BuildConfig(limit=5, augment=1, cache_dir=m21_cache, workers=1, progress=False)
    specs = ["music21:bach", "music21:oneills1850"]
    summary = B.build(specs, tmp_path, config, tokenizer=tok)
    rows = read_rows(tmp_path)
    sources = [r for r in rows if r["augmented_from"] is None]
    assert len(sources) == 10 and len({r["id"] for r in rows}) == len(rows)
    assert Counter(r["labels"]["genre"] for r in sources) == {"classical": 5, "folk": 5}
    for r in rows:
        assert r["split"] == B.split_of(r["augmented_from"] or r["id"])
        assert isinstance(r["caption"], str) and len(r["caption"]) > 20
        shard = np.load(tmp_path / r["shard"])
        assert shard.dtype == np.uint16
        ids = shard[r["offset"] : r["offset"] + r["n_tokens"]].tolist()
        midi = Path(r["midi"]) if Path(r["midi"]).is_absolute() else tmp_path / r["midi"]
        assert ids == tok.encode_score(Score(str(midi)))
        assert r["features"]["programs"] == list(augment_programs(Score(str(midi))))
    copies = [r for r in rows if r["augmented_from"]]
    assert len(copies) == sum(r["split"] == "train" for r in sources)
    assert all(r["orchestration"] for r in copies)
    assert summary.pieces == len(rows) and summary.augmented == len(copies)
    assert sum(c.tokens for c in summary.corpora.values()) == sum(r["n_tokens"] for r in rows)
    assert json.loads((tmp_path / "summary.json").read_text())["specs"] == specs


def augment_programs(score: Score) -> tuple[int, ...]:
    from tunesmith.captions.features import programs

    return programs(score)


def test_resume_after_a_limited_build_gives_the_same_rows(tmp_path: Path, tok: Tokenizer) -> None:
    spec = f"folder:{write_folder(tmp_path / 'midis', 7)}"
    config = B.BuildConfig(chunk_size=2, augment=1, progress=False)
    B.build([spec], tmp_path / "a", B.BuildConfig(**{**config.__dict__, "limit": 3}), tok)
    assert len([r for r in read_rows(tmp_path / "a") if not r["augmented_from"]]) == 3
    chunk0 = next((tmp_path / "a" / "work").glob("*/chunk_0000.json"))
    inode = chunk0.stat().st_ino
    B.build([spec], tmp_path / "a", config, tok)
    B.build([spec], tmp_path / "b", config, tok)
    assert chunk0.stat().st_ino == inode  # the finished chunk was reused, not rebuilt
    assert same_file(tmp_path / "a" / "pieces.jsonl", tmp_path / "b" / "pieces.jsonl")
    assert len([r for r in read_rows(tmp_path / "b") if not r["augmented_from"]]) == 7


def test_killed_build_resumes_and_finished_build_does_nothing(
    tmp_path: Path, tok: Tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = f"folder:{write_folder(tmp_path / 'midis', 5)}"
    config = B.BuildConfig(chunk_size=2, progress=False)
    real = B.make_chunk
    calls = []

    def dies_on_second_chunk(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(B, "make_chunk", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        B.build([spec], tmp_path / "a", config, tok)
    assert not (tmp_path / "a" / "pieces.jsonl").exists()
    B.build([spec], tmp_path / "a", config, tok)
    assert len(calls) == 4  # chunk 0 was not made again
    monkeypatch.setattr(B, "make_chunk", real)
    B.build([spec], tmp_path / "b", config, tok)
    assert same_file(tmp_path / "a" / "pieces.jsonl", tmp_path / "b" / "pieces.jsonl")

    def must_not_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a finished build read its corpora again")

    monkeypatch.setattr(B, "open_corpus", must_not_read)
    assert B.build([spec], tmp_path / "a", config, tok).pieces == 5


def test_build_reports_skipped_files_and_refuses_other_settings(
    tmp_path: Path, tok: Tokenizer
) -> None:
    root = write_folder(tmp_path / "midis", 2)
    (root / "bad.mid").write_bytes(b"garbage")
    (root / "empty.mid").write_bytes(b"")
    summary = B.build([f"folder:{root}"], tmp_path / "out", B.BuildConfig(progress=False), tok)
    assert summary.pieces == 2
    assert sorted(i for i, _ in summary.skipped) == [
        "folder/midis/bad.mid", "folder/midis/empty.mid"
    ]
    skipped = (tmp_path / "out" / "skipped.jsonl").read_text().splitlines()
    assert len(skipped) == 2 and "reason" in json.loads(skipped[0])
    with pytest.raises(ConfigError, match="other settings"):
        B.build([f"folder:{root}"], tmp_path / "out", B.BuildConfig(seed=1, progress=False), tok)


def test_build_config_validates() -> None:
    with pytest.raises(ConfigError, match="limit 0"):
        B.BuildConfig(limit=0)
    with pytest.raises(ConfigError, match="augment 99"):
        B.BuildConfig(augment=99)
    with pytest.raises(ConfigError, match="workers 0"):
        B.BuildConfig(workers=0)
    with pytest.raises(ConfigError, match="no corpus"):
        B.build([], Path("unused"), B.BuildConfig())


def test_process_pool_gives_the_same_pieces(m21_cache: Path, tmp_path: Path) -> None:
    serial = open_corpus("music21:essenFolksong", cache_dir=m21_cache, workers=1)
    pooled = open_corpus("music21:essenFolksong", cache_dir=tmp_path, workers=2)
    a = list(itertools.islice(serial, 4))
    stream = iter(pooled)
    b = [next(stream) for _ in range(4)]
    stream.close()  # type: ignore[attr-defined]  # stops the pool
    assert [p.id for p in a] == [p.id for p in b]
    assert [p.score.note_num() for p in a] == [p.score.note_num() for p in b]


def test_lay_drums_aligns_to_bars_and_loops() -> None:
    from tunesmith.data.segments import lay_drums

    song = make_score([(0, False, [(i * 480, 480, 60, 80) for i in range(16)])], tempo=90.0)  # 4 bars
    groove = make_score([(0, True, [(i * 96, 48, 36 + i % 2, 100) for i in range(20)])], tempo=120.0, tpq=96)
    out = lay_drums(song, groove, np.random.default_rng(0))
    drums = [t for t in out.tracks if t.is_drum]
    assert len(drums) == 1 and abs(out.tempos[0].qpm - 90.0) < 1e-3  # the song keeps its tempo
    times = [n.time for n in drums[0].notes]
    assert max(times) < song.end() and len(times) >= 16  # looped over the whole song
    assert times[0] % 480 == 0  # on the song's beat grid


def test_segments_with_bass_prob_one_condition_on_a_bass(tok: Tokenizer) -> None:
    from tunesmith.data.segments import SegmentConfig, piece_examples

    song = pop_like(bars=9)
    groove = make_score([(0, True, [(i * 240, 60, 36 + i % 3, 100) for i in range(32)])])
    basses = {f"Inst_{p}" for p in augment.BASSES}

    def instruments(bass_prob: float) -> list[set[str]]:
        cfg = SegmentConfig(min_bars=4, max_bars=6, windows_per_piece=6, orchestrate_prob=0.0,
                            drums_prob=1.0, bass_prob=bass_prob)
        examples = list(piece_examples("pop909/001", song, {}, tok, cfg, np.random.default_rng(0), [groove]))
        assert len(examples) == 6
        return [{t for t in tok.to_tokens(e.conds) if t.startswith("Inst_")} for e in examples]

    for found in instruments(1.0):  # every window starts with a held root: a bass line
        assert found & basses and {"Inst_0", "Inst_drums"} <= found
    assert not any(found & basses for found in instruments(0.0))
    with pytest.raises(ConfigError, match="bass_prob 1.5"):
        SegmentConfig(bass_prob=1.5)
