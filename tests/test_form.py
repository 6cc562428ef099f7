"""Form: section plans, bar copies, and a planned piece with the tiny debug model."""

from __future__ import annotations

import pytest

from conftest import make_score
from tunesmith.attributes import DRUMS, Attributes
from tunesmith.errors import InputError
from tunesmith.generation import SamplingConfig, resolve
from tunesmith.infilling.form import copy_bars, generate_with_form, lead_of, parse_form, plan_for
from tunesmith.theory import bar_starts

Q = 480


def test_plans_by_length_and_by_form():
    assert plan_for(8).text() == "A 1-4 A' 5-8"
    assert plan_for(16).text() == "A 1-4 A' 5-8 B 9-12 A' 13-16"
    long = plan_for(40)
    assert [s.label for s in long.sections] == ["intro", "verse", "chorus", "verse", "chorus", "outro"]
    assert long.bars == 40 and long.sections[0].bars == 4 and long.sections[-1].bars == 4
    assert plan_for(10, "ABA").text() == "A 1-3 B 4-6 A' 7-10"
    assert parse_form("intro verse chorus") == ["intro", "verse", "chorus"]
    with pytest.raises(InputError, match="unknown"):
        parse_form("intro drop chorus")
    with pytest.raises(InputError, match="cannot hold"):
        plan_for(3, "AABA")


def test_copy_bars_moves_a_section():
    notes = [(b * 4 * Q + i * Q, Q, 60 + b, 80) for b in range(2) for i in range(4)]
    score = make_score([(0, False, notes)])
    out = copy_bars(score, 0, 1, 2)  # bar 1 again as bar 3
    got = sorted((n.time, n.pitch) for n in out.tracks[0].notes)
    assert got[-4:] == [(8 * Q + i * Q, 60) for i in range(4)]
    assert got[:8] == sorted((t, p) for t, _, p, _ in notes)


def test_lead_is_the_top_pitched_part():
    low = [(i * Q, Q, 40, 80) for i in range(4)]
    high = [(i * Q, Q, 76, 80) for i in range(4)]
    score = make_score([(33, False, low), (0, False, [(0, Q, 60, 80), (Q, Q, 62, 80)]), (73, False, high),
                        (0, True, low)])
    assert lead_of(score, 0, 1) == 73


def test_a_planned_piece_repeats_its_groove(debug_checkpoint):
    request = resolve("", Attributes(instruments=(0, 33, DRUMS), tempo=100, time_signature="4/4", bars=8))
    plan = plan_for(8, "AA")
    score = generate_with_form(request, plan, seed=3, sampling=SamplingConfig(decoder="numpy"),
                               checkpoint=debug_checkpoint)
    starts = bar_starts(score, 9)
    assert score.end() <= starts[8] + 4 * Q

    def drums(lo: int, hi: int) -> list[tuple[int, int]]:
        return sorted((n.time - starts[lo], n.pitch) for t in score.tracks if t.is_drum for n in t.notes
                      if starts[lo] <= n.time < starts[hi])

    assert drums(0, 4) == drums(4, 8)  # the return keeps the drums of its first time


def test_meter_at_follows_the_time_signature_map():
    from symusic import TimeSignature

    from tunesmith.theory import meter_at

    score = make_score([(0, False, [(0, Q, 60, 80)])], ts=(6, 8))
    score.time_signatures.append(TimeSignature(4 * Q * 3, 3, 4))
    assert meter_at(score) == "6/8" and meter_at(score, 4 * Q * 3) == "3/4"
    score.time_signatures.clear()
    assert meter_at(score, 100) == "4/4"


def test_cli_refuses_a_bad_form_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from tunesmith.cli import app

    result = CliRunner().invoke(app, ["generate", "pop", "--form", "AXB1", "-o", str(tmp_path / "x.mid")])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: form 'AXB1' is invalid: write letters such as AABA or words "
                                     "such as 'intro verse chorus outro'")
    assert not (tmp_path / "x.mid").exists()


def test_each_section_step_gets_the_chords_of_its_own_bars(monkeypatch):
    from tunesmith.infilling import form

    calls: list[tuple[str, int, tuple[str, ...]]] = []
    lead = [(b * 4 * Q + i * Q, Q, 72, 80) for b in range(16) for i in range(4)]
    piece = make_score([(0, False, lead)])

    def fake_continue(score, bars, *, chords, **_):  # type: ignore[no-untyped-def]
        calls.append(("continue", len(calls), tuple(chords)))
        return score

    def fake_infill(score, span, tracks, *, chords, **_):  # type: ignore[no-untyped-def]
        calls.append(("infill", span[0] - 1, tuple(chords)))
        return score

    monkeypatch.setattr(form, "continue_piece", fake_continue)
    monkeypatch.setattr(form, "infill", fake_infill)
    progression = ("C", "G", "Am", "F")
    form.compose(Attributes(chords=progression), plan_for(16), generate_first=lambda a: piece)
    infills = [(first, chords) for kind, first, chords in calls if kind == "infill"]
    assert [first for first, _ in infills] == [5, 13]  # A' (bars 5-8, 13-16) after its first bar
    for first, chords in infills:
        assert chords[0] == progression[first % 4]  # bar 6 (0-based 5) plays G
    assert [c for kind, _, c in calls if kind == "continue"] == [progression]  # B starts at bar 9


def test_lead_track_skips_sparse_parts_bass_and_other_bars():
    from tunesmith.theory import lead_track

    busy = [(i * Q // 2, Q // 2, 67, 80) for i in range(16)]  # bars 1-2, 8 notes a bar
    sparse_high = [(0, Q, 84, 80), (Q, Q, 86, 80)]  # 2 notes: fewer than a quarter of 16
    late_high = [(8 * Q + i * Q, Q, 90, 80) for i in range(4)]  # bar 3 only
    score = make_score([(0, False, busy), (73, False, sparse_high), (80, False, late_high),
                        (33, False, [(i * Q, Q, 40, 80) for i in range(12)])])
    assert lead_track(score, 0, 2) == 0
    assert lead_track(score, 2, 1) == 2
    bass_only = make_score([(33, False, [(i * Q, Q, 40, 80) for i in range(4)]), (0, True, [(0, Q, 36, 90)])])
    assert lead_track(bass_only) == 0 and lead_of(bass_only, 0, 1) is None
    assert lead_track(make_score([(0, True, [(0, Q, 36, 90), (Q, Q, 38, 90)])])) is None


def test_a_return_refills_its_lead_when_the_opening_ends_in_silence(debug_checkpoint):
    from tunesmith.infilling import form, infill

    # the opening's last bar is silent: copied, the piece's notes stop a bar before its plan does
    lead = [(b * 4 * Q + i * Q, Q, 72 + i, 80) for b in range(3) for i in range(4)]
    bass = [(b * 4 * Q, 2 * Q, 40, 80) for b in range(3)]
    opening = make_score([(73, False, lead), (33, False, bass)])
    cfg = SamplingConfig(decoder="numpy")
    piece = form.compose(Attributes(), plan_for(8), generate_first=lambda a: opening, sampling=cfg,
                         checkpoint=debug_checkpoint)
    assert len(bar_starts(piece)) <= 8
    with pytest.raises(InputError, match="outside the piece"):  # without the planned length
        infill(opening, (4, 4), [73], sampling=cfg, checkpoint=debug_checkpoint)
    filled = infill(opening, (4, 4), [73], sampling=cfg, checkpoint=debug_checkpoint, length=4)
    assert [n.time for t in filled.tracks for n in t.notes if n.time < 3 * 4 * Q] == \
        [n.time for t in opening.tracks for n in t.notes]


def test_parts_written_track_by_track_are_told_their_roles_and_notes_a_bar(monkeypatch, debug_checkpoint):
    from tunesmith.infilling import form

    told: list[Attributes] = []

    def fake_fill(ckpt, score, program, first, n, controls, steer, *args):  # type: ignore[no-untyped-def]
        told.append(steer)
        return score

    monkeypatch.setattr(form, "fill_track", fake_fill)
    request = resolve("a trumpet melody with piano and bass", Attributes(bars=2))
    form.generate_by_track(request, sampling=SamplingConfig(decoder="numpy", drums="model"),
                           checkpoint=debug_checkpoint)
    assert len(told) == 2  # the piano and the bass, after the trumpet written alone
    for steer in told:
        assert steer.roles == request.attributes.roles and steer.densities == request.attributes.densities
    assert form._steer(request.attributes).densities == request.attributes.densities  # returns, new sections
