"""CLMP: melody view, retrieval metrics, a tiny training run on hand-made pieces, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from tunesmith.errors import InputError, ModelError
from tunesmith.retrieval import Clmp, ClmpConfig, ClmpTrainConfig, train_clmp
from tunesmith.retrieval.clmp import derangement, melody, ranks, retrieval_metrics, sanity_gap

MAJOR = (0, 2, 4, 5, 7, 9, 11)


def make_score(tracks: list[tuple[int, bool, list[tuple[int, int, int, int]]]],
               tempo: float = 120.0, ts: tuple[int, int] = (4, 4)) -> Score:
    """A score from (program, is_drum, [(time, duration, pitch, velocity), ...]) tracks."""
    score = Score(480)
    score.tempos.append(Tempo(0, tempo))
    score.time_signatures.append(TimeSignature(0, *ts))
    for program, is_drum, notes in tracks:
        track = Track(program=program, is_drum=is_drum)
        track.notes.extend([Note(*n) for n in notes])
        score.tracks.append(track)
    return score
MINOR = (0, 2, 3, 5, 7, 8, 10)


def styled_piece(program: int, tonic: int, scale: tuple[int, ...], tempo: float,
                 ts: tuple[int, int], drums: bool, seed: int) -> Score:
    """Eight bars of a random walk on a scale (plus a beat), so pieces differ in the facts a
    caption states: instrument, key, tempo, meter."""
    rng = np.random.default_rng(seed)
    q, bar = 480, ts[0] * 480 * 4 // ts[1]
    steps = np.cumsum(rng.integers(-2, 3, size=8 * bar // q)) % 14
    notes = [(i * q, q, 60 + tonic + scale[s % 7] + 12 * (s // 7) - 12, 80)
             for i, s in enumerate(steps)]
    chords = [(b * bar, bar, 48 + tonic + scale[d], 60) for b in range(8) for d in (0, 2, 4)]
    tracks = [(program, False, notes), (program, False, chords)]
    if drums:
        tracks.append((0, True, [(i * q, q // 4, 36 if i % 2 else 42, 100)
                                 for i in range(8 * bar // q)]))
    return make_score(tracks, tempo=tempo, ts=ts)


STYLES = [  # program, tonic, scale, tempo, meter, drums
    (0, 0, MAJOR, 120.0, (4, 4), False), (40, 9, MINOR, 70.0, (3, 4), False),
    (56, 7, MAJOR, 160.0, (4, 4), True), (73, 2, MINOR, 90.0, (6, 8), False),
    (24, 4, MAJOR, 100.0, (4, 4), True), (33, 5, MINOR, 140.0, (3, 4), True),
    (19, 10, MAJOR, 60.0, (4, 4), False), (11, 1, MINOR, 180.0, (2, 4), False),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Clmp, Path, list[Score]]:
    """A tiny CLMP trained for 40 steps on a data build of the eight hand-made pieces."""
    from tunesmith.data.build import BuildConfig, build

    midi = tmp_path_factory.mktemp("styles")
    for n, style in enumerate(STYLES):
        for copy in range(2):
            styled_piece(*style, seed=10 * n + copy).dump_midi(str(midi / f"s{n}_{copy}.mid"))
    data = tmp_path_factory.mktemp("clmp_build")
    build([f"folder:{midi}"], data, BuildConfig(workers=1, progress=False))
    model = ClmpConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, max_len=96,
                       melody_max_len=48, embed_dim=32, dropout=0.0, windows=2)
    cfg = ClmpTrainConfig(model=model, steps=40, batch_size=8, lr=3e-3, warmup=5,
                          captions_per_piece=2, save_every=20, progress=False)
    out = tmp_path_factory.mktemp("clmp")
    clmp = train_clmp(data, out, cfg)
    rows = [json.loads(line) for line in (data / "pieces.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    from tunesmith.midi import load_score

    return clmp, out, [load_score(r["midi"]) for r in train]


def test_training_loss_drops(trained: tuple[Clmp, Path, list[Score]]) -> None:
    _, out, _ = trained
    losses = [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_matched_pairs_score_above_shuffled(trained: tuple[Clmp, Path, list[Score]]) -> None:
    clmp, _, scores = trained
    from tunesmith.captions import caption, features

    # captions written afresh (another phrasing than in training) from each piece's features
    captions = [caption(features(s), np.random.default_rng(0)) for s in scores]
    sim = clmp.similarity(captions, scores)
    assert sim.shape == (len(scores), len(scores))
    off = sim[~np.eye(len(scores), dtype=bool)]
    assert np.diag(sim).mean() > off.mean() + 0.05


def test_save_load_round_trip(trained: tuple[Clmp, Path, list[Score]]) -> None:
    clmp, out, scores = trained
    again = Clmp.load(out)
    assert again.config == clmp.config
    np.testing.assert_allclose(again.embed_music(scores), clmp.embed_music(scores), atol=1e-6)
    np.testing.assert_allclose(again.embed_melody(scores[:2]), clmp.embed_melody(scores[:2]),
                               atol=1e-6)
    vec = again.embed_text(["a piano piece"])
    assert vec.shape == (1, 32)
    assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)


def test_training_resumes_at_its_last_step(trained: tuple[Clmp, Path, list[Score]]) -> None:
    _, out, _ = trained
    import torch

    state = torch.load(out / "train_state.pt", weights_only=False)
    assert state["step"] == 40
    report = json.loads((out / "test_report.json").read_text())
    assert report["steps"] == 40 and report["train_pieces"] == len(trained[2])


def test_load_refuses_a_folder_without_weights(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a CLMP checkpoint"):
        Clmp.load(tmp_path)


def test_melody_keeps_the_highest_note_of_each_onset() -> None:
    low = [(0, 960, 48, 80), (960, 960, 50, 80)]
    high = [(0, 480, 72, 80), (480, 480, 74, 80), (960, 480, 71, 80)]
    drums = [(0, 100, 90, 100)]
    top = melody(make_score([(33, False, low), (0, False, high), (0, True, drums)]))
    assert len(top.tracks) == 1
    notes = [(n.time, n.duration, n.pitch) for n in top.tracks[0].notes]
    assert notes == [(0, 480, 72), (480, 480, 74), (960, 480, 71)]
    assert top.tracks[0].program == 0  # the track that gives the whole top line


def test_retrieval_metrics_known_answer() -> None:
    sim = np.array([[0.9, 0.1, 0.2], [0.8, 0.5, 0.1], [0.3, 0.4, 0.2]])
    assert ranks(sim).tolist() == [1, 2, 3]
    m = retrieval_metrics(sim, ks=(1, 2))
    assert m["R@1"] == pytest.approx(1 / 3) and m["R@2"] == pytest.approx(2 / 3)
    assert m["mAP"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    with pytest.raises(InputError):
        retrieval_metrics(np.zeros((2, 3)))


def test_derangement_and_sanity_gap() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 10):
        p = derangement(n, rng)
        assert sorted(p.tolist()) == list(range(n)) and not (p == np.arange(n)).any()
    eye = np.eye(4)
    gap = sanity_gap(eye, eye, rng, unconditional=np.full((1, 4), 0.5))
    assert gap["matched"] == 1.0 and gap["shuffled"] == 0.0 and gap["unconditional"] == 0.5
