"""The gallery: 8 fixed prompts covering the main uses, generated with fixed seeds, so that a
reader sees what a model change does to the music and not only to a number.

Consumes a checkpoint; produces, in one folder, per prompt its MIDI, piano roll PNG and bar
self-similarity PNG, plus README.md (a metrics row per prompt from evaluation.listening, and
the pictures) and metrics.json. `tunesmith evaluate --gallery DIR` (or `make gallery`) runs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesmith.attributes import instrument_name
from tunesmith.evaluation.listening import Listening, draw_self_similarity, listen, self_similarity

if TYPE_CHECKING:
    from tunesmith.generation import SamplingConfig

# (file stem, prompt): pop, rock band, jazz trio, piano ballad, folk jig in 6/8, electronic,
# orchestral, waltz. Changing one changes the gallery's history: add, do not edit.
GALLERY: tuple[tuple[str, str], ...] = (
    ("1_pop", "a cheerful pop song with piano and drums in C major at 100 bpm, 8 bars"),
    ("2_rock", "energetic rock song with distorted guitar, bass and drums at 150 bpm in E minor, 8 bars"),
    ("3_jazz_trio", "a jazz trio with piano, acoustic bass and drums at 130 bpm in F major, 8 bars"),
    ("4_ballad", "a slow romantic piano ballad in E flat major, 8 bars"),
    ("5_jig", "an irish jig on fiddle in D major in 6/8, 8 bars"),
    ("6_electronic", "an electronic track with synth lead, synth bass, synth pad and drums at 128 bpm "
                     "in A minor, 8 bars"),
    ("7_orchestral", "an epic orchestral piece with strings, brass, timpani and flute in D minor, 8 bars"),
    ("8_waltz", "a gentle waltz for piano in 3/4 in G major, 8 bars"),
)
# Long pieces written along a section plan (infilling.form), drawn with their sections.
LONG: tuple[tuple[str, str], ...] = (
    ("9_long_pop", "a cheerful pop song with piano, electric bass and drums in G major at 110 bpm, "
                   "chords G D Em C, 64 bars"),
    ("10_long_rock", "a driving rock song with distorted guitar, bass and drums in E minor at 140 bpm, "
                     "64 bars"),
)
# A given melody arranged around (infilling.arrange): the first jig of O'Neill's Music of
# Ireland (1850; public domain, in the music21 corpus), for a folk band.
MELODY = ("11_melody_jig",
          "a lively folk band with fiddle, acoustic guitar, acoustic bass and drums in D major")


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}"


def gallery_row(heard: Listening) -> dict[str, Any]:
    """The metrics a gallery row shows (fractions; None where undefined)."""
    g = heard.groove
    return {
        "asked": {instrument_name(p): v for p, v in heard.asked.items()},
        "asked_notes_per_bar": {instrument_name(p): sum(x.notes_per_bar for x in heard.parts if x.program == p)
                                for p in heard.asked},
        "notes_per_bar": sum(p.notes_per_bar for p in heard.parts),
        "drum_similarity": g.pattern_similarity if g else None,
        "time_keeper": g.time_keeper if g else None,
        "repeat": heard.form.repeat, "near_repeat": heard.form.near_repeat,
        "key": heard.harmony.key, "out_of_scale": heard.harmony.out_of_scale,
        "chords": [c or "·" for c in heard.harmony.chords],
    }


def render_readme(rows: list[dict[str, Any]], command: str) -> str:
    head = ["#", "prompt", "asked instruments: bars % (notes/bar)", "notes/bar", "drum sim", "time-keeper %",
            "repeat %", "near-repeat %", "out-of-scale %", "bar chords"]
    lines = ["# Gallery", "",
             "Eight fixed prompts, two 64-bar pieces written along a section plan and a "
             "melody-guided arrangement, one piece each with a fixed seed, from the default model. "
             f"Regenerate with `{command}`. Columns as in the listening table of `tunesmith evaluate` "
             "(docs/eval/listening.md): bars in which each asked instrument sounds, notes per bar, "
             "drum pattern similarity to the previous 1–2 bars, bars with a hi-hat/ride time-keeper, "
             "bars repeating (Jaccard ≥ 0.9) or nearly repeating (≥ 0.6) an earlier bar, notes outside "
             "the asked key, the chord of each bar (· none).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(rows, 1):
        m = r["metrics"]
        asked = ", ".join(f"{k.lower()} {_pct(v)} ({m['asked_notes_per_bar'][k]:.1f}/bar)"
                          for k, v in m["asked"].items())
        sim = "—" if m["drum_similarity"] is None else f"{m['drum_similarity']:.2f}"
        lines.append(f"| {i} | {r['prompt']} | {asked} | {m['notes_per_bar']:.1f} | {sim} | "
                     f"{_pct(m['time_keeper'])} | {_pct(m['repeat'])} | {_pct(m['near_repeat'])} | "
                     f"{_pct(m['out_of_scale'])} | {' '.join(m['chords'])} |")
    lines.append("")
    for i, r in enumerate(rows, 1):
        lines += [f"## {i}. {r['prompt']}", "",
                  f"[MIDI]({r['midi']}) · seed {r['seed']}", "",
                  f"![piano roll]({r['pianoroll']})", "",
                  f"<img src=\"{r['ssm']}\" alt=\"bar self-similarity\" width=\"300\">", ""]
    return "\n".join(lines)


def _entry(out: Path, stem: str, prompt: str, score: Any, asked: Any, seed: int,
           sections: list[tuple[str, int, int]] | None = None, note: str = "") -> dict[str, Any]:
    from tunesmith.midi import save_midi
    from tunesmith.midi.pianoroll import draw_pianoroll

    save_midi(score, out / f"{stem}.mid")
    draw_pianoroll(score, out / f"{stem}.png", title=prompt, width_px=1400 if not sections else 2400,
                   sections=sections)
    heard = listen(score, asked, asked.bars)
    draw_self_similarity(self_similarity(score, heard.bars), out / f"{stem}_ssm.png",
                         title="bar self-similarity", size_px=420)
    return {"prompt": prompt + note, "seed": seed, "midi": f"{stem}.mid", "pianoroll": f"{stem}.png",
            "ssm": f"{stem}_ssm.png", "metrics": gallery_row(heard)}


def _long_pieces(out: Path, ckpt: Any, seed: int, sampling: SamplingConfig | None) -> list[dict[str, Any]]:
    from tunesmith.generation import bars_for, resolve
    from tunesmith.infilling.form import generate_with_form, plan_for

    rows = []
    for stem, prompt in LONG:
        request = resolve(prompt)
        plan = plan_for(bars_for(request.attributes))
        score = generate_with_form(request, plan, seed=seed, sampling=sampling, checkpoint=ckpt)
        bands = [(x.label, x.first, x.bars) for x in plan.sections]
        note = f" (plan: {plan.text()})"
        rows.append(_entry(out, stem, prompt, score, request.attributes, seed, bands, note))
    return rows


def oneills_jig() -> Any:
    """The first 6/8 tune of 64 notes or more in O'Neill's 1850 collection as a Score
    (music21 -> MIDI, cached)."""
    from tunesmith.data import music21_corpus as m21
    from tunesmith.data.corpora import _default_cache
    from tunesmith.midi import load_score

    for job in m21.list_jobs(["oneills1850"]):
        if "M: 6/8" not in (job.text or ""):
            continue
        for result in m21.convert_job(job, _default_cache()):
            score = None if result["error"] else load_score(result["midi"])
            sig = score.time_signatures[0] if score is not None and len(score.time_signatures) else None
            if score is not None and sig is not None and (sig.numerator, sig.denominator) == (6, 8) \
                    and score.note_num() >= 64:
                return score
    raise LookupError("no jig of 64 notes or more in O'Neill's collection")


def _melody_piece(out: Path, ckpt: Any, seed: int, sampling: SamplingConfig | None) -> dict[str, Any]:
    from tunesmith.attributes import Attributes
    from tunesmith.generation import resolve
    from tunesmith.infilling import arrange

    stem, prompt = MELODY
    request = resolve(prompt)
    got = arrange(oneills_jig(), request.attributes, seed=seed, sampling=sampling, checkpoint=ckpt)
    from tunesmith.theory import bar_starts

    asked = request.attributes.merged(Attributes(bars=len(bar_starts(got.score))))
    note = f" (melody: O'Neill's jig, {'; '.join(got.notes) or 'in key'})"
    return _entry(out, stem, prompt, got.score, asked, seed, note=note)


def write_gallery(out_dir: str | Path, *, checkpoint_path: str | Path | None = None, seed: int = 0,
                  sampling: SamplingConfig | None = None,
                  command: str = "tunesmith evaluate --gallery docs/gallery",
                  extended: bool = True) -> list[dict[str, Any]]:
    """Generate the gallery's pieces into `out_dir` (files are overwritten) and write its
    README.md and metrics.json; return the rows. `extended` adds the long planned pieces and
    the melody-guided one."""
    from tunesmith.generation import get_checkpoint, resolve
    from tunesmith.infilling.form import write_pieces
    from tunesmith.midi import save_midi
    from tunesmith.midi.pianoroll import draw_pianoroll

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = get_checkpoint(str(checkpoint_path) if checkpoint_path else None)
    rows = []
    for stem, prompt in GALLERY:
        piece = write_pieces(resolve(prompt), seed=seed, checkpoint=ckpt, sampling=sampling)[0]
        bars = piece.attributes.bars
        save_midi(piece.score, out / f"{stem}.mid")
        draw_pianoroll(piece.score, out / f"{stem}.png", title=prompt, width_px=1400)
        heard = listen(piece.score, piece.attributes, bars)
        draw_self_similarity(self_similarity(piece.score, heard.bars), out / f"{stem}_ssm.png",
                             title="bar self-similarity", size_px=420)
        rows.append({"prompt": prompt, "seed": seed, "midi": f"{stem}.mid", "pianoroll": f"{stem}.png",
                     "ssm": f"{stem}_ssm.png", "metrics": gallery_row(heard)})
    if extended:
        rows += _long_pieces(out, ckpt, seed, sampling) + [_melody_piece(out, ckpt, seed, sampling)]
    (out / "metrics.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    (out / "README.md").write_text(render_readme(rows, command))
    return rows
