"""Masking speed on real CFPB narratives: several maskers timed in one process, interleaved so load hits all alike.

`python -m teller.pii.bench --baseline OLD_MASKING.py` compares Teller's masker with the `Masker` class of another
masking module (e.g. an earlier version) on the same narratives.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from teller.cfpb import NARRATIVE


@dataclass(frozen=True)
class Contender:
    """A masker under test: one-text masking, and batch masking if it has one."""

    name: str
    mask_one: Callable[[str], object]
    mask_many: Callable[[list[str]], object] | None = None


def cfpb_narratives(path: Path, n: int = 300, step: int = 50) -> list[str]:
    """Every `step`-th non-empty narrative of a CFPB export, the first `n` of them (deterministic)."""
    csv.field_size_limit(sys.maxsize)
    out: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8", newline="") if path.suffix == ".gz" else path.open(newline="") as f:
        seen = 0
        for row in csv.DictReader(f):
            text = (row.get(NARRATIVE) or "").strip()
            if not text:
                continue
            if seen % step == 0:
                out.append(text)
                if len(out) >= n:
                    break
            seen += 1
    return out


def _percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[round(q * (len(sorted_ms) - 1))]


def compare(contenders: Sequence[Contender], texts: list[str], rounds: int = 2) -> dict[str, dict[str, float]]:
    """Texts/s (batched where the masker batches, median of `rounds`) and per-text p50/p95 ms, interleaved."""
    for c in contenders:
        c.mask_one(texts[0])
    rates: dict[str, list[float]] = {c.name: [] for c in contenders}
    for _ in range(rounds):
        for c in contenders:
            if c.mask_many is not None:
                start = time.perf_counter()
                c.mask_many(texts)
                rates[c.name].append(len(texts) / (time.perf_counter() - start))
    latencies: dict[str, list[float]] = {c.name: [] for c in contenders}
    for text in texts:
        for c in contenders:
            start = time.perf_counter()
            c.mask_one(text)
            latencies[c.name].append(1000 * (time.perf_counter() - start))
    out = {}
    for c in contenders:
        ms = sorted(latencies[c.name])
        batched = statistics.median(rates[c.name]) if rates[c.name] else 1000 * len(ms) / sum(ms)
        out[c.name] = {
            "texts_per_s": round(batched, 1),
            "single_texts_per_s": round(1000 * len(ms) / sum(ms), 1),
            "p50_ms": round(_percentile(ms, 0.5), 2),
            "p95_ms": round(_percentile(ms, 0.95), 2),
            "max_ms": round(ms[-1], 2),
        }
    return out


def masker_contender(name: str, masker: object) -> Contender:
    """A Teller-style masker (``mask`` and ``mask_many``) as a contender."""
    return Contender(name, masker.mask, masker.mask_many)  # type: ignore[attr-defined]


def _load_masker_class(path: Path) -> type:
    spec = importlib.util.spec_from_file_location("baseline_masking", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.Masker


def main(argv: list[str] | None = None) -> None:
    """Print the comparison table for Teller's masker (and a baseline module's, if given)."""
    from teller.masking import Masker
    from teller.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="A masking module whose Masker class is the 'before'.")
    parser.add_argument("-n", type=int, default=300, help="Narratives to time.")
    parser.add_argument("--step", type=int, default=50, help="Take every STEP-th non-empty narrative.")
    parser.add_argument("--rounds", type=int, default=2, help="Batched runs per masker (median reported).")
    args = parser.parse_args(argv)
    texts = cfpb_narratives(get_settings().shared_data_dir / "cfpb" / "complaints.csv.gz", args.n, args.step)
    contenders = [masker_contender("teller", Masker())]
    if args.baseline:
        contenders.insert(0, masker_contender("baseline", _load_masker_class(args.baseline)()))
    result = compare(contenders, texts, args.rounds)
    sys.stdout.write(f"{len(texts)} narratives, mean {statistics.mean(map(len, texts)):.0f} chars\n")
    sys.stdout.write(f"{'masker':<12}{'batched/s':>11}{'single/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}\n")
    for name, row in result.items():
        sys.stdout.write(
            f"{name:<12}{row['texts_per_s']:>11.1f}{row['single_texts_per_s']:>10.1f}"
            f"{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}{row['max_ms']:>9.1f}\n"
        )


if __name__ == "__main__":  # pragma: no cover
    main()
