"""Refit linear heads after fine-tuning: a logistic regression on the encoder's pooled embeddings, trained to
convergence, replaces a head where its validation score, pooled with the lexical member, is higher (a head trained
jointly for a few epochs can stop short of what its features allow)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from teller.classifier import log_softmax
from training.ensemble import weight_scores
from training.linear import MISSING_CLASS_BIAS, fit_logistic, label_order
from training.model import MultiTaskModel
from training.train import IGNORE, Encoded, embeddings

REFIT_C = (0.03, 0.1, 0.3, 1.0)  # inverse L2 strengths tried, each judged on validation


@dataclass
class Refit:
    """One head's best regression as a linear layer; its C is chosen on validation as served, pooled with the lexical
    member at its best weight (`tried`: that score per C)."""

    c: float
    weight: np.ndarray
    bias: np.ndarray
    val_logits: np.ndarray
    tried: dict[float, float]


def layer_weights(clf, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The fitted regression as a linear layer over all the head's classes: softmax of its logits is predict_proba."""
    if len(clf.classes_) > 2:
        return label_order(clf, n_classes)
    coef = np.zeros((n_classes, clf.coef_.shape[1]), dtype=np.float32)
    bias = np.full(n_classes, MISSING_CLASS_BIAS, dtype=np.float32)
    coef[clf.classes_[1]], bias[clf.classes_] = clf.coef_[0], (0.0, clf.intercept_[0])  # log-odds against zero
    return coef, bias


def served_score(head: str, z: np.ndarray, lexical: dict[str, np.ndarray], y: np.ndarray) -> float:
    """A head's validation score as served: its log-probabilities pooled with the lexical member at the best weight."""
    return max(weight_scores(head, z, lexical, y).values())


def fit_refits(
    model: MultiTaskModel,
    heads: list[str],
    train: Encoded,
    val: Encoded,
    lexical: dict[str, np.ndarray],
    x_val: np.ndarray,
) -> dict[str, Refit]:
    """A candidate refit of each named head that has labelled rows in both splits (the model is left as it is;
    `lexical`: the lexical member's validation log-probabilities, empty for none; `x_val`: the model's pooled
    validation embeddings)."""
    heads = [h for h in heads if (train.labels[h] != IGNORE).any() and (val.labels[h] != IGNORE).any()]
    if not heads:
        return {}
    device = next(model.parameters()).device
    x_train = embeddings(model, train, device, "refit embeddings (train)")
    out = {}
    for head in heads:
        rows = train.labels[head] != IGNORE
        fits, tried = {}, {}
        for c in tqdm(REFIT_C, desc=f"refit {head} head", unit="fit"):
            clf = fit_logistic(x_train[rows], train.labels[head][rows], c, balanced=False)
            weight, bias = layer_weights(clf, model.heads[head].out_features)
            fits[c] = (weight, bias, log_softmax(x_val @ weight.T + bias))
            tried[c] = served_score(head, fits[c][2], lexical, val.labels[head])
        best = max(tried, key=tried.get)
        out[head] = Refit(best, *fits[best], tried)
    return out


def keep_refits(
    model: MultiTaskModel,
    refits: dict[str, Refit],
    val_logits: dict[str, np.ndarray],
    lexical: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], dict]:
    """Overwrite each head whose refit scores higher on validation pooled with the lexical member at its best
    weight (`lexical`: the member's validation log-probabilities, as given to `fit_refits`; empty: the head alone);
    returns the validation logits as the model now gives them and a report of every comparison."""
    logits, report = dict(val_logits), {}
    for head, refit in refits.items():
        trained, refitted = served_score(head, logits[head], lexical, labels[head]), refit.tried[refit.c]
        kept = refitted > trained
        report[head] = {
            "c": refit.c,
            "tried": refit.tried,
            "served_trained": trained,
            "served_refit": refitted,
            "kept": kept,
        }
        tqdm.write(f"refit {head} head (validation, pooled): trained {trained:.4f}, refit {refitted:.4f} (C={refit.c})")
        if kept:
            with torch.no_grad():
                model.heads[head].weight.copy_(torch.from_numpy(refit.weight))
                model.heads[head].bias.copy_(torch.from_numpy(refit.bias))
            logits[head] = refit.val_logits
    return logits, report
