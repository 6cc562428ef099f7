"""The listening table of `tunesmith evaluate`: what each system's pieces sound like, beside
real music cut to the same length.

Consumes Scores with what each was asked (evaluation.listening) and folders of real MIDI
(reference rows, cut to windows of the generations' bar count); produces a JSON-ready dict of
per-set means, a roles table (what each part role plays), realism against a reference set
(evaluation.realism: Yang-Lerch OA and a real-vs-generated classifier) and markdown lines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from symusic import Score

from tunesmith.attributes import Attributes
from tunesmith.errors import InputError, MidiError
from tunesmith.evaluation.listening import ROLES, Listening, listen
from tunesmith.evaluation.realism import realism

MIDI_SUFFIXES = (".mid", ".midi")
HEARD = 0.75  # an asked instrument "plays" when it sounds in at least 3 of 4 bars


# ---------------------------------------------------------------- reference windows


def windows(score: Score, bars: int, count: int = 1) -> list[Score]:
    """Up to `count` consecutive windows of `bars` bars from the bar of the first note on,
    each shifted to 0 with its tempo and meter; windows without notes are skipped."""
    from tunesmith.data.segments import window
    from tunesmith.tokenization import bar_starts

    onsets = [n.time for t in score.tracks for n in t.notes if n.time >= 0]
    if not onsets:
        return []
    starts = bar_starts(score)
    b0 = max(i for i, s in enumerate(starts) if s <= min(onsets))
    lines = bar_starts(score, b0 + bars * count + 1)
    out = []
    for k in range(count):
        lo, hi = lines[b0 + k * bars], lines[b0 + (k + 1) * bars]
        if lo >= score.end():
            break
        seg = window(score, lo, hi)
        if seg.note_num():
            out.append(seg)
    return out


def reference_set(folder: str | Path, bars: int, *, per_piece: int = 1, limit: int | None = None,
                  keep: Callable[[Path], bool] | None = None,
                  transform: Callable[[Score], Score] | None = None) -> list[Score]:
    """`bars`-bar windows of the MIDI files under a folder (sorted; unreadable files skipped);
    `keep` filters files, `transform` maps each score first (e.g. a drum-key remap)."""
    from tunesmith.midi import load_score

    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"reference folder {root} does not exist")
    files = sorted(f for f in root.rglob("*") if f.suffix.lower() in MIDI_SUFFIXES)
    files = [f for f in files if keep is None or keep(f)]
    out: list[Score] = []
    for f in files:
        if limit is not None and len(out) >= limit:
            break
        try:
            score = load_score(f)
        except MidiError:
            continue
        out += windows(transform(score) if transform else score, bars, per_piece)
    return out[:limit] if limit is not None else out


def parse_reference(spec: str) -> tuple[str, Path]:
    """"NAME=DIR" -> (NAME, DIR); a bare DIR is named after its folder."""
    name, sep, folder = spec.partition("=")
    if not sep:
        name, folder = Path(spec).name, spec
    if not name.strip() or not Path(folder).is_dir():
        raise InputError(f"listening reference {spec!r} is not NAME=DIR with an existing folder")
    return name.strip(), Path(folder)


# ---------------------------------------------------------------- set summaries


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None and not np.isnan(v)]
    return float(np.mean(kept)) if kept else None


def summarize_set(heard: Sequence[Listening]) -> dict[str, float | None]:
    """Means over pieces (groove over pieces with drums, asked over asked instruments)."""
    asked = [v for h in heard for v in h.asked.values()]
    grooves = [h.groove for h in heard if h.groove is not None]
    return {
        "asked_bars": _mean(asked),
        "asked_heard": _mean([float(v >= HEARD) for v in asked]),
        "asked_silent": _mean([float(v == 0.0) for v in asked]),
        "notes_per_bar": _mean([sum(p.notes_per_bar for p in h.parts) for h in heard]),
        "part_bars": _mean([p.bars_share for h in heard for p in h.parts]),
        "drums": _mean([float(h.groove is not None) for h in heard]),
        "drum_similarity": _mean([g.pattern_similarity for g in grooves]),
        "time_keeper": _mean([g.time_keeper for g in grooves]),
        "on_grid": _mean([g.on_grid for g in grooves]),
        "core_kit": _mean([g.core_kit for g in grooves]),
        "gm_keys": _mean([g.gm_keys for g in grooves]),
        "repeat": _mean([h.form.repeat for h in heard]),
        "near_repeat": _mean([h.form.near_repeat for h in heard]),
        "out_of_scale": _mean([h.harmony.out_of_scale for h in heard]),
        "chord_fit": _mean([h.harmony.chord_fit for h in heard]),
        "chord_change": _mean([h.harmony.chord_change for h in heard]),
    }


def roles_summary(heard: Sequence[Listening]) -> dict[str, dict[str, float | None]]:
    """Per part role: parts per piece, share of bars it sounds, notes per bar and notes per
    onset (chords against a line: band piano chord parts play 2.8, their leads 1.0)."""
    out = {}
    for role in ROLES:
        ps = [p for h in heard for p in h.parts if p.role == role]
        out[role] = {"per_piece": len(ps) / len(heard) if heard else None,
                     "bars": _mean([p.bars_share for p in ps]),
                     "notes_per_bar": _mean([p.notes_per_bar for p in ps]),
                     "notes_per_onset": _mean([p.polyphony for p in ps])}
    return out


def listen_all(pieces: Sequence[tuple[Score, Attributes | None, int | None]]) -> list[Listening]:
    """listen() each (score, asked, bars)."""
    return [listen(s, a, n) for s, a, n in pieces]


def listening_section(systems: Mapping[str, Sequence[Listening]], references: Mapping[str, Sequence[Listening]],
                      realism_reference: str | None = None, seed: int = 0,
                      unpooled: Sequence[str] = ()) -> dict[str, Any]:
    """Rows for systems and reference sets. Realism is against `realism_reference` (a key of
    `systems` or `references`; default: all references pooled but those in `unpooled`). A
    reference set's own row gives the realism of one random half of it against the other:
    the ceiling to aim at."""
    pooled = [h for name, hs in references.items() if name not in unpooled for h in hs]
    if realism_reference is None:
        ref_name, ref = "all references", pooled
    else:
        ref_name, ref = realism_reference, list({**references, **systems}[realism_reference])
    ref_feats = [h.features() for h in ref]
    rows: dict[str, Any] = {}
    for kind, sets in (("system", systems), ("reference", references)):
        for name, heard in sets.items():
            row: dict[str, Any] = {"kind": kind, "n": len(heard), **summarize_set(heard),
                                   "roles": roles_summary(heard)}
            feats = [h.features() for h in heard]
            own = name == realism_reference or (realism_reference is None and kind == "reference")
            res = _half_split(feats, seed) if own else (realism(feats, ref_feats, seed)
                                                         if feats and ref_feats else {})
            row.update({k: res.get(k) for k in ("mean_oa", "auc", "auc_std")}, oa=res.get("oa"))
            rows[name] = row
    return {"realism_reference": ref_name, "n_realism_reference": len(ref), "rows": rows}


def _half_split(feats: list[dict[str, float]], seed: int) -> dict[str, Any]:
    order = np.random.default_rng(seed).permutation(len(feats))
    half = len(feats) // 2
    if half < 2:
        return {}
    return realism([feats[i] for i in order[:half]], [feats[i] for i in order[half:]], seed)


# ---------------------------------------------------------------- markdown

# (title, key, scale, decimals)
LISTENING_COLUMNS = (
    ("Asked bars %", "asked_bars", 100.0, 0), ("Asked ≥ ¾ %", "asked_heard", 100.0, 0),
    ("Asked silent %", "asked_silent", 100.0, 0), ("Notes/bar", "notes_per_bar", 1.0, 1),
    ("Part bars %", "part_bars", 100.0, 0), ("Drums %", "drums", 100.0, 0),
    ("Drum sim", "drum_similarity", 1.0, 2), ("Time-keeper %", "time_keeper", 100.0, 0),
    ("On grid %", "on_grid", 100.0, 0), ("Core kit %", "core_kit", 100.0, 0),
    ("GM keys %", "gm_keys", 100.0, 0), ("Repeat %", "repeat", 100.0, 0),
    ("Near-repeat %", "near_repeat", 100.0, 0), ("Out-of-scale %", "out_of_scale", 100.0, 1),
    ("Chord fit %", "chord_fit", 100.0, 0), ("Chord change %", "chord_change", 100.0, 0),
    ("Mean OA ↑", "mean_oa", 1.0, 3), ("AUC (0.5 best)", "auc", 1.0, 2),
)

LISTENING_LEGEND = (
    "Asked bars: share of bars in which an asked instrument sounds; Asked ≥ ¾: asked instruments "
    "sounding in at least 3 of 4 bars; Asked silent: asked instruments that never play. Part bars: "
    "the same share over every part. Drum sim: Jaccard of a bar's (16th position, kit piece) set with "
    "the previous 1–2 bars (max); Time-keeper: bars with ≥ 2 hi-hat or ride hits; On grid: hits within "
    "a 128th note of the 16th / 16th-triplet grid; Core kit: hits on kick, snare, hi-hats, ride, crash; "
    "GM keys: hits on General MIDI drum keys 35–81 (drum columns over pieces with drums). Repeat / "
    "Near-repeat: non-empty bars whose notes (onset, pitch, duration class) match an earlier bar with "
    "Jaccard ≥ 0.9 / ≥ 0.6. Out-of-scale: pitched notes outside the asked key's scale (minor = natural "
    "minor plus the raised 7th, as the sampler; estimated key where none is asked); Chord fit: bar chords "
    "inside that scale; Chord change: consecutive bars whose chord differs. Mean OA: Yang–Lerch "
    "overlapping area per feature against the realism reference, averaged; AUC: cross-validated ROC AUC "
    "of a random forest telling the realism reference from the row (0.5 = indistinguishable). A "
    "reference row's OA and AUC compare two random halves of it.")


def _fmt(value: Any, scale: float, digits: int) -> str:
    return "—" if value is None else f"{value * scale:.{digits}f}"


def render_listening(section: dict[str, Any], titles: Mapping[str, str] | None = None) -> list[str]:
    """Markdown: the listening table, then the roles table."""
    titles = titles or {}
    rows = section["rows"]
    head = ["Set", "pieces"] + [c[0] for c in LISTENING_COLUMNS]
    lines = ["## Listening", "",
             f"Realism reference: {section['realism_reference']} ({section['n_realism_reference']} pieces). "
             + LISTENING_LEGEND, "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        label = titles.get(name, name) + (" (reference)" if row["kind"] == "reference" else "")
        cells = [label, str(row["n"])] + [_fmt(row.get(k), s, d) for _, k, s, d in LISTENING_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    title = "### What each part role plays (parts per piece / bars % / notes per bar / notes per onset)"
    lines += ["", title, "",
              "| Set | " + " | ".join(ROLES) + " |", "|" + "---|" * (len(ROLES) + 1)]
    for name, row in rows.items():
        cells = [titles.get(name, name)]
        for role in ROLES:
            r = row["roles"][role]
            cells.append("—" if not r["per_piece"] else
                         f"{r['per_piece']:.2f} / {_fmt(r['bars'], 100, 0)} / {_fmt(r['notes_per_bar'], 1, 1)}"
                         f" / {_fmt(r.get('notes_per_onset'), 1, 1)}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]
