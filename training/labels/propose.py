"""`teller labels propose`: score existing texts against a new label and write a review file and report."""

from __future__ import annotations

import csv
import random
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from teller.errors import TellerError
from teller.io import atomic_path, write_json
from teller.masking import MaskCache
from teller.settings import get_settings
from teller.taxonomy import Taxonomy
from training.labels import plots
from training.labels.embed import embed
from training.labels.rows import UNKNOWN, LabelRow, check_head, corpus_rows, file_rows, latest_corpus
from training.labels.zeroshot import (
    MIN_EXAMPLES,
    Threshold,
    at_threshold,
    calibrate,
    centroids,
    leave_one_out,
    nearest_confidence,
    prototype,
    scores,
)

REVIEW_COLUMNS = ("text", "split", "old_label", "team", "similarity", "score", "proposed")


def slug(name: str) -> str:
    """A label's directory name: lower-case words joined by dashes."""
    out = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not out:
        raise TellerError(f"label name {name!r} has no letters or digits", "NAME", "name it, e.g. 'Overdraft refund'")
    return out


def report_dir(name: str) -> Path:
    """Where a label's review file and report live: var/reports/labels/<slug>/."""
    return get_settings().labels_dir / slug(name)


def check_new(name: str, head: str, description: str, examples: list[str], taxonomy: Taxonomy) -> None:
    """Fail clearly on a blank description or example, or a name the head already has."""
    check_head(head)
    slug(name)
    if not description.strip():
        raise TellerError("the description is empty", "--description", "say in one sentence what the label means")
    if any(not e.strip() for e in examples):
        raise TellerError("an example is empty", "--example", "drop it or fill it in")
    taken = taxonomy.issue_labels if head == "issue" else [*taxonomy.topics, *taxonomy.intent_labels]
    if name in taken:
        raise TellerError(f"{name!r} is already a label of head {head!r}", "NAME", "choose a new name")


def propose(
    name: str,
    description: str,
    examples: list[str],
    head: str,
    taxonomy: Taxonomy,
    data: Path | None = None,
    corpus: Path | None = None,
    prevalence: float | None = None,
    threshold: float | None = None,
    contrast: bool = True,
    background: int = 2000,
    seed: int = 0,
) -> dict:
    """Score every text against the label, choose the threshold, write review.csv + charts + summary.json."""
    check_new(name, head, description, examples, taxonomy)
    if data is not None:
        rows, source, fingerprint = file_rows(head, data, taxonomy), str(data), None
    else:
        directory = corpus or latest_corpus()
        rows, fingerprint = corpus_rows(head, directory, taxonomy)
        source = str(directory)
    masked = MaskCache().mask_all(examples, desc="masking examples") if examples else []
    x = embed([r.text for r in rows])
    protos = embed([description, *masked], cache=False)
    catch_all = {taxonomy.issue_other, taxonomy.out_of_scope_intent}  # where unnamed new kinds live today
    fine_names, rivals = centroids(x, [None if r.fine in catch_all else r.fine for r in rows])
    rivals_used = rivals if contrast else None
    score = scores(x, prototype(protos), rivals_used)
    prevalence = prevalence or 1 / (len(fine_names) + 1)
    chosen = _threshold(score, protos, rivals_used, prevalence, threshold, background, seed)
    proposed = score >= chosen.value
    out = report_dir(name)
    out.mkdir(parents=True, exist_ok=True)
    _write_review(out / "review.csv", rows, x @ prototype(protos), score, proposed)
    before, after = _confidences(x, rows, protos, proposed)
    dist_before = Counter(r.label for r in rows)
    dist_after = Counter(name if p else r.label for r, p in zip(rows, proposed, strict=True))
    files = {
        "review": "review.csv",
        "distribution": plots.distribution(out, dict(dist_before.most_common()), dict(dist_after.most_common())),
        "confidence": plots.confidence(out, before, after, proposed),
        "scores": plots.scores(out, name, score, chosen.value, chosen.positives),
    }
    summary = {
        "name": name,
        "head": head,
        "description": description,
        "examples": masked,
        "source": source,
        "corpus": fingerprint,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": len(rows),
        "proposed": int(proposed.sum()),
        "contrast": contrast,
        "threshold": chosen.as_dict(),
        "proposed_by_old_label": dict(Counter(r.label for r, p in zip(rows, proposed, strict=True) if p).most_common()),
        "proposed_by_team": dict(Counter(r.team for r, p in zip(rows, proposed, strict=True) if p and r.team)),
        "distribution": {"before": dict(dist_before.most_common()), "after": dict(dist_after.most_common())},
        "confidence": {
            "before": _stats(before),
            "after": _stats(after),
            "proposed_after": _stats(after[proposed]),
            "histogram": {"before": _histogram(before), "after": _histogram(after)},
        },
        "files": files,
    }
    write_json(out / "summary.json", summary)
    return summary


def _threshold(
    score: np.ndarray,
    protos: np.ndarray,
    rivals: np.ndarray | None,
    prevalence: float,
    manual: float | None,
    background: int,
    seed: int,
) -> Threshold:
    """The calibrated threshold, or the one given (with what the examples make of it)."""
    order = list(range(len(score)))
    random.Random(seed).shuffle(order)
    sample = score[order[:background]]
    if manual is not None and len(protos) - 1 < MIN_EXAMPLES:
        return at_threshold(manual, np.array([manual]), sample, prevalence)  # no examples to judge recall by
    positives = leave_one_out(protos, rivals)
    return (
        calibrate(positives, sample, prevalence)
        if manual is None
        else at_threshold(manual, positives, sample, prevalence)
    )


def _confidences(
    x: np.ndarray, rows: list[LabelRow], protos: np.ndarray, proposed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-centroid confidence of each row's label before (old labels) and after (plus the new label)."""
    names, cents = centroids(x, [r.label if r.label != UNKNOWN else None for r in rows])
    if not names:
        ones = np.ones(len(rows))
        return ones, ones
    before_p = nearest_confidence(x, cents)
    after_p = nearest_confidence(x, np.vstack([cents, prototype(protos)]))
    idx = np.array([names.index(r.label) if r.label in names else -1 for r in rows])
    known = idx >= 0
    before = np.where(known, before_p[np.arange(len(rows)), idx.clip(0)], before_p.max(axis=1))
    after = np.where(known, after_p[np.arange(len(rows)), idx.clip(0)], after_p[:, :-1].max(axis=1))
    return before, np.where(proposed, after_p[:, -1], after)


def _stats(values: np.ndarray) -> dict:
    if not len(values):
        return {"rows": 0}
    return {"rows": len(values), "mean": round(float(values.mean()), 4), "median": round(float(np.median(values)), 4)}


def _histogram(values: np.ndarray) -> list[int]:
    """Counts in ten 0.1-wide confidence bins from 0 to 1 (the dashboard's chart)."""
    return np.histogram(np.clip(values, 0, 1), bins=10, range=(0, 1))[0].astype(int).tolist()


def _write_review(path: Path, rows: list[LabelRow], sim: np.ndarray, score: np.ndarray, proposed: np.ndarray) -> None:
    """review.csv, highest score first: an analyst may flip `proposed` before `teller labels accept`."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REVIEW_COLUMNS)
        for i in np.argsort(-score, kind="stable"):
            r, verdict = rows[i], "yes" if proposed[i] else "no"
            writer.writerow([r.text, r.split, r.label, r.team or "", f"{sim[i]:.4f}", f"{score[i]:.4f}", verdict])
