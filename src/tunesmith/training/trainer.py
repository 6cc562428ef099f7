"""Training the decoder with the Hugging Face Trainer (bf16 autocast on CPU, DDP by torchrun).

Consumes segment files (data/segments.py) and a TrainConfig; produces checkpoints that
carry the model config and tokenizer, a final tunesmith checkpoint, and a loss-curve PNG.
A run starts from random weights, or from a checkpoint's (`init`) for a second stage.
Condition tokens are dropped at random (MuseCoco) and all at once for classifier-free
guidance; only music tokens and EOS carry loss. With `prefix` > 0 a caption of the kept
conditions is embedded by frozen MiniLM and projected to soft prefix vectors (model/prefix.py).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.data import Dataset
from transformers import LlamaForCausalLM, Trainer, TrainerCallback, TrainingArguments

from tunesmith.attributes import MAX_INSTRUMENTS, family
from tunesmith.captions.conditions import caption_for
from tunesmith.data.roles import part_densities, part_roles
from tunesmith.data.segments import load_split
from tunesmith.errors import ConfigError
from tunesmith.model import (
    PRESETS,
    Checkpoint,
    ModelConfig,
    build_model,
    load_checkpoint,
    save_checkpoint,
)
from tunesmith.model.prefix import MAX_PREFIX, PrefixConfig, PrefixLM, TextPrefix, load_prefix
from tunesmith.tokenization import Tokenizer
from tunesmith.tokenization.harmony import add_chords
from tunesmith.tokenization.infill import keep_track, make_infill, plays_in, programs_of, random_gap, split_bars
from tunesmith.tokenization.vocab import inst_token, role_token


@dataclass(frozen=True)
class TrainConfig:
    segments: str = "runs/segments"
    out: str = "runs/train"
    preset: str = "default"
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 1e-3
    warmup_steps: int = 200
    max_steps: int = 6000
    eval_steps: int = 500
    save_steps: int = 250
    eval_batches: int = 40
    bf16: bool = True
    seed: int = 0
    attr_dropout: float = 0.3
    uncond_prob: float = 0.1
    max_len: int = 1024
    keep_checkpoints: int = 2  # newest Trainer checkpoints kept (more: compare runs mid-way)
    threads: int = 0  # torch threads; 0 = torch's default. 1 avoids oversubscription on a busy box
    init: str | None = None  # checkpoint folder whose weights start the run; a resumable run wins
    prefix: int = 0  # soft text prefix length K (model/prefix.py); 0 = off
    infill_prob: float = 0.0  # chance a training row is an infilling task (tokenization/infill.py)
    infill_controls: float = 0.5  # chance a fill bar states its per-bar controls
    infill_track_prob: float = 0.25  # chance a fill is a whole track (MIDI-RWKV's mix), else 1-4 bars
    # chance a window says each bar's chord (tokenization/harmony.py; detected from its notes):
    # the rest teach the model to write without them (attribute dropout); validation says them
    chords: float = 0.0
    # chance a plain window of several parts keeps one pitched part (not a piano: piano plays
    # alone in real music), its header naming that instrument alone. A piece written track by
    # track writes its first part alone, while the corpora hold almost no lone trumpet, sax or
    # cello (2-32 solo windows a family against 1,168 of piano), so a lone lead came out 11-17
    # notes a bar where a band's leads play 3.5-5.2 (benchmarks/listening_reference.py)
    part_prob: float = 0.0
    # chance a window's header says each named part's role after its instrument (lead, chords,
    # bass, pad: data/roles.track_role on the window's own notes; validation always says them):
    # a lone trumpet learned from bands, where brass mostly stabs, kept writing stabs when
    # asked for a melody, since nothing told it which part carries the tune
    roles: float = 0.0
    # chance a window's header says each named part's notes a bar (the median over the bars it
    # plays; a Density token after its instrument and role): the role alone did not make a part
    # less busy (benchmarks/roles.py), so the model is told how busy each part is
    densities: float = 0.0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"preset {self.preset!r} is unknown: allowed {', '.join(PRESETS)}")
        for name in ("batch_size", "grad_accum", "max_steps", "eval_steps", "save_steps", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} {getattr(self, name)} must be >= 1")
        if not 0 < self.lr < 1:
            raise ConfigError(f"lr {self.lr} is out of range (0, 1)")
        shares = ("attr_dropout", "uncond_prob", "infill_prob", "infill_controls", "infill_track_prob",
                  "chords", "part_prob", "roles", "densities")
        for name in shares:
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} {getattr(self, name)} is out of range 0..1")
        if not 0 <= self.prefix <= MAX_PREFIX:
            raise ConfigError(f"prefix {self.prefix} is out of range 0..{MAX_PREFIX}")
        if self.prefix and self.infill_prob:
            raise ConfigError(f"infill_prob {self.infill_prob} needs prefix 0: infilling rows carry no caption")
        if self.init is not None and not Path(self.init).is_dir():
            raise ConfigError(f"init {self.init} is not a folder: expected a checkpoint folder")

    @classmethod
    def from_yaml(cls, path: str | Path | None, **overrides: Any) -> TrainConfig:
        values: dict[str, Any] = {}
        if path is not None:
            p = Path(path)
            if not p.is_file():
                raise ConfigError(f"config file {p} does not exist")
            values = yaml.safe_load(p.read_text()) or {}
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown config keys {sorted(unknown)}: allowed {sorted(known)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def model_config(self) -> ModelConfig:
        base = asdict(PRESETS[self.preset])
        base["max_len"] = self.max_len
        return ModelConfig(**base)


class SegmentDataset(Dataset):
    """Examples as input ids with condition dropout; labels mask the header. With a prefix,
    each row also carries the caption of its kept conditions."""

    def __init__(self, examples: list, tok: Tokenizer, cfg: TrainConfig, train: bool) -> None:
        self.examples, self.tok, self.cfg, self.train = examples, tok, cfg, train
        self.rng = np.random.default_rng(cfg.seed)

    def __len__(self) -> int:
        return len(self.examples)

    def conditions(self, conds: np.ndarray, idx: int) -> list[int]:
        # validation sees every attribute; training drops them (fresh draw per visit)
        if not self.train:
            return conds.tolist()
        if self.rng.random() < self.cfg.uncond_prob:
            return []
        keep = self.rng.random(len(conds)) >= self.cfg.attr_dropout
        return conds[keep].tolist()

    def infill(self, music: list[int], room: int) -> tuple[list[int], list[int]] | None:
        """(context, fill) of a random gap (MIDI-RWKV's mix by default: a whole track a quarter
        of the time, else 1-4 bars of one track), or None when it does not fit in `room` tokens."""
        bars = split_bars(music, self.tok)
        gap = random_gap(bars, self.tok, self.rng, self.cfg.infill_track_prob)
        if gap is None:
            return None
        context, fill = make_infill(music, gap, self.tok, self.cfg.infill_controls, self.rng)
        return (context, fill) if len(context) + len(fill) + 1 <= room else None

    def music(self, music: np.ndarray) -> list[int]:
        """A window's music ids, with its bars' chords as often as cfg.chords says."""
        if self.cfg.chords and (not self.train or self.rng.random() < self.cfg.chords):
            return add_chords(music.tolist(), self.tok)
        return music.tolist()

    def one_part(self, kept: list[int], music: list[int]) -> tuple[list[int], list[int]]:
        """(conditions, music) of the window with one of its pitched parts alone (not a piano;
        one that plays in at least half its bars, as a part that opens a piece does), the
        header's instruments (if it kept them) that part's; unchanged when no part qualifies."""
        bars = split_bars(music, self.tok)
        values = programs_of(bars, self.tok)
        lone = [v for v in values
                if v >= 0 and family(v) != "piano" and 2 * plays_in(bars, v, self.tok) >= len(bars)]
        if len(values) < 2 or not lone:
            return kept, music
        program = lone[int(self.rng.integers(len(lone)))]
        named = [i for i in kept if not self.tok.tokens[i].startswith("Inst_")]
        if len(named) < len(kept):
            named.append(self.tok.vocab[inst_token(program)])
        return named, keep_track(bars, program, self.tok)

    def said(self, share: float) -> bool:
        """Whether a window says a part attribute given in `share` of windows (always in
        validation, when it is on)."""
        return bool(share) and (not self.train or self.rng.random() < share)

    def with_parts(self, kept: list[int], window: np.ndarray) -> list[int]:
        """`kept` with each named part's role and notes a bar (as the window's own notes play
        them) after its Inst token, as often as cfg.roles and cfg.densities say."""
        roles, busy = self.said(self.cfg.roles), self.said(self.cfg.densities)
        if not (roles or busy):
            return kept
        score = self.tok.decode(window.tolist())
        parts = []  # program -> the token said after its Inst token, one map per attribute
        if roles:
            parts.append({p: role_token(r) for p, r in part_roles(score).items()})
        if busy:
            parts.append({p: f"Density_{d}" for p, d in part_densities(score).items()})  # capped at 18
        out = []
        for i in kept:
            out.append(i)
            token = self.tok.tokens[i]
            if token.startswith("Inst_") and token != "Inst_drums":
                out += [self.tok.vocab[said[int(token[5:])]] for said in parts if int(token[5:]) in said]
        return out

    def __getitem__(self, idx: int) -> dict[str, Any]:
        conds, window = self.examples[idx]
        kept = self.conditions(conds, idx)
        music = self.music(window)
        part_room = 2 * MAX_INSTRUMENTS if self.cfg.roles or self.cfg.densities else 0  # roles, densities
        room = self.cfg.max_len - self.cfg.prefix - len(kept) - 2 - part_room
        task = (self.infill(music, room)
                if self.train and self.cfg.infill_prob and self.rng.random() < self.cfg.infill_prob else None)
        if task is None and self.train and self.cfg.part_prob and self.rng.random() < self.cfg.part_prob:
            kept, music = self.one_part(kept, music)
        kept = self.with_parts(kept, window)
        head = [self.tok.bos_id, *kept, self.tok.cond_end_id]
        if task is not None:  # the loss is on the fill only: the context is given
            context, fill = task
            ids = head + context + fill + [self.tok.eos_id]
            labels = [-100] * (len(head) + len(context)) + fill + [self.tok.eos_id]
            return {"input_ids": ids, "labels": labels}
        # prefix positions share the context, so prefix + tokens fit the generation cache
        ids = (head + music + [self.tok.eos_id])[: self.cfg.max_len - self.cfg.prefix]
        labels = [-100] * len(head) + ids[len(head):]
        row: dict[str, Any] = {"input_ids": ids, "labels": labels}
        if self.cfg.prefix:  # the text states only the kept attributes; validation's wording is fixed
            row["caption"] = caption_for(self.tok, kept, self.rng if self.train else None)
        return row


def collate(pad_id: int, captions: bool = False):  # type: ignore[no-untyped-def]
    """Right-padded batches; with `captions`, also `text_emb` (B, 384) of the rows' captions
    from frozen MiniLM (encode_texts caches by string, and windows' captions repeat)."""

    def fn(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        # widths rounded up to 64: few distinct shapes keep kernel caches and the heap small
        width = -(-max(len(r["input_ids"]) for r in rows) // 64) * 64
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            labels[i, :n] = torch.tensor(r["labels"])
            mask[i, :n] = 1
        batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        if captions:
            from tunesmith.retrieval.text_encoder import encode_texts  # loads MiniLM

            batch["text_emb"] = torch.from_numpy(encode_texts([r["caption"] for r in rows]))
        return batch

    return fn


class TokenRate(TrainerCallback):
    """Adds tokens/s (non-padding input tokens across all processes) to the logs."""

    def __init__(self, tokens_per_step: float) -> None:
        self.tokens_per_step = tokens_per_step
        self.start = time.perf_counter()
        self.first_step = 0

    def on_train_begin(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
        self.start, self.first_step = time.perf_counter(), state.global_step

    def on_log(self, args, state, control, logs=None, **kw):  # type: ignore[no-untyped-def]
        if logs is not None and "loss" in logs:
            steps = state.global_step - self.first_step
            logs["tokens_per_s"] = round(steps * self.tokens_per_step / (time.perf_counter() - self.start), 1)


def training_arguments(cfg: TrainConfig) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(Path(cfg.out) / "checkpoints"),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.lr,
        weight_decay=0.1,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_steps,
        max_steps=cfg.max_steps,
        eval_strategy="steps",
        eval_steps=cfg.eval_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.keep_checkpoints,
        logging_steps=25,
        bf16=cfg.bf16,
        use_cpu=True,
        seed=cfg.seed,
        data_seed=cfg.seed,
        dataloader_num_workers=0,
        report_to=[],
        disable_tqdm=False,
        remove_unused_columns=False,
        train_sampling_strategy="group_by_length",  # batches of similar length waste less compute on padding
        ddp_backend="gloo" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
    )


# Fields that shape the weights; max_len may differ, as RoPE has no position weights.
ARCHITECTURE = ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "rope_theta")


def load_init(path: Path, preset: str, mcfg: ModelConfig, tok: Tokenizer) -> Checkpoint:
    """The checkpoint at `path`, checked against the preset's architecture and vocabulary;
    a vocabulary that the current one extends (chord tokens) gets new embedding rows
    (transformers' mean resizing, then `seed_chord_rows`), as MIDI-LLM expands an LLM's."""
    meta = path / "tunesmith.json"
    if not meta.is_file():
        raise ConfigError(f"init {path} has no tunesmith.json: expected a folder saved by training")
    saved = json.loads(meta.read_text()).get("model", {})
    for name in ARCHITECTURE:
        if saved.get(name) != getattr(mcfg, name):
            raise ConfigError(f"init {path} has {name} {saved.get(name)}: "
                              f"preset {preset!r} expects {getattr(mcfg, name)}")
    ckpt = load_checkpoint(path)
    old = ckpt.tokenizer.tokens
    if old != tok.tokens[: len(old)]:
        raise ConfigError(f"init {path} has a vocabulary of {len(ckpt.tokenizer)} tokens: "
                          f"expected the current tokenizer's {len(tok)} or its first tokens")
    if len(old) < len(tok):
        torch.manual_seed(0)  # the new rows are drawn: the same init gives the same start
        ckpt.model.resize_token_embeddings(len(tok), mean_resizing=True)
        seed_chord_rows(ckpt.model, tok, new=range(len(old), len(tok)))
    return ckpt


def seed_chord_rows(model: LlamaForCausalLM, tok: Tokenizer, new: range) -> None:
    """Start each new chord token's embedding as the mean of its tones' Pitch embeddings (all
    octaves), so the model reads a chord as the pitches it names from the first step: with
    mean-resized rows alone, 300 steps later the notes still ignored the asked chords (majmin
    agreement 27 %, as without chord tokens). Chord_N keeps its mean-resized row; only the
    `new` ids are touched (a model that has chord rows keeps what it learned in them)."""
    from tunesmith.theory import chord_pitch_classes

    embedding = model.get_input_embeddings()
    assert isinstance(embedding, torch.nn.Embedding)  # a Llama's token embedding
    rows = embedding.weight  # (V, D), tied to the output
    with torch.no_grad():
        for token, i in tok.vocab.items():
            if i not in tok.chord_ids or i not in new or token == "Chord_N":
                continue
            tones = chord_pitch_classes(token.split("_", 1)[1])
            ids = [j for t, j in tok.vocab.items() if t.startswith("Pitch_") and tones[int(t[6:]) % 12]]
            rows[i] = rows[ids].mean(dim=0)


def initial_model(cfg: TrainConfig, mcfg: ModelConfig, tok: Tokenizer) -> LlamaForCausalLM:
    """Random weights, or those of cfg.init (built from the preset so max_len is ours)."""
    model = build_model(mcfg, tok, seed=cfg.seed)
    if cfg.init is not None:
        model.load_state_dict(load_init(Path(cfg.init), cfg.preset, mcfg, tok).model.state_dict())
    return model


def initial_prefix(cfg: TrainConfig, mcfg: ModelConfig) -> TextPrefix:
    """Zeros, or cfg.init's prefix when it has one of the same length."""
    prefix = TextPrefix(PrefixConfig(length=cfg.prefix), mcfg.dim)
    if cfg.init is not None:
        entry = json.loads((Path(cfg.init) / "tunesmith.json").read_text()).get("prefix")
        if entry and entry["length"] == cfg.prefix:
            prefix.load_state_dict(load_prefix(Path(cfg.init), entry).state_dict())
    return prefix


class PrefixTrainer(Trainer):
    """Saves a PrefixLM's state dict without the tied output matrix, which safetensors
    refuses to store twice (a resume loads non-strictly and re-ties it)."""

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        assert self.model is not None  # the Trainer was built with a model
        state = state_dict if state_dict is not None else self.model.state_dict()
        skip = set(PrefixLM._keys_to_ignore_on_save)
        super()._save(output_dir, {k: v for k, v in state.items() if k not in skip})


def check_segments_tokenizer(directory: Path, tok: Tokenizer) -> None:
    """Refuse windows that another tokenizer made (their ids would mean other tokens)."""
    from tunesmith.data.segments import tokenizer_hash

    meta = directory / "segments.json"
    made = json.loads(meta.read_text()).get("tokenizer") if meta.is_file() else None
    if made and made != tokenizer_hash(tok):  # "" or absent: an older build that recorded none
        raise ConfigError(f"{directory} was made by tokenizer {made}, this run's is {tokenizer_hash(tok)}: "
                          "rebuild it with `tunesmith data segments`")


def latest_checkpoint(out: Path) -> str | None:
    ckpts = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return str(ckpts[-1]) if ckpts else None


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train (or resume) and write the final checkpoint, metrics and loss curve to cfg.out."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    tok = Tokenizer.default()
    mcfg = cfg.model_config()
    model = initial_model(cfg, mcfg, tok)  # first, so that a bad init fails before data loads
    dirs = [Path(d) for d in cfg.segments.split(",")]  # several segment builds may be mixed
    for d in dirs:
        check_segments_tokenizer(d, tok)
    train_set = SegmentDataset([e for d in dirs for e in load_split(d, "train")], tok, cfg, train=True)
    valid = [e for d in dirs for e in load_split(d, "valid")]
    rng = np.random.default_rng(cfg.seed)
    pick = rng.permutation(len(valid))[: cfg.eval_batches * cfg.batch_size]
    valid_set = SegmentDataset([valid[i] for i in pick], tok, cfg, train=False)
    mean_len = float(np.mean([min(len(c) + len(m) + 3, cfg.max_len) for c, m in train_set.examples]))
    args = training_arguments(cfg)
    prefix = initial_prefix(cfg, mcfg) if cfg.prefix else None
    trainer = (Trainer if prefix is None else PrefixTrainer)(
        model=model if prefix is None else PrefixLM(model, prefix), args=args,
        train_dataset=train_set, eval_dataset=valid_set,
        data_collator=collate(tok.pad_id) if prefix is None else collate(tok.pad_id, captions=True),
        callbacks=[TokenRate(mean_len * cfg.batch_size * cfg.grad_accum * args.world_size)],
    )
    (out / "train_config.yaml").write_text(yaml.safe_dump(asdict(cfg)))
    trainer.train(resume_from_checkpoint=latest_checkpoint(out))  # its weights replace init's
    metrics: dict[str, Any] = dict(trainer.evaluate())
    if trainer.is_world_process_zero():
        final = save_checkpoint(Checkpoint(model, tok, mcfg, prefix=prefix), out / "final")
        history = trainer.state.log_history
        (out / "log_history.json").write_text(json.dumps(history, indent=1))
        plot_losses(history, out / "loss.png")
        metrics["checkpoint"] = str(final)
        metrics["n_params"] = sum(p.numel() for m in (model, prefix) if m is not None for p in m.parameters())
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()  # no rank leaves before rank 0 has written the checkpoint
        # a gloo group left open at interpreter exit can abort a rank ("terminate called
        # without an active exception", seen once in the two-process test)
        torch.distributed.destroy_process_group()
    return metrics


def export_checkpoint(step_dir: str | Path, out: str | Path) -> Path:
    """A tunesmith checkpoint (model, tokenizer, prefix if any) from one of the Trainer's
    intermediate `checkpoints/checkpoint-N` folders, to generate or evaluate from it; the
    training config is read from the run folder's train_config.yaml."""
    from safetensors.torch import load_file

    step_dir = Path(step_dir)
    run_cfg = step_dir.parent.parent / "train_config.yaml"
    weights = step_dir / "model.safetensors"
    if not run_cfg.is_file() or not weights.is_file():
        raise ConfigError(f"{step_dir} is not a Trainer checkpoint of a tunesmith run "
                          f"(needs {weights.name} and ../../train_config.yaml)")
    cfg = TrainConfig.from_yaml(run_cfg)
    tok, mcfg = Tokenizer.default(), cfg.model_config()
    model = build_model(mcfg, tok)
    prefix = TextPrefix(PrefixConfig(length=cfg.prefix), mcfg.dim) if cfg.prefix else None
    holder = model if prefix is None else PrefixLM(model, prefix)
    missing, unexpected = holder.load_state_dict(load_file(str(weights)), strict=False)
    if unexpected or [k for k in missing if not k.endswith("lm_head.weight")]:
        raise ConfigError(f"{weights} does not fit the run's model: missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]}")
    model.tie_weights()
    return save_checkpoint(Checkpoint(model.eval(), tok, mcfg, prefix=prefix), out)


def plot_losses(history: list[dict[str, Any]], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    tr = [(h["step"], h["loss"]) for h in history if "loss" in h]
    ev = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if tr:
        ax.plot(*zip(*tr, strict=True), label="train loss", lw=1)
    if ev:
        ax.plot(*zip(*ev, strict=True), "o-", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
