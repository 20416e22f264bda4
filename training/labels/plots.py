"""The proposal report's charts (matplotlib, Agg): label distribution, confidence and score, before and after."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from training.report import _plot_distribution, _save


def distribution(out_dir: Path, before: dict[str, int], after: dict[str, int]) -> str:
    """Label counts before and after the proposal, side by side (the training report's chart)."""
    with matplotlib.rc_context({"text.parse_math": False}):
        return _plot_distribution(out_dir, "labels", {"before": before, "after": after})


def confidence(out_dir: Path, before: np.ndarray, after: np.ndarray, changed: np.ndarray) -> str:
    """Histograms of each row's label confidence before and after, all rows and the relabelled ones."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    bins = np.linspace(0, 1, 21)
    for ax, rows, title in ((axes[0], slice(None), "all rows"), (axes[1], changed, "proposed rows")):
        ax.hist(before[rows], bins=bins, alpha=0.55, label="before", color="tab:blue")
        ax.hist(after[rows], bins=bins, alpha=0.55, label="after", color="tab:orange")
        ax.set(xlim=(0, 1), xlabel="confidence of the row's label (nearest centroid)", ylabel="rows", title=title)
        ax.legend(fontsize=8)
    return _save(fig, out_dir / "confidence.png")


def scores(out_dir: Path, name: str, values: np.ndarray, threshold: float, positives: list[float]) -> str:
    """Histogram of the label score over the corpus, the threshold, and the examples' leave-one-out scores."""
    fig, ax = plt.subplots(figsize=(7, 3.4), layout="constrained")
    ax.hist(values, bins=60, color="tab:gray", alpha=0.8, label=f"corpus ({len(values)})")
    ax.axvline(threshold, color="tab:red", label=f"threshold {threshold:.3f}")
    for i, p in enumerate(positives):
        ax.axvline(p, color="tab:green", alpha=0.6, ls=":", label="examples (leave-one-out)" if i == 0 else None)
    title = name.replace("$", r"\$")  # a dollar sign in the name is text, not mathtext
    ax.set(xlabel="score", ylabel="rows", title=f"{title}: zero-shot score", yscale="log")
    ax.legend(fontsize=8)
    return _save(fig, out_dir / "scores.png")
