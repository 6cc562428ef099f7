"""Band-corpus readers, cleaning and roles, on small files made here (no ../shared)."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from symusic import Note, Score, Tempo, Track

from tunesmith.attributes import DRUMS
from tunesmith.data.clean import CleanReport, clean, clean_tracks, fold_tempi, groove_to_gm, quantize
from tunesmith.data.corpora import archive_labels, open_corpus
from tunesmith.data.roles import RoleTable, revoice_by_role, track_role
from tunesmith.data.segments import busiest, piece_split

TPQ = 480


def track(program: int, notes: list[tuple[int, int, int]], drum: bool = False, name: str = "") -> Track:
    t = Track(name=name, program=program, is_drum=drum)
    for time, pitch, dur in notes:
        t.notes.append(Note(time, dur, pitch, 90))
    return t


def score(*tracks: Track, qpm: float = 120.0) -> Score:
    s = Score(TPQ)
    s.tempos.append(Tempo(0, qpm))
    for t in tracks:
        s.tracks.append(t)
    return s


def test_groove_roland_hihats_become_gm():
    s = groove_to_gm(score(track(0, [(0, 22, 60), (240, 26, 60), (480, 58, 60), (720, 36, 60)], drum=True)))
    assert [n.pitch for n in s.tracks[0].notes] == [42, 46, 43, 36]


def test_clean_tracks_counts_each_fix():
    beat = [(i * 240, 36 if i % 2 == 0 else 38, 60) for i in range(16)]
    named_kit = track(0, beat, name="Drum Kit")  # drums on a melodic channel, named as such
    lead = track(29, [(i * 480, 64, 400) for i in range(8)])
    s = score(named_kit, lead, lead.copy(), track(0, []))
    rep = CleanReport()
    out = clean_tracks(s, rep)
    assert rep.counts["drums_off_channel_10"] == 1
    assert rep.counts["duplicate_tracks_dropped"] == 1
    assert rep.counts["empty_tracks_dropped"] == 1
    assert [t.is_drum for t in out.tracks] == [True, False]
    assert len(s.tracks) == 4  # input untouched


def test_fold_tempi_halves_absurd_tempo():
    rep = CleanReport()
    out = fold_tempi(score(track(0, [(0, 60, 480)]), qpm=400.0), rep)
    assert out.tempos[0].qpm == pytest.approx(200.0, abs=0.01)
    assert rep.counts["tempi_folded"] == 1


def test_quantize_moves_drums_to_sixteenths_and_counts():
    rep = CleanReport()
    s = score(track(0, [(0, 36, 60), (130, 42, 60), (250, 38, 60)], drum=True))
    out = quantize(s, 8, 4, rep)
    assert [n.time for n in out.tracks[0].notes] == [0, 120, 240]
    assert rep.moved == 2 and rep.notes == 3
    assert rep.to_dict()["mean_shift_quarters"] == pytest.approx((10 + 10) / 2 / TPQ, abs=1e-4)


def test_clean_keeps_a_clean_score_unchanged():
    rep = CleanReport()
    s = score(track(33, [(i * 480, 40, 480) for i in range(8)]))
    out = clean(s, rep)
    got = [(n.time, n.pitch, n.duration) for n in out.tracks[0].notes]
    assert got == [(i * 480, 40, 480) for i in range(8)]
    assert rep.moved == 0 and not rep.counts


def test_roles_from_register_polyphony_and_name():
    bass = track(0, [(i * 480, 36, 400) for i in range(8)])
    chords = track(0, [(i * 960, p, 900) for i in range(4) for p in (60, 64, 67)])
    lead = track(0, [(i * 240, 72 + i % 5, 200) for i in range(16)])
    pad = track(48, [(i * 1920, p, 1900) for i in range(2) for p in (60, 64, 67)])
    melody = track(0, [(i * 960, p, 900) for i in range(4) for p in (60, 64)], name="MELODY")
    got = [track_role(t, TPQ) for t in (bass, chords, lead, pad, melody, track(0, [(0, 36, 60)], drum=True))]
    assert got == ["bass", "chords", "lead", "pad", "lead", "drums"]


def test_role_table_revoices_by_learned_role():
    table = RoleTable()
    band = score(track(33, [(i * 480, 36, 400) for i in range(8)]),
                 track(29, [(i * 240, 70, 200) for i in range(16)]))
    for _ in range(3):
        table.add(band, "rock")
    assert [p for p, _ in table.choices("rock", "bass")] == [33]
    piano = score(track(0, [(i * 480, 38, 400) for i in range(8)]),
                  track(0, [(i * 240, 72, 200) for i in range(16)]))
    out = revoice_by_role(piano, table, "rock", np.random.default_rng(0))
    assert [t.program for t in out.tracks] == [33, 29]


def test_busiest_keeps_the_top_instruments():
    tracks = [track(p, [(i * 120, 60, 100) for i in range(p + 1)]) for p in range(10)]
    out = busiest(score(*tracks), n=8)
    assert sorted(t.program for t in out.tracks) == list(range(2, 10))


def test_split_by_group_keeps_an_artist_together():
    a = piece_split("x/song1", {"group": "ClassicRock/Beatles"})
    b = piece_split("x/song2", {"group": "ClassicRock/Beatles"})
    assert a == b
    assert piece_split("x", {"split": "test", "group": "g"}) == "test"


def test_archive_labels_from_folders():
    lab = archive_labels("midimancy", "midimancy/No Man's Land/ClassicRock/Beatles/Beatles - Help.mid")
    assert lab == {"genre": "rock", "group": "ClassicRock/Beatles", "title": "Beatles - Help"}
    assert archive_labels("midimancy", "midimancy/No Man's Land/sonic/Sonic Cd/x.mid")["genre"] == "soundtrack"
    assert archive_labels("midimancy", "midimancy/manifest.tsv") is None


def test_archive_reader_streams_a_tar_xz(tmp_path):
    good = score(track(33, [(i * 480, 40, 480) for i in range(8)]))
    path = tmp_path / "midimancy.tar.xz"
    with tarfile.open(path, "w:xz") as tar:
        for name, data in (("midimancy/No Man's Land/ClassicRock/ZZ/ZZ - A.mid", bytes(good.dumps_midi())),
                           ("midimancy/No Man's Land/ClassicRock/ZZ/broken.mid", b"MThd garbage")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    reader = open_corpus(f"midimancy:{path}")
    pieces = list(reader)
    assert len(reader) == 2 and len(pieces) == 1
    assert pieces[0].labels["genre"] == "rock" and pieces[0].score.note_num() == 8
    assert len(reader.skipped) == 1 and "broken.mid" in reader.skipped[0][0]


def test_trainer_refuses_windows_of_another_tokenizer(tmp_path):
    import json

    from tunesmith.errors import ConfigError
    from tunesmith.tokenization import Tokenizer
    from tunesmith.training.trainer import check_segments_tokenizer

    tok = Tokenizer.default()
    (tmp_path / "segments.json").write_text(json.dumps({"tokenizer": "0123456789ab"}))
    with pytest.raises(ConfigError, match="made by tokenizer 0123456789ab"):
        check_segments_tokenizer(tmp_path, tok)
    from tunesmith.data.segments import tokenizer_hash

    (tmp_path / "segments.json").write_text(json.dumps({"tokenizer": tokenizer_hash(tok)}))
    check_segments_tokenizer(tmp_path, tok)


def test_archive_creators_from_bracketed_names(tmp_path):
    from tunesmith.data.corpora import archive_creators

    good = bytes(score(track(0, [(0, 60, 480)])).dumps_midi())
    path = tmp_path / "touhou.tar.xz"
    with tarfile.open(path, "w:xz") as tar:
        names = ("touhou/1/a/1. Song (Ann).mid", "touhou/1/a/2. Other (Ann).mid", "touhou/1/b/3. X (Bo).mid",
                 "touhou/1/b/4. Y.mid")
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = len(good)
            tar.addfile(info, io.BytesIO(good))
    assert archive_creators(open_corpus(f"touhou:{path}")) == {"Ann": 2, "(no creator marked)": 1, "Bo": 1}


def test_assign_roles_gives_the_tune_to_one_part_and_keeps_a_given_role():
    from tunesmith.attributes import assign_roles

    # a band: the bass plays bass, the one-voice sax leads, the piano comps; drums have no role
    assert dict(assign_roles((0, 32, 65, DRUMS))) == {0: "chords", 32: "bass", 65: "lead"}
    # a lone part leads when it plays one or two voices; a lone piano or guitar comps
    assert assign_roles((56,)) == ((56, "lead"),) and assign_roles((42,)) == ((42, "lead"),)
    assert assign_roles((0,)) == ((0, "chords"),) and assign_roles((24,)) == ((24, "chords"),)
    assert dict(assign_roles((29, 33, DRUMS))) == {29: "chords", 33: "bass"}  # over bass and drums too
    # a solo violin leads a piano; strings under a piano play a pad
    assert dict(assign_roles((0, 40))) == {0: "chords", 40: "lead"}
    assert dict(assign_roles((0, 48))) == {0: "lead", 48: "pad"}
    # the text gave the piano the tune: the sax then plays its other role
    assert dict(assign_roles((0, 65), ((0, "lead"),))) == {0: "lead", 65: "chords"}
    assert assign_roles((DRUMS,)) is None


def test_assign_densities_tells_each_part_its_familys_notes_a_bar():
    from tunesmith.attributes import LEAD_DENSITY, assign_densities

    # a lead at most LEAD_DENSITY (a synth lead's family plays 8), the others their family's
    assert dict(assign_densities(((81, "lead"), (0, "chords"), (33, "bass")))) == {
        81: LEAD_DENSITY, 0: 9, 33: 6}
    assert assign_densities(((0, "chords"),)) == ((0, 9 + LEAD_DENSITY),)  # a lone piano: tune and chords
    assert assign_densities(((56, "lead"),)) == ((56, 5),)


def test_part_densities_are_the_median_over_the_bars_a_part_plays():
    from tunesmith.data.roles import part_densities

    busy = track(0, [(i * 240, 60, 200) for i in range(8)] + [(1920 * 2, 62, 400)])  # 8, 0, 1 notes
    sparse = track(33, [(i * 1920, 36, 1900) for i in range(3)])
    assert part_densities(score(busy, sparse, track(0, [(0, 36, 60)], drum=True))) == {0: 4, 33: 1}


def test_part_roles_of_a_decoded_window():
    from tunesmith.data.roles import part_roles

    bass = track(33, [(i * 480, 36, 400) for i in range(8)])
    lead = track(73, [(i * 240, 72 + i % 5, 200) for i in range(16)])
    comp = track(0, [(i * 960, p, 900) for i in range(4) for p in (60, 64, 67)])
    assert part_roles(score(bass, lead, comp, track(0, [(0, 36, 60)], drum=True))) == {
        33: "bass", 73: "lead", 0: "chords"}


def test_named_subset_keeps_the_accompaniment_a_tune_or_both_but_never_all():
    from tunesmith.data.roles import named_subset

    parts = {name: track(0, [(i * 480, pitch, 400) for i in range(8)], name=name)
             for name, pitch in (("MELODY", 72), ("BRIDGE", 67), ("PIANO", 55))}
    other = track(33, [(0, 36, 400)], name="Bass")
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        kept = tuple(t.name for t in named_subset(score(*parts.values(), other), rng).tracks)
        assert kept[-1] == "Bass"  # tracks without a part name stay
        seen.add(kept[:-1])
    assert seen == {("MELODY",), ("BRIDGE",), ("PIANO",), ("MELODY", "PIANO"), ("BRIDGE", "PIANO")}
    lone = score(parts["PIANO"], other)
    assert named_subset(lone, rng) is lone  # one named part: nothing to choose
