"""Checks that fail a run early and clearly: every source readable with usable rows, and a corpus without leakage."""

from __future__ import annotations

from collections import Counter

from teller.errors import DataError
from teller.taxonomy import Taxonomy
from training.corpus import Corpus, DataConfig
from training.data import LoadStats, iter_banking77, iter_cfpb, iter_clinc150_out_of_scope

MIN_CLASSES = 2
MAX_LEAKAGE = 0.002


def validate_sources(data: DataConfig, taxonomy: Taxonomy) -> dict[str, dict]:
    """Read every configured source once (schema, encoding, labels) before anything slow runs; a report per source."""
    readers = {
        "cfpb": (data.cfpb, lambda p, s: iter_cfpb(p, taxonomy, s), "team"),
        "corrections": (data.corrections, lambda p, s: iter_cfpb(p, taxonomy, s), "team"),
        "banking77": (data.banking77, lambda p, s: iter_banking77(p, taxonomy, s), "intent"),
        "clinc150": (data.clinc150, lambda p, _: iter_clinc150_out_of_scope(p, taxonomy), "intent"),
    }
    report = {}
    for name, (path, read, head) in readers.items():
        if path is None:
            continue
        if not path.is_file():
            raise DataError("file not found", str(path), f"point the {name} source at an existing file")
        stats = LoadStats()
        labels = Counter(e.label(head) for e in read(path, stats))
        if not labels and name != "corrections":
            raise DataError(f"no usable rows ({stats.skipped or 'file is empty'})", str(path), "check the export")
        report[name] = {"rows": sum(labels.values()), "skipped": stats.skipped, head: dict(labels.most_common())}
    if "cfpb" in report and len(report["cfpb"]["team"]) < MIN_CLASSES:
        raise DataError(
            f"complaints cover {len(report['cfpb']['team'])} routing team(s); training needs {MIN_CLASSES}",
            str(data.cfpb),
            "export complaints for more than one product",
        )
    return report


def check_corpus(corpus: Corpus, max_leakage: float = MAX_LEAKAGE) -> dict[str, int]:
    """No empty split, and (almost) no evaluation text that also occurs in training; returns the overlap counts.

    Splits are made by a hash of each raw text's near-duplicate key, so only masking can make two texts
    identical across splits ("I'm <PERSON>, ..."); more than `max_leakage` of a split that way fails the run.
    """
    empty = [name for name, rows in corpus.splits.items() if not rows]
    if empty:
        raise DataError(f"the {', '.join(empty)} split(s) are empty", None, "give more data or larger split fractions")
    train = {_normal(e.text) for e in corpus.splits["train"]}
    overlap = {}
    for name in ("val", "test"):
        rows = corpus.splits[name]
        overlap[name] = sum(_normal(e.text) in train for e in rows)
        if overlap[name] > max_leakage * len(rows):
            raise DataError(
                f"{overlap[name]} of {len(rows)} {name} texts also occur in train (leakage)",
                None,
                "remove the duplicated texts from the sources",
            )
    return overlap


def _normal(text: str) -> str:
    return " ".join(text.lower().split())
