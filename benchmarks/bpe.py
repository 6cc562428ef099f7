"""Should tunesmith put BPE on top of REMI+? Tokens per note and decode safety, measured.

Consumes up to N O'Neill tunes (music21 corpus, converted through tunesmith.data) and, when
/work/shared/data/pop909 exists, some POP909 songs; trains miditok 3.1 BPE (Hugging Face
tokenizers, merges within a bar) on the train-split pieces for each vocabulary size and
reports, on held-out pieces: tokens per note, whether encode -> decode gives the same notes
as plain REMI+, and whether randomly corrupted id sequences (a stand-in for sampled ones)
still decode, with the grammar errors (miditok's tokens_errors) of what they decode to.

Architecture point: tunesmith samples under a token grammar (generation/grammar.py), a state
machine over the *base* REMI+ vocabulary (Bar, Position, Program, Pitch, Velocity, Duration).
A BPE token is a run of several base tokens, so a grammar mask over merged tokens would have
to advance the state machine through every candidate's expansion at every step (vocabulary x
expansion length work per token, and states such as bar counts or onset limits make it
path-dependent). BPE therefore buys shorter sequences at the price of that masking layer.
Run:  python benchmarks/bpe.py [--tunes 300] [--pop909 40] [--vocab 1000 2000 4000]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from miditok import TokSequence
from rich.console import Console
from rich.table import Table
from symusic import Score, TimeSignature

from tunesmith.data.build import split_of
from tunesmith.data.corpora import open_corpus
from tunesmith.tokenization import Tokenizer

POP909 = Path("/work/shared/data/pop909")


def load_pieces(tunes: int, pop909: int) -> dict[str, list[tuple[str, Score]]]:
    """(id, score) per corpus; POP909 only if its folder is there."""
    groups = {"oneills1850": [(p.id, p.score) for p in itertools.islice(
        open_corpus("music21:oneills1850"), tunes)]}
    if pop909 > 0 and POP909.is_dir():
        songs = []
        for p in itertools.islice(open_corpus(f"pop909:{POP909}"), pop909):
            score = p.score.copy()
            # as in data/segments.py: POP909's MIDI meters are wrong, the songs are in 4/4
            score.time_signatures = [TimeSignature(0, 4, 4)]
            songs.append((p.id, score))
        groups["pop909"] = songs
    return groups


def train_bpe(train_files: list[Path], vocab_size: int) -> tuple[Tokenizer, float]:
    """A fresh tunesmith tokenizer whose REMI+ object has learned BPE merges; seconds taken."""
    tok = Tokenizer.default()
    start = time.perf_counter()
    tok.remi.train(vocab_size=vocab_size, model="BPE", files_paths=train_files)
    return tok, time.perf_counter() - start


def note_multiset(score: Score) -> Counter:
    return Counter((t.program, t.is_drum, n.pitch, n.time, n.duration)
                   for t in score.tracks for n in t.notes)


def decodes_same(base: Tokenizer, tok: Tokenizer, score: Score) -> bool:
    """BPE encode -> decode gives the notes plain REMI+ encode -> decode gives."""
    try:
        got = tok.remi.decode(tok.remi.encode(score))
    except Exception:  # noqa: BLE001 - any failure to decode counts against BPE
        return False
    return note_multiset(got) == note_multiset(base.remi.decode(base.remi.encode(score)))


def corrupt(ids: list[int], n_special: int, vocab: int, rate: float,
            rng: np.random.Generator) -> list[int]:
    """`ids` with a share `rate` of positions replaced by uniform non-special ids."""
    out = np.array(ids)
    hit = rng.random(len(out)) < rate
    out[hit] = rng.integers(n_special, vocab, int(hit.sum()))
    return out.tolist()


def corrupted_decode(tok: Tokenizer, seqs: list[list[int]], rate: float,
                     seed: int) -> tuple[float, float]:
    """(share of corrupted sequences that decode without raising, their grammar errors in all).

    Corruption is per id, i.e. per sampling step: a BPE model takes fewer steps per note."""
    rng = np.random.default_rng(seed)
    ok, errors = 0, 0.0
    for ids in seqs:
        bad = corrupt(ids, tok.n_special, len(tok.remi), rate, rng)
        try:
            tok.remi.decode(bad)
            seq = TokSequence(ids=bad, are_ids_encoded=tok.remi.is_trained)
            if tok.remi.is_trained:
                tok.remi.decode_token_ids(seq)
            tok.remi.complete_sequence(seq)
            # miditok gives errors / base tokens; times the base length gives the count
            errors += float(tok.remi.tokens_errors(seq)) * len(seq.tokens)
            ok += 1
        except Exception:  # noqa: BLE001 - counting failures is the point
            pass
    return ok / max(len(seqs), 1), errors


def row(base: Tokenizer, tok: Tokenizer, held: list[Score], rate: float) -> dict[str, float]:
    notes = sum(base.preprocess(s).note_num() for s in held)
    seqs = [list(tok.remi.encode(s).ids) for s in held]
    ok, errors = corrupted_decode(tok, seqs, rate, seed=0)
    same = np.mean([decodes_same(base, tok, s) for s in held])
    return {"tok/note": sum(map(len, seqs)) / notes, "roundtrip": same, "corrupt_ok": ok,
            "errors_per_100_notes": 100 * errors / notes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tunes", type=int, default=300, help="O'Neill tunes to read")
    parser.add_argument("--pop909", type=int, default=40, help="POP909 songs, if present")
    parser.add_argument("--vocab", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--corrupt", type=float, default=0.02, help="share of ids replaced")
    args = parser.parse_args()
    groups = load_pieces(args.tunes, args.pop909)
    base = Tokenizer.default()
    held = {g: [s for i, s in pieces if split_of(i) != "train"] for g, pieces in groups.items()}
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for g, pieces in groups.items():
            for k, (i, s) in enumerate(pieces):
                if split_of(i) == "train":
                    files.append(Path(tmp) / f"{g}_{k}.mid")
                    s.dump_midi(files[-1])
        tokenizers = [("REMI+", len(base), base, 0.0)]
        for v in args.vocab:
            tok, seconds = train_bpe(files, v)
            tokenizers.append((f"REMI+ BPE {v}", len(tok.remi), tok, seconds))
    print_table(base, tokenizers, held, args.corrupt, len(files))


def print_table(base: Tokenizer, tokenizers: list, held: dict[str, list[Score]], rate: float,
                n_train: int) -> None:
    sizes = ", ".join(f"{g} {len(s)}" for g, s in held.items())
    table = Table(title=f"BPE trained on {n_train} pieces; held out: {sizes}; "
                  f"corruption {rate:.0%} of ids")
    for col in ("scheme", "vocab", "train s", "corpus", "tokens/note", "vs REMI+", "round trip ok",
                "corrupted decode ok", "grammar errors / 100 notes"):
        table.add_column(col, justify="left" if col in ("scheme", "corpus") else "right")
    plain = {g: row(base, base, s, rate)["tok/note"] for g, s in held.items()}
    for name, vocab, tok, seconds in tokenizers:
        for g, scores in held.items():
            r = row(base, tok, scores, rate)
            table.add_row(name, str(vocab), f"{seconds:.1f}", g, f"{r['tok/note']:.2f}",
                          f"{r['tok/note'] / plain[g]:.2f}x", f"{r['roundtrip']:.0%}",
                          f"{r['corrupt_ok']:.0%}", f"{r['errors_per_100_notes']:.1f}")
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
