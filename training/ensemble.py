"""Fit the lexical ensemble member and choose, on validation, how much each head listens to it."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from teller.classifier import decide_jointly, pool
from teller.lexical import TOKEN_PATTERN, LexicalModel, LinearHead, signals
from teller.masking import model_view
from teller.taxonomy import HEADS, Taxonomy
from training.data import Example
from training.linear import fit_heads, label_order
from training.metrics import head_score
from training.train import IGNORE, label_index

WEIGHTS = tuple(round(float(w), 2) for w in np.arange(0.0, 1.01, 0.1))
VECTORIZER = {
    "ngram_range": (1, 2),
    "min_df": 2,
    "max_features": 200_000,
    "sublinear_tf": True,
    "token_pattern": TOKEN_PATTERN,
}


def fit_lexical(train: list[Example], taxonomy: Taxonomy, heads: tuple[str, ...] = HEADS, c: float = 10.0):
    """TF-IDF + signal columns, one class-balanced logistic regression per head on the rows it labels."""
    views = [model_view(e.text) for e in train]
    vectorizer = TfidfVectorizer(**VECTORIZER)
    tfidf = vectorizer.fit_transform(views)
    x = sparse.hstack([tfidf, sparse.csr_matrix(signals(views))], format="csr")
    labels = {h: y for h, y in label_index(train, taxonomy).items() if h in heads}
    fitted = {
        head: linear_head(clf, len(taxonomy.labels(head)))
        for head, clf in fit_heads(x, labels, c, IGNORE, "lexical model").items()
    }
    vocabulary = [""] * len(vectorizer.vocabulary_)
    for word, i in vectorizer.vocabulary_.items():
        vocabulary[i] = word
    return LexicalModel(vocabulary, vectorizer.idf_.astype(np.float32), fitted)


def linear_head(clf: LogisticRegression, n_classes: int) -> LinearHead:
    """The fitted model as the lexical member's head, rows in the head's label order (binary: one row)."""
    if len(clf.classes_) == 2 and n_classes == 2:
        return LinearHead(clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32))
    return LinearHead(*label_order(clf, n_classes))


def weight_scores(head: str, z: np.ndarray, lex: dict[str, np.ndarray], y: np.ndarray) -> dict[float, float]:
    """Validation score of one head's encoder logits `z` pooled at each lexical weight (weight 0 alone where the
    lexical member has no such head)."""
    rows = y != IGNORE
    weights = WEIGHTS if head in lex else (0.0,)
    return {w: head_score(head, y[rows], pool({head: z}, lex, {head: w})[head][rows]) for w in weights}


def choose_ensemble(
    encoder_logits: dict[str, np.ndarray],
    lex: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    taxonomy: Taxonomy,
) -> tuple[dict[str, float], bool, dict]:
    """Per-head lexical weight, and whether deciding team and issue jointly helps, each chosen on validation
    (`lex`: the lexical member's validation log-probabilities; `labels`: validation label indices per head).

    Returns the weights (heads where the lexical model helps), the issue switch and a report of every try.
    """
    report: dict = {"weights": {}}
    weights = {}
    for head, z in encoder_logits.items():
        if head not in lex or not (labels[head] != IGNORE).any():
            continue
        tried = weight_scores(head, z, lex, labels[head])
        best = max(tried, key=lambda w: (tried[w], -w))
        report["weights"][head] = {"tried": tried, "chosen": best}
        if best > 0:
            weights[head] = best
    pooled = pool(encoder_logits, lex, weights)
    joint = dict(
        zip(("team", "issue"), decide_jointly(pooled["team"], pooled["issue"], taxonomy.issue_mask), strict=True)
    )
    report["joint_team_issue"] = {
        name: {h: head_score(h, labels[h][labels[h] != IGNORE], p[h][labels[h] != IGNORE]) for h in ("team", "issue")}
        for name, p in (("separate", pooled), ("joint", joint))
    }
    separate, together = (sum(report["joint_team_issue"][k].values()) for k in ("separate", "joint"))
    return weights, together > separate, report
