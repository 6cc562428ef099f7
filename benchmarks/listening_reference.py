"""Listening table of the default model on the free-text prompts beside real music it never trained on.

Reference rows, every piece cut to windows of `--bars` bars from its first note:
- POP909 songs whose id hashes to the test split (data.build.split_of), their first downbeat
  moved onto a bar line (beat_midi.txt), 2 windows each;
- Groove MIDI beats held out under both splits the project has used (the dataset's own
  `split` column is test and the id hash is not train), Roland kit keys mapped to General MIDI,
  up to 4 windows each;
- the Freedoom and OpenMSX multitrack pieces (never in any training set), 1 window each;
- Midimancy rock/pop band songs of artists in the test split, 2 windows each (up to 120).
The generated row: one piece per prompt of docs/eval/free_prompts.jsonl, seed = row index (as
`tunesmith evaluate`), kept in --midi-dir and reused. Realism (OA, AUC) of the generated row is
against all reference windows pooled; each reference row's compares two halves of itself.

    python benchmarks/listening_reference.py --data ../shared/data > docs/eval/listening_table.md
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from symusic import Score, Track

from tunesmith.data.build import split_of
from tunesmith.data.clean import groove_to_gm
from tunesmith.data.corpora import open_corpus, pop909_meter
from tunesmith.data.segments import piece_split
from tunesmith.evaluation.listening import Listening, listen
from tunesmith.evaluation.listening_report import listening_section, reference_set, render_listening, windows
from tunesmith.generation import SamplingConfig
from tunesmith.generation.sampler import DRUM_SOURCES, TEXTURES
from tunesmith.midi import load_score


def on_downbeat(score: Score, folder: Path) -> Score:
    """POP909's notes follow the recording: its first downbeat (beat_midi.txt, third column)
    lies some ticks after 0, e.g. 40 ticks in song 001, where 4/4 from tick 0 puts 0.6 % of the
    onsets on the 16th grid. Shifted later so that downbeat falls on a bar line (96 % on the
    grid in 001), nothing lost before it."""
    rows = [line.split() for line in (folder / "beat_midi.txt").read_text().splitlines() if line.strip()]
    first = next((float(r[0]) for r in rows if len(r) >= 3 and float(r[2]) == 1.0), None)
    if first is None or not len(score.tempos):
        return score
    tick = round(first * score.tempos[0].qpm / 60 * score.ticks_per_quarter)
    bar = 4 * score.ticks_per_quarter
    return score.shift_time((bar - tick % bar) % bar)


def pop909_test(root: Path, bars: int) -> list[Score]:
    ids = [json.loads(line)["id"] for line in (root / "labels.jsonl").read_text().splitlines() if line.strip()]
    out = []
    for song in ids:
        if split_of(f"pop909/{song}") == "test":
            score = pop909_meter(load_score(root / str(song) / f"{song}.mid"))
            out += windows(on_downbeat(score, root / str(song)), bars, 2)
    return out


def groove_test(root: Path, bars: int) -> list[Score]:
    out = []
    with (root / "info.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            piece_id = f"groove/{Path(row['midi_filename']).with_suffix('').as_posix()}"
            if row["split"] == "test" and split_of(piece_id) != "train" and row["beat_type"] == "beat":
                out += windows(groove_to_gm(load_score(root / row["midi_filename"])), bars, 4)
    return out


def band_test(archive: Path, bars: int, limit: int = 60) -> list[Score]:
    """Rock and pop band songs of Midimancy whose artist falls in the test split (never
    trained on), 2 windows each."""
    out = []
    for piece in open_corpus(f"midimancy:{archive}"):
        if piece.labels.get("genre") in ("rock", "pop") and piece_split(piece.id, piece.labels) == "test":
            out += windows(piece.score, bars, 2)
            if len(out) >= 2 * limit:
                break
    return out


def as_one_part(score: Score, program: int = 0) -> Score:
    """Every pitched track of `score` merged into one part of `program`, drums dropped: a song
    as one player plays it alone."""
    out = score.copy()
    notes = [n for t in out.tracks if not t.is_drum for n in t.notes]
    out.tracks = out.tracks.filter(lambda t: False, inplace=False)
    part = Track(name="solo", program=program, is_drum=False)
    part.notes.extend(sorted(notes, key=lambda n: (n.time, n.pitch)))
    out.tracks.append(part)
    return out


def nottingham_melodies(root: Path, bars: int, limit: int = 60) -> list[Score]:
    """The melody (first track) of Nottingham tunes in the test split, alone: a folk tune as a
    fiddler plays it, 1 window each."""
    out = []
    for piece in open_corpus(f"nottingham:{root}"):
        if piece_split(piece.id, piece.labels) == "test" and len(piece.score.tracks):
            score = piece.score.copy()
            score.tracks = score.tracks.filter(lambda t: False, inplace=False)
            score.tracks.append(piece.score.tracks[0].copy())
            out += windows(score, bars, 1)
            if len(out) >= limit:
                break
    return out


def solo_prompts(heard: list[Listening]) -> tuple[list[Listening], list[Listening]]:
    """(pieces of one pitched part, the others): a solo's part plays tune and harmony at once."""
    solo: list[Listening] = []
    band: list[Listening] = []
    for h in heard:
        (solo if sum(p.role != "drums" for p in h.parts) == 1 and h.groove is None else band).append(h)
    return solo, band


def generated(prompts: Path, midi_dir: Path, model: str | None, order: str = "interleaved",
              sampling: SamplingConfig | None = None, form: bool = True, seeds: int = 1,
              roles: bool = True) -> list[Listening]:
    """`seeds` pieces per prompt (seeds row, row + 1000, ...), generated once and read back
    from disk, as the CLI writes them (infilling.form.write_pieces: 8 bars and more along a
    section plan), or in one window without `form`; `order` trackwise writes one instrument
    after another; without `roles` no part's role or notes a bar is said (as before them)."""
    from tunesmith.evaluation.report import read_prompts
    from tunesmith.generation import bars_for, get_checkpoint, resolve
    from tunesmith.infilling.form import one_window, write_pieces
    from tunesmith.midi import save_midi

    midi_dir.mkdir(parents=True, exist_ok=True)
    ckpt = None
    cfg = replace(sampling or SamplingConfig(), order=order)
    heard = []
    for k in range(seeds):
        for p in read_prompts(prompts):
            path = midi_dir / f"{p.index}_{k}.mid"
            if not path.is_file():
                ckpt = ckpt or get_checkpoint(model)
                write = write_pieces if form else one_window
                seed = p.index + 1000 * k
                request = resolve(p.caption, p.explicit)
                if not roles:
                    unsaid = replace(request.attributes, roles=None, densities=None)
                    request = replace(request, attributes=unsaid)
                piece = write(request, seed=seed, checkpoint=ckpt, sampling=cfg)[0]
                save_midi(piece.score, path)
            heard.append(listen(load_score(path), p.target, bars_for(p.target)))
    return heard


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder of the shared corpora")
    ap.add_argument("--bars", type=int, default=8)
    ap.add_argument("--prompts", type=Path, default=Path("docs/eval/free_prompts.jsonl"))
    ap.add_argument("--midi-dir", type=Path, default=Path("runs/listening/free_midi"))
    ap.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    ap.add_argument("--json", type=Path, default=None, help="also write the section as JSON here")
    ap.add_argument("--order", choices=("interleaved", "trackwise"), default=SamplingConfig().order,
                    help="how the generated row's pieces are written")
    ap.add_argument("--one-window", action="store_true",
                    help="write each piece in one window (no section plan), as before form for 8 bars")
    ap.add_argument("--temperature", type=float, default=None, help="default: SamplingConfig's")
    ap.add_argument("--drum-temperature", type=float, default=None, help="default: SamplingConfig's")
    ap.add_argument("--groove", type=float, default=None, help="default: SamplingConfig's")
    ap.add_argument("--coverage", type=float, default=None, help="default: SamplingConfig's")
    ap.add_argument("--drums", choices=DRUM_SOURCES, default=None, help="default: SamplingConfig's")
    ap.add_argument("--texture", choices=TEXTURES, default=None, help="default: SamplingConfig's")
    ap.add_argument("--key-profile", type=float, default=None, help="default: SamplingConfig's")
    ap.add_argument("--seeds", type=int, default=1, help="pieces per prompt (seeds row, row + 1000, ...)")
    ap.add_argument("--no-roles", action="store_true",
                    help="say no part's role or notes a bar (a model trained with them)")
    args = ap.parse_args()
    given = {"temperature": args.temperature, "drum_temperature": args.drum_temperature,
             "groove": args.groove, "coverage": args.coverage, "drums": args.drums, "texture": args.texture,
             "key_profile": args.key_profile}
    sampling = replace(SamplingConfig(), **{k: v for k, v in given.items() if v is not None})

    start = time.perf_counter()
    refs = {
        "POP909 held-out": pop909_test(args.data / "pop909", args.bars),
        "Groove held-out": groove_test(args.data / "groove", args.bars),
        "Freedoom": reference_set(args.data / "freedoom", args.bars),
        "OpenMSX": reference_set(args.data / "openmsx", args.bars),
        "Band songs held-out": band_test(args.data / "midimancy.tar.xz", args.bars),
    }
    # solo references, for the pieces of one part (their roles only: out of the realism pool,
    # so the mean OA stays comparable with earlier tables)
    solos = {
        "POP909 held-out as piano solos": [as_one_part(s) for s in refs["POP909 held-out"]],
        "Nottingham held-out, melody alone": nottingham_melodies(args.data / "nottingham", args.bars),
    }
    heard_refs = {name: [listen(s, None, args.bars) for s in scores]
                  for name, scores in {**refs, **solos}.items()}
    row = (f"tunesmith (free text, {args.order}{', one window' if args.one_window else ''}"
           f"{', no roles said' if args.no_roles else ''})")
    heard = generated(args.prompts, args.midi_dir, args.model, args.order, sampling, not args.one_window,
                      args.seeds, not args.no_roles)
    solo, band = solo_prompts(heard)
    systems = {row: heard, f"{row}: solo prompts": solo, f"{row}: band prompts": band}
    section = listening_section(systems, heard_refs, unpooled=tuple(solos))
    if args.json:
        args.json.write_text(json.dumps(section, indent=1, default=str))
    print("\n".join(render_listening(section)))
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
