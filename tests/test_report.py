"""Evaluation report (generate or read MIDI -> metrics -> report files) and Fréchet distance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from tunesmith.errors import InputError
from tunesmith.evaluation.frechet import frechet_bootstrap, frechet_distance
from tunesmith.evaluation.report import EvalConfig, evaluate_with, read_prompts, write_prompts


def piece(program: int, tonic: int, tempo: float) -> Score:
    """Four bars of quarter notes on a major scale with block chords."""
    score = Score(480)
    score.tempos.append(Tempo(0, tempo))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    line, chords = Track(program=program), Track(program=program)
    line.notes.extend([Note(i * 480, 480, 60 + tonic + (0, 2, 4, 5, 7, 9, 11, 12)[i % 8], 80)
                       for i in range(16)])
    chords.notes.extend([Note(b * 1920, 1920, 48 + tonic + d, 60) for b in range(4)
                         for d in (0, 4, 7)])
    score.tracks.extend([line, chords])
    return score


@pytest.fixture(scope="module")
def tiny_clmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny CLMP folder: the report's plumbing does not need a good one."""
    import torch

    from tunesmith.retrieval.clmp import Clmp, ClmpConfig, ClmpModel
    from tunesmith.tokenization import Tokenizer, TokenizerSettings

    torch.manual_seed(0)
    cfg = ClmpConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, embed_dim=16, windows=1)
    tok = Tokenizer.create(TokenizerSettings(chords=False, roles=False))  # CLMP's vocabulary: no chords, roles
    return Clmp(ClmpModel(cfg), tok).save(tmp_path_factory.mktemp("clmp"))


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("prompts")
    rows = [
        {"caption": "A calm piano piece in C major at 80 bpm, 2 bars long.", "midi": "0.mid"},
        {"caption": "An upbeat tune, 2 bars long.", "key": "G major", "tempo": 140,
         "instrument_summary": ["Violin"], "time_signature": "4/4", "location": "1.mid"},
        {"caption": "A flute melody in D major lasting 2 bars.", "tempo": "fast?",
         "midi": "2.mid"},
    ]
    for i, (program, tonic, tempo) in enumerate([(0, 0, 80.0), (40, 7, 140.0), (73, 2, 100.0)]):
        piece(program, tonic, tempo).dump_midi(str(folder / f"{i}.mid"))
    path = folder / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_prompts_take_absent_fields_from_the_caption(prompts_file: Path) -> None:
    p = read_prompts(prompts_file)
    assert [x.index for x in p] == [0, 1, 2]
    assert p[0].target.key == "C major" and p[0].target.tempo == 80 and p[0].explicit.key is None
    assert p[1].target.key == "G major" and p[1].target.instruments == (40,)
    assert p[1].explicit.tempo == 140 and p[1].truth == prompts_file.parent / "1.mid"
    assert p[2].target.instruments == (73,) and p[2].notes  # the bad tempo is reported
    assert len(read_prompts(prompts_file, limit=2)) == 2


@pytest.fixture()
def one_thread():  # type: ignore[no-untyped-def]
    """One torch thread: the debug model's tiny matrices gain nothing from two, and on a
    busy machine two spinning threads make its sampling ~100x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_thread")
def test_evaluate_generates_scores_and_resumes(prompts_file: Path, tiny_clmp: Path,
                                               debug_checkpoint_dir: Path, tmp_path: Path) -> None:
    cfg = EvalConfig(checkpoint_path=debug_checkpoint_dir, clmp_path=tiny_clmp, bootstrap=20,
                     progress=False)
    result = evaluate_with(prompts_file, tmp_path, cfg)
    systems = result["systems"]
    assert list(systems) == ["ground_truth", "unconditional", "model", "shuffled"]
    assert systems["model"]["n"] == 3 and systems["model"]["failed"] == 0
    # the ground truth is what its own captions describe: key and tempo bins hit
    assert systems["ground_truth"]["adherence"]["key"] == 1.0
    assert systems["ground_truth"]["adherence"]["tempo_bin"] == 1.0
    assert systems["shuffled"]["adherence"]["key"] < 1.0
    assert systems["model"]["fd"] is not None and systems["model"]["fd_std"] >= 0
    assert -1 <= systems["model"]["clmp"] <= 1
    report = (tmp_path / "report.md").read_text()
    for title in ("Ground truth", "shuffled captions", "Unconditional generation", "Our model"):
        assert title in report
    assert (tmp_path / "plots" / "features.png").stat().st_size > 1000
    assert json.loads((tmp_path / "metrics.json").read_text())["prompts"] == 3
    made = sorted((tmp_path / "midi").iterdir())
    assert [f.name for f in made] == ["0_0.mid", "1_0.mid", "2_0.mid"]
    stamps = [f.stat().st_mtime_ns for f in made]
    evaluate_with(prompts_file, tmp_path, cfg)  # a re-run reuses the generated files
    assert [f.stat().st_mtime_ns for f in sorted((tmp_path / "midi").iterdir())] == stamps


def test_midi_dir_counts_corrupt_and_missing_files_as_failures(
    prompts_file: Path, tiny_clmp: Path, tmp_path: Path
) -> None:
    midi = tmp_path / "mine"
    midi.mkdir()
    piece(0, 0, 80.0).dump_midi(str(midi / "0.mid"))
    (midi / "1.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    cfg = EvalConfig(midi_dir=midi, clmp_path=tiny_clmp, bootstrap=20, progress=False)
    result = evaluate_with(prompts_file, tmp_path / "out", cfg)
    model = result["systems"]["model"]
    assert model["n"] == 3 and model["failed"] == 2
    assert model["adherence"]["key"] == 1.0  # the one good file is in C major as asked
    assert "unconditional" not in result["systems"]  # no checkpoint given
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Failures (2)" in report and "corrupt" in report and "no MIDI file" in report


def test_write_prompts_takes_the_test_split(tmp_path: Path) -> None:
    feats = {"key": "A minor", "tempo": 90.0, "time_signature": "3/4", "instruments": ["Piano"],
             "chords": ["Am", "E"]}
    rows = [{"id": f"x{i}", "split": split, "caption": f"caption {i}", "features": feats,
             "midi": f"m{i}.mid"} for i, split in enumerate(["train", "test", "test"])]
    (tmp_path / "pieces.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert write_prompts(tmp_path, tmp_path / "p.jsonl", n=5) == 2
    out = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["id"] for r in out] == ["x1", "x2"] and out[0]["key"] == "A minor"
    assert read_prompts(tmp_path / "p.jsonl")[0].target.time_signature == "3/4"
    with pytest.raises(InputError):
        write_prompts(tmp_path / "nothing", tmp_path / "q.jsonl")


def test_frechet_known_answers() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-6)
    b = rng.normal(size=(500, 4))  # same Gaussian, other sample: close to 0
    assert frechet_distance(a, b) < 0.1
    scaled = frechet_distance(a, 2 * b)  # covariance I vs 4I: tr(I + 4I - 2*2I) = 4 dims * 1
    assert scaled == pytest.approx(4.0, rel=0.15)
    from scipy import linalg

    c = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6))  # correlated, other covariance
    d = rng.normal(size=(30, 6))
    ca, cd = np.cov(c, rowvar=False), np.cov(d, rowvar=False)
    by_sqrtm = (np.sum((c.mean(0) - d.mean(0)) ** 2) + np.trace(ca + cd)
                - 2 * np.trace(linalg.sqrtm(ca @ cd).real))
    assert frechet_distance(c, d) == pytest.approx(by_sqrtm, rel=1e-6)
    mean, std = frechet_bootstrap(a, a + shift, n=30, rng=np.random.default_rng(1))
    assert mean == pytest.approx(float(shift @ shift), rel=0.2) and std > 0
    with pytest.raises(InputError):
        frechet_distance(a, rng.normal(size=(10, 3)))


def test_window_prompts_from_a_build(tmp_path: Path) -> None:
    """Held-out windows: one prompt per non-train piece, the ground truth cut to `bars` bars."""
    import json

    from tunesmith.data.build import BuildConfig, build, split_of
    from tunesmith.evaluation.report import write_window_prompts
    from tunesmith.midi import load_score

    build(["music21:airdsAirs"], tmp_path / "b", BuildConfig(limit=40, workers=1, progress=False))
    rows = [json.loads(x) for x in (tmp_path / "b" / "pieces.jsonl").read_text().splitlines()]
    held = [r for r in rows if split_of(r["id"]) != "train"]
    n = write_window_prompts(tmp_path / "b", tmp_path / "p.jsonl", 10, bars=4)
    assert n == min(10, len(held)) > 0
    prompts = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert {p["id"] for p in prompts} <= {r["id"] for r in held}
    # paths are relative to the prompts file, so the folder can move (read_prompts resolves them)
    assert all(p.truth is not None and p.truth.is_file() for p in read_prompts(tmp_path / "p.jsonl"))
    for p in prompts:
        assert not Path(p["midi"]).is_absolute()
        truth = load_score(tmp_path / p["midi"])
        ticks_per_bar = truth.ticks_per_quarter * 4 * int(p["time_signature"].split("/")[0]) // int(
            p["time_signature"].split("/")[1])
        assert truth.end() <= 4 * ticks_per_bar and p["bars"] == 4
        assert p["key"] in p["caption"] or p["key"] is None


def test_listening_table_with_reference_rows(prompts_file: Path, tiny_clmp: Path, tmp_path: Path) -> None:
    midi, ref = tmp_path / "mine", tmp_path / "real"
    midi.mkdir()
    ref.mkdir()
    for i, (program, tonic, tempo) in enumerate([(0, 0, 80.0), (40, 7, 140.0), (73, 2, 100.0)]):
        piece(program, tonic, tempo).dump_midi(str(midi / f"{i}.mid"))  # the ground truth again
    for i in range(2):
        piece(33, i, 100.0).dump_midi(str(ref / f"{i}.mid"))
    cfg = EvalConfig(midi_dir=midi, clmp_path=tiny_clmp, bootstrap=20, progress=False,
                     listening_references=(("real", ref),))
    result = evaluate_with(prompts_file, tmp_path / "out", cfg)
    rows = result["listening"]["rows"]
    assert list(rows) == ["ground_truth", "model", "real"]
    assert rows["real"]["kind"] == "reference" and rows["real"]["n"] == 2
    # every prompt asks for the one instrument its piece plays, in each of the 2 bars asked
    assert rows["model"]["asked_bars"] == 1.0 and rows["model"]["asked_silent"] == 0.0
    assert rows["model"]["notes_per_bar"] == rows["ground_truth"]["notes_per_bar"] == 4 + 3
    assert rows["real"]["roles"]["bass"]["per_piece"] == 2.0  # both tracks on a GM bass
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Listening" in report and "| real (reference) | 2 |" in report
    assert "constraints of the sampler's grammar" in report
