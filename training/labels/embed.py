"""MiniLM sentence vectors for label work: the frozen-encoder baseline's embeddings, L2-normalised and cached."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from teller.settings import get_settings
from teller.taxonomy import load_taxonomy
from training.data import Example

MAX_LENGTH = 128


@lru_cache(maxsize=1)
def _tokenizer():
    from transformers import AutoTokenizer

    from training.model import encoder_path

    return AutoTokenizer.from_pretrained(str(encoder_path()))


def _cache_path(texts: list[str], max_length: int) -> Path:
    digest = hashlib.sha256(f"minilm-mean-v1\0{max_length}".encode())
    for text in texts:
        digest.update(text.encode() + b"\0")
    return get_settings().data_dir / "cache" / "label_vectors" / f"{digest.hexdigest()[:24]}.npy"


def embed(texts: list[str], max_length: int = MAX_LENGTH, cache: bool = True) -> np.ndarray:
    """Unit vectors (n, 384) of masked texts, from `training.baselines.frozen_embeddings` (same encoder and cut).

    Large sets are cached under var/cache/label_vectors keyed by their content, so a second proposal is quick.
    """
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    path = _cache_path(texts, max_length)
    if cache and path.is_file():
        return np.load(path)
    from training.baselines import frozen_embeddings

    examples = [Example(text=t, source="labels") for t in texts]
    vectors = frozen_embeddings(examples, _tokenizer(), load_taxonomy(), max_length)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    if cache and len(texts) >= 256:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
    return vectors
