"""Melody index figures: text -> melody retrieval on held-out pieces, and the index at scale.

Retrieval: one phrase per test-split piece of each corpus (the split of `data build`, never
in the shipped index), its caption written from the features of all its parts over the
phrase's bars; CLMP text vector vs melody vectors. Pools: the held-out phrases alone, and the
held-out phrases among the shipped index (distractors), plain and filtered by the key and
meter parsed from the caption. R@k and mAP as MG2 reports them (mAP = MRR: one relevant).
Scale: CLMP-like vectors (copies of the shipped vectors plus noise) at 10k and 100k:
build time, memory (= file size), query time and recall@10 against exact search.

    python benchmarks/melody_index.py --data ../shared/data [--per-corpus 150] [--splits test]
        [--scale 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tunesmith.captions import caption, features, parse
from tunesmith.data.build import split_of
from tunesmith.data.corpora import open_corpus
from tunesmith.retrieval import Clmp, MelodyIndex, extract_phrases, retrieval_metrics
from tunesmith.retrieval.index import IndexConfig
from tunesmith.retrieval.melody import _window
from tunesmith.retrieval.search import embed_phrases
from tunesmith.theory import bar_starts


def heldout(data: Path, per_corpus: int, seed: int,
            splits: tuple[str, ...] = ("test",)) -> tuple[list, list[str]]:
    """(phrases, captions): one random phrase of each piece of `splits`, up to per_corpus."""
    rng = np.random.default_rng(seed)
    phrases, captions = [], []
    for spec in (f"pop909:{data / 'pop909'}", f"nottingham:{data / 'nottingham'}"):
        n = 0
        for piece in open_corpus(spec):
            if split_of(str(piece.labels.get("group") or piece.id)) not in splits:
                continue
            ps = extract_phrases(piece.score, piece.id, piece.corpus, piece.labels)
            if not ps:
                continue
            p = ps[int(rng.integers(len(ps)))]
            # the caption describes every part over the phrase's bars
            starts = bar_starts(piece.score, n_bars=p.bar_end + 1)
            window = _window(piece.score, starts[p.bar_start], starts[p.bar_end])
            captions.append(caption(features(window, piece.labels), rng))
            phrases.append(p)
            n += 1
            if n >= per_corpus:
                break
    return phrases, captions


def ranks_in_pool(text: np.ndarray, mel: np.ndarray, pool: np.ndarray,
                  masks: list[np.ndarray] | None = None) -> dict[str, float]:
    """Retrieval of held-out phrase i (row i of mel) for caption i among mel + pool,
    optionally only over candidates allowed by masks[i] (the parsed key/meter filter)."""
    cand = np.concatenate([mel, pool])  # (N + P, E)
    sim = text @ cand.T  # (N, N + P)
    if masks is not None:
        sim = np.where(np.stack(masks), sim, -np.inf)
    own = sim[np.arange(len(text)), np.arange(len(text))]
    r = (sim >= own[:, None]).sum(1)
    out = {f"R@{k}": float((r <= k).mean()) for k in (1, 5, 10)}
    out["mAP"] = float((1 / r).mean())
    out["median_rank"] = float(np.median(r))
    out["pool"] = float(cand.shape[0])
    return out


def retrieval_table(data: Path, per_corpus: int, seed: int,
                    splits: tuple[str, ...]) -> dict[str, dict[str, float]]:
    clmp = Clmp.load()
    shipped = MelodyIndex.open()
    phrases, caps = heldout(data, per_corpus, seed, splits)
    text = clmp.embed_text(caps)
    mel = embed_phrases(clmp, phrases)
    pool = np.asarray(shipped.graph.get_items(np.arange(len(shipped))), dtype=np.float32)
    meta = [p.meta() for p in phrases] + shipped.rows
    masks = []
    for c in caps:
        a = parse(c)
        masks.append(np.array([(a.key is None or m["key"] == a.key)
                               and (a.time_signature is None or m["meter"] == a.time_signature)
                               for m in meta]))
    out = {"held-out only": retrieval_metrics(text @ mel.T)}
    out["+ shipped index"] = ranks_in_pool(text, mel, pool)
    out["+ shipped index, key & meter filter"] = ranks_in_pool(text, mel, pool, masks)
    for corpus in ("pop909", "nottingham"):
        sel = np.array([p.corpus == corpus for p in phrases])
        if sel.sum() >= 2:
            out[f"held-out only, {corpus}"] = retrieval_metrics(text[sel] @ mel[sel].T)
    out["_chance R@1, held-out only"] = {"R@1": 1 / len(phrases)}
    out["top-5 of the shipped index agree with the caption (%)"] = agreement(
        caps, text, shipped, phrases)
    return out


def agreement(caps: list[str], text: np.ndarray, shipped: MelodyIndex,
              phrases: list) -> dict[str, float]:
    """Share of the top 5 retrieved from the shipped index (HNSW, no filter) whose meter,
    key and genre are those the caption asks (captions that ask none are left out), beside
    the share a random phrase of the index would have (the base rate)."""
    hits = {"meter": [], "key": [], "genre": []}
    base = {"meter": [], "key": [], "genre": []}
    for c, q in zip(caps, text, strict=True):
        a = parse(c)
        want = {"meter": a.time_signature, "key": a.key, "genre": a.genre}
        top = [shipped.rows[i] for i, _ in shipped.search(q, k=5)]
        for f, v in want.items():
            if v is not None:
                hits[f] += [r[f] == v for r in top]
                base[f].append(np.mean([r[f] == v for r in shipped.rows]))
    out = {}
    for f in hits:
        out[f] = round(100 * float(np.mean(hits[f])), 1) if hits[f] else float("nan")
        out[f"{f} (base rate)"] = round(100 * float(np.mean(base[f])), 1) if base[f] else float("nan")
    return out


def scale_row(n: int, base: np.ndarray, rng: np.random.Generator, tmp: Path) -> dict[str, float]:
    """Build an index of n noisy copies of the shipped vectors and time queries against it."""
    noise = rng.normal(scale=0.05, size=(n, base.shape[1])).astype(np.float32)
    vecs = base[rng.integers(len(base), size=n)] + noise
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    t0 = time.perf_counter()
    idx = MelodyIndex.create(IndexConfig(dim=base.shape[1]), capacity=n)
    idx.graph.add_items(vecs, np.arange(n), num_threads=1)
    build = time.perf_counter() - t0
    idx.graph.save_index(str(tmp / f"scale_{n}.bin"))
    size = (tmp / f"scale_{n}.bin").stat().st_size / 2**20
    queries = vecs[rng.integers(n, size=200)] + rng.normal(scale=0.05, size=(200, base.shape[1]))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    exact = np.argsort(-(queries @ vecs.T), axis=1)[:, :10]
    # hnswlib holds the same arrays in memory as in its file (level-0 vectors and links plus
    # the upper levels), so the file size is the index's memory (RSS grew 108 MB at 100k)
    row: dict[str, float] = {"n": n, "build_s": round(build, 1), "memory_MB": round(size, 1)}
    for ef in (64, 256):
        idx.graph.set_ef(ef)
        t = time.perf_counter()
        labels = [idx.graph.knn_query(q[None], k=10, num_threads=1)[0][0] for q in queries]
        row[f"ms_ef{ef}"] = round((time.perf_counter() - t) / len(queries) * 1e3, 3)
        row[f"recall@10_ef{ef}"] = round(float(np.mean(
            [len(set(a) & set(b)) / 10 for a, b in zip(labels, exact, strict=True)])), 3)
    keep = rng.random(n) < 0.1  # a filter keeping ~10 % (one key of a few common ones)
    idx.graph.set_ef(64)
    t = time.perf_counter()
    for q in queries:
        idx.graph.knn_query(q[None], k=10, num_threads=1, filter=lambda i: bool(keep[i]))
    row["ms_filtered10%_ef64"] = round((time.perf_counter() - t) / len(queries) * 1e3, 3)
    t = time.perf_counter()
    for q in queries:
        np.argsort(-(vecs @ q))[:10]
    row["ms_exact_numpy"] = round((time.perf_counter() - t) / len(queries) * 1e3, 3)
    (tmp / f"scale_{n}.bin").unlink()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--per-corpus", type=int, default=150)
    ap.add_argument("--scale", default="10000,100000")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--splits", default="test", help="held-out splits, e.g. valid,test")
    ap.add_argument("--out", type=Path, default=Path("runs/melody_index_bench.json"))
    ap.add_argument("--scale-row", type=int, help=argparse.SUPPRESS)  # one row, in a child
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.scale_row:
        base = np.asarray(MelodyIndex.open().graph.get_items(np.arange(len(MelodyIndex.open()))),
                          dtype=np.float32)
        row = scale_row(args.scale_row, base, np.random.default_rng(args.seed), args.out.parent)
        print(json.dumps(row))
        return
    out: dict[str, object] = {"retrieval": retrieval_table(args.data, args.per_corpus, args.seed,
                                                      tuple(args.splits.split(",")))}
    print(json.dumps(out["retrieval"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in (int(x) for x in args.scale.split(",") if x):
        child = subprocess.run([sys.executable, __file__, "--scale-row", str(n), "--seed",
                                str(args.seed), "--out", str(args.out)],
                               check=True, capture_output=True, text=True)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]))
    out["scale"] = rows
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
