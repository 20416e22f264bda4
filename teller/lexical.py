"""The lexical member of the triage ensemble: TF-IDF over the whole narrative + one linear model per head.

The encoder reads a few hundred tokens; this reads every word, plus a few explicit vulnerability signals
(stated age, military service). Stored as plain arrays and a vocabulary (no pickle), scored without torch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from teller.masking import model_view

# Phrases a customer uses to say they are an older American or a servicemember (the CFPB's two vulnerable tags).
SIGNALS: dict[str, re.Pattern] = {
    "stated_age_62_plus": re.compile(
        r"\b(?:i am|i'm|im|aged?|age of|turned)\s+(?:6[2-9]|[7-9]\d|1[01]\d)\b(?!\s*(?:%|percent|dollars|days))"
        r"|\b(?:6[2-9]|[7-9]\d|1[01]\d)[- ]?(?:years?|yrs?)[- ]?old\b",
        re.IGNORECASE,
    ),
    "older": re.compile(
        r"\b(?:senior citizens?|elderly|retiree|retired|retirement|social security|medicare|fixed income|"
        r"pension|grandchildren|widow(?:ed|er)?|aarp|nursing home|assisted living)\b",
        re.IGNORECASE,
    ),
    "military": re.compile(
        r"\b(?:veterans?|military|servicemembers?|service members?|active duty|deployed|deployment|army|navy|"
        r"marines?|air force|national guard|coast guard|usaa|navy federal|scra|gi bill|va loan|"
        r"department of veterans affairs|pcs orders|disabled veteran|tricare)\b",
        re.IGNORECASE,
    ),
}
TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def signals(texts: list[str]) -> np.ndarray:
    """One 0/1 column per vulnerability signal for each text."""
    return np.array([[1.0 if p.search(t) else 0.0 for p in SIGNALS.values()] for t in texts], dtype=np.float32)


@dataclass
class LinearHead:
    """A multinomial (or binary) linear model over the lexical features, in the head's full label order."""

    coef: np.ndarray  # (classes, features); a binary model stores one row for the positive class
    intercept: np.ndarray  # (classes,)

    def __post_init__(self) -> None:
        # float32 and transposed once: converting the float16 store on every call cost ~30 ms per text.
        self._weights = np.ascontiguousarray(self.coef.T, dtype=np.float32)

    def log_probs(self, x: sparse.csr_matrix) -> np.ndarray:
        z = np.asarray(x @ self._weights) + self.intercept
        if self.coef.shape[0] == 1:  # binary logistic regression: class 1 vs class 0
            z = np.hstack([np.zeros_like(z), z])
        return log_softmax(z)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class LexicalModel:
    """TF-IDF (word 1-2 grams, sublinear tf, l2) + signal columns -> per-head log-probabilities."""

    FILES = ("lexical.json", "lexical.npz")

    def __init__(self, vocabulary: list[str], idf: np.ndarray, heads: dict[str, LinearHead]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vocabulary, self.idf, self.heads = vocabulary, idf, heads
        self.vectorizer = TfidfVectorizer(
            ngram_range=(1, 2),
            sublinear_tf=True,
            token_pattern=TOKEN_PATTERN,
            vocabulary={w: i for i, w in enumerate(vocabulary)},
            dtype=np.float32,
        )
        self.vectorizer.idf_ = idf

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        """Masked texts -> TF-IDF columns followed by the signal columns."""
        views = [model_view(t) for t in texts]
        return sparse.hstack([self.vectorizer.transform(views), sparse.csr_matrix(signals(views))], format="csr")

    def log_probs(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Per head, log-probabilities in the head's label order."""
        x = self.features(texts)
        return {h: head.log_probs(x) for h, head in self.heads.items()}

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
