"""Class-balanced logistic regressions, one per head, fitted side by side on the columns their rows use."""

from __future__ import annotations

import os

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

MISSING_CLASS_BIAS = -30.0  # a class with no training row is never predicted


def fit_logistic(x, y: np.ndarray, c: float, balanced: bool = True) -> LogisticRegression:
    """Fit in float32 on the columns these rows use, then widen the weights back to every column.

    Under L2 an unused column's weight is exactly zero, so this is the same model; for short chat queries beside
    long narratives (a seventh of the vocabulary) it fits several times faster, and float32 halves the memory each
    solver step reads (1.5x faster on the issue head, the same accuracy)."""
    used = np.flatnonzero(x.getnnz(axis=0)) if sparse.issparse(x) else np.arange(x.shape[1])
    weights = "balanced" if balanced else None
    clf = LogisticRegression(C=c, max_iter=2000, class_weight=weights).fit(x[:, used].astype(np.float32), y)
    coef = np.zeros((clf.coef_.shape[0], x.shape[1]), dtype=clf.coef_.dtype)
    coef[:, used] = clf.coef_
    clf.coef_, clf.n_features_in_ = coef, x.shape[1]
    return clf


def fit_heads(
    x, labels: dict[str, np.ndarray], c: float, ignore: int, desc: str, balanced: bool = True
) -> dict[str, LogisticRegression]:
    """One regression per head on the rows that carry its label (heads with one class are skipped), each head in
    its own process: the issue head alone takes most of a minute on all complaints."""
    rows = {h: y != ignore for h, y in labels.items()}
    heads = [h for h, y in labels.items() if len(np.unique(y[rows[h]])) >= 2]
    jobs = (delayed(fit_logistic)(x[rows[h]], labels[h][rows[h]], c, balanced) for h in heads)
    parallel = Parallel(n_jobs=max(1, min(len(heads), os.cpu_count() or 1)), return_as="generator")
    fitted = list(tqdm(parallel(jobs), total=len(heads), desc=desc, unit="head"))
    return dict(zip(heads, fitted, strict=True))


def label_order(clf: LogisticRegression, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A multi-class fit's weight rows and intercepts placed in the head's label order (absent classes get a
    prohibitive bias)."""
    coef = np.zeros((n_classes, clf.coef_.shape[1]), dtype=np.float32)
    intercept = np.full(n_classes, MISSING_CLASS_BIAS, dtype=np.float32)
    coef[clf.classes_], intercept[clf.classes_] = clf.coef_, clf.intercept_
    return coef, intercept
