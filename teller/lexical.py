"""The lexical member of the triage ensemble: TF-IDF over the whole narrative + one linear model per head.

The encoder reads a few hundred tokens; this reads every word, plus a few explicit vulnerability signals
(stated age, military service). Stored as plain arrays and a vocabulary (no pickle), scored without torch.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from itertools import chain, pairwise
from pathlib import Path

import numpy as np
from scipy import sparse

from teller.masking import model_view

# Phrases a customer uses to say they are an older American or a servicemember (the CFPB's two vulnerable tags),
# matched on lower-cased text: 2.4x faster than IGNORECASE.
SIGNALS: dict[str, re.Pattern] = {
    "stated_age_62_plus": re.compile(
        r"\b(?:i am|i'm|im|aged?|age of|turned)\s+(?:6[2-9]|[7-9]\d|1[01]\d)\b(?!\s*(?:%|percent|dollars|days))"
        r"|\b(?:6[2-9]|[7-9]\d|1[01]\d)[- ]?(?:years?|yrs?)[- ]?old\b"
    ),
    "older": re.compile(
        r"\b(?:senior citizens?|elderly|retiree|retired|retirement|social security|medicare|fixed income|"
        r"pension|grandchildren|widow(?:ed|er)?|aarp|nursing home|assisted living)\b"
    ),
    "military": re.compile(
        r"\b(?:veterans?|military|servicemembers?|service members?|active duty|deployed|deployment|army|navy|"
        r"marines?|air force|national guard|coast guard|usaa|navy federal|scra|gi bill|va loan|"
        r"department of veterans affairs|pcs orders|disabled veteran|tricare)\b"
    ),
}
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_TOKEN_RE = re.compile(TOKEN_PATTERN)


def _signalled(lower: str) -> list[int]:
    """Indices of the signals found in a lower-cased text."""
    return [i for i, p in enumerate(SIGNALS.values()) if p.search(lower)]


def signals(texts: list[str]) -> np.ndarray:
    """One 0/1 column per vulnerability signal for each text."""
    out = np.zeros((len(texts), len(SIGNALS)), dtype=np.float32)
    for row, text in enumerate(texts):
        out[row, _signalled(text.lower())] = 1.0
    return out


@dataclass
class LinearHead:
    """A multinomial (or binary) linear model over the lexical features, in the head's full label order."""

    coef: np.ndarray  # (classes, features); a binary model stores one row for the positive class
    intercept: np.ndarray  # (classes,)

    def log_probs(self, z: np.ndarray) -> np.ndarray:
        """Log-probabilities from this head's raw scores `z` (rows x coef rows), intercept not yet added."""
        z = z + self.intercept
        if self.coef.shape[0] == 1:  # binary logistic regression: class 1 vs class 0
            z = np.hstack([np.zeros_like(z), z])
        return log_softmax(z)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class LexicalModel:
    """TF-IDF (word 1-2 grams, sublinear tf, l2) + signal columns -> per-head log-probabilities.

    Features are computed here as sklearn's TfidfVectorizer computes them (tested equal), without its
    per-call validation, and every head is scored by one product with all heads' weights side by side: on
    the serving path this costs a third of the vectorizer plus one product per head.
    """

    FILES = ("lexical.json", "lexical.npz")

    def __init__(self, vocabulary: list[str], idf: np.ndarray, heads: dict[str, LinearHead]):
        self.vocabulary, self.idf = vocabulary, idf.astype(np.float32)
        self._index = {w: i for i, w in enumerate(vocabulary)}
        self._width = len(vocabulary) + len(SIGNALS)
        # float32, features x (all heads' classes): converting the float16 store on every call cost ~30 ms a text.
        weights = [np.asarray(h.coef, dtype=np.float32).T for h in heads.values()]
        self._weights = np.ascontiguousarray(np.hstack(weights)) if weights else np.zeros((self._width, 0), np.float32)
        ends = np.cumsum([w.shape[1] for w in weights]).tolist()
        self._splits = ends[:-1]
        # Each head's weights are a view of that one array, so the model holds them once.
        self.heads = {
            h: LinearHead(self._weights[:, end - w.shape[1] : end].T, head.intercept)
            for (h, head), w, end in zip(heads.items(), weights, ends, strict=True)
        }

    def _row(self, view: str) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and values of one model view: l2-normalised sublinear TF-IDF, then the signals."""
        lower = view.lower()
        tokens = _TOKEN_RE.findall(lower)
        grams = chain(tokens, map(" ".join, pairwise(tokens)))  # word 1- and 2-grams, as sklearn forms them
        counts = Counter(i for i in map(self._index.get, grams) if i is not None)
        columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = (np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts))) + 1) * self.idf[columns]
        norm = float(np.sqrt(values @ values))
        flags = len(self.vocabulary) + np.array(_signalled(lower), dtype=np.int64)
        columns = np.concatenate([columns, flags])
        return columns, np.concatenate([values / norm if norm > 0 else values, np.ones(len(flags), np.float32)])

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        """Masked texts -> TF-IDF columns followed by the signal columns."""
        rows = [self._row(model_view(t)) for t in texts]
        indptr = np.cumsum([0] + [len(c) for c, _ in rows])
        columns = np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, np.int64)
        data = np.concatenate([v for _, v in rows]) if rows else np.zeros(0, np.float32)
        return sparse.csr_matrix((data, columns, indptr), shape=(len(texts), self._width))

    def log_probs(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Per head, log-probabilities in the head's label order (one gather of weight rows per text)."""
        if not self.heads:
            return {}
        z = np.zeros((len(texts), self._weights.shape[1]), dtype=np.float32)
        for i, text in enumerate(texts):
            columns, values = self._row(model_view(text))
            z[i] = values @ self._weights[columns]
        parts = np.split(z, self._splits, axis=1)
        return {h: head.log_probs(part) for (h, head), part in zip(self.heads.items(), parts, strict=True)}

    def save(self, directory: Path) -> None:
        arrays = {"idf": self.idf.astype(np.float32)}
        for h, head in self.heads.items():
            arrays[f"{h}.coef"] = head.coef.astype(np.float16)
            arrays[f"{h}.intercept"] = head.intercept.astype(np.float32)
        np.savez_compressed(directory / "lexical.npz", **arrays)
        (directory / "lexical.json").write_text(json.dumps({"vocabulary": self.vocabulary, "heads": list(self.heads)}))

    @classmethod
    def load(cls, directory: Path) -> LexicalModel:
        meta = json.loads((directory / "lexical.json").read_text())
        with np.load(directory / "lexical.npz") as arrays:
            heads = {h: LinearHead(arrays[f"{h}.coef"], arrays[f"{h}.intercept"]) for h in meta["heads"]}
            return cls(meta["vocabulary"], arrays["idf"], heads)
