"""Piano-roll pictures of a multitrack score (PNG), the figure style of MidiCaps/text2midi demos.

Consumes a symusic Score; produces PNG bytes: one colour per track, notes as bars (pitch over
bars and beats, velocity as opacity), drums as diamonds in their own lane below, bar lines with
numbers from the time signature map, note names on the y axis and a legend of instruments.
Drawn with matplotlib's object API (Figure + Agg canvas), so no global pyplot state.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import symusic
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tunesmith.attributes import INSTRUMENT_NAMES, PITCH_CLASSES
from tunesmith.errors import InputError
from tunesmith.midi.io import write_bytes_atomic
from tunesmith.theory import bar_starts

WIDTH_RANGE = (400, 8000)
DPI = 100
MAX_DRAWN_NOTES = 200_000  # as many as the loader admits; drawn as one collection per track
MAX_BAR_LINES = 10_001  # the loader's bar limit, plus the closing line
MAX_LEGEND = 24  # legend entries; more tracks end in "+ K more"
LEGEND_ROW_IN = 0.3  # inches per legend row
MIN_AXES_IN = 1.5  # the note axes keep at least this height; the picture grows if needed
# Okabe-Ito (colour-blind safe) first, then tab10 hues for larger ensembles.
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8C564B", "#F0C419",
    "#7F7F7F", "#17BECF", "#9467BD", "#BCBD22", "#1F3A93", "#E377C2", "#2CA02C", "#D62728",
)
# Short General MIDI percussion names for keys 35..81 (drum lane labels).
DRUM_KEY_NAMES = (
    "Kick 2", "Kick", "Side stick", "Snare", "Clap", "Snare 2", "Low floor tom", "Closed hi-hat",
    "High floor tom", "Pedal hi-hat", "Low tom", "Open hi-hat", "Low-mid tom", "High-mid tom",
    "Crash", "High tom", "Ride", "China", "Ride bell", "Tambourine", "Splash", "Cowbell",
    "Crash 2", "Vibraslap", "Ride 2", "High bongo", "Low bongo", "Mute conga", "Open conga",
    "Low conga", "High timbale", "Low timbale", "High agogo", "Low agogo", "Cabasa", "Maracas",
    "Short whistle", "Long whistle", "Short guiro", "Long guiro", "Claves", "High woodblock",
    "Low woodblock", "Mute cuica", "Open cuica", "Mute triangle", "Open triangle",
)
BLACK_KEYS = frozenset({1, 3, 6, 8, 10})
AXES_LEFT_IN, AXES_RIGHT_IN = 1.15, 0.15  # margins of the note axes (pitch labels on the left)
X_PAD = 0.15  # quarter notes of room left of the first and right of the last bar line


def legend_labels(score: symusic.Score) -> list[str]:
    """One label per track: its name if set, else "Drums" or the GM instrument name; repeated
    labels get a number ("Piano", "Piano 2") so every legend entry is distinguishable."""
    labels: list[str] = []
    for t in score.tracks:
        base = t.name.strip() or ("Drums" if t.is_drum else INSTRUMENT_NAMES[t.program])
        label, k = base, 1
        while label in labels:
            k += 1
            label = f"{base} {k}"
        labels.append(label)
    return labels


def track_colours(score: symusic.Score) -> list[str]:
    """A fixed palette colour per track, in track order (cycling after len(PALETTE))."""
    return [PALETTE[i % len(PALETTE)] for i in range(len(score.tracks))]


def bar_lines(score: symusic.Score) -> list[float]:
    """Bar boundaries in ticks (the bar grid of theory.bar_starts), from 0 to the first
    boundary at or after the last note's end."""
    end = max((n.end for t in score.tracks for n in t.notes), default=0)
    lines = bar_starts(score, end=end)  # the bars that start before the end
    if end > 0:
        lines = bar_starts(score, len(lines) + 1)  # and the line closing the last one
    if len(lines) > MAX_BAR_LINES:
        raise InputError(f"score is more than {MAX_BAR_LINES - 1:,} bars long: too long to draw")
    return [float(t) for t in lines]


def bar_positions(score: symusic.Score, width_px: int = 1600) -> list[float]:
    """Where `draw_pianoroll(score, width_px=width_px)` draws its bar lines: the x of each
    as a share of the picture's width (0 = left edge), so that a page can map a click on
    the picture to a bar. Empty for a score without notes (nothing is drawn)."""
    if not any(len(t.notes) for t in score.tracks):
        return []
    q = [t / score.ticks_per_quarter for t in bar_lines(score)]  # in quarter notes
    w = width_px / DPI
    left, right = AXES_LEFT_IN / w, 1 - AXES_RIGHT_IN / w
    lo, hi = q[0] - X_PAD, q[-1] + X_PAD
    return [left + (x - lo) / (hi - lo) * (right - left) for x in q]


def note_name(pitch: int) -> str:
    """Scientific pitch name with middle C (60) as C4."""
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"


def draw_pianoroll(
    score: symusic.Score,
    path: Path | None = None,
    *,
    title: str | None = None,
    width_px: int = 1600,
    sections: Sequence[tuple[str, int, int]] | None = None,
) -> bytes:
    """Draw the score as a piano roll and return the PNG; also write it atomically to `path`.
    `sections` (label, first bar 0-based, bars) are drawn as labelled bands over the notes."""
    if not WIDTH_RANGE[0] <= width_px <= WIDTH_RANGE[1]:
        raise InputError(f"picture width {width_px} px is out of range: allowed "
                         f"{WIDTH_RANGE[0]}..{WIDTH_RANGE[1]}")
    notes = score.note_num()
    if notes > MAX_DRAWN_NOTES:
        raise InputError(f"score has {notes:,} notes: the piano roll draws at most "
                         f"{MAX_DRAWN_NOTES:,}")
    w = width_px / DPI
    h = w * 0.5
    if notes:  # room for the legend above note axes of at least MIN_AXES_IN
        h = max(h, _head_in(title) + _legend_rows(score, w) * LEGEND_ROW_IN + 0.7 + MIN_AXES_IN)
    fig = Figure(figsize=(w, h), dpi=DPI)
    FigureCanvasAgg(fig)
    if title:  # margins in inches so that text keeps its size at any width
        fig.suptitle(title, fontsize=15, fontweight="bold", x=0.1 / fig.get_figwidth(),
                     y=1 - 0.1 / fig.get_figheight(), ha="left", va="top")
    if any(len(t.notes) for t in score.tracks):
        _draw_score(fig, score, head_in=_head_in(title), sections=sections or ())
    else:
        fig.text(0.5, 0.5, "no notes", ha="center", va="center", fontsize=28, color="#777777")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    png = buf.getvalue()
    if path is not None:
        write_bytes_atomic(path, png)
    return png


def _head_in(title: str | None) -> float:
    return 0.45 if title else 0.0


def _shown(score: symusic.Score) -> list[int]:
    """Tracks with notes, in the order the legend lists them: pitched, then drums."""
    tracks = list(score.tracks)
    return ([i for i, t in enumerate(tracks) if not t.is_drum and len(t.notes)]
            + [i for i, t in enumerate(tracks) if t.is_drum and len(t.notes)])


def _legend_columns(entries: int, width_in: float) -> int:
    return max(1, min(entries, int(width_in / 2.2)))


def _legend_rows(score: symusic.Score, width_in: float) -> int:
    entries = min(len(_shown(score)), MAX_LEGEND + 1)
    return -(-entries // _legend_columns(entries, width_in)) if entries else 0


def _draw_score(fig: Figure, score: symusic.Score, head_in: float,
                sections: Sequence[tuple[str, int, int]] = ()) -> None:
    """Note axes (pitched on top, drum lane below) under a legend `head_in` inches down."""
    tracks = list(score.tracks)
    pitched = [i for i, t in enumerate(tracks) if not t.is_drum and len(t.notes)]
    drums = [i for i, t in enumerate(tracks) if t.is_drum and len(t.notes)]
    drum_keys = sorted({n.pitch for i in drums for n in tracks[i].notes})
    lo, hi = _pitch_range(tracks, pitched)
    heights = ([max(hi - lo + 1, 12)] if pitched else []) + (
        [max(len(drum_keys) * 2.5, 0.18 * max(hi - lo + 1, 12), 4)] if drums else []
    )
    w, h = fig.get_figwidth(), fig.get_figheight()
    shown = pitched + drums
    entries = min(len(shown), MAX_LEGEND + 1)
    ncol = _legend_columns(entries, w)
    top = 1 - (head_in + 0.15 + LEGEND_ROW_IN * _legend_rows(score, w)) / h
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.06,
                            left=AXES_LEFT_IN / w, right=1 - AXES_RIGHT_IN / w, top=top,
                            bottom=0.55 / h)
    axes = [fig.add_subplot(grid[i, 0]) for i in range(len(heights))]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    colours, labels = track_colours(score), legend_labels(score)
    tpq = score.ticks_per_quarter
    if pitched:
        _draw_pitched(axes[0], [tracks[i] for i in pitched], [colours[i] for i in pitched], tpq)
        _pitch_axis(axes[0], lo, hi)
    if drums:
        _draw_drums(axes[-1], [tracks[i] for i in drums], [colours[i] for i in drums], drum_keys,
                    tpq)
    _bar_axis(axes, bar_lines(score), score, tpq)
    _section_bands(axes, bar_lines(score), sections, tpq)
    handles = [_legend_patch(colours[i]) for i in shown[:MAX_LEGEND]]
    names = [labels[i] for i in shown[:MAX_LEGEND]]
    if len(shown) > MAX_LEGEND:
        handles.append(_legend_patch("none"))
        names.append(f"+ {len(shown) - MAX_LEGEND} more")
    fig.legend(handles, names,
               loc="lower right", bbox_to_anchor=(1 - 0.15 / w, top), ncol=ncol,
               frameon=False, fontsize=11, handlelength=1.2, columnspacing=1.4,
               borderaxespad=0.2)


def _pitch_range(tracks: Sequence[Any], pitched: list[int]) -> tuple[int, int]:
    pitches = [n.pitch for i in pitched for n in tracks[i].notes]
    if not pitches:
        return 60, 72
    return max(min(pitches) - 2, 0), min(max(pitches) + 2, 127)


def _velocity_alpha(velocity: np.ndarray) -> np.ndarray:
    """Opacity from velocity: soft notes stay visible (0.3), loud ones are solid."""
    return 0.3 + 0.7 * np.clip(velocity, 1, 127) / 127.0


def _rgba(colour: str, alpha: np.ndarray) -> np.ndarray:
    from matplotlib.colors import to_rgba

    rgba = np.tile(to_rgba(colour), (len(alpha), 1))  # (N, 4)
    rgba[:, 3] = alpha
    return rgba


def _draw_pitched(ax: Axes, tracks: Sequence[Any], colours: list[str], tpq: int) -> None:
    from matplotlib.collections import PolyCollection

    for track, colour in zip(tracks, colours, strict=True):
        n = track.notes.numpy()  # dict of arrays: time, duration, pitch, velocity
        x0 = n["time"] / tpq
        x1 = x0 + n["duration"] / tpq
        y0, y1 = n["pitch"] - 0.41, n["pitch"] + 0.41
        verts = np.stack([np.stack([x0, y0], -1), np.stack([x0, y1], -1),
                          np.stack([x1, y1], -1), np.stack([x1, y0], -1)], 1)  # (N, 4, 2)
        # one collection per track: matplotlib draws 100k notes in seconds, not minutes
        ax.add_collection(PolyCollection(verts, facecolors=_rgba(colour, _velocity_alpha(  # type: ignore[arg-type]
            n["velocity"])), edgecolors=colour, linewidths=0.4, zorder=3))


def _draw_drums(ax: Axes, tracks: Sequence[Any], colours: list[str], keys: list[int],
                tpq: int) -> None:
    row = {k: i for i, k in enumerate(keys)}
    for track, colour in zip(tracks, colours, strict=True):
        n = track.notes.numpy()
        ys = [row[p] for p in n["pitch"]]
        ax.scatter(n["time"] / tpq, ys, marker="D", s=22, zorder=3, linewidths=0.4,
                   c=_rgba(colour, _velocity_alpha(n["velocity"])), edgecolors=colour)
    ax.set_yticks(range(len(keys)), [_drum_name(k) for k in keys], fontsize=8)
    ax.set_ylim(-0.7, len(keys) - 0.3)
    for i in range(0, len(keys), 2):
        ax.axhspan(i - 0.5, i + 0.5, color="#f3f3f3", zorder=0, lw=0)


def _drum_name(key: int) -> str:
    return DRUM_KEY_NAMES[key - 35] if 35 <= key <= 81 else f"Drum {key}"


def _pitch_axis(ax: Axes, lo: int, hi: int) -> None:
    for p in range(lo, hi + 1):
        if p % 12 in BLACK_KEYS:  # piano-roll look: shade the black-key rows
            ax.axhspan(p - 0.5, p + 0.5, color="#f1f1f4", zorder=0, lw=0)
        if p % 12 == 0:
            ax.axhline(p - 0.5, color="#c8c8d0", lw=0.6, zorder=1)
    step = 1 if hi - lo <= 14 else 12
    ticks = [p for p in range(lo, hi + 1) if p % step == 0]
    ax.set_yticks(ticks, [note_name(p) for p in ticks], fontsize=9)
    ax.set_ylim(lo - 0.5, hi + 0.5)
    ax.set_ylabel("pitch")


def _bar_axis(axes: list[Axes], lines: list[float], score: symusic.Score, tpq: int) -> None:
    """Bar lines (strong), beat lines (faint), bar numbers on the bottom axis."""
    q = [t / tpq for t in lines]  # in quarter notes
    every = max(1, int(np.ceil(len(q) / 40)))  # keep at most ~40 bar numbers
    beats = _beats(score, lines) if len(q) <= 64 else []
    for ax in axes:  # vlines: one collection whatever the number of bars
        if beats:
            ax.vlines(beats, 0, 1, transform=ax.get_xaxis_transform(), color="#e4e4e8",
                      lw=0.5, zorder=1)
        ax.vlines(q, 0, 1, transform=ax.get_xaxis_transform(), color="#9a9aa6", lw=0.9,
                  zorder=2)
        ax.set_xlim(q[0] - X_PAD, q[-1] + X_PAD)  # room for hits on the bar lines
        ax.tick_params(axis="x", length=0)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in axes[:-1]:
        ax.tick_params(axis="x", labelbottom=False)
    labelled = list(range(0, len(q) - 1, every))
    axes[-1].set_xticks([q[i] for i in labelled], [str(i + 1) for i in labelled], fontsize=9,
                        ha="left")
    axes[-1].set_xlabel("bar")


SECTION_COLOURS = ("#fff4d6", "#e3f0ff", "#e8f7e4", "#fbe4ef", "#efe8fb", "#e4f6f6")


def _section_bands(axes: list[Axes], lines: list[float], sections: Sequence[tuple[str, int, int]],
                   tpq: int) -> None:
    """A tinted band per section (one colour per section name; A' shares A's) with its label."""
    names: dict[str, str] = {}
    for label, first, bars in sections:
        if not 0 <= first < len(lines) - 1:
            continue
        x0, x1 = lines[first] / tpq, lines[min(first + bars, len(lines) - 1)] / tpq
        colour = names.setdefault(label.rstrip("'"), SECTION_COLOURS[len(names) % len(SECTION_COLOURS)])
        for ax in axes:
            ax.axvspan(x0, x1, color=colour, zorder=0.5, lw=0)
            ax.axvline(x0, color="#6b6b7a", lw=2.0, zorder=2.5)  # where the section starts
        axes[0].text((x0 + x1) / 2, 0.985, label, transform=axes[0].get_xaxis_transform(), ha="center",
                     va="top", fontsize=11, fontweight="bold", color="#444444", zorder=4)


def _beats(score: symusic.Score, lines: list[float]) -> list[float]:
    """Beat positions (quarters) inside each bar, from the time signature in force."""
    tpq = score.ticks_per_quarter
    sigs = sorted((ts.time, ts.denominator) for ts in score.time_signatures) or [(0, 4)]
    out: list[float] = []
    for a, b in zip(lines, lines[1:], strict=False):
        den = next((d for t, d in reversed(sigs) if t <= a), 4)
        step = tpq * 4 / max(den, 1)
        if not step > 0:
            continue
        out.extend(x / tpq for x in np.arange(a + step, b - 1e-6, step))
    return out


def _legend_patch(colour: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(facecolor=colour, edgecolor=colour)
