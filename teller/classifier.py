"""Run a bundle: masked text in, per-head probabilities out (encoder + lexical ensemble). No torch needed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from teller.bundle import Bundle
from teller.lexical import LexicalModel, log_softmax
from teller.masking import model_view

# Graph fusions that make CPU inference slower: ONNX Runtime 1.32's CPU SkipLayerNormalization kernel takes about
# 4x as long as the Add + LayerNormalization it replaces on a MiniLM activation (110 vs 30 us for 82 x 384).
SLOW_CPU_FUSIONS = ("SkipLayerNormFusion",)
# Ops that quantise activations at run time: their int8 scale is taken over the whole input tensor.
DYNAMIC_INT8_OPS = frozenset({"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "MatMulInteger", "QAttention"})
# Characters tokenised per token the model reads (English narratives average 4-5 a token); the longest
# complaints run to 30,000 characters, so tokenising only their opening saves milliseconds a request.
CHARS_PER_TOKEN = 12


def quantises_dynamically(path: str) -> bool:
    """Whether an ONNX graph scales its int8 activations by the batch it is given (dynamic quantisation)."""
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    return any(node.op_type in DYNAMIC_INT8_OPS for node in graph.node)


def session_options(threads: int | None = None, spin: bool = False):
    """ONNX Runtime options for serving on CPUs: every core unless told; threads that spin between ops only when
    asked (`spin`): they cut batch-1 latency by about a third on cores of their own, but take cycles from whatever
    shares the cores (masking, answers) and make latency swing wildly on small machines."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return options


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def head_tail(ids: list[int], max_length: int, tail: int = 0) -> list[int]:
    """Fit token ids ([CLS] ... [SEP]) into max_length, keeping the first tokens and the last `tail` ones."""
    if len(ids) <= max_length:
        return ids
    return ids[: max_length - 1] + ids[-1:] if tail <= 0 else ids[: max_length - tail] + ids[-tail:]


def pool(encoder: dict[str, np.ndarray], lexical: dict[str, np.ndarray], weights: dict[str, float]) -> dict:
    """Log-linear pool per head: softmax((1 - w) log p_encoder + w log p_lexical); heads without w keep p_encoder."""
    out = {}
    for head, z in encoder.items():
        w = weights.get(head, 0.0)
        out[head] = softmax((1 - w) * log_softmax(z) + w * lexical[head]) if w > 0 else softmax(z)
    return out


def decide_jointly(team: np.ndarray, issue: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Team and issue chosen as the most likely pair the taxonomy allows (mask: team x issue).

    Each team is scored with the best issue it can carry and each issue with the best team that can carry it,
    so both argmaxes are the best pair's, and the runner-up issues an agent sees may belong to another team
    (the likely fix when the team is wrong). Both come back renormalised.
    """
    pairs = team[:, :, None] * issue[:, None, :] * mask[None]
    return _normalised(pairs.max(axis=2)), _normalised(pairs.max(axis=1))


def _normalised(scores: np.ndarray) -> np.ndarray:
    return scores / np.maximum(scores.sum(axis=1, keepdims=True), 1e-12)


class BundleClassifier:
    """ONNX Runtime session over a bundle; batches texts by length to keep padding low."""

    def __init__(
        self,
        bundle: Bundle,
        variant: str | None = None,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        spin: bool = False,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.bundle = bundle
        self.variant = variant or bundle.info.default_variant
        path = str(bundle.onnx_path(self.variant))
        # A dynamic int8 graph runs one text at a time, so no decision depends on the texts batched with it. A
        # batch's texts then run side by side, each on one thread (no hand-offs between ops): 1.7x the texts/s of
        # runs that split each op over the cores. A lone text still gets every core (same outputs, bit for bit):
        # 1.6x one thread's rate where fp32 FFNs dominate (192 tokens), no slower on a fully int8 graph. Spinning
        # threads keep to one run over every core.
        self.one_per_run = quantises_dynamically(path)
        threads = threads or os.cpu_count() or 1
        self.workers = threads if self.one_per_run and not spin else 1
        available = ort.get_available_providers()
        chosen = [p for p in (providers or ["CUDAExecutionProvider", "CPUExecutionProvider"]) if p in available]
        slow = list(SLOW_CPU_FUSIONS) if chosen[:1] == ["CPUExecutionProvider"] else []
        options = session_options(1 if self.workers > 1 else threads, spin)
        self.session = ort.InferenceSession(path, options, providers=chosen, disabled_optimizers=slow)
        self._solo = (
            ort.InferenceSession(path, session_options(threads), providers=chosen, disabled_optimizers=slow)
            if self.workers > 1
            else self.session
        )
        self._pool = ThreadPoolExecutor(self.workers, "classifier") if self.workers > 1 else None
        self.tokenizer = Tokenizer.from_file(str(bundle.tokenizer_path))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.heads = bundle.info.heads
        self.lexical = LexicalModel.load(bundle.path) if bundle.info.ensemble else None

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of masked texts, cut to the bundle's max length as in training (head + tail).

        A bundle that reads only the head tokenises a long text's opening words, cut at a space (a word's
        tokens never depend on the next word), and the whole text only when those gave too few tokens.
        """
        info = self.bundle.info
        views = [model_view(t) for t in texts]
        if info.tail_tokens:
            heads = views
        else:
            limit = CHARS_PER_TOKEN * info.max_length
            heads = [v if len(v) <= limit else v[: max(v.rfind(" ", 0, limit), 0)] for v in views]
        encodings = self.tokenizer.encode_batch(heads)
        short = [i for i, e in enumerate(encodings) if heads[i] is not views[i] and len(e.ids) <= info.max_length]
        for i, e in zip(short, self.tokenizer.encode_batch([views[i] for i in short]), strict=True):
            encodings[i] = e
        return [head_tail(e.ids, info.max_length, info.tail_tokens) for e in encodings]

    def logits(self, texts: Sequence[str], batch_size: int = 32) -> dict[str, np.ndarray]:
        """The encoder's raw logits per head, rows in the order of `texts` (already masked)."""
        return self.logits_of(self.encode(texts), batch_size)

    def logits_of(self, encodings: Sequence[list[int]], batch_size: int = 32) -> dict[str, np.ndarray]:
        """The encoder's raw logits per head for token ids that already fit the bundle's length, rows in order."""
        batch_size = 1 if self.one_per_run else batch_size
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i]))
        batches = [[encodings[r] for r in order[s : s + batch_size]] for s in range(0, len(order), batch_size)]
        if self._pool and len(batches) > 1:
            results = self._pool.map(self._run, batches)
        else:
            results = (self._run(b, self._solo) for b in batches)
        outputs: dict[str, list[np.ndarray]] = {h: [] for h in self.heads}
        for result in results:
            for head, z in zip(self.heads, result, strict=True):
                outputs[head].append(z)
        inverse = np.argsort(order)
        return {h: np.concatenate(v)[inverse] if v else np.zeros((0, 0)) for h, v in outputs.items()}

    def _lexical(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return {f"{h}_logits": p for h, p in self.lexical.log_probs(list(texts)).items()} if self.lexical else {}

    def _run(self, batch: list[list[int]], session=None) -> list[np.ndarray]:
        """One session run over token ids, padded to the longest (on the side-by-side session unless told)."""
        ids = np.zeros((len(batch), max(map(len, batch))), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, row in enumerate(batch):
            ids[i, : len(row)], mask[i, : len(row)] = row, 1
        return (session or self.session).run(None, {"input_ids": ids, "attention_mask": mask})

    def probabilities(
        self, texts: Sequence[str], batch_size: int = 32, logits: dict[str, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """What the bundle serves per head: the encoder pooled with the lexical model, team and issue
        decided jointly when the bundle says so (`logits`: the encoder's, if already computed for `texts`)."""
        # The lexical member scores on a worker while the encoder runs (its runs release the GIL).
        scored = self._pool.submit(self._lexical, texts) if self._pool and logits is None else None
        logits = self.logits(texts, batch_size) if logits is None else logits
        lexical = scored.result() if scored else self._lexical(texts)
        weights = {f"{h}_logits": w for h, w in self.bundle.info.ensemble.items()}
        probs = pool(logits, lexical, weights)
        if self.bundle.info.joint_team_issue:
            probs["team_logits"], probs["issue_logits"] = decide_jointly(
                probs["team_logits"], probs["issue_logits"], self.bundle.issue_mask
            )
        return probs
