"""Evaluate a bundle on any labelled file (CFPB export or Banking77 CSV): one JSON object to stdout."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from teller.bundle import Bundle
from teller.classifier import BundleClassifier
from teller.taxonomy import Taxonomy, load_taxonomy
from training.corpus import DataConfig
from training.data import Example, LoadStats, iter_labelled
from training.metrics import HeadPredictions, head_metrics
from training.train import head_predictions, label_index


def predictions_from_probs(
    bundle: Bundle, probs: dict[str, np.ndarray], examples: list[Example], taxonomy: Taxonomy
) -> dict[str, HeadPredictions]:
    """HeadPredictions (probabilities keyed '<head>_logits') for every head the examples label."""
    by_head = {output.removesuffix("_logits"): probs[output] for output in bundle.info.heads}
    texts = [e.text for e in examples]
    return head_predictions(by_head, label_index(examples, taxonomy), bundle.labels, bundle.info.thresholds, texts)


def predict_examples(
    bundle: Bundle, examples: list[Example], taxonomy: Taxonomy, variant: str | None = None
) -> dict[str, HeadPredictions]:
    """Run the bundle over already-masked examples; HeadPredictions for every head they label."""
    probs = BundleClassifier(bundle, variant).probabilities([e.text for e in examples])
    return predictions_from_probs(bundle, probs, examples, taxonomy)


def mask_examples(examples: list[Example], max_chars: int | None = None) -> None:
    """Mask example texts in place with the shared masker (cached), cut as in training."""
    from teller.masking import MaskCache

    max_chars = max_chars or DataConfig.model_fields["max_chars"].default
    masked = MaskCache().mask_all([e.text[:max_chars] for e in examples], processes=os.cpu_count() or 1)
    for e, text in zip(examples, masked, strict=True):
        e.text = text


def evaluate_file(path: Path, bundle: Bundle) -> tuple[dict, dict[str, HeadPredictions]]:
    """Score every labelled row of `path`; returns the JSON-ready summary and the raw predictions."""
    taxonomy = load_taxonomy()
    stats = LoadStats()
    examples = list(iter_labelled(path, taxonomy, stats))
    mask_examples(examples)
    predictions = predict_examples(bundle, examples, taxonomy) if examples else {}
    summary = {
        "model": {
            "name": bundle.info.name,
            "version": bundle.info.version,
            "variant": bundle.info.default_variant,
        },
        "data": str(path),
        "rows": {"scored": len(examples), "skipped": stats.n_skipped, "skipped_reasons": stats.skipped},
        "heads": {head: head_metrics(p) for head, p in predictions.items()},
    }
    return summary, predictions


def round_floats(obj, digits: int = 4):
    """Round every float in a nested structure (for compact JSON)."""
    if isinstance(obj, float | np.floating):
        return round(float(obj), digits)
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [round_floats(v, digits) for v in obj]
    return obj
