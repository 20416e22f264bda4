"""Per-head metrics from predicted probabilities: the numbers `teller evaluate` prints."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)


@dataclass
class HeadPredictions:
    """Truth and predicted probabilities of one head over the rows that carry its label.

    `probs` is (n, C) for multi-class heads; for the binary `vulnerable` head it is (n, 2) with the
    positive class second, and `threshold` turns it into labels.
    """

    head: str
    labels: list[str]
    y_true: np.ndarray
    probs: np.ndarray
    threshold: float | None = None
    texts: list[str] | None = None

    @property
    def y_pred(self) -> np.ndarray:
        if self.threshold is not None:
            return (self.probs[:, 1] >= self.threshold).astype(int)
        return self.probs.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probs[np.arange(len(self.y_pred)), self.y_pred]


def head_metrics(p: HeadPredictions) -> dict:
    """Accuracy, macro/weighted F1, ROC AUC and per-class P/R/F1; precision/recall/PR AUC if binary."""
    y, pred = p.y_true, p.y_pred
    present = np.unique(y)
    out: dict = {
        "n": len(y),
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y, pred, labels=present, average="weighted", zero_division=0)),
        "roc_auc": _roc_auc(y, p.probs),
    }
    per_p = precision_score(y, pred, labels=present, average=None, zero_division=0)
    per_r = recall_score(y, pred, labels=present, average=None, zero_division=0)
    per_f = f1_score(y, pred, labels=present, average=None, zero_division=0)
    out["per_class"] = {
        p.labels[c]: {
            "precision": float(per_p[i]),
            "recall": float(per_r[i]),
            "f1": float(per_f[i]),
            "support": int((y == c).sum()),
        }
        for i, c in enumerate(present)
    }
    if p.probs.shape[1] > 3:
        top3 = np.argsort(-p.probs, axis=1)[:, :3]
        out["top3_accuracy"] = float((top3 == y[:, None]).any(axis=1).mean())
    if p.threshold is not None:
        out["threshold"] = p.threshold
        out["precision_at_recall_70"] = precision_at_recall(y, p.probs[:, 1], 0.70)
        out["precision"] = float(precision_score(y, pred, zero_division=0))
        out["recall"] = float(recall_score(y, pred, zero_division=0))
        out["pr_auc"] = float(average_precision_score(y, p.probs[:, 1])) if len(present) > 1 else None
    return out


def _roc_auc(y: np.ndarray, probs: np.ndarray) -> float | None:
    """One-vs-rest macro ROC AUC over the classes present; None when undefined (a single class)."""
    present = np.unique(y)
    if len(present) < 2:
        return None
    if probs.shape[1] == 2:
        return float(roc_auc_score(y, probs[:, 1]))
    scores = [roc_auc_score(y == c, probs[:, c]) for c in present]
    return float(np.mean(scores))


def threshold_for_recall(y_true: np.ndarray, scores: np.ndarray, target_recall: float) -> float:
    """The highest threshold whose recall is at least `target_recall` (best precision at that recall)."""
    if y_true.sum() == 0:
        return 0.5
    _, recall, thresholds = precision_recall_curve(y_true, scores)
    ok = np.where(recall[:-1] >= target_recall)[0]
    return float(thresholds[ok[-1]]) if len(ok) else float(thresholds[0])


def precision_at_recall(y_true: np.ndarray, scores: np.ndarray, recall_floor: float) -> float | None:
    """The best precision any threshold reaches while keeping recall at or above `recall_floor`."""
    if y_true.sum() == 0:
        return None
    precision, recall, _ = precision_recall_curve(y_true, scores)
    return float(precision[recall >= recall_floor].max())


def head_score(head: str, y: np.ndarray, probs: np.ndarray) -> float:
    """What a head is chosen on at validation: PR AUC for the vulnerable flag, accuracy otherwise."""
    if head == "vulnerable":
        return float(average_precision_score(y, probs[:, 1]))
    return float((probs.argmax(axis=1) == y).mean())
