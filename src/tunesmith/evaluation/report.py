"""`tunesmith evaluate`: prompts -> MIDI files -> every metric -> a report like the papers'.

Consumes a MidiCaps-style JSONL of prompts and a checkpoint (or a folder of MIDI files named
by row index); produces OUT/report.md, OUT/metrics.json and OUT/plots/*.png. Attributes are
detected from the MIDI files on disk (captions.features), never from tokens. The table rows
follow MidiCaps / text2midi / MG2 (ground truth, shuffled captions, unconditional, model);
the columns are CLMP score, Fréchet distance, compression ratio and prompt adherence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from symusic import Score

from tunesmith.attributes import Attributes
from tunesmith.errors import ConfigError, InputError, MidiError, PromptError, TunesmithError
from tunesmith.evaluation.adherence import adherence_row, aggregate, recall_by_origin
from tunesmith.evaluation.compression import compression_ratio
from tunesmith.evaluation.frechet import frechet_bootstrap, frechet_distance
from tunesmith.evaluation.statistics import FEATURES, feature_distances
from tunesmith.progress import progress

if TYPE_CHECKING:  # generation (torch, the model) loads only when pieces are generated
    from tunesmith.generation import SamplingConfig

MODEL, UNCONDITIONAL, TRUTH, SHUFFLED = "model", "unconditional", "ground_truth", "shuffled"
ROW_TITLES = {TRUTH: "Ground truth", SHUFFLED: "Ground truth, shuffled captions",
              UNCONDITIONAL: "Unconditional generation", MODEL: "Our model"}
MIDI_SUFFIXES = (".mid", ".midi")


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation. `midi_dir` replaces generation by files named
    `<row>.mid` (or `<row>_<k>.mid` for num > 1); `midi_root` resolves the prompts'
    ground-truth paths (default: the prompts file's folder); `reference_dir` is the reference
    set for statistics and FD when the prompts carry no ground truth."""

    checkpoint_path: Path | None = None
    num: int = 1
    midi_dir: Path | None = None
    limit: int | None = None
    seed: int = 0
    clmp_path: Path | None = None
    midi_root: Path | None = None
    reference_dir: Path | None = None
    unconditional: bool = True
    bootstrap: int = 200
    sampling: SamplingConfig | None = None  # None: generation's defaults
    progress: bool = True
    # GM programs the default model's corpora really contain (POP909 piano, folk fiddle and
    # flute, Groove drums); other instruments were learned from re-voiced parts only
    native_programs: tuple[int, ...] = (0, 40, 73, 128)
    # (name, folder) of real MIDI for the listening table's reference rows, cut to windows of
    # the generations' bar count
    listening_references: tuple[tuple[str, Path], ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.num <= 64:
            raise ConfigError(f"num {self.num} is out of range: allowed 1..64 pieces per prompt")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit {self.limit} is invalid: allowed >= 1, or none")
        if not 2 <= self.bootstrap <= 10_000:
            raise ConfigError(f"bootstrap {self.bootstrap} is out of range: allowed 2..10000")
        for name in ("midi_dir", "reference_dir", "midi_root"):
            folder = getattr(self, name)
            if folder is not None and not Path(folder).is_dir():
                raise ConfigError(f"{name} {folder} is not a folder")
        for name, folder in self.listening_references:
            if not Path(folder).is_dir():
                raise ConfigError(f"listening reference {name}={folder}: {folder} is not a folder")


# ---------------------------------------------------------------- prompts


@dataclass(frozen=True)
class Prompt:
    """One row: its caption, the explicit fields (what generation is told besides the text),
    the target the piece is scored against, and the ground-truth MIDI path if any."""

    index: int
    caption: str
    explicit: Attributes
    target: Attributes
    truth: Path | None = None
    notes: tuple[str, ...] = ()


# MidiCaps row fields -> the request fields they fill (captions.ATTRIBUTE_FIELDS)
ROW_FIELDS = {"key": "key", "tempo": "tempo", "time_signature": "time_signature",
              "instrument_summary": "instruments", "bars": "bars", "duration": "seconds"}


def _explicit_fields(row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Attribute fields of a MidiCaps row, read as every front-end reads them
    (captions.parse_fields), each alone: a bad one is dropped with a note."""
    from tunesmith.captions import parse_fields

    out: dict[str, Any] = {}
    notes = []
    for name, attr in ROW_FIELDS.items():
        if row.get(name) in (None, "", []):
            continue
        try:
            out[attr] = getattr(parse_fields({attr: row[name]}), attr)
        except TunesmithError as exc:
            notes.append(f"{name} {row[name]!r} ignored: {exc}")
    if row.get("chord_summary"):
        out["chords"] = tuple(str(c) for c in row["chord_summary"])
    return out, notes


def prompt_from_row(row: dict[str, Any], index: int, root: Path) -> Prompt:
    """A Prompt from one JSONL row; absent fields take their target from parse(caption).
    A row with bars asks for them; its duration (the ground truth's) is a target only, as a
    request gives one length."""
    from tunesmith.captions import parse

    caption = row.get("caption", "")
    if not isinstance(caption, str):
        raise InputError(f"prompt row {index}: caption {caption!r} is not a string")
    fields_, notes = _explicit_fields(row)
    asked = {k: v for k, v in fields_.items() if not (k == "seconds" and "bars" in fields_)}
    explicit = Attributes(**asked)
    try:
        parsed = parse(caption)
    except PromptError as exc:
        parsed, notes = Attributes(), [*notes, f"caption not parsed: {exc}"]
    location = row.get("midi") or row.get("location")
    truth = root / location if location else None
    return Prompt(index, caption, explicit, parsed.merged(Attributes(**fields_)), truth,
                  tuple(notes))


def read_prompts(path: str | Path, limit: int | None = None,
                 midi_root: Path | None = None) -> list[Prompt]:
    """The first `limit` prompts of a JSONL file (rows are numbered from 0)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"prompts file {path} does not exist")
    prompts: list[Prompt] = []
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if limit is not None and len(prompts) >= limit:
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} line {i + 1} is not JSON: {exc.msg}") from exc
            prompts.append(prompt_from_row(row, len(prompts), midi_root or path.parent))
    if not prompts:
        raise InputError(f"prompts file {path} holds no prompt")
    return prompts


def write_prompts(build_dir: str | Path, out_jsonl: str | Path, n: int | None = None) -> int:
    """Write up to `n` held-out prompts (the test split of a data build, evenly spread over
    it so every corpus is drawn) as MidiCaps-style rows with the ground-truth MIDI path;
    return how many were written."""
    build_dir = Path(build_dir)
    pieces = build_dir / "pieces.jsonl"
    if not pieces.is_file():
        raise InputError(f"{build_dir}: not a data build (no pieces.jsonl)")
    rows: list[dict[str, Any]] = []
    for line in pieces.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["split"] != "test":
            continue
        f = r["features"]
        midi = Path(r["midi"]) if Path(r["midi"]).is_absolute() else build_dir / r["midi"]
        rows.append({
            "caption": r["caption"], "key": f.get("key"), "tempo": f.get("tempo"),
            "time_signature": f.get("time_signature"), "instrument_summary": f.get("instruments"),
            "chord_summary": f.get("chords"), "midi": str(midi.resolve()), "id": r["id"],
        })
    if n is not None and n < len(rows):
        rows = [rows[int(i)] for i in np.linspace(0, len(rows) - 1, n).round()]
    out = Path(out_jsonl)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)


def write_window_prompts(build_dir: str | Path, out_jsonl: str | Path, n: int, bars: int = 8,
                         seed: int = 0) -> int:
    """Held-out prompts of text-to-MIDI length: the first `bars` bars with notes of `n`
    held-out pieces of a data build (spread over it), each window written as the ground-truth MIDI
    next to `out_jsonl` and captioned from its own features, MidiCaps-style."""
    from tunesmith.captions import caption, features
    from tunesmith.data.build import split_of
    from tunesmith.data.corpora import pop909_meter
    from tunesmith.data.segments import window
    from tunesmith.midi import load_score, save_midi
    from tunesmith.tokenization import bar_starts

    out = Path(out_jsonl)
    truth_dir = out.parent / f"{out.stem}_midi"
    truth_dir.mkdir(parents=True, exist_ok=True)
    pieces = Path(build_dir) / "pieces.jsonl"
    if not pieces.is_file():
        raise InputError(f"{build_dir}: not a data build (no pieces.jsonl)")
    test = [json.loads(x) for x in pieces.read_text().splitlines()]
    # held out from the decoder: its windows are split by the id hash alone (Groove's own
    # split, which the build follows, differs), and valid pieces only ever gave a loss figure
    test = [r for r in test if split_of(r["id"]) != "train" and "~" not in r["id"]]
    picks = [test[int(i)] for i in np.linspace(0, len(test) - 1, min(n, len(test))).round()]
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for r in picks:
        score = load_score(Path(build_dir) / r["midi"] if not Path(r["midi"]).is_absolute() else r["midi"])
        # builds made before the reader fixed POP909's meter point at the original files
        score = pop909_meter(score) if r["corpus"] == "pop909" else score
        starts = bar_starts(score, None)
        first_note = min(n.time for t in score.tracks for n in t.notes)
        b0 = max(i for i, s in enumerate(starts) if s <= first_note)
        ends = bar_starts(score, b0 + bars + 1)
        seg = window(score, ends[b0], ends[b0 + bars])
        f = features(seg, r.get("labels"))
        path = save_midi(seg, truth_dir / f"{len(rows):04d}.mid")
        rows.append({"caption": caption(f, rng), "key": f.key, "tempo": f.tempo,
                     "time_signature": f.time_signature, "instrument_summary": list(f.instruments),
                     "chord_summary": list(f.chords), "duration": round(f.duration_s, 2),
                     "bars": bars, "midi": str(path.relative_to(out.parent)), "id": r["id"]})
    out.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows))
    return len(rows)


# ---------------------------------------------------------------- pieces


@dataclass
class Piece:
    """One MIDI file of a system, for one prompt; `score` is None when it failed."""

    prompt: int
    path: str
    score: Score | None = None
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def load_piece(prompt: int, path: Path | None, missing: str = "no MIDI file") -> Piece:
    """Load a file; a corrupt, empty or missing one gives a failed Piece, never an error."""
    from tunesmith.midi import load_score

    if path is None:
        return Piece(prompt, "", error=missing)
    try:
        score = load_score(path)
    except MidiError as exc:
        return Piece(prompt, str(path), error=str(exc))
    if score.note_num() == 0:
        return Piece(prompt, str(path), error=f"{path}: no notes")
    return Piece(prompt, str(path), score)


def folder_file(folder: Path, index: int, k: int) -> Path | None:
    """`<index>.mid` (num == 1, k == 0) or `<index>_<k>.mid` in a folder, if present."""
    stems = [f"{index}_{k}"] + ([str(index)] if k == 0 else [])
    for stem in stems:
        for suffix in MIDI_SUFFIXES:
            if (folder / f"{stem}{suffix}").is_file():
                return folder / f"{stem}{suffix}"
    return None


def generated_pieces(prompts: Sequence[Prompt], folder: Path, cfg: EvalConfig, bar: Any,
                     unconditional: bool = False) -> list[Piece]:
    """Generate (or reuse from `folder`) the pieces of every prompt and load them back from
    disk. A prompt the generator refuses counts as failed pieces; a missing model raises."""
    from tunesmith.generation import bars_for, get_checkpoint, resolve
    from tunesmith.infilling.form import write_pieces
    from tunesmith.midi import save_midi

    folder.mkdir(parents=True, exist_ok=True)
    n = 1 if unconditional else cfg.num
    task = bar.add_task(ROW_TITLES[UNCONDITIONAL if unconditional else MODEL], total=len(prompts))
    ckpt = None
    pieces: list[Piece] = []
    for p in prompts:
        paths = [folder / f"{p.index}_{k}.mid" for k in range(n)]
        error = None
        if not all(x.is_file() for x in paths):
            if ckpt is None:
                ckpt = get_checkpoint(str(cfg.checkpoint_path) if cfg.checkpoint_path else None)
            # unconditional: no text, only the target length, so that FD and compression
            # compare pieces of the same length
            text, attrs = (("", Attributes(bars=bars_for(p.target))) if unconditional
                           else (p.caption, p.explicit))
            try:
                gens = write_pieces(resolve(text, attrs), num=n, seed=cfg.seed + p.index, checkpoint=ckpt,
                                  sampling=None if unconditional else cfg.sampling)
                for g, x in zip(gens, paths, strict=True):
                    save_midi(g.score, x)
            except InputError as exc:
                error = f"generation refused: {exc}"
        pieces += [load_piece(p.index, x) if error is None
                   else Piece(p.index, str(x), error=error) for x in paths]
        bar.advance(task)
    return pieces


def folder_pieces(prompts: Sequence[Prompt], folder: Path, num: int) -> list[Piece]:
    return [load_piece(p.index, folder_file(folder, p.index, k), f"no MIDI file for row "
                       f"{p.index} in {folder}") for p in prompts for k in range(num)]


# ---------------------------------------------------------------- metrics


def detect(piece: Piece) -> None:
    """Attributes found in the MIDI file and the target-free metrics, into piece.metrics;
    a score the feature extractor cannot read becomes a failure."""
    from tunesmith.captions import features

    assert piece.score is not None
    try:
        piece.metrics["detected"] = features(piece.score).to_attributes()
        piece.metrics["compression_ratio"] = compression_ratio(piece.score)
    except Exception as exc:  # one odd file must not end a long run; it is reported
        piece.score = None
        piece.error = f"{piece.path}: cannot analyse it ({type(exc).__name__}: {exc})"


def ok(pieces: Sequence[Piece]) -> list[Piece]:
    return [p for p in pieces if p.score is not None]


def summarize(pieces: Sequence[Piece], targets: Sequence[Attributes], text: np.ndarray,
              music: np.ndarray, reference: np.ndarray | None, cfg: EvalConfig) -> dict[str, Any]:
    """Set metrics of one system: failures, adherence means, CLMP score, FD, compression.

    `targets[i]` / `text[i]` are the target and caption vector of prompt i; `music` holds the
    CLMP vectors of the system's successful pieces in order."""
    good = ok(pieces)
    rows = [adherence_row(targets[p.prompt], p.metrics["detected"]) for p in good]
    for p, r in zip(good, rows, strict=True):
        p.metrics["adherence"] = r
    clmp = [float(text[p.prompt] @ v) for p, v in zip(good, music, strict=True)]
    for p, c in zip(good, clmp, strict=True):
        p.metrics["clmp"] = c
    out: dict[str, Any] = {
        "n": len(pieces), "failed": len(pieces) - len(good),
        "clmp": float(np.mean(clmp)) if clmp else None,
        "compression_ratio": (float(np.mean([p.metrics["compression_ratio"] for p in good]))
                              if good else None),
        "adherence": ({k: v["mean"] for k, v in aggregate(rows).items()} if rows else {})
        | recall_by_origin(((targets[p.prompt].instruments or (), p.metrics["detected"].instruments or ())
                            for p in good if targets[p.prompt].instruments), cfg.native_programs),
        "fd": None, "fd_std": None, "fd_bootstrap_mean": None,
    }
    if reference is not None and len(reference) >= 2 and len(music) >= 2:
        # the point estimate, with the bootstrap's spread as its error bar (the bootstrap
        # mean itself is biased upwards: resampled sets hold repeats)
        out["fd"] = frechet_distance(music, reference)
        out["fd_bootstrap_mean"], out["fd_std"] = frechet_bootstrap(
            music, reference, cfg.bootstrap, np.random.default_rng(cfg.seed))
    return out


def feature_values(scores: Sequence[Score]) -> dict[str, list[float]]:
    return {name: [float(fn(s)) for s in scores] for name, fn in FEATURES.items()}


# ---------------------------------------------------------------- the run


@dataclass
class Systems:
    """The pieces of each system (rows of the table), in table order."""

    pieces: dict[str, list[Piece]] = field(default_factory=dict)
    targets: dict[str, list[Attributes]] = field(default_factory=dict)
    captions: dict[str, list[str]] = field(default_factory=dict)


def collect(prompts: Sequence[Prompt], out: Path, cfg: EvalConfig, bar: Any) -> Systems:
    """Ground truth (if the prompts have it), unconditional generations and the model's."""
    caps, targets = [p.caption for p in prompts], [p.target for p in prompts]
    sys = Systems()
    if any(p.truth is not None for p in prompts):
        truth = [load_piece(p.index, p.truth, "no ground-truth MIDI in the row") for p in prompts]
        sys.pieces[TRUTH], sys.targets[TRUTH], sys.captions[TRUTH] = truth, targets, caps
    if cfg.unconditional and (cfg.midi_dir is None or cfg.checkpoint_path is not None):
        sys.pieces[UNCONDITIONAL] = generated_pieces(prompts, out / "midi_unconditional", cfg,
                                                     bar, unconditional=True)
        sys.targets[UNCONDITIONAL], sys.captions[UNCONDITIONAL] = targets, caps
    sys.pieces[MODEL] = (folder_pieces(prompts, Path(cfg.midi_dir), cfg.num) if cfg.midi_dir
                         else generated_pieces(prompts, out / "midi", cfg, bar))
    sys.targets[MODEL], sys.captions[MODEL] = targets, caps
    return sys


def add_shuffled(sys: Systems, cfg: EvalConfig) -> None:
    """Ground truth scored against the captions and targets of other prompts (a derangement):
    how far metrics fall when text and music do not belong together."""
    from tunesmith.retrieval.clmp import derangement

    truth = sys.pieces.get(TRUTH, [])
    if len(truth) < 2:
        return
    perm = derangement(len(truth), np.random.default_rng(cfg.seed))
    sys.pieces[SHUFFLED] = [Piece(p.prompt, p.path, p.score, p.error, dict(p.metrics))
                            for p in truth]  # own metrics dict: adherence and CLMP differ
    sys.targets[SHUFFLED] = [sys.targets[TRUTH][j] for j in perm]
    sys.captions[SHUFFLED] = [sys.captions[TRUTH][j] for j in perm]


def _reference(sys: Systems, cfg: EvalConfig) -> tuple[str, list[Score]]:
    if TRUTH in sys.pieces and len(ok(sys.pieces[TRUTH])) >= 2:
        return "ground truth", [p.score for p in ok(sys.pieces[TRUTH])]  # type: ignore[misc]
    if cfg.reference_dir is not None:
        files = sorted(f for f in Path(cfg.reference_dir).rglob("*") if f.suffix in MIDI_SUFFIXES)
        scores = [p.score for f in files if (p := load_piece(-1, f)).score is not None]
        return str(cfg.reference_dir), scores  # type: ignore[return-value]
    return "none", []


def evaluate_with(prompts_file: str | Path, out_dir: str | Path, cfg: EvalConfig) -> dict[str, Any]:
    """Run the whole evaluation with a config; see `evaluate`."""
    from tunesmith.retrieval.clmp import Clmp

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prompts = read_prompts(prompts_file, cfg.limit, cfg.midi_root)
    clmp = Clmp.load(cfg.clmp_path)  # fail early, before any generation
    with progress("pieces", enabled=cfg.progress) as bar:
        sys = collect(prompts, out, cfg, bar)
        unique = {id(p): p for ps in sys.pieces.values() for p in ok(ps)}
        task = bar.add_task("Analysing MIDI files", total=len(unique))
        for p in unique.values():
            detect(p)
            bar.advance(task)
    add_shuffled(sys, cfg)
    ref_name, ref_scores = _reference(sys, cfg)
    ref_vecs = clmp.embed_music(ref_scores) if len(ref_scores) >= 2 else None
    summaries, features = {}, {}
    for name, pieces in sys.pieces.items():
        scores = [p.score for p in ok(pieces)]
        text = clmp.embed_text(sys.captions[name])
        music = clmp.embed_music(scores) if scores else np.zeros((0, clmp.config.embed_dim))
        is_ref = name in (TRUTH, SHUFFLED) and ref_name == "ground truth"
        summaries[name] = summarize(pieces, sys.targets[name], text, music,
                                    None if is_ref else ref_vecs, cfg)
        if scores and len(ref_scores) >= 1 and not is_ref:
            features[name] = feature_distances(scores, ref_scores)  # type: ignore[arg-type]
    result = _result(prompts, sys, summaries, features, ref_name, len(ref_scores), cfg)
    result["listening"] = listening(prompts, sys, cfg)
    plots = write_plots(sys, ref_scores, out / "plots")
    result["plots"] = [str(p.relative_to(out)) for p in plots]
    (out / "metrics.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "report.md").write_text(render_markdown(result))
    return result


def listening(prompts: Sequence[Prompt], sys: Systems, cfg: EvalConfig) -> dict[str, Any]:
    """The listening table (evaluation.listening_report): every system but the shuffled one,
    each piece heard against what its prompt asked and over the bars it asked for, plus the
    reference folders cut to the prompts' most common length. Realism is against the ground
    truth when the prompts have it, else against the reference folders pooled."""
    from tunesmith.evaluation.listening_report import listen_all, listening_section, reference_set
    from tunesmith.generation.generate import bars_for

    bars = [bars_for(p.target) for p in prompts]
    systems = {}
    for name, pieces in sys.pieces.items():
        if name != SHUFFLED:
            targets = sys.targets[name]
            systems[name] = listen_all([(p.score, targets[p.prompt], bars[p.prompt])
                                        for p in ok(pieces)])  # type: ignore[misc]
    common = max(set(bars), key=bars.count)
    refs = {name: listen_all([(s, None, common) for s in reference_set(folder, common)])
            for name, folder in cfg.listening_references}
    truth = TRUTH if len(systems.get(TRUTH, [])) >= 4 else None
    return listening_section(systems, refs, truth, cfg.seed)


def evaluate(prompts_file: str | Path, out_dir: str | Path, *, checkpoint_path: str | Path | None
             = None, num: int = 1, midi_dir: str | Path | None = None, limit: int | None = None,
             seed: int = 0) -> dict[str, Any]:
    """Generate (or read from `midi_dir`) pieces for the prompts of a JSONL file, compute every
    metric, and write OUT/report.md, OUT/metrics.json and OUT/plots/. Generated MIDI files are
    kept in OUT/midi/ and reused on a re-run. Returns what metrics.json holds."""
    cfg = EvalConfig(
        checkpoint_path=Path(checkpoint_path) if checkpoint_path else None, num=num,
        midi_dir=Path(midi_dir) if midi_dir else None, limit=limit, seed=seed,
    )
    return evaluate_with(prompts_file, out_dir, cfg)


def _result(prompts: Sequence[Prompt], sys: Systems, summaries: dict[str, Any],
            features: dict[str, Any], ref_name: str, n_ref: int, cfg: EvalConfig) -> dict[str, Any]:
    pieces = [
        {"system": name, "prompt": p.prompt, "path": p.path, "error": p.error,
         "clmp": p.metrics.get("clmp"), "compression_ratio": p.metrics.get("compression_ratio"),
         "adherence": p.metrics.get("adherence") if name != SHUFFLED else None,
         "detected": p.metrics["detected"].to_dict() if "detected" in p.metrics else None}
        for name, ps in sys.pieces.items() for p in ps
    ]
    return {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "prompts": len(prompts), "reference": {"set": ref_name, "n": n_ref},
        "systems": summaries, "features": features, "pieces": pieces,
        "prompt_notes": {p.index: list(p.notes) for p in prompts if p.notes},
    }


# ---------------------------------------------------------------- outputs

# (title, key in the summary or its adherence, scale, decimals): adherence in percent.
COLUMNS = (
    ("CLMP ↑", "clmp", 1.0, 3), ("FD ↓", "fd", 1.0, 3), ("CR", "compression_ratio", 1.0, 2),
    ("TB %", "tempo_bin", 100.0, 1), ("TBT %", "tempo_bin_tolerant", 100.0, 1),
    ("CK %", "key", 100.0, 1), ("CKD %", "key_relative", 100.0, 1),
    ("TS %", "time_signature", 100.0, 1), ("Inst F1 %", "instrument_f1", 100.0, 1),
    ("Family F1 %", "family_f1", 100.0, 1),
    ("Inst R native %", "instrument_recall_native", 100.0, 1),
    ("Inst R re-voiced %", "instrument_recall_revoiced", 100.0, 1), ("Chords %", "chords", 100.0, 1),
    ("Length %", "length", 100.0, 1),
)


CONSTRAINT_NOTE = (
    "For generated rows, TB / TBT (tempo), TS (meter) and the instrument columns are constraints of "
    "the sampler's grammar (the asked tempo, meter and only the asked instruments), true by "
    "construction rather than measured; an instrument counts as present after one note. What the "
    "instruments play is measured in the listening table below.")


def _cell(summary: dict[str, Any], key: str, scale: float, digits: int) -> str:
    value = summary.get(key, summary["adherence"].get(key))
    if value is None:
        return "—"
    text = f"{value * scale:.{digits}f}"
    if key == "fd" and summary.get("fd_std") is not None:
        text += f" ± {summary['fd_std']:.{digits}f}"
    return text


def render_markdown(result: dict[str, Any]) -> str:
    """report.md: the main table, the statistics table, failures and notes."""
    systems = result["systems"]
    order = [s for s in ROW_TITLES if s in systems]
    head = ["System", "pieces", "failed"] + [c[0] for c in COLUMNS]
    lines = [
        "# tunesmith evaluation", "",
        f"{result['prompts']} prompts; reference set: {result['reference']['set']} "
        f"({result['reference']['n']} pieces). CLMP: caption-music cosine; FD: Fréchet "
        "distance of CLMP music embeddings to the reference set (± bootstrap std); CR: "
        "COSIATEC compression ratio; adherence in % of pieces (MidiCaps / text2midi).", "",
        "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
    ]
    for name in order:
        s = systems[name]
        cells = [ROW_TITLES[name], str(s["n"]), str(s["failed"])]
        cells += [_cell(s, key, scale, d) for _, key, scale, d in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", CONSTRAINT_NOTE, ""]
    if result.get("listening"):
        from tunesmith.evaluation.listening_report import render_listening

        lines += render_listening(result["listening"], ROW_TITLES)
    lines += ["", *_feature_table(result), *_failures(result), ""]
    lines += [f"![{Path(p).stem}]({p})" for p in result.get("plots", [])]
    return "\n".join(lines) + "\n"


def _feature_table(result: dict[str, Any]) -> list[str]:
    feats = result["features"]
    if not feats:
        return ["No reference set, so no statistics distances (give ground-truth MIDI in the "
                "prompts or a reference folder).", ""]
    names = [s for s in ROW_TITLES if s in feats]
    head = ["Feature", "reference mean"] + [f"{ROW_TITLES[n]}: mean / OA ↑ / KL ↓" for n in names]
    lines = ["## Musical statistics vs the reference set (Yang & Lerch)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for feature in FEATURES:
        ref = feats[names[0]][feature]["ref_mean"]
        cells = [feature, f"{ref:.3f}"] + [
            "{gen_mean:.3f} / {oa:.3f} / {kl:.3f}".format(**feats[n][feature]) for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def _failures(result: dict[str, Any], shown: int = 20) -> list[str]:
    bad = [p for p in result["pieces"] if p["error"] and p["system"] != SHUFFLED]
    if not bad:
        return []
    lines = [f"## Failures ({len(bad)})", ""]
    lines += [f"- {ROW_TITLES[p['system']]}, row {p['prompt']}: {p['error']}" for p in bad[:shown]]
    if len(bad) > shown:
        lines.append(f"- ... and {len(bad) - shown} more (see metrics.json)")
    return lines + [""]


def write_plots(sys: Systems, reference: Sequence[Score], folder: Path) -> list[Path]:
    """features.png: a histogram per musical feature, each generated system vs reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = {ROW_TITLES[n]: [p.score for p in ok(sys.pieces[n])] for n in (UNCONDITIONAL, MODEL)
            if n in sys.pieces}
    if reference:
        sets = {"Reference": list(reference), **sets}
    sets = {k: v for k, v in sets.items() if v}
    if not sets:
        return []
    values = {k: feature_values(v) for k, v in sets.items()}  # type: ignore[arg-type]
    fig, axes = plt.subplots(3, 3, figsize=(12, 9))
    for ax, feature in zip(axes.flat, FEATURES, strict=True):
        data = [values[k][feature] for k in values]
        ax.hist(data, bins=15, density=True, histtype="step", label=list(values), linewidth=1.5)
        ax.set_title(feature.replace("_", " "))
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "features.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return [path]
