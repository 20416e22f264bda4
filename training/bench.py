"""Benchmark a bundle's classifier (fp32 vs int8) and the masker on real held-out text."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def _latencies(call: Callable[[str], object], texts: Sequence[str]) -> list[float]:
    """Seconds per single-text call, sorted."""
    out = []
    for text in texts:
        start = time.perf_counter()
        call(text)
        out.append(time.perf_counter() - start)
    return sorted(out)


def _row(stage: str, latencies: list[float], n: int, batch_seconds: float) -> dict:
    return {
        "stage": stage,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "batch_per_s": n / batch_seconds,
    }


def bench_classifier(bundle, texts: list[str], single: int = 200) -> list[dict]:
    """Batch-1 latency percentiles and batch-32 throughput for each variant in the bundle."""
    from teller.classifier import BundleClassifier

    rows = []
    for variant in bundle.info.variants:
        clf = BundleClassifier(bundle, variant)
        clf.logits(texts[:32])  # warm-up
        latencies = _latencies(lambda t, c=clf: c.logits([t]), texts[:single])
        start = time.perf_counter()
        clf.logits(texts, batch_size=32)
        rows.append(_row(f"classifier {variant}", latencies, len(texts), time.perf_counter() - start))
    return rows


def bench_masker(texts: list[str], single: int = 100) -> dict:
    """Per-text masking latency and batched masking throughput (Presidio + spaCy)."""
    from teller.masking import Masker

    masker = Masker()
    masker.mask(texts[0])
    latencies = _latencies(masker.mask, texts[:single])
    start = time.perf_counter()
    masker.mask_many(texts)
    return _row("masking", latencies, len(texts), time.perf_counter() - start)


def format_table(rows: list[dict]) -> str:
    lines = [f"{'stage':<22}{'p50 ms':>10}{'p95 ms':>10}{'batch32/s':>12}"]
    lines += [f"{r['stage']:<22}{r['p50_ms']:>10.1f}{r['p95_ms']:>10.1f}{r['batch_per_s']:>12.1f}" for r in rows]
    return "\n".join(lines)
