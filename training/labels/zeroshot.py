"""Zero-shot scoring of a new label against MiniLM vectors, and the rule that picks its threshold.

A text's score is its cosine similarity to the label's prototype (the normalised mean of the description's and
the examples' vectors), minus, with `contrast`, its similarity to the nearest existing label's centroid: a text
that looks more like a label the bank already has is not proposed for the new one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import erf, sqrt

import numpy as np

from teller.errors import TellerError

MIN_EXAMPLES = 3
MIN_SD = 0.03
TEMPERATURE = 0.05


def unit(v: np.ndarray) -> np.ndarray:
    """`v` scaled to unit length along its last axis."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def prototype(vectors: np.ndarray) -> np.ndarray:
    """The label's direction: the normalised mean of its description's and examples' unit vectors."""
    return unit(vectors.mean(axis=0))


def centroids(vectors: np.ndarray, labels: list[str | None], min_rows: int = 3) -> tuple[list[str], np.ndarray]:
    """Unit centroid of every label with at least `min_rows` rows (None labels skipped)."""
    names = sorted({lab for lab in labels if lab is not None and labels.count(lab) >= min_rows})
    if not names:
        return [], np.zeros((0, vectors.shape[1]), dtype=vectors.dtype)
    index = np.array([names.index(lab) if lab in names else -1 for lab in labels])
    return names, unit(np.stack([vectors[index == i].mean(axis=0) for i in range(len(names))]))


def scores(x: np.ndarray, proto: np.ndarray, rivals: np.ndarray | None = None) -> np.ndarray:
    """Similarity to the prototype, minus (when rivals are given) the similarity to the nearest rival centroid."""
    s = x @ proto
    if rivals is not None and len(rivals):
        s = s - (x @ rivals.T).max(axis=1)
    return s


def leave_one_out(protos: np.ndarray, rivals: np.ndarray | None = None) -> np.ndarray:
    """Each example's score against the prototype built without it (row 0, the description, always stays)."""
    if len(protos) - 1 < MIN_EXAMPLES:
        raise TellerError(
            f"{len(protos) - 1} example(s) given; the threshold is calibrated on at least {MIN_EXAMPLES}",
            "--example",
            f"give {MIN_EXAMPLES} or more --example texts, or set --threshold yourself",
        )
    rows = range(1, len(protos))
    return np.array([scores(protos[i : i + 1], prototype(np.delete(protos, i, axis=0)), rivals)[0] for i in rows])


def _normal_sf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1 - np.vectorize(erf)(z / sqrt(2)))


@dataclass
class Threshold:
    """The chosen score threshold and what it is expected to give on the corpus."""

    value: float
    expected_precision: float | None
    expected_recall: float | None
    flagged_rate: float
    prevalence: float
    rule: str
    positives: list[float] = field(default_factory=list)
    background_rows: int = 0

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _curves(grid: np.ndarray, positives: np.ndarray, background: np.ndarray, prevalence: float) -> tuple:
    """Expected recall, flagged rate and precision at each threshold in `grid` (see `calibrate`)."""
    mu, sd = float(np.mean(positives)), max(float(np.std(positives, ddof=1)), MIN_SD)
    recall = _normal_sf((grid - mu) / sd)
    flagged = (background[None, :] >= grid[:, None]).mean(axis=1)
    hits = prevalence * recall
    precision = hits / np.maximum.reduce([flagged, hits, np.full_like(hits, 1 / len(background))])
    return recall, flagged, precision


def _check(background: np.ndarray, prevalence: float) -> None:
    if not 0 < prevalence < 1:
        raise TellerError(f"prevalence {prevalence} is not between 0 and 1", "--prevalence", "use e.g. 0.02")
    if len(background) < 20:
        raise TellerError(f"only {len(background)} background texts", "the corpus", "score a corpus of 20+ texts")


def calibrate(positives: np.ndarray, background: np.ndarray, prevalence: float) -> Threshold:
    """Pick the threshold with the best expected F1 from leave-one-out positives and an unlabelled background.

    Recall R(t) is a normal fit to the examples' leave-one-out scores (sd at least 0.03); the flagged rate B(t)
    is the share of a random corpus sample scoring at least t (new-label texts in it count, as they would live);
    with the label's prevalence p, expected precision is P(t) = p*R(t) / B(t), capped at 1, and the threshold
    maximises 2PR/(P+R).
    """
    _check(background, prevalence)
    everything = np.concatenate([positives, background])
    grid = np.linspace(everything.min() - 0.05, everything.max() + 0.05, 600)
    recall, flagged, precision = _curves(grid, positives, background, prevalence)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1))
    return Threshold(
        value=float(grid[best]),
        expected_precision=float(precision[best]),
        expected_recall=float(recall[best]),
        flagged_rate=float(flagged[best]),
        prevalence=prevalence,
        rule="max expected F1: R from leave-one-out examples (normal fit), P = prevalence*R / background flag rate",
        positives=[round(float(p), 4) for p in positives],
        background_rows=len(background),
    )


def at_threshold(value: float, positives: np.ndarray | None, background: np.ndarray, prevalence: float) -> Threshold:
    """A threshold given by hand, with what the same model expects of it (nothing, without examples)."""
    _check(background, prevalence)
    flagged = float((background >= value).mean())
    if positives is None:
        return Threshold(value, None, None, flagged, prevalence, "given (--threshold)", [], len(background))
    recall, _, precision = _curves(np.array([value]), positives, background, prevalence)
    rounded = [round(float(p), 4) for p in positives]
    return Threshold(
        value,
        float(precision[0]),
        float(recall[0]),
        flagged,
        prevalence,
        "given (--threshold)",
        rounded,
        len(background),
    )


def nearest_confidence(x: np.ndarray, cents: np.ndarray, temperature: float = TEMPERATURE) -> np.ndarray:
    """Softmax over cosine similarities to label centroids: (n, k) probabilities of a nearest-centroid classifier."""
    z = (x @ cents.T) / temperature
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)
