"""Per-head regressions: fitting on the used columns only is the same model, and single-class heads are skipped."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from training.linear import fit_heads, fit_logistic


def _rows(seed: int, n: int = 120, width: int = 60):
    """Sparse rows that use only the first half of the columns, three classes set by those columns."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((n, width))
    dense[:, : width // 2] = rng.random((n, width // 2)) * (rng.random((n, width // 2)) < 0.3)
    y = dense[:, :3].argmax(axis=1)
    return sparse.csr_matrix(dense), y


def test_a_fit_on_the_used_columns_is_the_full_fit():
    x, y = _rows(1)
    pruned = fit_logistic(x, y, c=10.0)
    full = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced").fit(x, y)
    assert pruned.coef_.shape == full.coef_.shape == (3, 60)
    assert not pruned.coef_[:, 30:].any()
    np.testing.assert_allclose(pruned.predict_proba(x), full.predict_proba(x), atol=1e-4)


def test_heads_are_fitted_on_their_labelled_rows_and_a_single_class_head_is_skipped():
    x, y = _rows(2)
    labels = {"team": y, "issue": np.where(np.arange(len(y)) % 2 == 0, y, -100), "vulnerable": np.zeros_like(y)}
    fitted = fit_heads(x, labels, c=10.0, ignore=-100, desc="test")
    assert list(fitted) == ["team", "issue"]
    alone = fit_logistic(x[::2], y[::2], c=10.0)
    np.testing.assert_allclose(fitted["issue"].coef_, alone.coef_)
