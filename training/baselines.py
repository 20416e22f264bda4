"""Baselines trained on the same splits: TF-IDF + logistic regression, frozen MiniLM embeddings + LR."""

from __future__ import annotations

import logging

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from teller.masking import model_view
from teller.taxonomy import HEADS, Taxonomy
from training.data import Example
from training.linear import fit_heads
from training.metrics import HeadPredictions, head_metrics, threshold_for_recall
from training.train import IGNORE, embeddings, encode, label_index

log = logging.getLogger(__name__)
FROZEN_C = 1.0  # the frozen baseline's regularisation


def _fit_heads(
    x_train,
    x_val,
    x_test,
    train: list[Example],
    val: list[Example],
    test: list[Example],
    taxonomy: Taxonomy,
    target_recall: float,
    c: float,
) -> dict[str, dict]:
    """One logistic regression per head on the rows that carry its label; metrics on test."""
    y_tr, y_va, y_te = (label_index(s, taxonomy) for s in (train, val, test))
    tested = {h: y for h, y in y_tr.items() if (y_te[h] != IGNORE).any()}
    out = {}
    for head, clf in fit_heads(x_train, tested, c, IGNORE, "baseline").items():
        te = y_te[head] != IGNORE
        n_classes = len(taxonomy.labels(head))
        probs = np.zeros((int(te.sum()), n_classes))
        probs[:, clf.classes_] = clf.predict_proba(x_test[te])
        threshold = None
        if head == "vulnerable":
            va = y_va[head] != IGNORE
            val_probs = np.zeros((int(va.sum()), n_classes))
            val_probs[:, clf.classes_] = clf.predict_proba(x_val[va])
            threshold = threshold_for_recall(y_va[head][va], val_probs[:, 1], target_recall)
        out[head] = head_metrics(HeadPredictions(head, taxonomy.labels(head), y_te[head][te], probs, threshold))
        if head == "intent":
            out.update(banking77_slice(test, te, y_te[head][te], probs, taxonomy))
    return out


def banking77_slice(test: list[Example], rows: np.ndarray, y: np.ndarray, probs: np.ndarray, taxonomy) -> dict:
    """Intent metrics on the Banking77 rows alone (without the out-of-scope queries)."""
    keep = np.array([e.source == "banking77" for e in test])[rows]
    if not keep.any():
        return {}
    return {
        "intent_banking77": head_metrics(HeadPredictions("intent", taxonomy.labels("intent"), y[keep], probs[keep]))
    }


def tfidf_baseline(train, val, test, taxonomy: Taxonomy, target_recall: float) -> dict[str, dict]:
    """Word 1-2 gram TF-IDF (sublinear tf) + balanced logistic regression."""
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True)
    x_train = vec.fit_transform([model_view(e.text) for e in train])
    x_val, x_test = (vec.transform([model_view(e.text) for e in s]) for s in (val, test))
    return _fit_heads(x_train, x_val, x_test, train, val, test, taxonomy, target_recall, c=10.0)


def frozen_embeddings(examples: list[Example], tokenizer, taxonomy: Taxonomy, max_length: int) -> np.ndarray:
    """Mean-pooled embeddings from the pretrained (not fine-tuned) MiniLM encoder."""
    from training.model import MultiTaskModel

    model = MultiTaskModel({h: len(taxonomy.labels(h)) for h in HEADS})
    data = encode(examples, tokenizer, taxonomy, max_length)
    return embeddings(model, data, torch.device("cpu"), "frozen embeddings")


def frozen_features(splits: list[list[Example]], taxonomy: Taxonomy, max_length: int) -> list[np.ndarray]:
    """Pretrained MiniLM embeddings of each split: the frozen baseline's features."""
    from transformers import AutoTokenizer

    from training.model import encoder_path

    tokenizer = AutoTokenizer.from_pretrained(str(encoder_path()))
    return [frozen_embeddings(s, tokenizer, taxonomy, max_length) for s in splits]


def frozen_baseline(train, val, test, taxonomy: Taxonomy, target_recall: float, max_length: int) -> dict:
    """Frozen MiniLM sentence embeddings + balanced logistic regression."""
    x = frozen_features([train, val, test], taxonomy, max_length)
    return _fit_heads(*x, train, val, test, taxonomy, target_recall, c=FROZEN_C)


def majority_baseline(train, test, taxonomy: Taxonomy) -> dict[str, dict]:
    """Every text gets the head's most frequent training label (vulnerable: its training share as p(yes))."""
    y_tr, y_te = label_index(train, taxonomy), label_index(test, taxonomy)
    out = {}
    for head in HEADS:
        tr, te = y_tr[head] != IGNORE, y_te[head] != IGNORE
        if not tr.any() or not te.any():
            continue
        n_classes = len(taxonomy.labels(head))
        prior = np.bincount(y_tr[head][tr], minlength=n_classes) / tr.sum()
        probs = np.tile(prior, (int(te.sum()), 1))
        threshold = 0.5 if head == "vulnerable" else None
        out[head] = head_metrics(HeadPredictions(head, taxonomy.labels(head), y_te[head][te], probs, threshold))
        if head == "intent":
            out.update(banking77_slice(test, te, y_te[head][te], probs, taxonomy))
    return out


def run_baselines(names, train, val, test, taxonomy: Taxonomy, target_recall: float, max_length: int) -> dict:
    """Metrics on the test split for the majority class and each named baseline."""
    out = {"majority": majority_baseline(train, test, taxonomy)}
    if "tfidf" in names:
        out["tfidf_logreg"] = tfidf_baseline(train, val, test, taxonomy, target_recall)
    if "frozen" in names:
        out["frozen_minilm_logreg"] = frozen_baseline(train, val, test, taxonomy, target_recall, max_length)
    return out
