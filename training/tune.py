"""Levers the recipe does not use, tried on a trained bundle and its own saved splits (`teller tune`).

Every lever is scored on validation only, each head as served (the encoder pooled with a lexical member at the best
weight), next to the bundle as it serves: a lever joins the recipe only where validation says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
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
from training.baselines import FROZEN_C, frozen_features
from training.corpus import Corpus, group_digest
from training.data import Example
from training.ensemble import VECTORIZER, linear_head
from training.linear import MISSING_CLASS_BIAS, fit_heads
from training.refit import served_score
from training.train import (
    IGNORE,
    TrainConfig,
    embeddings,
    encode,
    label_index,
    load_trained,
    mixed_precision,
    run_directory,
)

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
MEMBER_WEIGHTS = (0.2, 0.5)  # an extra member's share of the encoder's log-linear pool
NEIGHBOURS = (10, 50)
SIMILARITY_TEMPERATURE = 0.05  # neighbours' votes: softmax over cosine similarity / this
SMOOTHING = 0.02  # share of the neighbours' class distribution spread evenly, so no class has probability 0


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
    return regression_member(x, x_scored, train, taxonomy, c, balanced)


def regression_member(x, x_scored, train: list[Example], taxonomy: Taxonomy, c: float, balanced: bool = True) -> dict:
    """Log-probabilities on `x_scored` of one logistic regression per head fitted on the features `x` of `train`."""
    out = {}
    for head, clf in fit_heads(x, label_index(train, taxonomy), c, IGNORE, "member", balanced).items():
        linear = linear_head(clf, len(taxonomy.labels(head)))
        out[head] = linear.log_probs(np.asarray(x_scored @ linear.coef.T))
    return out


def with_member(encoder: dict[str, np.ndarray], member: dict[str, np.ndarray], weight: float) -> dict:
    """The encoder's log-probabilities pooled log-linearly with another member's at `weight` (heads the member
    lacks keep the encoder's)."""
    return {h: log_softmax((1 - weight) * z + weight * member[h]) if h in member else z for h, z in encoder.items()}


def neighbour_member(
    x_train: np.ndarray, labels: dict[str, np.ndarray], x_scored: np.ndarray, sizes: dict[str, int], k: int
) -> dict[str, np.ndarray]:
    """Per head, the log of the class shares among the `k` labelled training rows nearest each scored row (cosine),
    each neighbour's vote weighted by a softmax over its similarity."""
    train, scored = (x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12) for x in (x_train, x_scored))
    out = {}
    for head, y in labels.items():
        rows = np.flatnonzero(y != IGNORE)
        if head not in sizes or not len(rows):
            continue
        k_head = min(k, len(rows))
        similarity = scored @ train[rows].T
        nearest = np.argpartition(-similarity, k_head - 1, axis=1)[:, :k_head]
        top = np.take_along_axis(similarity, nearest, 1)
        votes = np.exp((top - top.max(1, keepdims=True)) / SIMILARITY_TEMPERATURE)
        shares = np.zeros((len(scored), sizes[head]))
        np.add.at(shares, (np.repeat(np.arange(len(scored)), k_head), y[rows][nearest].ravel()), votes.ravel())
        shares /= shares.sum(1, keepdims=True)
        out[head] = np.log((1 - SMOOTHING) * shares + SMOOTHING / sizes[head])
    return out


def fine_tuned_embeddings(tuning: Tuning) -> list[np.ndarray]:
    """Pooled training and validation embeddings from the fine-tuned encoder of the run that made the bundle (its
    run directory's best weights; refused if a later run of the same profile and data replaced them)."""
    bundle = tuning.classifier.bundle
    run_dir = run_directory(bundle.info.profile, bundle.info.data_fingerprint)
    if not (run_dir / "best.pt").is_file():
        raise TellerError(
            "no fine-tuned weights of the bundle's training run here",
            str(run_dir),
            "set TELLER_DATA_DIR to the data directory that trained the bundle",
        )
    result = load_trained(run_dir, TrainConfig(profile=bundle.info.profile), tuning.taxonomy)
    history = json.loads((bundle.path / "metrics.json").read_text())["history"]
    if not history or not math.isclose(result.best_score, max(h["score"] for h in history)):
        raise TellerError(
            "the run directory holds another training run than the bundle's (its best validation score differs)",
            str(run_dir),
            "tune the latest bundle of this profile and data",
        )
    device, info = torch.device(result.device), bundle.info
    amp = mixed_precision(device, "auto")
    with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
        return [
            embeddings(
                result.model,
                encode(split, result.tokenizer, tuning.taxonomy, info.max_length, info.tail_tokens),
                device,
                f"fine-tuned embeddings ({name})",
            )
            for name, split in (("train", tuning.train), ("validation", tuning.val))
        ]


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


def frozen_levers(tuning: Tuning) -> dict[str, Scores]:
    max_length = tuning.classifier.bundle.info.max_length
    x_train, x_val = frozen_features([tuning.train, tuning.val], tuning.taxonomy, max_length)
    member = regression_member(x_train, x_val, tuning.train, tuning.taxonomy, FROZEN_C)
    return {
        f"frozen-encoder member (the frozen baseline's regressions) pooled with the encoder at weight {w}": (
            tuning.scores(encoder=with_member(tuning.encoder, member, w))
        )
        for w in MEMBER_WEIGHTS
    }


def neighbour_levers(tuning: Tuning) -> dict[str, Scores]:
    x_train, x_val = fine_tuned_embeddings(tuning)
    sizes, labels = {h: z.shape[1] for h, z in tuning.encoder.items()}, label_index(tuning.train, tuning.taxonomy)
    out = {}
    for k in NEIGHBOURS:
        member = neighbour_member(x_train, labels, x_val, sizes, k)
        for w in MEMBER_WEIGHTS:
            name = f"{k} nearest training examples (fine-tuned embeddings, cosine), pooled with the encoder at {w}"
            out[name] = tuning.scores(encoder=with_member(tuning.encoder, member, w))
    return out


LEVERS: dict[str, Callable[[Tuning], dict[str, Scores]]] = {
    "lexical": lexical_levers,
    "stacking": stacking_levers,
    "windows": window_levers,
    "data": data_levers,
    "frozen": frozen_levers,
    "neighbours": neighbour_levers,
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
