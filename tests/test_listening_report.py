"""Tests of evaluation.listening_report (reference windows, set summaries, the table) and the
gallery's README, on hand-built scores."""

from __future__ import annotations

from pathlib import Path

import pytest
from symusic import Score

from conftest import make_score
from tunesmith.attributes import DRUMS, Attributes
from tunesmith.errors import InputError
from tunesmith.evaluation.gallery import GALLERY, gallery_row, render_readme
from tunesmith.evaluation.listening import listen
from tunesmith.evaluation.listening_report import (
    listening_section,
    parse_reference,
    reference_set,
    render_listening,
    summarize_set,
    windows,
)
from tunesmith.midi import save_midi

Q = 480
BAR = 4 * Q


def beat(bars: int, start_bar: int = 0) -> Score:
    """Piano on every beat and a rock beat, from `start_bar` for `bars` bars."""
    piano = [((start_bar + b) * BAR + i * Q, Q, 60 + 2 * b, 70) for b in range(bars) for i in range(4)]
    hits = [((start_bar + b) * BAR + i * Q // 2, 60, 42, 80) for b in range(bars) for i in range(8)]
    hits += [((start_bar + b) * BAR + i * Q, 60, (36, 38)[i % 2], 100) for b in range(bars) for i in range(4)]
    return make_score([(0, False, piano), (0, True, hits)])


def test_windows_start_at_the_first_note_and_are_shifted_to_zero() -> None:
    score = beat(20, start_bar=3)
    ws = windows(score, 8, count=3)
    assert len(ws) == 3  # bars 3-10, 11-18, 19-22 (the last one short but with notes)
    assert all(min(n.time for t in w.tracks for n in t.notes) == 0 for w in ws)
    assert max(n.time for n in ws[0].tracks[0].notes) < 8 * BAR
    assert ws[1].tracks[0].notes[0].pitch == 60 + 2 * 8
    assert windows(make_score([(0, False, [])]), 8) == []
    pickup = beat(8, start_bar=1).shift_time(-BAR - Q)  # one beat of pickup before tick 0
    assert [n.time for n in windows(pickup, 4)[0].tracks[0].notes[:2]] == [0, Q]


def test_reference_set_reads_a_folder_and_skips_what_is_not_midi(tmp_path: Path) -> None:
    save_midi(beat(8), tmp_path / "a.mid")
    (tmp_path / "sub").mkdir()
    save_midi(beat(8, start_bar=2), tmp_path / "sub" / "b.mid")
    (tmp_path / "notes.txt").write_text("not midi")
    (tmp_path / "broken.mid").write_bytes(b"MThd garbage")
    assert len(reference_set(tmp_path, 4, per_piece=2)) == 4
    assert len(reference_set(tmp_path, 4, keep=lambda f: f.name == "a.mid")) == 1
    assert len(reference_set(tmp_path, 4, per_piece=2, limit=3)) == 3


def test_parse_reference(tmp_path: Path) -> None:
    assert parse_reference(f"pop={tmp_path}") == ("pop", tmp_path)
    assert parse_reference(str(tmp_path)) == (tmp_path.name, tmp_path)
    with pytest.raises(InputError, match="NAME=DIR"):
        parse_reference(f"pop={tmp_path / 'missing'}")


def test_summarize_set_counts_asked_instruments_heard_and_silent() -> None:
    heard = listen(beat(8), Attributes(instruments=(0, DRUMS, 40)))
    s = summarize_set([heard])
    assert s["asked_bars"] == pytest.approx(2 / 3)
    assert s["asked_heard"] == pytest.approx(2 / 3)
    assert s["asked_silent"] == pytest.approx(1 / 3)
    assert s["drum_similarity"] == 1.0 and s["time_keeper"] == 1.0 and s["drums"] == 1.0
    assert s["notes_per_bar"] == 4 + 12
    no_drums = summarize_set([listen(make_score([(0, False, [(0, Q, 60, 70)])]))])
    assert no_drums["drums"] == 0.0 and no_drums["drum_similarity"] is None


def test_listening_section_rows_and_markdown() -> None:
    steady = [listen(beat(8)) for _ in range(6)]
    sparse = [listen(make_score([(0, False, [(k * Q, Q, 60 + k, 70)])]), None, 8) for k in range(6)]
    section = listening_section({"model": sparse}, {"real": steady})
    rows = section["rows"]
    assert section["realism_reference"] == "all references"
    assert rows["model"]["kind"] == "system" and rows["real"]["kind"] == "reference"
    assert rows["model"]["part_bars"] == 0.125
    assert rows["model"]["auc"] > 0.9  # one note in 8 bars is easy to tell from a band
    assert rows["real"]["mean_oa"] == pytest.approx(1.0, abs=0.01)  # identical halves
    assert rows["real"]["roles"]["drums"]["per_piece"] == 1.0
    assert rows["model"]["roles"]["lead"]["notes_per_onset"] == 1.0  # one note at a time
    md = "\n".join(render_listening(section, {"model": "Our model"}))
    assert "| Our model | 1.00 / 12 / 0.1 / 1.0 |" in md  # lead: per piece / bars % / notes a bar / an onset
    assert "| Our model | 6 |" in md and "| real (reference) | 6 |" in md
    # a reference kept out of the realism pool still gets its rows; the pool is unchanged
    kept_out = listening_section({"model": sparse}, {"real": steady, "solo": sparse}, unpooled=("solo",))
    assert kept_out["n_realism_reference"] == 6 and kept_out["rows"]["solo"]["kind"] == "reference"
    assert kept_out["rows"]["model"]["auc"] == rows["model"]["auc"]
    assert listening_section({"model": sparse}, {"real": steady, "solo": sparse})["n_realism_reference"] == 12


def test_gallery_covers_the_main_uses_and_renders_its_rows() -> None:
    prompts = " ".join(p for _, p in GALLERY)
    for word in ("pop", "rock", "jazz", "ballad", "6/8", "electronic", "orchestral", "waltz"):
        assert word in prompts
    assert len({stem for stem, _ in GALLERY}) == 8
    row = gallery_row(listen(beat(8), Attributes(key="C major", instruments=(0, DRUMS))))
    assert row["asked"] == {"Piano": 1.0, "Drums": 1.0}
    md = render_readme([{"prompt": "p", "seed": 0, "midi": "1.mid", "pianoroll": "1.png",
                         "ssm": "1_ssm.png", "metrics": row}], "make gallery")
    assert "| 1 | p | piano 100 (4.0/bar), drums 100 (12.0/bar) | 16.0 | 1.00 | 100 |" in md
    assert "![piano roll](1.png)" in md


def test_gallery_writes_every_prompt(debug_checkpoint_dir: Path, tmp_path: Path) -> None:
    from tunesmith.evaluation.gallery import write_gallery

    rows = write_gallery(tmp_path, checkpoint_path=debug_checkpoint_dir, seed=3, extended=False)
    assert len(rows) == 8
    for stem, _ in GALLERY:
        for suffix in (".mid", ".png", "_ssm.png"):
            assert (tmp_path / f"{stem}{suffix}").stat().st_size > 100
    readme = (tmp_path / "README.md").read_text()
    assert readme.count("![piano roll](") == 8 and "| 8 | a gentle waltz" in readme
    assert rows[4]["metrics"]["asked"].keys() == {"Fiddle"}  # the jig asks for a fiddle


def test_gallery_long_and_melody_entries(debug_checkpoint_dir: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tunesmith.evaluation import gallery
    from tunesmith.generation import SamplingConfig, get_checkpoint

    monkeypatch.setattr(gallery, "LONG", (("9_long", "a pop song with piano and drums in G major, 16 bars"),))
    ckpt = get_checkpoint(str(debug_checkpoint_dir))
    numpy = SamplingConfig(decoder="numpy")
    rows = gallery._long_pieces(tmp_path, ckpt, 1, numpy) + [gallery._melody_piece(tmp_path, ckpt, 1, numpy)]
    assert "plan: A 1-4 A' 5-8 B 9-12 A' 13-16" in rows[0]["prompt"]
    assert rows[1]["metrics"]["asked"].keys() >= {"Fiddle", "Drums"}
    for stem in ("9_long", "11_melody_jig"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 100


def test_evaluate_needs_prompts_and_out_unless_gallery() -> None:
    from typer.testing import CliRunner

    from tunesmith.cli import app

    res = CliRunner().invoke(app, ["evaluate", "--out", "x"])
    assert res.exit_code == 2 and "--prompts and --out are required" in res.output
