"""Levers the recipe does not use, tried on a trained bundle and its own saved splits (`teller tune`).

Every lever is scored on validation only, each head as served (the encoder pooled with a lexical member at the best
weight), next to the bundle as it serves: a lever joins the recipe only where validation says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from teller.bundle import Bundle
from teller.classifier import BundleClassifier, log_softmax
from teller.errors import TellerError
from teller.lexical import signals
from teller.masking import model_view
from teller.settings import get_settings
from teller.taxonomy import HEADS, Taxonomy
from training.corpus import Corpus, group_digest
from training.data import Example
from training.ensemble import VECTORIZER, linear_head
from training.linear import MISSING_CLASS_BIAS, fit_heads
from training.refit import served_score
from training.train import IGNORE, label_index

Scores = dict[str, float]
METRICS = {"team": "accuracy", "issue": "accuracy", "vulnerable": "PR AUC", "intent": "accuracy"}
LEXICAL_VARIANTS: dict[str, dict] = {
    "lexical member: C 3 (recipe: 10)": {"c": 3.0},
    "lexical member: C 30": {"c": 30.0},
    "lexical member: no class balancing": {"balanced": False},
    "lexical member: word 1-3 grams, 400k columns (recipe: 1-2, 200k)": {
        "words": {"ngram_range": (1, 3), "max_features": 400_000}
    },
    "lexical member: + character 2-5 grams within words": {"chars": True},
}
CHARS = {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 3, "max_features": 300_000, "sublinear_tf": True}
STACK_C = (0.1, 1.0)
FIRST_WINDOW_WEIGHTS = {"mean of all windows": 0.0, "half first window, half mean of all": 0.5}
MIN_WINDOW = 16  # a last window shorter than this many tokens is dropped


@dataclass
class Tuning:
    """A bundle's validation split with what every lever is compared against: label indices per head and the
    log-probabilities of the bundle's encoder and of its lexical member (empty if it has none)."""

    taxonomy: Taxonomy
    train: list[Example]
    val: list[Example]
    classifier: BundleClassifier
    labels: dict[str, np.ndarray]
    encoder: dict[str, np.ndarray]
    lexical: dict[str, np.ndarray]

    def scores(self, encoder: dict | None = None, lexical: dict | None = None) -> Scores:
        """Each labelled head's validation score with `encoder` pooled with `lexical` at the best weight (by
        default the bundle's own members: the bundle as served, team and issue decided separately)."""
        encoder = self.encoder if encoder is None else encoder
        lexical = self.lexical if lexical is None else lexical
        return {
            h: served_score(h, z, lexical, self.labels[h])
            for h, z in encoder.items()
            if (self.labels[h] != IGNORE).any()
        }

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.val]


def saved_corpus(bundle: Bundle, path: Path | None = None) -> Corpus:
    """A saved corpus (default: the splits the bundle was trained and chosen on, as its run saved them here)."""
    path = path or get_settings().data_dir / "corpus" / bundle.info.data_fingerprint[:12]
    if not (path / "fingerprint.json").is_file():
        raise TellerError(
            "no saved corpus (train, val and test splits) here",
            str(path),
            "set TELLER_DATA_DIR to the data directory that trained the bundle, or pass --corpus",
        )
    return Corpus.load(path)


def prepare(bundle: Bundle, corpus: Corpus, taxonomy: Taxonomy) -> Tuning:
    """Score the bundle's members once on the validation split."""
    stale = [h for h in HEADS if h in bundle.labels and bundle.labels[h] != taxonomy.labels(h)]
    if stale:
        raise TellerError(
            f"the bundle's {', '.join(stale)} labels differ from the taxonomy's",
            str(bundle.path),
            "tune a bundle trained on the current taxonomy (`teller train`)",
        )
    val = corpus.splits["val"]
    texts = [e.text for e in val]
    classifier = BundleClassifier(bundle)
    encoder = {h.removesuffix("_logits"): log_softmax(z) for h, z in classifier.logits(texts).items()}
    lexical = classifier.lexical.log_probs(texts) if classifier.lexical else {}
    return Tuning(taxonomy, corpus.splits["train"], val, classifier, label_index(val, taxonomy), encoder, lexical)


def lexical_member(
    train: list[Example],
    texts: list[str],
    taxonomy: Taxonomy,
    c: float = 10.0,
    balanced: bool = True,
    words: dict | None = None,
    chars: bool = False,
) -> dict[str, np.ndarray]:
    """Log-probabilities on `texts` of a lexical member fitted on `train` with settings changed (the defaults are
    the recipe's: `fit_lexical`)."""
    vectorizers = [TfidfVectorizer(**{**VECTORIZER, **(words or {})})]
    if chars:
        vectorizers.append(TfidfVectorizer(**CHARS))
    views, scored = [model_view(e.text) for e in train], [model_view(t) for t in texts]
    x = sparse.hstack([*(v.fit_transform(views) for v in vectorizers), sparse.csr_matrix(signals(views))], "csr")
    x_scored = sparse.hstack([*(v.transform(scored) for v in vectorizers), sparse.csr_matrix(signals(scored))], "csr")
    out = {}
    for head, clf in fit_heads(x, label_index(train, taxonomy), c, IGNORE, "lexical variant", balanced).items():
        linear = linear_head(clf, len(taxonomy.labels(head)))
        out[head] = linear.log_probs(np.asarray(x_scored @ linear.coef.T))
    return out


def halves(examples: list[Example]) -> np.ndarray:
    """Each example's half (0 or 1) from a hash of its near-duplicate key, so near duplicates, which the corpus keeps
    in one split, stay in one half."""
    return np.array([group_digest(e.text, "half")[0] & 1 for e in examples])


def cross_fitted_member(tuning: Tuning) -> dict[str, np.ndarray]:
    """Validation log-probabilities of the recipe's lexical member fitted on the training split plus one half of
    validation, each half scored by the member fitted with the other."""
    half, out = halves(tuning.val), {}
    for scored in (0, 1):
        rows = np.flatnonzero(half == scored)
        fitted = tuning.train + [e for e, h in zip(tuning.val, half, strict=True) if h != scored]
        for head, lp in lexical_member(fitted, [tuning.val[i].text for i in rows], tuning.taxonomy).items():
            out.setdefault(head, np.zeros((len(half), lp.shape[1])))[rows] = lp
    return out


def stacked(tuning: Tuning, c: float, folds: int = 5) -> dict[str, np.ndarray]:
    """Per head, out-of-fold log-probabilities of a regression over both members' log-probabilities, cross-fitted
    on validation (each row scored by a regression that never saw it)."""
    out = {}
    for head, z in tuning.encoder.items():
        rows = np.flatnonzero(tuning.labels[head] != IGNORE)
        if head not in tuning.lexical or len(rows) < folds:
            continue
        x, y = np.hstack([z, tuning.lexical[head]])[rows], tuning.labels[head][rows]
        pred = np.full(z.shape, MISSING_CLASS_BIAS)
        for fitted, held in KFold(folds, shuffle=True, random_state=0).split(x):
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000)).fit(x[fitted], y[fitted])
            pred[np.ix_(rows[held], clf.classes_)] = clf.predict_log_proba(x[held])
        out[head] = pred
    return out


def windows(classifier: BundleClassifier, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
    """Consecutive windows of the bundle's length covering each whole text ([CLS] piece [SEP]), and the index of the
    text each window belongs to."""
    width = classifier.bundle.info.max_length - 2
    pieces, owner = [], []
    for i, encoding in enumerate(classifier.tokenizer.encode_batch([model_view(t) for t in texts])):
        cls, body, sep = encoding.ids[0], encoding.ids[1:-1], encoding.ids[-1]
        for start in range(0, max(len(body), 1), width):
            piece = body[start : start + width]
            if start and len(piece) < MIN_WINDOW:
                break
            pieces.append([cls, *piece, sep])
            owner.append(i)
    return pieces, np.array(owner)


def window_log_probs(classifier: BundleClassifier, texts: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Encoder log-probabilities of every window of `texts` per head, and the index of the text each belongs to."""
    pieces, owner = windows(classifier, texts)
    return {h.removesuffix("_logits"): log_softmax(z) for h, z in classifier.logits_of(pieces).items()}, owner


def window_pooled(log_probs: dict[str, np.ndarray], owner: np.ndarray, first_weight: float) -> dict[str, np.ndarray]:
    """Per text, `first_weight` of its first window's log-probabilities plus the rest of the mean over its windows."""
    first = np.r_[True, owner[1:] != owner[:-1]]
    counts = np.bincount(owner)[:, None]  # every text has a window
    out = {}
    for head, lp in log_probs.items():
        mean = np.zeros((len(counts), lp.shape[1]))
        np.add.at(mean, owner, lp)
        out[head] = first_weight * lp[first] + (1 - first_weight) * mean / counts
    return out


def lexical_levers(tuning: Tuning) -> dict[str, Scores]:
    out = {}
    for name, settings in tqdm(LEXICAL_VARIANTS.items(), desc="lexical variants", unit="variant"):
        out[name] = tuning.scores(lexical=lexical_member(tuning.train, tuning.texts, tuning.taxonomy, **settings))
    return out


def stacking_levers(tuning: Tuning) -> dict[str, Scores]:
    if not tuning.lexical:
        raise TellerError("the bundle has no lexical member to stack", str(tuning.classifier.bundle.path))
    return {
        f"stacked regression over both members' log-probabilities, C {c} (5-fold on validation)": tuning.scores(
            encoder=stacked(tuning, c), lexical={}
        )
        for c in STACK_C
    }


def data_levers(tuning: Tuning) -> dict[str, Scores]:
    return {
        "lexical member fitted on the training split + half the validation split (halves by near-duplicate key,"
        " each scored by the member that did not see it)": tuning.scores(lexical=cross_fitted_member(tuning))
    }


def window_levers(tuning: Tuning) -> dict[str, Scores]:
    log_probs, owner = window_log_probs(tuning.classifier, tuning.texts)  # the encoder runs once for both poolings
    complaints = np.flatnonzero(tuning.labels["team"] != IGNORE)
    per_complaint = np.isin(owner, complaints).sum() / max(len(complaints), 1)
    return {
        f"encoder over whole texts, {name} ({per_complaint:.2f} encoder runs per complaint)": tuning.scores(
            encoder=window_pooled(log_probs, owner, weight)
        )
        for name, weight in FIRST_WINDOW_WEIGHTS.items()
    }


LEVERS: dict[str, Callable[[Tuning], dict[str, Scores]]] = {
    "lexical": lexical_levers,
    "stacking": stacking_levers,
    "windows": window_levers,
    "data": data_levers,
}


def table(reference: Scores, rows: dict[str, Scores]) -> str:
    """Markdown: the bundle as served, then each lever's validation score per head with its change."""
    heads = [h for h in HEADS if h in reference]
    lines = [
        "| validation | " + " | ".join(f"{h} {METRICS[h]}" for h in heads) + " |",
        "|---|" + "---|" * len(heads),
        "| bundle as served | " + " | ".join(f"{reference[h]:.4f}" for h in heads) + " |",
    ]
    for name, scores in rows.items():
        cells = [f"{scores[h]:.4f} ({100 * (scores[h] - reference[h]):+.1f})" if h in scores else "–" for h in heads]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
