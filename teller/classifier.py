"""Run a bundle's ONNX model: masked text in, per-head probabilities out. No torch needed."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from teller.bundle import Bundle
from teller.masking import model_view


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class BundleClassifier:
    """ONNX Runtime session over a bundle; batches texts by length to keep padding low."""

    def __init__(
        self,
        bundle: Bundle,
        variant: str | None = None,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.bundle = bundle
        self.variant = variant or bundle.info.default_variant
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        # Spinning threads make batch-1 latency swing wildly on small machines.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = ort.get_available_providers()
        chosen = [p for p in (providers or ["CUDAExecutionProvider", "CPUExecutionProvider"]) if p in available]
        self.session = ort.InferenceSession(str(bundle.onnx_path(self.variant)), options, providers=chosen)
        self.tokenizer = Tokenizer.from_file(str(bundle.tokenizer_path))
        self.tokenizer.enable_truncation(max_length=bundle.info.max_length)
        self.tokenizer.no_padding()
        self.heads = bundle.info.heads

    def logits(self, texts: Sequence[str], batch_size: int = 32) -> dict[str, np.ndarray]:
        """Raw logits per head, rows in the order of `texts` (already masked)."""
        encodings = self.tokenizer.encode_batch([model_view(t) for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        outputs: dict[str, list[np.ndarray]] = {h: [] for h in self.heads}
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[r].ids) for r in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for i, r in enumerate(rows):
                n = len(encodings[r].ids)
                ids[i, :n], mask[i, :n] = encodings[r].ids, 1
            result = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
            for head, z in zip(self.heads, result, strict=True):
                outputs[head].append(z)
        inverse = np.argsort(order)
        return {h: np.concatenate(v)[inverse] if v else np.zeros((0, 0)) for h, v in outputs.items()}

    def probabilities(self, texts: Sequence[str], batch_size: int = 32) -> dict[str, np.ndarray]:
        """Softmax probabilities per head."""
        return {h: softmax(z) for h, z in self.logits(texts, batch_size).items()}
