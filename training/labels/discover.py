"""`teller labels discover`: cluster the complaints the served model is unsure of, so an analyst can name new issues."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from tqdm.auto import tqdm

from teller.bundle import Bundle
from teller.errors import TellerError
from teller.io import write_json
from teller.masking import model_view
from teller.settings import get_settings
from teller.taxonomy import Taxonomy
from training.labels.embed import embed
from training.labels.rows import LabelRow, check_head, corpus_rows, file_rows, latest_corpus

BUNDLE_HEAD = {"issue": "issue", "topic": "intent"}
NOISE_WORDS = ENGLISH_STOP_WORDS | {"xxxx", "xx", "redacted", "xxxxxxxx"}
EXAMPLE_CHARS = 600


def report_path() -> Path:
    """var/reports/labels/discover.json: the report the dashboard can read."""
    return get_settings().labels_dir / "discover.json"


def bundle_confidence(bundle: Bundle, head: str, texts: list[str], batch: int = 256) -> tuple[np.ndarray, list[str]]:
    """The bundle's top probability and label on `head` for every (masked) text, as it would serve them."""
    from teller.classifier import BundleClassifier

    classifier, key = BundleClassifier(bundle), f"{BUNDLE_HEAD[head]}_logits"
    if key not in classifier.heads:
        raise TellerError(f"the bundle has no {key} output", str(bundle.path), "use a bundle trained with that head")
    names = bundle.labels[BUNDLE_HEAD[head]]
    parts = [classifier.probabilities(texts[i : i + batch])[key] for i in tqdm(range(0, len(texts), batch), "scoring")]
    probs = np.concatenate(parts)
    return probs.max(axis=1), [names[i] for i in probs.argmax(axis=1)]


def top_terms(texts: list[str], groups: np.ndarray, k: int = 8) -> dict[int, list[str]]:
    """Per group, the words and bigrams whose mean TF-IDF rises most above the whole set's."""
    vec = TfidfVectorizer(
        stop_words=sorted(NOISE_WORDS),
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]{2,}\b",
        ngram_range=(1, 2),
        min_df=2 if len(texts) >= 20 else 1,
        sublinear_tf=True,
    )
    try:
        x = vec.fit_transform([model_view(t).lower() for t in texts])
    except ValueError:  # no term survives (tiny or empty texts)
        return {int(g): [] for g in np.unique(groups)}
    terms, overall = vec.get_feature_names_out(), np.asarray(x.mean(axis=0)).ravel()
    out = {}
    for g in np.unique(groups):
        lift = np.asarray(x[groups == g].mean(axis=0)).ravel() - overall
        out[int(g)] = [str(terms[i]) for i in np.argsort(-lift)[:k] if lift[i] > 0]
    return out


def cluster(vectors: np.ndarray, n_clusters: int | None = None) -> np.ndarray:
    """Ward clusters of unit vectors (Euclidean on unit vectors ranks like cosine); k ~ sqrt(n/2) by default."""
    if len(vectors) < 4:
        raise TellerError(f"only {len(vectors)} uncertain texts", "--max-confidence", "raise it or give more data")
    k = n_clusters or int(np.clip(round(np.sqrt(len(vectors) / 2)), 2, 15))
    return AgglomerativeClustering(n_clusters=min(k, len(vectors)), linkage="ward").fit_predict(vectors)


def describe_clusters(
    rows: list[LabelRow],
    vectors: np.ndarray,
    groups: np.ndarray,
    confidence: np.ndarray,
    predicted: list[str],
    n_examples: int = 3,
) -> list[dict]:
    """Per cluster, largest first: size, top terms, the examples nearest its centre, labels and confidence."""
    terms = top_terms([r.text for r in rows], groups)
    out = []
    for g in sorted(np.unique(groups), key=lambda g: -(groups == g).sum()):
        idx = np.flatnonzero(groups == g)
        centre = vectors[idx].mean(axis=0)
        nearest = idx[np.argsort(-(vectors[idx] @ centre))[:n_examples]]
        out.append(
            {
                "id": len(out),
                "size": len(idx),
                "top_terms": terms[int(g)],
                "mean_confidence": round(float(confidence[idx].mean()), 4),
                "predicted": dict(Counter(predicted[i] for i in idx).most_common(3)),
                "old_labels": dict(Counter(rows[i].label for i in idx).most_common(3)),
                "examples": [
                    {"text": rows[i].text[:EXAMPLE_CHARS], "confidence": round(float(confidence[i]), 4)}
                    for i in nearest
                ],
            }
        )
    return out


def discover(
    bundle: Bundle,
    taxonomy: Taxonomy,
    head: str = "issue",
    data: Path | None = None,
    corpus: Path | None = None,
    max_confidence: float = 0.5,
    limit: int = 2000,
    clusters: int | None = None,
    seed: int = 0,
) -> dict:
    """Score up to `limit` texts, keep those under `max_confidence`, cluster them and write discover.json."""
    check_head(head)
    if not 0 < max_confidence <= 1:
        raise TellerError(f"max confidence {max_confidence}", "--max-confidence", "use a value in (0, 1]")
    directory = None if data else corpus or latest_corpus()
    rows = file_rows(head, data, taxonomy) if data else corpus_rows(head, directory, taxonomy)[0]
    random.Random(seed).shuffle(rows)
    rows = rows[:limit]
    confidence, predicted = bundle_confidence(bundle, head, [r.text for r in rows])
    unsure = np.flatnonzero(confidence < max_confidence)
    kept = [rows[i] for i in unsure]
    vectors = embed([r.text for r in kept])
    groups = cluster(vectors, clusters)
    report = {
        "schema": "teller.labels.discover/v1",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "bundle": {"name": bundle.info.name, "version": bundle.info.version},
        "head": head,
        "source": str(data or directory),
        "scored": len(rows),
        "max_confidence": max_confidence,
        "uncertain": len(kept),
        "clusters": describe_clusters(kept, vectors, groups, confidence[unsure], [predicted[i] for i in unsure]),
    }
    write_json(report_path(), report)
    return report
