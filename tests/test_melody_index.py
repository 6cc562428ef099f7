"""Melody index: lead lines and phrases (known answers), the HNSW index with its sidecar and
filters, incremental adds of a folder, text retrieval and the CLI, on hand-made scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from symusic import Score, Tempo
from typer.testing import CliRunner

from conftest import make_score
from tunesmith.cli import app
from tunesmith.errors import InputError
from tunesmith.midi.io import save_midi
from tunesmith.retrieval import index as index_mod
from tunesmith.retrieval.index import IndexConfig, MelodyIndex, melody_of
from tunesmith.retrieval.melody import (
    extract_phrases,
    fingerprint,
    lead_line,
    lead_track,
    notes_of,
    phrase_score,
    phrase_spans,
    split_run,
    unique_phrases,
)

Q = 480
C_MAJOR = (60, 62, 64, 65, 67, 69, 71, 72)


def tune(bars: list[int], beats: int = 4, base: int = 72, step: int = 1) -> list[tuple[int, int, int, int]]:
    """One quarter note per beat in each listed bar, walking the C major scale."""
    return [(b * beats * Q + i * Q, Q, base + C_MAJOR[(b * step + i) % 8] - 60, 90)
            for b in bars for i in range(beats)]


def chords(n_bars: int, beats: int = 4) -> list[tuple[int, int, int, int]]:
    return [(b * beats * Q, beats * Q, p, 60) for b in range(n_bars) for p in (48, 52, 55)]


# ---------------------------------------------------------------- phrases


@pytest.mark.parametrize(("n", "sizes"), [(3, []), (4, [4]), (8, [8]), (10, [5, 5]),
                                          (12, [8, 4]), (16, [8, 8]), (17, [8, 4, 5])])
def test_split_run_cuts_runs_into_4_to_8_bars(n: int, sizes: list[int]) -> None:
    assert split_run(n) == sizes


def test_phrases_break_at_silent_bars() -> None:
    line = make_score([(0, False, tune([*range(10), *range(11, 15)]))])
    assert phrase_spans(line) == [(0, 5), (5, 10), (11, 15)]


def test_lead_track_by_corpus_and_role() -> None:
    low_first = make_score([(0, False, tune(range(4), base=60)), (0, False, tune(range(4), base=84))])
    assert lead_track(low_first, "nottingham").notes[0].pitch == 60  # first track, though lower
    assert lead_track(low_first).notes[0].pitch == 84  # elsewhere: the highest lead
    pop = make_score([(0, False, tune(range(4), base=60)), (0, False, chords(4)),
                      (0, False, tune(range(4), base=84))])
    for t, name in zip(pop.tracks, ("MELODY", "PIANO", "BRIDGE"), strict=True):
        t.name = name
    assert lead_track(pop, "pop909").name == "MELODY"
    bass = [(i * Q, Q, 36, 90) for i in range(16)]
    kick = [(i * Q, 60, 36, 100) for i in range(16)]
    band = make_score([(0, False, chords(4)), (33, False, bass), (29, False, tune(range(4), base=72)),
                       (0, True, kick)])
    assert lead_track(band).program == 29  # the monophonic guitar: role lead
    comp = make_score([(0, False, chords(4)), (0, False, [(b * 4 * Q, 4 * Q, p, 60) for b in range(4)
                                                          for p in (72, 76, 79)])])
    line = lead_line(comp)  # no lead part: the top line of the highest part
    assert [n.pitch for n in line.tracks[0].notes] == [79] * 4


def test_lead_line_of_a_chorale_is_the_soprano(chorale_files: list[Path]) -> None:
    from tunesmith.midi.io import load_score

    score = load_score(chorale_files[0])
    soprano = max((t for t in score.tracks if t.notes), key=lambda t: np.median(t.notes.numpy()["pitch"]))
    line = lead_line(score)
    got = line.tracks[0].notes.numpy()
    want = soprano.notes.numpy()
    assert got["pitch"].tolist() == want["pitch"].tolist()
    assert got["time"].tolist() == want["time"].tolist()


def test_extract_phrases_facts_and_notes() -> None:
    score = make_score([(0, False, tune(range(12), beats=3)), (0, False, chords(12, beats=3))],
                       tempo=100.0, ts=(3, 4))
    score.tempos.append(Tempo(8 * 3 * Q, 140.0))  # the second phrase starts at 140 bpm
    ps = extract_phrases(score, "test/waltz", "folder", {"genre": "folk"})
    assert [(p.bar_start, p.bar_end) for p in ps] == [(0, 8), (8, 12)]
    assert [p.tempo for p in ps] == [100.0, 140.0]
    assert {(p.meter, p.key, p.genre, p.source) for p in ps} == {("3/4", "C major", "folk", "test/waltz")}
    second = ps[1].score.tracks[0].notes.numpy()
    assert second["time"][0] == 0 and len(second["time"]) == 4 * 3  # shifted to 0, one note per beat
    want = [n for n in tune(range(12), beats=3) if n[0] >= 8 * 3 * Q]
    assert second["pitch"].tolist() == [n[2] for n in want]


def test_repeats_are_dropped_and_notes_round_trip() -> None:
    score = make_score([(0, False, tune(range(16), step=8))])  # bars 0-7 == bars 8-15
    ps = extract_phrases(score, "x")
    assert len(ps) == 2 and fingerprint(ps[0]) == fingerprint(ps[1])
    assert len(unique_phrases(ps)) == 1
    notes = notes_of(ps[0].score)
    back = phrase_score(notes, ps[0].tempo, ps[0].meter)
    assert notes_of(back) == notes and back.tracks[0].notes[0].pitch == 72
    with pytest.raises(InputError, match="meter"):
        phrase_score(notes, 120, "waltz")


# ---------------------------------------------------------------- the index


def unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def rows(n: int) -> list[dict[str, object]]:
    return [{"source": f"s/{i}", "corpus": "user", "bars": [0, 8], "key": ("C major", "A minor")[i % 2],
             "meter": ("4/4", "6/8", "3/4")[i % 3], "tempo": 120.0, "genre": None,
             "license": "user's own", "notes": None} for i in range(n)]


def test_index_search_filters_save_and_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    vecs = unit(rng, 300)
    idx = MelodyIndex.create(IndexConfig(dim=16), capacity=10)  # grows as it is filled
    idx.add(rows(300), vecs)
    (label, score), *_ = idx.search(vecs[42], k=3)
    assert label == 42 and score == pytest.approx(1.0, abs=1e-5)
    exact = np.argsort(-(vecs @ vecs[7]))
    want = [int(i) for i in exact if i % 2 == 1 and i % 3 == 1][:5]
    got = [lab for lab, _ in idx.search(vecs[7], k=5, key="A minor", meter="6/8")]
    assert got == want  # exact over the few matching rows
    monkeypatch.setattr(index_mod, "BRUTE_FORCE_BELOW", 0)  # through hnswlib's filter
    got = [lab for lab, _ in idx.search(vecs[7], k=5, key="A minor", meter="6/8")]
    assert all(idx.rows[i]["key"] == "A minor" and idx.rows[i]["meter"] == "6/8" for i in got)
    assert got[0] == want[0]
    assert idx.search(vecs[0], k=3, key="F# major") == []
    idx.save(tmp_path / "ix")
    back = MelodyIndex.open(tmp_path / "ix")
    assert len(back) == 300 and back.search(vecs[5], k=1)[0][0] == 5
    back.add(rows(1), unit(rng, 1))
    back.save()
    assert len(MelodyIndex.open(tmp_path / "ix")) == 301
    head = json.loads((tmp_path / "ix" / "index.json").read_text())
    assert head["count"] == 301 and head["config"]["dim"] == 16


def test_open_refuses_what_is_not_an_index(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a melody index"):
        MelodyIndex.open(tmp_path)
    with pytest.raises(InputError, match="k=0"):
        MelodyIndex.create(IndexConfig(dim=4)).search(np.ones(4), k=0)


# ---------------------------------------------------------------- a folder, text, CLI


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mine")
    save_midi(make_score([(73, False, tune(range(8), beats=3)), (0, False, chords(8, 3))],
                         tempo=90.0, ts=(3, 4)), folder / "waltz.mid")
    save_midi(make_score([(0, False, tune(range(8), base=76)), (0, False, chords(8))]),
              folder / "march.mid")
    return folder


def test_add_folder_retrieve_and_skip_known_files(user_folder: Path, tmp_path: Path) -> None:
    from tunesmith.retrieval import add_folder, retrieve

    idx, added = add_folder(user_folder, tmp_path / "ix")
    assert added == 2 and len(idx) == 2
    assert add_folder(user_folder, tmp_path / "ix")[1] == 0  # incremental: nothing new
    hits = retrieve("a waltz in 3/4", k=5, meter="three four", index=tmp_path / "ix")
    assert len(hits) == 1 and hits[0].meta["meter"] == "3/4" and hits[0].meta["source"].endswith("waltz.mid")
    mel: Score = hits[0].melody
    assert [n.pitch for n in mel.tracks[0].notes] == [n[2] for n in tune(range(8), beats=3)]
    assert mel.tracks[0].program == 73 and -1 <= hits[0].score <= 1
    row = dict(hits[0].meta, notes=None)  # notes not stored: re-read from the file
    assert [n.pitch for n in melody_of(row).tracks[0].notes] == [n.pitch for n in mel.tracks[0].notes]
    with pytest.raises(InputError, match="key"):
        retrieve("x", key="H major", index=tmp_path / "ix")


def test_cli_index_add_and_retrieve(user_folder: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["index", "add", str(user_folder), "--index", str(tmp_path / "ix")])
    assert res.exit_code == 0, res.output
    assert "added 2 phrases" in res.output
    res = runner.invoke(app, ["retrieve", "a march", "-k", "2", "--index", str(tmp_path / "ix"),
                              "--out-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "1. " in res.output and "2. " in res.output and "march.mid" in res.output
    files = sorted(p.suffix for p in (tmp_path / "out").iterdir())
    assert files == [".mid", ".mid", ".png", ".png"]
    res = runner.invoke(app, ["retrieve", "x", "-k", "0", "--index", str(tmp_path / "ix")])
    assert res.exit_code == 2 and "-k 0" in res.output


def test_a_pickup_bar_is_left_out_of_the_phrase_grid() -> None:
    pickup = [(3 * Q, Q, 67, 90)]  # beat 4 of bar 0 leads into bar 1
    line = make_score([(0, False, pickup + tune(range(1, 17)))])
    assert phrase_spans(line) == [(1, 9), (9, 17)]


def test_server_retrieve_from_the_shipped_index(debug_checkpoint: object) -> None:
    from fastapi.testclient import TestClient

    from tunesmith.server.app import create_app

    with TestClient(create_app(checkpoint=debug_checkpoint)) as client:
        r = client.get("/api/retrieve", params={"prompt": "a jig in 6/8", "k": 3, "meter": "6/8"})
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        assert len(hits) == 3 and all(h["meter"] == "6/8" for h in hits)
        assert hits[0]["score"] >= hits[-1]["score"] and "bars" in hits[0]["label"]
        assert client.get("/api/retrieve", params={"prompt": "x", "k": 0}).status_code == 400
        assert client.get("/api/retrieve", params={"prompt": "x", "key": "H"}).status_code == 400


def test_the_lead_is_the_part_that_runs_through_the_song() -> None:
    sung = tune(range(8), base=67)
    solo = [(6 * 4 * Q + i * Q // 2, Q // 2, 88 + i % 3, 100) for i in range(16)]  # bars 7-8 only
    band = make_score([(0, False, chords(8)), (56, False, sung), (30, False, solo)])
    assert lead_track(band).program == 56
    band.tracks[2].name = "Lead Vocal"  # a name that marks the tune wins over coverage
    assert lead_track(band).program == 30


def test_cli_index_build_from_a_corpus_spec_resumes(user_folder: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["index", "build", "--corpus", f"folder:{user_folder}", "--split", "all", "--out",
            str(tmp_path / "ix")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "2 phrases" in res.output, res.output
    assert runner.invoke(app, args).exit_code == 0  # again: nothing is added twice
    rows_ = MelodyIndex.open(tmp_path / "ix").rows
    assert len(rows_) == 2 and all(r["notes"] and r["license"] == "user's own" for r in rows_)
    assert runner.invoke(app, [*args[:-3], "--split", "dev", "--out", "x"]).exit_code == 2


def test_only_phrases_with_notes_by_id_and_the_best_one(tmp_path: Path) -> None:
    from tunesmith.retrieval import Clmp, best_melody, phrase_melody, retrieve

    clmp = Clmp.load()
    dim = clmp.config.embed_dim
    idx = MelodyIndex.create(IndexConfig(dim=dim))
    table = rows(6)
    for i in (1, 4):  # two phrases keep their notes; the others only their facts
        table[i] = dict(table[i], meter="4/4", notes=[[0, 96, 60 + i, 80], [96, 96, 62 + i, 80]])
    idx.add(table, unit(np.random.default_rng(1), 6, dim))
    hits = retrieve("a tune", k=6, index=idx, clmp=clmp, with_notes=True)
    assert sorted(h.id for h in hits) == [1, 4] and all(h.melody is not None for h in hits)
    assert [h.id for h in retrieve("a tune", k=6, index=idx, clmp=clmp)] != []  # ids on every hit
    assert best_melody("a tune", index=idx, clmp=clmp).id == hits[0].id
    melody, label = phrase_melody(4, idx)
    assert [n.pitch for n in melody.tracks[0].notes] == [64, 66] and label == "s/4 bars 1-8"
    with pytest.raises(InputError, match=r"melody id 6 is unknown: this index has ids 0\.\.5"):
        phrase_melody(6, idx)
    with pytest.raises(InputError, match=r"melody id 0 \(s/0 bars 1-8\) has no notes in the index"):
        phrase_melody(0, idx)
    with pytest.raises(InputError, match="no retrieved melody in 3/4 has its notes in the index "
                                         r"\(the best, s/\d bars 1-8, comes from a corpus"):
        best_melody("a waltz", meter="3/4", index=idx, clmp=clmp)


def test_best_melody_prefers_the_asked_mode() -> None:
    from tunesmith.retrieval.search import best_melody

    minor = best_melody("a sad slow ballad", mode="minor")
    major = best_melody("a sad slow ballad", mode="major")
    assert minor.meta["key"].endswith(" minor") and major.meta["key"].endswith(" major")
