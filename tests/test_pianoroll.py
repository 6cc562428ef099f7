"""Tests for tunesmith.midi.pianoroll: bar grid, legend, colours and the PNG itself."""

from __future__ import annotations

import importlib
import io
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from symusic import Note, Score, Tempo, TimeSignature, Track

from tunesmith.errors import InputError

# the module itself: `tunesmith.midi.pianoroll` as an attribute may be a re-exported function
pr = importlib.import_module("tunesmith.midi.pianoroll")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def score_of(tracks, tpq: int = 480, sigs=((0, 4, 4),)) -> Score:
    """tracks: (program, is_drum, name, [(time, dur, pitch)])."""
    s = Score(tpq)
    s.tempos.append(Tempo(0, 120.0))
    for time, num, den in sigs:
        s.time_signatures.append(TimeSignature(time, num, den))
    for program, is_drum, name, notes in tracks:
        t = Track(name=name, program=program, is_drum=is_drum)
        for time, dur, pitch in notes:
            t.notes.append(Note(time, dur, pitch, 90))
        s.tracks.append(t)
    return s


BAND = [
    (0, False, "", [(0, 480, 60), (480, 480, 64)]),
    (33, False, "", [(0, 1920, 36)]),
    (0, True, "", [(0, 120, 36), (960, 120, 38)]),
    (73, False, "Lead", [(1920, 960, 79)]),
]


def test_png_is_decodable_with_the_asked_width(tmp_path: Path):
    out = tmp_path / "roll.png"
    png = pr.draw_pianoroll(score_of(BAND), out, title="band", width_px=800)
    assert png[:8] == PNG_MAGIC
    assert out.read_bytes() == png
    img = imread(io.BytesIO(png), format="png")
    assert img.shape[:2] == (400, 800)
    assert img[..., :3].std() > 0.05  # something is drawn, not a blank page


def test_empty_score_draws_a_picture_not_an_error():
    png = pr.draw_pianoroll(score_of([]), width_px=400)
    img = imread(io.BytesIO(png), format="png")
    assert img.shape[:2] == (200, 400)
    assert (img[..., :3] < 0.8).any()  # the "no notes" text


def test_missing_folder_and_bad_width_raise_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="absent"):
        pr.draw_pianoroll(score_of(BAND), tmp_path / "absent" / "r.png", width_px=400)
    with pytest.raises(InputError, match="width 10"):
        pr.draw_pianoroll(score_of(BAND), width_px=10)
    assert list(tmp_path.iterdir()) == []


def test_legend_has_one_label_per_track_from_name_drums_or_gm():
    labels = pr.legend_labels(score_of(BAND))
    assert labels == ["Piano", "Electric Bass", "Drums", "Lead"]


def test_repeated_instruments_get_distinct_labels():
    two_pianos = [(0, False, "", [(0, 480, 60)]), (0, False, "", [(0, 480, 48)])]
    assert pr.legend_labels(score_of(two_pianos)) == ["Piano", "Piano 2"]


def test_colours_are_distinct_per_track():
    many = [(i, False, "", [(0, 480, 60)]) for i in range(8)]
    colours = pr.track_colours(score_of(many))
    assert len(colours) == 8 and len(set(colours)) == 8


def test_each_track_colour_appears_in_the_picture():
    png = pr.draw_pianoroll(score_of(BAND), width_px=800)
    img = (imread(io.BytesIO(png), format="png")[..., :3] * 255).round().astype(int)
    pixels = {tuple(p) for p in img.reshape(-1, 3)}
    for colour in pr.track_colours(score_of(BAND)):
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in pixels  # at least its legend patch is drawn in the exact colour


def test_bar_lines_in_three_four():
    score = score_of([(0, False, "", [(0, 1440 * 3, 60)])], sigs=[(0, 3, 4)])
    assert pr.bar_lines(score) == [0.0, 1440.0, 2880.0, 4320.0]


def test_bar_lines_default_to_four_four_and_close_a_partial_bar():
    score = score_of([(0, False, "", [(0, 2000, 60)])], tpq=96, sigs=[])
    assert pr.bar_lines(score) == [0.0, 384.0 * 1, 768.0, 1152.0, 1536.0, 1920.0, 2304.0]


def test_time_signature_change_moves_the_bar_lines():
    score = score_of([(0, False, "", [(0, 7200, 60)])], sigs=[(0, 4, 4), (3840, 6, 8)])
    lines = pr.bar_lines(score)
    assert lines[:3] == [0.0, 1920.0, 3840.0]
    assert np.diff(lines[2:]).tolist() == [1440.0] * (len(lines) - 3)
    assert lines[-1] >= 7200 > lines[-2]


def test_note_names_put_middle_c_in_octave_four():
    assert [pr.note_name(p) for p in (60, 36, 61, 0)] == ["C4", "C2", "C#4", "C-1"]


def test_bar_positions_fall_on_the_drawn_bar_lines():
    score = score_of(BAND[:2] + [(0, False, "", [(i * 480, 240, 72) for i in range(14)])])
    png = pr.draw_pianoroll(score, width_px=1000)
    img = imread(io.BytesIO(png))[:, :, :3]  # (H, W, 3) in 0..1
    grey = np.all(np.abs(img - np.array([0x9A, 0x9A, 0xA6]) / 255) < 0.06, axis=2)  # bar-line colour
    columns = np.flatnonzero(grey.sum(axis=0) > img.shape[0] * 0.3)  # lines span the axes
    xs = [x * img.shape[1] for x in pr.bar_positions(score, width_px=1000)]
    assert len(xs) == 5  # 4 bars: 5 lines
    for x in xs:
        assert np.min(np.abs(columns - x)) <= 2
    assert pr.bar_positions(Score(480)) == []


def test_section_bands_are_drawn_and_change_the_picture():
    import io

    import numpy as np
    from PIL import Image

    from conftest import make_score
    from tunesmith.midi.pianoroll import draw_pianoroll

    score = make_score([(0, False, [(i * 480, 480, 60 + i % 5, 90) for i in range(32)])])
    plain = np.asarray(Image.open(io.BytesIO(draw_pianoroll(score))).convert("RGB")).astype(int)
    banded = np.asarray(Image.open(io.BytesIO(
        draw_pianoroll(score, sections=[("A", 0, 4), ("B", 4, 4)]))).convert("RGB")).astype(int)
    assert plain.shape == banded.shape
    changed = np.abs(plain - banded).sum(-1) > 30
    assert changed.mean() > 0.2  # the bands tint the note area
