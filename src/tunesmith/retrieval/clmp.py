"""CLMP: a joint text-music embedding over tunesmith's tokens (CLaMP, Wu et al. 2023; MG2's CLMP).

Consumes symusic Scores (REMI+ ids) and captions (frozen all-MiniLM-L6-v2 vectors); produces
unit vectors in a 256-d space where text-music cosine scores prompt adherence and sets of
music vectors can be compared (Fréchet distance). A small bidirectional transformer encodes
the full music and its melody (top line) with a view embedding; text, music and melody are
aligned pairwise with symmetric InfoNCE and a learnable temperature (CLIP, Radford et al. 2021).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from symusic import Note, Score, Track
from torch import nn

from tunesmith.errors import ConfigError, InputError, ModelError
from tunesmith.midi.io import atomic_path
from tunesmith.progress import progress
from tunesmith.retrieval.text_encoder import TEXT_DIM, encode_texts
from tunesmith.tokenization import Tokenizer, TokenizerSettings

DEFAULT_CLMP_DIR = Path(__file__).resolve().parent.parent / "assets" / "clmp"
FULL, MELODY = 0, 1  # view ids


@dataclass(frozen=True)
class ClmpConfig:
    """Shape of the model. `max_len` / `melody_max_len` are the token windows of each view;
    `windows` crops spread over a piece are averaged when embedding it."""

    vocab_size: int = 781
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int = 512
    max_len: int = 256
    melody_max_len: int = 96
    embed_dim: int = 256
    text_dim: int = TEXT_DIM
    dropout: float = 0.1
    windows: int = 4

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_len",
                     "melody_max_len", "embed_dim", "text_dim", "windows"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ConfigError(f"{name}={getattr(self, name)!r} is invalid: need an int >= 1")
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout {self.dropout} is out of range: allowed 0 <= p < 1")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClmpConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ---------------------------------------------------------------- views of a score


def melody(score: Score) -> Score:
    """The top line: the highest pitched note at each onset of the non-drum tracks, cut at
    the next onset so it is monophonic, on one track with the program that gives most of it."""
    score = score if "Tick" in str(score.ttype) else score.to("tick")
    parts = [(t.notes.numpy(), t.program) for t in score.tracks if not t.is_drum and t.notes]
    out = Score(score.ticks_per_quarter)
    out.tempos = score.tempos.copy()
    out.time_signatures = score.time_signatures.copy()
    if not parts:
        return out
    cat = {k: np.concatenate([p[k] for p, _ in parts]) for k in ("time", "duration", "pitch",
                                                                   "velocity")}
    prog = np.concatenate([np.full(len(p["time"]), g) for p, g in parts])
    order = np.lexsort((-cat["pitch"], cat["time"]))  # by onset, highest pitch first
    first = order[np.unique(cat["time"][order], return_index=True)[1]]
    time = cat["time"][first]
    gaps = np.append(np.diff(time), np.iinfo(np.int32).max)
    dur = np.maximum(np.minimum(cat["duration"][first], gaps), 1)
    track = Track(program=int(np.bincount(prog[first]).argmax()))
    track.notes = Note.from_numpy(time, dur, cat["pitch"][first], cat["velocity"][first], "tick")
    out.tracks.append(track)
    return out


class Vocabulary:
    """The token ids CLMP reads: REMI+ ids without Velocity tokens (captions never speak of
    dynamics, and dropping them lets a window hold ~25 % more music)."""

    def __init__(self, tok: Tokenizer) -> None:
        self.tok = tok
        self.bar_id = tok.id("Bar")
        self._keep = np.ones(len(tok), dtype=bool)
        self._keep[tok.ids_of_type("Velocity")] = False

    def strip(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        arr = np.asarray(ids, dtype=np.int64)
        return arr[self._keep[arr]]

    def encode(self, score: Score) -> np.ndarray:
        return self.strip(self.tok.encode_score(score))


def bar_starts(ids: np.ndarray, bar_id: int) -> np.ndarray:
    """Positions of Bar tokens; position 0 when there is none."""
    starts = np.flatnonzero(ids == bar_id)
    return starts if starts.size else np.zeros(1, dtype=np.int64)


def spread_windows(ids: np.ndarray, bar_id: int, max_len: int, n: int) -> list[np.ndarray]:
    """Up to `n` crops of at most `max_len` tokens starting at bars spread evenly over the piece."""
    starts = bar_starts(ids, bar_id)
    usable = starts[starts <= max(len(ids) - max_len, 0)]
    usable = usable if usable.size else starts[:1]
    picks = np.unique(usable[np.linspace(0, len(usable) - 1, n).round().astype(int)])
    return [ids[s : s + max_len] for s in picks] or [ids[:max_len]]


# ---------------------------------------------------------------- the network


class ClmpModel(nn.Module):
    """Music encoder (token + position + view embeddings, pre-norm transformer encoder, mean
    pool, linear projection), text projection (MLP on MiniLM vectors), and the temperature."""

    def __init__(self, cfg: ClmpConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.tok_emb = nn.Embedding(cfg.vocab_size, d)
        self.pos_emb = nn.Embedding(max(cfg.max_len, cfg.melody_max_len), d)
        self.view_emb = nn.Embedding(2, d)
        layer = nn.TransformerEncoderLayer(d, cfg.n_heads, cfg.d_ff, cfg.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.music_proj = nn.Linear(d, cfg.embed_dim)
        self.text_proj = nn.Sequential(
            nn.Linear(cfg.text_dim, cfg.text_dim), nn.GELU(), nn.Linear(cfg.text_dim, cfg.embed_dim)
        )
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))

    def encode_music(self, ids: torch.Tensor, pad: torch.Tensor, view: int) -> torch.Tensor:
        """ids (B, T), pad (B, T) True at padding -> unit vectors (B, E)."""
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.tok_emb(ids) + self.pos_emb(pos)[None] + self.view_emb.weight[view]  # (B, T, D)
        x = self.norm(self.encoder(x, src_key_padding_mask=pad))
        keep = (~pad).unsqueeze(-1).float()  # (B, T, 1)
        pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1.0)  # (B, D)
        return F.normalize(self.music_proj(pooled), dim=-1)

    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        """MiniLM vectors (B, 384) -> unit vectors (B, E)."""
        return F.normalize(self.text_proj(text), dim=-1)


def batch_ids(seqs: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (B, T) ids and the (B, T) padding mask; empty sequences get one pad."""
    width = max(max(len(s) for s in seqs), 1)
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    pad = torch.ones((len(seqs), width), dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        pad[i, : max(len(s), 1)] = False  # an empty piece still attends to one (pad) token
    return ids, pad


def info_nce(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of matched rows of unit vectors a, b (B, E) (CLIP's loss)."""
    logits = logit_scale.clamp(max=float(np.log(100.0))).exp() * a @ b.T  # (B, B)
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


# ---------------------------------------------------------------- the user-facing model


@dataclass
class Clmp:
    """A trained CLMP with its tokenizer: embeds music, melodies and captions."""

    model: ClmpModel
    tokenizer: Tokenizer
    config: ClmpConfig = field(init=False)

    def __post_init__(self) -> None:
        self.config = self.model.cfg
        self.vocab = Vocabulary(self.tokenizer)
        if len(self.tokenizer) != self.config.vocab_size:
            raise ModelError(
                f"CLMP vocabulary {self.config.vocab_size} != tokenizer {len(self.tokenizer)}"
            )
        self.model.eval()

    @classmethod
    def load(cls, path: str | Path | None = None) -> Clmp:
        """Load a CLMP folder (model.safetensors, config.json, tokenizer.json); None: shipped."""
        folder = Path(path) if path is not None else DEFAULT_CLMP_DIR
        if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
            raise ModelError(f"{folder}: not a CLMP checkpoint (needs config.json and "
                             "model.safetensors); train one with tunesmith.retrieval.train_clmp")
        cfg = ClmpConfig.from_dict(json.loads((folder / "config.json").read_text())["model"])
        model = ClmpModel(cfg)
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        return cls(model, Tokenizer.load(folder))

    def save(self, path: str | Path) -> Path:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))
        meta = {"format": "tunesmith-clmp", "version": 1, "model": asdict(self.config)}
        (folder / "config.json").write_text(json.dumps(meta, indent=1))
        self.tokenizer.save(folder)
        return folder

    @torch.no_grad()
    def embed_ids(self, seqs: Sequence[np.ndarray], view: int = FULL,
                  batch_size: int = 32) -> np.ndarray:
        """(N, E) unit vectors of stripped id sequences: the mean of `windows` crops."""
        max_len = self.config.max_len if view == FULL else self.config.melody_max_len
        crops, owner = [], []
        for i, s in enumerate(seqs):
            w = spread_windows(np.asarray(s), self.vocab.bar_id, max_len, self.config.windows)
            crops += w
            owner += [i] * len(w)
        vecs = [self.model.encode_music(*batch_ids(crops[k : k + batch_size]), view)
                for k in range(0, len(crops), batch_size)]
        flat = torch.cat(vecs) if vecs else torch.zeros(0, self.config.embed_dim)
        out = torch.zeros(len(seqs), self.config.embed_dim).index_add_(
            0, torch.as_tensor(owner, dtype=torch.long), flat)
        return F.normalize(out, dim=-1).numpy()

    def embed_music(self, scores: Sequence[Score]) -> np.ndarray:
        """(N, 256) unit vectors of whole scores."""
        return self.embed_ids([self.vocab.encode(s) for s in scores], FULL)

    def embed_melody(self, scores: Sequence[Score]) -> np.ndarray:
        """(N, 256) unit vectors of the scores' top lines (see `melody`)."""
        return self.embed_ids([self.vocab.encode(melody(s)) for s in scores], MELODY)

    @torch.no_grad()
    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """(N, 256) unit vectors of captions."""
        if isinstance(texts, str):
            raise InputError("embed_text takes a list of strings, got one string")
        return self.model.encode_text(torch.from_numpy(encode_texts(texts))).numpy()

    def similarity(self, texts: Sequence[str], scores: Sequence[Score]) -> np.ndarray:
        """(len(texts), len(scores)) cosine similarities, -1..1."""
        return self.embed_text(texts) @ self.embed_music(scores).T


# ---------------------------------------------------------------- retrieval metrics (pure)


def ranks(sim: np.ndarray) -> np.ndarray:
    """Rank (1 = best) of the matched candidate sim[i, i] in each row; ties count against it."""
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1] or sim.shape[0] == 0:
        raise InputError(f"similarity matrix of shape {sim.shape} is invalid: need square, N >= 1")
    return (sim >= np.diag(sim)[:, None]).sum(axis=1)


def retrieval_metrics(sim: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """R@k and mAP of query i retrieving candidate i. With one relevant candidate per query,
    average precision is 1 / rank, so mAP equals the mean reciprocal rank."""
    r = ranks(sim)
    out = {f"R@{k}": float((r <= k).mean()) for k in ks}
    out["mAP"] = float((1.0 / r).mean())
    out["median_rank"] = float(np.median(r))
    out["pool"] = float(len(r))
    return out


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A permutation with no fixed point (n >= 2): the shuffled-caption pairing."""
    if n < 2:
        raise InputError(f"cannot shuffle {n} captions: need at least 2")
    while True:  # rejection: a uniform permutation is a derangement with probability ~1/e
        p = rng.permutation(n)
        if not (p == np.arange(n)).any():
            return p


def sanity_gap(text: np.ndarray, music: np.ndarray, rng: np.random.Generator,
               unconditional: np.ndarray | None = None) -> dict[str, float]:
    """Mean cosine of matched (caption, music) pairs vs the same captions with shuffled music,
    and vs unconditional generations (paired in order, cycling) when given. Rows are unit."""
    matched = np.einsum("ij,ij->i", text, music)
    shuffled = np.einsum("ij,ij->i", text, music[derangement(len(text), rng)])
    out = {"matched": float(matched.mean()), "shuffled": float(shuffled.mean())}
    out["gap_shuffled"] = out["matched"] - out["shuffled"]
    if unconditional is not None and len(unconditional):
        idx = np.arange(len(text)) % len(unconditional)
        unc = np.einsum("ij,ij->i", text, unconditional[idx])
        out["unconditional"] = float(unc.mean())
        out["gap_unconditional"] = out["matched"] - out["unconditional"]
    return out


# ---------------------------------------------------------------- training data


@dataclass(frozen=True)
class ClmpTrainConfig:
    """Training settings. Training stops at `steps` or after `time_budget_s` seconds of
    training (summed over resumptions), whichever comes first."""

    model: ClmpConfig = field(default_factory=ClmpConfig)
    steps: int = 700
    batch_size: int = 32
    lr: float = 7e-4
    weight_decay: float = 0.01
    warmup: int = 50
    captions_per_piece: int = 3  # the build's caption plus augmented rewrites
    melody_weight: float = 0.5
    seed: int = 0
    threads: int = 1
    save_every: int = 100
    time_budget_s: float | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "captions_per_piece", "threads", "save_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} is invalid: need >= 1")
        if self.batch_size < 2:
            raise ConfigError(f"batch_size {self.batch_size} is too small: InfoNCE needs >= 2")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.warmup >= 0):
            raise ConfigError(f"lr {self.lr}, weight_decay {self.weight_decay}, warmup "
                              f"{self.warmup}: need lr > 0 and the others >= 0")
        if self.melody_weight < 0:
            raise ConfigError(f"melody_weight {self.melody_weight} is negative")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ConfigError(f"time_budget_s {self.time_budget_s} is invalid: need > 0 or none")


@dataclass
class ClmpData:
    """One split of a data build, ready for CLMP: stripped full and melody ids, caption
    vectors (`text`) and, per piece, the rows of `text` holding its captions (first: the
    build's caption)."""

    ids: list[str]
    full: list[np.ndarray]
    melody: list[np.ndarray]
    captions: list[str]
    text: np.ndarray
    caption_rows: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)


def augmented_captions(row: dict[str, Any], n: int, rng: np.random.Generator) -> list[str]:
    """The build's caption of a row plus n - 1 rewrites from its features (text2midi-style
    sentence dropout), so the text side sees varied phrasing of the same facts."""
    from tunesmith.captions import Features, caption

    init = {f.name for f in fields(Features) if f.init}
    feats = Features(**{k: v for k, v in row["features"].items() if k in init})
    return [row["caption"]] + [caption(feats, rng, augment=True) for _ in range(n - 1)]


def _build_rows(data_dir: Path, split: str | None) -> list[dict[str, Any]]:
    """Rows of one split of a build (all rows for None)."""
    path = data_dir / "pieces.jsonl"
    if not path.is_file():
        raise InputError(f"{data_dir}: not a data build (no pieces.jsonl)")
    with path.open(encoding="utf-8") as f:
        rows = [r for line in f if split in (None, (r := json.loads(line))["split"])]
    if split is not None and not rows:
        raise InputError(f"{data_dir}: the build has no pieces in split {split!r}")
    return rows


def load_split(data_dir: str | Path, split: str, vocab: Vocabulary, captions_per_piece: int = 1,
               seed: int = 0) -> ClmpData:
    """Read one split of a build: token shards -> full ids, decoded tokens -> melody ids."""
    data_dir = Path(data_dir)
    rows = _build_rows(data_dir, split)
    rng = np.random.default_rng(seed)
    shards: dict[str, np.ndarray] = {}
    full, mel, texts, owners = [], [], [], []
    for i, r in enumerate(rows):
        if r["shard"] not in shards:
            shards[r["shard"]] = np.load(data_dir / r["shard"], mmap_mode="r")
        raw = np.asarray(shards[r["shard"]][r["offset"] : r["offset"] + r["n_tokens"]])
        full.append(vocab.strip(raw))
        mel.append(vocab.encode(melody(vocab.tok.decode(raw.tolist()))))
        caps = augmented_captions(r, captions_per_piece, rng)
        texts += caps
        owners += [i] * len(caps)
    text = encode_texts(texts)
    owner = np.asarray(owners)
    rows_of = [np.flatnonzero(owner == i) for i in range(len(rows))]
    return ClmpData([r["id"] for r in rows], full, mel, [r["caption"] for r in rows], text, rows_of)


def _save_data(data: ClmpData, path: Path) -> None:
    def ragged(arrs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        lens = np.asarray([len(a) for a in arrs], dtype=np.int64)
        flat = np.concatenate(arrs) if arrs else np.zeros(0, np.int64)
        return flat.astype(np.int32), lens

    f, fl = ragged(data.full)
    m, ml = ragged(data.melody)
    c, cl = ragged(data.caption_rows)
    meta = json.dumps({"ids": data.ids, "captions": data.captions})
    with atomic_path(path) as tmp, tmp.open("wb") as out:
        np.savez(out, full=f, full_len=fl, melody=m, melody_len=ml, rows=c, rows_len=cl,
                 text=data.text, meta=np.frombuffer(meta.encode(), dtype=np.uint8))


def _load_data(path: Path) -> ClmpData:
    z = np.load(path)

    def unragged(flat: np.ndarray, lens: np.ndarray) -> list[np.ndarray]:
        return [a.astype(np.int64) for a in np.split(flat, np.cumsum(lens)[:-1])]

    meta = json.loads(z["meta"].tobytes().decode())
    return ClmpData(meta["ids"], unragged(z["full"], z["full_len"]),
                    unragged(z["melody"], z["melody_len"]), meta["captions"], z["text"],
                    unragged(z["rows"], z["rows_len"]))


def prepared_split(data_dir: Path, out_dir: Path, split: str, vocab: Vocabulary,
                   captions_per_piece: int, seed: int) -> ClmpData:
    """`load_split`, cached in out_dir/prepared_<split>.npz (decoding and MiniLM are slow)."""
    path = out_dir / f"prepared_{split}_{captions_per_piece}_{seed}.npz"
    if path.is_file():
        return _load_data(path)
    data = load_split(data_dir, split, vocab, captions_per_piece, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_data(data, path)
    return data


# ---------------------------------------------------------------- training


def crop_pair(full: np.ndarray, mel: np.ndarray, bar_id: int, cfg: ClmpConfig,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random crops of a piece and of its melody starting at the same bar (CLaMP-style
    cropping: a caption must be recognisable from any stretch of its music)."""
    fs, ms = bar_starts(full, bar_id), bar_starts(mel, bar_id)
    b = int(rng.integers(len(fs)))
    f0, m0 = fs[b], ms[min(b, len(ms) - 1)]
    return full[f0 : f0 + cfg.max_len], mel[m0 : m0 + cfg.melody_max_len]


def training_loss(model: ClmpModel, data: ClmpData, idx: np.ndarray, bar_id: int,
                  melody_weight: float, rng: np.random.Generator) -> torch.Tensor:
    """Text-music InfoNCE plus, weighted, text-melody and melody-music InfoNCE on a batch."""
    pairs = [crop_pair(data.full[i], data.melody[i], bar_id, model.cfg, rng) for i in idx]
    caps = np.asarray([rng.choice(data.caption_rows[i]) for i in idx])
    text = model.encode_text(torch.from_numpy(data.text[caps]))
    music = model.encode_music(*batch_ids([p[0] for p in pairs]), FULL)
    loss = info_nce(text, music, model.logit_scale)
    if melody_weight > 0:
        mel = model.encode_music(*batch_ids([p[1] for p in pairs]), MELODY)
        loss = loss + melody_weight * (info_nce(text, mel, model.logit_scale)
                                       + info_nce(mel, music, model.logit_scale))
    return loss


def _schedule(cfg: ClmpTrainConfig) -> Any:
    def factor(step: int) -> float:  # linear warmup, cosine decay to 10 %
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        t = min((step - cfg.warmup) / max(cfg.steps - cfg.warmup, 1), 1.0)
        return 0.1 + 0.45 * (1 + np.cos(np.pi * t))

    return factor


@dataclass
class _State:
    model: ClmpModel
    optim: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    rng: np.random.Generator
    step: int = 0
    elapsed: float = 0.0


def _new_state(cfg: ClmpTrainConfig, out_dir: Path) -> _State:
    torch.manual_seed(cfg.seed)
    model = ClmpModel(cfg.model)
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, _schedule(cfg))
    state = _State(model, optim, sched, np.random.default_rng(cfg.seed))
    path = out_dir / "train_state.pt"
    if path.is_file():  # resume: our own file, so full unpickling is safe
        saved = torch.load(path, weights_only=False)
        model.load_state_dict(saved["model"])
        optim.load_state_dict(saved["optim"])
        sched.load_state_dict(saved["sched"])
        state.rng.bit_generator.state = saved["rng"]
        torch.set_rng_state(saved["torch_rng"])
        state.step, state.elapsed = saved["step"], saved["elapsed"]
    return state


def _save_state(s: _State, out_dir: Path) -> None:
    saved = {"model": s.model.state_dict(), "optim": s.optim.state_dict(),
             "sched": s.sched.state_dict(), "rng": s.rng.bit_generator.state,
             "torch_rng": torch.get_rng_state(), "step": s.step, "elapsed": s.elapsed}
    with atomic_path(out_dir / "train_state.pt") as tmp:
        torch.save(saved, tmp)


def _train_loop(s: _State, data: ClmpData, cfg: ClmpTrainConfig, out_dir: Path) -> None:
    import time

    bar_id = Vocabulary(data_tokenizer(out_dir)).bar_id
    start, start_elapsed = time.perf_counter(), s.elapsed
    with progress("steps", enabled=cfg.progress) as bar, \
            (out_dir / "log.jsonl").open("a") as log:
        task = bar.add_task("CLMP", total=cfg.steps, completed=s.step)
        s.model.train()
        while s.step < cfg.steps and (cfg.time_budget_s is None or s.elapsed < cfg.time_budget_s):
            idx = s.rng.choice(len(data), size=min(cfg.batch_size, len(data)), replace=False)
            loss = training_loss(s.model, data, idx, bar_id, cfg.melody_weight, s.rng)
            s.optim.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(s.model.parameters(), 1.0)
            s.optim.step()
            s.sched.step()
            s.step += 1
            s.elapsed = start_elapsed + time.perf_counter() - start
            log.write(json.dumps({"step": s.step, "loss": round(loss.item(), 4),
                                  "elapsed": round(s.elapsed, 1)}) + "\n")
            bar.update(task, completed=s.step, description=f"CLMP loss {loss.item():.3f}")
            if s.step % cfg.save_every == 0:
                log.flush()
                _save_state(s, out_dir)
    s.model.eval()
    _save_state(s, out_dir)


def data_tokenizer(folder: Path) -> Tokenizer:
    """The tokenizer saved with a build or a CLMP folder, else the default one without chord or
    role tokens (CLMP reads the notes; a bar's chord and a part's role are the decoder's plan)."""
    if (folder / "tokenizer.json").is_file():
        return Tokenizer.load(folder)
    return Tokenizer.create(TokenizerSettings(chords=False, roles=False))


def train_clmp(data_dir: str | Path, out_dir: str | Path,
               config: ClmpTrainConfig | None = None) -> Clmp:
    """Train CLMP on the train split of a data build; resumes from out_dir/train_state.pt.

    Writes the model folder (model.safetensors, config.json, tokenizer.json) into `out_dir`,
    plus log.jsonl (loss per step) and test_report.json (`evaluate_split` on the test split).
    """
    cfg = config or ClmpTrainConfig()
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train_clmp(Path(data_dir), Path(out_dir), cfg)
    finally:
        torch.set_num_threads(threads)  # the caller's setting, not ours, after training


def _train_clmp(data_dir: Path, out_dir: Path, cfg: ClmpTrainConfig) -> Clmp:
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = data_tokenizer(data_dir)
    if len(tok) != cfg.model.vocab_size:
        cfg = ClmpTrainConfig(**{**cfg.__dict__,
                                 "model": ClmpConfig(**{**asdict(cfg.model),
                                                        "vocab_size": len(tok)})})
    tok.save(out_dir)
    vocab = Vocabulary(tok)
    train = prepared_split(data_dir, out_dir, "train", vocab, cfg.captions_per_piece, cfg.seed)
    state = _new_state(cfg, out_dir)
    _train_loop(state, train, cfg, out_dir)
    clmp = Clmp(state.model, tok)
    clmp.save(out_dir)
    report: dict[str, Any] = {"steps": state.step, "train_seconds": round(state.elapsed, 1),
                              "train_pieces": len(train)}
    if sum(r["split"] == "test" for r in _build_rows(data_dir, None)) >= 2:
        test = prepared_split(data_dir, out_dir, "test", vocab, 1, cfg.seed)
        report.update(evaluate_split(clmp, test, np.random.default_rng(cfg.seed)))
    (out_dir / "test_report.json").write_text(json.dumps(report, indent=1))
    return clmp


def evaluate_split(clmp: Clmp, data: ClmpData, rng: np.random.Generator,
                   unconditional: np.ndarray | None = None) -> dict[str, Any]:
    """Retrieval over the split as the candidate pool (caption -> music, caption -> melody,
    melody -> music) and the sanity gap of matched vs shuffled (and unconditional) pairs.
    `unconditional` holds CLMP music vectors of unconditional generations, if any."""
    with torch.no_grad():
        text = clmp.model.encode_text(
            torch.from_numpy(data.text[[r[0] for r in data.caption_rows]])).numpy()
    music = clmp.embed_ids(data.full, FULL)
    mel = clmp.embed_ids(data.melody, MELODY)
    return {
        "pool": len(data),
        "text_to_music": retrieval_metrics(text @ music.T),
        "text_to_melody": retrieval_metrics(text @ mel.T),
        "melody_to_music": retrieval_metrics(mel @ music.T),
        "sanity_gap": sanity_gap(text, music, rng, unconditional),
    }
